// The Explain panel's choices driven headless (ui::ExplainPanel + app::View, as the viewer's value
// modes use them): a neuron picked in 3D in pick mode becomes the target output:TENSOR:i,j,..., and
// the input slab's heat after compute() equals the heatmap.npy that `netlens explain --target ...
// --method M` (a separate process) writes for the same input; switching the method changes the slab
// to the CLI's heat of that method. MobileNetV2 on chelsea.png; tolerance 1e-6 relative (floor 1e-6
// of the map's largest value).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <filesystem>

#include "netlens/ui/explain_panel.hpp"
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

// Mismatches of every channel of the input slab against the CLI's heatmap.npy.
size_t slab_mismatches(const app::View& v, int li, const fs::path& npy) {
  const Tensor heat = read_npy(npy.string());
  EXPECT_EQ(heat.shape(), (Shape{224, 224}));
  const std::vector<float> h = heat.to_f32_vector();
  const std::vector<float>& slab = v.scene().layers[static_cast<size_t>(li)].values;
  EXPECT_EQ(slab.size(), 3u * h.size());
  float top = 0;
  for (float e : h) top = std::max(top, std::abs(e));
  EXPECT_GT(top, 0.0f);
  size_t bad = 0;
  for (size_t c = 0; c < 3; ++c)
    for (size_t p = 0; p < h.size(); ++p)
      if (!(std::abs(slab[c * h.size() + p] - h[p]) <= 1e-6f * std::max(std::abs(h[p]), 1e-6f * top))) ++bad;
  return bad;
}

TEST(ExplainPanel, PickedTargetAndMethodMatchTheCli) {
  test::MobileNetRun r;
  ASSERT_NO_FATAL_FAILURE(test::run_mobilenet_on_chelsea("explain_panel", r));
  Session& s = *r.s;
  const fs::path& model = r.model;
  const fs::path& dir = r.dir;
  const std::string& in = r.input;

  ui::ExplainPanel panel;
  // Top class first (the panel's default), so the view has gradients to show.
  s.backward(explain::resolve_target(s, explain::parse_target(panel.target_text())).seeds(s));
  render::Context ctx(render::ContextOptions{.validation = false, .quiet = true});
  app::View v(ctx, s, {.width = 320, .height = 180, .values = viz::ValueMode::Gradient});
  const viz::Layout& lay = v.scene().layout;
  const int li = lay.find(in);
  ASSERT_GE(li, 0);

  // Pick mode, then a click on a neuron of an inner 4-D layer (not the output: any tensor works).
  int pick_layer = -1;
  for (int i = static_cast<int>(lay.layers.size()) / 2; i < static_cast<int>(lay.layers.size()); ++i)
    if (lay.layers[static_cast<size_t>(i)].tensor.shape.size() == 4) {
      pick_layer = i;
      break;
    }
  ASSERT_GE(pick_layer, 0);
  const viz::VizTensor& pt = lay.layers[static_cast<size_t>(pick_layer)].tensor;
  // The layer's largest activation (so Grad-CAM on the default layer, the picked tensor itself, is
  // not all zero after its relu).
  const std::vector<float> av = s.activations().fetch(pt.name).to_f32_vector();
  const int64_t flat = std::max_element(av.begin(), av.end()) - av.begin();
  const int64_t hw = pt.shape[2] * pt.shape[3];
  v.select(pick_layer, flat);
  EXPECT_FALSE(panel.on_pick(pt.name, pt.shape, v.selection().flat)) << "not in pick mode: no change";
  EXPECT_EQ(panel.target_text(), "");
  panel.set_pick_mode(true);
  ASSERT_TRUE(panel.on_pick(lay.layers[static_cast<size_t>(v.selection().layer)].tensor.name, pt.shape, v.selection().flat));
  EXPECT_FALSE(panel.pick_mode());
  const std::string target = panel.target_text();
  EXPECT_EQ(target, "output:" + pt.name + ":0," + std::to_string(flat / hw) + "," + std::to_string(flat % hw / pt.shape[3]) + "," +
                        std::to_string(flat % pt.shape[3]));

  for (explain::Method m : {explain::Method::Saliency, explain::Method::GradCam, explain::Method::GradXInput}) {
    const std::string name = explain::method_name(m);
    SCOPED_TRACE(name);
    panel.set_method(m);
    // What the viewer does on a request: compute, give the slab the heat, show the gradient mode.
    const explain::Explanation e = panel.compute(s, target, {});
    v.set_input_heat(e.heat);
    v.set_values(viz::ValueMode::Gradient);
    const fs::path out = dir / name;
    const std::string cmd = std::string("'") + NETLENS_CLI + "' explain '" + model.string() + "' --input '" + (dir / "x.npy").string() +
                            "' --target '" + target + "' --method " + name + " --out '" + out.string() + "' > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(slab_mismatches(v, li, out / "heatmap.npy"), 0u);
  }
  // The method switch changed the slab: the last method's heat (gradient x input) is not saliency's.
  // (The picked target's receptive field is a patch of the input: compare where saliency is non-zero.)
  size_t nonzero = 0;
  for (float q : read_npy((dir / "saliency" / "heatmap.npy").string()).to_f32_vector()) nonzero += q != 0.0f;
  ASSERT_GT(nonzero, 100u);
  EXPECT_GT(slab_mismatches(v, li, dir / "saliency" / "heatmap.npy"), 3 * nonzero * 9 / 10);
}

}  // namespace
