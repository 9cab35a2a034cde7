// The gradient-flow strip's warning colour: exactly the layers explain's vanishing/exploding rule
// flags are drawn in render::kBarWarnColour, read back from the frame's colour buffer at each bar
// (the bars are 2D overlays, not in the ID buffer), and the legend entry is drawn only with flags.
// The model is the timeline's "high_lr" run (a digits CNN trained with SGD at lr 2: its fc1 ReLU
// died, so the Gemm before it gets a zero gradient and the rule flags it 'vanishing'), one digit.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/frame_plan.hpp"
#include "netlens/cpu.hpp"
#include "netlens/explain.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "runs_util.hpp"
#include "netlens/app/view.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

bool is_warn(const uint8_t* p) {
  // The warning colour (magenta) and its darker track, against the orange fill and the dark track
  // over the 3D view; sRGB-encoded bytes.
  return p[0] > 100 && p[2] > 80 && p[1] < 0.6 * p[0];
}

TEST(FlowStrip, FlaggedLayersInWarningColour) {
  std::string why;
  const std::string runs = test::timeline_runs(&why);
  ASSERT_FALSE(runs.empty()) << why;
  const fs::path model = fs::path(runs) / "high_lr" / "epoch_5.onnx";
  ASSERT_TRUE(fs::exists(model)) << model;
  const Tensor probe = read_npy((fs::path(runs) / "probe.npy").string());
  const std::vector<float> pv = probe.to_f32_vector();
  const Tensor x = Tensor::from_f32({1, 1, 8, 8}, std::vector<float>(pv.begin(), pv.begin() + 64));

  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(load_onnx(model.string()), {cpu.get()});
  const std::string in = s.graph().inputs.front().name;
  s.prepare({{in, x.shape()}});
  s.run({{in, x}});
  s.backward(explain::resolve_target(s, explain::parse_target("")).seeds(s));
  std::set<std::string> rule_flagged;
  for (const explain::FlowEntry& e : explain::gradient_flow(s, "").entries)
    if (!e.flag.empty()) rule_flagged.insert(e.tensor);
  ASSERT_FALSE(rule_flagged.empty()) << "the high_lr run has no flagged layer any more";

  const int W = 1200, H = 1000;  // ui scale 1: bars 7 x 46 px
  render::Context ctx(render::ContextOptions{.validation = false, .quiet = true});
  app::View v(ctx, s, {.width = W, .height = H, .values = viz::ValueMode::Gradient, .flow_strip = true});
  const viz::Layout& lay = v.scene().layout;
  const std::vector<uint8_t>& warn = v.renderer().options().layer_bar_warn;
  ASSERT_EQ(warn.size(), lay.layers.size());
  // The view's flags are the rule's, on the shown layers.
  for (size_t i = 0; i < lay.layers.size(); ++i) EXPECT_EQ(warn[i] != 0, rule_flagged.count(lay.layers[i].tensor.name) > 0) << lay.layers[i].tensor.name;

  // Drawn: every layer bar standing on its volume (no labels, title or per-layer legend over them).
  render::RenderOptions ro = v.renderer().options();
  ro.labels = false;
  ro.legend = false;
  ro.title.clear();
  render::Renderer r(ctx, v.scene(), ro);
  const viz::Camera cam = v.initial_camera();
  r.render(cam);
  const std::vector<uint8_t>& px = r.rgba();
  const glm::mat4 vp = viz::frame_view(cam, W, H, viz::scene_radius(lay)).view_proj;
  const float bw = 7.0f, bh = 46.0f;
  std::vector<glm::vec4> tracks(lay.layers.size(), glm::vec4(-1e9f));  // x0, y0, x1, y1
  std::vector<glm::vec2> at(lay.layers.size(), glm::vec2(-1));
  for (size_t i = 0; i < lay.layers.size(); ++i) {
    if (!std::isfinite(ro.layer_bars[i])) continue;
    const auto& l = lay.layers[i];
    const auto p = viz::project_to_pixel(vp, glm::vec3(l.center().x, l.max().y, l.center().z), W, H);
    if (!p || p->x < 0 || p->x > W || p->y < bh || p->y > H) continue;
    const float x0 = p->x - 0.5f * bw, y0 = p->y - bh - 3.0f;
    tracks[i] = glm::vec4(x0 - 1.5f, y0 - 1.5f, x0 + bw + 1.5f, y0 + bh + 1.5f);
    at[i] = glm::vec2(p->x, y0 + 3.0f);  // near the top: the track, or the fill of a full bar
  }
  int compared = 0, compared_flagged = 0;
  for (size_t i = 0; i < lay.layers.size(); ++i) {
    if (at[i].x < 0) continue;
    bool covered = at[i].x > W - 500 && at[i].y > H - 90;  // the warning legend's corner
    for (size_t j = i + 1; j < lay.layers.size(); ++j)  // bars drawn later cover earlier ones
      covered |= at[i].x >= tracks[j].x - 1 && at[i].x <= tracks[j].z + 1 && at[i].y >= tracks[j].y - 1 && at[i].y <= tracks[j].w + 1;
    if (covered) continue;
    const uint8_t* p = &px[(static_cast<size_t>(at[i].y) * W + static_cast<size_t>(at[i].x)) * 4];
    EXPECT_EQ(is_warn(p), warn[i] != 0) << lay.layers[i].tensor.name << " rgb " << int(p[0]) << "," << int(p[1]) << "," << int(p[2]);
    ++compared;
    compared_flagged += warn[i] != 0;
  }
  EXPECT_GE(compared_flagged, 1) << "no flagged bar could be read back";
  EXPECT_GE(compared - compared_flagged, 2) << "too few unflagged bars read back";

  // The legend entry (bottom right) has the warning colour; without flags it is gone.
  auto corner_warn = [&](const std::vector<uint8_t>& img) {
    int n = 0;
    for (int y = H - 90; y < H; ++y)
      for (int x = W - 500; x < W; ++x) n += is_warn(&img[(static_cast<size_t>(y) * W + x) * 4]);
    return n;
  };
  EXPECT_GE(corner_warn(px), 50);
  ro.layer_bar_warn.clear();
  render::Renderer plain(ctx, v.scene(), ro);
  plain.render(cam);
  EXPECT_EQ(corner_warn(plain.rgba()), 0);
}

}  // namespace
