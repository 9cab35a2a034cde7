#include "netlens/runtime/shape_util.hpp"

#include <algorithm>

namespace netlens {

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else
      throw Error(ErrorKind::Model, where + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                                        " cannot be broadcast");
  }
  return out;
}

Shape broadcast_all(const std::vector<Shape>& shapes, const std::string& where) {
  Shape out;
  for (const Shape& s : shapes) out = broadcast_shapes(out, s, where);
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& where) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<int64_t>(rank, 1))
    throw Error(ErrorKind::Model, where + ": axis " + std::to_string(axis) + " out of range for rank " +
                                      std::to_string(rank));
  return a;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  const std::vector<int64_t> in_st = strides_of(in);
  const size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : in_st[i];
  return st;
}

int64_t conv_out_dim(int64_t in, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                     int64_t dilation, bool ceil_mode) {
  const int64_t eff = dilation * (kernel - 1) + 1;
  const int64_t span = in + pad_begin + pad_end - eff;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // ONNX/PyTorch rule: with ceil_mode, the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

SpatialGeometry conv_geometry(const Node& node, const Shape& input, const std::vector<int64_t>& kernel) {
  const size_t n = kernel.size();
  const std::string where = node.describe();
  if (input.size() != n + 2)
    throw Error(ErrorKind::Model, where + ": input rank " + std::to_string(input.size()) +
                                      " does not match kernel rank " + std::to_string(n));
  SpatialGeometry g;
  g.kernel = kernel;
  g.strides = node.attr_ints("strides", std::vector<int64_t>(n, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (g.strides.size() != n || g.dilations.size() != n || pads.size() != 2 * n)
    throw Error(ErrorKind::Model, where + ": strides/dilations/pads do not match " + std::to_string(n) +
                                      " spatial dims");
  // The upper bounds keep conv_out_dim's arithmetic far from int64 overflow (hostile attributes;
  // input dims are below 2^50 once the planner has accepted them).
  constexpr int64_t kMax = int64_t{1} << 31;
  for (size_t i = 0; i < n; ++i) {
    if (g.strides[i] <= 0 || g.dilations[i] <= 0 || kernel[i] <= 0)
      throw Error(ErrorKind::Model, where + ": kernel, strides and dilations must be positive");
    if (g.strides[i] > kMax || g.dilations[i] > kMax || kernel[i] > kMax || pads[i] > kMax || pads[i] < -kMax ||
        pads[i + n] > kMax || pads[i + n] < -kMax)
      throw Error(ErrorKind::Model, where + ": kernel, strides, dilations or pads are impossibly large");
  }
  g.pad_begin.assign(pads.begin(), pads.begin() + static_cast<long>(n));
  g.pad_end.assign(pads.begin() + static_cast<long>(n), pads.end());
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    std::fill(g.pad_begin.begin(), g.pad_begin.end(), 0);
    std::fill(g.pad_end.begin(), g.pad_end.end(), 0);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = input[i + 2];
      const int64_t out = (in + g.strides[i] - 1) / g.strides[i];
      const int64_t eff = g.dilations[i] * (kernel[i] - 1) + 1;
      const int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[i] + eff - in);
      const int64_t small = total / 2, big = total - total / 2;
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? small : big;
      g.pad_end[i] = auto_pad == "SAME_UPPER" ? big : small;
    }
  } else if (auto_pad != "NOTSET" && !auto_pad.empty()) {
    throw Error(ErrorKind::Model, where + ": unknown auto_pad '" + auto_pad + "'");
  }
  return g;
}

SoftmaxGeometry softmax_geometry(const Node& node, int64_t opset, const Shape& s) {
  const int64_t rank = static_cast<int64_t>(s.size());
  const bool legacy = opset < 13;
  int64_t axis = node.attr_int("axis", legacy ? 1 : -1);
  if (axis < 0) axis += rank;
  if (rank == 0) axis = 0;
  if (axis < 0 || axis > rank || (!legacy && rank > 0 && axis == rank))
    throw Error(ErrorKind::Model, node.describe() + ": axis out of range");
  SoftmaxGeometry g;
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t d = s[static_cast<size_t>(i)];
    if (i < axis) g.outer *= d;
    else if (i == axis || legacy) g.len *= d;
    else g.inner *= d;
  }
  return g;
}

}  // namespace netlens
