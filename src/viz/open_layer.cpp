#include "netlens/viz/open_layer.hpp"

#include <algorithm>
#include <cmath>

#include <glm/common.hpp>
#include <glm/trigonometric.hpp>

namespace netlens::viz {

glm::vec3 OpenGrid::size() const {
  return glm::vec3(0.0f, float(rows) * tile_h + float(rows - 1) * gap, float(cols) * tile_w + float(cols - 1) * gap);
}

OpenGrid open_grid(const LayerVolume& l) {
  OpenGrid g;
  const int64_t C = std::max<int64_t>(1, l.dims.C);
  g.tile_h = l.size.y;
  g.tile_w = l.size.z;
  // Near-square in world units; then the fewest columns for that row count (no empty last column).
  const double ratio = double(g.tile_h) / std::max(1e-6, double(g.tile_w));
  g.cols = std::clamp<int64_t>(std::llround(std::sqrt(double(C) * ratio)), 1, C);
  g.rows = (C + g.cols - 1) / g.cols;
  g.cols = (C + g.rows - 1) / g.rows;
  // A gap that reads as a gap at any tile size: an eighth of the smaller tile side, at least a third
  // of a cell (1×1 tiles of a pooled vector still separate).
  g.gap = std::max(0.125f * std::min(g.tile_h, g.tile_w), 0.34f * std::min(l.cell, l.cell_z));
  return g;
}

float open_ease(float t) {
  t = std::clamp(t, 0.0f, 1.0f);
  return t * t * (3.0f - 2.0f * t);
}

glm::vec3 open_tile_offset(const LayerVolume& l, const OpenGrid& g, int64_t c, float t) {
  const float s = open_ease(t);
  if (s == 0.0f) return glm::vec3(0.0f);  // closed exactly, whatever the grid
  const glm::vec3 closed(l.origin.x + float(c) * l.pitch, l.origin.y, l.origin.z);
  const glm::vec3 centre = l.center(), gs = g.size();
  const int64_t r = c / g.cols, k = c % g.cols;
  const glm::vec3 open(centre.x - 0.5f * l.thickness,
                       centre.y + 0.5f * gs.y - float(r) * (g.tile_h + g.gap) - g.tile_h,
                       centre.z - 0.5f * gs.z + float(k) * (g.tile_w + g.gap));
  return s * (open - closed);
}

std::vector<TileBox> open_layer_tiles(const LayerVolume& l, float t) {
  const OpenGrid g = open_grid(l);
  std::vector<TileBox> out(static_cast<size_t>(std::max<int64_t>(1, l.dims.C)));
  for (size_t c = 0; c < out.size(); ++c) {
    const glm::vec3 closed(l.origin.x + float(c) * l.pitch, l.origin.y, l.origin.z);
    out[c].origin = closed + open_tile_offset(l, g, static_cast<int64_t>(c), t);
    out[c].size = glm::vec3(l.thickness, l.size.y, l.size.z);
  }
  return out;
}

TileBox open_layer_bounds(const LayerVolume& l, float t) {
  glm::vec3 lo(1e30f), hi(-1e30f);
  for (const auto& b : open_layer_tiles(l, t)) {
    lo = glm::min(lo, b.origin);
    hi = glm::max(hi, b.origin + b.size);
  }
  return {lo, hi - lo};
}

Camera open_layer_camera(const Layout& lay, int layer, float aspect) {
  const LayerVolume& l = lay.layers.at(static_cast<size_t>(layer));
  const TileBox b = open_layer_bounds(l, 1.0f);
  Camera c;
  c.fov_y_deg = 40.0f;
  c.yaw_deg = 0.0f;  // eye on -X looking along +X: +Z is screen right, +Y up (camera.hpp)
  c.pitch_deg = 0.0f;
  c.target = b.origin + 0.5f * glm::vec3(0.0f, b.size.y, b.size.z);  // the tiles' front face
  const float t = std::tan(glm::radians(0.5f * c.fov_y_deg));
  const float half_h = 0.5f * b.size.y * 1.06f, half_w = 0.5f * b.size.z * 1.06f;
  c.distance = std::max(half_h / t, half_w / (t * std::max(aspect, 1e-3f)));
  c.cut = true;
  c.cut_x = b.origin.x - 0.5f * std::min(l.cell, l.cell_z);
  return c;
}

}  // namespace netlens::viz
