// Offscreen render tests on whatever Vulkan device is present (lavapipe on CI machines), with the
// validation layers on: any validation error fails the test that caused it.
// They check meaning, not golden images: the pixel where a neuron projects has that neuron's
// colour-mapped value, picking there returns that neuron, a selection changes exactly the pixels
// of the highlighted neurons, and a camera round-tripped through JSON gives the identical image.
// Longer than about 600 lines: the render cases share one Vulkan set-up and the projection helpers
// that find a neuron's pixel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include <glm/geometric.hpp>
#include <glm/trigonometric.hpp>

#include "netlens/viz/camera.hpp"
#include "netlens/render/code_packing.hpp"
#include "netlens/viz/frame_plan.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"
#include "../vulkan_test_util.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& context() { return test::vulkan_context(); }

class RenderTest : public test::VulkanValidatedTest {};

RenderOptions plain(int w, int h) {
  return RenderOptions{.width = w, .height = h, .lighting = false, .labels = false, .legend = false,
                       .connections = false, .selection_lines = false};
}

glm::vec3 pixel(const Renderer& r, int x, int y) {
  const auto& p = r.rgba();
  size_t i = (static_cast<size_t>(y) * static_cast<size_t>(r.options().width) + static_cast<size_t>(x)) * 4;
  return glm::vec3(p[i], p[i + 1], p[i + 2]) / 255.0f;
}

glm::vec3 expected_color(const viz::Scene& s, int layer, int64_t flat) {
  uint8_t code = s.codes0[s.layers[static_cast<size_t>(layer)].code0_offset + static_cast<uint64_t>(flat)];
  return viz::decode_color(s.layers[static_cast<size_t>(layer)].scale.kind, code);
}

// Camera looking straight at layer 0's front face (-X side), filling about half the frame.
viz::Camera front_camera(const viz::Layout& l) {
  const auto& v = l.layers[0];
  glm::vec3 target(v.origin.x, v.center().y, v.center().z);
  float d = v.size.y / (2.0f * std::tan(glm::radians(20.0f)) * 0.5f);
  return viz::look_at(target - glm::vec3(d, 0, 0), target, 40.0f);
}

}  // namespace

TEST_F(RenderTest, PixelShowsNeuronColourAndPickReturnsIt) {
  viz::Scene scene = viz::synthetic_scene({{1, 4, 8, 8}, {1, 6, 4, 4}}, 11);
  const auto& v = scene.layout.layers[0];
  viz::Camera cam = front_camera(scene.layout);
  const int W = 320, H = 240;
  // Twice: far-style slab boxes, then individual cells (cell_min_px = 1 turns near layers into cells).
  for (float min_px : {1e9f, 1.0f}) {
    RenderOptions o = plain(W, H);
    o.cell_min_px = min_px;
    Renderer r(context(), scene, o);
    FrameStats st = r.render(cam);
    if (min_px < 2) EXPECT_GT(st.cell_instances, 0u);
    else EXPECT_EQ(st.cell_instances, 0u);
    glm::mat4 vp = viz::camera_view_proj(cam, float(W) / float(H), viz::scene_radius(scene.layout));
    int checked = 0;
    for (int64_t y = 0; y < v.dims.H; ++y)
      for (int64_t x = 0; x < v.dims.W; ++x) {
        glm::vec3 c = viz::neuron_center(v, 0, y, x);
        c.x = v.origin.x;  // on the front face
        auto p = viz::project_to_pixel(vp, c, W, H);
        ASSERT_TRUE(p);
        int px = static_cast<int>(p->x), py = static_cast<int>(p->y);
        int64_t flat = viz::flat_of(v.dims, 0, y, x);
        glm::vec3 want = expected_color(scene, 0, flat), got = pixel(r, px, py);
        // Tolerance: UNORM8 quantisation of the same sRGB values, 2/255 per channel.
        EXPECT_NEAR(got.r, want.r, 2.0f / 255.0f) << "cell " << y << "," << x << " mode " << min_px;
        EXPECT_NEAR(got.g, want.g, 2.0f / 255.0f) << "cell " << y << "," << x;
        EXPECT_NEAR(got.b, want.b, 2.0f / 255.0f) << "cell " << y << "," << x;
        auto pk = r.pick(px, py);
        ASSERT_TRUE(pk) << "no neuron at " << px << "," << py;
        EXPECT_EQ(pk->layer, 0);
        EXPECT_EQ(pk->flat, flat);
        EXPECT_EQ(pk->cell.c, 0);
        EXPECT_EQ(pk->cell.y, y);
        EXPECT_EQ(pk->cell.x, x);
        EXPECT_EQ(pk->value, scene.value(0, flat));
        ++checked;
      }
    EXPECT_EQ(checked, 64);
    EXPECT_FALSE(r.pick(0, 0)) << "corner should be background";
  }
}

