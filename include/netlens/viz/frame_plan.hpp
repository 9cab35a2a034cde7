// What one frame draws, decided on the host before any GPU work: which layers the camera sees
// (frustum and cutaway culling), in what order (nearest first), and the level of detail of each:
// individual cells (near, large on screen, within a per-frame budget) or slabs (one instanced box
// per channel, whose fragments read the pyramid level matching their on-screen size).
// Contract: a pure function of the layout, the camera, the frame size and the LOD options; the
// renderer turns the plan into instance lists without changing it, so the frame cost follows what
// is on screen, not the model size, and this is tested without Vulkan (tests/viz/test_frame_plan.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include <glm/mat4x4.hpp>
#include <glm/vec3.hpp>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

// The camera as a frame sees it.
struct FrameView {
  glm::mat4 view_proj{1.0f};  // camera_view_proj(cam, width / height, scene_radius)
  glm::vec3 eye{0.0f};        // camera_eye(cam)
  float focal_px = 1.0f;      // pixels per world unit at distance 1: height / (2 tan(fov_y / 2))
  bool cut = false;           // the camera's cutaway: layers entirely upstream of cut_x are hidden
  float cut_x = 0.0f;
};
FrameView frame_view(const Camera& cam, int width, int height, float scene_radius);

struct LodOptions {
  int64_t cell_budget = 60000;  // individual cells drawn per frame at most (on-screen ones only)
  float cell_min_px = 10.0f;    // a layer turns into cells once its cells are this big on screen
};

// One cell drawn as its own cube: layer, channel (the renderer finds the code part from it) and flat
// index in the layer's volume.
struct DrawnCell {
  int layer = 0;
  int64_t c = 0;
  int64_t flat = 0;
};

struct FramePlan {
  std::vector<uint8_t> visible;   // per layer: some of its box is in the view frustum, not cut away
  std::vector<int> order;         // the visible layers, nearest first (eye to box distance; ties by index)
  std::vector<uint8_t> as_cells;  // per layer: drawn as cells (every other visible layer is slabs)
  // The cells, layer after layer in `order`: only the faces of a block turned towards the eye (each
  // cell once), only cells whose centre projects on screen (5% margin for the cube's extent).
  std::vector<DrawnCell> cells;
  int cell_layers = 0;            // layers with as_cells set
};

// A visible layer becomes cells when (a) its smaller cell side is at least cell_min_px on screen at
// its distance, (b) its eye-facing faces hold at most 4·budget cells (work bound), and (c) the
// on-screen ones fit in what is left of the budget; layers are considered nearest first. `out` is
// overwritten (its capacity reused: the renderer calls this every frame).
void plan_frame(const Layout& layout, const FrameView& view, const LodOptions& lod, FramePlan& out);
FramePlan plan_frame(const Layout& layout, const FrameView& view, const LodOptions& lod);

}  // namespace netlens::viz
