// viz maths without Vulkan: receptive fields against a brute-force dependency walk, LOD pyramids
// against direct block reductions, colour scales, layout determinism and branches, camera JSON.
// Longer than about 600 lines: short independent cases of the viz maths, sharing one set of small
// hand-built layouts and scenes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <tuple>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/colormap.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/viz/lod.hpp"
#include "netlens/viz/picking.hpp"
#include "netlens/viz/receptive_field.hpp"
#include "netlens/viz/scene.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

Node conv(const std::string& name, const std::string& in, const std::string& w, const std::string& out,
          std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dil = {1, 1}) {
  Node n;
  n.name = name;
  n.op_type = "Conv";
  n.inputs = {in, w};
  n.outputs = {out};
  n.attrs["strides"] = strides;
  n.attrs["pads"] = pads;
  n.attrs["dilations"] = dil;
  return n;
}

struct ConvSpec {
  int64_t k, s, pb, d;
};

// A stride-2 conv stack: 1x2x33x31 → conv(k3,s2,p1) → conv(k3,s1,p0,d2) → maxpool(k2,s2) → conv(k2,s2,p1).
struct Stack {
  Graph g;
  std::map<std::string, Shape> shapes;
  std::vector<std::string> names;
  std::vector<ConvSpec> specs;  // per stage (spatial, same for H and W)
};

Stack make_stack() {
  Stack st;
  st.g.inputs.push_back({"x", DType::Float32, {}, true});
  st.specs = {{3, 2, 1, 1}, {3, 1, 0, 2}, {2, 2, 0, 1}, {2, 2, 1, 1}};
  Shape s = {1, 2, 33, 31};
  st.shapes["x"] = s;
  st.names = {"x"};
  const int64_t chans[] = {3, 4, 4, 5};
  for (size_t i = 0; i < st.specs.size(); ++i) {
    const auto& sp = st.specs[i];
    std::string out = "t" + std::to_string(i + 1);
    Node n;
    if (i == 2) {
      n.name = "pool";
      n.op_type = "MaxPool";
      n.inputs = {st.names.back()};
      n.outputs = {out};
      n.attrs["kernel_shape"] = std::vector<int64_t>{sp.k, sp.k};
      n.attrs["strides"] = std::vector<int64_t>{sp.s, sp.s};
    } else {
      std::string w = "w" + std::to_string(i);
      st.g.initializers[w] = Tensor(DType::Float32, {chans[i], s[1], sp.k, sp.k});
      n = conv("conv" + std::to_string(i), st.names.back(), w, out, {sp.s, sp.s}, {sp.pb, sp.pb, sp.pb, sp.pb},
               {sp.d, sp.d});
    }
    st.g.nodes.push_back(n);
    Shape o = {1, i == 2 ? s[1] : chans[i], 0, 0};
    for (int d = 2; d < 4; ++d) o[d] = (s[d] + 2 * sp.pb - sp.d * (sp.k - 1) - 1) / sp.s + 1;
    st.shapes[out] = o;
    st.names.push_back(out);
    s = o;
  }
  st.g.outputs.push_back({st.names.back(), DType::Float32, {}, true});
  return st;
}

}  // namespace

TEST(ReceptiveField, Stride2ConvStackMatchesBruteForce) {
  Stack st = make_stack();
  ShapeFn shape_of = [&](const std::string& n) -> std::optional<Shape> {
    auto it = st.shapes.find(n);
    if (it == st.shapes.end()) return std::nullopt;
    return it->second;
  };
  const Shape& out = st.shapes[st.names.back()];
  std::mt19937 rng(3);
  for (int trial = 0; trial < 12; ++trial) {
    int64_t c = rng() % out[1], y = rng() % out[2], x = rng() % out[3];
    auto rf = receptive_field(st.g, shape_of, st.names.back(), {0, c, y, x});
    // Brute force: walk back stage by stage with explicit kernel taps, as sets of (c, y, x).
    std::set<std::tuple<int64_t, int64_t, int64_t>> cur = {{c, y, x}};
    for (size_t i = st.specs.size(); i-- > 0;) {
      const auto& sp = st.specs[i];
      const Shape& in = st.shapes[st.names[i]];
      std::set<std::tuple<int64_t, int64_t, int64_t>> prev;
      for (auto [cc, yy, xx] : cur)
        for (int64_t ky = 0; ky < sp.k; ++ky)
          for (int64_t kx = 0; kx < sp.k; ++kx) {
            int64_t iy = yy * sp.s - sp.pb + ky * sp.d, ix = xx * sp.s - sp.pb + kx * sp.d;
            if (iy < 0 || ix < 0 || iy >= in[2] || ix >= in[3]) continue;  // padding
            if (i == 2) prev.insert({cc, iy, ix});  // pooling: same channel
            else
              for (int64_t ic = 0; ic < in[1]; ++ic) prev.insert({ic, iy, ix});
          }
      cur = prev;
      const std::string& name = st.names[i];
      ASSERT_TRUE(rf.count(name)) << name;
      const TensorRegion& r = rf[name];
      int64_t lo[3] = {1 << 30, 1 << 30, 1 << 30}, hi[3] = {-1, -1, -1};
      for (auto [a, b, d] : cur) {
        lo[0] = std::min(lo[0], a); hi[0] = std::max(hi[0], a + 1);
        lo[1] = std::min(lo[1], b); hi[1] = std::max(hi[1], b + 1);
        lo[2] = std::min(lo[2], d); hi[2] = std::max(hi[2], d + 1);
      }
      for (int d = 0; d < 3; ++d) {
        EXPECT_EQ(r.lo[d + 1], lo[d]) << name << " dim " << d + 1 << " trial " << trial;
        EXPECT_EQ(r.hi[d + 1], hi[d]) << name << " dim " << d + 1 << " trial " << trial;
      }
      // For a conv/pool stack the dependency set is exactly a box (no holes).
      EXPECT_EQ(r.count(), static_cast<int64_t>(cur.size())) << name;
    }
  }
}