TEST_F(RenderTest, LightingScalesTheNeuronColour) {
  viz::Scene scene = viz::synthetic_scene({{1, 4, 8, 8}}, 3);
  const auto& v = scene.layout.layers[0];
  viz::Camera cam = viz::orbit(front_camera(scene.layout), -10.0f, 8.0f);
  RenderOptions o = plain(320, 240);
  o.lighting = true;
  Renderer r(context(), scene, o);
  r.render(cam);
  glm::mat4 vp = viz::camera_view_proj(cam, 320.0f / 240.0f, viz::scene_radius(scene.layout));
  for (int64_t y : {1, 4, 6}) {
    glm::vec3 c = viz::neuron_center(v, 0, y, 3);
    c.x = v.origin.x;
    auto p = viz::project_to_pixel(vp, c, 320, 240);
    ASSERT_TRUE(p);
    glm::vec3 want = expected_color(scene, 0, viz::flat_of(v.dims, 0, y, 3));
    glm::vec3 got = pixel(r, int(p->x), int(p->y));
    float k = glm::dot(got, want) / glm::dot(want, want);
    EXPECT_GT(k, 0.45f);
    EXPECT_LT(k, 1.25f);
    // Same hue: the lit colour is the base colour times one factor (up to 8-bit rounding/clamping).
    EXPECT_LT(glm::length(got - k * want), 8.0f / 255.0f);
  }
}

