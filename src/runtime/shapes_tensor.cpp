// Shape inference for the "tensor" op family: data movement (Reshape, Transpose, Concat, Slice,
// Gather...), Pad, Resize/Upsample, Cast, Constant*, Range, Einsum, TopK, OneHot, CumSum...
// Output shapes that depend on tensor values (Reshape's shape, Slice's starts...) require those
// inputs to be constants (InferContext::require_constant → Error{Unsupported} otherwise). The
// parameter readers these share with the kernels (tensor_params) are in tensor_params.cpp.
#include "netlens/runtime/shapes_tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <set>

#include "netlens/runtime/shape_util.hpp"
#include "shapes.hpp"

namespace netlens {


namespace {

using Infos = std::vector<TensorInfo>;
using namespace tensor_params;

std::string where(const InferContext& c) { return c.node.describe(); }

// Dims taken from tensor values (Reshape, Expand, Tile, ConstantOfShape): refuse sizes no tensor can
// have, so that element counts never overflow (a zero elsewhere would hide it from a size check).
Shape checked(const InferContext& c, Shape s) {
  constexpr int64_t kMaxDim = int64_t{1} << 48;
  int64_t total = 1;
  for (int64_t d : s)
    if (d > kMaxDim || (d > 0 && __builtin_mul_overflow(total, d, &total)))
      c.fail("output shape " + shape_str(s) + " is impossibly large");
  return s;
}

Infos same_as_input(const InferContext& c) { return {c.in(0)}; }

Infos infer_reshape(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const std::vector<int64_t> target = c.opset < 5 ? c.node.attr_ints("shape") : c.require_constant(1).to_i64_vector();
  const bool allowzero = c.opset >= 14 && c.node.attr_int("allowzero", 0) != 0;
  Shape out(target.size());
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    const int64_t v = target[i];
    if (v == -1) {
      if (infer >= 0) c.fail("shape " + shape_str(target) + " has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (v < -1) c.fail("shape has a negative entry " + std::to_string(v));
    if (v == 0 && !allowzero) {
      if (i >= x.shape.size()) c.fail("shape entry 0 at index " + std::to_string(i) + " beyond input rank");
      out[i] = x.shape[i];
    } else {
      out[i] = v;
    }
    if (__builtin_mul_overflow(known, out[i], &known)) c.fail("shape " + shape_str(target) + " overflows");
  }
  const int64_t total = numel(x.shape);
  if (infer >= 0) {
    if (known == 0) {
      if (total != 0) c.fail("cannot infer -1 with a zero-sized dim");
      out[static_cast<size_t>(infer)] = 0;
    } else {
      if (total % known) c.fail("cannot reshape " + shape_str(x.shape) + " into " + shape_str(target));
      out[static_cast<size_t>(infer)] = total / known;
    }
  }
  if (numel(checked(c, out)) != total) c.fail("cannot reshape " + shape_str(x.shape) + " into " + shape_str(out));
  return {{x.dtype, out}};
}

Infos infer_flatten(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  int64_t axis = c.node.attr_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) c.fail("axis " + std::to_string(c.node.attr_int("axis", 1)) + " out of range for rank " + std::to_string(r));
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= x.shape[static_cast<size_t>(i)];
  return {{x.dtype, {a, b}}};
}

Infos infer_transpose(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm = c.node.attr_ints("perm");
  if (perm.empty()) {
    perm.resize(static_cast<size_t>(r));
    for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = r - 1 - i;
  }
  if (static_cast<int64_t>(perm.size()) != r) c.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Shape out(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) {
    const int64_t p = normalize_axis(perm[static_cast<size_t>(i)], r, where(c));
    if (seen[static_cast<size_t>(p)]) c.fail("perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    out[static_cast<size_t>(i)] = x.shape[static_cast<size_t>(p)];
  }
  return {{x.dtype, out}};
}

std::optional<std::vector<int64_t>> axes_attr_or_input(const InferContext& c, size_t input) {
  if (c.opset < 13) {
    if (!c.node.has_attr("axes")) return std::nullopt;
    return c.node.attr_ints("axes");
  }
  if (!c.has(input)) return std::nullopt;
  return c.require_constant(input).to_i64_vector();
}

Infos infer_squeeze(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  auto axes = axes_attr_or_input(c, 1);
  std::vector<bool> drop(static_cast<size_t>(r), false);
  if (!axes) {
    for (int64_t i = 0; i < r; ++i) drop[static_cast<size_t>(i)] = x.shape[static_cast<size_t>(i)] == 1;
  } else {
    if (r == 0 && !axes->empty()) c.fail("a rank-0 input has no axes to squeeze");
    for (int64_t a : *axes) {
      const int64_t n = normalize_axis(a, r, where(c));
      if (x.shape[static_cast<size_t>(n)] != 1)
        c.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.shape[static_cast<size_t>(n)]));
      drop[static_cast<size_t>(n)] = true;
    }
  }
  Shape out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(x.shape[static_cast<size_t>(i)]);
  return {{x.dtype, out}};
}

Infos infer_unsqueeze(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  auto axes = axes_attr_or_input(c, 1);
  if (!axes) c.fail("missing axes");
  const int64_t r = static_cast<int64_t>(x.shape.size() + axes->size());
  std::vector<bool> ins(static_cast<size_t>(r), false);
  for (int64_t a : *axes) {
    const int64_t n = normalize_axis(a, r, where(c));
    if (ins[static_cast<size_t>(n)]) c.fail("axis " + std::to_string(a) + " is repeated");
    ins[static_cast<size_t>(n)] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(ins[static_cast<size_t>(i)] ? 1 : x.shape[k++]);
  return {{x.dtype, out}};
}

Infos infer_concat(const InferContext& c) {
  if (c.num_inputs() == 0) c.fail("no inputs");
  const TensorInfo& x0 = c.in(0);
  const int64_t r = static_cast<int64_t>(x0.shape.size());
  if (r == 0) c.fail("inputs must have rank >= 1");
  if (!c.node.has_attr("axis") && c.opset >= 4) c.fail("missing axis attribute");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 1), r, where(c));
  Shape out = x0.shape;
  out[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const TensorInfo& xi = c.in(i);
    if (xi.dtype != x0.dtype) c.fail("inputs have different dtypes");
    if (xi.shape.size() != x0.shape.size()) c.fail("inputs have different ranks");
    for (int64_t d = 0; d < r; ++d)
      if (d != axis && xi.shape[static_cast<size_t>(d)] != x0.shape[static_cast<size_t>(d)])
        c.fail("input " + std::to_string(i) + " shape " + shape_str(xi.shape) + " does not match " + shape_str(x0.shape));
    if (__builtin_add_overflow(out[static_cast<size_t>(axis)], xi.shape[static_cast<size_t>(axis)],
                               &out[static_cast<size_t>(axis)]))
      c.fail("the concatenated axis overflows 64 bits");
  }
  return {{x0.dtype, out}};
}

