// Shape inference and parameter checks for onnxruntime's com.microsoft QLinear elementwise ops
// (QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu, QLinearGlobalAveragePool, QLinearConcat,
// QLinearAveragePool), registered
// under the "com.microsoft" domain (op_key in runtime.hpp). Inputs as in onnxruntime's contrib
// schemas: every scale and zero point is per tensor (a scalar or one element), zero points have the
// dtype of the tensor they describe, and the quantized tensors are int8 or uint8 (one dtype per node).
#include <cmath>
#include <cstdint>
#include <string>

#include "netlens/runtime/shape_util.hpp"
#include "shapes.hpp"
#include "netlens/runtime/shapes_nn.hpp"
#include "netlens/runtime/shapes_quant.hpp"

namespace netlens {

namespace {

std::string dname(DType t) { return std::string(dtype_name(t)); }

// Checks the (tensor, scale, zero point) triple at `x`, `x + 1`, `x + 2` (the zero point optional):
// `x` int8/uint8 of dtype `t` (Undefined: any of them), the scale a float per-tensor value (finite and
// > 0 when constant), the zero point per tensor and of x's dtype.
void check_operand(const InferContext& c, size_t x, size_t scale, size_t zp, DType t, const std::string& name) {
  if (x != SIZE_MAX) {
    if (!is_quant8(c.in(x).dtype)) c.fail(name + " must be int8 or uint8, got " + dname(c.in(x).dtype));
    if (t != DType::Undefined && c.in(x).dtype != t)
      c.fail(name + " is " + dname(c.in(x).dtype) + " but the node's other quantized tensors are " + dname(t));
  }
  if (!is_float(c.in(scale).dtype)) c.fail(name + "_scale must be a float tensor, got " + dname(c.in(scale).dtype));
  require_per_tensor(c.node, c.in(scale), name + "_scale");
  check_scale_values(c.node, c.constant(scale), name + "_scale");
  if (c.has(zp)) {
    require_per_tensor(c.node, c.in(zp), name + "_zero_point");
    if (c.in(zp).dtype != t)
      c.fail(name + "_zero_point is " + dname(c.in(zp).dtype) + " but the tensor it describes is " + dname(t));
  }
}

// QLinearAdd / QLinearMul: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point.
std::vector<TensorInfo> infer_binary(const InferContext& c) {
  const DType t = c.in(0).dtype;
  check_operand(c, 0, 1, 2, is_quant8(t) ? t : DType::Undefined, "A");
  check_operand(c, 3, 4, 5, t, "B");
  check_operand(c, SIZE_MAX, 6, 7, t, "C");
  return {TensorInfo{t, broadcast_shapes(c.in(0).shape, c.in(3).shape, c.node.describe())}};
}

// QLinearSigmoid / QLinearLeakyRelu: X, X_scale, X_zero_point, Y_scale, Y_zero_point.
std::vector<TensorInfo> infer_lookup(const InferContext& c) {
  const DType t = c.in(0).dtype;
  check_operand(c, 0, 1, 2, is_quant8(t) ? t : DType::Undefined, "X");
  check_operand(c, SIZE_MAX, 3, 4, t, "Y");
  if (c.node.op_type == "QLinearLeakyRelu" && !std::isfinite(c.node.attr_float("alpha", 0.01f)))
    c.fail("alpha must be finite");
  return {TensorInfo{t, c.in(0).shape}};
}

// QLinearGlobalAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point; channels_last selects
// N x spatial... x C instead of N x C x spatial...
std::vector<TensorInfo> infer_global_average_pool(const InferContext& c) {
  const DType t = c.in(0).dtype;
  check_operand(c, 0, 1, 2, is_quant8(t) ? t : DType::Undefined, "x");
  check_operand(c, SIZE_MAX, 3, 4, t, "y");
  const Shape& x = c.in(0).shape;
  if (x.size() < 3) c.fail("input has shape " + shape_str(x) + ", expected rank >= 3 (N, C and spatial dims)");
  const int64_t cl = c.node.attr_int("channels_last", 0);
  if (cl != 0 && cl != 1) c.fail("channels_last must be 0 or 1, got " + std::to_string(cl));
  Shape y(x.size(), 1);
  y[0] = x[0];
  if (cl) y.back() = x.back();
  else y[1] = x[1];
  // onnxruntime (MLAS) refuses pooling areas of 2^24 elements or more: the int32 sum is then not
  // exactly a float. Zero-sized areas have no average.
  int64_t area = 1;
  for (size_t i = cl ? 1 : 2; i < (cl ? x.size() - 1 : x.size()); ++i) area *= x[i];
  if (area <= 0 || area >= (int64_t{1} << 24))
    c.fail("pooling area " + std::to_string(area) + " is out of range (1 .. 2^24 - 1 elements)");
  return {TensorInfo{t, y}};
}

// QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input; `axis` required.
std::vector<TensorInfo> infer_concat(const InferContext& c) {
  if (c.num_inputs() < 5 || (c.num_inputs() - 2) % 3 != 0)
    c.fail("expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) per input, got " +
           std::to_string(c.num_inputs()) + " inputs");
  if (!c.node.has_attr("axis")) c.fail("the axis attribute is required");
  const DType t = c.in(2).dtype;
  check_operand(c, SIZE_MAX, 0, 1, is_quant8(t) ? t : DType::Undefined, "Y");
  if (!c.has(1)) c.fail("Y_zero_point is required");
  Shape y = c.in(2).shape;
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), static_cast<int64_t>(y.size()), c.node.describe());
  for (size_t i = 2; i < c.num_inputs(); i += 3) {
    const std::string name = "input " + std::to_string((i - 2) / 3);
    check_operand(c, i, i + 1, i + 2, t, name);
    if (!c.has(i + 2)) c.fail(name + "_zero_point is required");
    const Shape& x = c.in(i).shape;
    if (i == 2) continue;
    bool ok = x.size() == y.size();
    for (size_t d = 0; ok && d < x.size(); ++d) ok = d == static_cast<size_t>(axis) || x[d] == y[d];
    if (!ok) c.fail(name + " has shape " + shape_str(x) + ", which does not concatenate with " + shape_str(c.in(2).shape) +
                    " along axis " + std::to_string(axis));
    y[static_cast<size_t>(axis)] += x[static_cast<size_t>(axis)];
  }
  return {TensorInfo{t, y}};
}