TEST_F(RenderTest, SelectionChangesExactlyTheReceptiveFieldAndFanOutPixels) {
  // x (1x2x16x16) → Conv k3 s2 p1 → c1 (1x4x8x8) → Relu → r1 → Conv k3 s2 p1 → c2 (1x3x4x4)
  Graph g;
  g.inputs.push_back({"x", DType::Float32, {}, true});
  auto conv = [&](const std::string& in, const std::string& w, const std::string& out) {
    Node n;
    n.name = out + "_conv";
    n.op_type = "Conv";
    n.inputs = {in, w};
    n.outputs = {out};
    n.attrs["kernel_shape"] = std::vector<int64_t>{3, 3};
    n.attrs["strides"] = std::vector<int64_t>{2, 2};
    n.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
    g.nodes.push_back(n);
  };
  conv("x", "w1", "c1");
  Node relu;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"c1"};
  relu.outputs = {"r1"};
  g.nodes.push_back(relu);
  conv("r1", "w2", "c2");
  g.outputs.push_back({"c2", DType::Float32, {}, true});
  std::map<std::string, Shape> shapes = {{"x", {1, 2, 16, 16}}, {"c1", {1, 4, 8, 8}}, {"r1", {1, 4, 8, 8}},
                                         {"c2", {1, 3, 4, 4}}};
  std::vector<PlannedTensor> planned;
  for (auto& [n, s] : shapes) planned.push_back({n, {DType::Float32, s}, -1, false});
  planned.push_back({"w1", {DType::Float32, {4, 2, 3, 3}}, -1, true});
  planned.push_back({"w2", {DType::Float32, {3, 4, 3, 3}}, -1, true});
  viz::Layout layout = viz::layout_tensors(viz::select_tensors(g, planned));
  ASSERT_EQ(layout.layers.size(), 4u);
  std::vector<std::vector<float>> values;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& l : layout.layers) {
    std::vector<float> v(static_cast<size_t>(l.dims.count));
    for (auto& x : v) x = u(rng);
    values.push_back(v);
  }
  viz::Scene scene = viz::build_scene_from_values(std::move(layout), std::move(values));
  viz::ShapeFn sf = [&](const std::string& n) -> std::optional<Shape> {
    auto it = shapes.find(n);
    return it == shapes.end() ? std::nullopt : std::optional<Shape>(it->second);
  };
  const glm::vec3 white(1.0f), cyan(0.30f, 0.95f, 1.0f), orange(1.0f, 0.55f, 0.10f);

  // Renders without and with `sel`; every pixel must change iff its neuron is the selected one, in
  // a receptive-field region (sel.regions) or in `fanout_expect` (a brute-force set per layer).
  // Without lighting and grid lines, a changed pixel must be its old colour tinted as documented.
  auto check = [&](const Selection& sel, const std::map<int, std::set<int64_t>>& fanout_expect, bool lighting) -> std::vector<int> {
    const int W = 480, H = 320;
    RenderOptions o = plain(W, H);
    o.msaa = 1;  // exact pixel ownership: no edge blending between neighbouring cells
    o.lighting = lighting;
    o.grid_lines = lighting;
    o.connections = lighting;  // unaffected by the selection; blended lines would skew the tint check
    Renderer r(context(), scene, o);
    viz::Camera cam = viz::overview_camera(scene.layout, float(W) / float(H));
    r.render(cam);
    std::vector<uint8_t> before = r.rgba();
    std::vector<std::pair<uint32_t, uint32_t>> ids;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) ids.push_back(r.id_at(x, y));
    r.set_selection(sel);
    r.render(cam);
    const std::vector<uint8_t>& after = r.rgba();
    std::vector<int> inside_per_layer(scene.layout.layers.size(), 0);
    int mismatches = 0, tint_errors = 0;
    // viz::highlight_of is the shaders' highlight() on the host: it must name the same sets.
    const viz::HighlightList hl = viz::highlight_regions(sel, scene.layout.layers.size(), 4096);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        auto [a, b] = ids[static_cast<size_t>(y * W + x)];
        EXPECT_EQ(r.id_at(x, y), ids[static_cast<size_t>(y * W + x)]) << "IDs must not depend on the selection";
        bool self = false, rf = false, fo = false;
        if (a > 0) {
          int layer = static_cast<int>(a) - 1;
          const auto& d = scene.layout.layers[static_cast<size_t>(layer)].dims;
          self = layer == sel.layer && b == sel.flat;
          for (const auto& [li, reg] : sel.regions) rf |= li == layer && reg.contains(d, b);
          auto it = fanout_expect.find(layer);
          fo = it != fanout_expect.end() && it->second.count(b);
          EXPECT_LE(int(self) + int(rf) + int(fo), 1) << "a neuron is in one highlight set at most";
          const viz::Highlight h = viz::highlight_of(sel, hl, layer, d, b);
          const viz::Highlight want = self ? viz::Highlight::Selected
                                      : rf ? viz::Highlight::ReceptiveField
                                      : fo ? viz::Highlight::FanOut
                                           : viz::Highlight::None;
          if (h != want && ++mismatches < 10)
            ADD_FAILURE() << "highlight_of " << static_cast<int>(h) << " at pixel " << x << "," << y << ", shaders' "
                          << static_cast<int>(want);
          if (self || rf || fo) ++inside_per_layer[static_cast<size_t>(layer)];
        }
        const bool inside = self || rf || fo;
        size_t i = static_cast<size_t>(y * W + x) * 4;
        bool changed = std::memcmp(&before[i], &after[i], 3) != 0;
        if (changed != inside && ++mismatches < 10)
          ADD_FAILURE() << "pixel " << x << "," << y << " changed=" << changed << " inside=" << inside
                        << " (rf " << rf << ", fan-out " << fo << ")";
        if (!lighting && inside) {
          glm::vec3 b0 = glm::vec3(before[i], before[i + 1], before[i + 2]) / 255.0f;
          glm::vec3 a1 = glm::vec3(after[i], after[i + 1], after[i + 2]) / 255.0f;
          glm::vec3 want = self ? glm::mix(b0, white, 0.65f) : rf ? glm::mix(b0, cyan, 0.40f) : glm::mix(b0, orange, 0.50f);
          glm::vec3 e = glm::abs(a1 - want);
          if (std::max({e.x, e.y, e.z}) > 3.0f / 255.0f && ++tint_errors < 10)
            ADD_FAILURE() << "pixel " << x << "," << y << " tint off by " << std::max({e.x, e.y, e.z}) * 255.0f
                          << " before " << b0.x << " " << b0.y << " " << b0.z << " after " << a1.x << " " << a1.y << " " << a1.z
                          << "/255 (self " << self << ", rf " << rf << ", fan-out " << fo << ")";
        }
      }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(tint_errors, 0);
    return inside_per_layer;
  };

  {  // The last layer's neuron: a receptive field in every earlier layer, no fan-out.
    const int sel_layer = scene.layout.find("c2");
    const int64_t sel_flat = viz::flat_of(scene.layout.layers[static_cast<size_t>(sel_layer)].dims, 0, 2, 1);
    Selection sel = make_selection(scene, sel_layer, sel_flat, &g, sf);
    ASSERT_EQ(sel.regions.size(), 3u);  // x, c1, r1
    EXPECT_TRUE(sel.fanout.empty());
    auto inside = check(sel, {}, true);
    for (size_t i = 0; i < inside.size(); ++i) EXPECT_GT(inside[i], 0) << "layer " << i;
  }
  // A middle neuron r1[0, c, y, x] (borders included): receptive field in x and c1, fan-out in c2 =
  // the c2 neurons with a 3x3/stride-2/pad-1 tap on (y, x), every channel, by brute force.
  const int r1 = scene.layout.find("r1"), c2 = scene.layout.find("c2");
  const auto& d1 = scene.layout.layers[static_cast<size_t>(r1)].dims;
  const auto& d2 = scene.layout.layers[static_cast<size_t>(c2)].dims;
  for (auto [cc, yy, xx] : {std::tuple<int64_t, int64_t, int64_t>{1, 3, 4}, {0, 0, 0}, {3, 7, 7}, {2, 7, 0}}) {
    std::set<int64_t> expect;
    for (int64_t oc = 0; oc < d2.C; ++oc)
      for (int64_t oy = 0; oy < d2.H; ++oy)
        for (int64_t ox = 0; ox < d2.W; ++ox)
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx)
              if (oy * 2 - 1 + ky == yy && ox * 2 - 1 + kx == xx) expect.insert(viz::flat_of(d2, oc, oy, ox));
    ASSERT_FALSE(expect.empty());
    Selection sel = make_selection(scene, r1, viz::flat_of(d1, cc, yy, xx), &g, sf);
    EXPECT_EQ(sel.regions.size(), 2u);  // x, c1
    EXPECT_FALSE(sel.fanout.empty());
    std::set<int64_t> lines;
    for (const auto& [li, f] : sel.fanout_cells) {
      EXPECT_EQ(li, c2);
      lines.insert(f);
    }
    EXPECT_EQ(lines, expect) << "one line per fan-out cell";
    auto inside = check(sel, {{c2, expect}}, false);
    // x's field spans every channel and c2's fan-out every channel, so both reach the visible faces;
    // c1/r1 show the neuron's own channel only when it is on a face turned to the camera.
    for (int li : {scene.layout.find("x"), c2}) EXPECT_GT(inside[static_cast<size_t>(li)], 0) << "layer " << li;
  }
}

