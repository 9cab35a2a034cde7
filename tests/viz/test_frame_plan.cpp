// What a camera draws, without Vulkan: plan_frame's culling (frustum, cutaway, behind the eye), its
// nearest-first order, and its level-of-detail choice (which layers become cells, which cells: the
// eye-facing faces once each, on-screen only, within the budget), checked against sets built
// directly from the geometry (face membership, projected pixel positions, eye-to-box distances).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <vector>

#include <glm/common.hpp>
#include <glm/geometric.hpp>
#include <glm/trigonometric.hpp>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/frame_plan.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/viz/scene.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

constexpr int kW = 1280, kH = 720;

FrameView view_of(const Layout& L, const Camera& cam) { return frame_view(cam, kW, kH, scene_radius(L)); }

std::set<std::tuple<int, int64_t, int64_t, int64_t>> drawn(const Layout& L, const FramePlan& p) {
  std::set<std::tuple<int, int64_t, int64_t, int64_t>> s;
  for (const DrawnCell& d : p.cells) {
    const CellIndex c = cell_of(L.layers[static_cast<size_t>(d.layer)].dims, d.flat);
    EXPECT_EQ(c.c, d.c) << "the channel travels with the cell";
    s.insert({d.layer, c.c, c.y, c.x});
  }
  EXPECT_EQ(s.size(), p.cells.size()) << "a cell is drawn once";
  return s;
}

// Distance from the eye to the nearest point of a layer's box, computed per axis.
float box_distance(const LayerVolume& v, glm::vec3 eye) {
  float s = 0;
  for (int a = 0; a < 3; ++a) {
    float d = std::max({v.origin[a] - eye[a], 0.0f, eye[a] - v.max()[a]});
    s += d * d;
  }
  return std::sqrt(s);
}

// Pixel of a cell centre, or a point far off screen when behind the eye.
glm::vec2 pixel_of(const FrameView& fv, const LayerVolume& v, int64_t c, int64_t y, int64_t x) {
  auto p = project_to_pixel(fv.view_proj, neuron_center(v, c, y, x), kW, kH);
  return p ? *p : glm::vec2(-1e9f);
}

}  // namespace

TEST(FramePlan, FrameViewFocalLength) {
  Camera cam;
  cam.fov_y_deg = 90.0f;
  EXPECT_NEAR(frame_view(cam, 640, 480, 10.0f).focal_px, 240.0f, 1e-3f);
  cam.fov_y_deg = 40.0f;
  EXPECT_NEAR(frame_view(cam, 640, 480, 10.0f).focal_px, 240.0f / std::tan(glm::radians(20.0f)), 1e-2f);
}

// The overview of a VGG-like stack: every layer is on screen, far away, so every layer is slabs;
// the order is nearest first by the eye-to-box distance.
TEST(FramePlan, OverviewShowsEveryLayerAsSlabsNearestFirst) {
  Layout L = layout_tensors(synthetic_tensors(synthetic_vgg_shapes(300000)));
  const Camera cam = overview_camera(L, float(kW) / float(kH));
  const FrameView fv = view_of(L, cam);
  FramePlan p = plan_frame(L, fv, LodOptions{});
  ASSERT_EQ(p.visible.size(), L.layers.size());
  for (size_t i = 0; i < L.layers.size(); ++i) {
    // Independent: the layer's centre projects inside the image.
    auto px = project_to_pixel(fv.view_proj, L.layers[i].center(), kW, kH);
    ASSERT_TRUE(px.has_value());
    EXPECT_TRUE(px->x >= 0 && px->x < kW && px->y >= 0 && px->y < kH) << i;
    EXPECT_EQ(p.visible[i], 1) << i;
    // Two neighbouring cells are less than cell_min_px apart on screen: far away, so slabs.
    const auto& v = L.layers[i];
    const float gap = glm::length(pixel_of(fv, v, 0, 0, 0) - pixel_of(fv, v, 0, std::min<int64_t>(1, v.dims.H - 1), 0));
    EXPECT_LT(gap, LodOptions{}.cell_min_px) << i;
  }
  EXPECT_EQ(p.order.size(), L.layers.size());
  EXPECT_EQ(p.cell_layers, 0);
  EXPECT_TRUE(p.cells.empty());
  for (size_t k = 1; k < p.order.size(); ++k)
    EXPECT_LE(box_distance(L.layers[static_cast<size_t>(p.order[k - 1])], fv.eye),
              box_distance(L.layers[static_cast<size_t>(p.order[k])], fv.eye) + 1e-4f);
  // Reused output: a second call into the same plan gives the same result.
  FramePlan q = p;
  plan_frame(L, fv, LodOptions{}, q);
  EXPECT_EQ(q.order, p.order);
  EXPECT_EQ(q.visible, p.visible);
}

