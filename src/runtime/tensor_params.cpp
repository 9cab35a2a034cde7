// The "tensor" op family's parameter readers (include/netlens/runtime/shapes_tensor.hpp, namespace
// tensor_params): Slice, Pad, Resize/Upsample, Einsum, Cast's dtype, Constant, Unique. Shape
// inference (shapes_tensor.cpp) and the backends' kernels both call these, so attributes and
// constant inputs are read in exactly one way.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <set>

#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_tensor.hpp"
#include "shapes.hpp"

namespace netlens {

namespace tensor_params {

namespace {

[[noreturn]] void model_error(const Node& n, const std::string& msg) {
  throw Error(ErrorKind::Model, n.describe() + ": " + msg);
}

const Tensor& need_const(const Node& n, const std::vector<const Tensor*>& consts, size_t i) {
  const Tensor* t = i < consts.size() ? consts[i] : nullptr;
  if (!t)
    throw Error(ErrorKind::Unsupported, n.describe() + ": input " + std::to_string(i) + " ('" + n.input(i) +
                                            "') must be computable before the run (it depends on tensor values, "
                                            "not only shapes)");
  return *t;
}

// Optional constant input: nullopt when omitted; Unsupported when present but not constant.
std::optional<std::vector<int64_t>> opt_ints(const Node& n, const std::vector<const Tensor*>& consts, size_t i) {
  if (!n.has_input(i)) return std::nullopt;
  return need_const(n, consts, i).to_i64_vector();
}

std::vector<int64_t> norm_axes(const Node& n, std::vector<int64_t> axes, int64_t rank) {
  if (rank == 0 && !axes.empty()) model_error(n, "a rank-0 input has no axes");
  std::set<int64_t> seen;
  for (int64_t& a : axes) {
    a = normalize_axis(a, rank, n.describe());
    if (!seen.insert(a).second) model_error(n, "axis " + std::to_string(a) + " is repeated");
  }
  return axes;
}

}  // namespace

DType onnx_dtype(int64_t t, const std::string& where) {
  switch (t) {
    case 1: return DType::Float32;
    case 2: return DType::UInt8;
    case 3: return DType::Int8;
    case 4: return DType::UInt16;
    case 5: return DType::Int16;
    case 6: return DType::Int32;
    case 7: return DType::Int64;
    case 9: return DType::Bool;
    case 10: return DType::Float16;
    case 11: return DType::Float64;
    case 12: return DType::UInt32;
    case 13: return DType::UInt64;
    case 16: return DType::BFloat16;
    default: break;
  }
  const char* names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
                         "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
  const std::string name = t >= 0 && t <= 16 ? names[t] : "type " + std::to_string(t);
  throw Error(ErrorKind::Unsupported, where + ": data type " + name + " is not supported");
}

SliceParams slice_params(const Node& n, int64_t opset, const Shape& in, const std::vector<const Tensor*>& consts) {
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset < 10) {
    starts = n.attr_ints("starts");
    ends = n.attr_ints("ends");
    axes = n.attr_ints("axes");
  } else {
    starts = need_const(n, consts, 1).to_i64_vector();
    ends = need_const(n, consts, 2).to_i64_vector();
    if (auto a = opt_ints(n, consts, 3)) axes = *a;
    if (auto s = opt_ints(n, consts, 4)) steps = *s;
  }
  if (starts.size() != ends.size()) model_error(n, "starts and ends have different lengths");
  if (axes.empty()) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    model_error(n, "starts, ends, axes and steps must have the same length");
  axes = norm_axes(n, axes, rank);

  SliceParams p;
  p.start.assign(static_cast<size_t>(rank), 0);
  p.step.assign(static_cast<size_t>(rank), 1);
  p.out = in;
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t d = static_cast<size_t>(axes[k]);
    const int64_t dim = in[d], step = steps[k];
    if (step == 0) model_error(n, "step 0 on axis " + std::to_string(axes[k]));
    int64_t s = starts[k], e = ends[k];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t count;
    // Written so that no step (INT64_MIN included) overflows: |s - e| <= dim + 1.
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count = e > s ? 1 + (e - s - 1) / step : 0;
    } else {
      s = dim > 0 ? std::clamp<int64_t>(s, 0, dim - 1) : 0;
      e = std::clamp<int64_t>(e, -1, std::max<int64_t>(dim - 1, -1));
      const int64_t mag = step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
      count = s > e ? 1 + (s - e - 1) / mag : 0;
    }
    p.start[d] = count > 0 ? s : 0;
    p.step[d] = count > 1 ? step : 1;  // a step that is never taken must not overflow stride maths
    p.out[d] = count;
  }
  return p;
}

