// CodeBuilder (Vulkan compute) against the CPU's viz::build_scene_from_values, on whatever Vulkan
// device is present (lavapipe on CI machines) with the validation layers on. The CPU scene is the
// independent computation: scales must be equal bit for bit (kind, lo, hi) and every code of
// codes0 / codes_max / codes_mean equal (tolerance: zero differing codes — the GPU side redoes any
// division that could round across a code boundary exactly, see code_builder.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "netlens/viz/camera.hpp"
#include "netlens/render/code_builder.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/viz/values.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& context() {
  static Context ctx(ContextOptions{.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = false});
  return ctx;
}

class CodeBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override { errors_before_ = context().validation_error_count(); }
  void TearDown() override {
    EXPECT_EQ(context().validation_error_count(), errors_before_) << "Vulkan validation errors (see stderr)";
  }
  size_t errors_before_ = 0;
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

struct Diff {
  size_t scales = 0, codes0 = 0, codes_max = 0, codes_mean = 0;
  int max_step = 0;  // largest |GPU code − CPU code| among differing colour codes
};

// Compares a CodeBuilder's results with the CPU scene, printing the first few differences.
Diff compare(const CodeBuilder& gb, const std::vector<viz::ColorScale>& gs, const CodeBuilder::Codes& gc,
             const viz::Scene& cpu, bool report = true) {
  Diff d;
  const size_t n = cpu.layers.size();
  EXPECT_EQ(gs.size(), n);
  for (size_t i = 0; i < n && i < gs.size(); ++i) {
    const auto& c = cpu.layers[i];
    const int li = static_cast<int>(i);
    EXPECT_EQ(gb.code0_offset(li), c.code0_offset) << "layer " << i;
    EXPECT_EQ(gb.levels(li), c.levels) << "layer " << i;
    for (int k = 1; k <= std::min(c.levels, gb.levels(li)); ++k)
      EXPECT_EQ(gb.level_offset(li, k), c.level_offset[static_cast<size_t>(k)]) << "layer " << i << " level " << k;
    const bool same = gs[i].kind == c.scale.kind && std::bit_cast<uint32_t>(gs[i].lo) == std::bit_cast<uint32_t>(c.scale.lo) &&
                      std::bit_cast<uint32_t>(gs[i].hi) == std::bit_cast<uint32_t>(c.scale.hi);
    if (!same && d.scales++ < 5 && report)
      ADD_FAILURE() << "layer " << i << " (" << cpu.layout.layers[i].tensor.name << "): GPU scale kind "
                    << int(gs[i].kind) << " [" << gs[i].lo << ", " << gs[i].hi << "], CPU kind " << int(c.scale.kind)
                    << " [" << c.scale.lo << ", " << c.scale.hi << "]";
  }
  auto cmp = [&](const std::vector<uint8_t>& g, const std::vector<uint8_t>& c, const char* what, size_t& count) {
    EXPECT_EQ(g.size(), c.size()) << what;
    for (size_t j = 0; j < std::min(g.size(), c.size()); ++j) {
      if (g[j] == c[j]) continue;
      if (g[j] <= viz::kCodeMaxColor && c[j] <= viz::kCodeMaxColor) d.max_step = std::max(d.max_step, std::abs(int(g[j]) - int(c[j])));
      else d.max_step = 255;
      if (count++ < 5 && report) std::printf("  %s[%zu]: GPU %d, CPU %d\n", what, j, int(g[j]), int(c[j]));
    }
  };
  cmp(gc.codes0, cpu.codes0, "codes0", d.codes0);
  cmp(gc.codes_max, cpu.codes_max, "codes_max", d.codes_max);
  cmp(gc.codes_mean, cpu.codes_mean, "codes_mean", d.codes_mean);
  return d;
}

struct Timing { double cpu_ms = 0, gpu_ms = 0; };

