// Tensor statistics against independent computations made here: full-sort percentiles (numpy's
// linear definition), two-pass long-double mean/std, direct histogram binning with numpy's edges,
// per-channel loops; dead channels and saturation on tensors and tiny models built to have known
// answers; and every tensor kind of a real model (PP-OCRv4 rec on a rendered text line).
// Tolerances: mean/std/percentiles 1e-9 relative (float data, double accumulation both sides).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "netlens/inspect/activation_fn.hpp"
#include "inspect_test_util.hpp"
#include "netlens/inspect/stats.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;

namespace {

void expect_rel(double got, double want, double rel, const std::string& what) {
  EXPECT_NEAR(got, want, rel * std::max(1.0, std::fabs(want))) << what;
}

// Everything compute_stats reports, recomputed independently from the values.
void check_against_reference(const Tensor& t, const TensorStats& s, int64_t top_k) {
  const std::vector<double> v = finite_values(t);
  int64_t nan = 0, pinf = 0, ninf = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = t.get_f64(i);
    nan += std::isnan(x);
    pinf += std::isinf(x) && x > 0;
    ninf += std::isinf(x) && x < 0;
  }
  EXPECT_EQ(s.count, t.numel());
  EXPECT_EQ(s.finite, static_cast<int64_t>(v.size()));
  EXPECT_EQ(s.nan, nan);
  EXPECT_EQ(s.pos_inf, pinf);
  EXPECT_EQ(s.neg_inf, ninf);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(s.min, *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(s.max, *std::max_element(v.begin(), v.end()));
  const RefMoments m = ref_moments(v);
  expect_rel(s.mean, m.mean, 1e-9, "mean");
  expect_rel(s.std, m.std, 1e-9, "std");
  ASSERT_EQ(s.percentiles.size(), std::size(kPercentiles));
  for (const auto& [p, val] : s.percentiles) expect_rel(val, ref_percentile(v, p), 1e-9, "p" + std::to_string(p));
  const double zeros = static_cast<double>(std::count(v.begin(), v.end(), 0.0));
  EXPECT_DOUBLE_EQ(s.zero_fraction, zeros / static_cast<double>(v.size()));

  // Histogram: bin count from the documented rule, counts by numpy's edges (last bin closed).
  const Histogram& h = s.histogram;
  const double iqr = ref_percentile(v, 75) - ref_percentile(v, 25);
  const double n = static_cast<double>(v.size());
  double bins = iqr > 0 ? std::ceil((s.max - s.min) / (2 * iqr / std::cbrt(n))) : std::ceil(std::log2(n)) + 1;
  bins = std::clamp(bins, 8.0, 256.0);
  if (s.max == s.min) bins = 1;
  ASSERT_EQ(h.counts.size(), static_cast<size_t>(bins));
  EXPECT_EQ(h.rule, s.max == s.min ? "constant" : iqr > 0 ? "freedman-diaconis" : "sturges");
  std::vector<int64_t> want(h.counts.size(), 0);
  const double w = (s.max - s.min) / bins;
  for (double x : v) {
    size_t b = 0;
    if (w > 0) {
      while (b + 1 < want.size() && x >= s.min + static_cast<double>(b + 1) * w) ++b;
    }
    want[b]++;
  }
  // Values within an ulp of an edge may fall either way by rounding; allow that many moves.
  int64_t moved = 0;
  for (size_t b = 0; b < want.size(); ++b) moved += std::abs(want[b] - h.counts[b]);
  EXPECT_LE(moved, std::max<int64_t>(2, static_cast<int64_t>(v.size() / 100000))) << "histogram counts differ";
  int64_t total = 0;
  for (int64_t c : h.counts) total += c;
  EXPECT_EQ(total, static_cast<int64_t>(v.size()));

  // Channels (axis 1) ranked by mean and by max, computed with a plain loop per channel.
  if (t.rank() >= 2) {
    const int64_t C = t.dim(1), inner = t.numel() / (t.dim(0) * C);
    EXPECT_EQ(s.channels, C);
    std::vector<std::pair<double, int64_t>> by_mean, by_max;
    for (int64_t c = 0; c < C; ++c) {
      long double sum = 0;
      double mx = -INFINITY;
      int64_t cnt = 0;
      for (int64_t b = 0; b < t.dim(0); ++b)
        for (int64_t i = 0; i < inner; ++i) {
          const double x = t.get_f64((b * C + c) * inner + i);
          if (!std::isfinite(x)) continue;
          sum += x;
          mx = std::max(mx, x);
          ++cnt;
        }
      by_mean.push_back({static_cast<double>(sum / cnt), c});
      by_max.push_back({mx, c});
    }
    auto desc = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    std::sort(by_mean.begin(), by_mean.end(), desc);
    std::sort(by_max.begin(), by_max.end(), desc);
    const size_t k = std::min<size_t>(static_cast<size_t>(top_k), static_cast<size_t>(C));
    ASSERT_EQ(s.top_by_mean.size(), k);
    ASSERT_EQ(s.top_by_max.size(), k);
    for (size_t i = 0; i < k; ++i) {
      expect_rel(s.top_by_mean[i].mean, by_mean[i].first, 1e-9, "channel mean");
      EXPECT_EQ(s.top_by_max[i].channel, by_max[i].second);
      EXPECT_EQ(s.top_by_max[i].max, by_max[i].first);
    }
  }
}

TEST(Stats, HandTensorWithNonFinite) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(1.5f, 2.0f);
  std::vector<float> v(2 * 6 * 17);
  for (float& x : v) x = nd(rng);
  for (size_t i = 0; i < v.size(); i += 9) v[i] = 0;  // exact zeros
  v[3] = NAN;
  v[50] = INFINITY;
  v[51] = -INFINITY;
  v[52] = NAN;
  const Tensor t = Tensor::from_f32({2, 6, 17}, v);
  const TensorStats s = compute_stats(t, {.top_k = 4});
  EXPECT_EQ(s.nan, 2);
  EXPECT_EQ(s.pos_inf, 1);
  EXPECT_EQ(s.neg_inf, 1);
  check_against_reference(t, s, 4);
  EXPECT_EQ(s.histogram.rule, "freedman-diaconis");
}