PadParams pad_params(const Node& n, int64_t opset, const Shape& in, const std::vector<const Tensor*>& consts) {
  const int64_t rank = static_cast<int64_t>(in.size());
  PadParams p;
  p.mode = n.attr_string("mode", "constant");
  std::vector<int64_t> pads = opset < 11 ? n.attr_ints(opset < 2 ? "paddings" : "pads")
                                         : need_const(n, consts, 1).to_i64_vector();
  std::vector<int64_t> axes;
  if (opset >= 18 && n.has_input(3)) axes = norm_axes(n, need_const(n, consts, 3).to_i64_vector(), rank);
  else {
    axes.resize(static_cast<size_t>(rank));
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (pads.size() != 2 * axes.size())
    model_error(n, "pads has " + std::to_string(pads.size()) + " values, expected " + std::to_string(2 * axes.size()));
  p.begin.assign(static_cast<size_t>(rank), 0);
  p.end.assign(static_cast<size_t>(rank), 0);
  p.out = in;
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t d = static_cast<size_t>(axes[k]);
    p.begin[d] = pads[k];
    p.end[d] = pads[k + axes.size()];
    constexpr int64_t kMaxPad = int64_t{1} << 50;
    for (int64_t v : {p.begin[d], p.end[d]})
      if (v < -kMaxPad || v > kMaxPad) model_error(n, "pad of " + std::to_string(v) + " is impossibly large");
    p.out[d] = in[d] + p.begin[d] + p.end[d];
    if (p.out[d] < 0) model_error(n, "pads crop axis " + std::to_string(d) + " below zero");
    if ((p.mode == "reflect" || p.mode == "edge" || p.mode == "wrap") && in[d] == 0 && p.out[d] > 0)
      model_error(n, "mode '" + p.mode + "' cannot pad an empty axis " + std::to_string(d));
  }
  return p;
}