// Builds the CPU scene and the GPU codes for the same values; expects them equal.
Timing expect_same(const viz::Layout& layout, const std::vector<std::vector<float>>& values,
                   const CodeBuilderOptions& opts = {}) {
  ActivationBuffer act(context(), values);
  CodeBuilder gb(context(), layout, act.offsets(), act.bytes(), opts);
  Timing t;
  t.gpu_ms = gb.run(act.buffer());
  auto t0 = std::chrono::steady_clock::now();
  viz::Scene cpu = viz::build_scene_from_values(layout, values);
  t.cpu_ms = ms_since(t0);
  Diff d = compare(gb, gb.scales(), gb.read_codes(), cpu);
  EXPECT_EQ(d.scales, 0u);
  EXPECT_EQ(d.codes0, 0u) << "of " << cpu.codes0.size();
  EXPECT_EQ(d.codes_max, 0u) << "of " << cpu.codes_max.size();
  EXPECT_EQ(d.codes_mean, 0u) << "of " << cpu.codes_mean.size() << " (largest step " << d.max_step << ")";
  return t;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Layers chosen for the corners of robust_scale and build_pyramid: signed with NaN/±Inf, all
// zero, all negative, a vector grid with an empty tail and values far from 0, tiny layers (no
// pyramid at all), constant values (hi == lo), only NaN, -0.0 with a -Inf (sequential: the sign
// test of samples skips non-finite values), and a layer large enough to be sampled (stride 2)
// whose only negative value is an unsampled -Inf (diverging: the sign test then sees every value).
std::pair<viz::Layout, std::vector<std::vector<float>>> corner_cases() {
  std::vector<Shape> shapes = {{1, 3, 17, 23}, {1, 8, 16, 16}, {1, 5, 9, 7},  {1, 1000},    {1, 7},
                               {1, 1, 1, 1},   {1, 33, 1, 1},  {1, 2, 5, 6},  {1, 4, 6, 6}, {1, 3, 10, 11},
                               {1, 8, 512, 520}};
  viz::Scene s = viz::synthetic_scene(shapes, 7);
  std::vector<std::vector<float>> v;
  for (auto& l : s.layers) v.push_back(l.values);
  v[0][5] = kNaN;
  v[0][100] = kInf;
  v[0][17 * 23 + 3] = -kInf;
  v[0][3 * 17 * 23 - 1] = kNaN;  // last neuron: every pyramid level's last cell is non-finite
  std::fill(v[1].begin(), v[1].end(), 0.0f);
  for (float& x : v[2]) x = -std::fabs(x) - 0.1f;
  for (size_t i = 0; i < v[3].size(); ++i) v[3][i] = 0.4f + 0.5f * float((i * 37) % 101) / 100.0f;
  v[4] = {0.5f, -2.0f, 0.0f, 3.0f, 1e-3f, -7.0f, 0.25f};
  v[5] = {-0.0f};
  std::fill(v[7].begin(), v[7].end(), 0.75f);
  std::fill(v[8].begin(), v[8].end(), kNaN);
  for (size_t i = 0; i < v[9].size(); ++i) v[9][i] = i % 3 == 0 ? -0.0f : std::fabs(v[9][i]);
  v[9][4] = -kInf;
  for (float& x : v[10]) x = std::fabs(x) * 100.0f;
  v[10][1001] = -kInf;  // odd index: not a sample
  v[10][2000] = kInf;
  return {s.layout, v};
}

// NETLENS_MODEL_DIR (the GPU machine's bundle, scripts/gpu-check.sh) holds the models directly.
std::filesystem::path cache_dir() {
  if (const char* d = std::getenv("NETLENS_MODEL_DIR")) return std::filesystem::path(d).parent_path();
  return NETLENS_CACHE_DIR;
}

// The values build_scene sees for each layout layer of a session that has run.
std::vector<std::vector<float>> layer_values(const viz::Layout& layout, const Session& s) {
  return viz::layer_values(layout, [&](const std::string& n) { return s.activations().fetch(n); });
}

}  // namespace

TEST_F(CodeBuilderTest, CornerCasesMatchTheCpuExactly) {
  auto [layout, values] = corner_cases();
  viz::Scene cpu = viz::build_scene_from_values(layout, values);
  // The cases are what they claim to be (on the CPU side).
  EXPECT_EQ(cpu.layers[0].scale.kind, viz::ColorMapKind::Diverging);
  EXPECT_EQ(cpu.layers[1].scale.hi, 1.0f);
  EXPECT_EQ(cpu.layers[2].scale.kind, viz::ColorMapKind::Diverging);
  EXPECT_GT(cpu.layers[3].scale.lo, 0.0f);
  EXPECT_EQ(cpu.layers[5].levels, 0);
  EXPECT_EQ(cpu.layers[7].scale.lo, 0.0f);
  EXPECT_EQ(cpu.layers[9].scale.kind, viz::ColorMapKind::Sequential);
  EXPECT_EQ(cpu.layers[10].scale.kind, viz::ColorMapKind::Diverging);
  EXPECT_GT(layout.layers[10].dims.count, 2 << 20);  // sampled with stride 2
  EXPECT_NE(std::count(cpu.codes0.begin(), cpu.codes0.end(), viz::kCodeEmpty), 0);
  expect_same(layout, values);
}