Infos infer_split(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r == 0) c.fail("input must have rank >= 1");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), r, where(c));
  const int64_t dim = x.shape[static_cast<size_t>(axis)];
  const int64_t n_out = static_cast<int64_t>(c.node.outputs.size());
  std::vector<int64_t> split;
  if (c.opset < 13) split = c.node.attr_ints("split");
  else if (c.has(1)) split = c.require_constant(1).to_i64_vector();
  if (split.empty()) {
    const int64_t n = c.opset >= 18 && c.node.has_attr("num_outputs") ? c.node.attr_int("num_outputs", n_out) : n_out;
    if (n <= 0) c.fail("no outputs");
    if (n != n_out) c.fail("num_outputs " + std::to_string(n) + " but " + std::to_string(n_out) + " outputs");
    if (c.opset >= 18) {
      // Opset 18: equal chunks of ceil(dim/n); the last one is smaller when it does not divide.
      const int64_t chunk = (dim + n - 1) / n;
      int64_t left = dim;
      for (int64_t i = 0; i < n; ++i) {
        split.push_back(std::min(chunk, left));
        left -= split.back();
      }
    } else {
      if (dim % n) c.fail("axis of size " + std::to_string(dim) + " cannot be split into " + std::to_string(n) + " equal parts");
      split.assign(static_cast<size_t>(n), dim / n);
    }
  }
  if (static_cast<int64_t>(split.size()) != n_out)
    c.fail("split has " + std::to_string(split.size()) + " entries for " + std::to_string(n_out) + " outputs");
  int64_t sum = 0;
  for (int64_t s : split) {
    if (s < 0) c.fail("negative split size");
    if (__builtin_add_overflow(sum, s, &sum)) c.fail("split sizes overflow");
  }
  if (sum != dim) c.fail("split sizes sum to " + std::to_string(sum) + ", axis has " + std::to_string(dim));
  Infos out;
  for (int64_t s : split) {
    Shape sh = x.shape;
    sh[static_cast<size_t>(axis)] = s;
    out.push_back({x.dtype, sh});
  }
  return out;
}

