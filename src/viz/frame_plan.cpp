// Culling and level-of-detail choice for one frame; see frame_plan.hpp.
#include "netlens/viz/frame_plan.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <glm/common.hpp>
#include <glm/geometric.hpp>
#include <glm/trigonometric.hpp>

namespace netlens::viz {

FrameView frame_view(const Camera& cam, int width, int height, float scene_radius) {
  const float aspect = float(width) / float(height);
  return FrameView{.view_proj = camera_view_proj(cam, aspect, scene_radius),
                   .eye = camera_eye(cam),
                   // A tile (Camera::tile) shows part of a taller frame: pixels are the full frame's.
                   .focal_px = float(height) / cam.tile.w / (2.0f * std::tan(glm::radians(cam.fov_y_deg) * 0.5f)),
                   .cut = cam.cut,
                   .cut_x = cam.cut_x};
}

namespace {

// Whether every corner of the box lies outside one plane of the clip volume (Vulkan: depth 0..w).
bool outside_frustum(const glm::mat4& vp, const LayerVolume& v) {
  int out[6] = {0, 0, 0, 0, 0, 0};
  for (int k = 0; k < 8; ++k) {
    glm::vec3 p((k & 1) ? v.max().x : v.origin.x, (k & 2) ? v.max().y : v.origin.y, (k & 4) ? v.max().z : v.origin.z);
    glm::vec4 c = vp * glm::vec4(p, 1.0f);
    out[0] += c.x < -c.w; out[1] += c.x > c.w; out[2] += c.y < -c.w; out[3] += c.y > c.w;
    out[4] += c.z < 0.0f; out[5] += c.z > c.w;
  }
  return std::any_of(out, out + 6, [](int n) { return n == 8; });
}

// Appends layer i's eye-facing, on-screen cells to out.cells when they fit in `budget`; returns how
// many it appended (0: the layer stays slabs, nothing appended).
int64_t emit_cells(const LayerVolume& v, int i, const FrameView& view, int64_t budget, FramePlan& out) {
  const glm::vec3 eye = view.eye;
  // Only the faces of the block that face the eye can be seen: emit those cells, once each.
  const int64_t C = v.dims.C, H = v.dims.H, W = v.dims.W;
  std::vector<int64_t> cs, ys, xs;  // fixed coordinates of the visible faces
  if (eye.x < v.origin.x) cs.push_back(0);
  if (eye.x > v.max().x && C > 1) cs.push_back(C - 1);
  if (eye.y > v.max().y) ys.push_back(0);
  if (eye.y < v.origin.y && H > 1) ys.push_back(H - 1);
  if (eye.z < v.origin.z) xs.push_back(0);
  if (eye.z > v.max().z && W > 1) xs.push_back(W - 1);
  int64_t nc = static_cast<int64_t>(cs.size()), ny = static_cast<int64_t>(ys.size());
  int64_t count = nc * H * W + ny * (C - nc) * W + static_cast<int64_t>(xs.size()) * (C - nc) * (H - ny);
  // Candidates are culled against the view below; bound the work spent looking at them.
  if (count == 0 || count > 4 * budget) return 0;
  auto fixed = [](const std::vector<int64_t>& f, int64_t k) { return std::find(f.begin(), f.end(), k) != f.end(); };
  const size_t first = out.cells.size();
  auto emit = [&](int64_t c, int64_t y, int64_t x) {
    int64_t f = flat_of(v.dims, c, y, x);
    if (f >= v.dims.count) return;
    // Only cells whose centre is on screen (with a margin for the cube's extent).
    glm::vec4 p = view.view_proj * glm::vec4(neuron_center(v, c, y, x), 1.0f);
    const float m = 1.05f * p.w;
    if (p.w <= 0.0f || std::fabs(p.x) > m || std::fabs(p.y) > m) return;
    out.cells.push_back({i, c, f});
  };
  for (int64_t c : cs)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) emit(c, y, x);
  for (int64_t y : ys)
    for (int64_t c = 0; c < C; ++c)
      if (!fixed(cs, c))
        for (int64_t x = 0; x < W; ++x) emit(c, y, x);
  for (int64_t x : xs)
    for (int64_t c = 0; c < C; ++c)
      if (!fixed(cs, c))
        for (int64_t y = 0; y < H; ++y)
          if (!fixed(ys, y)) emit(c, y, x);
  count = static_cast<int64_t>(out.cells.size() - first);
  if (count == 0 || count > budget) {  // does not fit: this layer stays a slab box
    out.cells.resize(first);
    return 0;
  }
  return count;
}

}  // namespace

void plan_frame(const Layout& layout, const FrameView& view, const LodOptions& lod, FramePlan& out) {
  const auto& L = layout.layers;
  out.visible.assign(L.size(), 0);
  out.as_cells.assign(L.size(), 0);
  out.order.clear();
  out.cells.clear();
  out.cell_layers = 0;
  std::vector<std::pair<float, int>> by_dist;
  for (size_t i = 0; i < L.size(); ++i) {
    const auto& v = L[i];
    if (outside_frustum(view.view_proj, v)) continue;
    if (view.cut && v.max().x < view.cut_x) continue;  // cut away entirely
    out.visible[i] = 1;
    glm::vec3 near = glm::clamp(view.eye, v.origin, v.max());
    by_dist.emplace_back(glm::length(view.eye - near), static_cast<int>(i));
  }
  std::sort(by_dist.begin(), by_dist.end());
  int64_t budget = lod.cell_budget;
  for (auto [d, i] : by_dist) {
    out.order.push_back(i);
    const auto& v = L[static_cast<size_t>(i)];
    float px = std::min(v.cell, v.cell_z) * view.focal_px / std::max(d, 1e-3f);
    if (px < lod.cell_min_px) continue;
    const int64_t n = emit_cells(v, i, view, budget, out);
    if (n == 0) continue;
    out.as_cells[static_cast<size_t>(i)] = 1;
    budget -= n;
    ++out.cell_layers;
  }
}

FramePlan plan_frame(const Layout& layout, const FrameView& view, const LodOptions& lod) {
  FramePlan p;
  plan_frame(layout, view, lod, p);
  return p;
}

}  // namespace netlens::viz
