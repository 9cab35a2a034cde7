// app::View, the one frame driver, on lavapipe with PP-OCR cls run on the CPU backend. The value
// mode is a property of the view: switching it in place (set_values) must draw exactly what a view
// made in that mode from the start draws, keep the selection, and leave the view unchanged when the
// session cannot give the values.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/viz/values.hpp"
#include "netlens/app/view.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;

namespace {

render::Context& context() {
  static render::Context ctx(
      render::ContextOptions{.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = false});
  return ctx;
}

struct ClsRun {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::unique_ptr<Session> s;
};

// ppocr cls on its sample line; with `gradients`, dS/d(every tensor) for S = the class-0 probability.
ClsRun cls_run(bool gradients) {
  ClsRun r;
  const auto model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "ppocr_cls.onnx";
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  Tensor x = load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / "line_192x48.png").string(), pp);
  r.s = std::make_unique<Session>(load_onnx(model.string()), std::vector<Backend*>{r.cpu.get()});
  r.s->prepare({{"x", x.shape()}});
  r.s->run({{"x", x}});
  if (gradients) r.s->backward({{"softmax_0.tmp_0", Tensor::from_f32(Shape{1, 2}, {1.0f, 0.0f})}});
  return r;
}

std::vector<uint8_t> frame(app::View& v) {
  v.renderer().render(v.initial_camera());
  return v.renderer().rgba();
}

size_t differing_pixels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t n = 0;
  for (size_t i = 0; i + 3 < a.size() && i + 3 < b.size(); i += 4)
    n += a[i] != b[i] || a[i + 1] != b[i + 1] || a[i + 2] != b[i + 2];
  return n;
}

class ViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "ppocr_cls.onnx"))
      GTEST_SKIP() << "ppocr_cls.onnx missing: run scripts/fetch-models.sh";
    errors_before_ = context().validation_error_count();
  }
  void TearDown() override {
    EXPECT_EQ(context().validation_error_count(), errors_before_) << "Vulkan validation errors (see stderr)";
  }
  size_t errors_before_ = 0;
};

}  // namespace

TEST_F(ViewTest, ValueModeSwitchDrawsWhatAViewMadeInThatModeDraws) {
  ClsRun run = cls_run(/*gradients=*/true);
  app::FrameSpec spec{.width = 320, .height = 200, .camera = {.view = "layer:p2o.Clip.23"}, .select = "p2o.Clip.23:0,1,2"};
  app::View v(context(), *run.s, spec);
  const std::vector<uint8_t> activations = frame(v);
  const render::Selection sel = v.selection();
  ASSERT_EQ(sel.layer, v.scene().layout.find("p2o.Clip.23"));

  v.set_values(viz::ValueMode::Gradient);
  EXPECT_EQ(v.values(), viz::ValueMode::Gradient);
  const std::vector<uint8_t> switched = frame(v);
  spec.values = viz::ValueMode::Gradient;
  app::View fresh(context(), *run.s, spec);
  const std::vector<uint8_t> made = frame(fresh);
  EXPECT_EQ(differing_pixels(switched, made), 0u) << "set_values(Gradient) vs a view made in gradient mode";
  // The gradient frame shows other values (and names them in the legend).
  EXPECT_GT(differing_pixels(switched, activations), switched.size() / 4 / 20);
  // The selection survives the switch (same neuron, same highlighted regions).
  EXPECT_EQ(v.selection().layer, sel.layer);
  EXPECT_EQ(v.selection().flat, sel.flat);
  EXPECT_EQ(v.selection().regions.size(), sel.regions.size());
  // The scene holds dS/d(neuron): compare one value with the session's gradient directly.
  const int layer = sel.layer;
  const Tensor g = run.s->gradients().fetch("p2o.Clip.23");
  EXPECT_EQ(v.scene().value(layer, 5), g.data_as<float>()[5]);

  v.set_values(viz::ValueMode::Activation);
  EXPECT_EQ(differing_pixels(frame(v), activations), 0u) << "back to activations";
}

