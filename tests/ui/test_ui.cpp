// UI tests. FeatureGrid: every texel checked against the neuron it shows, coloured directly with
// viz::encode + viz::decode_color (the 3D view's mapping), gaps transparent, sorting by the keys.
// `netlens render --ui` (lavapipe, validation layers on: a validation error makes the command fail):
// every panel's window, as ImGui reports it (--ui-rects), holds panel-background pixels and
// text/plot pixels; the same rectangles of the same model rendered without --ui do not (so the
// pixels are the panels', not the scene's); the centre still shows the network.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>
#include <stb_image.h>

#include "netlens/viz/colormap.hpp"
#include "netlens/ui/feature_maps.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/viz/camera.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

std::array<uint8_t, 4> expected_texel(const viz::ColorScale& s, float v) {
  glm::vec3 c = viz::decode_color(s.kind, viz::encode(v, s));
  return {static_cast<uint8_t>(std::lround(std::clamp(c.x, 0.0f, 1.0f) * 255.0f)),
          static_cast<uint8_t>(std::lround(std::clamp(c.y, 0.0f, 1.0f) * 255.0f)),
          static_cast<uint8_t>(std::lround(std::clamp(c.z, 0.0f, 1.0f) * 255.0f)), 255};
}

std::array<uint8_t, 4> texel(const ui::FeatureGrid& g, int x, int y) {
  const uint8_t* p = &g.rgba[(size_t(y) * size_t(g.width) + size_t(x)) * 4];
  return {p[0], p[1], p[2], p[3]};
}

}  // namespace

TEST(FeatureGrid, EveryTexelIsItsNeuronsColourAndGapsAreTransparent) {
  viz::VolumeDims d{.C = 7, .H = 3, .W = 5, .count = 7 * 3 * 5};
  std::vector<float> v(static_cast<size_t>(d.count));
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (auto& x : v) x = n(rng);
  v[4] = 0.0f;                 // exact zero: its own colour
  v[11] = std::nanf("");       // non-finite: its own colour
  viz::ColorScale s = viz::robust_scale(v);
  ASSERT_EQ(s.kind, viz::ColorMapKind::Diverging);
  for (float aspect : {0.3f, 1.0f, 4.0f}) {
    ui::FeatureGrid g = ui::feature_grid(d, v, s, ui::ChannelOrder::Index, {}, aspect);
    ASSERT_EQ(g.order.size(), 7u);
    EXPECT_EQ(g.width, g.cols * 6 - 1);
    EXPECT_EQ(g.height, g.rows * 4 - 1);
    EXPECT_GE(g.cols * g.rows, 7);
    EXPECT_LT((g.rows - 1) * g.cols, 7) << "an empty last row";
    int painted = 0;
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x) {
        const int tx = x / 6, ty = y / 4, cx = x % 6, cy = y % 4;
        const size_t t = size_t(ty * g.cols + tx);
        auto got = texel(g, x, y);
        if (cx == 5 || cy == 3 || t >= g.order.size()) {
          EXPECT_EQ(got[3], 0) << "gap texel " << x << "," << y << " is not transparent";
          continue;
        }
        const int64_t c = g.order[t];
        EXPECT_EQ(c, static_cast<int64_t>(t)) << "index order";
        const float val = v[size_t((c * d.H + cy) * d.W + cx)];
        EXPECT_EQ(got, expected_texel(s, val)) << "channel " << c << " (" << cy << ", " << cx << ")";
        ++painted;
      }
    EXPECT_EQ(painted, 7 * 15);
  }
  // The column count maximises the tile size in the box: a wide box gets one row.
  EXPECT_EQ(ui::feature_grid(d, v, s, ui::ChannelOrder::Index, {}, 100.0f).rows, 1);
  EXPECT_EQ(ui::feature_grid(d, v, s, ui::ChannelOrder::Index, {}, 0.01f).cols, 1);
}

