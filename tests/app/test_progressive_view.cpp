// The pieces of a progressive run and the model tree's group rows (issue 13), on PP-OCR cls (197
// shown tensors, structural groups) run on the CPU backend, lavapipe for the panels:
//  - every shown tensor's piece (app::fill_tensor) patched into a zero scene gives the bytes of a
//    complete build (codes, pyramids, scales, values), for a collapsed layout too; app::structure_scene
//    holds no values or codes, the zero scene's scales, and patched gives the complete build's values;
//  - app::BackgroundRun on a prepared, never-run session: pieces for every wanted tensor, node counts
//    rising to the total, the patched scene equal to a complete build of a plain run; want() after a
//    layout change brings the computed tensors again; a cancel set before the first node stops the
//    run with no node run and the session runs normally afterwards;
//  - the model tree: a click on a folded group's arrow asks to unfold exactly that group, and doing it
//    (app::set_group_collapsed) gives the layout a click on the block in 3D gives (View::expand_block);
//    folding through the tree gives the layout of the X key (View::collapse_block) on one of the
//    group's own layers; a click on a group's name asks to fly there and its camera sees every one
//    of its layers.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "netlens/app/progressive.hpp"
#include "netlens/app/view.hpp"
#include "netlens/app/viewer_groups.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/ui/imgui_layer.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/viz/values.hpp"

using namespace netlens;

namespace {

render::Context& context() {
  static render::Context ctx(render::ContextOptions{.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = false});
  return ctx;
}

const std::filesystem::path kModel = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "ppocr_cls.onnx";

Tensor cls_input() {
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  return load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / "line_192x48.png").string(), pp);
}

struct Cls {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::unique_ptr<Session> s;
  Tensor x = cls_input();
};

// A prepared session; run unless `run` is false.
std::unique_ptr<Cls> cls(bool run) {
  auto r = std::make_unique<Cls>();
  r->s = std::make_unique<Session>(load_onnx(kModel.string()), std::vector<Backend*>{r->cpu.get()});
  r->s->prepare({{"x", r->x.shape()}});
  if (run) r->s->run({{"x", r->x}});
  return r;
}

void expect_same_scene(const viz::Scene& a, const viz::Scene& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  EXPECT_TRUE(a.codes0 == b.codes0) << "level-0 codes differ";
  EXPECT_TRUE(a.codes_max == b.codes_max) << "max pyramid codes differ";
  EXPECT_TRUE(a.codes_mean == b.codes_mean) << "mean pyramid codes differ";
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].scale.lo, b.layers[i].scale.lo) << a.layout.layers[i].tensor.name;
    EXPECT_EQ(a.layers[i].scale.hi, b.layers[i].scale.hi) << a.layout.layers[i].tensor.name;
    EXPECT_EQ(a.layers[i].scale.kind, b.layers[i].scale.kind) << a.layout.layers[i].tensor.name;
    EXPECT_TRUE(a.layers[i].values == b.layers[i].values) << a.layout.layers[i].tensor.name;
  }
}

viz::Scene zeros_scene(const viz::Layout& l, const viz::SceneOptions& o) {
  std::vector<std::vector<float>> z;
  for (const auto& v : l.layers) z.emplace_back(static_cast<size_t>(v.dims.count), 0.0f);
  return viz::build_scene_from_values(l, std::move(z), o);
}

class ProgressiveView : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kModel)) << "ppocr_cls.onnx missing: run scripts/fetch-models.sh";
  }
};

}  // namespace

