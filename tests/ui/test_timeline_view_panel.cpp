// The Timeline panel's controls driven by ImGui input (offscreen, lavapipe, validation on): dragging
// the scrubber asks for the checkpoint under the mouse, clicking a finding asks for its first
// checkpoint and the focus of its first layer, the arrows step by one; and the layer bars: height and
// colour follow the chosen figure of the checkpoint shown over the series' largest value.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "netlens/viz/colormap.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/ui/timeline_panel.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

TEST(TimelineViewPanel, ScrubberFindingsAndBars) {
  const std::string model = std::string(NETLENS_TEST_CACHE_DIR) + "/models/ppocr_cls.onnx";
  ASSERT_TRUE(fs::exists(model)) << model << " is missing: run scripts/fetch-models.sh";
  auto cpu = make_cpu_backend();
  Session s(load_onnx(model), {cpu.get()});
  ImagePreprocess pp;
  pp.width = 192;
  pp.height = 48;
  pp.mean = {0.5f, 0.5f, 0.5f};
  pp.std = {0.5f, 0.5f, 0.5f};
  s.run({{"x", load_image(std::string(NETLENS_TEST_SOURCE_DIR) + "/assets/samples/line_192x48.png", pp)}});
  viz::Scene scene = viz::build_scene(viz::layout_tensors(viz::select_tensors(s.graph(), s.planned())),
                                      [&](const std::string& n) { return s.activations().fetch(n); });
  const size_t L = scene.layout.layers.size();
  ASSERT_GE(L, 4u);

  // Eight checkpoints; figure 0 (weight change) of layer l at checkpoint c is (c + 1) * (l + 1).
  ui::TimelineModel m;
  for (int c = 0; c < 8; ++c) {
    m.checkpoints.push_back("epoch_" + std::to_string(c));
    m.probe_loss.push_back(2.0f / float(c + 1));
    m.probe_acc.push_back(0.1f * float(c));
  }
  m.figures.assign(ui::kTimelineFigures, std::vector<std::vector<float>>(8, std::vector<float>(L, std::nanf(""))));
  for (int c = 0; c < 8; ++c)
    for (size_t l = 0; l < L; ++l) m.figures[0][static_cast<size_t>(c)][l] = float((c + 1) * (l + 1));
  m.findings.push_back({.kind = "dying_relu", .message = "m1", .layers = {"a"}, .checkpoints = {"epoch_5", "epoch_7"},
                        .first_checkpoint = 5, .first_layer = 2});
  m.findings.push_back({.kind = "stalled", .message = "m2", .layers = {"b"}, .checkpoints = {"epoch_2"},
                        .first_checkpoint = 2, .first_layer = 3});
  ui::TimelinePanel tp(m, 0, ui::TimelineFigure::WeightChange);

  static render::Context ctx(render::ContextOptions{.validation = true});
  const size_t errors0 = ctx.validation_error_count();
  const int W = 1600, H = 1000;
  {
    ui::ImGuiLayer layer(ctx, H);
    ui::Panels panels(layer, s, scene);
    std::vector<int> focused;
    tp.focus_layer = [&](int l) { focused.push_back(l); };
    ui::Panels::ExtraPanel e;
    e.name = "Timeline";
    e.body = [&] { tp.draw_body(); };
    panels.set_extra(std::move(e));
    auto frame = [&] {
      layer.begin_frame(W, H);
      panels.draw(W, H);
      layer.end_frame();
    };
    auto click = [&](ImVec2 p) {
      layer.set_mouse(p, false);
      frame();
      layer.set_mouse(p, true);
      frame();
      layer.set_mouse(p, false);
      frame();
    };
    frame();
    frame();
    bool drawn = false;
    for (const auto& r : panels.rects()) drawn |= r.name == "Timeline";
    ASSERT_TRUE(drawn) << "no Timeline panel in the right column";

    // Drag the scrubber from its left end to its right end: the last checkpoint is asked for.
    const ImVec4 sr = tp.scrubber_rect();
    ASSERT_GT(sr.z - sr.x, 50.0f);
    const float y = 0.5f * (sr.y + sr.w);
    layer.set_mouse(ImVec2(sr.x + 3, y), false);
    frame();
    layer.set_mouse(ImVec2(sr.x + 3, y), true);
    frame();
    for (float x = sr.x + 3; x <= sr.z + 20; x += 40) {
      layer.set_mouse(ImVec2(x, y), true);
      frame();
    }
    layer.set_mouse(ImVec2(sr.z + 20, y), false);
    frame();
    EXPECT_EQ(tp.take_request(), std::optional<size_t>(7));
    tp.set_current(7);  // as the host does once it loaded it
    frame();

    // A click in the middle of the scrubber: the checkpoint there (of 0..7, about 3 or 4).
    click(ImVec2(0.5f * (sr.x + sr.z), y));
    const auto mid = tp.take_request();
    ASSERT_TRUE(mid.has_value());
    EXPECT_TRUE(*mid == 3 || *mid == 4) << *mid;
    tp.set_current(*mid);
    frame();

    // Each finding: its first checkpoint and the focus of its first layer.
    ASSERT_EQ(tp.finding_rows().size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      const ImVec4 r = tp.finding_rows()[i];
      ASSERT_LT(r.w, float(H) / layer.pixel_scale()) << "finding row " << i << " is below the frame";
      focused.clear();
      click(ImVec2(0.5f * (r.x + r.z), 0.5f * (r.y + r.w)));
      EXPECT_EQ(tp.take_request(), std::optional<size_t>(i == 0 ? 5 : 2)) << "finding " << i;
      ASSERT_EQ(focused.size(), 1u) << "finding " << i;
      EXPECT_EQ(focused[0], i == 0 ? 2 : 3);
      tp.set_current(i == 0 ? 5 : 2);
      frame();
    }
  }
  EXPECT_EQ(ctx.validation_error_count(), errors0);

  // Bars at checkpoint 2: value (3)(l+1), t = value / the series' largest (8 L), colour from t.
  tp.set_current(2);
  EXPECT_FLOAT_EQ(tp.figure_max(), float(8 * L));
  const viz::Camera cam = viz::overview_camera(scene.layout, 1600.0f / 1000.0f);
  int shown = 0;
  float last_h = -1;
  for (size_t l = 0; l < L; ++l) {
    const auto b = tp.bar(scene.layout, cam, 1600, 1000, static_cast<int>(l));
    if (!b) continue;
    ++shown;
    EXPECT_FLOAT_EQ(b->value, float(3 * (l + 1)));
    EXPECT_NEAR(b->t, float(3 * (l + 1)) / float(8 * L), 1e-6);
    const glm::vec3 c = viz::sample_colormap(viz::ColorMapKind::Sequential, 0.08f + 0.92f * b->t);
    EXPECT_FLOAT_EQ(b->r, c.x);
    EXPECT_FLOAT_EQ(b->b, c.z);
    EXPECT_GE(b->h, last_h) << "bars grow with the value";
    last_h = b->h;
  }
  EXPECT_GE(shown, static_cast<int>(L) / 2) << "most layers of the overview have a bar on screen";
}

}  // namespace