TEST(FeatureGrid, SortsByKeyDescendingWithNaNLastAndKeepsTheBudget) {
  viz::VolumeDims d{.C = 5, .H = 2, .W = 2, .count = 20};
  std::vector<float> v(20);
  std::iota(v.begin(), v.end(), 0.0f);
  viz::ColorScale s = viz::robust_scale(v);
  std::vector<float> key = {0.5f, std::nanf(""), 3.0f, 0.5f, -1.0f};
  ui::FeatureGrid g = ui::feature_grid(d, v, s, ui::ChannelOrder::MeanDesc, key, 10.0f);
  EXPECT_EQ(g.order, (std::vector<int64_t>{2, 0, 3, 4, 1}));  // ties keep channel order
  // Tile 0 shows channel 2: its first texel is value 8.
  EXPECT_EQ(texel(g, 0, 0), expected_texel(s, 8.0f));
  EXPECT_EQ(g.tile_of(1), 4);
  // Budget: 3 tiles of (2+1)x(2+1) texels.
  ui::FeatureGrid b = ui::feature_grid(d, v, s, ui::ChannelOrder::Index, {}, 1.0f, 27);
  EXPECT_EQ(b.order.size(), 3u);
  EXPECT_EQ(b.channels, 5);
  EXPECT_EQ(b.tile_of(4), -1);
}

TEST(ColourMatrix, MatchesTheSceneColours) {
  std::vector<float> m = {-2.0f, -0.5f, 0.0f, 0.25f, 1.0f, 3.0f};
  viz::ColorScale s{viz::ColorMapKind::Diverging, -1.0f, 1.0f};
  std::vector<uint8_t> rgba = ui::colour_matrix(2, 3, m, s);
  ASSERT_EQ(rgba.size(), 24u);
  for (size_t i = 0; i < m.size(); ++i) {
    auto e = expected_texel(s, m[i]);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(rgba[i * 4 + size_t(k)], e[size_t(k)]) << i;
  }
}

// ------------------------------------------------------------------------------------------------
namespace {

struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> px;  // RGB
  const uint8_t* at(int x, int y) const { return &px[(size_t(y) * size_t(w) + size_t(x)) * 3]; }
};

Image load_png(const std::string& path) {
  Image im;
  int n = 0;
  uint8_t* d = stbi_load(path.c_str(), &im.w, &im.h, &n, 3);
  if (!d) return im;
  im.px.assign(d, d + size_t(im.w) * size_t(im.h) * 3);
  stbi_image_free(d);
  return im;
}

struct RegionStats {
  double panel_bg = 0;  // share of pixels within ±2 of the panel background
  double ink = 0;       // share of text/plot/texture pixels: some channel ≥ 110
  double colour = 0;    // share of saturated pixels (max − min channel ≥ 60): colour maps, plots
};

// The panels' window background: opaque ImGui WindowBg (0.10, 0.11, 0.14) = (26, 28, 36) in 8 bits
// (ImGui rounds v·255 + 0.5); ±2 allows for rounding, and stays clear of the scene's background
// gradient (at most (17, 20, 27)).
RegionStats region_stats(const Image& im, float x0, float y0, float w, float h) {
  RegionStats r;
  int64_t n = 0, bg = 0, ink = 0, col = 0;
  const int xa = std::max(0, int(std::ceil(x0))), ya = std::max(0, int(std::ceil(y0)));
  const int xb = std::min(im.w, int(std::floor(x0 + w))), yb = std::min(im.h, int(std::floor(y0 + h)));
  for (int y = ya; y < yb; ++y)
    for (int x = xa; x < xb; ++x) {
      const uint8_t* p = im.at(x, y);
      ++n;
      if (std::abs(int(p[0]) - 26) <= 2 && std::abs(int(p[1]) - 28) <= 2 && std::abs(int(p[2]) - 36) <= 2) ++bg;
      const int mx = std::max({p[0], p[1], p[2]}), mn = std::min({p[0], p[1], p[2]});
      if (mx >= 110) ++ink;
      if (mx - mn >= 60) ++col;
    }
  if (n) {
    r.panel_bg = double(bg) / double(n);
    r.ink = double(ink) / double(n);
    r.colour = double(col) / double(n);
  }
  return r;
}

int run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

