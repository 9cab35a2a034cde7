// Fused elementwise chains (netlens/cpu/fused_chain.hpp): a Conv or an elementwise op computing the
// scalar elementwise ops after it in one pass, every intermediate still written.
// - The step loop against separate loops written here (the ONNX definitions of Add/Sub/Mul/Div/
//   Clip/Relu in float32), bit for bit, NaN/inf/-0 included, over block edges, with normal and
//   non-temporal stores. The Sigmoid step against the Sigmoid kernel run unfused on the whole
//   tensor (bit for bit) and both against the double-precision logistic (4 ulps).
// - Whole sessions (depthwise and dense convs with ReLU6 and decomposed hard-swish chains, a chain
//   headed by an elementwise op, values read by other ops): the first run executes every op on its
//   own; later runs execute the chains fused (the counter of skipped steps says so), and every tensor
//   equals the first run's bit for bit. The convolutions also match a direct double-precision
//   reference (relative L2 <= 1e-5, as tests/cpu/test_nn_ops.cpp) and the elementwise tensors the
//   float32 definitions applied to the conv output (exact).
// - EfficientNet's swish (Sigmoid, Mul) after dense and depthwise convs and in squeeze-excitation
//   blocks, and a transformer's GELU (Div, Erf, Add, Mul, Mul): fused runs equal the unfused first
//   run, bit for bit.
// - Dense 1x1 convs (PointwiseConv) with ReLU and a residual Add over odd shapes: the conv against the
//   double reference, the steps exact, fused equal to unfused.
// - MobileNetV2, EfficientNet-B0, ResNet-50 and PP-OCRv4 det/rec (scripts/fetch-models.sh): the fused second run equals the
//   unfused first run on every tensor, bit for bit (the first run is what the onnxruntime model
//   tests check).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "cpu_reference.hpp"
#include "session_graph_util.hpp"
#include "netlens/cpu.hpp"
#include "netlens/cpu/fused_chain.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;
using namespace netlens::cpu_test;
using cpu::ChainStep;
using Op = ChainStep::Op;

