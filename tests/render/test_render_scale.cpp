// Renderer::set_render_scale (dynamic draw resolution while a model runs): the 3D scene drawn at a
// reduced size and scaled up, the text at the full size, the IDs at the reduced size. Validation
// layers on (image layouts and barriers of the extra passes); lavapipe.
// References, independent of the reduced path:
//  - scale 1 (also after reduced frames) is the frame of a renderer that never had a scale set,
//    every RGBA byte and every ID;
//  - the reduced frame, box-filtered to a quarter of the size, is within a tolerance of the
//    full-size frame box-filtered the same way (and a frame of other values is not: the tolerance
//    can fail);
//  - a pick (id_at and the window's probe) at a frame pixel whose 5x5 neighbourhood in the full-size
//    frame shows one neuron returns that neuron.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "netlens/render/renderer.hpp"
#include "netlens/viz/camera.hpp"
#include "netlens/viz/scene.hpp"
#include "../vulkan_test_util.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& context() { return test::vulkan_context(); }

class RenderScaleTest : public test::VulkanValidatedTest {};

// Small maps: their cells are several pixels wide in the overview, so picks have room.
const std::vector<Shape> kShapes = {{1, 3, 8, 10}, {1, 6, 6, 6}, {1, 12, 4, 4}, {1, 16}, {1, 10}};
constexpr int kW = 480, kH = 288;

RenderOptions options() { return RenderOptions{.width = kW, .height = kH, .title = "scaled"}; }

using Frame = test::DrawnFrame;
Frame draw(Renderer& r, const viz::Camera& cam) { return test::draw_frame(r, cam); }

// Mean and largest absolute difference (0..255, over RGB) between a and b box-filtered in k x k blocks.
std::pair<double, double> block_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int k) {
  double sum = 0, worst = 0;
  int n = 0;
  for (int by = 0; by + k <= kH; by += k)
    for (int bx = 0; bx + k <= kW; bx += k)
      for (int ch = 0; ch < 3; ++ch) {
        double sa = 0, sb = 0;
        for (int y = by; y < by + k; ++y)
          for (int x = bx; x < bx + k; ++x) {
            const size_t i = (static_cast<size_t>(y) * kW + static_cast<size_t>(x)) * 4 + static_cast<size_t>(ch);
            sa += a[i];
            sb += b[i];
          }
        const double d = std::abs(sa - sb) / double(k * k);
        sum += d;
        worst = std::max(worst, d);
        ++n;
      }
  return {sum / n, worst};
}

// Pixels whose (2r+1)^2 neighbourhood in `f` shows one neuron (not the background).
std::vector<std::pair<int, int>> solid_pixels(const Frame& f, int r) {
  std::vector<std::pair<int, int>> out;
  for (int y = r; y < kH - r; ++y)
    for (int x = r; x < kW - r; ++x) {
      const auto id = f.ids[static_cast<size_t>(y) * kW + static_cast<size_t>(x)];
      if (id.first == 0) continue;
      bool same = true;
      for (int dy = -r; dy <= r && same; ++dy)
        for (int dx = -r; dx <= r && same; ++dx)
          same = f.ids[static_cast<size_t>(y + dy) * kW + static_cast<size_t>(x + dx)] == id;
      if (same) out.emplace_back(x, y);
    }
  return out;
}

}  // namespace

TEST_F(RenderScaleTest, ScaleOneIsTheUnscaledFrame) {
  const viz::Scene s = viz::synthetic_scene(kShapes, 3);
  const viz::Camera cam = viz::overview_camera(s.layout, float(kW) / float(kH));
  Renderer plain(context(), s, options());
  const Frame want = draw(plain, cam);
  Renderer scaled(context(), s, options());
  scaled.set_render_scale(0.5f);
  const Frame half = draw(scaled, cam);
  EXPECT_NE(half.rgba, want.rgba);  // the reduced frame is another picture
  scaled.set_render_scale(1.0f);
  EXPECT_EQ(scaled.render_scale(), 1.0f);
  const Frame back = draw(scaled, cam);
  EXPECT_TRUE(back.rgba == want.rgba);
  EXPECT_TRUE(back.ids == want.ids);
  // Out of range: clamped (non-finite: 1).
  scaled.set_render_scale(0.01f);
  EXPECT_EQ(scaled.render_scale(), 0.25f);
  scaled.set_render_scale(NAN);
  EXPECT_EQ(scaled.render_scale(), 1.0f);
}