TEST_F(RenderTest, CameraJsonRoundTripGivesIdenticalImage) {
  viz::Scene scene = viz::synthetic_scene(viz::synthetic_vgg_shapes(20000), 5);
  RenderOptions o{.width = 400, .height = 240};  // everything on: labels, legend, lighting, lines
  o.title = "round trip";
  Renderer r(context(), scene, o);
  viz::Camera cam = viz::orbit(viz::overview_camera(scene.layout, 400.0f / 240.0f), 7.3f, -3.1f, 0.83f);
  r.render(cam);
  std::vector<uint8_t> a = r.rgba();
  viz::Camera back = viz::camera_from_json(viz::camera_to_json(cam));
  ASSERT_EQ(back, cam);
  r.render(back);
  EXPECT_EQ(a, r.rgba());
  // And the comparison can fail: a slightly different camera gives a different image.
  r.render(viz::orbit(back, 1.0f, 0.0f));
  EXPECT_NE(a, r.rgba());
}

TEST_F(RenderTest, LayoutIsDeterministicAcrossRenders) {
  auto shapes = viz::synthetic_vgg_shapes(50000);
  viz::Scene s1 = viz::synthetic_scene(shapes, 2), s2 = viz::synthetic_scene(shapes, 2);
  RenderOptions o{.width = 320, .height = 200};
  viz::Camera cam = viz::overview_camera(s1.layout, 1.6f);
  Renderer r1(context(), s1, o);
  r1.render(cam);
  Renderer r2(context(), s2, o);
  r2.render(viz::overview_camera(s2.layout, 1.6f));
  EXPECT_EQ(r1.rgba(), r2.rgba());
}

// The renderer draws what viz::plan_frame decides: as many cell instances and cell layers, and one
// slab instance per code part of every other visible layer.
TEST_F(RenderTest, FrameStatsFollowTheFramePlan) {
  viz::Scene scene = viz::synthetic_scene({{1, 3, 12, 12}, {1, 8, 6, 6}, {1, 16, 3, 3}}, 4);
  RenderOptions o = plain(400, 300);
  Renderer r(context(), scene, o);
  const auto& L = scene.layout.layers;
  uint32_t any_cells = 0, any_slabs = 0;
  for (const viz::Camera& cam : {viz::overview_camera(scene.layout, 400.0f / 300.0f),
                                 viz::focus_camera(scene.layout, 1, 400.0f / 300.0f),
                                 viz::look_at(L[0].origin - glm::vec3(8.0f, -3.0f, 2.0f), L[0].center())}) {
    const viz::FramePlan plan = viz::plan_frame(scene.layout, viz::frame_view(cam, 400, 300, viz::scene_radius(scene.layout)),
                                                viz::LodOptions{.cell_budget = o.cell_budget, .cell_min_px = o.cell_min_px});
    FrameStats st = r.render(cam);
    EXPECT_EQ(st.cell_instances, plan.cells.size());
    EXPECT_EQ(st.cell_layers, static_cast<uint32_t>(plan.cell_layers));
    uint32_t slabs = 0;
    for (int i : plan.order) slabs += plan.as_cells[static_cast<size_t>(i)] ? 0u : 1u;  // one part per layer here
    EXPECT_EQ(st.slab_instances, slabs);
    any_cells += st.cell_instances;
    any_slabs += st.slab_instances;
  }
  EXPECT_GT(any_cells, 0u) << "the close-up draws cells";
  EXPECT_GT(any_slabs, 0u);
}

