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
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

struct TensorRegion {
  std::vector<int64_t> lo, hi;  // per dim, half-open
  // Per dim, empty = all 1: only lo + k*step[d] is inside along d. Set by node_input_regions for a
  // single output element of a dilated conv/pool (the taps skip the holes); receptive_field drops it
  // (its regions stay bounding boxes), count() ignores it.
  std::vector<int64_t> step;
  bool empty() const;
  int64_t count() const;
  bool contains(const std::vector<int64_t>& index) const;
};

// shape_of(name) returns the shape of a non-constant tensor, nullopt for constants/unknown names.
using ShapeFn = std::function<std::optional<Shape>(const std::string&)>;

// Region of every tensor (the start tensor included) that can influence element `index` of
// `tensor`. Throws Error{Usage} when the tensor is unknown or the index is out of range.
std::map<std::string, TensorRegion> receptive_field(const Graph& g, const ShapeFn& shape_of,
                                                    const std::string& tensor,
                                                    const std::vector<int64_t>& index);

// One step of receptive_field: for elements `out` (a box in output 0's shape) of node `n`, the region of
// each non-constant input they can depend on (one entry per input edge; an input used twice appears
// twice). Empty when output 0's shape is unknown or of another rank.
std::vector<std::pair<std::string, TensorRegion>> node_input_regions(const Graph& g, const ShapeFn& shape_of,
                                                                    const Node& n, const TensorRegion& out);

// Fan-out of one element: for each node reading `tensor`, the elements of its output 0 whose one-step
// receptive field (node_input_regions of that single element) contains element `index` -- the exact
// inverse of that map, so it is as exact as the receptive field (conservative where that is).
// Candidates are the product over output dims d of the coordinates whose d-slice's field contains the
// element; each candidate is then tested on its own. `box` is the bounding box of `cells`. When there are
// more than `max_candidates`, `cells` is left empty, `complete` is false and `box` is the candidate
// box (a superset). Throws Error{Usage} like receptive_field.
struct FanOut {
  std::string tensor;                        // the consumer's output 0
  std::vector<std::vector<int64_t>> cells;   // tensor indices, row-major order
  TensorRegion box;
  bool complete = true;
};
std::vector<FanOut> fan_out(const Graph& g, const ShapeFn& shape_of, const std::string& tensor,
                            const std::vector<int64_t>& index, int64_t max_candidates = int64_t(1) << 20);

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
