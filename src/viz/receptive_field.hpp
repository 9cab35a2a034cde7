// Receptive fields: which elements of earlier tensors can influence one element of a later tensor.
// Contract: regions are per-dimension half-open boxes [lo, hi) in each tensor's own shape; where
// several paths reach one tensor their boxes are merged into the bounding box. Exact for Conv,
// ConvTranspose, pooling (max/avg/lp/global), elementwise ops with broadcasting, Concat,
// Transpose, Gemm/MatMul, LRN, Softmax-like ops; conservative (bounding box of the flat range)
// for Reshape/Flatten/Squeeze/Unsqueeze, and ±1 element for Resize/Upsample (interpolation
// neighbourhoods). Unknown ops are treated as "every input element may matter".
// Constants (weights) are not part of a receptive field.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netlens/graph.hpp"
#include "layout.hpp"

namespace netlens::viz {

struct TensorRegion {
  std::vector<int64_t> lo, hi;  // per dim, half-open
  bool empty() const;
  int64_t count() const;
};

// shape_of(name) returns the shape of a non-constant tensor, nullopt for constants/unknown names.
using ShapeFn = std::function<std::optional<Shape>(const std::string&)>;

// Region of every tensor (the start tensor included) that can influence element `index` of
// `tensor`. Throws Error{Usage} when the tensor is unknown or the index is out of range.
std::map<std::string, TensorRegion> receptive_field(const Graph& g, const ShapeFn& shape_of,
                                                    const std::string& tensor,
                                                    const std::vector<int64_t>& index);

// A region as cells of a laid-out volume (batch 0): either a (c, y, x) box or, for vectors wrapped
// into a grid, a flat index range. nullopt when the region does not touch batch 0.
struct VolumeRegion {
  bool flat = false;
  int64_t c0 = 0, c1 = 0, y0 = 0, y1 = 0, x0 = 0, x1 = 0;  // box, half-open
  int64_t lo = 0, hi = 0;                                    // flat range, half-open
  bool contains(const VolumeDims& d, int64_t flat_index) const;
};
std::optional<VolumeRegion> volume_region(const LayerVolume& l, const TensorRegion& r);
// The tensor-shape index of a volume cell (batch 0), inverse of the volume mapping.
std::vector<int64_t> tensor_index(const LayerVolume& l, int64_t flat_index);

}  // namespace netlens::viz
