// Geometry of the "nn" op family, shared by shape inference (shapes_nn.cpp) and the backends'
// kernels so that both resolve attributes (auto_pad, output_shape, output_padding...) identically.
#pragma once

#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens {

// ConvTranspose along each spatial dim i:
//   out[i] = strides[i]*(in[i]-1) + output_padding[i] + dilations[i]*(kernel[i]-1) + 1
//            - pad_begin[i] - pad_end[i]
// pad_end may be negative when output_shape asks for more than the full (uncropped) result: the
// extra trailing positions receive no input contribution (bias only).
struct ConvTransposeGeometry {
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end, output_padding, out;
  int64_t group = 1;
  int64_t out_channels = 0;  // W.shape[1] * group
};

// `x` is the input shape (N x C x D1..Dn), `w` the weight shape (C x M/group x k1..kn).
// Throws Error{Model} naming the node for inconsistent attributes or shapes.
ConvTransposeGeometry convtranspose_geometry(const Node& node, const Shape& x, const Shape& w);

// Conv: the kernel shape from the kernel_shape attribute or, when absent, from W's spatial dims.
// Checks that the two agree when both are present.
std::vector<int64_t> conv_kernel_shape(const Node& node, const Shape& w);

// Pooling geometry with ceil_mode: the output size per spatial dim (NOTSET/explicit pads or
// auto_pad) exactly as conv_out_dim computes it, for MaxPool/AveragePool/LpPool.
struct PoolGeometry {
  SpatialGeometry g;
  bool ceil_mode = false;
  std::vector<int64_t> out;  // spatial output dims
};
PoolGeometry pool_geometry(const Node& node, const Shape& x);

}  // namespace netlens
