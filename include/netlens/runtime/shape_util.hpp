// Shape helpers shared by the shape-inference functions and the backends' kernels.
#pragma once

#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/runtime.hpp"

namespace netlens {

// Numpy-style multidirectional broadcast; throws Error{Model} with `where` on mismatch.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where);
Shape broadcast_all(const std::vector<Shape>& shapes, const std::string& where);
// Maps a possibly negative axis into [0, rank); throws Error{Model} with `where` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& where);
// Strides of `in` (rank <= out.size()) aligned to the right of `out`, 0 on broadcast dims.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Convolution/pooling output size along one spatial dim (explicit pads).
int64_t conv_out_dim(int64_t in, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                     int64_t dilation, bool ceil_mode = false);

// Resolves auto_pad (NOTSET/VALID/SAME_UPPER/SAME_LOWER) and explicit `pads` into per-dim begin/end
// pads for `spatial` dims. Used by Conv, ConvTranspose (forward geometry) and pooling.
struct SpatialGeometry {
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end;
};
SpatialGeometry conv_geometry(const Node& node, const Shape& input, const std::vector<int64_t>& kernel);

}  // namespace netlens
