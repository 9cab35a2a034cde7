// Shape inference for the "nn" family: Conv, ConvTranspose, the normalisations, pooling, Gemm,
// MatMul, LpNormalization, LRN. Opsets 7..18 (attribute/input changes noted per op).
#include "netlens/runtime/shapes_nn.hpp"

#include <algorithm>
#include <string>

#include "netlens/runtime/shape_util.hpp"
#include "shapes.hpp"

namespace netlens {

namespace {

std::string dims_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

void require_float(const InferContext& c, size_t i) {
  if (!is_float(c.in(i).dtype))
    c.fail("input " + std::to_string(i) + " must be a float tensor, got " + std::string(dtype_name(c.in(i).dtype)));
}

void require_rank_at_least(const InferContext& c, size_t i, int64_t r) {
  if (static_cast<int64_t>(c.in(i).shape.size()) < r)
    c.fail("input " + std::to_string(i) + " has shape " + shape_str(c.in(i).shape) + ", expected rank >= " +
           std::to_string(r));
}

// ------------------------------------------------------------------------------------------------
std::vector<TensorInfo> infer_conv(const InferContext& c) {
  require_float(c, 0);
  const Shape& x = c.in(0).shape;
  const Shape& w = c.in(1).shape;
  require_rank_at_least(c, 0, 3);
  if (w.size() != x.size())
    c.fail("weight shape " + shape_str(w) + " does not match input shape " + shape_str(x));
  const int64_t group = c.node.attr_int("group", 1);
  if (group <= 0) c.fail("group must be positive, got " + std::to_string(group));
  int64_t wc = 0;
  if (__builtin_mul_overflow(w[1], group, &wc) || x[1] != wc)
    c.fail("input channels " + std::to_string(x[1]) + " != weight channels " + std::to_string(w[1]) + " x group " +
           std::to_string(group));
  if (w[0] % group != 0)
    c.fail("output channels " + std::to_string(w[0]) + " not divisible by group " + std::to_string(group));
  if (c.has(2) && numel(c.in(2).shape) != w[0])
    c.fail("bias shape " + shape_str(c.in(2).shape) + " does not match " + std::to_string(w[0]) + " output channels");
  const std::vector<int64_t> kernel = conv_kernel_shape(c.node, w);
  const SpatialGeometry g = conv_geometry(c.node, x, kernel);
  Shape out{x[0], w[0]};
  for (size_t i = 0; i < kernel.size(); ++i) {
    const int64_t o = conv_out_dim(x[i + 2], kernel[i], g.strides[i], g.pad_begin[i], g.pad_end[i], g.dilations[i]);
    if (o <= 0) c.fail("input " + shape_str(x) + " is too small for the kernel (output dim " + std::to_string(i) + " empty)");
    out.push_back(o);
  }
  return {TensorInfo{c.in(0).dtype, out}};
}

std::vector<TensorInfo> infer_conv_transpose(const InferContext& c) {
  require_float(c, 0);
  const Shape& x = c.in(0).shape;
  const Shape& w = c.in(1).shape;
  require_rank_at_least(c, 0, 3);
  const ConvTransposeGeometry g = convtranspose_geometry(c.node, x, w);
  if (c.has(2) && numel(c.in(2).shape) != g.out_channels)
    c.fail("bias shape " + shape_str(c.in(2).shape) + " does not match " + std::to_string(g.out_channels) +
           " output channels");
  Shape out{x[0], g.out_channels};
  out.insert(out.end(), g.out.begin(), g.out.end());
  return {TensorInfo{c.in(0).dtype, out}};
}

// ------------------------------------------------------------------------------------------------
std::vector<TensorInfo> infer_batchnorm(const InferContext& c) {
  require_float(c, 0);
  const Shape& x = c.in(0).shape;
  require_rank_at_least(c, 0, 2);
  const int64_t ch = x[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < x.size(); ++i) spatial *= x[i];
  // Opset < 9 with spatial=0: parameters are per element (C x D1 x ... x Dn).
  const bool per_element = c.opset < 9 && c.node.attr_int("spatial", 1) == 0;
  const int64_t want = per_element ? ch * spatial : ch;
  for (size_t i = 1; i <= 4; ++i) {
    const int64_t n = numel(c.in(i).shape);
    if (n != want)
      c.fail("input " + std::to_string(i) + " has shape " + shape_str(c.in(i).shape) + ", expected " +
             std::to_string(want) + " elements");
  }
  std::vector<TensorInfo> outs;
  outs.push_back(TensorInfo{c.in(0).dtype, x});
  // Optional statistics outputs (running mean/var, saved mean/var): parameter-shaped.
  for (size_t i = 1; i < c.node.outputs.size(); ++i) outs.push_back(TensorInfo{c.in(3).dtype, c.in(3).shape});
  return outs;
}

std::vector<TensorInfo> infer_instancenorm(const InferContext& c) {
  require_float(c, 0);
  require_rank_at_least(c, 0, 3);
  const Shape& x = c.in(0).shape;
  for (size_t i = 1; i <= 2; ++i)
    if (numel(c.in(i).shape) != x[1])
      c.fail("input " + std::to_string(i) + " has shape " + shape_str(c.in(i).shape) + ", expected " +
             std::to_string(x[1]) + " elements");
  return {TensorInfo{c.in(0).dtype, x}};
}

std::vector<TensorInfo> infer_layernorm(const InferContext& c) {
  require_float(c, 0);
  const Shape& x = c.in(0).shape;
  const int64_t r = static_cast<int64_t>(x.size());
  if (r == 0) c.fail("input must have rank >= 1");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", -1), r, c.node.describe());
  const Shape norm(x.begin() + axis, x.end());
  for (size_t i = 1; i <= 2; ++i) {
    if (!c.has(i)) {
      if (i == 1) c.fail("Scale input is missing");
      continue;
    }
    const Shape& s = c.in(i).shape;
    // Scale and B broadcast unidirectionally to X.shape[axis:].
    if (s.size() > norm.size() || broadcast_shapes(norm, s, c.node.describe()) != norm)
      c.fail("input " + std::to_string(i) + " shape " + shape_str(s) + " does not broadcast to " + shape_str(norm));
  }
  const int64_t stash = c.node.attr_int("stash_type", 1);
  if (stash != 1) throw Error(ErrorKind::Unsupported, c.node.describe() + ": stash_type " + std::to_string(stash) + " not supported (only 1 = float)");
  Shape stat(x.begin(), x.begin() + axis);
  stat.resize(x.size(), 1);
  std::vector<TensorInfo> outs{TensorInfo{c.in(0).dtype, x}};
  for (size_t i = 1; i < c.node.outputs.size(); ++i) outs.push_back(TensorInfo{DType::Float32, stat});
  return outs;
}

// ------------------------------------------------------------------------------------------------
std::vector<TensorInfo> infer_pool(const InferContext& c, bool is_max) {
  const DType dt = c.in(0).dtype;
  if (!is_float(dt) && !(is_max && (dt == DType::Int8 || dt == DType::UInt8)))
    c.fail("unsupported input type " + std::string(dtype_name(dt)));
  require_rank_at_least(c, 0, 3);
  const Shape& x = c.in(0).shape;
  const PoolGeometry pg = pool_geometry(c.node, x);
  Shape out{x[0], x[1]};
  for (size_t i = 0; i < pg.out.size(); ++i) {
    if (pg.out[i] <= 0) c.fail("input " + shape_str(x) + " is too small for kernel " + dims_str(pg.g.kernel));
    out.push_back(pg.out[i]);
  }
  std::vector<TensorInfo> outs{TensorInfo{dt, out}};
  if (is_max && c.node.outputs.size() > 1) outs.push_back(TensorInfo{DType::Int64, out});
  return outs;
}

std::vector<TensorInfo> infer_global_pool(const InferContext& c) {
  require_float(c, 0);
  require_rank_at_least(c, 0, 2);
  Shape out = c.in(0).shape;
  std::fill(out.begin() + 2, out.end(), 1);
  return {TensorInfo{c.in(0).dtype, out}};
}

// ------------------------------------------------------------------------------------------------
std::vector<TensorInfo> infer_gemm(const InferContext& c) {
  require_float(c, 0);
  const Shape& a = c.in(0).shape;
  const Shape& b = c.in(1).shape;
  if (a.size() != 2 || b.size() != 2)
    c.fail("A and B must be 2-D, got " + shape_str(a) + " and " + shape_str(b));
  const bool ta = c.node.attr_int("transA", 0) != 0, tb = c.node.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb)
    c.fail("inner dimensions differ: A " + shape_str(a) + (ta ? " (transposed)" : "") + ", B " + shape_str(b) +
           (tb ? " (transposed)" : ""));
  const Shape out{m, n};
  if (c.has(2)) {
    const Shape& cs = c.in(2).shape;
    if (cs.size() > 2 || broadcast_shapes(out, cs, c.node.describe()) != out)
      c.fail("C shape " + shape_str(cs) + " does not broadcast to " + shape_str(out));
  }
  return {TensorInfo{c.in(0).dtype, out}};
}

std::vector<TensorInfo> infer_matmul(const InferContext& c) {
  require_float(c, 0);
  Shape a = c.in(0).shape, b = c.in(1).shape;
  if (a.empty() || b.empty()) c.fail("operands must not be scalars");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    c.fail("inner dimensions differ: " + shape_str(c.in(0).shape) + " x " + shape_str(c.in(1).shape));
  const Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape out = broadcast_shapes(ba, bb, c.node.describe());
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  return {TensorInfo{c.in(0).dtype, out}};
}

// ------------------------------------------------------------------------------------------------
std::vector<TensorInfo> infer_lpnorm(const InferContext& c) {
  require_float(c, 0);
  const int64_t r = static_cast<int64_t>(c.in(0).shape.size());
  normalize_axis(c.node.attr_int("axis", -1), r, c.node.describe());
  const int64_t p = c.node.attr_int("p", 2);
  if (p != 1 && p != 2) c.fail("p must be 1 or 2, got " + std::to_string(p));
  return {c.in(0)};
}

std::vector<TensorInfo> infer_lrn(const InferContext& c) {
  require_float(c, 0);
  require_rank_at_least(c, 0, 3);
  if (!c.node.has_attr("size")) c.fail("attribute 'size' is required");
  if (c.node.attr_int("size", 1) <= 0) c.fail("size must be positive");
  return {c.in(0)};
}

}  // namespace