TEST(FanOut, Stride2ConvAndPoolMatchBruteForce) {
  // Every neuron of every stage's input (borders included): the fan-out in the stage's output must
  // be exactly the output neurons that read it through some in-bounds kernel tap.
  Stack st = make_stack();
  ShapeFn shape_of = [&](const std::string& n) -> std::optional<Shape> {
    auto it = st.shapes.find(n);
    if (it == st.shapes.end()) return std::nullopt;
    return it->second;
  };
  for (size_t i = 0; i < st.specs.size(); ++i) {
    const auto& sp = st.specs[i];
    const Shape& in = st.shapes[st.names[i]];
    const Shape& out = st.shapes[st.names[i + 1]];
    for (int64_t c = 0; c < in[1]; ++c)
      for (int64_t y = 0; y < in[2]; ++y)
        for (int64_t x = 0; x < in[3]; ++x) {
          std::set<std::vector<int64_t>> expect;
          for (int64_t oc = 0; oc < out[1]; ++oc) {
            if (i == 2 && oc != c) continue;  // pooling keeps the channel; convs read every channel
            for (int64_t oy = 0; oy < out[2]; ++oy)
              for (int64_t ox = 0; ox < out[3]; ++ox) {
                bool hit = false;
                for (int64_t ky = 0; ky < sp.k && !hit; ++ky)
                  for (int64_t kx = 0; kx < sp.k && !hit; ++kx)
                    hit = oy * sp.s - sp.pb + ky * sp.d == y && ox * sp.s - sp.pb + kx * sp.d == x;
                if (hit) expect.insert({0, oc, oy, ox});
              }
          }
          auto fo = fan_out(st.g, shape_of, st.names[i], {0, c, y, x});
          ASSERT_EQ(fo.size(), 1u);
          ASSERT_EQ(fo[0].tensor, st.names[i + 1]);
          ASSERT_TRUE(fo[0].complete);
          std::set<std::vector<int64_t>> got(fo[0].cells.begin(), fo[0].cells.end());
          ASSERT_EQ(got.size(), fo[0].cells.size());
          ASSERT_EQ(got, expect) << "stage " << i << " neuron [" << c << ", " << y << ", " << x << "]";
          for (const auto& e : expect)
            for (int d = 0; d < 4; ++d) {
              EXPECT_GE(e[d], fo[0].box.lo[d]);
              EXPECT_LT(e[d], fo[0].box.hi[d]);
            }
        }
  }
  EXPECT_THROW(fan_out(st.g, shape_of, "x", {0, 0, 33, 0}), Error);
  EXPECT_THROW(fan_out(st.g, shape_of, "nope", {0}), Error);
}

TEST(FanOut, GemmReachesEveryOutputAndElementwiseOne) {
  Graph g;
  g.inputs.push_back({"a", DType::Float32, {}, true});
  g.initializers["w"] = Tensor(DType::Float32, {6, 5});
  Node gemm;
  gemm.name = "fc";
  gemm.op_type = "Gemm";
  gemm.inputs = {"a", "w"};
  gemm.outputs = {"b"};
  g.nodes.push_back(gemm);
  Node relu;
  relu.name = "r";
  relu.op_type = "Relu";
  relu.inputs = {"b"};
  relu.outputs = {"c"};
  g.nodes.push_back(relu);
  std::map<std::string, Shape> shapes = {{"a", {2, 6}}, {"b", {2, 5}}, {"c", {2, 5}}};
  ShapeFn shape_of = [&](const std::string& n) -> std::optional<Shape> {
    if (g.initializers.count(n) || !shapes.count(n)) return std::nullopt;
    return shapes[n];
  };
  auto fo = fan_out(g, shape_of, "a", {1, 3});
  ASSERT_EQ(fo.size(), 1u);
  std::vector<std::vector<int64_t>> expect;
  for (int64_t j = 0; j < 5; ++j) expect.push_back({1, j});  // row 1 of the output, every column
  EXPECT_EQ(fo[0].cells, expect);
  auto fr = fan_out(g, shape_of, "b", {0, 4});
  ASSERT_EQ(fr.size(), 1u);
  EXPECT_EQ(fr[0].cells, (std::vector<std::vector<int64_t>>{{0, 4}}));
}