namespace {

float ref_step(Op op, float a, float b, float lo, float hi) {
  switch (op) {
    case Op::Add: return a + b;
    case Op::Sub: return a - b;
    case Op::Mul: return a * b;
    case Op::Div: return a / b;
    case Op::Clip: return std::isnan(a) ? a : std::min(std::max(a, lo), hi);
    case Op::Relu: return std::isnan(a) ? a : (a < 0.f ? 0.f : a);
    case Op::Sigmoid: break;  // not an exact float expression: SigmoidStepEqualsSigmoidKernel
    case Op::Erf: break;      // nor this one: GeluChainEqualsUnfusedAndDefinitions
  }
  return 0.f;
}

ChainStep step(Op op, int a, int b = -1, float sa = 0.f, float sb = 0.f) {
  ChainStep s;
  s.op = op;
  s.a.value = a;
  s.a.scalar = sa;
  s.b.value = b;
  s.b.scalar = sb;
  return s;
}

// The steps over [off, head.size()) into fresh values (42 where nothing is written); from_head: the
// head handed in from a separate buffer (apply_from), the store's head filled by the steps;
// unstored: the steps whose outputs are not written (deferred chain values).
std::vector<std::vector<float>> applied(const std::vector<ChainStep>& steps, const std::vector<float>& head, int64_t off,
                                        bool stream, bool from_head, const float* const* externals = nullptr,
                                        uint32_t unstored = 0) {
  std::vector<std::vector<float>> got(steps.size() + 1, std::vector<float>(head.size(), 42.f));
  if (!from_head) got[0] = head;
  std::vector<float*> values;
  for (auto& v : got) values.push_back(v.data());
  const int64_t len = static_cast<int64_t>(head.size()) - off;
  cpu::apply_chain_steps(steps, values.data(), off, len, stream, externals, from_head ? head.data() + off : nullptr,
                         unstored);
  cpu::chain_store_fence();
  return got;
}

TEST(FusedChain, StepsEqualSeparateLoopsBitForBit) {
  // ReLU6, PP-OCR's folded BN + decomposed hard-swish, and every binary op with the scalar on
  // either side or two chain values.
  std::vector<ChainStep> steps = {
      step(Op::Mul, -1, 0, 0.943f),           // 1 = 0.943 * head
      step(Op::Add, 1, -1, 0.f, 0.504f),      // 2 = 1 + 0.504
      step(Op::Add, 2, -1, 0.f, 3.f),         // 3 = 2 + 3
      step(Op::Clip, 3),                      // 4 = clip(3, 0, 6)
      step(Op::Mul, 2, 4),                    // 5 = 2 * 4
      step(Op::Div, 5, -1, 0.f, 6.f),         // 6 = 5 / 6
      step(Op::Sub, -1, 6, 1.5f),             // 7 = 1.5 - 6
      step(Op::Div, -1, 0, 2.f),              // 8 = 2 / head
      step(Op::Relu, 7),                      // 9 = relu(7)
      step(Op::Sub, 9, 0),                    // 10 = 9 - head
      step(Op::Clip, 0),                      // 11 = clip(head, -inf, 0.25)
      step(Op::Add, 10),                      // 12 = 10 + external 0 (a residual Add)
      step(Op::Mul, -1, 12),                  // 13 = external 1 * 12
      step(Op::Add, 13),                      // 14 = 13 + row (a MatMul's bias, 70 long)
      step(Op::Sub, -1, 14),                  // 15 = row - 14
  };
  const std::vector<float> row = random_values(70, 99);
  steps[13].b.row = row.data();  // value 14 = 13 + row
  steps[13].b.row_len = 70;
  steps[14].a.row = row.data();  // value 15 = row - 14
  steps[14].a.row_len = 70;
  steps[3].lo = 0.f;
  steps[3].hi = 6.f;
  steps[10].hi = 0.25f;
  steps[11].b.ext = 0;
  steps[12].a.ext = 1;
  // from_head: the head handed in from a separate buffer (apply_from), the store's head filled by the steps.
  // unstored: steps 1, 6 and 14 (read by later steps) computed but not written.
  for (uint32_t unstored : {0u, (1u << 1) | (1u << 6) | (1u << 14)})
  for (bool from_head : {false, true})
  for (bool stream : {false, true})
  for (int64_t n : {1, 15, 511, 512, 513, 1025, 5000}) {
    const int64_t off = n > 16 ? 7 : 0;
    std::vector<float> head = random_values(static_cast<size_t>(n), static_cast<uint32_t>(n));
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), -0.f, 0.f, -3.f, 3.f, 6.f};
    for (size_t i = 0; i < std::size(specials) && i < head.size(); ++i) head[i * 3 % head.size()] = specials[i];
    const std::vector<float> ext0 = random_values(static_cast<size_t>(n), static_cast<uint32_t>(n) + 1);
    const std::vector<float> ext1 = random_values(static_cast<size_t>(n), static_cast<uint32_t>(n) + 2);
    const float* externals[] = {ext0.data(), ext1.data()};
    const std::vector<std::vector<float>> got = applied(steps, head, off, stream, from_head, externals, unstored);
    for (int64_t i = off; i < n; ++i) ASSERT_TRUE(same_bits(got[0][static_cast<size_t>(i)], head[static_cast<size_t>(i)])) << i;
    // Reference: each op over the whole range on its own.
    std::vector<std::vector<float>> want(steps.size() + 1, std::vector<float>(static_cast<size_t>(n), 42.f));
    want[0] = head;
    for (size_t k = 0; k < steps.size(); ++k) {
      const ChainStep& s = steps[k];
      for (int64_t i = off; i < n; ++i) {
        auto operand = [&](const ChainStep::Operand& o) {
          if (o.ext >= 0) return externals[o.ext][i];
          if (o.row) return o.row[i % o.row_len];
          return o.value >= 0 ? want[static_cast<size_t>(o.value)][static_cast<size_t>(i)] : o.scalar;
        };
        const float a = operand(s.a), b = operand(s.b);
        want[k + 1][static_cast<size_t>(i)] = ref_step(s.op, a, b, s.lo, s.hi);
      }
    }
    for (size_t k = 1; k <= steps.size(); ++k)
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(same_bits(got[k][static_cast<size_t>(i)], (unstored >> (k - 1) & 1) ? 42.f : want[k][static_cast<size_t>(i)]))
            << "from_head " << from_head << " stream " << stream << " n " << n << " step " << k - 1 << " element " << i << ": " << got[k][static_cast<size_t>(i)] << " vs "
            << want[k][static_cast<size_t>(i)];
  }
}

// ------------------------------------------------------------------------------------------------
// Sessions.
// The Sigmoid kernel (unfused) over a whole tensor.
std::vector<float> sigmoid_kernel(const std::vector<float>& x) {
  GraphBuilder b;
  b.input("x", {static_cast<int64_t>(x.size())});
  const std::string y = b.node("Sigmoid", {"x"});
  b.output(y);
  auto backend = make_cpu_backend({.fuse = false});
  Session s(b.g, {backend.get()});
  s.run({{"x", Tensor::from_f32({static_cast<int64_t>(x.size())}, x)}});
  const Tensor out = s.activations().fetch(y).clone();
  return std::vector<float>(out.data_as<float>(), out.data_as<float>() + out.numel());
}

// The logistic function against double precision: within 4 float32 ulps of the exact value; where
// that is below 1.7e-38 (x < -87, flushed to 0 by the kernel), within 1.7e-38.
void expect_sigmoid_close(const std::vector<float>& x, const std::vector<float>& y) {
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      ASSERT_TRUE(std::isnan(y[i])) << i;
      continue;
    }
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    const float wf = static_cast<float>(want);
    const double ulp = std::nextafter(wf, 2.f) - wf;
    const double tol = want < 1.7e-38 ? 1.7e-38 : 4 * ulp;
    ASSERT_LE(std::fabs(y[i] - want), tol) << "sigmoid(" << x[i] << ") = " << y[i] << ", want " << want;
  }
}

