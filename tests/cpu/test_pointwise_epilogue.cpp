// A dense 1x1 conv followed by a residual Add and, optionally, a Relu or Clip of the sum: the own
// AVX-512 kernel computes that chain from its registers (nn_conv_gemm.hpp, PointwiseEpilogue) and
// writes every output in place, rows end to end. Checked on each run against the chain's float32
// definitions (sum = conv + skip, out = x < lo ? lo : x then > hi ? hi : x), bit for bit, with
// NaN, infinities and negative zeros in the sums; the conv against a double-precision reference;
// the fused runs against the unfused first run on every tensor. The epilogue is planned on outputs
// of more than 48 channels; the shapes cover a ragged last vector of positions, channels not a
// multiple of the kernel's 6-row panels, a stride-2 conv (a gathered input) and the streamed
// stores of large outputs, and, for the chain's pass that narrower outputs keep, a batch of two
// with 24 channels and 12 channels read in place. Also run with NETLENS_CONV_RESIDUAL_EPILOGUE=0
// (every chain as that pass), which must give the same bits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "netlens/cpu.hpp"
#include "netlens/cpu/fused_chain.hpp"
#include "session_graph_util.hpp"

using namespace netlens;
using namespace netlens::cpu_test;

namespace {

enum class After { None, Relu, Clip };

struct Case {
  Shape x;        // the conv's input
  int64_t oc;     // its output channels
  int64_t stride;
  After after;
  bool sum_is_output;  // the Add's output is also a graph output (stored, not deferred)
};

void run_case(const Case& k, uint32_t seed) {
  GraphBuilder b;
  b.seed = seed;
  b.input("x", k.x);
  const int64_t oh = (k.x[2] - 1) / k.stride + 1, ow = (k.x[3] - 1) / k.stride + 1;
  const Shape y{k.x[0], k.oc, oh, ow};
  b.input("s", y);
  // The skip: a non-fusable op's output planned before the conv (an external operand); Neg keeps
  // NaN (MaxPool would drop it).
  const std::string skip = b.node("Neg", {"s"});
  const std::string w = b.weight({k.oc, k.x[1], 1, 1}, 0.4f);
  const std::string bias = b.weight({k.oc}, 0.2f);
  // Channel 0: weights and bias -0 on positive inputs, so that its conv output is -0 everywhere.
  Tensor& wt = b.g.initializers.at(w);
  for (int64_t i = 0; i < k.x[1]; ++i) wt.data_as<float>()[i] = -0.0f;
  b.g.initializers.at(bias).data_as<float>()[0] = -0.0f;
  const std::string conv =
      b.node("Conv", {"x", w, bias}, {{"strides", std::vector<int64_t>{k.stride, k.stride}}});
  const std::string sum = b.node("Add", {conv, skip});
  std::string out;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (k.after == After::Relu) {
    out = b.node("Relu", {sum});
    lo = 0.f;
  } else if (k.after == After::Clip) {
    out = b.node("Clip", {sum, b.scalar(-0.5f), b.scalar(0.75f)});
    lo = -0.5f;
    hi = 0.75f;
  }
  // Read by a MaxPool (which cannot clamp its input): the clamp's output is stored, not deferred.
  if (!out.empty()) b.output(b.node("MaxPool", {out}, {{"kernel_shape", std::vector<int64_t>{1, 1}}}));
  if (out.empty() || k.sum_is_output) b.output(sum);

  auto backend = make_cpu_backend();
  Session session(b.g, {backend.get()});
  const uint64_t taken0 = cpu::chain_steps_taken();
  for (uint32_t run = 0; run < 3; ++run) {
    Tensor x = random_input(k.x, seed + 10 * run);
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = 0.1f + std::fabs(x.data_as<float>()[i]);
    Tensor s = random_input(y, seed + 10 * run + 1);
    float* sp = s.data_as<float>();
    const int64_t plane = oh * ow;
    for (int64_t n = 0; n < y[0]; ++n) {
      float* c0 = sp + n * k.oc * plane;  // channel 0: -0 + -(+0) = -0
      for (int64_t i = 0; i < plane; ++i) c0[i] = 0.0f;
      float* c1 = sp + (n * k.oc + 1 % k.oc) * plane;  // channel 1: NaN, infinities, exact cancellations
      c1[0] = std::numeric_limits<float>::quiet_NaN();
      if (plane > 2) c1[1] = std::numeric_limits<float>::infinity(), c1[2] = -std::numeric_limits<float>::infinity();
    }
    session.run({{"x", x}, {"s", s}});
    const Tensor c = session.activations().fetch(conv);
    const Tensor a = session.activations().fetch(sum);
    if (run == 0) {
      const std::pair<cpuref::Geo, Shape> g = conv_geometry({k.x, k.oc, 1, 1, k.stride, 1, 0});
      ASSERT_EQ(g.second, y);
      EXPECT_LE(rel_l2(c, cpuref::conv_ref(x, b.g.initializers.at(w), &b.g.initializers.at(bias), 1, g.first, y)), 1e-5);
    }
    const Tensor sk = session.activations().fetch(skip);
    for (int64_t i = 0; i < c.numel(); ++i) {
      const float want = c.data_as<float>()[i] + sk.data_as<float>()[i];
      ASSERT_TRUE(same_bits(a.data_as<float>()[i], want)) << "run " << run << ", sum at " << i;
    }
    if (!out.empty()) {
      const Tensor o = session.activations().fetch(out);
      for (int64_t i = 0; i < a.numel(); ++i) {
        const float v0 = a.data_as<float>()[i], v1 = v0 < lo ? lo : v0;
        ASSERT_TRUE(same_bits(o.data_as<float>()[i], v1 > hi ? hi : v1)) << "run " << run << ", clamp at " << i;
      }
    }
    if (run == 0) {
      // Fused from the first run on (chains bound at prepare): every tensor as each op on its own.
      expect_same_bits(unfused_run(b.g, {{"x", x}, {"s", s}}), snapshot(session));
    }
  }
  // Fused in all three runs: the Add and the Relu/Clip steps taken by their kernels.
  EXPECT_EQ(cpu::chain_steps_taken() - taken0, 3u * (out.empty() ? 1 : 2)) << "the chain did not run fused";
}

}  // namespace

TEST(PointwiseEpilogue, ReluAfterUnstoredSumOddPositions) { run_case({{1, 40, 30, 31}, 50, 1, After::Relu, false}, 1); }
TEST(PointwiseEpilogue, ReluAfterStoredSumBatch) { run_case({{2, 24, 23, 37}, 24, 1, After::Relu, true}, 2); }
TEST(PointwiseEpilogue, AddAloneLargeStreamed) { run_case({{1, 24, 56, 56}, 144, 1, After::None, false}, 3); }
TEST(PointwiseEpilogue, ClipAfterSumFewChannelsInPlace) { run_case({{1, 16, 64, 64}, 12, 1, After::Clip, false}, 4); }
TEST(PointwiseEpilogue, ReluStrideTwo) { run_case({{1, 32, 50, 50}, 60, 2, After::Relu, false}, 5); }
TEST(PointwiseEpilogue, ClipStoredSumLarge) { run_case({{1, 64, 56, 56}, 256, 1, After::Clip, true}, 6); }
