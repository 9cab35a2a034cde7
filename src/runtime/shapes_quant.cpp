// Shape inference for the quantized ONNX ops: QuantizeLinear / DequantizeLinear (opsets 10, 13, 19:
// per-tensor, then per-axis with `axis`, then float16/bfloat16 scales), DynamicQuantizeLinear,
// QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger. Float8/int4 forms (opset 19+ float8
// types, opset 21 block_size) are Error{Unsupported}.
#include "netlens/runtime/shapes_quant.hpp"

#include <cmath>
#include <string>

#include "netlens/runtime/shape_util.hpp"
#include "shapes.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens {

bool is_quant8(DType t) { return t == DType::Int8 || t == DType::UInt8; }

namespace {

[[noreturn]] void fail(const Node& node, const std::string& msg) {
  throw Error(ErrorKind::Model, node.describe() + ": " + msg);
}

bool is_one(const Shape& s) { return s.size() <= 1 && numel(s) == 1; }

std::string dname(DType t) { return std::string(dtype_name(t)); }

}  // namespace

void require_per_tensor(const Node& node, const TensorInfo& t, const std::string& what) {
  if (!is_one(t.shape))
    fail(node, what + " must be a scalar (per-tensor quantization), got shape " + shape_str(t.shape));
}

int64_t require_per_tensor_or(const Node& node, const TensorInfo& t, int64_t n, const std::string& what) {
  if (is_one(t.shape)) return 1;
  if (t.shape.size() == 1 && t.shape[0] == n) return n;
  fail(node, what + " has shape " + shape_str(t.shape) + ": expected a scalar or " + std::to_string(n) +
                 " values (one per output channel)");
}

void check_scale_values(const Node& node, const Tensor* scale, const std::string& what) {
  if (!scale) return;
  for (int64_t i = 0; i < scale->numel(); ++i) {
    const double v = scale->get_f64(i);
    if (!std::isfinite(v) || v <= 0)
      fail(node, what + "[" + std::to_string(i) + "] = " + std::to_string(v) + ": a scale must be finite and > 0");
  }
}

QuantAxis quant_axis(const Node& node, int64_t opset, const Shape& x, const TensorInfo& scale, const TensorInfo* zp) {
  if (!is_float(scale.dtype)) fail(node, "scale must be a float tensor, got " + dname(scale.dtype));
  if (zp && zp->shape != scale.shape && !(is_one(zp->shape) && is_one(scale.shape)))
    fail(node, "zero point shape " + shape_str(zp->shape) + " differs from scale shape " + shape_str(scale.shape));
  if (node.has_attr("block_size") && node.attr_int("block_size", 0) != 0)
    throw Error(ErrorKind::Unsupported, node.describe() + ": blocked quantization (block_size) is not supported");
  QuantAxis q;
  if (is_one(scale.shape)) return q;
  if (opset < 13)
    fail(node, "scale has shape " + shape_str(scale.shape) + " but opset " + std::to_string(opset) +
                   " allows only a scalar (per-axis quantization needs opset 13)");
  if (scale.shape.size() != 1)
    fail(node, "scale must be a scalar or 1-D, got shape " + shape_str(scale.shape));
  const int64_t r = static_cast<int64_t>(x.size());
  const int64_t axis = normalize_axis(node.attr_int("axis", 1), r, node.describe());
  if (scale.shape[0] != x[static_cast<size_t>(axis)])
    fail(node, "scale has " + std::to_string(scale.shape[0]) + " values but input dim " + std::to_string(axis) +
                   " (axis) is " + std::to_string(x[static_cast<size_t>(axis)]) + " (input shape " + shape_str(x) + ")");
  q.per_axis = true;
  q.axis = axis;
  q.channels = scale.shape[0];
  for (size_t i = static_cast<size_t>(axis) + 1; i < x.size(); ++i) q.inner *= x[i];
  return q;
}

