// Borrowing scenes (issue 13's memory): a scene that keeps the fetched tensors (float32, float16,
// bfloat16 views) instead of float32 copies, and makes its codes only when asked (write_codes, as
// the renderer uploads), must give every byte and value of the copying scene of the same values —
// the copying scene is itself checked against a direct computation in test_viz.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "netlens/viz/layout.hpp"
#include "netlens/viz/scene.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

// Odd sides (pyramid edges), a grid (a vector: C·H·W > count), a batch of 2 (batch 0 only), a
// 1-wide map, and one layer large enough that a 1000-sample scale strides over several chunks of
// the borrowed path's 2^16-neuron conversion.
std::vector<Shape> shapes() {
  return {{1, 3, 37, 29}, {1, 1000}, {2, 4, 16, 16}, {1, 5, 300, 1}, {1, 6, 160, 170}, {1, 9, 7, 7}};
}

// Signed values with zeros, some non-finite values in layer 3, a non-negative layer 4 (sequential
// scale), rounded to what each layer's dtype holds so that the copy holds the same numbers.
std::vector<Tensor> tensors(const Layout& layout, const std::vector<DType>& dtypes) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 1.5f);
  std::vector<Tensor> out;
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    const Shape& shape = layout.layers[i].tensor.shape;
    std::vector<float> v(static_cast<size_t>(numel(shape)));
    for (size_t k = 0; k < v.size(); ++k) {
      float x = g(rng);
      if (k % 5 == 0) x = 0.0f;
      if (i == 4) x = std::fabs(x);
      v[k] = x;
    }
    if (i == 3) {
      v[7] = std::numeric_limits<float>::quiet_NaN();
      v[400] = -std::numeric_limits<float>::infinity();
    }
    Tensor t = Tensor::from_f32(shape, v);
    if (dtypes[i] != DType::Float32) t = t.cast(dtypes[i]);
    out.push_back(std::move(t));
  }
  return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The codes of `s` written by write_codes into arrays shaped like a copying scene's.
void written_codes(const Scene& s, const Scene& shape_of, std::vector<uint8_t>& c0, std::vector<uint8_t>& cm,
                   std::vector<uint8_t>& ca, int threads, int64_t split) {
  c0.assign(shape_of.codes0.size(), 0xAA);
  cm.assign(shape_of.codes_max.size(), 0xAA);
  ca.assign(shape_of.codes_mean.size(), 0xAA);
  std::vector<CodeTarget> targets;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const VolumeDims& d = s.layout.layers[i].dims;
    const SceneLayer& L = shape_of.layers[i];
    const std::vector<LevelDims> lv = pyramid_levels(d.H, d.W);
    // Channel runs of `split` channels (the renderer's parts), in reverse order.
    for (int64_t c1 = d.C; c1 > 0; c1 -= split) {
      const int64_t c0r = std::max<int64_t>(0, c1 - split);
      CodeTarget t{.layer = static_cast<int>(i), .c0 = c0r, .c1 = c1, .level0 = c0.data() + L.code0_offset + c0r * d.H * d.W};
      for (size_t k = 0; k < lv.size(); ++k) {
        const uint64_t at = L.level_offset[k + 1] + static_cast<uint64_t>(c0r * lv[k].h * lv[k].w);
        t.max[k + 1] = cm.data() + at;
        t.mean[k + 1] = ca.data() + at;
      }
      targets.push_back(t);
    }
  }
  write_codes(s, targets, threads);
}

void expect_same_as_copy(const Scene& b, const Scene& c, const char* what) {
  ASSERT_EQ(b.layers.size(), c.layers.size()) << what;
  EXPECT_FALSE(b.has_codes()) << what;
  EXPECT_EQ(b.host_bytes(), 0u) << what << ": a borrowing scene holds no copies and no codes";
  for (size_t i = 0; i < b.layers.size(); ++i) {
    const int li = static_cast<int>(i);
    EXPECT_TRUE(b.layers[i].values.empty()) << what;
    EXPECT_EQ(b.layers[i].scale.kind, c.layers[i].scale.kind) << what << " layer " << i;
    EXPECT_TRUE(same_bits(b.layers[i].scale.lo, c.layers[i].scale.lo) && same_bits(b.layers[i].scale.hi, c.layers[i].scale.hi))
        << what << " layer " << i;
    EXPECT_EQ(b.layers[i].levels, c.layers[i].levels) << what;
    std::vector<float> scratch;
    const std::span<const float> f = b.floats(li, scratch);
    ASSERT_EQ(f.size(), c.layers[i].values.size()) << what;
    EXPECT_EQ(std::memcmp(f.data(), c.layers[i].values.data(), f.size() * sizeof(float)), 0) << what << " layer " << i;
    for (int64_t k = 0; k < static_cast<int64_t>(f.size()); k += 13)
      EXPECT_TRUE(same_bits(b.value(li, k), c.value(li, k))) << what << " layer " << i << " neuron " << k;
    EXPECT_THROW((void)b.value(li, static_cast<int64_t>(f.size())), std::out_of_range);
  }
  for (int threads : {1, 3})
    for (int64_t split : {int64_t(1), int64_t(2), int64_t(1000)}) {
      std::vector<uint8_t> c0, cm, ca;
      written_codes(b, c, c0, cm, ca, threads, split);
      EXPECT_TRUE(c0 == c.codes0) << what << ": level 0, " << threads << " threads, split " << split;
      EXPECT_TRUE(cm == c.codes_max) << what << ": max pyramid, " << threads << " threads, split " << split;
      EXPECT_TRUE(ca == c.codes_mean) << what << ": mean pyramid, " << threads << " threads, split " << split;
    }
  // The copying scene's own codes through write_codes (copied, not remade): the same bytes.
  std::vector<uint8_t> c0, cm, ca;
  written_codes(c, c, c0, cm, ca, 2, 3);
  EXPECT_TRUE(c0 == c.codes0 && cm == c.codes_max && ca == c.codes_mean) << what << ": copying scene's write_codes";
}

}  // namespace