// PP-OCRv4 rec on a rendered text line: it has every panel's analysis (attention maps, CTC text).
TEST(RenderUi, EveryPanelIsDrawnWhereImGuiPutItAndTheSceneStaysInTheCentre) {
  const std::string model = std::string(NETLENS_TEST_CACHE_DIR) + "/models/ppocrv4_rec.onnx";
  const std::string dict = std::string(NETLENS_TEST_CACHE_DIR) + "/models/ppocr_keys_v1.txt";
  const std::string input = std::string(NETLENS_TEST_SOURCE_DIR) + "/assets/samples/line_320x48.png";
  ASSERT_TRUE(fs::exists(model)) << model << " is missing: run scripts/fetch-models.sh";
  const fs::path work = fs::path(NETLENS_TEST_WORK_DIR) / "render_ui";
  fs::create_directories(work);
  const std::string common = std::string(NETLENS_CLI) + " render " + model + " --input " + input +
                             " --size 1600x900 --validation --select conv2d_187.tmp_0:10,12,80";
  const std::string ui_png = (work / "ui.png").string(), plain_png = (work / "plain.png").string(),
                    rects = (work / "ui.json").string();
  ASSERT_EQ(run(common + " --ui --labels " + dict + " --ui-rects " + rects + " --out " + ui_png), 0)
      << "render --ui failed (a Vulkan validation error fails it too)";
  ASSERT_EQ(run(common + " --out " + plain_png), 0);

  std::ifstream f(rects);
  nlohmann::json j = nlohmann::json::parse(f);
  Image ui = load_png(ui_png), plain = load_png(plain_png);
  ASSERT_EQ(ui.w, 1600);
  ASSERT_EQ(ui.h, 900);
  ASSERT_EQ(plain.w, 1600);
  EXPECT_EQ(j["frame"][0], 1600);
  EXPECT_EQ(j["frame"][1], 900);

  const std::vector<std::string> expected = {"Model", "Input", "View", "Predictions", "Attention",
                                             "Layer", "Neuron", "Weights", "Activation function"};
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& p : j["panels"]) by_name[p["name"].get<std::string>()] = p;
  float left_edge = 1600, right_edge = 0;
  for (const auto& name : expected) {
    ASSERT_TRUE(by_name.count(name)) << "panel '" << name << "' was not drawn";
    const auto& p = by_name[name];
    const float x = p["x"], y = p["y"], w = p["w"], h = p["h"];
    EXPECT_GT(w, 150.0f) << name;
    EXPECT_GT(h, 50.0f) << name;
    EXPECT_GE(x, 0.0f);
    EXPECT_LE(x + w, 1600.0f + 0.5f);
    EXPECT_LE(y + h, 900.0f + 0.5f);
    if (x < 800) left_edge = std::min(left_edge, x + w);
    else right_edge = std::max(right_edge, x);
    RegionStats s = region_stats(ui, x, y, w, h), b = region_stats(plain, x, y, w, h);
    std::printf("%-20s panel bg %.3f (without --ui %.3f), ink %.3f, colour %.3f\n", name.c_str(), s.panel_bg,
                b.panel_bg, s.ink, s.colour);
    // Panel background: a good share of the window (the rest is text, widgets, plots, textures),
    // and far more than the scene alone has there.
    EXPECT_GT(s.panel_bg, 0.25) << name;
    EXPECT_GT(s.panel_bg, 3 * b.panel_bg + 0.1) << name << ": the scene alone has as much panel colour";
    // Text and plots: bright pixels.
    EXPECT_GT(s.ink, 0.01) << name << ": no text or plot pixels";
  }
  // Texture panels show their colour-mapped images (feature maps, attention heads).
  for (const std::string name : {"Layer", "Attention"}) {
    const auto& p = by_name[name];
    EXPECT_GT(region_stats(ui, p["x"], p["y"], p["w"], p["h"]).colour, 0.03) << name << ": no colour-mapped image";
  }
  // Panels tile the sides: the left column ends where the right begins mirrored (equal columns).
  EXPECT_NEAR(left_edge, 1600.0f - right_edge, 1.0f);
  // The centre (between the columns) is the scene: little panel colour, plenty of colour-mapped
  // neurons, like the centre of the frame without panels.
  RegionStats c = region_stats(ui, left_edge, 0, right_edge - left_edge, 900);
  RegionStats pc = region_stats(plain, left_edge, 0, right_edge - left_edge, 900);
  EXPECT_LT(c.panel_bg, 0.1);
  EXPECT_GT(c.colour, 0.03);
  EXPECT_GT(pc.colour, 0.03);
}