Infos infer_slice(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  return {{x.dtype, slice_params(c.node, c.opset, x.shape, c.const_inputs).out}};
}

Infos infer_gather(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& idx = c.in(1);
  if (!is_integer(idx.dtype)) c.fail("indices must be integers");
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r == 0) c.fail("data must have rank >= 1");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), r, where(c));
  Shape out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  return {{x.dtype, out}};
}

Infos infer_gather_elements(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& idx = c.in(1);
  if (!is_integer(idx.dtype)) c.fail("indices must be integers");
  if (idx.shape.size() != x.shape.size() || x.shape.empty()) c.fail("data and indices must have the same rank >= 1");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), where(c));
  for (size_t d = 0; d < x.shape.size(); ++d)
    if (static_cast<int64_t>(d) != axis && idx.shape[d] > x.shape[d])
      c.fail("indices shape " + shape_str(idx.shape) + " exceeds data shape " + shape_str(x.shape));
  return {{x.dtype, idx.shape}};
}

Infos infer_scatter_nd(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& idx = c.in(1);
  const TensorInfo& upd = c.in(2);
  if (idx.shape.empty()) c.fail("indices must have rank >= 1");
  const int64_t k = idx.shape.back();
  if (k > static_cast<int64_t>(x.shape.size())) c.fail("index depth exceeds data rank");
  Shape expect(idx.shape.begin(), idx.shape.end() - 1);
  expect.insert(expect.end(), x.shape.begin() + k, x.shape.end());
  if (upd.shape != expect) c.fail("updates shape " + shape_str(upd.shape) + ", expected " + shape_str(expect));
  if (upd.dtype != x.dtype) c.fail("updates dtype differs from data");
  return {x};
}

Infos infer_expand(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const std::vector<int64_t> shape = c.require_constant(1).to_i64_vector();
  return {{x.dtype, checked(c, broadcast_shapes(x.shape, shape, where(c)))}};
}

Infos infer_tile(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const std::vector<int64_t> rep = c.require_constant(1).to_i64_vector();
  if (rep.size() != x.shape.size()) c.fail("repeats has " + std::to_string(rep.size()) + " entries for rank " + std::to_string(x.shape.size()));
  Shape out = x.shape;
  for (size_t i = 0; i < rep.size(); ++i) {
    if (rep[i] < 0) c.fail("negative repeat");
    if (__builtin_mul_overflow(out[i], rep[i], &out[i])) c.fail("repeats overflow the output size");
  }
  return {{x.dtype, checked(c, out)}};
}

Infos infer_pad(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  if (c.opset >= 11 && c.has(2) && (c.in(2).dtype != x.dtype || numel(c.in(2).shape) > 1))
    c.fail("constant_value must be one value of the data's type");
  return {{x.dtype, pad_params(c.node, c.opset, x.shape, c.const_inputs).out}};
}

Infos infer_resize(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  return {{x.dtype, resize_params(c.node, c.opset, x.shape, c.const_inputs).out}};
}

Infos infer_shape(const InferContext& c) {
  const int64_t r = static_cast<int64_t>(c.in(0).shape.size());
  int64_t start = c.node.attr_int("start", 0), end = c.node.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, start, r);
  return {{DType::Int64, {end - start}}};
}

Infos infer_size(const InferContext& c) {
  (void)c.in(0);
  return {{DType::Int64, {}}};
}

Infos infer_cast(const InferContext& c) {
  if (!c.node.has_attr("to")) c.fail("missing 'to' attribute");
  return {{onnx_dtype(c.node.attr_int("to", 1), where(c)), c.in(0).shape}};
}