TEST_F(RenderTest, FarLayersUseAggregatedLevels) {
  // A 1x1x128x128 layer of uniform [0,1) values seen from far away, about 11 pixels wide: each
  // pixel covers ~12x12 neurons, so level 3 (8x8 blocks) is used. Max-LOD must show block maxima
  // (≈ 1 → top of the colour map: P(max of 64 < 0.85) ≈ 3e-5) and mean-LOD block means (≈ 0.5,
  // sd 0.04 → middle); plain level-0 sampling would show a mix of every colour.
  viz::Layout l = viz::layout_tensors(viz::synthetic_tensors({{1, 1, 128, 128}}));
  std::vector<float> v(128 * 128);
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (auto& x : v) x = u(rng);
  viz::Scene s = viz::build_scene_from_values(l, {v});
  ASSERT_EQ(s.layers[0].scale.kind, viz::ColorMapKind::Sequential);
  const auto& layer = s.layout.layers[0];
  glm::vec3 target(layer.origin.x, layer.center().y, layer.center().z);
  // 128 cells over 128/12 pixels at 120 px for a 40° field of view.
  float d = 128.0f * 120.0f / ((128.0f / 12.0f) * 2.0f * std::tan(glm::radians(20.0f)));
  viz::Camera far = viz::look_at(target - glm::vec3(d, 0, 0), target, 40.0f);
  auto t_of = [](glm::vec3 c) {  // nearest colour-map position
    float best = 1e9f, bt = 0;
    for (int i = 0; i <= 100; ++i) {
      float e = glm::length(c - viz::sample_colormap(viz::ColorMapKind::Sequential, float(i) / 100.0f));
      if (e < best) { best = e; bt = float(i) / 100.0f; }
    }
    return bt;
  };
  for (bool lod_max : {true, false}) {
    RenderOptions o = plain(160, 120);
    o.lod_max = lod_max;
    o.msaa = 1;
    Renderer r(context(), s, o);
    r.render(far);
    int n = 0;
    for (int y = 0; y < 120; ++y)
      for (int x = 0; x < 160; ++x) {
        if (r.id_at(x, y).first != 1) continue;
        float t = t_of(pixel(r, x, y));
        if (lod_max) EXPECT_GT(t, 0.85f) << x << "," << y;
        else EXPECT_NEAR(t, 0.5f, 0.15f) << x << "," << y;
        ++n;
      }
    EXPECT_GT(n, 60);
    EXPECT_LT(n, 200);
  }
}

TEST_F(RenderTest, BadArgumentsAreErrors) {
  viz::Scene scene = viz::synthetic_scene({{1, 2, 4, 4}});
  EXPECT_THROW(Renderer(context(), scene, RenderOptions{.width = 4, .height = 4}), Error);
  EXPECT_THROW(Context(ContextOptions{.gpu = 99, .quiet = true}), Error);
  EXPECT_THROW(make_selection(scene, 0, 1000), Error);
  EXPECT_THROW(make_selection(scene, 5, 0), Error);
}