TEST(RenderUi, FlagsNeedUi) {
  const std::string cmd = std::string(NETLENS_CLI) + " render x.onnx --ui-rects r.json --out o.png 2>/dev/null";
  EXPECT_EQ(run(cmd), 2);
}

// `netlens view` under Xvfb with validation on: the window shows the panels in both columns by
// default, and H hides them (the same columns then hold the scene only); switching the far-layer
// aggregation (a new renderer) changes the frame without validation errors.
TEST(ViewUi, PanelsAreShownAndHKeyHidesThem) {
  if (run("command -v xvfb-run > /dev/null") != 0) GTEST_SKIP() << "xvfb-run not found (scripts/setup.sh installs xvfb)";
  const std::string model = std::string(NETLENS_TEST_CACHE_DIR) + "/models/ppocr_cls.onnx";
  const std::string input = std::string(NETLENS_TEST_SOURCE_DIR) + "/assets/samples/line_192x48.png";
  ASSERT_TRUE(fs::exists(model)) << model << " is missing: run scripts/fetch-models.sh";
  const fs::path work = fs::path(NETLENS_TEST_WORK_DIR) / "view_ui";
  fs::create_directories(work);
  const std::string on = (work / "on.png").string(), off = (work / "off.png").string(),
                    mean = (work / "mean.png").string();
  {
    std::ofstream sc(work / "script.txt");
    sc << "frames 3\nscreenshot " << on << "\nframes 2\nkey h\nframes 2\nscreenshot " << off << "\nframes 2\n"
       << "lod mean\nframes 2\nscreenshot " << mean << "\nframes 2\nclose\n";
  }
  const std::string cmd = "timeout 120 xvfb-run -a -s '-screen 0 1280x1024x24' " + std::string(NETLENS_CLI) + " view " +
                          model + " --input " + input + " --size 1200x760 --validation --select relu_3.tmp_0:5,6,40" +
                          " --script " + (work / "script.txt").string() + " > " + (work / "out.txt").string() + " 2>&1";
  ASSERT_EQ(run(cmd), 0) << "netlens view failed (validation errors fail it too): see " << (work / "out.txt").string();
  Image a = load_png(on), b = load_png(off);
  ASSERT_EQ(a.w, 1200);
  ASSERT_EQ(b.w, 1200);
  const float cw = float(ui::column_width(1200, 760));
  for (float x0 : {0.0f, 1200.0f - cw}) {
    RegionStats sa = region_stats(a, x0, 0, cw, 760), sb = region_stats(b, x0, 0, cw, 760);
    std::printf("column at %.0f: panel bg %.3f shown, %.3f hidden; ink %.3f shown\n", x0, sa.panel_bg, sb.panel_bg, sa.ink);
    EXPECT_GT(sa.panel_bg, 0.25) << "column at x " << x0;
    EXPECT_GT(sa.ink, 0.01) << "column at x " << x0;
    EXPECT_LT(sb.panel_bg, 0.02) << "column at x " << x0 << " after H";
  }
  // The View panel's far-layer aggregation (script 'lod mean') makes a new renderer: the frame
  // changes where far layers are drawn from pyramids (the panels stay hidden).
  Image m = load_png(mean);
  ASSERT_EQ(m.w, 1200);
  int64_t differ = 0;
  for (size_t i = 0; i < m.px.size(); ++i) differ += m.px[i] != b.px[i];
  EXPECT_GT(differ, 1000) << "max |v| and mean pyramids drew the same frame";
}

