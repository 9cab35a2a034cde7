// Deferred outputs (runtime.hpp, "Deferred clamps" and "Deferred chain values"): tensors the run
// does not write, written on the store's first read after each run.
// Clamps: a Relu or Clip output read only by convs that clamp their input while reading it (the CPU
// backend's depthwise and dense 1x1 kernels).
// - Small graphs, Conv -> Clip(0, 6) or Relu -> a depthwise conv and a 1x1 conv, over each path of
//   the depthwise kernel (planar stride 1, stride-2 rows, stride-2 row pairs, small planes, the
//   channel-blocked copy) and of the 1x1 kernel (small planes, wide planes, stride 2), batches of
//   one and two, ReLU, ReLU6, Clip(-0.5, 0.75) and Clip(0.25, 4) (whose lower bound must not reach
//   the depthwise conv's zero pads): the session reports the clamp deferred; on three inputs in turn (a stale slot
//   would show the previous input's values) the stored clamp equals the clamp computed here from
//   the stored conv output (exact) and both readers equal a double-precision conv of it
//   (cpu_reference.hpp, relative L2 <= 1e-5).
// - Not deferred where a reader cannot clamp (a MaxPool, a chain step) or the clamp is a graph
//   output; values read during the run (RunControl::on_node) are the run's.
// - MobileNetV2 (scripts/fetch-models.sh): exactly the Clips that only Convs read are deferred,
//   each equal to the clamp of its stored input on two inputs. (Its every tensor against
//   onnxruntime, and its gradients against PyTorch, are tests/models and tests/grad.)
// Chain values: hard-swish's Add, Clip and Mul after a conv, GELU's Div, Erf, Add and Mul in a
// chain its Div heads, a residual sum before its ReLU: the session reports exactly those; on three
// inputs (the first run unfused, recording addresses; then fused) each equals its float32
// definition applied to the stored values it reads (exact; Erf within 4 ulps of double erf), also
// read during the run, and what reads the chain's last value equals a double reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "session_graph_util.hpp"

using namespace netlens;
using namespace netlens::cpu_test;