ResizeParams resize_params(const Node& n, int64_t opset, const Shape& in, const std::vector<const Tensor*>& consts) {
  const int64_t rank = static_cast<int64_t>(in.size());
  const bool upsample = n.op_type == "Upsample";
  const bool legacy = upsample || opset < 11;
  ResizeParams p;
  p.mode = n.attr_string("mode", "nearest");
  if (p.mode == "bilinear" || p.mode == "trilinear") p.mode = "linear";  // Upsample-1 spellings
  p.coord = legacy ? "asymmetric" : n.attr_string("coordinate_transformation_mode", "half_pixel");
  p.nearest_mode = legacy ? "simple" : n.attr_string("nearest_mode", "round_prefer_floor");
  p.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  p.extrapolation = n.attr_float("extrapolation_value", 0.f);
  p.antialias = n.attr_int("antialias", 0) != 0;

  std::vector<int64_t> axes;
  if (!legacy && n.has_attr("axes")) axes = norm_axes(n, n.attr_ints("axes"), rank);
  else {
    axes.resize(static_cast<size_t>(rank));
    std::iota(axes.begin(), axes.end(), 0);
  }
  const size_t na = axes.size();

  // Scales or sizes, whichever is given (an empty tensor counts as absent).
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (upsample && opset < 9) {
    scales = n.attr_floats("scales");
  } else {
    const size_t si = legacy ? 1 : 2;
    if (n.has_input(si)) {
      const Tensor& t = need_const(n, consts, si);
      scales = t.to_f32_vector();
    }
    if (!legacy && n.has_input(3)) {
      const Tensor& t = need_const(n, consts, 3);
      sizes = t.to_i64_vector();
    }
  }
  if (!scales.empty() && !sizes.empty()) model_error(n, "both scales and sizes are given");
  if (scales.empty() && sizes.empty()) model_error(n, "neither scales nor sizes is given");
  if (!scales.empty() && scales.size() != na)
    model_error(n, "scales has " + std::to_string(scales.size()) + " values for " + std::to_string(na) + " axes");
  if (!sizes.empty() && sizes.size() != na)
    model_error(n, "sizes has " + std::to_string(sizes.size()) + " values for " + std::to_string(na) + " axes");

  p.out = in;
  p.scale.assign(static_cast<size_t>(rank), 1.0);
  p.length.assign(in.begin(), in.end());
  p.roi_start.assign(static_cast<size_t>(rank), 0.0);
  p.roi_end.assign(static_cast<size_t>(rank), 1.0);
  if (!scales.empty()) {
    for (size_t k = 0; k < na; ++k) {
      const size_t d = static_cast<size_t>(axes[k]);
      if (!(scales[k] > 0.f) || !std::isfinite(scales[k])) model_error(n, "scale " + std::to_string(scales[k]) + " is not positive");
      p.scale[d] = scales[k];
      p.length[d] = static_cast<double>(scales[k]) * static_cast<double>(in[d]);
      // Float product as onnx shape inference and onnxruntime compute it.
      const float o = std::floor(static_cast<float>(in[d]) * scales[k]);
      if (!(o <= 1e15f)) model_error(n, "scale " + std::to_string(scales[k]) + " gives an impossibly large output");
      p.out[d] = static_cast<int64_t>(o);
    }
  } else {
    const std::string policy = opset >= 18 ? n.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
    for (int64_t s : sizes)
      if (s < 0) model_error(n, "negative size " + std::to_string(s));
    if (policy == "stretch") {
      for (size_t k = 0; k < na; ++k) {
        const size_t d = static_cast<size_t>(axes[k]);
        p.out[d] = sizes[k];
        p.length[d] = static_cast<double>(sizes[k]);
        p.scale[d] = in[d] ? static_cast<double>(sizes[k]) / static_cast<double>(in[d]) : 1.0;
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double s = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (size_t k = 0; k < na; ++k) {
        const double r = in[static_cast<size_t>(axes[k])] ? static_cast<double>(sizes[k]) / in[static_cast<size_t>(axes[k])] : 1.0;
        s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
      }
      for (size_t k = 0; k < na; ++k) {
        const size_t d = static_cast<size_t>(axes[k]);
        if (!(s * static_cast<double>(in[d]) <= 1e15)) model_error(n, "sizes give an impossibly large output");
        p.scale[d] = s;
        p.length[d] = s * static_cast<double>(in[d]);
        p.out[d] = static_cast<int64_t>(std::floor(s * static_cast<double>(in[d]) + 0.5));
      }
    } else {
      throw Error(ErrorKind::Unsupported, n.describe() + ": keep_aspect_ratio_policy '" + policy + "' is not supported");
    }
  }
  if (p.coord == "tf_crop_and_resize") {
    const Tensor& roi = need_const(n, consts, 1);
    std::vector<float> r = roi.to_f32_vector();
    if (r.size() != 2 * na) model_error(n, "roi has " + std::to_string(r.size()) + " values, expected " + std::to_string(2 * na));
    for (size_t k = 0; k < na; ++k) {
      p.roi_start[static_cast<size_t>(axes[k])] = r[k];
      p.roi_end[static_cast<size_t>(axes[k])] = r[k + na];
    }
  }
  return p;
}

EinsumSpec einsum_spec(const Node& n, const std::vector<Shape>& in) {
  std::string eq;
  for (char c : n.attr_string("equation", "")) if (c != ' ') eq += c;
  if (eq.empty()) model_error(n, "missing equation");
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  auto letter_id = [&](char c) -> int {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
    model_error(n, std::string("bad character '") + c + "' in equation '" + eq + "'");
  };
  // Splits a term into letters with -1 standing for "...".
  auto parse_term = [&](const std::string& t) {
    std::vector<int> out;
    bool ell = false;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '.') {
        if (t.compare(i, 3, "...") != 0 || ell) model_error(n, "bad ellipsis in equation '" + eq + "'");
        ell = true;
        out.push_back(-1);
        i += 2;
      } else {
        out.push_back(letter_id(t[i]));
      }
    }
    return out;
  };
  std::vector<std::vector<int>> terms;
  for (size_t pos = 0;;) {
    const size_t comma = lhs.find(',', pos);
    terms.push_back(parse_term(lhs.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (terms.size() != in.size())
    model_error(n, "equation '" + eq + "' has " + std::to_string(terms.size()) + " operands, node has " +
                       std::to_string(in.size()) + " inputs");
  EinsumSpec s;
  int64_t ell_rank = 0;
  std::vector<int64_t> ell_of(terms.size(), 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    const int64_t letters = static_cast<int64_t>(std::count_if(terms[k].begin(), terms[k].end(), [](int l) { return l >= 0; }));
    const bool has_ell = std::find(terms[k].begin(), terms[k].end(), -1) != terms[k].end();
    const int64_t r = static_cast<int64_t>(in[k].size());
    if (has_ell ? r < letters : r != letters)
      model_error(n, "operand " + std::to_string(k) + " has rank " + std::to_string(r) + ", equation '" + eq +
                         "' expects " + (has_ell ? "at least " : "") + std::to_string(letters));
    ell_of[k] = r - letters;
    ell_rank = std::max(ell_rank, ell_of[k]);
  }
  s.size.assign(static_cast<size_t>(52 + ell_rank), -1);  // -1: not bound yet
  // Sizes must agree per label; a size-1 dim broadcasts against any size (numpy semantics).
  auto bind = [&](int label, int64_t dim) {
    int64_t& sz = s.size[static_cast<size_t>(label)];
    if (sz == -1 || sz == 1) sz = dim;
    else if (dim != sz && dim != 1)
      model_error(n, "dimension " + std::to_string(dim) + " does not match " + std::to_string(sz) +
                         " for the same label in equation '" + eq + "'");
  };
  std::vector<int> count(s.size.size(), 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    std::vector<int> labels;
    for (int l : terms[k]) {
      if (l >= 0) labels.push_back(l);
      else
        for (int64_t e = 0; e < ell_of[k]; ++e) labels.push_back(static_cast<int>(52 + ell_rank - ell_of[k] + e));
    }
    for (size_t d = 0; d < labels.size(); ++d) bind(labels[d], in[k][d]);
    for (int l : std::set<int>(labels.begin(), labels.end())) ++count[static_cast<size_t>(l)];
    // Count repeats within one operand as extra occurrences: "ii" is not an output label.
    for (size_t d = 0; d < labels.size(); ++d)
      if (std::count(labels.begin(), labels.end(), labels[d]) > 1) count[static_cast<size_t>(labels[d])] = 2;
    s.inputs.push_back(std::move(labels));
  }
  if (arrow != std::string::npos) {
    for (int l : parse_term(eq.substr(arrow + 2))) {
      if (l >= 0) {
        if (count[static_cast<size_t>(l)] == 0) model_error(n, "output label not among the inputs in '" + eq + "'");
        s.output.push_back(l);
      } else {
        for (int64_t e = 0; e < ell_rank; ++e) s.output.push_back(static_cast<int>(52 + e));
      }
    }
    std::set<int> uniq(s.output.begin(), s.output.end());
    if (uniq.size() != s.output.size()) model_error(n, "repeated output label in '" + eq + "'");
  } else {
    for (int64_t e = 0; e < ell_rank; ++e) s.output.push_back(static_cast<int>(52 + e));
    // Implicit output: labels seen once, in alphabetical (ASCII: upper case first) order.
    std::vector<int> once;
    for (int l = 0; l < 52; ++l)
      if (count[static_cast<size_t>(l)] == 1) once.push_back(l);
    std::sort(once.begin(), once.end(), [](int a, int b) { return (a >= 26 ? a - 26 : a + 26) < (b >= 26 ? b - 26 : b + 26); });
    s.output.insert(s.output.end(), once.begin(), once.end());
  }
  for (int64_t& z : s.size) z = std::max<int64_t>(z, 0);
  for (int l : s.output) s.out.push_back(s.size[static_cast<size_t>(l)]);
  return s;
}

Tensor constant_value(const Node& n) {
  if (const Tensor* t = n.attr_tensor("value")) return *t;
  if (n.has_attr("value_float")) return Tensor::scalar_f32(n.attr_float("value_float", 0.f));
  if (n.has_attr("value_floats")) {
    std::vector<float> v = n.attr_floats("value_floats");
    return Tensor::from_f32({static_cast<int64_t>(v.size())}, v);
  }
  if (n.has_attr("value_int")) return Tensor::from_i64({}, {n.attr_int("value_int", 0)});
  if (n.has_attr("value_ints")) {
    std::vector<int64_t> v = n.attr_ints("value_ints");
    return Tensor::from_i64({static_cast<int64_t>(v.size())}, v);
  }
  for (const char* k : {"sparse_value", "value_string", "value_strings"})
    if (n.has_attr(k)) throw Error(ErrorKind::Unsupported, n.describe() + ": attribute '" + k + "' is not supported");
  model_error(n, "has no value attribute");
}

UniqueResult unique_values(const Node& n, const Tensor& x) {
  const bool sorted = n.attr_int("sorted", 1) != 0;
  const int64_t r = x.rank();
  const bool has_axis = n.has_attr("axis");
  if (has_axis && r == 0) model_error(n, "input must have rank >= 1 with an axis");
  const int64_t axis = has_axis ? normalize_axis(n.attr_int("axis", 0), r, n.describe()) : 0;
  const Shape shape = has_axis ? x.shape() : Shape{x.numel()};
  const int64_t outer = has_axis ? numel(Shape(shape.begin(), shape.begin() + axis)) : 1;
  const int64_t dim = shape.empty() ? 1 : shape[static_cast<size_t>(axis)];
  const int64_t inner = has_axis ? numel(Shape(shape.begin() + axis + 1, shape.end())) : 1;
  // Slice j = all elements with index j along the axis, compared element by element (floats by
  // value, integers exactly).
  const bool fl = is_float(x.dtype());
  auto elem = [&](int64_t j, int64_t e) { return (e / inner * dim + j) * inner + e % inner; };
  auto cmp = [&](int64_t a, int64_t b) {  // <0, 0, >0
    for (int64_t e = 0; e < outer * inner; ++e) {
      if (fl) {
        const double va = x.get_f64(elem(a, e)), vb = x.get_f64(elem(b, e));
        if (va != vb) return va < vb ? -1 : 1;
      } else {
        const int64_t va = x.get_i64(elem(a, e)), vb = x.get_i64(elem(b, e));
        if (va != vb) return va < vb ? -1 : 1;
      }
    }
    return 0;
  };
  std::vector<int64_t> order(static_cast<size_t>(dim));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
  // Groups of equal slices; each group's representative is its first occurrence.
  std::vector<int64_t> group_of(static_cast<size_t>(dim));
  std::vector<int64_t> first, count;
  for (size_t k = 0; k < order.size(); ++k) {
    if (k == 0 || cmp(order[k - 1], order[k]) != 0) {
      first.push_back(order[k]);
      count.push_back(0);
    }
    group_of[static_cast<size_t>(order[k])] = static_cast<int64_t>(first.size()) - 1;
    ++count.back();
  }
  // Output order: sorted groups, or by first occurrence.
  std::vector<int64_t> g(first.size());
  std::iota(g.begin(), g.end(), 0);
  if (!sorted) std::sort(g.begin(), g.end(), [&](int64_t a, int64_t b) { return first[static_cast<size_t>(a)] < first[static_cast<size_t>(b)]; });
  std::vector<int64_t> pos(g.size());
  for (size_t k = 0; k < g.size(); ++k) pos[static_cast<size_t>(g[k])] = static_cast<int64_t>(k);
  UniqueResult res;
  Shape ys = shape;
  if (!ys.empty()) ys[static_cast<size_t>(axis)] = static_cast<int64_t>(g.size());
  res.y = Tensor(x.dtype(), ys);
  const size_t es = dtype_size(x.dtype());
  for (size_t k = 0; k < g.size(); ++k) {
    const int64_t src = first[static_cast<size_t>(g[k])];
    res.indices.push_back(src);
    res.counts.push_back(count[static_cast<size_t>(g[k])]);
    for (int64_t e = 0; e < outer * inner; ++e) {
      const int64_t di = (e / inner * static_cast<int64_t>(g.size()) + static_cast<int64_t>(k)) * inner + e % inner;
      std::memcpy(static_cast<char*>(res.y.data()) + di * static_cast<int64_t>(es),
                  static_cast<const char*>(x.data()) + elem(src, e) * static_cast<int64_t>(es), es);
    }
  }
  for (int64_t j = 0; j < dim; ++j) res.inverse.push_back(pos[static_cast<size_t>(group_of[static_cast<size_t>(j)])]);
  return res;
}

}  // namespace tensor_params

}  // namespace netlens
