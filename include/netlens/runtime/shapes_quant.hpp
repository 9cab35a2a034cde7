// Quantization parameters of the quantized ONNX ops (QuantizeLinear, DequantizeLinear, QLinearConv,
// QLinearMatMul, ConvInteger, MatMulInteger), shared by shape inference (shapes_quant.cpp) and the
// CPU kernels (src/cpu/ops_quant*.cpp) so that both read `axis` and the scale/zero-point shapes
// identically.
//
// Contract: every function throws Error{Model} naming the node ("<Op> node '<name>': ...") for a
// malformed parameter (scale shape that does not match the axis, zero point of the wrong dtype or
// shape, constant scale that is zero, negative or not finite).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"
#include "netlens/runtime.hpp"

namespace netlens {

// How a scale (and its zero point) maps onto the elements of the quantized tensor: one value for the
// whole tensor, or one per index along `axis` (an element at flat index i uses
// (i / inner) % channels).
struct QuantAxis {
  bool per_axis = false;
  int64_t axis = 0;      // normalised; meaningful when per_axis
  int64_t channels = 1;  // scale numel
  int64_t inner = 1;     // product of the dims after axis
};

// QuantizeLinear / DequantizeLinear: `x` is the tensor being (de)quantized; scale and zero point
// are per tensor (scalar or one element) or, from opset 13, 1-D with x.shape[axis] elements
// (axis attribute, default 1). `zp` may be nullptr (omitted). `op_dtype` is the quantized dtype the
// zero point must have (Undefined: any of int8/uint8/int32 as allowed by the op).
QuantAxis quant_axis(const Node& node, int64_t opset, const Shape& x, const TensorInfo& scale, const TensorInfo* zp);

// A scale/zero-point pair that must describe the whole tensor (QLinearConv's x and y, QLinearMatMul's
// a and y...): scalar or one element. `what` names the operand ("x_scale").
void require_per_tensor(const Node& node, const TensorInfo& t, const std::string& what);

// A scale or zero point that is per tensor or 1-D with `n` elements (a weight's per-output-channel
// parameters). Returns the element count (1 or n).
int64_t require_per_tensor_or(const Node& node, const TensorInfo& t, int64_t n, const std::string& what);

// Checks a constant scale's values: finite and > 0 (a zero scale divides by zero in QuantizeLinear and
// the requantisation; no quantizer emits a negative one). No-op for a non-constant scale (checked
// nowhere: values are data).
void check_scale_values(const Node& node, const Tensor* scale, const std::string& what);

// int8 or uint8 (the quantized dtypes these ops read and write).
bool is_quant8(DType t);

}  // namespace netlens

namespace netlens {

// The quantization of an int8/uint8 tensor of a run: how to read its integers as real values,
// real = (q - zero_point) * scale. Taken from the node that wrote it (QuantizeLinear: inputs 1-2 and
// `axis`; QLinearConv / QLinearMatMul: y_scale, y_zero_point; DynamicQuantizeLinear: its scale and
// zero-point outputs of this run) or, failing that, from a DequantizeLinear that reads it.
struct TensorQuantization {
  std::vector<float> scale;          // 1 value, or one per index along axis
  std::vector<int32_t> zero_point;   // as many as scale (zeros when the model omits it)
  QuantAxis axis;                    // per_axis, axis, channels, inner
  std::string node;                  // describe() of the node the parameters come from
};
// nullopt when `tensor` is not int8/uint8 or no such node gives its parameters. Reads the session's
// current run (constants and activations); call after Session::run.
std::optional<TensorQuantization> tensor_quantization(const Session& s, const std::string& tensor);
// The real values of q (float32, q's shape).
Tensor dequantized(const Tensor& q, const TensorQuantization& p);

}  // namespace netlens