TEST(Stats, ZeroIqrUsesSturgesAndConstantHasOneBin) {
  std::vector<float> v(1000, 0.0f);
  for (size_t i = 0; i < 100; ++i) v[i * 10] = static_cast<float>(i) * 0.25f;  // 90% zeros: IQR 0
  const Tensor t = Tensor::from_f32({1, 4, 250}, v);
  const TensorStats s = compute_stats(t);
  check_against_reference(t, s, 5);
  EXPECT_EQ(s.histogram.rule, "sturges");
  EXPECT_EQ(s.histogram.counts.size(), 11u);  // ceil(log2 1000) + 1

  const Tensor c = Tensor::from_f32({3}, {2.5f, 2.5f, 2.5f});
  const TensorStats sc = compute_stats(c);
  EXPECT_EQ(sc.histogram.rule, "constant");
  EXPECT_EQ(sc.histogram.counts, (std::vector<int64_t>{3}));
  EXPECT_EQ(sc.channels, 0);  // rank 1: no channels
  EXPECT_EQ(sc.std, 0);
}

TEST(Stats, AllNonFinite) {
  const TensorStats s = compute_stats(Tensor::from_f32({2}, {NAN, INFINITY}));
  EXPECT_EQ(s.finite, 0);
  EXPECT_TRUE(std::isnan(s.mean));
  EXPECT_EQ(s.histogram.rule, "empty");
  EXPECT_TRUE(s.percentiles.empty());
}