TEST_F(RenderTest, ValidationMessengerCatchesErrors) {
  // The guard every render test relies on: a deliberately invalid call must be reported.
  VkBufferCreateInfo bi{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 0,
                        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkBuffer b = VK_NULL_HANDLE;
  VkResult res = vkCreateBuffer(context().device(), &bi, nullptr, &b);  // size 0 is invalid usage
  if (res == VK_SUCCESS && b) vkDestroyBuffer(context().device(), b, nullptr);
  EXPECT_GT(context().validation_error_count(), errors_before_);
  errors_before_ = context().validation_error_count();  // expected errors: do not fail TearDown
}

TEST_F(RenderTest, VectorGridCellsAndEmptyTail) {
  // A 1x10 vector wraps into a 3x4 grid: 10 neurons and 2 empty cells that must not pick anything
  // (drawn in the "empty" colour as a slab, not drawn at all as cells).
  viz::Scene scene = viz::synthetic_scene({{1, 10}}, 4);
  const auto& v = scene.layout.layers[0];
  ASSERT_TRUE(v.dims.grid);
  ASSERT_EQ(v.dims.H * v.dims.W, 12);
  viz::Camera cam = front_camera(scene.layout);
  const int W = 320, H = 240;
  for (float min_px : {1e9f, 1.0f}) {
    RenderOptions o = plain(W, H);
    o.cell_min_px = min_px;
    Renderer r(context(), scene, o);
    FrameStats st = r.render(cam);
    EXPECT_EQ(st.cell_instances, min_px < 2 ? 10u : 0u);
    glm::mat4 vp = viz::camera_view_proj(cam, float(W) / float(H), viz::scene_radius(scene.layout));
    for (int64_t y = 0; y < v.dims.H; ++y)
      for (int64_t x = 0; x < v.dims.W; ++x) {
        glm::vec3 c = viz::neuron_center(v, 0, y, x);
        c.x = v.origin.x;
        auto p = viz::project_to_pixel(vp, c, W, H);
        ASSERT_TRUE(p);
        int64_t flat = viz::flat_of(v.dims, 0, y, x);
        glm::vec3 got = pixel(r, int(p->x), int(p->y));
        auto pk = r.pick(int(p->x), int(p->y));
        if (flat < v.dims.count) {
          glm::vec3 want = expected_color(scene, 0, flat);
          EXPECT_LT(glm::length(got - want), 3.5f / 255.0f) << flat;
          ASSERT_TRUE(pk);
          EXPECT_EQ(pk->flat, flat);
          EXPECT_EQ(pk->index, (std::vector<int64_t>{0, flat}));
        } else {
          EXPECT_FALSE(pk) << "empty grid cell " << flat << " picked a neuron";
          if (min_px > 2) {
            EXPECT_LT(glm::length(got - viz::empty_color()), 3.5f / 255.0f);
          }
        }
      }
  }
}

// Huge scenes: codes larger than one storage buffer are split over several buffers (channel runs
// of a layer packed into chunks). A tiny injected limit makes this scene need many chunks, with
// layers split mid-stack; every pixel whose neighbourhood shows one neuron must still have that
// neuron's colour, seen from the front, back, top and side, as slabs and as cells, at level 0
// and through the pyramids.
TEST_F(RenderTest, ScenesLargerThanOneBufferAreSplitAndStillCorrect) {
  viz::Scene scene = viz::synthetic_scene({{1, 5, 8, 8}, {1, 3, 12, 12}, {1, 7, 6, 6}, {1, 30}}, 21);
  const int W = 480, H = 360;
  // Per channel of layer 0: 64 level-0 bytes + 2 x (16 + 4 + 1) pyramid bytes = 106 bytes.
  const uint64_t limit = 400;
  for (float min_px : {1e9f, 1.0f}) {
    RenderOptions o = plain(W, H);
    o.max_buffer_bytes = limit;
    o.grid_lines = false;  // borders and slab gaps would darken the colours under test
    o.cell_min_px = min_px;
    o.cell_budget = 1000000;
    Renderer r(context(), scene, o);
    EXPECT_GT(r.code_buffers(), 3);
    EXPECT_GT(r.parts(), static_cast<int>(scene.layout.layers.size()));
    std::set<std::pair<int, int64_t>> seen;  // (layer, channel) seen with the right colour
    for (size_t li = 0; li < scene.layout.layers.size(); ++li) {
      const auto& v = scene.layout.layers[li];
      glm::vec3 c = v.center();
      float d = 2.2f * std::max(v.size.x, std::max(v.size.y, v.size.z));
      // Front, back, from above at an angle, from the side at an angle.
      for (glm::vec3 dir : {glm::vec3(-1, 0, 0), glm::vec3(1, 0, 0), glm::vec3(-0.3f, 1, 0.2f), glm::vec3(0.25f, 0.2f, 1)}) {
        viz::Camera cam = viz::look_at(c + d * glm::normalize(dir), c, 40.0f);
        FrameStats st = r.render(cam);
        EXPECT_GE(st.draws, 2u);
        int checked = 0;
        for (int y = 1; y + 1 < H; ++y)
          for (int x = 1; x + 1 < W; ++x) {
            auto id = r.id_at(x, y);
            if (id.first == 0) continue;
            bool uniform = true;
            for (int dy = -1; dy <= 1 && uniform; ++dy)
              for (int dx = -1; dx <= 1; ++dx)
                if (r.id_at(x + dx, y + dy) != id) { uniform = false; break; }
            if (!uniform) continue;
            int layer = static_cast<int>(id.first) - 1;
            glm::vec3 want = expected_color(scene, layer, id.second), got = pixel(r, x, y);
            ASSERT_LT(glm::length(got - want), 3.5f / 255.0f)
                << "pixel " << x << "," << y << " layer " << layer << " neuron " << id.second << " mode " << min_px;
            seen.insert({layer, viz::cell_of(scene.layout.layers[static_cast<size_t>(layer)].dims, id.second).c});
            ++checked;
          }
        EXPECT_GT(checked, 100);
      }
    }
    // Every channel of every layer was seen somewhere (the top/side views cross every slab).
    size_t channels = 0;
    for (const auto& v : scene.layout.layers) channels += static_cast<size_t>(v.dims.C);
    EXPECT_EQ(seen.size(), channels);
  }

  // Far away, the pyramids of split layers: identical to the unsplit renderer's image wherever
  // both show a front face.
  const auto& v = scene.layout.layers[1];
  glm::vec3 target(v.origin.x, v.center().y, v.center().z);
  viz::Camera far = viz::look_at(target - glm::vec3(260.0f, 0, 0), target, 40.0f);
  RenderOptions o = plain(160, 120);
  o.msaa = 1;
  o.grid_lines = false;
  Renderer whole(context(), scene, o);
  o.max_buffer_bytes = limit;
  Renderer split(context(), scene, o);
  ASSERT_EQ(whole.code_buffers(), 1);
  whole.render(far);
  split.render(far);
  int same = 0;
  for (int y = 0; y < 120; ++y)
    for (int x = 0; x < 160; ++x)
      if (whole.id_at(x, y).first == 2 && split.id_at(x, y) == whole.id_at(x, y)) {
        EXPECT_LT(glm::length(pixel(whole, x, y) - pixel(split, x, y)), 1.5f / 255.0f) << x << "," << y;
        ++same;
      }
  EXPECT_GT(same, 4);
}

// The packing of the codes into storage-buffer chunks, without a device: every channel in exactly one
// part, parts laid out as documented and within the limit, a layer split only when the chunk has no
// room for one more of its channels. Bytes per channel computed here from the pyramid rule (halve,
// rounding up, until 1x1).
TEST(CodePacking, ChannelsOnceWithinTheLimitSplitOnlyWhenFull) {
  viz::Scene scene = viz::synthetic_scene({{1, 3, 17, 13}, {1, 8, 9, 9}, {1, 5, 1, 1}, {1, 1, 40, 3}, {1, 12, 4, 4}}, 3);
  const auto& L = scene.layout.layers;
  std::vector<uint64_t> per_c, b0;
  for (const auto& v : L) {
    uint64_t bytes = static_cast<uint64_t>(v.dims.H * v.dims.W), pyr = 0;
    for (int64_t h = v.dims.H, w = v.dims.W; h > 1 || w > 1;) {
      h = (h + 1) / 2;
      w = (w + 1) / 2;
      pyr += static_cast<uint64_t>(h * w);
    }
    b0.push_back(bytes);
    per_c.push_back(bytes + 2 * pyr);
    EXPECT_EQ(channel_code_bytes(v.dims), per_c.back());
  }
  // The widest channel's bytes rounded up to the 4-byte granularity of chunks.
  const uint64_t widest = (*std::max_element(per_c.begin(), per_c.end()) + 3) & ~uint64_t(3);
  for (uint64_t limit : {widest, widest + 3, 2 * widest + 1, uint64_t(1000), uint64_t(1) << 30}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    const CodePacking pk = pack_codes(scene, limit, "test device");
    EXPECT_EQ(pk.chunk_limit, limit & ~uint64_t(3));
    ASSERT_EQ(pk.layer_parts.size(), L.size());
    std::vector<uint64_t> used(pk.chunk_used.size(), 0);
    for (size_t i = 0; i < L.size(); ++i) {
      auto [first, end] = pk.layer_parts[i];
      ASSERT_LT(first, end);
      uint32_t c = 0;
      for (uint32_t p = first; p < end; ++p) {
        const CodePart& P = pk.parts[p];
        EXPECT_EQ(P.layer, i);
        EXPECT_EQ(P.c0, c) << "channels in order, none skipped";
        ASSERT_GT(P.c1, P.c0);
        const uint64_t n = P.c1 - P.c0;
        EXPECT_EQ(P.off0, used[P.chunk]) << "parts packed one after the other";
        EXPECT_EQ(P.off_max, P.off0 + n * b0[i]);
        EXPECT_EQ(2 * P.bytes_max, n * (per_c[i] - b0[i]));
        used[P.chunk] += n * per_c[i];
        for (int64_t k = P.c0; k < P.c1; ++k) {
          EXPECT_EQ(pk.part_of(static_cast<int>(i), k), p);
        }
        // A part ends a chunk early only when one more channel of the layer would not fit.
        if (p + 1 < end) {
          EXPECT_EQ(pk.parts[p + 1].chunk, P.chunk + 1);
          EXPECT_GT(used[P.chunk] + per_c[i], pk.chunk_limit);
        }
        c = P.c1;
      }
      EXPECT_EQ(c, static_cast<uint32_t>(L[i].dims.C));
    }
    EXPECT_EQ(used, pk.chunk_used);
    for (uint64_t u : pk.chunk_used) EXPECT_LE(u, pk.chunk_limit);
    if (limit == (uint64_t(1) << 30)) {
      EXPECT_EQ(pk.chunk_used.size(), 1u);
    }
    if (limit == widest) {
      EXPECT_GT(pk.chunk_used.size(), 1u);
    }
  }
  try {
    pack_codes(scene, widest - 4, "test device");
    ADD_FAILURE() << "a channel larger than a chunk must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Device);
    EXPECT_NE(std::string(e.what()).find("test device"), std::string::npos) << e.what();
  }
}

TEST_F(RenderTest, AChannelLargerThanTheBufferLimitIsAnError) {
  viz::Scene scene = viz::synthetic_scene({{1, 2, 32, 32}}, 3);
  RenderOptions o = plain(64, 64);
  o.max_buffer_bytes = 512;  // one 32x32 channel needs 1024 bytes + pyramids
  try {
    Renderer r(context(), scene, o);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("channel"), std::string::npos) << e.what();
  }
}