namespace {

void require_quant8(const InferContext& c, size_t i, const std::string& what) {
  if (!is_quant8(c.in(i).dtype)) c.fail(what + " must be int8 or uint8, got " + dname(c.in(i).dtype));
}

void require_same_dtype(const InferContext& c, size_t zp, size_t x, const std::string& what) {
  if (c.in(zp).dtype != c.in(x).dtype)
    c.fail(what + " is " + dname(c.in(zp).dtype) + " but the tensor it describes is " + dname(c.in(x).dtype));
}

void require_float_scale(const InferContext& c, size_t i, const std::string& what) {
  if (!is_float(c.in(i).dtype)) c.fail(what + " must be a float tensor, got " + dname(c.in(i).dtype));
  check_scale_values(c.node, c.constant(i), what);
}

std::vector<TensorInfo> infer_quantize(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  if (!is_float(x.dtype) && x.dtype != DType::Int32)
    c.fail("input must be float or int32, got " + dname(x.dtype));
  const TensorInfo* zp = c.has(2) ? &c.in(2) : nullptr;
  if (c.node.has_attr("output_dtype") && c.node.attr_int("output_dtype", 0) != 0 && !zp)
    throw Error(ErrorKind::Unsupported, c.node.describe() + ": the output_dtype attribute is not supported");
  if (zp && !is_quant8(zp->dtype))
    throw Error(ErrorKind::Unsupported, c.node.describe() + ": zero point dtype " + dname(zp->dtype) +
                                            " is not supported (int8 and uint8 are)");
  quant_axis(c.node, c.opset, x.shape, c.in(1), zp);
  check_scale_values(c.node, c.constant(1), "y_scale");
  return {TensorInfo{zp ? zp->dtype : DType::UInt8, x.shape}};
}

std::vector<TensorInfo> infer_dequantize(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  if (!is_quant8(x.dtype) && x.dtype != DType::Int32)
    throw Error(ErrorKind::Unsupported, c.node.describe() + ": input dtype " + dname(x.dtype) +
                                            " is not supported (int8, uint8 and int32 are)");
  const TensorInfo* zp = c.has(2) ? &c.in(2) : nullptr;
  if (zp) require_same_dtype(c, 2, 0, "x_zero_point");
  if (zp && x.dtype == DType::Int32 && c.constant(2))
    for (int64_t i = 0; i < c.constant(2)->numel(); ++i)
      if (c.constant(2)->get_i64(i) != 0) c.fail("an int32 input's zero point must be 0");
  quant_axis(c.node, c.opset, x.shape, c.in(1), zp);
  if (!is_float(c.in(1).dtype)) c.fail("x_scale must be a float tensor");
  // Opsets 10 and 13 define float32 outputs; from 19 the output has the scale's dtype.
  return {TensorInfo{c.opset >= 19 ? c.in(1).dtype : DType::Float32, x.shape}};
}

std::vector<TensorInfo> infer_dynamic_quantize(const InferContext& c) {
  if (c.in(0).dtype != DType::Float32) c.fail("input must be float32, got " + dname(c.in(0).dtype));
  return {TensorInfo{DType::UInt8, c.in(0).shape}, TensorInfo{DType::Float32, {}}, TensorInfo{DType::UInt8, {}}};
}

// Conv output shape (as infer_conv in shapes_nn.cpp, for integer operands).
Shape conv_out_shape(const InferContext& c, const Shape& x, const Shape& w) {
  if (x.size() < 3) c.fail("input has shape " + shape_str(x) + ", expected rank >= 3");
  if (w.size() != x.size()) c.fail("weight shape " + shape_str(w) + " does not match input shape " + shape_str(x));
  const int64_t group = c.node.attr_int("group", 1);
  if (group <= 0) c.fail("group must be positive, got " + std::to_string(group));
  if (x[1] != w[1] * group)
    c.fail("input channels " + std::to_string(x[1]) + " != weight channels " + std::to_string(w[1]) + " x group " +
           std::to_string(group));
  if (w[0] % group != 0) c.fail("output channels " + std::to_string(w[0]) + " not divisible by group " + std::to_string(group));
  const std::vector<int64_t> kernel = conv_kernel_shape(c.node, w);
  const SpatialGeometry g = conv_geometry(c.node, x, kernel);
  Shape out{x[0], w[0]};
  for (size_t i = 0; i < kernel.size(); ++i) {
    const int64_t o = conv_out_dim(x[i + 2], kernel[i], g.strides[i], g.pad_begin[i], g.pad_end[i], g.dilations[i]);
    if (o <= 0) c.fail("input " + shape_str(x) + " is too small for the kernel");
    out.push_back(o);
  }
  return out;
}

std::vector<TensorInfo> infer_qlinear_conv(const InferContext& c) {
  require_quant8(c, 0, "x");
  require_quant8(c, 3, "w");
  require_same_dtype(c, 2, 0, "x_zero_point");
  require_same_dtype(c, 5, 3, "w_zero_point");
  require_quant8(c, 7, "y_zero_point");
  const int64_t m = c.in(3).shape.empty() ? 0 : c.in(3).shape[0];
  require_per_tensor(c.node, c.in(1), "x_scale");
  require_per_tensor(c.node, c.in(2), "x_zero_point");
  require_per_tensor_or(c.node, c.in(4), m, "w_scale");
  require_per_tensor_or(c.node, c.in(5), m, "w_zero_point");
  require_per_tensor(c.node, c.in(6), "y_scale");
  require_per_tensor(c.node, c.in(7), "y_zero_point");
  require_float_scale(c, 1, "x_scale");
  require_float_scale(c, 4, "w_scale");
  require_float_scale(c, 6, "y_scale");
  if (c.has(8)) {
    if (c.in(8).dtype != DType::Int32) c.fail("bias must be int32, got " + dname(c.in(8).dtype));
    if (c.in(8).shape != Shape{m}) c.fail("bias has shape " + shape_str(c.in(8).shape) + ", expected " + std::to_string(m));
  }
  return {TensorInfo{c.in(7).dtype, conv_out_shape(c, c.in(0).shape, c.in(3).shape)}};
}

std::vector<TensorInfo> infer_conv_integer(const InferContext& c) {
  require_quant8(c, 0, "x");
  require_quant8(c, 1, "w");
  const int64_t m = c.in(1).shape.empty() ? 0 : c.in(1).shape[0];
  if (c.has(2)) {
    require_same_dtype(c, 2, 0, "x_zero_point");
    require_per_tensor(c.node, c.in(2), "x_zero_point");
  }
  if (c.has(3)) {
    require_same_dtype(c, 3, 1, "w_zero_point");
    require_per_tensor_or(c.node, c.in(3), m, "w_zero_point");
  }
  return {TensorInfo{DType::Int32, conv_out_shape(c, c.in(0).shape, c.in(1).shape)}};
}

// MatMul's numpy semantics (as infer_matmul in shapes_nn.cpp).
Shape matmul_out_shape(const InferContext& c, size_t ia, size_t ib) {
  Shape a = c.in(ia).shape, b = c.in(ib).shape;
  if (a.empty() || b.empty()) c.fail("operands must not be scalars");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    c.fail("inner dimensions differ: " + shape_str(c.in(ia).shape) + " x " + shape_str(c.in(ib).shape));
  Shape out = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2), c.node.describe());
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  return out;
}