// Straight in front of a block (eye on the -X side, inside its Y/Z span): exactly the front slab's
// cells, each once; the other channels are hidden behind it.
TEST(FramePlan, FrontViewDrawsTheFrontFaceOnly) {
  Layout L = layout_tensors(synthetic_tensors({{1, 4, 6, 8}}));
  const LayerVolume& v = L.layers[0];
  const Camera cam = look_at(glm::vec3(v.origin.x - 20.0f * v.cell, v.center().y, v.center().z), v.center());
  const FrameView fv = view_of(L, cam);
  FramePlan p = plan_frame(L, fv, LodOptions{});
  std::set<std::tuple<int, int64_t, int64_t, int64_t>> expect;
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 8; ++x) {
      glm::vec2 q = pixel_of(fv, v, 0, y, x);
      ASSERT_TRUE(q.x > 0 && q.x < kW && q.y > 0 && q.y < kH) << "precondition: the face is on screen";
      expect.insert({0, 0, y, x});
    }
  EXPECT_EQ(drawn(L, p), expect);
  EXPECT_EQ(p.as_cells, std::vector<uint8_t>{1});
  EXPECT_EQ(p.cell_layers, 1);
  // Too small a budget: the layer stays slabs (visible, no cells).
  FramePlan s = plan_frame(L, fv, LodOptions{.cell_budget = 47});
  EXPECT_EQ(s.visible, std::vector<uint8_t>{1});
  EXPECT_EQ(s.as_cells, std::vector<uint8_t>{0});
  EXPECT_TRUE(s.cells.empty());
  // Cells smaller than the threshold: slabs too.
  FramePlan t = plan_frame(L, fv, LodOptions{.cell_min_px = 1e4f});
  EXPECT_TRUE(t.cells.empty());
  EXPECT_EQ(t.cell_layers, 0);
}

// From a corner (in front, above, left): the three faces turned to the eye, every cell of them once.
TEST(FramePlan, CornerViewDrawsThreeFacesOnce) {
  Layout L = layout_tensors(synthetic_tensors({{1, 5, 6, 7}}));
  const LayerVolume& v = L.layers[0];
  const float a = 2.0f * glm::length(v.size);
  const Camera cam = look_at(glm::vec3(v.origin.x - a, v.max().y + a, v.origin.z - a), v.center());
  const FrameView fv = view_of(L, cam);
  FramePlan p = plan_frame(L, fv, LodOptions{});
  std::set<std::tuple<int, int64_t, int64_t, int64_t>> expect;
  for (int64_t c = 0; c < 5; ++c)
    for (int64_t y = 0; y < 6; ++y)
      for (int64_t x = 0; x < 7; ++x)
        if (c == 0 || y == 0 || x == 0) expect.insert({0, c, y, x});
  ASSERT_EQ(expect.size(), static_cast<size_t>(5 * 6 * 7 - 4 * 5 * 6));
  EXPECT_EQ(drawn(L, p), expect);
  // The opposite corner (behind, below, right): the other three faces.
  const Camera back = look_at(glm::vec3(v.max().x + a, v.origin.y - a, v.max().z + a), v.center());
  FramePlan q = plan_frame(L, view_of(L, back), LodOptions{});
  expect.clear();
  for (int64_t c = 0; c < 5; ++c)
    for (int64_t y = 0; y < 6; ++y)
      for (int64_t x = 0; x < 7; ++x)
        if (c == 4 || y == 5 || x == 6) expect.insert({0, c, y, x});
  EXPECT_EQ(drawn(L, q), expect);
}

