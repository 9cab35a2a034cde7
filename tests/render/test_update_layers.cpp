// Renderer::update_layers (a progressive run's partial upload) against the full in-place update and
// a renderer made afresh: after patching some layers of a scene, uploading only those layers gives
// the very frame (every RGBA byte, every ID) that update_values of the whole scene gives, and the
// upload counts the listed layers' codes and records only. Validation layers on; lavapipe.
// The reference is independent of the code under test: update_values writes every chunk from the
// scene (fill_chunk), a fresh renderer uploads the scene at construction; the partial path packs only
// the listed layers' parts into its own staging buffer.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "netlens/render/code_packing.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/camera.hpp"
#include "netlens/viz/scene.hpp"
#include "../vulkan_test_util.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& context() { return test::vulkan_context(); }

class UpdateLayersTest : public test::VulkanValidatedTest {};

// Layer 0 (3 channels of 24x32, ~1.3 KB of codes each) does not fit in one 2 KiB chunk: it is split
// (one part per channel), as is layer 1.
const std::vector<Shape> kShapes = {{1, 3, 24, 32}, {1, 8, 12, 16}, {1, 16, 6, 8}, {1, 32}, {1, 10}};
constexpr int kW = 400, kH = 240;

RenderOptions options() { return RenderOptions{.width = kW, .height = kH, .title = "partial", .max_buffer_bytes = 2048}; }

// The scene of `shapes` whose layer i takes its values from `from[i]` (each of a's layout).
viz::Scene mixed(const std::vector<const viz::Scene*>& from) {
  std::vector<std::vector<float>> v;
  for (size_t i = 0; i < from.size(); ++i) v.push_back(from[i]->layers[i].values);
  return viz::build_scene_from_values(from[0]->layout, std::move(v), from[0]->options);
}

using Frame = test::DrawnFrame;
Frame draw(Renderer& r, const viz::Camera& cam) { return test::draw_frame(r, cam); }

using test::differing_pixels;

uint64_t layer_code_bytes(const viz::Scene& s, int i) {
  const auto& d = s.layout.layers[static_cast<size_t>(i)].dims;
  return static_cast<uint64_t>(d.C) * channel_code_bytes(d);
}

}  // namespace

TEST_F(UpdateLayersTest, PartialUploadDrawsWhatAFullUpdateDraws) {
  const viz::Scene a0 = viz::synthetic_scene(kShapes, 1), b0 = viz::synthetic_scene(kShapes, 7);
  const viz::Scene a = mixed({&a0, &a0, &a0, &a0, &a0});
  // Layers 0 (split over three chunks) and 3 change; 1, 2 and 4 keep a's values. Layer 3 (ReLU-like,
  // a sequential scale in a) gets signed values: a diverging scale, so its layer record changes too.
  viz::Scene b = b0;
  for (float& x : b.layers[3].values) x = x > 0.0f ? x : -0.5f;
  b = mixed({&b, &b, &b, &b, &b});
  ASSERT_NE(b.layers[3].scale.kind, a.layers[3].scale.kind);
  const viz::Scene m = mixed({&b, &a0, &a0, &b, &a0});
  const viz::Camera cam = viz::overview_camera(a.layout, float(kW) / float(kH));

  viz::Scene shown = a;
  Renderer partial(context(), shown, options());
  ASSERT_GT(partial.code_buffers(), 1);
  ASSERT_GT(partial.parts(), static_cast<int>(kShapes.size()));  // some layer is split
  const Frame before = draw(partial, cam);
  shown = m;
  const std::vector<int> changed = {3, 0, 3};  // repeats are uploaded once
  const UploadStats us = partial.update_layers(shown, changed);
  const Frame got = draw(partial, cam);

  viz::Scene shown_full = a;
  Renderer full(context(), shown_full, options());
  draw(full, cam);
  shown_full = m;
  const UploadStats full_us = full.update_values(shown_full);
  const Frame want = draw(full, cam);
  Renderer fresh(context(), m, options());
  const Frame want_fresh = draw(fresh, cam);

  EXPECT_EQ(differing_pixels(want.rgba, want_fresh.rgba), 0u);  // the reference agrees with itself
  EXPECT_EQ(differing_pixels(got.rgba, want.rgba), 0u);
  EXPECT_TRUE(got.ids == want.ids);
  EXPECT_GT(differing_pixels(got.rgba, before.rgba), 500u);  // the patched layers did change the picture

  // Bytes: the two layers' codes (level 0 and both pyramids) and two layer records, layer 3 once
  // though listed twice; a record's size is what a one-layer upload adds to its codes.
  const uint64_t codes = layer_code_bytes(m, 0) + layer_code_bytes(m, 3);
  const uint64_t record = partial.update_layers(shown, std::vector<int>{3}).bytes - layer_code_bytes(m, 3);
  EXPECT_GE(record, 16u);
  EXPECT_LE(record, 256u);
  EXPECT_EQ(us.bytes, codes + 2 * record);
  EXPECT_LT(us.bytes, full_us.bytes);
  uint64_t all = 0;
  for (int i = 0; i < static_cast<int>(kShapes.size()); ++i) all += layer_code_bytes(m, i);
  EXPECT_GE(full_us.bytes, all);

  // Picks in a patched layer read the new scene's values.
  int picked = 0;
  for (int y = 0; y < kH; y += 5)
    for (int x = 0; x < kW; x += 5)
      if (auto p = partial.pick(x, y)) {
        EXPECT_EQ(p->value, m.value(p->layer, p->flat));
        ++picked;
      }
  EXPECT_GT(picked, 0);
}