Infos infer_castlike(const InferContext& c) { return {{c.in(1).dtype, c.in(0).shape}}; }

Infos infer_constant(const InferContext& c) {
  const Tensor t = constant_value(c.node);
  return {{t.dtype(), t.shape()}};
}

Infos infer_constant_of_shape(const InferContext& c) {
  const std::vector<int64_t> shape = c.require_constant(0).to_i64_vector();
  for (int64_t d : shape)
    if (d < 0) c.fail("negative dimension in shape " + shape_str(shape));
  DType dt = DType::Float32;
  if (const Tensor* v = c.node.attr_tensor("value")) {
    if (v->numel() != 1) c.fail("value must have exactly one element");
    dt = v->dtype();
  }
  return {{dt, checked(c, shape)}};
}

Infos infer_range(const InferContext& c) {
  const Tensor& s = c.require_constant(0);
  const Tensor& l = c.require_constant(1);
  const Tensor& d = c.require_constant(2);
  if (s.numel() != 1 || l.numel() != 1 || d.numel() != 1) c.fail("start, limit and delta must be scalars");
  const DType dt = c.in(0).dtype;
  int64_t n;
  if (is_integer(dt)) {
    const int64_t a = s.get_i64(0), b = l.get_i64(0), st = d.get_i64(0);
    if (st == 0) c.fail("delta is 0");
    // The span |b - a| may not fit int64 (start -2^63, limit 2^63-1): count in unsigned 64 bits.
    const bool up = st > 0;
    const uint64_t span = up ? (b > a ? static_cast<uint64_t>(b) - static_cast<uint64_t>(a) : 0)
                             : (a > b ? static_cast<uint64_t>(a) - static_cast<uint64_t>(b) : 0);
    const uint64_t step = up ? static_cast<uint64_t>(st) : uint64_t{0} - static_cast<uint64_t>(st);
    const uint64_t count = span / step + (span % step != 0);
    if (count > (uint64_t{1} << 50)) c.fail("would produce " + std::to_string(count) + " elements");
    n = static_cast<int64_t>(count);
  } else {
    const double a = s.get_f64(0), b = l.get_f64(0), st = d.get_f64(0);
    if (st == 0 || !std::isfinite(st) || !std::isfinite(a) || !std::isfinite(b)) c.fail("bad start/limit/delta");
    const double count = std::ceil((b - a) / st);
    if (count > 1e15) c.fail("would produce " + std::to_string(count) + " elements");
    n = std::max<int64_t>(0, static_cast<int64_t>(count));
  }
  return {{dt, {n}}};
}

Infos infer_dropout(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  // Opsets 7-9 return the mask in the input's type; 10+ as bool.
  return {x, {c.opset < 10 ? x.dtype : DType::Bool, x.shape}};
}

Infos infer_depth_to_space(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t b = c.node.attr_int("blocksize", 0);
  if (x.shape.size() != 4) c.fail("input must be 4-D, got " + shape_str(x.shape));
  if (b <= 0 || b > x.shape[1] || b > (int64_t{1} << 24)) c.fail("blocksize " + std::to_string(b) + " out of range");
  if (x.shape[1] % (b * b)) c.fail("channels " + std::to_string(x.shape[1]) + " not divisible by blocksize^2");
  int64_t h = 0, w = 0;
  if (__builtin_mul_overflow(x.shape[2], b, &h) || __builtin_mul_overflow(x.shape[3], b, &w))
    c.fail("blocksize " + std::to_string(b) + " overflows the output size");
  return {{x.dtype, {x.shape[0], x.shape[1] / (b * b), h, w}}};
}

Infos infer_space_to_depth(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t b = c.node.attr_int("blocksize", 0);
  if (x.shape.size() != 4) c.fail("input must be 4-D, got " + shape_str(x.shape));
  if (b <= 0 || b > std::max<int64_t>(1, std::min(x.shape[2], x.shape[3])) || b > (int64_t{1} << 24)) c.fail("blocksize " + std::to_string(b) + " out of range");
  if (x.shape[2] % b || x.shape[3] % b) c.fail("spatial dims not divisible by blocksize");
  int64_t ch = 0;
  if (__builtin_mul_overflow(x.shape[1], b * b, &ch)) c.fail("blocksize " + std::to_string(b) + " overflows the channel count");
  return {{x.dtype, {x.shape[0], ch, x.shape[2] / b, x.shape[3] / b}}};
}