TEST_F(CodeBuilderTest, ExactDivisionEverywhereGivesTheSameCodes) {
  // The exact integer division (normally only near code boundaries) on every code.
  auto [layout, values] = corner_cases();
  expect_same(layout, values, CodeBuilderOptions{.force_exact_division = true});
}

TEST_F(CodeBuilderTest, HardwareDivisionTwoUlpOffStillGivesTheSameCodes) {
  // lavapipe divides exactly, so the fast path's error margins are tested by moving every hardware
  // quotient (t and the pyramid means) 2 ULP up or down, as a GPU may (OpFDiv: 2.5 ULP). Codes
  // within that error of a rounding boundary must be caught and redone exactly.
  auto [layout, values] = corner_cases();
  expect_same(layout, values, CodeBuilderOptions{.perturb_division = true});
}

TEST_F(CodeBuilderTest, ManyLayersAndOtherPercentiles) {
  // 60 layers in one set of dispatches (the per-layer tables), percentiles 2/98, a small sample
  // budget so that most layers are sampled.
  std::vector<Shape> shapes;
  for (int i = 0; i < 60; ++i) shapes.push_back({1, 1 + i % 7, 3 + (i * 5) % 29, 2 + (i * 11) % 31});
  viz::Scene s = viz::synthetic_scene(shapes, 3);
  std::vector<std::vector<float>> v;
  for (auto& l : s.layers) v.push_back(l.values);
  CodeBuilderOptions o{.lo_pct = 2.0f, .hi_pct = 98.0f, .max_samples = 300};
  ActivationBuffer act(context(), v);
  CodeBuilder gb(context(), s.layout, act.offsets(), act.bytes(), o);
  gb.run(act.buffer());
  EXPECT_LE(gb.dispatches(), 3 * 2 + 1 + viz::kMaxLevels - 1);
  // The CPU reference with the same parameters: scales from robust_scale, codes by build_scene's
  // loop (re-encoded with those scales).
  viz::Scene cpu = viz::build_scene_from_values(s.layout, v);
  for (size_t i = 0; i < cpu.layers.size(); ++i) {
    auto& L = cpu.layers[i];
    L.scale = viz::robust_scale(L.values, 2.0f, 98.0f, 300);
    const auto& d = s.layout.layers[i].dims;
    for (int64_t k = 0; k < d.count; ++k) cpu.codes0[L.code0_offset + static_cast<uint64_t>(k)] = viz::encode(L.values[static_cast<size_t>(k)], L.scale);
    viz::FloatPyramid p = viz::build_pyramid(L.values.data(), d);
    for (size_t k = 0; k < p.dims.size(); ++k)
      for (size_t j = 0; j < p.max[k].size(); ++j) {
        const uint64_t o2 = L.level_offset[k + 1] + j;
        cpu.codes_max[o2] = p.empty[k][j] ? viz::kCodeEmpty : viz::encode(p.max[k][j], L.scale);
        cpu.codes_mean[o2] = p.empty[k][j] ? viz::kCodeEmpty : viz::encode(p.mean[k][j], L.scale);
      }
  }
  const auto codes = gb.read_codes();
  Diff d = compare(gb, gb.scales(), codes, cpu);
  EXPECT_EQ(d.scales + d.codes0 + d.codes_max + d.codes_mean, 0u);
  // The comparison can fail: against the default 1/99 scene, scales and codes differ.
  Diff other = compare(gb, gb.scales(), codes, viz::build_scene_from_values(s.layout, v), false);
  EXPECT_GT(other.scales, 30u);
  EXPECT_GT(other.codes0, 1000u);
}