TEST_F(ViewTest, ValueModeTheSessionCannotGiveLeavesTheViewAsItWas) {
  ClsRun run = cls_run(/*gradients=*/false);
  app::FrameSpec spec{.width = 320, .height = 200};
  app::View v(context(), *run.s, spec);
  const std::vector<uint8_t> before = frame(v);
  EXPECT_THROW(v.set_values(viz::ValueMode::Attribution), Error);
  EXPECT_EQ(v.values(), viz::ValueMode::Activation);
  EXPECT_EQ(differing_pixels(frame(v), before), 0u);
}

TEST_F(ViewTest, LiveResultsAreRefusedWhileTheViewShowsGradients) {
  // A live result carries activations: shown under a gradient legend it would mislabel every cell.
  ClsRun run = cls_run(/*gradients=*/true);
  app::View v(context(), *run.s, {.width = 160, .height = 100, .values = viz::ValueMode::Gradient});
  const std::vector<uint8_t> before = frame(v);
  viz::Scene activations = viz::build_scene(v.scene().layout, viz::value_fetch(*run.s, viz::ValueMode::Activation));
  try {
    v.show_scene(std::move(activations));
    ADD_FAILURE() << "a live activation scene was shown in gradient mode";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
  EXPECT_EQ(differing_pixels(frame(v), before), 0u);
  // In activation mode the same scene is taken, and draws what the view drew from the session.
  v.set_values(viz::ValueMode::Activation);
  const std::vector<uint8_t> from_session = frame(v);
  v.show_scene(viz::build_scene(v.scene().layout, viz::value_fetch(*run.s, viz::ValueMode::Activation)));
  EXPECT_EQ(differing_pixels(frame(v), from_session), 0u);
}

TEST_F(ViewTest, BadFlagsAreOneUsageErrorEach) {
  ClsRun run = cls_run(/*gradients=*/false);
  auto usage = [&](app::FrameSpec spec) {
    try {
      app::View v(context(), *run.s, spec);
    } catch (const Error& e) {
      return e.kind() == ErrorKind::Usage;
    }
    return false;
  };
  EXPECT_TRUE(usage({.camera = {.view = "layer:nope"}}));
  EXPECT_TRUE(usage({.camera = {.view = "sideways"}}));
  EXPECT_TRUE(usage({.select = "p2o.Clip.23:99999999"}));
  EXPECT_TRUE(usage({.select = "nope:0"}));
}

// Hierarchy in the viewer (issue 13) on ResNet-50 run on a real photo (chelsea): started with
// --collapse auto (22 entries: 16 bottleneck blocks), a collapsed block shows and selects its
// output tensor's real values; a click on it (expand_block) shows the block's 7 layers, with their
// activations; collapsing from one of them (collapse_block, the key/context action) restores the
// auto view; a layer that is not a block does not expand.
TEST_F(ViewTest, CollapsedBlockSelectsAndExpandsByClickAndCollapsesBack) {
  const auto model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "resnet50.onnx";
  ASSERT_TRUE(std::filesystem::exists(model)) << "resnet50.onnx missing: scripts/export-torchvision.sh";
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  ImagePreprocess pp{.width = 224, .height = 224, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  Tensor x = load_image("/usr/lib/python3/dist-packages/skimage/data/chelsea.png", pp);
  Session s(load_onnx(model.string()), {cpu.get()});
  const std::string in = s.graph().inputs.at(0).name;
  s.prepare({{in, x.shape()}});
  s.run({{in, x}});
  app::View v(context(), s, {.width = 320, .height = 200, .collapse = "auto"});
  ASSERT_EQ(v.layout().layers.size(), 22u);
  auto index_of_group = [&](const std::string& g) {
    for (size_t i = 0; i < v.layout().layers.size(); ++i)
      if (v.layout().layers[i].tensor.group == g) return static_cast<int>(i);
    return -1;
  };
  const int b = index_of_group("layer2/layer2.1");
  ASSERT_GE(b, 0);
  const std::string out = v.layout().layers[static_cast<size_t>(b)].tensor.name;
  // The block's values are its output tensor's, read directly from the session.
  const std::vector<float> ref = s.activations().fetch(out).to_f32_vector();
  const auto& shown = v.scene().layers[static_cast<size_t>(b)].values;
  ASSERT_EQ(shown.size(), ref.size());
  for (size_t i = 0; i < ref.size(); i += 997) EXPECT_EQ(shown[i], ref[i]) << i;
  v.select(b, 1234);
  EXPECT_EQ(v.selection().layer, b);
  EXPECT_EQ(v.selection().flat, 1234);
  EXPECT_FALSE(frame(v).empty());
  // Click on the block: its layers appear (conv1, relu, conv2, relu, conv3, add, relu).
  EXPECT_FALSE(v.expand_block(0));  // the input is no block
  ASSERT_TRUE(v.expand_block(b));
  EXPECT_EQ(v.layout().layers.size(), 28u);
  EXPECT_EQ(v.selection().layer, -1);
  int members = 0, conv = -1;
  for (size_t i = 0; i < v.layout().layers.size(); ++i) {
    const auto& t = v.layout().layers[i].tensor;
    if (t.node.find("/layer2/layer2.1/") == std::string::npos) continue;
    ++members;
    EXPECT_EQ(t.folded, 0);
    if (conv < 0 && t.op == "Conv") conv = static_cast<int>(i);
    const auto& vals = v.scene().layers[i].values;
    const auto r = s.activations().fetch(t.name).to_f32_vector();
    ASSERT_EQ(vals.size(), r.size());
    EXPECT_EQ(vals[r.size() / 2], r[r.size() / 2]) << t.name;
  }
  EXPECT_EQ(members, 7);
  ASSERT_GE(conv, 0);
  v.select(conv, 7);
  EXPECT_EQ(v.selection().layer, conv);
  EXPECT_FALSE(frame(v).empty());
  // Collapse the focused layer's block: back to the 22 entries of auto.
  ASSERT_TRUE(v.collapse_block(conv));
  EXPECT_EQ(v.layout().layers.size(), 22u);
  EXPECT_GE(index_of_group("layer2/layer2.1"), 0);
  EXPECT_EQ(v.spec().collapse.find("layer2/layer2.1") != std::string::npos, true);
}

namespace {

// A live result is laid out over every shown tensor (the pipeline's layout); a collapsed view (the
// start rule for models over 150 layers collapses ppocr cls's 197 into blocks) shows a subset.
// show_scene takes each shown layer's values from the result by tensor name: the frame then equals
// a view made afresh from the session in the same collapsed state.
TEST_F(ViewTest, CollapsedViewTakesLiveResultsOfTheFullLayout) {
  ClsRun r = cls_run(false);
  Session& s = *r.s;
  app::View v(context(), s, {.width = 320, .height = 200, .collapse = "auto"});
  const size_t shown = v.layout().layers.size();
  ASSERT_LT(shown, viz::select_tensors(s.graph(), s.planned()).size()) << "auto collapses ppocr cls";
  const std::vector<uint8_t> before = frame(v);
  // A second input: a photo resized to the line's size, run on the same session.
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  s.run({{"x", load_image("/usr/lib/python3/dist-packages/skimage/data/chelsea.png", pp)}});
  viz::Scene full = viz::build_scene(viz::layout_tensors(viz::select_tensors(s.graph(), s.planned())),
                                     viz::value_fetch(s, viz::ValueMode::Activation));
  v.show_scene(std::move(full));
  ASSERT_EQ(v.layout().layers.size(), shown);
  app::View fresh(context(), s, {.width = 320, .height = 200, .collapse = "auto"});
  for (size_t i = 0; i < shown; ++i) {
    EXPECT_EQ(v.scene().layers[i].values, fresh.scene().layers[i].values) << v.layout().layers[i].tensor.name;
    EXPECT_EQ(v.scene().layers[i].scale.lo, fresh.scene().layers[i].scale.lo) << i;
    EXPECT_EQ(v.scene().layers[i].scale.hi, fresh.scene().layers[i].scale.hi) << i;
  }
  const std::vector<uint8_t> after = frame(v);
  EXPECT_EQ(differing_pixels(after, frame(fresh)), 0u);
  EXPECT_GT(differing_pixels(after, before), 100u) << "the new input shows";
}

}  // namespace