// The NCHW form of a channels_last (N, spatial..., C) shape, and back.
Shape to_nchw(const Shape& x) {
  Shape s{x[0], x.back()};
  s.insert(s.end(), x.begin() + 1, x.end() - 1);
  return s;
}

// QLinearAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point; AveragePool's attributes
// (2-D: kernel_shape, strides, pads, auto_pad, ceil_mode, count_include_pad) and channels_last.
std::vector<TensorInfo> infer_average_pool(const InferContext& c) {
  const DType t = c.in(0).dtype;
  check_operand(c, 0, 1, 2, is_quant8(t) ? t : DType::Undefined, "x");
  check_operand(c, SIZE_MAX, 3, 4, t, "y");
  const Shape& x = c.in(0).shape;
  if (x.size() != 4)
    throw Error(ErrorKind::Unsupported, c.node.describe() + ": only 2-D pooling (rank-4 input) is supported, got " +
                                            shape_str(x));
  for (int64_t d : c.node.attr_ints("dilations"))
    if (d != 1) throw Error(ErrorKind::Unsupported, c.node.describe() + ": dilations are not supported");
  const int64_t cl = c.node.attr_int("channels_last", 0);
  if (cl != 0 && cl != 1) c.fail("channels_last must be 0 or 1, got " + std::to_string(cl));
  const Shape nchw = cl ? to_nchw(x) : x;
  const PoolGeometry pg = pool_geometry(c.node, nchw);
  Shape y{nchw[0]};
  if (!cl) y.push_back(nchw[1]);
  for (int64_t o : pg.out) {
    if (o <= 0) c.fail("input " + shape_str(x) + " is too small for kernel " + shape_str(pg.g.kernel));
    y.push_back(o);
  }
  if (cl) y.push_back(nchw[1]);
  return {TensorInfo{t, y}};
}

}  // namespace

void register_quant_ms_shapes(OpRegistry& r) {
  const std::string ms = "com.microsoft";
  r.add(ms, "QLinearAdd", infer_binary);
  r.add(ms, "QLinearMul", infer_binary);
  r.add(ms, "QLinearSigmoid", infer_lookup);
  r.add(ms, "QLinearLeakyRelu", infer_lookup);
  r.add(ms, "QLinearGlobalAveragePool", infer_global_average_pool);
  r.add(ms, "QLinearConcat", infer_concat);
  r.add(ms, "QLinearAveragePool", infer_average_pool);
}

}  // namespace netlens