Infos infer_trilu(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  if (x.shape.size() < 2) c.fail("input must have rank >= 2");
  return {x};
}

Infos infer_einsum(const InferContext& c) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < c.num_inputs(); ++i) shapes.push_back(c.in(i).shape);
  if (shapes.empty()) c.fail("no inputs");
  return {{c.in(0).dtype, einsum_spec(c.node, shapes).out}};
}

Infos infer_one_hot(const InferContext& c) {
  const TensorInfo& idx = c.in(0);
  const Tensor& depth_t = c.require_constant(1);
  const TensorInfo& values = c.in(2);
  if (depth_t.numel() != 1) c.fail("depth must be a scalar");
  if (numel(values.shape) != 2) c.fail("values must have two elements [off, on]");
  const double depth_v = depth_t.get_f64(0);
  if (!(depth_v >= 1 && depth_v <= 1e15)) c.fail("depth must be a positive count");
  const int64_t depth = static_cast<int64_t>(depth_v);
  const int64_t r = static_cast<int64_t>(idx.shape.size()) + 1;
  const int64_t axis = normalize_axis(c.node.attr_int("axis", -1), r, where(c));
  Shape out = idx.shape;
  out.insert(out.begin() + axis, depth);
  return {{values.dtype, out}};
}

Infos infer_top_k(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r == 0) c.fail("input must have rank >= 1");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", -1), r, where(c));
  int64_t k = c.node.attr_int("k", -1);
  if (c.opset >= 10) {
    const Tensor& kt = c.require_constant(1);
    if (kt.numel() != 1) c.fail("K must hold one value");
    k = kt.get_i64(0);
  }
  if (k < 0 || k > x.shape[static_cast<size_t>(axis)])
    c.fail("k=" + std::to_string(k) + " out of range for axis of size " + std::to_string(x.shape[static_cast<size_t>(axis)]));
  Shape out = x.shape;
  out[static_cast<size_t>(axis)] = k;
  return {{x.dtype, out}, {DType::Int64, out}};
}

Infos infer_cumsum(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  if (x.shape.empty()) c.fail("input must have rank >= 1");
  return {x};
}

Infos infer_non_zero(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const Tensor& t = c.require_constant(0);
  int64_t nnz = 0;
  for (int64_t i = 0; i < t.numel(); ++i) nnz += t.get_f64(i) != 0.0;
  return {{DType::Int64, {static_cast<int64_t>(x.shape.size()), nnz}}};
}

Infos infer_gather_nd(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& idx = c.in(1);
  const int64_t b = c.node.attr_int("batch_dims", 0);
  const int64_t r = static_cast<int64_t>(x.shape.size()), q = static_cast<int64_t>(idx.shape.size());
  if (q < 1 || r < 1) c.fail("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(q, r)) c.fail("batch_dims " + std::to_string(b) + " out of range");
  const int64_t k = idx.shape.back();
  if (k < 1 || b + k > r) c.fail("index depth " + std::to_string(k) + " too large for data rank " + std::to_string(r));
  for (int64_t i = 0; i < b; ++i)
    if (idx.shape[static_cast<size_t>(i)] != x.shape[static_cast<size_t>(i)]) c.fail("batch dims of data and indices differ");
  Shape out(idx.shape.begin(), idx.shape.end() - 1);
  out.insert(out.end(), x.shape.begin() + b + k, x.shape.end());
  return {{x.dtype, out}};
}

Infos infer_scatter_elements(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& idx = c.in(1);
  const TensorInfo& upd = c.in(2);
  if (idx.shape != upd.shape) c.fail("indices and updates shapes differ");
  if (idx.shape.size() != x.shape.size() || x.shape.empty()) c.fail("indices rank differs from data rank (or rank 0)");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), where(c));
  for (size_t d = 0; d < x.shape.size(); ++d)
    if (static_cast<int64_t>(d) != axis && idx.shape[d] > x.shape[d])
      c.fail("indices shape " + shape_str(idx.shape) + " exceeds data shape " + shape_str(x.shape));
  if (upd.dtype != x.dtype) c.fail("updates dtype differs from data");
  return {x};
}