// ------------------------------------------------------------------------------------------------
std::vector<int64_t> conv_kernel_shape(const Node& node, const Shape& w) {
  if (w.size() < 3)
    throw Error(ErrorKind::Model, node.describe() + ": weight shape " + shape_str(w) + " must have rank >= 3");
  const std::vector<int64_t> from_w(w.begin() + 2, w.end());
  if (!node.has_attr("kernel_shape")) return from_w;
  const std::vector<int64_t> k = node.attr_ints("kernel_shape");
  if (k != from_w)
    throw Error(ErrorKind::Model, node.describe() + ": kernel_shape " + dims_str(k) + " does not match weight shape " +
                                      shape_str(w));
  return k;
}

namespace {
constexpr int64_t kMaxGeom = int64_t{1} << 31;  // largest kernel, stride, dilation or pad accepted
constexpr int64_t kMaxOut = int64_t{1} << 52;   // largest output dim (the planner refuses far less)
}  // namespace

ConvTransposeGeometry convtranspose_geometry(const Node& node, const Shape& x, const Shape& w) {
  const std::string where = node.describe();
  auto fail = [&](const std::string& m) { throw Error(ErrorKind::Model, where + ": " + m); };
  if (x.size() < 3 || w.size() != x.size())
    fail("input " + shape_str(x) + " and weight " + shape_str(w) + " must have the same rank >= 3");
  const size_t n = x.size() - 2;
  ConvTransposeGeometry g;
  g.group = node.attr_int("group", 1);
  if (g.group <= 0) fail("group must be positive");
  if (x[1] != w[0]) fail("input channels " + std::to_string(x[1]) + " != weight dim 0 (" + std::to_string(w[0]) + ")");
  if (w[0] % g.group != 0) fail("input channels " + std::to_string(w[0]) + " not divisible by group");
  if (__builtin_mul_overflow(w[1], g.group, &g.out_channels)) fail("group " + std::to_string(g.group) + " overflows the channel count");
  g.kernel = conv_kernel_shape(node, w);
  g.strides = node.attr_ints("strides", std::vector<int64_t>(n, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  g.output_padding = node.attr_ints("output_padding", std::vector<int64_t>(n, 0));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (g.strides.size() != n || g.dilations.size() != n || g.output_padding.size() != n || pads.size() != 2 * n)
    fail("strides/dilations/output_padding/pads do not match " + std::to_string(n) + " spatial dims");
  for (size_t i = 0; i < n; ++i) {
    if (g.strides[i] <= 0 || g.dilations[i] <= 0 || g.kernel[i] <= 0) fail("kernel, strides and dilations must be positive");
    if (g.output_padding[i] < 0 || pads[i] < 0 || pads[i + n] < 0) fail("pads and output_padding must be >= 0");
    // Bounds that keep the output arithmetic below far from int64 overflow (hostile attributes).
    if (g.strides[i] > kMaxGeom || g.dilations[i] > kMaxGeom || g.kernel[i] > kMaxGeom || g.output_padding[i] > kMaxGeom ||
        pads[i] > kMaxGeom || pads[i + n] > kMaxGeom)
      fail("kernel, strides, dilations, pads or output_padding are impossibly large");
  }
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      !auto_pad.empty())
    fail("unknown auto_pad '" + auto_pad + "'");
  std::vector<int64_t> out_shape = node.attr_ints("output_shape");
  // output_shape may list all dims (N, C, spatial...) or only the spatial ones.
  if (out_shape.size() == n + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != n) fail("output_shape " + dims_str(out_shape) + " has the wrong rank");
  g.pad_begin.resize(n);
  g.pad_end.resize(n);
  g.out.resize(n);
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = x[i + 2];
    // In 128 bits: input dims reach 2^50 and the factors 2^31.
    const __int128 full128 = static_cast<__int128>(g.strides[i]) * (in - 1) + g.output_padding[i] +
                             static_cast<__int128>(g.dilations[i]) * (g.kernel[i] - 1) + 1;
    if (full128 > kMaxOut) fail("output dim " + std::to_string(i) + " would be impossibly large");
    const int64_t full = static_cast<int64_t>(full128);
    if (!out_shape.empty() || same) {
      // Padding is derived from the requested output size; the odd unit goes to the end for
      // SAME_UPPER (and for an explicit output_shape), to the beginning for SAME_LOWER.
      const __int128 target128 = !out_shape.empty() ? out_shape[i] : static_cast<__int128>(in) * g.strides[i];
      if (target128 < 0 || target128 > kMaxOut) fail("output_shape dim " + std::to_string(i) + " is out of range");
      const int64_t target = static_cast<int64_t>(target128);
      const int64_t total = full - target;
      if (total >= 0) {
        const bool lower = auto_pad == "SAME_LOWER";
        g.pad_begin[i] = lower ? total - total / 2 : total / 2;
        g.pad_end[i] = total - g.pad_begin[i];
      } else {
        g.pad_begin[i] = 0;
        g.pad_end[i] = total;  // negative: trailing positions without input contribution
      }
    } else if (auto_pad == "VALID") {
      g.pad_begin[i] = g.pad_end[i] = 0;
    } else {
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + n];
    }
    g.out[i] = full - g.pad_begin[i] - g.pad_end[i];
    if (g.out[i] <= 0) fail("output dim " + std::to_string(i) + " would be " + std::to_string(g.out[i]));
  }
  return g;
}