// Runs `g` on x unfused (unfused_run: the reference) and twice in a fused session; checks that
// both fused runs give the reference's bits. Returns the reference's tensors and the chain steps
// the two fused runs took (the session's first run included: fused from the start).
std::pair<std::map<std::string, Tensor>, uint64_t> unfused_then_fused(const Graph& g, const Tensor& x) {
  std::map<std::string, Tensor> first = unfused_run(g, {{"x", x}});
  auto backend = make_cpu_backend();
  Session s(g, {backend.get()});
  const uint64_t taken0 = cpu::chain_steps_taken();
  s.run({{"x", x}});
  expect_same_bits(first, snapshot(s));
  s.run({{"x", x}});
  const uint64_t taken = cpu::chain_steps_taken() - taken0;
  expect_same_bits(first, snapshot(s));
  return {std::move(first), taken};
}

// Conv(spec) -> ReLU6 -> (depthwise: the next conv) ... -> hard-swish with folded-BN scalars; a
// residual Add of two chain values, a value that is a graph output, and one read by a MaxPool.
void run_chain_graph(const ConvSpec& c, uint32_t seed) {
  GraphBuilder b;
  std::string w, bias;
  const std::string conv = spec_conv(b, c, seed, w, bias);
  const std::string relu6 = b.node("Clip", {conv, b.scalar(0.f), b.scalar(6.f)});
  // A second conv whose output runs PP-OCR's chain: Mul(w0) -> Add(w1) -> hard-swish -> Mul -> Add.
  const std::string w2 = b.weight({c.oc, 1, 3, 3}, 0.5f);
  const std::string dw = b.node("Conv", {relu6, w2}, {{"group", c.oc}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const std::string m = b.node("Mul", {b.scalar(0.943f), dw});
  const std::string a = b.node("Add", {m, b.scalar(0.504f)});
  const std::string hs = b.hardswish(a);
  const std::string m2 = b.node("Mul", {b.scalar(0.476f), hs});
  const std::string a2 = b.node("Add", {m2, b.scalar(-0.1f)});
  const std::string res = b.node("Add", {a2, a});       // two values of the chain
  const std::string pool = b.node("MaxPool", {hs}, {{"kernel_shape", std::vector<int64_t>{2, 2}}});  // not fusable
  // A chain headed by an elementwise op (its input is a MaxPool output, not a conv's).
  const std::string hs2 = b.hardswish(pool);
  const std::string r = b.node("Relu", {hs2});
  b.output(res);
  b.output(relu6);
  b.output(r);

  const Tensor x = random_input(c.x, seed + 100);
  const auto fused = unfused_then_fused(b.g, x);
  const std::map<std::string, Tensor>& first = fused.first;
  const uint64_t taken = fused.second;
  // Per run: relu6 (1) after conv 1; 8 steps + the residual Add (9) after conv 2; the second chain's
  // executor is its Add, its Clip/Mul/Div/Relu (4) are taken.
  EXPECT_EQ(taken, 2u * (1 + 9 + 4)) << "the chains did not run fused";

  // References: the first conv in double, and the elementwise ops in float32 from the stored inputs.
  const std::pair<cpuref::Geo, Shape> geo = conv_geometry(c);
  const cpuref::Geo& g = geo.first;
  const Shape& y = geo.second;
  const Tensor& cw = b.g.initializers.at(w);
  const Tensor& cb = b.g.initializers.at(bias);
  EXPECT_LE(rel_l2(first.at(conv), cpuref::conv_ref(x, cw, &cb, c.group, g, y)), 1e-5);
  const Tensor& cv = first.at(conv);
  const Tensor& r6 = first.at(relu6);
  for (int64_t i = 0; i < cv.numel(); ++i)
    ASSERT_TRUE(same_bits(r6.data_as<float>()[i], std::min(std::max(cv.data_as<float>()[i], 0.f), 6.f))) << i;
  const Tensor& dv = first.at(dw);
  const Tensor& hv = first.at(hs);
  for (int64_t i = 0; i < dv.numel(); ++i) {
    const float av = 0.943f * dv.data_as<float>()[i] + 0.504f;
    const float want = av * std::min(std::max(av + 3.f, 0.f), 6.f) / 6.f;
    ASSERT_TRUE(same_bits(hv.data_as<float>()[i], want)) << i;
  }
}

// The Sigmoid step (EfficientNet's swish x * sigmoid(x)) equals the Sigmoid kernel run unfused on
// the whole tensor, bit for bit, over block edges, with the range starting inside a block, streamed
// or not, from a head buffer or not; the kernel is within 4 ulps of the double reference.
TEST(FusedChain, SigmoidStepEqualsSigmoidKernelBitForBit) {
  std::vector<ChainStep> steps = {
      step(Op::Sigmoid, 0),              // 1 = sigmoid(head)
      step(Op::Mul, 0, 1),               // 2 = head * 1 (swish)
      step(Op::Sigmoid, 2),              // 3 = sigmoid(2)
      step(Op::Mul, 3, 2),               // 4 = 3 * 2
  };
  for (bool from_head : {false, true})
  for (bool stream : {false, true})
  for (int64_t n : {1, 15, 17, 511, 512, 513, 1025, 5000}) {
    const int64_t off = n > 16 ? 7 : 0;
    std::vector<float> head = random_values(static_cast<size_t>(n), static_cast<uint32_t>(n) + 50, 30.f);
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), -0.f, 0.f, -87.5f, -86.9f, 88.f, 1e-20f, -1e-20f,
                              -17.f, 17.f, 0.5f};
    for (size_t i = 0; i < std::size(specials) && i < head.size(); ++i) head[(i * 5 + 8) % head.size()] = specials[i];
    const std::vector<std::vector<float>> got = applied(steps, head, off, stream, from_head);
    // The separate kernels over the whole tensors.
    const std::vector<float> s1 = sigmoid_kernel(head);
    std::vector<float> m2(head.size()), m4(head.size());
    for (size_t i = 0; i < head.size(); ++i) m2[i] = head[i] * s1[i];
    const std::vector<float> s3 = sigmoid_kernel(m2);
    for (size_t i = 0; i < head.size(); ++i) m4[i] = s3[i] * m2[i];
    expect_sigmoid_close(head, s1);
    expect_sigmoid_close(m2, s3);
    const std::vector<float>* want[] = {&head, &s1, &m2, &s3, &m4};
    for (size_t k = 0; k <= steps.size(); ++k)
      for (int64_t i = off; i < n; ++i)
        ASSERT_TRUE(same_bits(got[k][static_cast<size_t>(i)], (*want[k])[static_cast<size_t>(i)]))
            << "from_head " << from_head << " stream " << stream << " n " << n << " value " << k << " element " << i
            << ": " << got[k][static_cast<size_t>(i)] << " vs " << (*want[k])[static_cast<size_t>(i)];
  }
}