// The negative control: leaving a changed layer out of the list leaves its old bytes on the GPU (the
// comparison above can fail), and listing it later completes the frame.
TEST_F(UpdateLayersTest, OnlyTheListedLayersAreUploaded) {
  const viz::Scene a0 = viz::synthetic_scene(kShapes, 1), b0 = viz::synthetic_scene(kShapes, 7);
  const viz::Scene a = mixed({&a0, &a0, &a0, &a0, &a0});
  const viz::Scene m = mixed({&b0, &a0, &b0, &a0, &a0});
  const viz::Camera cam = viz::overview_camera(a.layout, float(kW) / float(kH));
  Renderer fresh(context(), m, options());
  const Frame want = draw(fresh, cam);

  viz::Scene shown = a;
  Renderer r(context(), shown, options());
  shown = m;
  const UploadStats one = r.update_layers(shown, std::vector<int>{2});
  EXPECT_LE(one.bytes, layer_code_bytes(m, 2) + 256);
  EXPECT_GT(differing_pixels(draw(r, cam).rgba, want.rgba), 100u);  // layer 0 still shows a's values
  const UploadStats none = r.update_layers(shown, {});
  EXPECT_EQ(none.bytes, 0u);
  r.update_layers(shown, std::vector<int>{0});
  EXPECT_EQ(differing_pixels(draw(r, cam).rgba, want.rgba), 0u);
}

TEST_F(UpdateLayersTest, RefusesAnotherLayoutAndUnknownLayers) {
  const viz::Scene a = viz::synthetic_scene(kShapes, 1);
  const viz::Camera cam = viz::overview_camera(a.layout, float(kW) / float(kH));
  Renderer r(context(), a, options());
  const Frame before = draw(r, cam);
  EXPECT_THROW(r.update_layers(a, std::vector<int>{5}), Error);
  EXPECT_THROW(r.update_layers(a, std::vector<int>{-1}), Error);
  const viz::Scene other = viz::synthetic_scene({{1, 3, 24, 32}, {1, 8, 12, 16}}, 1);
  EXPECT_THROW(r.update_layers(other, std::vector<int>{0}), Error);
  // The renderer kept the scene it had: the same frame.
  EXPECT_EQ(differing_pixels(draw(r, cam).rgba, before.rgba), 0u);
}