TEST_F(ProgressiveView, PiecesPatchedIntoAZeroSceneEqualACompleteBuild) {
  auto r = cls(true);
  const viz::SceneOptions opts = viz::mode_scene_options(viz::ValueMode::Activation, {});
  const std::vector<viz::VizTensor> all = viz::select_tensors(r->s->graph(), r->s->planned());
  std::vector<std::shared_ptr<const app::FilledTensor>> pieces;
  for (const auto& t : all) pieces.push_back(std::make_shared<const app::FilledTensor>(app::fill_tensor(*r->s, t, opts)));
  for (const auto& p : pieces) EXPECT_TRUE(p->scene.has_codes()) << p->name;  // made on the run's thread
  for (const std::string collapse : {"none", "auto"}) {
    SCOPED_TRACE(collapse);
    const viz::Layout layout = viz::layout_tensors(viz::shown_tensors(r->s->graph(), r->s->planned(), collapse).tensors);
    const viz::Scene full = viz::build_scene(layout, viz::value_fetch(*r->s, viz::ValueMode::Activation), opts);
    viz::Scene zero = zeros_scene(layout, opts);
    // The structure scene holds neither values nor codes (the renderer draws it as this zero scene:
    // tests/app/test_structure_frame.cpp), only its scales and pyramid depths.
    viz::Scene structure = app::structure_scene(layout, opts);
    EXPECT_FALSE(structure.has_codes());
    EXPECT_EQ(structure.host_bytes(), 0u);
    for (size_t i = 0; i < structure.layers.size(); ++i) {
      EXPECT_FALSE(structure.has_values(static_cast<int>(i))) << i;
      EXPECT_EQ(structure.layers[i].levels, zero.layers[i].levels) << i;
      EXPECT_EQ(structure.layers[i].scale.kind, zero.layers[i].scale.kind) << i;
      EXPECT_EQ(structure.layers[i].scale.lo, zero.layers[i].scale.lo) << i;
      EXPECT_EQ(structure.layers[i].scale.hi, zero.layers[i].scale.hi) << i;
    }
    // Pieces patched into a scene with codes (the zero scene) give the complete build's bytes; into
    // the structure scene, its values and scales, from which the renderer makes the same codes.
    EXPECT_EQ(app::patch_scene(zero, pieces), layout.layers.size());
    expect_same_scene(zero, full);
    EXPECT_EQ(app::patch_scene(structure, pieces), layout.layers.size());
    std::vector<std::vector<float>> values;
    for (const auto& L : structure.layers) values.push_back(L.values);
    expect_same_scene(viz::build_scene_from_values(layout, std::move(values), opts), full);
    if (collapse == "auto") EXPECT_LT(layout.layers.size(), all.size()) << "auto collapsed nothing";
  }
}

TEST(ProgressivePieces, AnUpdateTakesThePiecesWithinItsNeuronBudgetAndAtLeastOne) {
  auto piece = [](int64_t c, int64_t h, int64_t w) {
    app::FilledTensor p;
    p.name = "t" + std::to_string(c * h * w);
    p.scene.layout.layers.push_back(viz::LayerVolume{.dims = viz::VolumeDims{.C = c, .H = h, .W = w, .count = c * h * w}});
    return std::make_shared<const app::FilledTensor>(std::move(p));
  };
  const std::vector<std::shared_ptr<const app::FilledTensor>> v = {piece(4, 10, 10), piece(2, 10, 10), piece(1, 50, 10),
                                                                    piece(3, 10, 10)};  // 400, 200, 500, 300 neurons
  EXPECT_EQ(app::pieces_within(v, 600), 2u);   // 400 + 200 fit exactly
  EXPECT_EQ(app::pieces_within(v, 599), 1u);
  EXPECT_EQ(app::pieces_within(v, 1100), 3u);
  EXPECT_EQ(app::pieces_within(v, 1 << 20), 4u);
  EXPECT_EQ(app::pieces_within(v, 10), 1u);    // a piece over the budget goes alone
  EXPECT_EQ(app::pieces_within({}, 600), 0u);
}