Infos infer_eye_like(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  if (x.shape.size() != 2) c.fail("input must be 2-D");
  const DType dt = c.node.has_attr("dtype") ? onnx_dtype(c.node.attr_int("dtype", 1), where(c)) : x.dtype;
  return {{dt, x.shape}};
}

Infos infer_reverse_sequence(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& lens = c.in(1);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r < 2) c.fail("input must have rank >= 2");
  const int64_t ba = normalize_axis(c.node.attr_int("batch_axis", 1), r, where(c));
  const int64_t ta = normalize_axis(c.node.attr_int("time_axis", 0), r, where(c));
  if (ba == ta || ba > 1 || ta > 1) c.fail("batch_axis and time_axis must be 0 and 1");
  if (lens.shape != Shape{x.shape[static_cast<size_t>(ba)]}) c.fail("sequence_lens must have batch size entries");
  return {x};
}

Infos infer_unique(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const Tensor& t = c.require_constant(0);
  const UniqueResult u = unique_values(c.node, t);
  const int64_t n = static_cast<int64_t>(u.counts.size());
  return {{x.dtype, u.y.shape()}, {DType::Int64, {n}}, {DType::Int64, {static_cast<int64_t>(u.inverse.size())}},
          {DType::Int64, {n}}};
}

Infos infer_compress(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const std::vector<int64_t> cond = c.require_constant(1).to_i64_vector();
  int64_t kept = 0;
  if (c.node.has_attr("axis")) {
    if (x.shape.empty()) c.fail("input must have rank >= 1 with an axis");
    const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), where(c));
    const int64_t dim = x.shape[static_cast<size_t>(axis)];
    if (static_cast<int64_t>(cond.size()) > dim) c.fail("condition longer than the axis");
    for (int64_t v : cond) kept += v != 0;
    Shape out = x.shape;
    out[static_cast<size_t>(axis)] = kept;
    return {{x.dtype, out}};
  }
  if (static_cast<int64_t>(cond.size()) > numel(x.shape)) c.fail("condition longer than the input");
  for (int64_t v : cond) kept += v != 0;
  return {{x.dtype, {kept}}};
}

}  // namespace

void register_tensor_shapes(OpRegistry& r) {
  r.add("GatherND", infer_gather_nd);
  r.add("ScatterElements", infer_scatter_elements);
  r.add("Scatter", infer_scatter_elements);
  r.add("EyeLike", infer_eye_like);
  r.add("ReverseSequence", infer_reverse_sequence);
  r.add("Unique", infer_unique);
  r.add("Compress", infer_compress);
  r.add("Reshape", infer_reshape);
  r.add("Flatten", infer_flatten);
  r.add("Transpose", infer_transpose);
  r.add("Squeeze", infer_squeeze);
  r.add("Unsqueeze", infer_unsqueeze);
  r.add("Concat", infer_concat);
  r.add("Split", infer_split);
  r.add("Slice", infer_slice);
  r.add("Gather", infer_gather);
  r.add("GatherElements", infer_gather_elements);
  r.add("ScatterND", infer_scatter_nd);
  r.add("Expand", infer_expand);
  r.add("Tile", infer_tile);
  r.add("Pad", infer_pad);
  r.add("Resize", infer_resize);
  r.add("Upsample", infer_resize);
  r.add("Shape", infer_shape);
  r.add("Size", infer_size);
  r.add("Cast", infer_cast);
  r.add("CastLike", infer_castlike);
  r.add("Constant", infer_constant);
  r.add("ConstantOfShape", infer_constant_of_shape);
  r.add("Range", infer_range);
  r.add("Identity", same_as_input);
  r.add("Dropout", infer_dropout);
  r.add("DepthToSpace", infer_depth_to_space);
  r.add("SpaceToDepth", infer_space_to_depth);
  r.add("Trilu", infer_trilu);
  r.add("Einsum", infer_einsum);
  r.add("OneHot", infer_one_hot);
  r.add("TopK", infer_top_k);
  r.add("CumSum", infer_cumsum);
  r.add("NonZero", infer_non_zero);
}

}  // namespace netlens