TEST(ReceptiveField, ConcatResizeAndElementwise) {
  // x(1x2x4x4) → Relu → a ; Resize(a, x2) → b (1x2x8x8); Concat(b, y) on channels → c; Add(c, c2).
  Graph g;
  auto node = [&](std::string op, std::vector<std::string> in, std::string out) {
    Node n;
    n.name = op + "_" + out;
    n.op_type = op;
    n.inputs = in;
    n.outputs = {out};
    g.nodes.push_back(n);
    return &g.nodes.back();
  };
  node("Relu", {"x"}, "a");
  node("Resize", {"a", "", "scales"}, "b");
  node("Concat", {"b", "y"}, "c")->attrs["axis"] = int64_t{1};
  std::map<std::string, Shape> shapes = {{"x", {1, 2, 4, 4}}, {"a", {1, 2, 4, 4}}, {"b", {1, 2, 8, 8}},
                                         {"y", {1, 3, 8, 8}}, {"c", {1, 5, 8, 8}}};
  ShapeFn sf = [&](const std::string& n) -> std::optional<Shape> {
    auto it = shapes.find(n);
    return it == shapes.end() ? std::nullopt : std::optional<Shape>(it->second);
  };
  // A channel of c that comes from y: nothing reaches b/a/x.
  auto r1 = receptive_field(g, sf, "c", {0, 3, 5, 6});
  EXPECT_TRUE(r1.count("y"));
  EXPECT_FALSE(r1.count("b"));
  EXPECT_EQ(r1["y"].lo, (std::vector<int64_t>{0, 1, 5, 6}));
  // A channel from b: reaches a and x through the 2x resize (conservative ±1) and Relu (same box).
  auto r2 = receptive_field(g, sf, "c", {0, 1, 5, 6});
  ASSERT_TRUE(r2.count("a") && r2.count("x"));
  EXPECT_FALSE(r2.count("y"));
  EXPECT_EQ(r2["b"].lo, (std::vector<int64_t>{0, 1, 5, 6}));
  EXPECT_EQ(r2["a"].lo[1], 1);
  EXPECT_LE(r2["a"].lo[2], 2);  // 5/2 = 2.5 → input row 2 (or 3): both within [lo, hi)
  EXPECT_GE(r2["a"].hi[2], 4);
  EXPECT_EQ(r2["x"].lo, r2["a"].lo);
  EXPECT_EQ(r2["x"].hi, r2["a"].hi);
  EXPECT_THROW(receptive_field(g, sf, "c", {0, 9, 0, 0}), Error);
  EXPECT_THROW(receptive_field(g, sf, "nope", {0}), Error);
}

TEST(Lod, PyramidMatchesDirectBlockReduction) {
  VolumeDims d{3, 13, 10, 3 * 13 * 10, false};
  std::vector<float> v(static_cast<size_t>(d.count));
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (auto& x : v) x = n(rng);
  v[flat_of(d, 1, 12, 9)] = std::numeric_limits<float>::quiet_NaN();
  FloatPyramid p = build_pyramid(v.data(), d);
  ASSERT_EQ(p.dims.size(), 4u);  // 13x10 → 7x5 → 4x3 → 2x2 → 1x1
  for (size_t k = 0; k < p.dims.size(); ++k) {
    int64_t b = int64_t{1} << (k + 1);
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t y = 0; y < p.dims[k].h; ++y)
        for (int64_t x = 0; x < p.dims[k].w; ++x) {
          float best = 0, sum = 0;
          int cnt = 0;
          bool bad = false;
          for (int64_t yy = y * b; yy < std::min(d.H, (y + 1) * b); ++yy)
            for (int64_t xx = x * b; xx < std::min(d.W, (x + 1) * b); ++xx) {
              float q = v[flat_of(d, c, yy, xx)];
              if (!std::isfinite(q)) bad = true;
              else if (std::fabs(q) > std::fabs(best) || cnt == 0) best = q;
              sum += q;
              ++cnt;
            }
          size_t o = static_cast<size_t>((c * p.dims[k].h + y) * p.dims[k].w + x);
          if (bad) {
            EXPECT_TRUE(std::isnan(p.max[k][o]));
            EXPECT_TRUE(std::isnan(p.mean[k][o]));
          } else {
            EXPECT_EQ(p.max[k][o], best);
            EXPECT_NEAR(p.mean[k][o], sum / float(cnt), 1e-5f);
          }
        }
  }
}

TEST(Colormap, ScalesAndSpecialCodes) {
  std::vector<float> relu = {0, 0, 0, 0.5f, 1.0f, 2.0f, 100.0f};
  ColorScale s = robust_scale(relu, 1, 99);
  EXPECT_EQ(s.kind, ColorMapKind::Sequential);
  EXPECT_EQ(encode(0.0f, s), kCodeZero);
  EXPECT_EQ(encode(std::numeric_limits<float>::infinity(), s), kCodeNonFinite);
  EXPECT_EQ(encode(std::nanf(""), s), kCodeNonFinite);
  EXPECT_EQ(encode(1e9f, s), kCodeMaxColor);
  std::vector<float> signed_v = {-3, -1, 0.5f, 2};
  ColorScale d = robust_scale(signed_v, 1, 99);
  EXPECT_EQ(d.kind, ColorMapKind::Diverging);
  EXPECT_FLOAT_EQ(d.lo, -d.hi);
  EXPECT_NEAR(d.normalize(0.0f), 0.5f, 1e-6f);
  // Zero and non-finite colours are far from every colour-map entry.
  for (auto k : {ColorMapKind::Sequential, ColorMapKind::Diverging})
    for (int i = 0; i <= kCodeMaxColor; ++i) {
      glm::vec3 c = decode_color(k, static_cast<uint8_t>(i));
      EXPECT_GT(glm::length(c - non_finite_color()), 0.3f);
      EXPECT_GT(glm::length(c - zero_color(k)), 0.04f) << i;
    }
  LegendData L = legend_data(s);
  EXPECT_EQ(L.ticks.front().second, "0");
}

