// Weights: per-filter norms, near-zero flags, patch layouts and heatmaps against direct loops on
// hand-made weights (values known here), and the distribution against a direct mean. Tolerances:
// norms 1e-12 relative (both in double), pixels exact (same float formula), mean 1e-9.
#include <gtest/gtest.h>

#include <cmath>

#include "inspect_test_util.hpp"
#include "netlens/inspect/weights.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;

namespace {

// image[1,3,9,9] → rgb conv (W1 [4,3,2,3], filter 2 zeroed, bias) → c1 → grouped conv (W2 [6,2,3,3], groups 2) → c2
// v[2,7] → Gemm(transB, Wg [5,7], bias) → g ; v → MatMul(Wm [7,600]) → m
struct Model {
  Ran ran;
  Tensor W1, W2, Wg, Wm, B1;
};

std::unique_ptr<Model> make_model() {
  auto m = std::make_unique<Model>();
  m->W1 = random_tensor({4, 3, 2, 3}, 1);
  for (int i = 0; i < 18; ++i) m->W1.data_as<float>()[2 * 18 + i] = 0.0f;
  m->W2 = random_tensor({6, 2, 3, 3}, 2);
  m->Wg = random_tensor({5, 7}, 3);
  m->Wm = random_tensor({7, 600}, 4);
  m->Wm.data_as<float>()[3 * 600 + 301] = 5.0f;  // an outlier the heatmap must keep
  m->B1 = Tensor::from_f32({4}, {1, 2, 3, 4});
  Graph g;
  g.opsets[""] = 17;
  g.inputs = {vi("image", {1, 3, 9, 9}), vi("v", {2, 7})};
  g.initializers = {{"W1", m->W1}, {"B1", m->B1}, {"W2", m->W2}, {"Wg", m->Wg}, {"Bg", random_tensor({5}, 5)}, {"Wm", m->Wm}};
  g.nodes.push_back(node("Conv", "rgb", {"image", "W1", "B1"}, {"c1"}));
  g.nodes.push_back(node("Conv", "grouped", {"c1", "W2"}, {"c2"}, {{"group", int64_t(2)}}));
  g.nodes.push_back(node("Gemm", "gemm", {"v", "Wg", "Bg"}, {"g"}, {{"transB", int64_t(1)}}));
  g.nodes.push_back(node("MatMul", "matmul", {"v", "Wm"}, {"m"}));
  g.nodes.push_back(node("Relu", "relu", {"m"}, {"r"}));
  g.outputs = {vi("c2", {1, 6, 6, 5}), vi("g", {2, 5}), vi("r", {2, 600})};
  m->ran = prepare_graph(g);
  return m;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, double(std::abs(t.data_as<float>()[i])));
  return m;
}

}  // namespace

TEST(Weights, RgbFiltersNormsAndTheZeroedFilter) {
  auto m = make_model();
  const WeightsReport r = weights(*m->ran.view, "rgb");
  EXPECT_EQ(r.kind, "conv");
  EXPECT_TRUE(r.rgb);
  ASSERT_EQ(r.filter_norms.size(), 4u);
  for (int64_t o = 0; o < 4; ++o) {
    double s = 0;
    for (int i = 0; i < 18; ++i) s += std::pow(double(m->W1.data_as<float>()[o * 18 + i]), 2);
    EXPECT_NEAR(r.filter_norms[o], std::sqrt(s), 1e-12 * std::sqrt(s));
  }
  EXPECT_EQ(r.near_zero, std::vector<int64_t>{2});
  // Patches: one per filter, 2×3 pixels × 3 channels interleaved; pixel (y,x,c) = 0.5 + 0.5·W[o,c,y,x]/max|W|.
  ASSERT_EQ(r.patches.size(), 4u);
  const double s = 0.5 / max_abs(m->W1);
  EXPECT_DOUBLE_EQ(r.max_abs, max_abs(m->W1));
  for (const FilterPatch& p : r.patches) {
    EXPECT_EQ(p.channel, -1);
    ASSERT_EQ(p.pixels.size(), 18u);
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 0; x < 3; ++x)
        for (int64_t c = 0; c < 3; ++c)
          EXPECT_EQ(p.pixels[(y * 3 + x) * 3 + c],
                    static_cast<float>(0.5 + s * m->W1.data_as<float>()[((p.filter * 3 + c) * 2 + y) * 3 + x]));
  }
  for (float px : r.patches[2].pixels) EXPECT_EQ(px, 0.5f);  // zero weight is mid-grey
  // Extremes of the shared scale reach 0 or 1.
  float lo = 1, hi = 0;
  for (const auto& p : r.patches)
    for (float px : p.pixels) lo = std::min(lo, px), hi = std::max(hi, px);
  EXPECT_TRUE(std::abs(lo) < 1e-6 || std::abs(hi - 1) < 1e-6);
  ASSERT_TRUE(r.bias.has_value());
  EXPECT_DOUBLE_EQ(r.bias->mean, 2.5);
  EXPECT_EQ(r.distribution.count, 72);
  double mean = 0;
  for (int i = 0; i < 72; ++i) mean += m->W1.data_as<float>()[i];
  EXPECT_NEAR(r.distribution.mean, mean / 72, 1e-9);
}

