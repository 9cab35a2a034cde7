// A network laid out in 3D. Contract: the layout depends only on the tensor list (names, ops,
// shapes, edges), never on values or the camera, and is deterministic.
//
// World frame: +X is the data flow, +Y is up, +Z is to the right when looking down the flow.
// A tensor becomes a volume of C slabs (one per channel) of H×W cells; slab c sits at
// x = origin.x + c·pitch, row y at the top (world y decreasing with y), column x along +Z.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <glm/vec3.hpp>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"
#include "netlens/runtime.hpp"

namespace netlens::viz {

// A tensor to show, before placement. `inputs` index earlier entries of the same list (edges of
// the data flow, with hidden tensors such as reshapes collapsed).
struct VizTensor {
  std::string name;
  std::string op;    // producer op type; "Input" for graph inputs
  std::string node;  // producer node name ("" for inputs)
  Shape shape;
  std::vector<int> inputs;
  int node_index = -1;  // producer node in the graph, -1 for inputs
  // Set by collapse_groups (layout_groups.hpp) when this entry stands for a collapsed group: the
  // group's path and how many shown tensors it folds (its output tensor is `name`); else empty / 0.
  std::string group{};
  int folded = 0;
};

// Which tensors a model shows by default: graph inputs, outputs of "layer" ops (Conv, Gemm, pools,
// activations, normalisations, Concat, Add, Resize, Softmax, ...) and graph outputs; shape plumbing
// (Reshape, Flatten, Shape, Gather, Constant, ...) is hidden and its edges pass through.
bool is_layer_op(const std::string& op_type);
std::vector<VizTensor> select_tensors(const Graph& g, const std::vector<PlannedTensor>& planned);

// How a tensor's shape maps onto a volume. Batch 0 only.
struct VolumeDims {
  int64_t C = 1, H = 1, W = 1;
  int64_t count = 1;     // neurons shown (C·H·W, or fewer when a vector is wrapped into a grid)
  bool grid = false;     // a vector wrapped row-major into an H×W grid (index = y·W + x)
};
VolumeDims volume_dims(const Shape& shape);
// The same, knowing the producer: a recurrent op's Y ([seq, dirs, batch, hidden], LSTM/GRU/RNN)
// with batch 1 is a sequence sheet, one row per time step and dirs·hidden units across (its data
// order exactly); anything else as volume_dims(shape).
VolumeDims volume_dims(const VizTensor& t);

struct LayerVolume {
  VizTensor tensor;
  VolumeDims dims;
  glm::vec3 origin{0.0f};  // minimum corner
  glm::vec3 size{0.0f};    // extent
  float pitch = 1.0f;      // slab spacing along X
  float thickness = 0.7f;  // slab thickness along X
  float cell = 1.0f;       // cell size along Y (and Z)
  float cell_z = 1.0f;     // cell size along Z: = cell, except for extremely wide sheets (a 40x6625
                           // logits sheet) squeezed to a few times the typical width
  int level = 0;           // position along the flow (longest path from an input)
  int lane = 0;            // side-by-side index within a level
  int row = 0;             // row of a wrapped layout (or the U's encoder 0 / decoder 1)
  int dir = 1;             // data flow along X in this volume's row: +1, or -1 in a row drawn back
                           // (serpentine wraps, a U's decoder); entry face at x = origin.x for +1
  bool spine = false;      // on the main path (the longest input-to-output chain)
  glm::vec3 center() const { return origin + 0.5f * size; }
  glm::vec3 max() const { return origin + size; }
};

struct Layout {
  std::vector<LayerVolume> layers;
  glm::vec3 min{0.0f}, max{0.0f};  // bounds of all volumes
  int rows = 1;                    // rows of a wrapped layout (2 for a U)
  bool u_shape = false;            // an encoder-decoder folded into a U (layout_place.cpp)
  int find(const std::string& tensor) const;  // -1 when absent
};

struct LayoutOptions {
  float cell = 1.0f;
  float gap_min = 6.0f;        // gap between levels along X
  float gap_rel = 0.22f;       // ... plus this times the larger neighbouring height
  float lane_gap_rel = 0.25f;  // gap between side-by-side volumes, relative to their width
  // A network much longer than it is tall (ResNet-50: 120+ levels) is wrapped into rows, aiming at
  // about this length:height. Rows run back and forth (a serpentine: every other row flows along
  // -X), cut where no skip connection crosses (between stages), so each row break is one short turn.
  float wrap_aspect = 2.6f;
  bool wrap = true;
  // An encoder-decoder (spatial size falling then rising, with skips between matching sizes) is
  // folded into a U: the decoder runs back under the encoder, each resolution under its match.
  bool fold_u = true;
};
Layout layout_tensors(std::vector<VizTensor> tensors, const LayoutOptions& opts = {});

// Centre of neuron (c, y, x) of a layer, and the flat index ↔ (c, y, x) mapping.
glm::vec3 neuron_center(const LayerVolume& l, int64_t c, int64_t y, int64_t x);
struct CellIndex { int64_t c = 0, y = 0, x = 0; };
CellIndex cell_of(const VolumeDims& d, int64_t flat);
int64_t flat_of(const VolumeDims& d, int64_t c, int64_t y, int64_t x);

}  // namespace netlens::viz