TEST(Layout, DeterministicAndBranchesSideBySide) {
  // input → a → {b1, b2} → add(b1, b2)
  std::vector<VizTensor> t = {{"in", "Input", "", {1, 3, 16, 16}, {}, -1},
                              {"a", "Conv", "c1", {1, 8, 16, 16}, {0}, 0},
                              {"b1", "Conv", "c2", {1, 8, 8, 8}, {1}, 1},
                              {"b2", "Conv", "c3", {1, 8, 8, 8}, {1}, 2},
                              {"sum", "Add", "add", {1, 8, 8, 8}, {2, 3}, 3},
                              {"fc", "Gemm", "fc", {1, 10}, {4}, 4}};
  Layout l1 = layout_tensors(t), l2 = layout_tensors(t);
  ASSERT_EQ(l1.layers.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(l1.layers[i].origin, l2.layers[i].origin);
    EXPECT_EQ(l1.layers[i].size, l2.layers[i].size);
  }
  EXPECT_EQ(l1.layers[2].level, l1.layers[3].level);
  EXPECT_NE(l1.layers[2].lane, l1.layers[3].lane);
  // Branches side by side: same X span, disjoint Z spans.
  EXPECT_EQ(l1.layers[2].origin.x, l1.layers[3].origin.x);
  EXPECT_TRUE(l1.layers[2].max().z <= l1.layers[3].origin.z || l1.layers[3].max().z <= l1.layers[2].origin.z);
  // Flow along +X.
  EXPECT_LT(l1.layers[1].max().x, l1.layers[2].origin.x);
  EXPECT_LT(l1.layers[4].max().x, l1.layers[5].origin.x);
  // A vector becomes a square-ish grid holding every element.
  EXPECT_TRUE(l1.layers[5].dims.grid);
  EXPECT_EQ(l1.layers[5].dims.count, 10);
  EXPECT_GE(l1.layers[5].dims.H * l1.layers[5].dims.W, 10);
}

TEST(Layout, SelectTensorsHidesPlumbing) {
  Graph g;
  g.inputs.push_back({"x", DType::Float32, {}, true});
  auto add = [&](std::string op, std::vector<std::string> in, std::string out) {
    Node n;
    n.name = op;
    n.op_type = op;
    n.inputs = in;
    n.outputs = {out};
    g.nodes.push_back(n);
  };
  add("Conv", {"x", "w"}, "c");
  add("Relu", {"c"}, "r");
  add("Flatten", {"r"}, "f");
  add("Gemm", {"f", "w2"}, "y");
  g.outputs.push_back({"y", DType::Float32, {}, true});
  std::vector<PlannedTensor> planned = {
      {"x", {DType::Float32, {1, 1, 4, 4}}, -1, false}, {"w", {DType::Float32, {2, 1, 3, 3}}, -1, true},
      {"c", {DType::Float32, {1, 2, 2, 2}}, 0, false},  {"r", {DType::Float32, {1, 2, 2, 2}}, 1, false},
      {"f", {DType::Float32, {1, 8}}, 2, false},        {"w2", {DType::Float32, {8, 3}}, -1, true},
      {"y", {DType::Float32, {1, 3}}, 3, false}};
  auto t = select_tensors(g, planned);
  ASSERT_EQ(t.size(), 4u);  // x, c, r, y (Flatten hidden)
  EXPECT_EQ(t[3].name, "y");
  EXPECT_EQ(t[3].inputs, std::vector<int>{2});  // the edge passes through the hidden Flatten
}

TEST(Camera, JsonRoundTripAndErrors) {
  Camera c{{1.25f, -3.5f, 1e-7f}, 123.456789f, -37.1f, 21.9f, 41.0f};
  Camera d = camera_from_json(camera_to_json(c));
  EXPECT_EQ(c, d);
  EXPECT_THROW(camera_from_json("{"), Error);
  EXPECT_THROW(camera_from_json("{\"target\": [0, 0], \"distance\": 1}"), Error);
  EXPECT_THROW(camera_from_json("{\"target\": [0, 0, 0], \"distance\": -1}"), Error);
  EXPECT_THROW(camera_from_json("[1, 2]"), Error);
  EXPECT_THROW(camera_from_json("{\"target\": [0, 0, 0], \"distance\": 1} x"), Error);
  // look_at / camera_eye agree.
  Camera l = look_at({-10, 5, 3}, {2, 1, 0});
  glm::vec3 e = camera_eye(l);
  EXPECT_NEAR(e.x, -10, 1e-3);
  EXPECT_NEAR(e.y, 5, 1e-3);
  EXPECT_NEAR(e.z, 3, 1e-3);
}

