// The structure frame of a progressive run (issue 13): app::structure_scene holds neither values nor
// codes (0 host bytes per neuron) and the renderer draws its layers "unfilled" from a flag in their
// layer records, without writing their codes. References, independent of that path:
//  - a scene of zeros built by viz::build_scene_from_values (every code written and uploaded): the
//    structure frame has exactly its RGBA bytes and pick IDs, from far (pyramid levels, max and mean),
//    from the overview and close up (individual cells), with a wrapped vector layer (empty tail cells)
//    and a layer split over several code chunks;
//  - a renderer made afresh from the complete scene: after app::patch_scene of every layer's piece
//    and Renderer::update_layers, the same bytes and IDs; half-way, the frame of a renderer made
//    from the half-patched zero scene.
// Validation layers on; lavapipe.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "netlens/app/progressive.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/camera.hpp"
#include "netlens/viz/scene.hpp"
#include "../vulkan_test_util.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& context() { return test::vulkan_context(); }

class ProgressiveStructureFrame : public test::VulkanValidatedTest {};

// Layer 0 (3 channels of 24x32) does not fit in one 2 KiB chunk: split, as is layer 1; layers 3 and 5
// are vectors wrapped into 6x6 and 3x4 grids with empty tail cells.
const std::vector<Shape> kShapes = {{1, 3, 24, 32}, {1, 8, 12, 16}, {1, 16, 6, 8}, {1, 32}, {1, 4, 5, 7}, {1, 10}};
constexpr int kW = 400, kH = 240;

RenderOptions options(bool lod_max = true) {
  RenderOptions o{.width = kW, .height = kH, .title = "structure", .max_buffer_bytes = 2048};
  o.lod_max = lod_max;
  return o;
}

viz::Scene zeros_scene(const viz::Layout& l, const viz::SceneOptions& o) {
  std::vector<std::vector<float>> z;
  for (const auto& v : l.layers) z.emplace_back(static_cast<size_t>(v.dims.count), 0.0f);
  return viz::build_scene_from_values(l, std::move(z), o);
}

// Layer i's piece: a one-layer scene built with the same options, with codes (app::fill_tensor's
// have none; patch_scene takes either, tests/app/test_progressive_view.cpp covers those).
std::shared_ptr<const app::FilledTensor> piece(const viz::Scene& full, size_t i) {
  viz::Layout one;
  one.layers.push_back(full.layout.layers[i]);
  return std::make_shared<const app::FilledTensor>(
      app::FilledTensor{full.layout.layers[i].tensor.name, viz::build_scene_from_values(std::move(one), {full.layers[i].values}, full.options)});
}

using Frame = test::DrawnFrame;
Frame draw(Renderer& r, const viz::Camera& cam) { return test::draw_frame(r, cam); }

using test::differing_pixels;

size_t foreground(const Frame& f) {
  size_t n = 0;
  for (const auto& id : f.ids) n += id.first != 0;
  return n;
}

// Cameras that reach every drawing path: the overview, far away (coarse pyramid levels), and close
// to the wrapped vector and to the split layer (individual cells).
std::vector<viz::Camera> cameras(const viz::Layout& l) {
  const float aspect = float(kW) / float(kH);
  std::vector<viz::Camera> c = {viz::overview_camera(l, aspect), viz::orbit(viz::overview_camera(l, aspect), 0.0f, 0.0f, 6.0f),
                                viz::focus_camera(l, 3, aspect), viz::focus_camera(l, 0, aspect),
                                viz::orbit(viz::focus_camera(l, 5, aspect), 35.0f, 20.0f)};
  return c;
}

}  // namespace

TEST_F(ProgressiveStructureFrame, HoldsNoBytesPerNeuron) {
  const viz::Scene full = viz::synthetic_scene(kShapes, 3);
  const viz::Scene s = app::structure_scene(full.layout, full.options);
  EXPECT_EQ(s.host_bytes(), 0u);
  EXPECT_FALSE(s.has_codes());
  ASSERT_EQ(s.layers.size(), kShapes.size());
  const viz::Scene z = zeros_scene(full.layout, full.options);
  for (size_t i = 0; i < s.layers.size(); ++i) {
    EXPECT_FALSE(s.has_values(static_cast<int>(i))) << i;
    EXPECT_EQ(s.layers[i].levels, z.layers[i].levels) << i;
    EXPECT_EQ(s.layers[i].scale.kind, z.layers[i].scale.kind) << i;
    EXPECT_EQ(s.layers[i].scale.lo, z.layers[i].scale.lo) << i;
    EXPECT_EQ(s.layers[i].scale.hi, z.layers[i].scale.hi) << i;
  }
}