// Rows of A (M) and columns of B (N), for per-row / per-column parameters.
int64_t rows_of(const Shape& a) { return a.size() >= 2 ? a[a.size() - 2] : 1; }
int64_t cols_of(const Shape& b) { return b.size() >= 2 ? b.back() : 1; }

std::vector<TensorInfo> infer_qlinear_matmul(const InferContext& c) {
  require_quant8(c, 0, "a");
  require_quant8(c, 3, "b");
  require_same_dtype(c, 2, 0, "a_zero_point");
  require_same_dtype(c, 5, 3, "b_zero_point");
  require_quant8(c, 7, "y_zero_point");
  require_per_tensor(c.node, c.in(1), "a_scale");
  require_per_tensor(c.node, c.in(2), "a_zero_point");
  const int64_t n = cols_of(c.in(3).shape);
  if (require_per_tensor_or(c.node, c.in(4), n, "b_scale") != require_per_tensor_or(c.node, c.in(5), n, "b_zero_point"))
    c.fail("b_scale and b_zero_point must both be per tensor or both per column");
  require_per_tensor(c.node, c.in(6), "y_scale");
  require_per_tensor(c.node, c.in(7), "y_zero_point");
  require_float_scale(c, 1, "a_scale");
  require_float_scale(c, 4, "b_scale");
  require_float_scale(c, 6, "y_scale");
  return {TensorInfo{c.in(7).dtype, matmul_out_shape(c, 0, 3)}};
}

std::vector<TensorInfo> infer_matmul_integer(const InferContext& c) {
  require_quant8(c, 0, "A");
  require_quant8(c, 1, "B");
  if (c.has(2)) {
    require_same_dtype(c, 2, 0, "a_zero_point");
    require_per_tensor_or(c.node, c.in(2), rows_of(c.in(0).shape), "a_zero_point");
  }
  if (c.has(3)) {
    require_same_dtype(c, 3, 1, "b_zero_point");
    require_per_tensor_or(c.node, c.in(3), cols_of(c.in(1).shape), "b_zero_point");
  }
  return {TensorInfo{DType::Int32, matmul_out_shape(c, 0, 1)}};
}

}  // namespace

void register_quant_shapes(OpRegistry& r) {
  r.add("QuantizeLinear", infer_quantize);
  r.add("DequantizeLinear", infer_dequantize);
  r.add("DynamicQuantizeLinear", infer_dynamic_quantize);
  r.add("QLinearConv", infer_qlinear_conv);
  r.add("ConvInteger", infer_conv_integer);
  r.add("QLinearMatMul", infer_qlinear_matmul);
  r.add("MatMulInteger", infer_matmul_integer);
}

}  // namespace netlens