TEST(Picking, DecodeAndJson) {
  Scene s = synthetic_scene({{1, 2, 3, 4}, {1, 5}});
  EXPECT_FALSE(decode_pick(s, 0, 0));
  EXPECT_FALSE(decode_pick(s, 3, 0));
  EXPECT_FALSE(decode_pick(s, 2, 5));  // past the vector's end (grid tail)
  auto p = decode_pick(s, 1, static_cast<uint32_t>(flat_of(s.layout.layers[0].dims, 1, 2, 3)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cell.c, 1);
  EXPECT_EQ(p->cell.y, 2);
  EXPECT_EQ(p->cell.x, 3);
  EXPECT_EQ(p->index, (std::vector<int64_t>{0, 1, 2, 3}));
  std::string j = pick_to_json(p, s);
  EXPECT_NE(j.find("\"index\": [1, 2, 3]"), std::string::npos) << j;
  EXPECT_EQ(pick_to_json(std::nullopt, s), "null");
}

TEST(Layout, ExtremelyWideSheetIsSqueezedAlongZ) {
  // Four 24x160 maps and a 1x40x6625 logits sheet (PP-OCR rec's head): the sheet's cells are
  // squeezed along Z to 4x the 75th-percentile width; ordinary layers keep square cells.
  Layout l = layout_tensors(synthetic_tensors({{1, 8, 24, 160}, {1, 8, 24, 160}, {1, 8, 24, 160}, {1, 8, 24, 160},
                                               {1, 40, 6625}}));
  const auto& sheet = l.layers[4];
  EXPECT_EQ(sheet.dims.H, 40);
  EXPECT_EQ(sheet.dims.W, 6625);
  EXPECT_FLOAT_EQ(sheet.cell, 1.0f);
  EXPECT_NEAR(sheet.size.z, 4.0f * 160.0f, 1e-2f);
  EXPECT_NEAR(sheet.cell_z * 6625.0f, sheet.size.z, 1e-2f);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(l.layers[static_cast<size_t>(i)].cell_z, 1.0f);
  // Neuron centres span the squeezed width exactly.
  EXPECT_NEAR(neuron_center(sheet, 0, 0, 0).z - sheet.origin.z, 0.5f * sheet.cell_z, 1e-3f);
  EXPECT_NEAR(sheet.max().z - neuron_center(sheet, 0, 39, 6624).z, 0.5f * sheet.cell_z, 1e-2f);
  // A merely wide layer (8x the height but not 8x the typical width) is left alone.
  Layout m = layout_tensors(synthetic_tensors({{1, 8, 24, 160}, {1, 8, 24, 160}, {1, 8, 24, 160}, {1, 2, 640}}));
  EXPECT_EQ(m.layers[3].cell_z, 1.0f);
}

// --- Scene building: threads, percentile ranges, the global scale -------------------------------

namespace {

// Layers chosen for the scene's task split: a vector wrapped into a grid with an empty tail, a
// layer whose channels span several code tasks, one channel larger than a task, a 1×1 layer, and
// signed / ReLU-like values with NaN, ±Inf and −0.0 sprinkled in.
std::vector<Shape> scene_shapes() {
  return {{1, 3, 37, 29}, {1, 100, 40, 40}, {1, 2, 270, 263}, {1, 1000}, {1, 5, 1, 1}, {1, 64, 9, 7}};
}

std::vector<std::vector<float>> scene_values(const Layout& L, bool all_non_negative, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 2.0f);
  std::vector<std::vector<float>> v;
  for (size_t i = 0; i < L.layers.size(); ++i) {
    std::vector<float> x(static_cast<size_t>(L.layers[i].dims.count));
    const bool relu = all_non_negative || i % 2 == 1;
    for (auto& q : x) q = relu ? std::max(0.0f, n(rng)) : n(rng);
    if (x.size() > 40) {
      x[3] = std::numeric_limits<float>::quiet_NaN();
      x[17] = std::numeric_limits<float>::infinity();
      x[29] = relu ? 0.0f : -std::numeric_limits<float>::infinity();
      x[31] = -0.0f;
    }
    v.push_back(std::move(x));
  }
  return v;
}

// encode as it was written before the lround shortcut (the reference for codes).
uint8_t lround_encode(float v, const ColorScale& s) {
  if (!std::isfinite(v)) return kCodeNonFinite;
  if (v == 0.0f) return kCodeZero;
  const auto c = static_cast<int>(std::lround(s.normalize(v) * float(kCodeMaxColor)));
  return static_cast<uint8_t>(std::clamp(c, 0, int(kCodeMaxColor)));
}

// The documented scene, computed directly (not with robust_scale or build_pyramid): the scales
// given (direct_scale's sorted percentiles), level-0 codes in flat order, and level k (k ≥ 1) pooled
// straight from level 0 over the block [y·2^k, (y+1)·2^k) × [x·2^k, (x+1)·2^k) of each channel,
// clipped at the edges and at a grid's tail: the value of largest magnitude (the first in raster
// order on a tie) and the mean (summed in double), not level by level in float as build_pyramid
// does. A non-finite value in a block makes both codes kCodeNonFinite; a block covering no neuron
// is kCodeEmpty. Levels halve (rounding up) until both sides are 1, at most kMaxLevels - 1.
Scene reference_scene(const Layout& layout, const std::vector<std::vector<float>>& values,
                      const std::vector<ColorScale>& scales) {
  Scene s;
  s.layout = layout;
  s.layers.resize(layout.layers.size());
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    const VolumeDims& d = layout.layers[i].dims;
    SceneLayer& L = s.layers[i];
    L.values = values[i];
    L.scale = scales[i];
    L.code0_offset = s.codes0.size();
    for (int64_t k = 0; k < d.C * d.H * d.W; ++k) s.codes0.push_back(k < d.count ? lround_encode(L.values[k], L.scale) : kCodeEmpty);
    int64_t h = d.H, w = d.W;
    for (int k = 1; (h > 1 || w > 1) && k < kMaxLevels; ++k) {
      const int64_t b = int64_t{1} << k;
      h = (d.H + b - 1) / b;
      w = (d.W + b - 1) / b;
      L.levels = k;
      L.level_offset[k] = s.codes_max.size();
      for (int64_t c = 0; c < d.C; ++c)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x) {
            float best = 0.0f;
            double sum = 0.0;
            int64_t cnt = 0;
            bool bad = false;
            for (int64_t yy = y * b; yy < std::min(d.H, (y + 1) * b); ++yy)
              for (int64_t xx = x * b; xx < std::min(d.W, (x + 1) * b); ++xx) {
                const int64_t flat = (c * d.H + yy) * d.W + xx;
                if (flat >= d.count) continue;
                const float q = L.values[static_cast<size_t>(flat)];
                if (!std::isfinite(q)) bad = true;
                else if (cnt == 0 || std::fabs(q) > std::fabs(best)) best = q;
                sum += double(q);
                ++cnt;
              }
            if (cnt == 0) {
              s.codes_max.push_back(kCodeEmpty);
              s.codes_mean.push_back(kCodeEmpty);
            } else if (bad) {
              s.codes_max.push_back(kCodeNonFinite);
              s.codes_mean.push_back(kCodeNonFinite);
            } else {
              s.codes_max.push_back(lround_encode(best, L.scale));
              s.codes_mean.push_back(lround_encode(static_cast<float>(sum / double(cnt)), L.scale));
            }
          }
    }
  }
  return s;
}