// Selection::contributors (the Neuron panel's top terms, marked in 3D): exactly the contributor
// cells turn magenta (the documented tint of the pixel's old colour), the rest of the receptive
// field stays cyan, nothing else changes. Lavapipe, validation on, no lighting or MSAA (exact pixels).
TEST(ContributorHighlight, OnlyTheContributorCellsAreMagenta) {
  static render::Context ctx(render::ContextOptions{.validation = true});
  const size_t errors0 = ctx.validation_error_count();
  viz::Scene scene = viz::synthetic_scene({{1, 3, 6, 6}, {1, 4, 4, 4}}, 5);
  const auto& d0 = scene.layout.layers[0].dims;
  render::Selection sel;
  sel.layer = 1;
  sel.flat = 0;
  sel.regions.emplace_back(0, viz::VolumeRegion{.c0 = 0, .c1 = 3, .y0 = 0, .y1 = 3, .x0 = 0, .x1 = 3});
  const std::set<int64_t> contrib = {viz::flat_of(d0, 0, 1, 1), viz::flat_of(d0, 2, 0, 2)};
  for (int64_t f : contrib) {
    auto c = viz::cell_of(d0, f);
    sel.contributors.emplace_back(0, viz::VolumeRegion{.c0 = c.c, .c1 = c.c + 1, .y0 = c.y, .y1 = c.y + 1, .x0 = c.x, .x1 = c.x + 1});
  }
  const int W = 480, H = 320;
  render::RenderOptions o{.width = W, .height = H, .msaa = 1, .lighting = false, .grid_lines = false, .labels = false,
                          .legend = false, .connections = false, .selection_lines = false};
  o.cell_min_px = 1.0f;  // individual cells (slabs sample aggregated blocks when cells are small)
  render::Renderer r(ctx, scene, o);
  viz::Camera cam = viz::overview_camera(scene.layout, float(W) / float(H));
  render::Selection rf_only = sel;
  rf_only.contributors.clear();
  r.set_selection(rf_only);
  r.render(cam);
  const std::vector<uint8_t> before = r.rgba();  // receptive field only
  r.set_selection(sel);
  r.render(cam);
  const std::vector<uint8_t> after = r.rgba();  // a copy: the next render() overwrites rgba()
  r.set_selection({});
  r.render(cam);
  const std::vector<uint8_t> plain = r.rgba();  // nothing highlighted
  const glm::vec3 magenta(1.0f, 0.25f, 0.85f);
  int seen = 0, wrong = 0;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      auto [a, b] = r.id_at(x, y);
      const size_t i = (size_t(y) * W + size_t(x)) * 4;
      const bool is_contrib = a == 1 && contrib.count(b);
      const bool changed = std::memcmp(&before[i], &after[i], 3) != 0;
      if (changed != is_contrib && ++wrong < 10)
        ADD_FAILURE() << "pixel " << x << "," << y << " changed " << changed << ", contributor " << is_contrib << " id "
                      << a << "," << b;
      if (!is_contrib) continue;
      ++seen;
      glm::vec3 p0 = glm::vec3(plain[i], plain[i + 1], plain[i + 2]) / 255.0f;
      glm::vec3 want = glm::mix(p0, magenta, 0.60f), got = glm::vec3(after[i], after[i + 1], after[i + 2]) / 255.0f;
      glm::vec3 e = glm::abs(got - want);
      if (std::max({e.x, e.y, e.z}) > 3.0f / 255.0f && ++wrong < 10)
        ADD_FAILURE() << "pixel " << x << "," << y << " tint off by " << std::max({e.x, e.y, e.z}) * 255.0f << "/255";
    }
  EXPECT_GT(seen, 0) << "the contributor cells are not on screen";
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(ctx.validation_error_count(), errors0) << "Vulkan validation errors (see stderr)";
}

