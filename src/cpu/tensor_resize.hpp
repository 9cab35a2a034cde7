// Resize/Upsample coordinate mapping, shared by the forward kernel (tensor_resize.cpp) and its
// gradient (grad_tensor_resize.cpp), so that the backward pass is the exact adjoint of the
// interpolation the forward computed: one definition of the coordinate transforms, nearest
// roundings, linear/cubic weights and edge clamping.
#pragma once

#include <cstdint>
#include <vector>

#include "netlens/runtime/shapes_tensor.hpp"

namespace netlens::cpu::tensor {

// One resized axis: output index x reads source indices idx[x*taps + t] with weights
// w[x*taps + t] (taps = 1 nearest, 2 linear, 4 cubic), unless outside[x] (tf_crop_and_resize
// outside the ROI: the output is extrapolation_value, a constant). `identity`: the axis is
// copied unchanged (no pass needed; idx/w may then be empty).
struct AxisMap {
  int64_t in = 0, out = 0, taps = 1;
  std::vector<int64_t> idx;   // out * taps source indices
  std::vector<float> w;       // out * taps weights
  std::vector<uint8_t> outside;  // per output index: extrapolation_value (tf_crop_and_resize)
  bool identity = false;
};

// The map of input dim d (n elements) to output length m under resize parameters p.
AxisMap axis_map(const tensor_params::ResizeParams& p, size_t d, int64_t n, int64_t m);

}  // namespace netlens::cpu::tensor