TEST(Weights, GroupedConvPatchesPerInputChannel) {
  auto m = make_model();
  WeightsOptions o;
  o.max_filters = 3;
  const WeightsReport r = weights(*m->ran.view, "grouped", o);
  EXPECT_FALSE(r.rgb);
  EXPECT_TRUE(r.near_zero.empty());
  ASSERT_EQ(r.patches.size(), 3u * 2u);  // 3 filters × I/g = 2 channels
  const double s = 0.5 / max_abs(m->W2);
  const FilterPatch& p = r.patches[5];
  EXPECT_EQ(p.filter, 2);
  EXPECT_EQ(p.channel, 1);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(p.pixels[i], static_cast<float>(0.5 + s * m->W2.data_as<float>()[(2 * 2 + 1) * 9 + i]));
  EXPECT_FALSE(r.heatmap.has_value());
}

TEST(Weights, MatricesAsHeatmapsWithUnitNorms) {
  auto m = make_model();
  const WeightsReport g = weights(*m->ran.view, "gemm");
  EXPECT_EQ(g.kind, "matrix");
  ASSERT_EQ(g.filter_norms.size(), 5u);  // transB: rows of Wg [5, 7] are the output units
  for (int64_t n = 0; n < 5; ++n) {
    double s = 0;
    for (int64_t k = 0; k < 7; ++k) s += std::pow(double(m->Wg.data_as<float>()[n * 7 + k]), 2);
    EXPECT_NEAR(g.filter_norms[n], std::sqrt(s), 1e-12);
  }
  ASSERT_TRUE(g.heatmap.has_value());
  EXPECT_EQ(g.heatmap->rows, 5);
  EXPECT_EQ(g.heatmap->values[3 * 7 + 4], m->Wg.data_as<float>()[3 * 7 + 4]);  // not downsampled

  const WeightsReport mm = weights(*m->ran.view, "matmul");
  ASSERT_EQ(mm.filter_norms.size(), 600u);  // columns of Wm [7, 600]
  const Heatmap& h = *mm.heatmap;
  EXPECT_EQ(h.block_cols, 3);
  EXPECT_EQ(h.cols, 200);
  EXPECT_EQ(h.rows, 7);
  EXPECT_EQ(h.values[3 * 200 + 100], 5.0f);  // the outlier's block (cols 300..302)
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t c = 0; c < 200; ++c) {
      float best = 0;
      for (int64_t j = 3 * c; j < 3 * c + 3; ++j) {
        const float x = m->Wm.data_as<float>()[i * 600 + j];
        if (std::abs(x) > std::abs(best)) best = x;
      }
      EXPECT_EQ(h.values[i * 200 + c], best);
    }
  EXPECT_THROW(weights(*m->ran.view, "relu"), Error);
  EXPECT_THROW(weights(*m->ran.view, "nope"), Error);
  const auto j = to_json(mm, false);
  EXPECT_FALSE(j["heatmap"].contains("values"));
  EXPECT_EQ(j["filter_norms"].size(), 600u);
}
