// Open layers (as TensorSpace's): a focused layer's channels, normally a stack of slabs along the
// flow (layout.hpp), spread into a near-square grid of H×W feature-map tiles in the plane of the
// slabs (the YZ plane through the layer's centre), eased open and closed.
//
// Contract: pure functions of a laid-out volume and an openness t ∈ [0, 1] (clamped); no Vulkan, no
// state. Each tile is its closed slab translated (never scaled or turned), so a neuron keeps its
// place inside its tile and picking reads the same (tensor, channel, y, x) as a closed layer:
// neuron (c, y, x) of the open layer is at neuron_center(l, c, y, x) + open_tile_offset(l, g, c, t).
//  - t = 0 gives the closed layout exactly (offset 0 bit for bit).
//  - t = 1: tiles in row-major reading order (channel 0 top left, columns along +Z, rows downwards),
//    separated by `gap`, the grid centred on the layer's centre; the grid may overlap neighbouring
//    volumes (nothing is pushed aside, so the rest of the layout — and its picking — is unchanged).
//  - In between, every coordinate moves monotonically with smoothstep(t).
#pragma once

#include <cstdint>
#include <vector>

#include <glm/vec3.hpp>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

struct OpenGrid {
  int64_t cols = 1, rows = 1;  // rows·cols ≥ C, rows = ceil(C / cols)
  float tile_h = 1.0f;         // a tile's extent along Y (H cells) and Z (W cells): the slab's face
  float tile_w = 1.0f;
  float gap = 0.0f;            // space between neighbouring tiles (Y and Z)
  glm::vec3 size() const;      // the whole grid at t = 1 (x: one slab's thickness)
};

// The grid of layer `l` at t = 1: cols ≈ sqrt(C · tile_h / tile_w), so the grid is near-square.
OpenGrid open_grid(const LayerVolume& l);

// smoothstep on the clamped t: 0 → 0, 1 → 1, monotonic, flat at both ends.
float open_ease(float t);

// Translation of channel c's slab at openness t (zero at t = 0). c in [0, C).
glm::vec3 open_tile_offset(const LayerVolume& l, const OpenGrid& g, int64_t c, float t);

// Boxes (minimum corner, extent) of every channel's slab at openness t.
struct TileBox {
  glm::vec3 origin{0.0f};
  glm::vec3 size{0.0f};
};
std::vector<TileBox> open_layer_tiles(const LayerVolume& l, float t);

// Bounds of the open layer at openness t (the union of its tiles).
TileBox open_layer_bounds(const LayerVolume& l, float t);

// The camera that reads layer `layer` opened (t = 1) for a frame of this aspect: face-on to the grid
// (eye on the input side, looking along +X, so channel 0 is top left and columns run left to right),
// the whole grid framed with a 6 % margin, and a cutaway just upstream of the tiles so earlier layers
// never hide them. Layers behind the grid stay visible around it.
Camera open_layer_camera(const Layout& l, int layer, float aspect);

}  // namespace netlens::viz