TEST_F(CodeBuilderTest, SubnormalScalesAreExact) {
  // Scales are integer work on the GPU (radix select on the bits, 0.25f·hi rounded like the CPU),
  // so they match even where the device flushes denormals: layers of subnormal values, one
  // sequential with lo ≥ 0.25·hi (0.25·hi is then rounded: ties to even), one diverging. (Their
  // codes divide subnormals and are not compared: see code_builder.hpp.)
  const float tiny = std::numeric_limits<float>::denorm_min();
  std::vector<Shape> shapes = {{1, 1, 4, 5}, {1, 1, 4, 5}, {1, 1, 3, 3}};
  viz::Scene s = viz::synthetic_scene(shapes, 5);
  std::vector<std::vector<float>> v(3);
  // lo = 2 units, hi = 10: 0.25f·hi is the tie 2.5 → 2 (even), so lo < 0.25f·hi is false and lo stays.
  for (int i = 0; i < 20; ++i) v[0].push_back(tiny * float(i == 0 ? 2 : i == 19 ? 10 : 5));
  for (int i = 0; i < 20; ++i) v[1].push_back(tiny * float(i % 2 ? 7 : -3));
  for (int i = 0; i < 9; ++i) v[2].push_back(std::ldexp(1.0f + float(i) / 8.0f, -126));  // normal, 0.25·hi subnormal
  ActivationBuffer act(context(), v);
  CodeBuilder gb(context(), s.layout, act.offsets(), act.bytes());
  gb.run(act.buffer());
  auto gs = gb.scales();
  for (size_t i = 0; i < v.size(); ++i) {
    viz::ColorScale c = viz::robust_scale(v[i]);
    EXPECT_EQ(gs[i].kind, c.kind) << "layer " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(gs[i].lo), std::bit_cast<uint32_t>(c.lo)) << "layer " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(gs[i].hi), std::bit_cast<uint32_t>(c.hi)) << "layer " << i;
  }
  EXPECT_EQ(viz::robust_scale(v[0]).lo, 2 * tiny);  // the case that exercises the rounded quarter
}

TEST_F(CodeBuilderTest, RecordIntoACallersSubmissionWithAnotherBuffer) {
  // record() in the caller's command buffer, twice, on two activation buffers: state from the
  // first run must not leak into the second, and the activation binding follows the buffer.
  viz::Scene a = viz::synthetic_scene({{1, 4, 12, 10}, {1, 6, 5, 5}, {1, 50}}, 21);
  viz::Scene b = viz::synthetic_scene({{1, 4, 12, 10}, {1, 6, 5, 5}, {1, 50}}, 22);
  std::vector<std::vector<float>> va, vb;
  for (auto& l : a.layers) va.push_back(l.values);
  for (auto& l : b.layers) vb.push_back(l.values);
  ActivationBuffer act_a(context(), va), act_b(context(), vb);
  ASSERT_EQ(act_a.offsets(), act_b.offsets());
  CodeBuilder gb(context(), a.layout, act_a.offsets(), act_a.bytes());
  for (const auto* step : {&a, &b, &a}) {
    VkBuffer buf = step == &a ? act_a.buffer() : act_b.buffer();
    context().submit_now([&](VkCommandBuffer cb) { gb.record(cb, buf); });
    Diff d = compare(gb, gb.scales(), gb.read_codes(), *step);
    EXPECT_EQ(d.scales + d.codes0 + d.codes_max + d.codes_mean, 0u);
  }
}