TEST(SceneBorrow, SameScalesValuesAndCodesAsACopyForEveryFloatDtype) {
  const Layout layout = layout_tensors(synthetic_tensors(shapes()));
  const std::vector<DType> dtypes = {DType::Float16, DType::Float32, DType::BFloat16, DType::Float16, DType::Float16, DType::Float32};
  const std::vector<Tensor> ts = tensors(layout, dtypes);
  const auto fetch = [&](const std::string& n) { return ts.at(static_cast<size_t>(layout.find(n))); };
  for (size_t max_samples : {size_t(1) << 20, size_t(1000)})
    for (bool global : {false, true}) {
      SceneOptions o{.lo_pct = 2.0f, .hi_pct = 97.0f, .global_scale = global, .max_samples = max_samples};
      const Scene copy = build_scene(layout, fetch, o);
      o.borrow_values = true;
      const Scene borrowed = build_scene(layout, fetch, o);
      const std::string what = std::string(global ? "global" : "per layer") + ", max_samples " + std::to_string(max_samples);
      expect_same_as_copy(borrowed, copy, what.c_str());
      // The scales by the scene-level functions the panels use, for either kind of scene.
      for (int i = 0; i < static_cast<int>(layout.layers.size()); ++i) {
        const ColorScale a = layer_scale(borrowed, i, o), b = layer_scale(copy, i, o);
        EXPECT_TRUE(same_bits(a.lo, b.lo) && same_bits(a.hi, b.hi) && a.kind == b.kind) << what << " layer " << i;
      }
      const ColorScale ga = global_scale(borrowed, o), gb = global_scale(copy, o);
      EXPECT_TRUE(same_bits(ga.lo, gb.lo) && same_bits(ga.hi, gb.hi) && ga.kind == gb.kind) << what;
    }
  // Not vacuous: both scale kinds, and a strided sample that saw the layer's NaN and -inf.
  const Scene s = build_scene(layout, fetch, {.max_samples = 1000, .borrow_values = true});
  EXPECT_EQ(s.layers[4].scale.kind, ColorMapKind::Sequential);
  EXPECT_EQ(s.layers[0].scale.kind, ColorMapKind::Diverging);
  EXPECT_TRUE(std::isnan(s.value(3, 7)));
}

TEST(SceneBorrow, RebuildKeepsBorrowingAndEqualsAFreshBuild) {
  const Layout layout = layout_tensors(synthetic_tensors(shapes()));
  const std::vector<Tensor> ts = tensors(layout, std::vector<DType>(layout.layers.size(), DType::Float16));
  const auto fetch = [&](const std::string& n) { return ts.at(static_cast<size_t>(layout.find(n))); };
  Scene b = build_scene(layout, fetch, {.borrow_values = true});
  const SceneOptions o{.lo_pct = 10.0f, .hi_pct = 80.0f, .global_scale = true};
  b = rebuild_scene(std::move(b), o);  // the View panel's scale change
  EXPECT_TRUE(b.options.borrow_values);
  expect_same_as_copy(b, build_scene(layout, fetch, o), "rebuilt with p10..p80, global");
  // A copying scene stays a copying one, with the same result.
  Scene c = rebuild_scene(build_scene(layout, fetch, {}), o);
  EXPECT_FALSE(c.options.borrow_values);
  EXPECT_TRUE(c.has_codes());
  expect_same_as_copy(b, c, "copying scene rebuilt");
}

TEST(SceneBorrow, ShortSourceIsZeroPaddedLikeACopy) {
  // A fetch that returns fewer elements than the layer shows (layer_values zero-pads them).
  const Layout layout = layout_tensors(synthetic_tensors({{1, 4, 20, 20}}));
  std::vector<float> v(1000);
  for (size_t k = 0; k < v.size(); ++k) v[k] = float(k % 37) - 18.0f;
  const Tensor t = Tensor::from_f32({1000}, v).cast(DType::Float16);
  const auto fetch = [&](const std::string&) { return t; };
  const Scene copy = build_scene(layout, fetch, {});
  const Scene b = build_scene(layout, fetch, {.borrow_values = true});
  expect_same_as_copy(b, copy, "short float16 source");
  EXPECT_EQ(b.value(0, 1599), 0.0f);
}
