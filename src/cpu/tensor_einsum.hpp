// Einsum operand addressing shared by the forward kernel (tensor_einsum.cpp) and its gradient
// (grad_tensor_resize.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "netlens/runtime/shapes_tensor.hpp"

namespace netlens::cpu::tensor {

// Element stride of every label in operand k of shape `shape` (indexed by label id, 0 for labels
// the operand lacks): the sum over the dims that carry the label (a repeated label is a diagonal),
// 0 on a size-1 dim that broadcasts against a larger label size.
std::vector<int64_t> label_strides(const tensor_params::EinsumSpec& s, size_t k, const Shape& shape);

}  // namespace netlens::cpu::tensor