// `a` (built by the program) against the direct reference `ref`: scales, layout of the code
// arrays, values, level-0 and max codes exact; mean codes within 1 (of 251): the reference sums
// in double over the whole block, the program in float level by level, so a mean that lies within
// float rounding of a code boundary may round the other way.
void expect_matches_reference(const Scene& a, const Scene& ref, const char* what) {
  ASSERT_EQ(a.layers.size(), ref.layers.size()) << what;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const SceneLayer &x = a.layers[i], &y = ref.layers[i];
    EXPECT_EQ(x.scale.kind, y.scale.kind) << what << " layer " << i;
    EXPECT_EQ(x.scale.lo, y.scale.lo) << what << " layer " << i;
    EXPECT_EQ(x.scale.hi, y.scale.hi) << what << " layer " << i;
    EXPECT_EQ(x.code0_offset, y.code0_offset) << what;
    EXPECT_EQ(x.levels, y.levels) << what << " layer " << i;
    for (int k = 1; k <= y.levels; ++k) EXPECT_EQ(x.level_offset[k], y.level_offset[k]) << what << " layer " << i;
    ASSERT_EQ(x.values.size(), y.values.size()) << what;
    EXPECT_EQ(std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)), 0) << what << " layer " << i;
  }
  EXPECT_TRUE(a.codes0 == ref.codes0) << what;
  EXPECT_TRUE(a.codes_max == ref.codes_max) << what;
  ASSERT_EQ(a.codes_mean.size(), ref.codes_mean.size()) << what;
  size_t off_by_one = 0;
  for (size_t j = 0; j < ref.codes_mean.size(); ++j) {
    const int da = a.codes_mean[j], dr = ref.codes_mean[j];
    if (da == dr) continue;
    // Special codes (zero, empty, non-finite) must match exactly; colours within 1.
    ASSERT_TRUE(da <= kCodeMaxColor && dr <= kCodeMaxColor && std::abs(da - dr) <= 1)
        << what << ": mean code " << j << " is " << da << ", the direct mean gives " << dr;
    ++off_by_one;
  }
  EXPECT_LT(off_by_one, ref.codes_mean.size() / 1000 + 1) << what << ": too many mean codes off by one";
  std::printf("%s: %zu of %zu mean codes off by one\n", what, off_by_one, ref.codes_mean.size());
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every byte the renderer reads, and every value, equal (no tolerance).
void expect_same_scene(const Scene& a, const Scene& b, const char* what) {
  ASSERT_EQ(a.layers.size(), b.layers.size()) << what;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const SceneLayer &x = a.layers[i], &y = b.layers[i];
    EXPECT_EQ(x.scale.kind, y.scale.kind) << what << " layer " << i;
    EXPECT_TRUE(same_bits(x.scale.lo, y.scale.lo) && same_bits(x.scale.hi, y.scale.hi))
        << what << " layer " << i << ": " << x.scale.lo << ".." << x.scale.hi << " vs " << y.scale.lo << ".." << y.scale.hi;
    EXPECT_EQ(x.code0_offset, y.code0_offset) << what;
    EXPECT_EQ(x.levels, y.levels) << what;
    EXPECT_EQ(x.level_offset, y.level_offset) << what;
    ASSERT_EQ(x.values.size(), y.values.size()) << what;
    EXPECT_EQ(std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)), 0) << what << " layer " << i;
  }
  EXPECT_TRUE(a.codes0 == b.codes0) << what;
  EXPECT_TRUE(a.codes_max == b.codes_max) << what;
  EXPECT_TRUE(a.codes_mean == b.codes_mean) << what;
}