TEST(Stats, Float16AndIntegerTensors) {
  Tensor h(DType::Float16, {1, 2, 3});
  const std::vector<float> hv{-1, 0.5f, 0, 2, 4, -3};
  for (size_t i = 0; i < hv.size(); ++i) h.data_as<uint16_t>()[i] = float_to_half(hv[i]);
  check_against_reference(h, compute_stats(h), 2);
  const Tensor i = Tensor::from_i64({1, 3, 2}, {5, -2, 0, 7, 7, 1});
  check_against_reference(i, compute_stats(i), 3);
}

// Dead channels: channels 1 and 3 are zero in both batch items; channel 2 only in one (alive).
TEST(Stats, DeadChannelsKnownAnswer) {
  Tensor t(DType::Float32, {2, 5, 3, 3});
  float* p = t.data_as<float>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t i = 0; i < 9; ++i) {
        float v = 0.1f * static_cast<float>(i + 1);
        if (c == 1 || c == 3 || (c == 2 && b == 0)) v = 0;
        if (c == 4 && i != 4) v = 0;  // one non-zero value keeps a channel alive
        p[(b * 5 + c) * 9 + i] = v;
      }
  const DeadChannels d = dead_channels(t);
  EXPECT_EQ(d.channels, 5);
  EXPECT_EQ(d.dead, 2);
  EXPECT_EQ(d.indices, (std::vector<int64_t>{1, 3}));
  EXPECT_DOUBLE_EQ(d.fraction, 0.4);
}

// Saturation: 3 low and 2 high of 10 sigmoid outputs; tanh by magnitude; hard sigmoid exactly at 0/1.
TEST(Stats, SaturationKnownAnswer) {
  const Tensor sg = Tensor::from_f32({10}, {0.001f, 0.005f, 0.0099f, 0.01f, 0.5f, 0.7f, 0.99f, 0.995f, 1.0f, NAN});
  auto s = saturation(sg, "Sigmoid");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->low, 3);
  EXPECT_EQ(s->high, 2);
  EXPECT_DOUBLE_EQ(s->fraction, 5.0 / 9.0);  // NaN excluded
  const Tensor th = Tensor::from_f32({6}, {-1, -0.995f, -0.99f, 0, 0.991f, 0.5f});
  s = saturation(th, "Tanh");
  EXPECT_EQ(s->low, 2);
  EXPECT_EQ(s->high, 1);
  const Tensor hs = Tensor::from_f32({5}, {0, 1e-7f, 0.5f, 0.9999f, 1});
  s = saturation(hs, "HardSigmoid");
  EXPECT_EQ(s->low, 1);
  EXPECT_EQ(s->high, 1);
  EXPECT_FALSE(saturation(hs, "Relu"));
}

