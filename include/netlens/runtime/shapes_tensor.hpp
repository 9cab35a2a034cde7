// Parameters of the "tensor" op family (Slice, Pad, Resize/Upsample, Einsum, Cast, Constant...)
// shared by shape inference (shapes_tensor.cpp, which defines these functions) and the backends'
// kernels, so that both read attributes and constant inputs in exactly one way.
//
// Contract: `consts[i]` is the host value of input i when it is a constant, else nullptr (as in
// InferContext::const_inputs / NodeContext::const_inputs). A needed input that is not constant
// throws Error{Unsupported}; inconsistent attributes or shapes throw Error{Model}; both name the node.
#pragma once

#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"

namespace netlens::tensor_params {

// ONNX TensorProto data type number → DType (Error{Unsupported} for string/complex/float8...).
DType onnx_dtype(int64_t onnx_type, const std::string& where);

// Slice: per input dim, the first index, the step and the element count (== out[d]).
struct SliceParams {
  std::vector<int64_t> start, step;
  Shape out;
};
SliceParams slice_params(const Node& node, int64_t opset, const Shape& in, const std::vector<const Tensor*>& consts);

// Pad: per input dim, pads before/after (negative = crop) and the mode (constant/reflect/edge/wrap).
struct PadParams {
  std::vector<int64_t> begin, end;
  std::string mode;
  Shape out;
};
PadParams pad_params(const Node& node, int64_t opset, const Shape& in, const std::vector<const Tensor*>& consts);

// Resize (opsets 10-19) and Upsample (7, 9), per input dim. `scale` is the factor the coordinate
// transformation uses (the given scale, or out/in when sizes are given); `length` is the
// "output_width" of the ONNX reference (scale * in), used by align_corners and tf_crop_and_resize.
struct ResizeParams {
  Shape out;
  std::vector<double> scale, length, roi_start, roi_end;
  std::string mode;          // nearest, linear, cubic
  std::string coord;         // coordinate_transformation_mode ("asymmetric" before opset 11)
  std::string nearest_mode;  // round_prefer_floor/ceil, floor, ceil; "simple" before opset 11
  double cubic_a = -0.75;
  bool exclude_outside = false;
  float extrapolation = 0.f;
  bool antialias = false;
};
ResizeParams resize_params(const Node& node, int64_t opset, const Shape& in, const std::vector<const Tensor*>& consts);

// Einsum: labels are 0..51 for letters, 52+k for the k-th broadcast (ellipsis) dim.
struct EinsumSpec {
  std::vector<std::vector<int>> inputs;  // per operand, one label per dim
  std::vector<int> output;
  std::vector<int64_t> size;             // per label id (0 when unused)
  Shape out;
};
EinsumSpec einsum_spec(const Node& node, const std::vector<Shape>& in);

// Unique (only on a constant input: its output shapes depend on the values). Y holds the unique
// elements (axis absent: flattened) or slices along `axis`; indices = first occurrences,
// inverse = for each input element/slice its position in Y, counts = occurrences.
struct UniqueResult {
  Tensor y;
  std::vector<int64_t> indices, inverse, counts;
};
UniqueResult unique_values(const Node& node, const Tensor& x);

// Constant: the value from whichever of value/value_float(s)/value_int(s) is set.
Tensor constant_value(const Node& node);

}  // namespace netlens::tensor_params