TEST_F(ProgressiveView, PartialSceneFillsExactlyTheLayersWhoseNodeRan) {
  auto r = cls(true);
  const viz::SceneOptions opts = viz::mode_scene_options(viz::ValueMode::Activation, {});
  const viz::Layout layout = viz::layout_tensors(viz::select_tensors(r->s->graph(), r->s->planned()));
  const viz::Scene full = viz::build_scene(layout, viz::value_fetch(*r->s, viz::ValueMode::Activation), opts);
  const size_t done = r->s->graph().nodes.size() / 2;
  const viz::Scene part = app::partial_scene(*r->s, layout, opts, done);
  size_t filled = 0;
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    const bool f = app::layer_filled(*r->s, layout.layers[i].tensor.name, done);
    filled += f;
    // Filled: the complete build's values and scale. The others hold no host values (unfilled: drawn
    // in the zero colour, picked as NaN), not zeros that a pick would report as values.
    EXPECT_EQ(part.has_values(static_cast<int>(i)), f) << layout.layers[i].tensor.name;
    EXPECT_FALSE(part.layers[i].codes) << "a piece kept alive: " << layout.layers[i].tensor.name;
    if (f) {
      EXPECT_TRUE(part.layers[i].values == full.layers[i].values) << layout.layers[i].tensor.name;
      EXPECT_EQ(part.layers[i].scale.lo, full.layers[i].scale.lo) << layout.layers[i].tensor.name;
      EXPECT_EQ(part.layers[i].scale.hi, full.layers[i].scale.hi) << layout.layers[i].tensor.name;
    }
  }
  EXPECT_FALSE(part.has_codes());  // the renderer makes the filled layers' codes from their values
  EXPECT_GT(filled, 0u);
  EXPECT_LT(filled, layout.layers.size());
}

