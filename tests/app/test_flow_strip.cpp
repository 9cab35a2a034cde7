// The gradient-flow strip (app::View::layer_bars in the gradient and attribution modes) against
// `netlens inspect --gradients`' flow figures (the CLI run as a separate process on the same input
// .npy) and against each gradient tensor's L2 norm summed here from the session's raw gradients.
// MobileNetV2 on chelsea.png; the top-1 logit. A missing model or photo fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "netlens/cpu.hpp"
#include "netlens/explain.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/app/view.hpp"
#include "mobilenet_run.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

TEST(FlowStrip, BarsAreInspectGradientsFlowNorms) {
  test::MobileNetRun r;
  ASSERT_NO_FATAL_FAILURE(test::run_mobilenet_on_chelsea("flow_strip", r));
  Session& s = *r.s;
  const fs::path& model = r.model;
  const fs::path& dir = r.dir;
  const explain::Target t = explain::resolve_target(s, explain::parse_target("", explain::parse_score("logit")));
  s.backward(t.seeds(s));

  const std::string cmd = std::string("'") + NETLENS_CLI + "' inspect '" + model.string() + "' --input '" + (dir / "x.npy").string() +
                          "' --gradients --brief > '" + (dir / "inspect.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(dir / "inspect.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  const nlohmann::json& entries = j.at("gradients").at("flow").at("entries");
  ASSERT_GT(entries.size(), 50u);

  render::Context ctx(render::ContextOptions{.validation = false, .quiet = true});
  app::View v(ctx, s, {.width = 320, .height = 180, .values = viz::ValueMode::Gradient, .flow_strip = true});
  const std::map<std::string, double>& bars = v.layer_bars();
  std::set<std::string> json_flagged, shown;
  for (const auto& l : v.scene().layout.layers) shown.insert(l.tensor.name);
  size_t compared = 0;
  for (const nlohmann::json& e : entries) {
    const std::string name = e.at("tensor");
    if (!e.at("flag").get<std::string>().empty()) json_flagged.insert(name);
    auto it = bars.find(name);
    ASSERT_NE(it, bars.end()) << name << " has a flow entry but no bar";
    EXPECT_LE(rel(it->second, e.at("grad_norm").get<double>()), 1e-6) << name;
    // The same figure from the raw gradient, summed here in double.
    const Tensor g = s.gradients().fetch(name);
    double ss = 0;
    for (float q : g.to_f32_vector()) ss += double(q) * q;
    EXPECT_LE(rel(it->second, std::sqrt(ss)), 1e-6) << name;
    compared += shown.count(name);
  }
  EXPECT_EQ(bars.size(), entries.size());
  EXPECT_GT(compared, 50u) << "few shown layers carry a bar";
  const std::set<std::string> view_flagged(v.flow_flagged().begin(), v.flow_flagged().end());
  EXPECT_EQ(view_flagged, json_flagged);
  // The renderer draws the shown layers' bars on a log scale: 0.05 at the smallest non-zero norm,
  // 1 at the largest (computed here from the JSON's norms).
  const std::vector<float>& drawn = v.renderer().options().layer_bars;
  ASSERT_EQ(drawn.size(), v.scene().layout.layers.size());
  double top = 0, low = 1e300;
  for (const nlohmann::json& e : entries) {
    const double g = e.at("grad_norm").get<double>();
    top = std::max(top, g);
    if (g > 0) low = std::min(low, g);
  }
  for (size_t i = 0; i < drawn.size(); ++i) {
    auto it = bars.find(v.scene().layout.layers[i].tensor.name);
    if (it == bars.end()) EXPECT_TRUE(std::isnan(drawn[i]));
    else if (it->second == 0) EXPECT_EQ(drawn[i], 0.0f);
    else EXPECT_NEAR(drawn[i], 0.05 + 0.95 * (std::log10(it->second) - std::log10(low)) / (std::log10(top) - std::log10(low)), 1e-5);
  }
  // Back to activations: no strip.
  v.set_values(viz::ValueMode::Activation);
  EXPECT_TRUE(v.layer_bars().empty());
  EXPECT_EQ(v.renderer().options().subtitle.find("gradient L2 norm"), std::string::npos);
}

}  // namespace