// The panels under a synthetic mouse (offscreen ImGui): clicking the texel of tile t at (y, x) of the
// Layer panel's grid selects neuron (order[t], y, x) of the focused layer (the panel's hit test
// against the grid layout it drew); clicking a model-tree row calls focus_layer with its layer and
// the Layer panel follows. PP-OCR cls on a rendered line, lavapipe, validation on.
TEST(PanelsInput, ClickingACellSelectsItAndClickingATreeRowFocusesIt) {
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
  static render::Context ctx(render::ContextOptions{.validation = true});
  const size_t errors0 = ctx.validation_error_count();
  const int W = 1600, H = 900;
  {
    ui::ImGuiLayer layer(ctx, H);
    ui::Panels panels(layer, s, scene);
    const int focus = scene.layout.find("relu_3.tmp_0");
    ASSERT_GE(focus, 0);
    panels.set_focus(focus);
    std::vector<std::pair<int, int64_t>> selected;
    panels.actions.select = [&](int l, int64_t f) { selected.emplace_back(l, f); };
    auto frame = [&] {
      layer.begin_frame(W, H);
      panels.draw(W, H);
      layer.end_frame();
    };
    frame();
    frame();
    const ui::Panels::GridView* gv = panels.grid_view();  // valid until the next frame
    ASSERT_NE(gv, nullptr);
    ASSERT_EQ(gv->layer, focus);
    const ui::FeatureGrid& g = *gv->grid;
    const auto& d = scene.layout.layers[static_cast<size_t>(focus)].dims;
    ASSERT_EQ(g.order.size(), static_cast<size_t>(d.C));
    for (auto [t, y, x] : {std::tuple<int, int, int>{0, 0, 0}, {5, 3, 7}, {int(d.C) - 1, int(d.H) - 1, int(d.W) - 1}}) {
      // ImGui floors the mouse position: take the first whole pixel inside the texel.
      const float tx0 = gv->origin.x + float((t % g.cols) * (g.tile_w + 1) + x) * gv->scale;
      const float ty0 = gv->origin.y + float((t / g.cols) * (g.tile_h + 1) + y) * gv->scale;
      const float px = std::ceil(tx0), py = std::ceil(ty0);
      ASSERT_GE(gv->scale, 1.0f) << "texels smaller than a pixel: pick a bigger frame";
      ASSERT_LT(px, tx0 + gv->scale);
      ASSERT_LT(py, ty0 + gv->scale);
      selected.clear();
      layer.set_mouse(ImVec2(px, py), false);
      frame();
      layer.set_mouse(ImVec2(px, py), true);  // the press
      frame();
      layer.set_mouse(ImVec2(px, py), false);
      frame();
      ASSERT_EQ(selected.size(), 1u) << "tile " << t << " (" << y << ", " << x << ") at " << px << "," << py;
      EXPECT_EQ(selected[0].first, focus);
      EXPECT_EQ(selected[0].second, viz::flat_of(d, g.order[static_cast<size_t>(t)], y, x));
    }
    // A model-tree row: clicking it asks the host to fly there and the inspectors follow.
    std::vector<int> flown;
    panels.actions.focus_layer = [&](int l) { flown.push_back(l); };
    // Not the topmost visible rows: they may lie half under the table's frozen header.
    std::vector<std::pair<float, int>> by_y;
    for (const auto& [l, r] : panels.tree_rows()) by_y.emplace_back(r.y, l);
    std::sort(by_y.begin(), by_y.end());
    int target = -1;
    for (size_t k = 2; k < by_y.size() && target < 0; ++k)
      if (by_y[k].second != focus) target = by_y[k].second;
    ASSERT_GE(target, 0) << "no other model-tree row on screen";
    const ImVec4 row = panels.tree_rows().at(target);
    const ImVec2 rp(std::ceil(0.5f * (row.x + row.z)), std::ceil(0.5f * (row.y + row.w)));
    layer.set_mouse(rp, false);
    frame();
    layer.set_mouse(rp, true);
    frame();
    layer.set_mouse(rp, false);
    frame();
    EXPECT_EQ(flown, std::vector<int>{target});
    EXPECT_EQ(panels.focus(), target);
    ASSERT_NE(panels.grid_view(), nullptr);
    EXPECT_EQ(panels.grid_view()->layer, target) << "the Layer panel follows the tree";
    // A gap texel between tiles selects nothing.
    panels.set_focus(focus);
    frame();
    gv = panels.grid_view();
    ASSERT_NE(gv, nullptr);
    selected.clear();
    const float gx = std::ceil(gv->origin.x + float(g.tile_w) * gv->scale), gy = std::ceil(gv->origin.y);
    layer.set_mouse(ImVec2(gx, gy), false);
    frame();
    layer.set_mouse(ImVec2(gx, gy), true);
    frame();
    EXPECT_TRUE(selected.empty());
  }
  EXPECT_EQ(ctx.validation_error_count(), errors0) << "Vulkan validation errors (see stderr)";
}