PoolGeometry pool_geometry(const Node& node, const Shape& x) {
  if (!node.has_attr("kernel_shape"))
    throw Error(ErrorKind::Model, node.describe() + ": attribute 'kernel_shape' is required");
  const std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  PoolGeometry pg;
  pg.g = conv_geometry(node, x, kernel);
  pg.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  for (size_t i = 0; i < kernel.size(); ++i) {
    const int64_t in = x[i + 2];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")
      pg.out.push_back((in + pg.g.strides[i] - 1) / pg.g.strides[i]);
    else
      pg.out.push_back(conv_out_dim(in, kernel[i], pg.g.strides[i], pg.g.pad_begin[i], pg.g.pad_end[i],
                                    pg.g.dilations[i], pg.ceil_mode));
  }
  return pg;
}

void register_nn_shapes(OpRegistry& r) {
  r.add("Conv", infer_conv);
  r.add("ConvTranspose", infer_conv_transpose);
  r.add("BatchNormalization", infer_batchnorm);
  r.add("InstanceNormalization", infer_instancenorm);
  r.add("LayerNormalization", infer_layernorm);
  r.add("MaxPool", [](const InferContext& c) { return infer_pool(c, true); });
  r.add("AveragePool", [](const InferContext& c) { return infer_pool(c, false); });
  r.add("GlobalAveragePool", infer_global_pool);
  r.add("GlobalMaxPool", infer_global_pool);
  r.add("Gemm", infer_gemm);
  r.add("MatMul", infer_matmul);
  r.add("LpNormalization", infer_lpnorm);
  r.add("LRN", infer_lrn);
}

}  // namespace netlens
