// The maps of a broadcasting op's reverse mode (kernels/grad_launch.hpp, launch_binary_grad): for
// an operand `part` broadcast to the output shape `full`, its gradient element o sums the output
// gradient over the dims it was broadcast along. No CUDA types (tests/cuda runs it on the CPU).
#pragma once

#include <cstdint>

#include "kernels/index.hpp"
#include "netlens/core.hpp"

namespace netlens::cuda {

// kept_g / kept_other walk part's elements in row-major order (dims where part is not broadcast),
// giving the offset of its first term in the output gradient and in the other operand; red_g /
// red_other walk the n_red terms of each sum (the broadcast dims). Shapes right-aligned (numpy).
struct BroadcastGrad {
  kern::StridedMap kept_g, kept_other, red_g, red_other;
  int64_t n_out = 0, n_red = 1;
};
BroadcastGrad broadcast_grad_maps(const Shape& part, const Shape& other, const Shape& full);

}  // namespace netlens::cuda