// The k-th smallest by a full sort (independent of robust_scale's partial partitions).
float sorted_pct(std::vector<float> s, float p) {
  std::sort(s.begin(), s.end());
  size_t k = static_cast<size_t>(std::lround(double(p) / 100.0 * double(s.size() - 1)));
  return s[std::min(k, s.size() - 1)];
}

// The documented rule, computed directly: strided finite samples of each layer (union for the
// global scale), diverging if any value is below zero, percentiles by sorting.
ColorScale direct_scale(const std::vector<const std::vector<float>*>& layers, float lo_pct, float hi_pct,
                        size_t max_samples) {
  std::vector<float> s;
  bool negative = false;
  for (const auto* v : layers) {
    const size_t stride = std::max<size_t>(1, v->size() / max_samples);
    for (size_t i = 0; i < v->size(); i += stride)
      if (std::isfinite((*v)[i])) s.push_back((*v)[i]);
    for (size_t i = 0; i < v->size(); ++i)
      if ((stride == 1 ? std::isfinite((*v)[i]) : true) && (*v)[i] < 0.0f) negative = true;
  }
  if (negative) {
    for (auto& q : s) q = std::fabs(q);
    float m = sorted_pct(s, hi_pct);
    if (!(m > 0.0f)) m = *std::max_element(s.begin(), s.end());
    return {ColorMapKind::Diverging, -m, m};
  }
  std::erase_if(s, [](float q) { return q == 0.0f; });
  if (s.empty()) return {ColorMapKind::Sequential, 0.0f, 1.0f};
  float lo = sorted_pct(s, lo_pct), hi = sorted_pct(s, hi_pct);
  if (!(hi > lo)) { lo = 0.0f; hi = std::max(hi, 1e-30f); }
  if (lo < 0.25f * hi) lo = 0.0f;
  return {ColorMapKind::Sequential, lo, hi};
}

}  // namespace

TEST(Scene, ThreadedAndSerialBuildsMatchADirectComputation) {
  const Layout layout = layout_tensors(synthetic_tensors(scene_shapes()));
  const auto values = scene_values(layout, false, 3);
  for (size_t max_samples : {size_t(1) << 20, size_t(1000)}) {  // whole layers, then strided samples
    std::vector<ColorScale> scales;
    for (const auto& v : values) scales.push_back(direct_scale({&v}, 1.0f, 99.0f, max_samples));
    const Scene ref = reference_scene(layout, values, scales);
    SceneOptions o;
    o.max_samples = max_samples;
    o.threads = 1;
    const Scene serial = build_scene_from_values(layout, values, o);
    o.threads = 4;  // more threads than this machine's cores: tasks interleave for real
    const Scene threaded = build_scene_from_values(layout, values, o);
    expect_matches_reference(serial, ref, "serial vs the direct computation");
    expect_matches_reference(threaded, ref, "4 threads vs the direct computation");
    expect_same_scene(threaded, serial, "4 threads vs 1");  // and the thread count changes no byte
    // The split is not vacuous: the 2×270×263 layer and the 100-channel one span several tasks,
    // and both diverging and sequential scales are present.
    EXPECT_EQ(threaded.layers[1].scale.kind, ColorMapKind::Sequential);
    EXPECT_EQ(threaded.layers[2].scale.kind, ColorMapKind::Diverging);
  }
  // build_scene (fetch on this thread, float32 copies on threads; float16 tensors converted) gives
  // the scene of the same values.
  std::vector<Tensor> tensors;
  auto expected = values;
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    Tensor t = Tensor::from_f32(layout.layers[i].tensor.shape, values[i]);
    if (i == 1) {
      t = t.cast(DType::Float16);
      expected[i] = t.to_f32_vector();
    }
    tensors.push_back(std::move(t));
  }
  const Scene fetched = build_scene(layout, [&](const std::string& n) { return tensors.at(static_cast<size_t>(layout.find(n))); });
  expect_same_scene(fetched, build_scene_from_values(layout, expected, {.threads = 1}), "build_scene");
}