// Focus views cut away the layers upstream of the focused one: with the cutaway the centre pixel
// shows the focused layer; the same camera without it shows the layer in front (layer 0).
TEST_F(RenderTest, FocusCutawayRevealsTheFocusedLayer) {
  viz::Scene scene = viz::synthetic_scene({{1, 2, 24, 24}, {1, 2, 24, 24}, {1, 2, 24, 24}}, 8);
  const int W = 320, H = 240;
  RenderOptions o = plain(W, H);
  Renderer r(context(), scene, o);
  viz::Camera cam = viz::focus_camera(scene.layout, 1, float(W) / float(H));
  ASSERT_TRUE(cam.cut);
  EXPECT_LT(cam.cut_x, scene.layout.layers[1].origin.x);
  EXPECT_GT(cam.cut_x, scene.layout.layers[0].max().x);
  r.render(cam);
  auto centre = r.pick(W / 2, H / 2);
  ASSERT_TRUE(centre);
  EXPECT_EQ(centre->layer, 1);
  EXPECT_EQ(centre->cell.c, 0);  // the front face: channel 0
  // Nothing upstream of the cut is drawn anywhere.
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) EXPECT_NE(r.id_at(x, y).first, 1u) << x << "," << y;
  viz::Camera uncut = cam;
  uncut.cut = false;
  r.render(uncut);
  auto blocked = r.pick(W / 2, H / 2);
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->layer, 0);
}