// Tolerance: 4x4 blocks, mean difference under 3/255 and no block over 100/255 (a thin line or an
// edge blurred across a block boundary); measured: scale 0.5 mean 1.2, worst 70; 0.71 mean 0.6,
// worst 41; against another scene's values at full size: mean 4.5-4.7, worst 190.
TEST_F(RenderScaleTest, ReducedFrameIsTheFullFrameDownscaled) {
  const viz::Scene s = viz::synthetic_scene(kShapes, 3), other = viz::synthetic_scene(kShapes, 9);
  const viz::Camera cam = viz::overview_camera(s.layout, float(kW) / float(kH));
  Renderer r(context(), s, options());
  const Frame full = draw(r, cam);
  Renderer o(context(), other, options());
  const Frame full_other = draw(o, cam);
  for (float scale : {0.5f, 0.71f}) {
    r.set_render_scale(scale);
    const Frame red = draw(r, cam);
    ASSERT_EQ(red.rgba.size(), full.rgba.size());
    const auto [mean, worst] = block_difference(red.rgba, full.rgba, 4);
    std::printf("scale %.2f: 4x4 blocks vs full size: mean %.2f, worst %.1f (of 255)\n", scale, mean, worst);
    EXPECT_LT(mean, 3.0);
    EXPECT_LT(worst, 100.0);
    // The negative control: other values at full size are far outside the tolerance.
    const auto [mean_o, worst_o] = block_difference(red.rgba, full_other.rgba, 4);
    std::printf("scale %.2f: vs other values: mean %.2f, worst %.1f\n", scale, mean_o, worst_o);
    EXPECT_GT(mean_o, 3.0);
  }
}

TEST_F(RenderScaleTest, PicksAtReducedScaleFindTheFullSizeNeuron) {
  const viz::Scene s = viz::synthetic_scene(kShapes, 3);
  const viz::Camera cam = viz::overview_camera(s.layout, float(kW) / float(kH));
  Renderer r(context(), s, options());
  const Frame full = draw(r, cam);
  const auto solid = solid_pixels(full, 2);
  ASSERT_GT(solid.size(), 2000u);  // cells several pixels wide
  for (float scale : {0.5f, 0.6f, 0.84f}) {
    r.set_render_scale(scale);
    const Frame red = draw(r, cam);
    size_t wrong = 0;
    for (auto [x, y] : solid)
      if (red.ids[static_cast<size_t>(y) * kW + static_cast<size_t>(x)] != full.ids[static_cast<size_t>(y) * kW + static_cast<size_t>(x)])
        ++wrong;
    EXPECT_EQ(wrong, 0u) << "scale " << scale << ": of " << solid.size();
    // The window's probe (one ID copied from the reduced image) agrees with id_at/pick.
    for (size_t k = 0; k < solid.size(); k += solid.size() / 7) {
      const auto [x, y] = solid[k];
      r.set_probe(std::make_pair(x, y));
      r.render(cam);
      const auto want = r.pick(x, y), got = r.probe();
      ASSERT_TRUE(want && got);
      EXPECT_EQ(got->layer, want->layer);
      EXPECT_EQ(got->flat, want->flat);
      const auto id = full.ids[static_cast<size_t>(y) * kW + static_cast<size_t>(x)];
      EXPECT_EQ(got->layer + 1, static_cast<int>(id.first));
      EXPECT_EQ(got->flat, static_cast<int64_t>(id.second));
    }
    r.set_probe(std::nullopt);
  }
}