TEST_F(CodeBuilderTest, ReadSceneIsTheCpuSceneAndRendersTheSameFrame) {
  // read_scene() is build_scene's Scene minus the values; the renderer draws it pixel for pixel
  // like the CPU scene (same codes, same scales in the legend).
  auto [layout, values] = corner_cases();
  layout.layers.pop_back();  // the 2M-neuron layer: not needed here
  values.pop_back();
  layout = viz::layout_tensors([&] {
    std::vector<viz::VizTensor> t;
    for (const auto& l : layout.layers) t.push_back(l.tensor);
    return t;
  }());
  viz::Scene cpu = viz::build_scene_from_values(layout, values);
  ActivationBuffer act(context(), values);
  CodeBuilder gb(context(), layout, act.offsets(), act.bytes());
  gb.run(act.buffer());
  viz::Scene gpu = gb.read_scene();
  ASSERT_EQ(gpu.layers.size(), cpu.layers.size());
  EXPECT_EQ(gpu.codes0, cpu.codes0);
  EXPECT_EQ(gpu.codes_max, cpu.codes_max);
  EXPECT_EQ(gpu.codes_mean, cpu.codes_mean);
  for (size_t i = 0; i < cpu.layers.size(); ++i) {
    const auto &g = gpu.layers[i], &c = cpu.layers[i];
    EXPECT_TRUE(g.values.empty());
    EXPECT_EQ(g.scale.kind, c.scale.kind);
    EXPECT_EQ(std::bit_cast<uint32_t>(g.scale.lo), std::bit_cast<uint32_t>(c.scale.lo)) << "layer " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(g.scale.hi), std::bit_cast<uint32_t>(c.scale.hi)) << "layer " << i;
    EXPECT_EQ(g.code0_offset, c.code0_offset);
    EXPECT_EQ(g.levels, c.levels);
    EXPECT_EQ(g.level_offset, c.level_offset);
  }
  RenderOptions o{.width = 320, .height = 200, .msaa = 1};
  viz::Camera cam = viz::overview_camera(layout, 320.0f / 200.0f);
  Renderer rc(context(), cpu, o), rg(context(), gpu, o);
  rc.render(cam);
  rg.render(cam);
  ASSERT_EQ(rc.rgba().size(), rg.rgba().size());
  EXPECT_TRUE(rc.rgba() == rg.rgba()) << "frames differ";
  EXPECT_GT(std::count_if(rc.rgba().begin(), rc.rgba().end(), [](uint8_t b) { return b > 40; }), 1000);
}

TEST_F(CodeBuilderTest, NothingLeaksAtDeviceDestruction) {
  // A private context closed after use: the validation layer reports every Vulkan object still
  // alive at vkDestroyDevice as an error.
  Context ctx(ContextOptions{.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = true});
  {
    viz::Scene s = viz::synthetic_scene({{1, 3, 6, 5}, {1, 20}}, 2);
    std::vector<std::vector<float>> v;
    for (auto& l : s.layers) v.push_back(l.values);
    ActivationBuffer act(ctx, v);
    CodeBuilder gb(ctx, s.layout, act.offsets(), act.bytes());
    gb.run(act.buffer());
    EXPECT_EQ(gb.read_codes().codes0, s.codes0);
  }
  EXPECT_EQ(ctx.close(), 0u);
}

TEST_F(CodeBuilderTest, ReadsASessionArenaInPlace) {
  // The interop layout: the CPU backend's arena (every tensor of the run in its planned slot, hidden
  // ones included) rebuilt in one buffer, the shown tensors found through arena_offsets().
  const auto model = cache_dir() / "models" / "ppocr_cls.onnx";
  ASSERT_TRUE(std::filesystem::exists(model)) << model << " missing: run scripts/fetch-models.sh";
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  Tensor x = load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / "line_192x48.png").string(), pp);
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session session(load_onnx(model.string()), {cpu.get()});
  session.prepare({{"x", x.shape()}});
  session.run({{"x", x}});
  viz::Layout layout = viz::layout_tensors(viz::select_tensors(session.graph(), session.planned()));
  std::vector<uint64_t> offsets = viz::arena_offsets(layout, session.planned(), 0);
  size_t arena = 0;
  for (const auto& t : session.planned())
    if (!t.constant && t.backend == 0) arena = std::max(arena, t.offset + t.info.nbytes());
  std::vector<uint8_t> bytes(arena, 0);
  for (const auto& t : session.planned()) {
    if (t.constant || t.backend != 0 || t.info.nbytes() == 0) continue;
    Tensor v = session.activations().fetch(t.name);
    std::memcpy(bytes.data() + t.offset, v.data_as<uint8_t>(), t.info.nbytes());
  }
  ASSERT_EQ(bytes.size() % 4, 0u);
  std::vector<std::vector<float>> as_floats(1, std::vector<float>(bytes.size() / 4));
  std::memcpy(as_floats[0].data(), bytes.data(), bytes.size());
  ActivationBuffer act(context(), as_floats);
  CodeBuilder gb(context(), layout, offsets, act.bytes());
  gb.run(act.buffer());
  viz::Scene cpu_scene = viz::build_scene_from_values(layout, layer_values(layout, session));
  Diff d = compare(gb, gb.scales(), gb.read_codes(), cpu_scene);
  EXPECT_EQ(d.scales + d.codes0 + d.codes_max + d.codes_mean, 0u);
  // A backend that does not hold the tensors: one line naming the first.
  try {
    viz::arena_offsets(layout, session.planned(), 1);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lives on another backend"), std::string::npos) << e.what();
  }
}