// A squeezed sheet (cells narrower along Z than along Y) still shows and picks each neuron at its
// centre, as a slab and as cells.
TEST_F(RenderTest, SqueezedSheetPicksEachNeuron) {
  viz::Scene scene = viz::synthetic_scene({{1, 4, 8, 8}, {1, 4, 8, 8}, {1, 4, 8, 8}, {1, 4, 8, 8}, {1, 2, 200}}, 12);
  const auto& v = scene.layout.layers[4];
  ASSERT_LT(v.cell_z, 0.5f * v.cell);
  const int W = 320, H = 240;
  glm::vec3 target = viz::neuron_center(v, 0, 0, 100);
  target.x = v.origin.x;
  viz::Camera cam = viz::look_at(target - glm::vec3(12.0f, 0, 0), target, 40.0f);
  cam.cut = true;  // the 8x8 layers upstream would hide the sheet's middle
  cam.cut_x = v.origin.x - 1.0f;
  for (float min_px : {1e9f, 1.0f}) {
    RenderOptions o = plain(W, H);
    o.msaa = 1;
    o.grid_lines = false;
    o.cell_min_px = min_px;
    Renderer r(context(), scene, o);
    FrameStats st = r.render(cam);
    if (min_px < 2) EXPECT_GT(st.cell_instances, 0u);
    glm::mat4 vp = viz::camera_view_proj(cam, float(W) / float(H), viz::scene_radius(scene.layout));
    int checked = 0;
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 94; x <= 106; ++x) {
        glm::vec3 c = viz::neuron_center(v, 0, y, x);
        c.x = v.origin.x;
        auto p = viz::project_to_pixel(vp, c, W, H);
        ASSERT_TRUE(p);
        auto pk = r.pick(int(p->x), int(p->y));
        ASSERT_TRUE(pk) << x << " mode " << min_px;
        EXPECT_EQ(pk->layer, 4);
        EXPECT_EQ(pk->flat, viz::flat_of(v.dims, 0, y, x)) << "mode " << min_px;
        EXPECT_LT(glm::length(pixel(r, int(p->x), int(p->y)) - expected_color(scene, 4, pk->flat)), 3.5f / 255.0f);
        ++checked;
      }
    EXPECT_EQ(checked, 26);
  }
}