TEST(Scene, PercentileRangeAndGlobalScaleMatchADirectComputation) {
  const Layout layout = layout_tensors(synthetic_tensors(scene_shapes()));
  for (bool non_negative : {true, false}) {
    const auto values = scene_values(layout, non_negative, 11);
    for (size_t max_samples : {size_t(1) << 20, size_t(777)}) {
      // Per layer at p5..p90.
      SceneOptions o{.lo_pct = 5.0f, .hi_pct = 90.0f, .max_samples = max_samples};
      const Scene per = build_scene_from_values(layout, values, o);
      for (size_t i = 0; i < values.size(); ++i) {
        ColorScale d = direct_scale({&values[i]}, 5.0f, 90.0f, max_samples);
        EXPECT_EQ(per.layers[i].scale.kind, d.kind) << i;
        EXPECT_EQ(per.layers[i].scale.lo, d.lo) << i;
        EXPECT_EQ(per.layers[i].scale.hi, d.hi) << i;
      }
      // Global at p2..p98: one scale, over the union of every layer's samples.
      o = {.lo_pct = 2.0f, .hi_pct = 98.0f, .global_scale = true, .max_samples = max_samples};
      const Scene glob = build_scene_from_values(layout, values, o);
      std::vector<const std::vector<float>*> all;
      for (const auto& v : values) all.push_back(&v);
      const ColorScale g = direct_scale(all, 2.0f, 98.0f, max_samples);
      EXPECT_EQ(g.kind, non_negative ? ColorMapKind::Sequential : ColorMapKind::Diverging);
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(glob.layers[i].scale.kind, g.kind) << i;
        EXPECT_EQ(glob.layers[i].scale.lo, g.lo) << i;
        EXPECT_EQ(glob.layers[i].scale.hi, g.hi) << i;
        // Codes follow the global scale.
        const auto& d = layout.layers[i].dims;
        for (int64_t k = 0; k < d.count; ++k)
          ASSERT_EQ(glob.codes0[glob.layers[i].code0_offset + static_cast<uint64_t>(k)], encode(values[i][k], g)) << i << ":" << k;
      }
      // Threads change nothing here either.
      o.threads = 1;
      expect_same_scene(glob, build_scene_from_values(layout, values, o), "global, serial vs threaded");
      EXPECT_TRUE(glob.options.same_scales(o));
    }
    // Defaults are the rule per layer at p1..p99 over whole layers (SceneOptions' max_samples = 2^20
    // exceeds every layer here), and a different range does change a scale.
    const Scene def = build_scene_from_values(layout, values);
    const Scene narrow = build_scene_from_values(layout, values, {.lo_pct = 5.0f, .hi_pct = 90.0f});
    bool differs = false;
    for (size_t i = 0; i < values.size(); ++i) {
      const ColorScale r = direct_scale({&values[i]}, 1.0f, 99.0f, size_t(1) << 20);
      EXPECT_EQ(def.layers[i].scale.lo, r.lo);
      EXPECT_EQ(def.layers[i].scale.hi, r.hi);
      differs |= narrow.layers[i].scale.hi != r.hi;
    }
    EXPECT_TRUE(differs);
  }
}

TEST(Colormap, RobustScaleEqualsSortedPercentilesForAnyRange) {
  // robust_scale partitions once and searches the second percentile in one side only; a full
  // sort gives the same values for every percentile pair (lo > hi included).
  std::mt19937 rng(7);
  std::lognormal_distribution<float> ln(0.0f, 1.5f);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> v(1 + rng() % 5000);
    for (auto& q : v) q = rng() % 4 == 0 ? 0.0f : ln(rng);
    for (auto [lo, hi] : {std::pair{1.0f, 99.0f}, {0.0f, 100.0f}, {30.0f, 30.0f}, {70.0f, 20.0f}, {2.5f, 97.5f}}) {
      ColorScale s = robust_scale(v, lo, hi);
      ColorScale d = direct_scale({&v}, lo, hi, 1u << 20);
      EXPECT_EQ(s.lo, d.lo) << trial << " p" << lo << "..p" << hi;
      EXPECT_EQ(s.hi, d.hi) << trial << " p" << lo << "..p" << hi;
    }
  }
}

TEST(Colormap, EncodeRoundsExactlyAsLround) {
  // encode rounds t·251 without libm's lround; every float near a rounding boundary (k + 0.5)/251
  // (±200 ULP), a stride through all floats of (0, 1], and tiny/huge values give lround's code.
  const ColorScale unit{ColorMapKind::Sequential, 0.0f, 1.0f};
  const ColorScale wide{ColorMapKind::Diverging, -3.0f, 3.0f};
  int64_t checked = 0;
  auto check = [&](float v) {
    for (const ColorScale* sc : {&unit, &wide}) {
      ASSERT_EQ(encode(v, *sc), lround_encode(v, *sc)) << v;
      ASSERT_EQ(encode(-v, *sc), lround_encode(-v, *sc)) << -v;
    }
    ++checked;
  };
  for (int k = 0; k <= 251; ++k) {
    for (float centre : {(float(k) + 0.5f) / 251.0f, float((double(k) + 0.5) / 251.0), (float(k) + 0.5f) / 251.0f * 6.0f - 3.0f}) {
      float v = centre;
      for (int i = 0; i < 200; ++i) v = std::nextafter(v, 0.0f);
      for (int i = 0; i < 400; ++i, v = std::nextafter(v, 2.0f)) check(v);
    }
  }
  for (uint32_t bits = 1; bits <= 0x3f800000u; bits += 9973) {
    float v;
    std::memcpy(&v, &bits, sizeof v);
    check(v);
  }
  for (float v : {1e-45f, 1e-38f, 1e-30f, 9.3e-10f, 0.49999997f / 251.0f, 3e38f, 0.4999999f, 250.5f / 251.0f}) check(v);
  EXPECT_GT(checked, 200000);
}