TEST_F(ProgressiveView, BackgroundRunDeliversEveryWantedLayerAndCancels) {
  auto ref = cls(true);
  const viz::SceneOptions opts = viz::mode_scene_options(viz::ValueMode::Activation, {});
  const viz::Layout layout = viz::layout_tensors(viz::select_tensors(ref->s->graph(), ref->s->planned()));
  const viz::Scene full = viz::build_scene(layout, viz::value_fetch(*ref->s, viz::ValueMode::Activation), opts);
  std::vector<std::string> names;
  for (const auto& l : layout.layers) names.push_back(l.tensor.name);

  auto r = cls(false);
  viz::Scene scene = zeros_scene(layout, opts);
  {
    app::BackgroundRun run(*r->s, {{"x", r->x}}, viz::select_tensors(r->s->graph(), r->s->planned()), names, opts);
    size_t last_done = 0, patched = 0;
    for (int i = 0; i < 60000; ++i) {  // a hang guard (10 min), not a timing assertion
      const app::RunProgress p = run.progress();
      EXPECT_GE(p.nodes_done, last_done);
      last_done = p.nodes_done;
      patched += app::patch_scene(scene, run.take());
      if (p.ended()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    run.join();
    patched += app::patch_scene(scene, run.take());
    const app::RunProgress p = run.progress();
    ASSERT_EQ(p.state, app::RunProgress::State::Finished) << p.message;
    EXPECT_EQ(p.nodes_done, r->s->graph().nodes.size());
    EXPECT_EQ(p.tensors_filled, p.tensors_total);
    EXPECT_EQ(patched, layout.layers.size());
    expect_same_scene(scene, full);
    // A new layout after the run: nothing more comes (the thread has ended).
    run.want(names);
    EXPECT_TRUE(run.take().empty());
  }
  // Cancelled before the first node: no node runs, the session stays usable.
  auto c = cls(false);
  {
    app::BackgroundRun run(*c->s, {{"x", c->x}}, viz::select_tensors(c->s->graph(), c->s->planned()), names, opts);
    run.cancel();
    run.join();
    const app::RunProgress p = run.progress();
    EXPECT_EQ(p.state, app::RunProgress::State::Cancelled);
    EXPECT_EQ(p.nodes_done, 0u);
    EXPECT_LT(p.nodes_done, p.nodes_total);
    EXPECT_NE(p.message.find("run cancelled before node"), std::string::npos) << p.message;
  }
  c->s->run({{"x", c->x}});
  const std::string out = c->s->graph().outputs.front().name;
  const Tensor a = c->s->activations().fetch(out), b = ref->s->activations().fetch(out);
  ASSERT_EQ(a.numel(), b.numel());
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.data_as<float>()[i], b.data_as<float>()[i]);
}

TEST_F(ProgressiveView, BackgroundRunBringsComputedLayersAgainAfterALayoutChange) {
  const viz::SceneOptions opts = viz::mode_scene_options(viz::ValueMode::Activation, {});
  // Only the input wanted at first; every tensor once the run is past half of its nodes. The test
  // must see the run between its half and its end: on a loaded machine it may not, so a run that
  // ended unseen is tried again (up to 5 times).
  bool asked = false;
  for (int attempt = 0; attempt < 5 && !asked; ++attempt) {
    auto r = cls(false);
    const std::vector<viz::VizTensor> all = viz::select_tensors(r->s->graph(), r->s->planned());
    app::BackgroundRun run(*r->s, {{"x", r->x}}, all, {all.front().name}, opts);
    std::set<std::string> got;
    for (int i = 0; i < 600000; ++i) {  // a hang guard, not a timing assertion
      const app::RunProgress p = run.progress();
      for (const auto& piece : run.take()) got.insert(piece->name);
      if (!asked && !p.ended() && p.nodes_done * 2 >= p.nodes_total) {
        std::vector<std::string> names;
        for (const auto& t : all) names.push_back(t.name);
        run.want(names);
        asked = true;
      }
      if (p.ended()) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    run.join();
    for (const auto& piece : run.take()) got.insert(piece->name);
    ASSERT_EQ(run.progress().state, app::RunProgress::State::Finished);
    // Asked again before the end: every tensor computed by then came, and every later one.
    if (asked) EXPECT_EQ(got.size(), all.size());
  }
  EXPECT_TRUE(asked) << "five runs ended before the test saw half of their nodes";
}

TEST_F(ProgressiveView, ModelTreeGroupRowsFoldAndUnfoldAsTheClickAndTheXKeyDo) {
  auto r = cls(true);
  // A folded group whose block is shown: the first group of the auto level.
  const std::vector<viz::VizTensor> all = viz::select_tensors(r->s->graph(), r->s->planned());
  const viz::Hierarchy h = viz::build_hierarchy(all);
  ASSERT_FALSE(h.groups.empty());
  const std::vector<int> autos = viz::auto_collapse(h, all.size());
  ASSERT_FALSE(autos.empty());
  const std::string path = h.groups[static_cast<size_t>(autos.front())].path;
  const std::string spec = viz::collapse_spec(h, autos);

  app::FrameSpec fs{.width = 1280, .height = 800, .collapse = spec};
  app::View tree_view(context(), *r->s, fs);
  tree_view.open_panels(app::PanelSpec{}, -1);
  ui::Panels& panels = *tree_view.panels();
  std::vector<std::pair<std::string, bool>> asked;
  std::vector<std::string> flown;
  panels.actions.collapse_group = [&](const std::string& g, bool collapse) { asked.emplace_back(g, collapse); };
  panels.actions.focus_group = [&](const std::string& g) { flown.push_back(g); };
  auto frame = [&] { tree_view.draw_panels(true, [](const std::function<void()>& d) { d(); return true; }); };
  frame();
  frame();
  ASSERT_TRUE(panels.group_rows().count(path)) << "no tree row for " << path;
  const float ps = tree_view.gui()->pixel_scale(), fs_px = tree_view.gui()->font_px();
  auto click = [&](float x, float y) {
    const ImVec2 p(x * ps, y * ps);
    tree_view.gui()->set_mouse(p, false);
    frame();
    tree_view.gui()->set_mouse(p, true);
    frame();
    tree_view.gui()->set_mouse(p, false);
    frame();
  };
  {
    const ImVec4 row = panels.group_rows().at(path);
    click(std::ceil(row.x + 0.5f * fs_px / ps + 2.0f), std::ceil(0.5f * (row.y + row.w)));  // the arrow
  }
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], std::make_pair(path, false)) << "the arrow of a folded group asks to unfold it";
  EXPECT_TRUE(flown.empty()) << "the arrow does not fly";
  ASSERT_TRUE(app::set_group_collapsed(tree_view, path, false));

  // The same unfold by a click on the block in 3D (View::expand_block).
  app::View click_view(context(), *r->s, fs);
  const int block = app::group_block(click_view.layout(), path);
  ASSERT_GE(block, 0);
  ASSERT_TRUE(click_view.expand_block(block));
  auto names = [](const app::View& v) {
    std::vector<std::string> n;
    for (const auto& l : v.layout().layers) n.push_back(l.tensor.name + "|" + l.tensor.group);
    return n;
  };
  EXPECT_EQ(tree_view.spec().collapse, click_view.spec().collapse);
  EXPECT_EQ(names(tree_view), names(click_view));
  for (size_t i = 0; i < tree_view.layout().layers.size() && i < click_view.layout().layers.size(); ++i)
    EXPECT_EQ(tree_view.layout().layers[i].origin, click_view.layout().layers[i].origin) << i;

  // A click on the group's name (past the arrow) asks to fly there; its camera sees every layer of it.
  frame();
  frame();
  ASSERT_TRUE(panels.group_rows().count(path));
  {
    const ImVec4 row = panels.group_rows().at(path);
    click(std::ceil(row.x + 2.5f * fs_px / ps), std::ceil(0.5f * (row.y + row.w)));
  }
  ASSERT_EQ(flown, std::vector<std::string>{path});
  const std::vector<int> members = app::group_layers(tree_view, path);
  ASSERT_GT(members.size(), 1u);
  const auto cam = app::group_camera(tree_view, path, 1280.0f / 800.0f);
  ASSERT_TRUE(cam.has_value());
  const viz::Layout& l = tree_view.layout();
  const glm::mat4 vp = viz::camera_view_proj(*cam, 1280.0f / 800.0f, viz::scene_radius(l));
  for (int m : members) {
    const auto px = viz::project_to_pixel(vp, l.layers[static_cast<size_t>(m)].center(), 1280, 800);
    ASSERT_TRUE(px.has_value()) << l.layers[static_cast<size_t>(m)].tensor.name;
    EXPECT_GE(px->x, 0.0f);
    EXPECT_LE(px->x, 1280.0f);
    EXPECT_GE(px->y, 0.0f);
    EXPECT_LE(px->y, 800.0f);
  }

  // Folding it again through the tree equals the X key on one of its own layers.
  int own = -1;
  for (int m : members)
    if (l.layers[static_cast<size_t>(m)].tensor.folded == 0) {
      std::vector<viz::VizTensor> a2 = viz::select_tensors(r->s->graph(), r->s->planned());
      for (size_t k = 0; k < a2.size(); ++k)
        if (a2[k].name == l.layers[static_cast<size_t>(m)].tensor.name && h.path_of(static_cast<int>(k)) == path) own = m;
    }
  ASSERT_GE(own, 0) << "group " << path << " has no layer of its own";
  app::View x_view(context(), *r->s, app::FrameSpec{.width = 1280, .height = 800, .collapse = tree_view.spec().collapse});
  ASSERT_TRUE(x_view.collapse_block(own));
  ASSERT_TRUE(app::set_group_collapsed(tree_view, path, true));
  EXPECT_EQ(tree_view.spec().collapse, x_view.spec().collapse);
  EXPECT_EQ(names(tree_view), names(x_view));
  EXPECT_EQ(tree_view.spec().collapse, spec) << "folding back gives the start";
}
