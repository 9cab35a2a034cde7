// The input slab's heat in the viewer's gradient modes (app::View): every channel of the model
// input's volume holds the pixel's heat, equal to the heatmap.npy that `netlens explain --method
// saliency` (gradient mode) or `--method gradxinput` (attribution mode) writes for the same input and
// target — the CLI run as a separate process. MobileNetV2 on chelsea.png, top-1 logit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

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

TEST(InputHeat, InputSlabIsExplainsHeatmap) {
  test::MobileNetRun r;
  ASSERT_NO_FATAL_FAILURE(test::run_mobilenet_on_chelsea("input_heat", r));
  Session& s = *r.s;
  const fs::path& model = r.model;
  const fs::path& dir = r.dir;
  const std::string& in = r.input;
  const explain::Target t = explain::resolve_target(s, explain::parse_target("", explain::parse_score("logit")));
  s.backward(t.seeds(s));

  render::Context ctx(render::ContextOptions{.validation = false, .quiet = true});
  app::View v(ctx, s, {.width = 320, .height = 180, .values = viz::ValueMode::Gradient});
  const int li = v.scene().layout.find(in);
  ASSERT_GE(li, 0) << "the input is not a shown layer";
  for (const char* method : {"saliency", "gradxinput"}) {
    SCOPED_TRACE(method);
    if (std::string(method) == "gradxinput") v.set_values(viz::ValueMode::Attribution);
    const fs::path out = dir / method;
    const std::string cmd = std::string("'") + NETLENS_CLI + "' explain '" + model.string() + "' --input '" +
                            (dir / "x.npy").string() + "' --method " + method + " --out '" + out.string() + "' > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const Tensor heat = read_npy((out / "heatmap.npy").string());
    ASSERT_EQ(heat.shape(), (Shape{224, 224}));
    const std::vector<float> h = heat.to_f32_vector();
    const std::vector<float>& slab = v.scene().layers[static_cast<size_t>(li)].values;
    ASSERT_EQ(slab.size(), 3u * 224 * 224);
    float top = 0;
    for (float e : h) top = std::max(top, std::abs(e));
    ASSERT_GT(top, 0.0f);
    size_t bad = 0;
    for (size_t c = 0; c < 3; ++c)
      for (size_t p = 0; p < h.size(); ++p)
        // 1e-6 relative, with a floor of 1e-6 of the map's largest for values near zero.
        if (std::abs(slab[c * h.size() + p] - h[p]) > 1e-6f * std::max(std::abs(h[p]), 1e-6f * top)) ++bad;
    EXPECT_EQ(bad, 0u);
    // Not the raw gradient: the slab's channels are equal (one heat per pixel).
    EXPECT_EQ(slab[100], slab[h.size() + 100]);
  }
}

}  // namespace