namespace {

// Relu, or Clip(lo, hi), as ONNX defines them (no NaNs in these inputs).
struct Bounds {
  bool relu;
  float lo, hi;
};
constexpr Bounds kRelu{true, 0.f, 0.f}, kRelu6{false, 0.f, 6.f};

float clamp_ref(float v, Bounds b) { return b.relu ? std::max(v, 0.f) : std::min(std::max(v, b.lo), b.hi); }

void expect_clamp_of(const Tensor& got, const Tensor& x, Bounds b, const std::string& what) {
  ASSERT_EQ(got.numel(), x.numel());
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_TRUE(same_bits(got.data_as<float>()[i], clamp_ref(x.data_as<float>()[i], b))) << what << " at " << i;
}

struct Case {
  ConvSpec head;              // the conv before the clamp
  int64_t dw_k, dw_stride;    // the depthwise reader (pads k / 2)
  int64_t pw_oc, pw_stride;   // the 1x1 reader
  Bounds clamp;
};

void run_case(const Case& c, uint32_t seed) {
  GraphBuilder b;
  std::string w, bias;
  const std::string conv = spec_conv(b, c.head, seed, w, bias);
  const std::string act =
      c.clamp.relu ? b.node("Relu", {conv}) : b.node("Clip", {conv, b.scalar(c.clamp.lo), b.scalar(c.clamp.hi)});
  const Shape as{c.head.x[0], c.head.oc, conv_geometry(c.head).second[2], conv_geometry(c.head).second[3]};
  const int64_t ch = c.head.oc, p = c.dw_k / 2;
  const std::string dww = b.weight({ch, 1, c.dw_k, c.dw_k}, 0.4f), dwb = b.weight({ch}, 0.1f);
  const std::string dw = b.node("Conv", {act, dww, dwb}, {{"group", ch}, {"strides", std::vector<int64_t>{c.dw_stride, c.dw_stride}},
                                                          {"pads", std::vector<int64_t>{p, p, p, p}}});
  const std::string pww = b.weight({c.pw_oc, ch, 1, 1}, 0.3f), pwb = b.weight({c.pw_oc}, 0.1f);
  const std::string pw = b.node("Conv", {act, pww, pwb}, {{"strides", std::vector<int64_t>{c.pw_stride, c.pw_stride}}});
  b.output(dw);
  b.output(pw);
  const ConvSpec dws{as, ch, ch, c.dw_k, c.dw_stride, 1, p}, pws{as, c.pw_oc, 1, 1, c.pw_stride, 1, 0};
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  for (uint32_t run = 0; run < 3; ++run) {
    s.run({{"x", random_input(c.head.x, seed + 100 + run)}});
    ASSERT_EQ(s.report().deferred_tensors, std::vector<std::string>{act}) << "the clamp was not deferred";
    const Tensor cv = s.activations().fetch(conv).clone();
    const Tensor av = s.activations().fetch(act).clone();
    expect_clamp_of(av, cv, c.clamp, "run " + std::to_string(run) + ": the stored clamp");
    const auto g1 = conv_geometry(dws), g2 = conv_geometry(pws);
    EXPECT_LE(rel_l2(s.activations().fetch(dw), cpuref::conv_ref(av, b.g.initializers.at(dww), &b.g.initializers.at(dwb), ch,
                                                                  g1.first, g1.second)),
              1e-5)
        << "depthwise reader, run " << run;
    EXPECT_LE(rel_l2(s.activations().fetch(pw), cpuref::conv_ref(av, b.g.initializers.at(pww), &b.g.initializers.at(pwb), 1,
                                                                  g2.first, g2.second)),
              1e-5)
        << "1x1 reader, run " << run;
  }
}

// The depthwise paths (nn_depthwise.cpp): planar stride 1 on 20x20 (400 positions), stride-2 rows
// onto 15 outputs, row pairs onto 7, small 7x7 planes, 5x5 stride 2 onto 20-wide rows (blocked).
// The 1x1 paths (nn_conv.cpp's PointwiseConv): the small-plane kernel (up to 400 positions), the own
// GEMM kernel clamping as it packs (1600 positions; 900 with 12 output channels, which it otherwise
// reads in place, and a 4-position last strip), stride 2 (a clamped gather). Bounds other than
// ReLU6's: Clip(-0.5, 0.75), and Relu.
TEST(DeferredClamp, PlanarStrideOne) { run_case({{{1, 6, 20, 20}, 24, 1, 3, 1, 1, 1}, 3, 1, 40, 1, kRelu6}, 1); }
TEST(DeferredClamp, StrideTwoRowsAndStridedPointwise) { run_case({{{1, 5, 30, 30}, 16, 1, 3, 1, 1, 1}, 3, 2, 20, 2, kRelu6}, 2); }
TEST(DeferredClamp, StrideTwoRowPairs) { run_case({{{1, 8, 14, 14}, 20, 1, 1, 1, 1, 0}, 3, 2, 33, 1, kRelu6}, 3); }
TEST(DeferredClamp, SmallPlanes) { run_case({{{1, 16, 7, 7}, 40, 1, 1, 1, 1, 0}, 3, 1, 50, 1, kRelu}, 4); }
TEST(DeferredClamp, BlockedFiveByFiveStrideTwo) { run_case({{{1, 4, 40, 40}, 16, 1, 3, 1, 1, 1}, 5, 2, 24, 1, kRelu6}, 5); }
TEST(DeferredClamp, ReluBatchOfTwo) { run_case({{{2, 6, 12, 12}, 20, 1, 3, 1, 1, 1}, 3, 1, 33, 1, kRelu}, 6); }
TEST(DeferredClamp, OwnKernelFewPanelsOtherBounds) {
  run_case({{{1, 4, 30, 30}, 16, 1, 3, 1, 1, 1}, 3, 1, 12, 1, Bounds{false, -0.5f, 0.75f}}, 7);
}
// A lower bound above zero: the depthwise conv's zero padding must stay zero (the clamp applies to
// the values read, not to the pads), on the planar, stride-2 and blocked paths.
TEST(DeferredClamp, PositiveLowerBoundKeepsZeroPads) {
  const Bounds b{false, 0.25f, 4.f};
  run_case({{{1, 6, 20, 20}, 24, 1, 3, 1, 1, 1}, 3, 1, 40, 1, b}, 8);
  run_case({{{1, 5, 30, 30}, 16, 1, 3, 1, 1, 1}, 3, 2, 20, 2, b}, 9);
  run_case({{{1, 4, 40, 40}, 16, 1, 3, 1, 1, 1}, 5, 2, 24, 1, b}, 10);
  run_case({{{1, 16, 7, 7}, 40, 1, 1, 1, 1, 0}, 3, 1, 50, 1, b}, 11);
}

// A reader that does not clamp (MaxPool; a Relu, which is a chain step), or the clamp being a graph
// output, keeps the clamp in the run; the values stay right.
TEST(DeferredClamp, NotDeferredWhereAReaderCannotClamp) {
  for (int variant = 0; variant < 3; ++variant) {
    GraphBuilder b;
    std::string w, bias;
    const std::string conv = spec_conv(b, {{1, 4, 10, 10}, 8, 1, 3, 1, 1, 1}, 20 + variant, w, bias);
    const std::string act = b.node("Clip", {conv, b.scalar(0.f), b.scalar(6.f)});
    const std::string dw = b.node("Conv", {act, b.weight({8, 1, 3, 3}, 0.4f)},
                                  {{"group", int64_t{8}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
    b.output(dw);
    if (variant == 0) b.output(b.node("MaxPool", {act}, {{"kernel_shape", std::vector<int64_t>{2, 2}}}));
    if (variant == 1) b.output(b.node("Relu", {act}));
    if (variant == 2) b.output(act);
    auto backend = make_cpu_backend();
    Session s(b.g, {backend.get()});
    s.run({{"x", random_input({1, 4, 10, 10}, 30)}});
    EXPECT_TRUE(s.report().deferred_tensors.empty()) << "variant " << variant;
    expect_clamp_of(s.activations().fetch(act), s.activations().fetch(conv), kRelu6, "variant " + std::to_string(variant));
  }
}

// On a node's callback during the run, a deferred clamp already reads as this run's values (its
// input was computed), and so it does after a second run with another input; the callback comes
// for the deferred node too (the progressive view counts nodes and delivers layers by it).
TEST(DeferredClamp, ReadDuringTheRun) {
  GraphBuilder b;
  std::string w, bias;
  const std::string conv = spec_conv(b, {{1, 6, 16, 16}, 12, 1, 3, 1, 1, 1}, 40, w, bias);
  const std::string act = b.node("Relu", {conv});
  const std::string dw = b.node("Conv", {act, b.weight({12, 1, 3, 3}, 0.4f)},
                                {{"group", int64_t{12}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.output(dw);
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  for (uint32_t run = 0; run < 2; ++run) {
    RunControl control;
    int checked = 0;
    size_t calls = 0;
    control.on_node = [&](size_t node, size_t) {
      ++calls;  // every node, the deferred Relu (node 1) included: progress and layers follow it
      if (node < 1) return;  // the conv has run from node 0 on
      expect_clamp_of(s.activations().fetch(act), s.activations().fetch(conv), kRelu, "during run " + std::to_string(run));
      ++checked;
    };
    s.run({{"x", random_input({1, 6, 16, 16}, 50 + run)}}, control);
    EXPECT_EQ(s.report().deferred_tensors.size(), 1u);
    EXPECT_EQ(calls, s.graph().nodes.size());
    EXPECT_GE(checked, 2);
  }
}

// Hard-swish as PaddlePaddle exports it after a conv: Add(3), Clip(0, 6), Mul(x, clip), Div(6); a
// depthwise conv reads the Div. Add, Clip and Mul are chain values only the chain reads.
TEST(DeferredChainValue, HardSwishAfterConv) {
  GraphBuilder b;
  std::string w, bias;
  const ConvSpec head{{1, 6, 18, 18}, 16, 1, 3, 1, 1, 1};
  const std::string conv = spec_conv(b, head, 70, w, bias);
  const std::string add = b.node("Add", {conv, b.scalar(3.f)});
  const std::string clip = b.node("Clip", {add, b.scalar(0.f), b.scalar(6.f)});
  const std::string mul = b.node("Mul", {conv, clip});
  const std::string div = b.node("Div", {mul, b.scalar(6.f)});
  const std::string dww = b.weight({16, 1, 3, 3}, 0.4f);
  const std::string dw = b.node("Conv", {div, dww}, {{"group", int64_t{16}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  b.output(dw);
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  auto check = [&](const std::string& when) {
    const Tensor c = s.activations().fetch(conv).clone();
    const float* x = c.data_as<float>();
    const float* a = s.activations().fetch(add).data_as<float>();
    const float* k = s.activations().fetch(clip).data_as<float>();
    const float* m = s.activations().fetch(mul).data_as<float>();
    const float* d = s.activations().fetch(div).data_as<float>();
    for (int64_t i = 0; i < c.numel(); ++i) {
      ASSERT_TRUE(same_bits(a[i], x[i] + 3.f)) << when << ": Add at " << i;
      ASSERT_TRUE(same_bits(k[i], std::min(std::max(a[i], 0.f), 6.f))) << when << ": Clip at " << i;
      ASSERT_TRUE(same_bits(m[i], x[i] * k[i])) << when << ": Mul at " << i;
      ASSERT_TRUE(same_bits(d[i], m[i] / 6.f)) << when << ": Div at " << i;
    }
  };
  for (uint32_t run = 0; run < 3; ++run) {
    RunControl control;
    control.on_node = [&](size_t node, size_t) {
      if (node == 4) check("during run " + std::to_string(run));  // after the Div, before the depthwise conv
    };
    s.run({{"x", random_input(head.x, 71 + run)}}, control);
    EXPECT_EQ(s.report().deferred_tensors, (std::vector<std::string>{add, clip, mul}));
    check("run " + std::to_string(run));
    const ConvSpec dws{{1, 16, 18, 18}, 16, 16, 3, 1, 1, 1};
    const auto g = conv_geometry(dws);
    EXPECT_LE(rel_l2(s.activations().fetch(dw), cpuref::conv_ref(s.activations().fetch(div), b.g.initializers.at(dww), nullptr,
                                                                  16, g.first, g.second)),
              1e-5);
  }
}

// A transformer's GELU, x * (1 + erf(x / sqrt2)) * 0.5, on a graph input: a chain headed by its Div
// (the executor's own step); Div, Erf, Add and the first Mul are deferred, the last Mul (the output)
// is stored. 37 x 1001 floats: tails of the 16K chunks and of the blocks.
TEST(DeferredChainValue, GeluHeadedByItsDiv) {
  GraphBuilder b;
  const Shape shape{1, 37, 1001};
  const GraphBuilder::Gelu names = b.gelu_graph(shape);
  const std::string &div = names.div, &erf = names.erf, &add = names.add, &mul = names.mul, &gelu = names.out;
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  for (uint32_t run = 0; run < 3; ++run) {
    const std::vector<float> xv = random_values(static_cast<size_t>(numel(shape)), 80 + run, 7.f);
    s.run({{"x", Tensor::from_f32(shape, xv)}});
    EXPECT_EQ(s.report().deferred_tensors, (std::vector<std::string>{div, erf, add, mul}));
    const ActivationStore& st = s.activations();
    expect_gelu_definitions(xv, st.fetch(div).data_as<float>(), st.fetch(erf).data_as<float>(), st.fetch(add).data_as<float>(),
                            st.fetch(mul).data_as<float>(), st.fetch(gelu).data_as<float>(), "run " + std::to_string(run));
  }
}

// ResNet's block end: conv -> Add(skip) -> Relu, the skip a MaxPool's output computed before the conv,
// the ReLU read by a MaxPool (which does not clamp): the sum is deferred, the ReLU stored.
TEST(DeferredChainValue, ResidualSumBeforeRelu) {
  GraphBuilder b;
  std::string w, bias;
  const ConvSpec head{{1, 8, 12, 12}, 8, 1, 1, 1, 1, 0};
  b.seed = 90;
  b.input("x", head.x);
  const std::string skip = b.node("MaxPool", {"x"}, {{"kernel_shape", std::vector<int64_t>{1, 1}}});
  w = b.weight({8, 8, 1, 1}, 0.5f);
  bias = b.weight({8}, 0.2f);
  const std::string conv = b.node("Conv", {"x", w, bias});
  const std::string sum = b.node("Add", {conv, skip});
  const std::string relu = b.node("Relu", {sum});
  b.output(b.node("MaxPool", {relu}, {{"kernel_shape", std::vector<int64_t>{2, 2}}}));
  auto backend = make_cpu_backend();
  Session s(b.g, {backend.get()});
  for (uint32_t run = 0; run < 3; ++run) {
    const Tensor x = random_input(head.x, 91 + run);
    s.run({{"x", x}});
    EXPECT_EQ(s.report().deferred_tensors, std::vector<std::string>{sum});
    const float* c = s.activations().fetch(conv).data_as<float>();
    const float* a = s.activations().fetch(sum).data_as<float>();
    const float* r = s.activations().fetch(relu).data_as<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      ASSERT_TRUE(same_bits(a[i], c[i] + x.data_as<float>()[i])) << "run " << run << ", sum at " << i;
      ASSERT_TRUE(same_bits(r[i], a[i] < 0.f ? 0.f : a[i])) << "run " << run << ", ReLU at " << i;
    }
  }
}

// MobileNetV2: every Clip whose readers are all Convs is deferred (all but the last, which the
// GlobalAveragePool reads), and each reads as the clamp of its stored input, on two inputs.
TEST(DeferredClamp, MobileNetV2) {
  const std::filesystem::path model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  if (!std::filesystem::exists(model)) FAIL() << model << " is missing: run scripts/fetch-models.sh";
  const Graph g = load_onnx(model.string());
  std::set<std::string> want;
  for (const Node& n : g.nodes) {
    if (n.op_type != "Clip") continue;
    bool convs_only = true, read = false;
    for (const Node& r : g.nodes)
      for (const std::string& in : r.inputs)
        if (in == n.outputs[0]) {
          read = true;
          convs_only = convs_only && r.op_type == "Conv";
        }
    if (read && convs_only) want.insert(n.outputs[0]);
  }
  ASSERT_GT(want.size(), 30u);
  auto backend = make_cpu_backend();
  Session s(g, {backend.get()});
  for (uint32_t run = 0; run < 2; ++run) {
    s.run({{"input", random_input({1, 3, 224, 224}, 60 + run)}});
    const std::vector<std::string>& got = s.report().deferred_tensors;
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
    for (const Node& n : g.nodes) {
      if (!want.count(n.outputs.empty() ? "" : n.outputs[0])) continue;
      const Tensor x = s.activations().fetch(n.inputs[0]).clone();
      const Tensor y = s.activations().fetch(n.outputs[0]);
      for (int64_t i = 0; i < x.numel(); ++i)
        ASSERT_TRUE(same_bits(y.data_as<float>()[i], std::min(std::max(x.data_as<float>()[i], 0.f), 6.f))) << n.outputs[0];
    }
  }
}

}  // namespace