// Through a model: the producer is recognised (decomposed patterns included) and decides which of
// dead channels / saturation apply; their values match the hand-computed answers.
TEST(Stats, ProducerDecidesDeadAndSaturation) {
  // x [1,4,8]: channel 0 all negative (dead after Relu and after HardSwish: x <= -3), channel 1
  // mixed, channel 2 all > 6 (sigmoid saturated high), channel 3 in [-1, 1].
  std::vector<float> xv(32);
  for (int i = 0; i < 8; ++i) {
    xv[static_cast<size_t>(i)] = -4.0f - static_cast<float>(i);
    xv[static_cast<size_t>(8 + i)] = static_cast<float>(i) - 3.5f;
    xv[static_cast<size_t>(16 + i)] = 6.0f + static_cast<float>(i);
    xv[static_cast<size_t>(24 + i)] = -1.0f + 2.0f * static_cast<float>(i) / 7.0f;
  }
  const Tensor x = Tensor::from_f32({1, 4, 8}, xv);
  GraphBuilder b({1, 4, 8}, 11);
  b.add("Relu", {"x"}, "relu");
  b.add("Sigmoid", {"x"}, "sig");
  b.add("Add", {"x", b.c(3)}, "a");
  const std::string lo = b.c(0), hi = b.c(6);
  b.add("Clip", {"a", lo, hi}, "r6");
  b.add("Mul", {"x", "r6"}, "m");
  b.add("Div", {"m", b.c(6)}, "hswish");
  b.add("Sigmoid", {"x"}, "g");
  b.add("Mul", {"g", "x"}, "silu");
  b.add("Add", {"relu", "sig"}, "s1");
  b.add("Add", {"s1", "hswish"}, "s2");
  b.add("Add", {"s2", "silu"}, "y");
  Ran r = run_graph(b.done("y", {1, 4, 8}), {{"x", x}});

  const TensorStats relu = tensor_stats(*r.view, "relu");
  EXPECT_EQ(relu.producer, "Relu");
  ASSERT_TRUE(relu.dead);
  EXPECT_EQ(relu.dead->indices, (std::vector<int64_t>{0}));
  EXPECT_FALSE(relu.saturation);
  check_against_reference(r.value("relu"), relu, 5);

  const TensorStats hs = tensor_stats(*r.view, "hswish");
  EXPECT_EQ(hs.producer, "HardSwish");
  ASSERT_TRUE(hs.dead);
  EXPECT_EQ(hs.dead->indices, (std::vector<int64_t>{0}));

  // Sigmoid: channel 0 (x ≤ −4: y ≥ 0.018, not saturated except x ≤ −4.6), channel 2 (x ≥ 6: all high).
  const TensorStats sg = tensor_stats(*r.view, "sig");
  EXPECT_EQ(sg.producer, "Sigmoid");
  EXPECT_FALSE(sg.dead);
  ASSERT_TRUE(sg.saturation);
  int64_t low = 0;
  for (int i = 0; i < 8; ++i) low += 1 / (1 + std::exp(4.0 + i)) < 0.01;  // x = −4 − i
  EXPECT_EQ(sg.saturation->low, low);
  EXPECT_EQ(sg.saturation->high, 8);

  const TensorStats si = tensor_stats(*r.view, "silu");
  EXPECT_EQ(si.producer, "Silu");  // not "Mul"
  EXPECT_FALSE(si.dead);
  EXPECT_FALSE(si.saturation);

  const TensorStats plain = tensor_stats(*r.view, "s1");
  EXPECT_FALSE(plain.producer);
  EXPECT_FALSE(plain.dead);
  const TensorStats in = tensor_stats(*r.view, "x");  // a graph input
  check_against_reference(x, in, 5);
  EXPECT_THROW(tensor_stats(*r.view, "nope"), Error);
}

// PP-OCRv4 rec on a real text line: an input, a weight, a conv output, a HardSwish output, a swish
// output and the softmax output, each against the independent computation.
TEST(Stats, RealModelTensors) {
  if (!have_model("ppocrv4_rec.onnx")) return;
  const Ran ran = run_graph(load_onnx(model_path("ppocrv4_rec.onnx")), {{"x", rec_line_input()}});
  const Session& s = *ran.session;
  const ModelView& view = *ran.view;
  std::vector<std::string> names = {"x", "swish_11.tmp_0", s.graph().outputs[0].name};
  for (const Node& n : s.graph().nodes)
    if (n.op_type == "Conv" && names.size() < 4) names.insert(names.end(), {n.inputs[1], n.outputs[0]});  // weight, output
  std::string hswish;
  for (const Activation& a : find_activations(view))
    if (a.kind == ActKind::HardSwish && hswish.empty()) hswish = a.output;
  ASSERT_FALSE(hswish.empty());
  names.push_back(hswish);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(view.has(name));
    const TensorStats st = tensor_stats(view, name, {.top_k = 7});
    EXPECT_EQ(st.name, name);
    check_against_reference(view.value(name), st, 7);
  }
  EXPECT_EQ(tensor_stats(view, hswish).producer, "HardSwish");
  EXPECT_TRUE(tensor_stats(view, hswish).dead);
}

}  // namespace