TEST_F(CodeBuilderTest, BadArgumentsAreErrors) {
  viz::Scene s = viz::synthetic_scene({{1, 2, 4, 4}, {1, 3, 2, 2}}, 1);
  EXPECT_THROW(CodeBuilder(context(), s.layout, {0}, 1024), Error);           // one offset for two layers
  EXPECT_THROW(CodeBuilder(context(), s.layout, {0, 130}, 1024), Error);      // misaligned
  EXPECT_THROW(CodeBuilder(context(), s.layout, {0, 1024}, 1024), Error);     // past the end
  EXPECT_THROW(CodeBuilder(context(), s.layout, {0, 128}, 1024, {.lo_pct = 2.5f}), Error);  // not an integer
  EXPECT_THROW(CodeBuilder(context(), s.layout, {0, 128}, 1ull << 40), Error);  // over maxStorageBufferRange
  try {
    CodeBuilder(context(), s.layout, {0, 1024}, 1024);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'layer1'"), std::string::npos) << e.what();
  }
}

// A real network run on the CPU backend: PP-OCRv4 det on a rendered text page, at 160×128 (8M
// neurons: lavapipe is slow); the timing in docs/render.md used NETLENS_CODES_DET_SIZE=320x256
// (32M neurons, the most that fits lavapipe's 128 MiB storage-buffer range).
TEST_F(CodeBuilderTest, RealModelsMatchTheCpuScene) {
  struct Case { const char* model; int w, h; const char* image; std::vector<float> mean, std; };
  int det_w = 160, det_h = 128;
  if (const char* e = std::getenv("NETLENS_CODES_DET_SIZE")) {
    ASSERT_EQ(std::sscanf(e, "%dx%d", &det_w, &det_h), 2) << "NETLENS_CODES_DET_SIZE=" << e << ": expected WxH";
  }
  const std::vector<Case> cases = {
      {"ppocrv4_det.onnx", det_w, det_h, "page_800x608.png", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}};
  // (ppocr cls is compared in ReadsASessionArenaInPlace.)
  std::printf("| model | input | layers | neurons | CPU build_scene ms | GPU CodeBuilder ms (%s) |\n",
              context().device_name().c_str());
  for (const Case& c : cases) {
    const auto model = cache_dir() / "models" / c.model;
    ASSERT_TRUE(std::filesystem::exists(model)) << model << " missing: run scripts/fetch-models.sh";
    ImagePreprocess pp{.width = c.w, .height = c.h, .mean = c.mean, .std = c.std, .bgr = true};
    Tensor x = load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / c.image).string(), pp);
    std::unique_ptr<Backend> cpu = make_cpu_backend();
    Session session(load_onnx(model.string()), {cpu.get()});
    session.prepare({{"x", x.shape()}});
    session.run({{"x", x}});
    viz::Layout layout = viz::layout_tensors(viz::select_tensors(session.graph(), session.planned()));
    auto values = layer_values(layout, session);
    int64_t neurons = 0;
    for (const auto& l : layout.layers) neurons += l.dims.count;
    ActivationBuffer act(context(), values);
    CodeBuilder gb(context(), layout, act.offsets(), act.bytes());
    const double first_ms = gb.run(act.buffer());
    const double gpu_ms = gb.run(act.buffer());  // steady state: the same builder again
    auto moved = values;  // build_scene moves the values in: time that, not a copy
    auto t0 = std::chrono::steady_clock::now();
    viz::Scene scene = viz::build_scene_from_values(layout, std::move(moved));
    const double cpu_ms = ms_since(t0);
    Diff d = compare(gb, gb.scales(), gb.read_codes(), scene);
    EXPECT_EQ(d.scales, 0u);
    EXPECT_EQ(d.codes0 + d.codes_max + d.codes_mean, 0u) << "largest step " << d.max_step;
    std::printf("| %s | %dx%d | %zu | %lld | %.1f | %.1f (first %.1f) |\n", c.model, c.w, c.h, layout.layers.size(),
                static_cast<long long>(neurons), cpu_ms, gpu_ms, first_ms);
    std::printf("  per dispatch (ms):");
    for (const auto& [name, ms] : gb.stage_ms()) std::printf(" %s %.1f;", name.c_str(), ms);
    std::printf("\n");
  }
}
