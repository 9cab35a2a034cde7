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

// Softmax/LogSoftmax geometry: the input seen as [outer, len, inner], `len` the elements one softmax
// normalises. Opset < 13 coerces to 2-D at `axis` (default 1: len is the product of the dims from
// axis on, inner 1); later opsets reduce along `axis` (default -1) alone. Error{Model} naming the
// node when axis is out of range. One reading for the forward and backward kernels of every backend.
struct SoftmaxGeometry {
  int64_t outer = 1, len = 1, inner = 1;
};
SoftmaxGeometry softmax_geometry(const Node& node, int64_t opset, const Shape& input);

}  // namespace netlens