// EfficientNet's blocks: conv -> swish (Sigmoid, Mul) -> depthwise conv -> swish with the Mul's
// operands the other way round -> squeeze-excitation (GlobalAveragePool, 1x1 convs with swish and
// Sigmoid, the broadcast Mul, not a step). The fused runs equal the unfused first run bit for bit;
// the conv matches the double reference and the swish its definition from the stored tensors.
void run_swish_graph(const ConvSpec& c, uint32_t seed) {
  GraphBuilder b;
  std::string w, bias;
  const std::string conv = spec_conv(b, c, seed, w, bias);
  const std::string sig = b.node("Sigmoid", {conv});
  const std::string sw = b.node("Mul", {conv, sig});
  const std::string dw = b.node("Conv", {sw, b.weight({c.oc, 1, 3, 3}, 0.5f)}, {{"group", c.oc}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const std::string sig2 = b.node("Sigmoid", {dw});
  const std::string sw2 = b.node("Mul", {sig2, dw});
  const std::string gap = b.node("GlobalAveragePool", {sw2});
  const int64_t mid = std::max<int64_t>(1, c.oc / 4);
  const std::string fc1 = b.node("Conv", {gap, b.weight({mid, c.oc, 1, 1}, 0.5f), b.weight({mid}, 0.2f)});
  const std::string fs = b.node("Mul", {fc1, b.node("Sigmoid", {fc1})});
  const std::string fc2 = b.node("Conv", {fs, b.weight({c.oc, mid, 1, 1}, 0.5f), b.weight({c.oc}, 0.2f)});
  const std::string scale = b.node("Mul", {sw2, b.node("Sigmoid", {fc2})});
  b.output(scale);

  const Tensor x = random_input(c.x, seed + 100);
  const auto fused = unfused_then_fused(b.g, x);
  const std::map<std::string, Tensor>& first = fused.first;
  const uint64_t taken = fused.second;
  // Per run: Sigmoid and Mul after each of conv, dw and fc1 (6), Sigmoid after fc2 (1).
  EXPECT_EQ(taken, 2u * 7) << "the swish chains did not run fused";

  const std::pair<cpuref::Geo, Shape> geo = conv_geometry(c);
  const cpuref::Geo& g = geo.first;
  const Shape& y = geo.second;
  EXPECT_LE(rel_l2(first.at(conv), cpuref::conv_ref(x, b.g.initializers.at(w), &b.g.initializers.at(bias), c.group, g, y)), 1e-5);
  auto vec = [&](const std::string& n) {
    const Tensor& t = first.at(n);
    return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.numel());
  };
  const std::vector<float> cv = vec(conv), sv = vec(sig), swv = vec(sw), dv = vec(dw), s2v = vec(sig2), sw2v = vec(sw2);
  expect_sigmoid_close(cv, sv);
  expect_sigmoid_close(dv, s2v);
  for (size_t i = 0; i < cv.size(); ++i) ASSERT_TRUE(same_bits(swv[i], cv[i] * sv[i])) << i;
  for (size_t i = 0; i < dv.size(); ++i) ASSERT_TRUE(same_bits(sw2v[i], s2v[i] * dv[i])) << i;
}

TEST(FusedChain, SwishDensePointwise) { run_swish_graph({{1, 24, 28, 28}, 48, 1, 1, 1, 1, 0}, 11); }
TEST(FusedChain, SwishDense3x3Strided) { run_swish_graph({{1, 16, 30, 30}, 32, 1, 3, 2, 1, 1}, 12); }
TEST(FusedChain, SwishDepthwiseWide) { run_swish_graph({{1, 20, 40, 70}, 20, 20, 3, 1, 1, 1}, 13); }

// Dense 1x1 convs (PointwiseConv: nn_conv_gemm.hpp's AVX-512 kernel for up to 128 input or 48
// output channels, dnnl_sgemm otherwise; ctest's cpu.fused_chain_pointwise_own runs these with the kernel for every
// shape, so that its blocks of 128 input channels on wide inputs are covered) followed by ReLU and a residual Add
// of the input: output channels not a multiple of the kernel's 6 rows, positions not a multiple of
// its 16 or 64, batches, stride 2, rows split over tiles (1100 channels). The conv matches the double
// reference (relative L2 <= 1e-5), the ReLU and Add are their float32 definitions (exact), and the
// fused runs equal the unfused first run bit for bit.
void run_pointwise_graph(const ConvSpec& c, uint32_t seed) {
  GraphBuilder b;
  std::string w, bias;
  const std::string conv = spec_conv(b, c, seed, w, bias);
  const std::string relu = b.node("Relu", {conv});
  const bool residual = c.x[1] == c.oc && c.stride == 1;
  std::string skip, out = relu;
  if (residual) {
    // The skip: a non-fusable op's output computed before the conv (its node moved first).
    skip = b.node("MaxPool", {"x"}, {{"kernel_shape", std::vector<int64_t>{1, 1}}});
    std::rotate(b.g.nodes.begin(), b.g.nodes.end() - 1, b.g.nodes.end());
    out = b.node("Add", {relu, skip});
  }
  b.output(out);
  const Tensor x = random_input(c.x, seed + 100);
  const auto fused = unfused_then_fused(b.g, x);
  const std::map<std::string, Tensor>& first = fused.first;
  EXPECT_EQ(fused.second, 2u * (residual ? 2 : 1)) << "the chain did not run fused";
  const std::pair<cpuref::Geo, Shape> geo = conv_geometry(c);
  EXPECT_LE(rel_l2(first.at(conv), cpuref::conv_ref(x, b.g.initializers.at(w), &b.g.initializers.at(bias), 1, geo.first, geo.second)), 1e-5);
  const Tensor& cv = first.at(conv);
  const Tensor& rv = first.at(relu);
  for (int64_t i = 0; i < cv.numel(); ++i) {
    const float v = cv.data_as<float>()[i];
    ASSERT_TRUE(same_bits(rv.data_as<float>()[i], v < 0.f ? 0.f : v)) << i;
    if (residual) {
      ASSERT_TRUE(same_bits(first.at(out).data_as<float>()[i], rv.data_as<float>()[i] + x.data_as<float>()[i])) << i;
    }
  }
}

TEST(FusedChain, PointwiseOddChannelsAndPositions) { run_pointwise_graph({{1, 24, 28, 28}, 50, 1, 1, 1, 1, 0}, 31); }
TEST(FusedChain, PointwiseResidualTailOf19) { run_pointwise_graph({{1, 64, 23, 37}, 64, 1, 1, 1, 1, 0}, 32); }
TEST(FusedChain, PointwiseBatchOfTwo) { run_pointwise_graph({{2, 16, 32, 32}, 40, 1, 1, 1, 1, 0}, 33); }
TEST(FusedChain, PointwiseStrideTwo) { run_pointwise_graph({{1, 32, 50, 50}, 70, 1, 1, 2, 1, 0}, 34); }
TEST(FusedChain, PointwiseRowsSplit) { run_pointwise_graph({{1, 8, 32, 32}, 1100, 1, 1, 1, 1, 0}, 35); }
TEST(FusedChain, PointwiseWideInput) { run_pointwise_graph({{1, 200, 24, 24}, 13, 1, 1, 1, 1, 0}, 36); }
TEST(FusedChain, PointwiseWideInputResidual) { run_pointwise_graph({{1, 300, 20, 30}, 300, 1, 1, 1, 1, 0}, 37); }
// Planes under 512 positions (PointwiseConv's tiles of whole rows; nn_conv_gemm.hpp's kernel
// vectorised over output channels below 100 positions and on projections, the one over positions on
// 14x14 expands): 7x7 with its 3 x 16 + 1 positions and two blocks of 128 input channels, a residual,
// channels not a multiple of 16 with a batch, a 14x14 projection over 300 inputs (chunks of
// positions), a 14x14 expand, the 1x1 planes of squeeze-excitation (scattered stores), stride 2 onto
// 7x7, channels split over tiles, and outputs large enough for the streamed chain.
TEST(FusedChain, PointwiseSmallPlaneExpand) { run_pointwise_graph({{1, 160, 7, 7}, 960, 1, 1, 1, 1, 0}, 38); }
TEST(FusedChain, PointwiseSmallPlaneResidual) { run_pointwise_graph({{1, 96, 7, 7}, 96, 1, 1, 1, 1, 0}, 39); }
TEST(FusedChain, PointwiseSmallPlaneOddChannelsBatch) { run_pointwise_graph({{2, 40, 7, 7}, 50, 1, 1, 1, 1, 0}, 40); }
TEST(FusedChain, PointwiseSmallPlaneProjection) { run_pointwise_graph({{1, 300, 14, 14}, 72, 1, 1, 1, 1, 0}, 41); }
TEST(FusedChain, PointwiseSmallPlaneRowsExpand) { run_pointwise_graph({{1, 24, 14, 14}, 100, 1, 1, 1, 1, 0}, 42); }
TEST(FusedChain, PointwiseOnePosition) { run_pointwise_graph({{1, 200, 1, 1}, 20, 1, 1, 1, 1, 0}, 43); }
TEST(FusedChain, PointwiseOnePositionBatchExpand) { run_pointwise_graph({{2, 20, 1, 1}, 200, 1, 1, 1, 1, 0}, 44); }
TEST(FusedChain, PointwiseTwoPositionsResidual) { run_pointwise_graph({{1, 36, 1, 2}, 36, 1, 1, 1, 1, 0}, 45); }
TEST(FusedChain, PointwiseSmallPlaneStrideTwo) { run_pointwise_graph({{1, 64, 14, 14}, 130, 1, 1, 2, 1, 0}, 46); }
TEST(FusedChain, PointwiseSmallPlaneRowsSplit) { run_pointwise_graph({{1, 16, 7, 7}, 1100, 1, 1, 1, 1, 0}, 47); }
TEST(FusedChain, PointwiseSmallPlaneStreamedProjection) { run_pointwise_graph({{1, 576, 14, 14}, 400, 1, 1, 1, 1, 0}, 48); }
TEST(FusedChain, PointwiseSmallPlaneStreamedExpand) { run_pointwise_graph({{1, 64, 14, 14}, 576, 1, 1, 1, 1, 0}, 49); }

TEST(FusedChain, DepthwiseNarrowRowsReluSixAndHardSwish) { run_chain_graph({{1, 16, 14, 14}, 16, 16, 3, 1, 1, 1}, 1); }
TEST(FusedChain, DepthwiseStrideTwoDilated) { run_chain_graph({{1, 8, 17, 23}, 8, 8, 3, 2, 2, 2}, 2); }
TEST(FusedChain, DepthwiseWideRows) { run_chain_graph({{1, 4, 9, 130}, 4, 4, 5, 1, 1, 2}, 3); }
TEST(FusedChain, DensePointwise) { run_chain_graph({{1, 24, 28, 28}, 48, 1, 1, 1, 1, 0}, 4); }
TEST(FusedChain, Dense3x3Blocked) { run_chain_graph({{1, 32, 10, 10}, 64, 1, 3, 1, 1, 1}, 5); }

// A chain value that another node reads before a later step (a branch) and a Clip with run-time
// bounds (not fusable) end or skip a chain without changing any value.
TEST(FusedChain, RuntimeBoundsAndBranchesStayCorrect) {
  GraphBuilder b;
  b.input("x", {1, 8, 12, 12});
  b.input("hi", {});
  const std::string conv = b.node("Conv", {"x", b.weight({8, 1, 3, 3}, 0.5f)}, {{"group", int64_t{8}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const std::string c = b.node("Clip", {conv, b.scalar(0.f), "hi"});  // run-time max: not a step
  const std::string r = b.node("Relu", {conv});                        // a step
  const std::string sum = b.node("Add", {c, r});                        // not a step (c is no chain value)
  const std::string m = b.node("Mul", {r, b.scalar(2.f)});              // a step
  b.output(sum);
  b.output(m);
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  const Tensor x = random_input({1, 8, 12, 12}, 9);
  const Tensor hi = Tensor::from_f32({}, {0.5f});
  const auto first = unfused_run(b.g, {{"x", x}, {"hi", hi}});
  const uint64_t taken0 = cpu::chain_steps_taken();
  s.run({{"x", x}, {"hi", hi}});
  EXPECT_EQ(cpu::chain_steps_taken() - taken0, 2u);
  expect_same_bits(first, snapshot(s));
  const Tensor& cv = first.at(conv);
  for (int64_t i = 0; i < cv.numel(); ++i) {
    const float v = cv.data_as<float>()[i];
    ASSERT_EQ(first.at(sum).data_as<float>()[i], std::min(std::max(v, 0.f), 0.5f) + (v < 0.f ? 0.f : v));
  }
}

// Residual Adds: the skip operand is an external tensor of the chain (fused when a node planned
// before the chain's executor produces it, as in ResNet's blocks, also when the skip branch's conv
// comes after the main branch's), never when it is produced after the executor. The fused run on a
// new input equals a fresh session's unfused run on that input bit for bit (an executor that read
// a skip tensor before this run computed it would see the previous input's values).
TEST(FusedChain, ResidualAddWithExternalSkip) {
  const Shape xs{1, 8, 12, 12};
  GraphBuilder b;
  b.input("x", xs);
  const std::map<std::string, AttrValue> pad1{{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  auto conv = [&](const std::string& in) { return b.node("Conv", {in, b.weight({8, 8, 3, 3}, 0.3f), b.weight({8}, 0.2f)}, pad1); };
  const std::string a = conv("x");
  const std::string sk = b.node("Relu", {a});                // step of a's chain
  const std::string y = conv(sk);
  const std::string d = conv(sk);                            // the "downsample" conv after the main branch
  const std::string add = b.node("Add", {y, d});             // step of d's chain, y external
  const std::string r = b.node("Relu", {add});               // step
  const std::string y2 = conv(r);
  const std::string add2 = b.node("Add", {r, y2});           // step of y2's chain, r external (operand a)
  const std::string r2 = b.node("Relu", {add2});             // step
  const std::string y3 = conv(r2);
  const std::string z = b.node("MaxPool", {r2}, {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const std::string add3 = b.node("Add", {y3, z});           // z produced after y3's conv: not fused
  const std::string r3 = b.node("Relu", {add3});
  b.output(r3);
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  const Tensor x1 = random_input(xs, 21), x2 = random_input(xs, 22);
  uint64_t taken0 = cpu::chain_steps_taken();
  s.run({{"x", x1}});
  EXPECT_EQ(cpu::chain_steps_taken() - taken0, 5u) << "the first run should run fused (chains bound at prepare)";
  expect_same_bits(unfused_run(b.g, {{"x", x1}}), snapshot(s));
  taken0 = cpu::chain_steps_taken();
  s.run({{"x", x2}});
  EXPECT_EQ(cpu::chain_steps_taken() - taken0, 5u) << "Relu, Add, Relu, Add, Relu should run fused";
  const auto want = unfused_run(b.g, {{"x", x2}});
  expect_same_bits(want, snapshot(s));
  // The sums and ReLUs are the float32 definitions of the stored operands.
  auto at = [&](const std::string& n, int64_t i) { return want.at(n).data_as<float>()[i]; };
  for (int64_t i = 0; i < numel(xs); ++i) {
    ASSERT_TRUE(same_bits(at(add, i), at(y, i) + at(d, i))) << i;
    ASSERT_TRUE(same_bits(at(r, i), at(add, i) < 0.f ? 0.f : at(add, i))) << i;
    ASSERT_TRUE(same_bits(at(add2, i), at(r, i) + at(y2, i))) << i;
    ASSERT_TRUE(same_bits(at(add3, i), at(y3, i) + at(z, i))) << i;
  }
}

// Real models: every tensor of a fused run equals an unfused run's on the same input (a backend
// that fuses nothing), the fused session having run another input before.
void check_model(const char* file, const std::string& input, Shape shape) {
  const std::filesystem::path model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / file;
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " is missing: run scripts/fetch-models.sh";
  auto backend = make_cpu_backend();
  const Graph g = load_onnx(model.string());
  const Tensor x = random_input(shape, 7), other = random_input(shape, 8);
  const std::map<std::string, Tensor> first = unfused_run(g, {{input, x}});
  Session s(g, {backend.get()});
  s.run({{input, other}});
  const uint64_t taken0 = cpu::chain_steps_taken();
  s.run({{input, x}});
  // Deferred clamps (runtime.hpp: the Relu/Clip outputs that only convs read) are no longer chain
  // steps: MobileNetV2 keeps 11 taken steps and 34 deferred clamps.
  EXPECT_GT(cpu::chain_steps_taken() - taken0 + s.report().deferred_tensors.size(), 20u) << "no chain ran fused";
  expect_same_bits(first, snapshot(s));
}

// A transformer's GELU as exporters write it, x * (1 + erf(x / sqrt2)) * 0.5 = Div, Erf, Add, Mul,
// Mul: one chain headed by the Div whose Erf, Add and Muls are taken. Fused runs equal the unfused
// first run bit for bit (over 16-element tails and the 16K chunks of the kernels); the stored Erf is
// within 4 ulps of double erf (NaN, +-inf, +-0 included), the other tensors equal their float32
// definitions applied to the stored inputs.
TEST(FusedChain, GeluChainEqualsUnfusedAndDefinitions) {
  GraphBuilder b;
  const Shape shape{1, 37, 1001};
  const GraphBuilder::Gelu names = b.gelu_graph(shape);
  const std::string &div = names.div, &erf = names.erf, &add = names.add, &mul = names.mul, &gelu = names.out;
  std::vector<float> xv = random_values(static_cast<size_t>(numel(shape)), 77, 7.f);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), -0.f, 0.f, 1.41421354f, -1.4142137f, 5.657f,
                            -5.6568542f, 1e-30f, -1e-38f};
  for (size_t i = 0; i < std::size(specials); ++i) xv[i * 4099 % xv.size()] = specials[i];
  const auto fused = unfused_then_fused(b.g, Tensor::from_f32(shape, xv));
  EXPECT_EQ(fused.second, 2u * 4) << "the GELU chain did not run fused";
  const std::map<std::string, Tensor>& first = fused.first;
  expect_gelu_definitions(xv, first.at(div).data_as<float>(), first.at(erf).data_as<float>(), first.at(add).data_as<float>(),
                          first.at(mul).data_as<float>(), first.at(gelu).data_as<float>(), "first run");
}

// A transformer's MLP block as torchvision exports it: MatMul -> Add(bias row) -> GELU -> MatMul ->
// Add(bias row) -> Add(residual x). Each MatMul executes a chain: the bias Add (a constant row along
// the last axis), then GELU's five ops, or the residual Add (x, an external operand). The fused runs
// equal the unfused first run bit for bit (every tensor); the products match a double-precision
// product (relative L2 <= 1e-5); the bias Adds and the residual Add are their float32 definitions of
// the stored values, GELU as in GeluChainEqualsUnfusedAndDefinitions. 37 tokens x 70 features:
// rows that do not divide the chain's blocks.
TEST(FusedChain, MatMulBiasGeluResidual) {
  GraphBuilder b;
  const Shape xs{1, 37, 50};
  b.input("x", xs);
  // The residual branch as a node's output (a graph input is not an external operand).
  const std::string xr = b.node("Identity", {"x"});
  const std::string w1 = b.weight({50, 70}, 0.3f), b1 = b.weight({70}, 0.5f);
  const std::string w2 = b.weight({70, 50}, 0.3f), b2 = b.weight({50}, 0.5f);
  const std::string mm1 = b.node("MatMul", {"x", w1});
  const std::string h = b.node("Add", {mm1, b1});
  const GraphBuilder::Gelu g = b.gelu(h);
  const std::string mm2 = b.node("MatMul", {g.out, w2});
  const std::string h2 = b.node("Add", {b2, mm2});  // the row on the left
  const std::string y = b.node("Add", {h2, xr});
  b.output(y);
  const Tensor x = random_input(xs, 5);
  const auto fused = unfused_then_fused(b.g, x);
  EXPECT_EQ(fused.second, 2u * 8) << "the MatMul chains did not run fused";
  const std::map<std::string, Tensor>& first = fused.first;
  auto product = [](const Tensor& a, const Tensor& w) {  // [37, k] x [k, n] in double
    const int64_t k = w.shape()[0], n = w.shape()[1], m = a.numel() / k;
    std::vector<double> r(static_cast<size_t>(m * n), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t t = 0; t < k; ++t)
          r[static_cast<size_t>(i * n + j)] += double(a.data_as<float>()[i * k + t]) * w.data_as<float>()[t * n + j];
    return r;
  };
  EXPECT_LE(rel_l2(first.at(mm1), product(x, b.g.initializers.at(w1))), 1e-5);
  EXPECT_LE(rel_l2(first.at(mm2), product(first.at(g.out), b.g.initializers.at(w2))), 1e-5);
  const float* m1 = first.at(mm1).data_as<float>();
  const float* hv = first.at(h).data_as<float>();
  const float* bias1 = b.g.initializers.at(b1).data_as<float>();
  for (int64_t i = 0; i < first.at(h).numel(); ++i) ASSERT_TRUE(same_bits(hv[i], m1[i] + bias1[i % 70])) << i;
  const std::vector<float> hvec(hv, hv + first.at(h).numel());
  expect_gelu_definitions(hvec, first.at(g.div).data_as<float>(), first.at(g.erf).data_as<float>(),
                          first.at(g.add).data_as<float>(), first.at(g.mul).data_as<float>(), first.at(g.out).data_as<float>(),
                          "first run");
  const float* m2 = first.at(mm2).data_as<float>();
  const float* h2v = first.at(h2).data_as<float>();
  const float* bias2 = b.g.initializers.at(b2).data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_TRUE(same_bits(h2v[i], bias2[i % 50] + m2[i])) << i;
    ASSERT_TRUE(same_bits(first.at(y).data_as<float>()[i], h2v[i] + x.data_as<float>()[i])) << i;
  }
}

TEST(FusedChainModels, MobileNetV2FusedRunEqualsUnfused) { check_model("mobilenet_v2.onnx", "input", {1, 3, 224, 224}); }
TEST(FusedChainModels, PpOcrV4DetFusedRunEqualsUnfused) { check_model("ppocrv4_det.onnx", "x", {1, 3, 256, 320}); }
TEST(FusedChainModels, PpOcrV4RecFusedRunEqualsUnfused) { check_model("ppocrv4_rec.onnx", "x", {1, 3, 48, 320}); }
TEST(FusedChainModels, EfficientNetB0FusedRunEqualsUnfused) { check_model("efficientnet_b0.onnx", "input", {1, 3, 224, 224}); }
TEST(FusedChainModels, ResNet50FusedRunEqualsUnfused) { check_model("resnet50.onnx", "input", {1, 3, 224, 224}); }
TEST(FusedChainModels, VitB16FusedRunEqualsUnfused) { check_model("vit_b_16.onnx", "input", {1, 3, 224, 224}); }

}  // namespace