// Close to a large face: only cells whose centre is on screen (a 5% margin), all of those.
TEST(FramePlan, CloseUpDrawsOnlyOnScreenCells) {
  Layout L = layout_tensors(synthetic_tensors({{1, 2, 64, 64}}));
  const LayerVolume& v = L.layers[0];
  const glm::vec3 target(v.origin.x, v.max().y - 20.0f * v.cell, v.origin.z + 25.0f * v.cell_z);
  const Camera cam = look_at(target - glm::vec3(12.0f * v.cell, 0.0f, 0.0f), target);
  const FrameView fv = view_of(L, cam);
  FramePlan p = plan_frame(L, fv, LodOptions{});
  auto got = drawn(L, p);
  ASSERT_FALSE(got.empty());
  size_t inner = 0;
  for (int64_t y = 0; y < 64; ++y)
    for (int64_t x = 0; x < 64; ++x) {
      glm::vec2 q = pixel_of(fv, v, 0, y, x);
      const bool is_drawn = got.count({0, 0, y, x}) > 0;
      const float mx = 0.025f * kW, my = 0.025f * kH;
      if (q.x > 0.0f + mx && q.x < kW - mx && q.y > 0.0f + my && q.y < kH - my) {
        EXPECT_TRUE(is_drawn) << y << "," << x;
        ++inner;
      }
      if (q.x < -mx || q.x > kW + mx || q.y < -my || q.y > kH + my) {
        EXPECT_FALSE(is_drawn) << y << "," << x;
      }
    }
  EXPECT_GT(inner, 50u);
  EXPECT_LT(got.size(), size_t(64 * 64)) << "part of the face is off screen";
  for (const auto& [l, c, y, x] : got) EXPECT_EQ(c, 0);
}

// Two blocks one behind the other: the nearer one gets the budget first.
TEST(FramePlan, BudgetGoesToTheNearestLayerFirst) {
  Layout L = layout_tensors(synthetic_tensors({{1, 2, 6, 6}, {1, 2, 6, 6}}));
  const LayerVolume& v0 = L.layers[0];
  ASSERT_LT(v0.max().x, L.layers[1].origin.x);
  const Camera cam = look_at(glm::vec3(v0.origin.x - 30.0f * v0.cell, v0.center().y, v0.center().z),
                             L.layers[1].center());
  const FrameView fv = view_of(L, cam);
  FramePlan all = plan_frame(L, fv, LodOptions{});
  EXPECT_EQ(all.order, (std::vector<int>{0, 1}));
  EXPECT_EQ(all.as_cells, (std::vector<uint8_t>{1, 1}));
  EXPECT_EQ(all.cells.size(), 72u);  // both front faces
  FramePlan one = plan_frame(L, fv, LodOptions{.cell_budget = 40});
  EXPECT_EQ(one.as_cells, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(one.cell_layers, 1);
  for (const DrawnCell& d : one.cells) EXPECT_EQ(d.layer, 0);
  EXPECT_EQ(one.cells.size(), 36u);
}

// Cutaway: layers entirely upstream of the cut plane are not drawn. Looking away from the network:
// nothing is.
TEST(FramePlan, CutawayAndLookingAwayCullLayers) {
  Layout L = layout_tensors(synthetic_tensors({{1, 3, 16, 16}, {1, 8, 8, 8}, {1, 16, 4, 4}, {1, 32, 2, 2}}));
  const int focus = 2;
  const Camera cam = focus_camera(L, focus, float(kW) / float(kH));
  ASSERT_TRUE(cam.cut);
  FramePlan p = plan_frame(L, view_of(L, cam), LodOptions{});
  for (size_t i = 0; i < L.layers.size(); ++i) {
    if (L.layers[i].max().x < cam.cut_x) {
      EXPECT_EQ(p.visible[i], 0) << i;
    }
  }
  EXPECT_EQ(p.visible[static_cast<size_t>(focus)], 1);
  EXPECT_LT(L.layers[0].max().x, cam.cut_x) << "precondition: the first layer is upstream of the cut";
  Camera uncut = cam;
  uncut.cut = false;
  FramePlan u = plan_frame(L, view_of(L, uncut), LodOptions{});
  EXPECT_GE(std::count(u.visible.begin(), u.visible.end(), 1), std::count(p.visible.begin(), p.visible.end(), 1));

  const glm::vec3 end(L.max.x + 10.0f, 0.5f * (L.min.y + L.max.y), 0.5f * (L.min.z + L.max.z));
  FramePlan away = plan_frame(L, view_of(L, look_at(end, end + glm::vec3(10.0f, 0.0f, 0.0f))), LodOptions{});
  EXPECT_EQ(std::count(away.visible.begin(), away.visible.end(), 1), 0);
  EXPECT_TRUE(away.order.empty() && away.cells.empty());
}