TEST_F(ProgressiveStructureFrame, DrawsExactlyAsAZeroScene) {
  const viz::Scene full = viz::synthetic_scene(kShapes, 3);
  const viz::Scene s = app::structure_scene(full.layout, full.options);
  const viz::Scene z = zeros_scene(full.layout, full.options);
  int wrapped = 0;
  for (const auto& l : s.layout.layers) wrapped += l.dims.count < l.dims.C * l.dims.H * l.dims.W;
  ASSERT_GE(wrapped, 2) << "no wrapped vector with empty tail cells";
  for (bool lod_max : {true, false}) {
    SCOPED_TRACE(lod_max ? "max pyramid" : "mean pyramid");
    Renderer rs(context(), s, options(lod_max)), rz(context(), z, options(lod_max));
    ASSERT_GT(rs.code_buffers(), 1);
    ASSERT_GT(rs.parts(), static_cast<int>(kShapes.size()));  // some layer is split
    ASSERT_EQ(rs.parts(), rz.parts());
    for (const viz::Camera& cam : cameras(s.layout)) {
      const Frame a = draw(rs, cam), b = draw(rz, cam);
      EXPECT_GT(foreground(b), 200u);  // the camera sees the network
      EXPECT_EQ(differing_pixels(a.rgba, b.rgba), 0u);
      EXPECT_TRUE(a.ids == b.ids);
    }
    // Picks on the structure give the neuron and no value.
    const viz::Camera cam = viz::overview_camera(s.layout, float(kW) / float(kH));
    draw(rs, cam);
    int picked = 0;
    for (int y = 0; y < kH; y += 5)
      for (int x = 0; x < kW; x += 5)
        if (auto p = rs.pick(x, y)) {
          EXPECT_TRUE(std::isnan(p->value));
          EXPECT_EQ(rs.id_at(x, y).second, static_cast<uint32_t>(p->flat));
          ++picked;
        }
    EXPECT_GT(picked, 0);
  }
}

TEST_F(ProgressiveStructureFrame, PatchedPiecesDrawTheCompleteScene) {
  const viz::Scene full = viz::synthetic_scene(kShapes, 3);
  viz::Scene s = app::structure_scene(full.layout, full.options);
  Renderer r(context(), s, options());
  const std::vector<viz::Camera> cams = cameras(s.layout);

  // Half-way: layers 0 (split), 3 (wrapped) and 4 patched; the others still unfilled.
  std::vector<std::shared_ptr<const app::FilledTensor>> first = {piece(full, 0), piece(full, 3), piece(full, 4)};
  std::vector<int> changed;
  EXPECT_EQ(app::patch_scene(s, first, &changed), 3u);
  EXPECT_EQ(changed, (std::vector<int>{0, 3, 4}));
  r.update_layers(s, changed);
  viz::Scene half = zeros_scene(full.layout, full.options);
  std::vector<std::vector<float>> hv;
  for (size_t i = 0; i < kShapes.size(); ++i)
    hv.push_back(i == 0 || i == 3 || i == 4 ? full.layers[i].values : half.layers[i].values);
  half = viz::build_scene_from_values(full.layout, std::move(hv), full.options);
  Renderer rh(context(), half, options());
  for (const viz::Camera& cam : cams) {
    const Frame a = draw(r, cam), b = draw(rh, cam);
    EXPECT_EQ(differing_pixels(a.rgba, b.rgba), 0u);
    EXPECT_TRUE(a.ids == b.ids);
  }

  // The rest: the complete scene's frame.
  std::vector<std::shared_ptr<const app::FilledTensor>> rest = {piece(full, 1), piece(full, 2), piece(full, 5)};
  changed.clear();
  EXPECT_EQ(app::patch_scene(s, rest, &changed), 3u);
  r.update_layers(s, changed);
  Renderer rf(context(), full, options());
  size_t changed_from_structure = 0;
  const viz::Scene z = zeros_scene(full.layout, full.options);
  Renderer rz(context(), z, options());
  for (const viz::Camera& cam : cams) {
    const Frame a = draw(r, cam), b = draw(rf, cam);
    EXPECT_EQ(differing_pixels(a.rgba, b.rgba), 0u);
    EXPECT_TRUE(a.ids == b.ids);
    changed_from_structure += differing_pixels(a.rgba, draw(rz, cam).rgba);
  }
  EXPECT_GT(changed_from_structure, 1000u);  // the values did change the picture
  // Picks read the patched values.
  draw(r, cams[0]);
  int picked = 0;
  for (int y = 0; y < kH; y += 5)
    for (int x = 0; x < kW; x += 5)
      if (auto p = r.pick(x, y)) {
        EXPECT_EQ(p->value, full.value(p->layer, p->flat));
        ++picked;
      }
  EXPECT_GT(picked, 0);
}
