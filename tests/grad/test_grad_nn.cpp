// Backward of the CPU "nn" ops (src/cpu/grad_nn.cpp and friends) against central finite differences
// (grad_check.hpp: relative L2 error <= 2e-3 per element for inputs of <= 64 elements, else
// |g·v - fd| <= 2e-3 (|fd| + |g·v|) + 1e-4 along three random directions), one node at a time
// through Session::backward. Max pooling inputs are distinct values spaced wider than the
// finite-difference step, so no argmax flips under perturbation.
// The PyTorch autograd comparisons (larger realistic shapes) are in test_grad_nn_torch.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "netlens/cpu/cpu_ops.hpp"
#include "grad_check.hpp"

using namespace netlens;
using netlens::gradtest::check_gradients;
using netlens::gradtest::GradCase;
using netlens::gradtest::random_tensor;

namespace {

using Ints = std::vector<int64_t>;

// A permutation of evenly spaced values in [-1, 1]: no two closer than 2 / (n - 1).
Tensor distinct_tensor(Shape s, uint32_t seed) {
  Tensor t(DType::Float32, std::move(s));
  const int64_t n = t.numel();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), std::mt19937(seed));
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < n; ++i)
    p[i] = n > 1 ? -1.0f + 2.0f * static_cast<float>(idx[static_cast<size_t>(i)]) / static_cast<float>(n - 1) : 0.5f;
  return t;
}

GradCase conv(Shape x, Shape w, std::map<std::string, AttrValue> attrs, bool bias = true, uint32_t seed = 1) {
  GradCase c;
  c.op = "Conv";
  c.attrs = std::move(attrs);
  c.inputs = {random_tensor(x, seed), random_tensor(w, seed + 1)};
  if (bias) c.inputs.push_back(random_tensor({w[0]}, seed + 2));
  return c;
}

// ---------------------------------------------------------------------------------------------
TEST(GradNn, ConvBasic2d) { check_gradients(conv({1, 3, 7, 9}, {4, 3, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}})); }

TEST(GradNn, ConvStride2DilationAsymmetricPads) {
  check_gradients(conv({2, 6, 9, 11}, {4, 6, 3, 2},
                       {{"strides", Ints{2, 2}}, {"dilations", Ints{2, 1}}, {"pads", Ints{0, 1, 2, 0}}}));
}

TEST(GradNn, ConvGroups) { check_gradients(conv({1, 8, 6, 7}, {6, 4, 3, 3}, {{"group", int64_t{2}}, {"pads", Ints{1, 0, 1, 2}}})); }

TEST(GradNn, ConvDepthwiseStride2) {
  check_gradients(conv({2, 6, 9, 10}, {6, 1, 3, 3}, {{"group", int64_t{6}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
}

// Input channels <= 4 take the plain-layout backward, more the blocked one; dense 3x3 stride 1
// tries oneDNN's Winograd backward-data first; dense 1x1 stride 1 is plain sgemm.
TEST(GradNn, ConvBlocked3x3Stride1) { check_gradients(conv({1, 8, 6, 7}, {5, 8, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}})); }
TEST(GradNn, ConvBlocked3x3Stride1ConstantWeights) {
  GradCase c = conv({2, 16, 8, 9}, {16, 16, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}});
  c.constant = {false, true, true};
  c.weights = true;
  check_gradients(c);
}
TEST(GradNn, ConvPointwiseBatch2) { check_gradients(conv({2, 6, 3, 5}, {7, 6, 1, 1}, {})); }
TEST(GradNn, ConvPointwiseStride2) { check_gradients(conv({1, 6, 7, 9}, {4, 6, 1, 1}, {{"strides", Ints{2, 2}}})); }

TEST(GradNn, ConvDepthwiseWideRows) {
  // Output rows >= 64 wide: the forward takes its direct depthwise kernel, the backward oneDNN.
  check_gradients(conv({1, 2, 5, 66}, {2, 1, 3, 3}, {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}}));
}

TEST(GradNn, Conv1d) { check_gradients(conv({2, 3, 11}, {4, 3, 3}, {{"strides", Ints{2}}, {"pads", Ints{1, 0}}})); }

TEST(GradNn, Conv3d) { check_gradients(conv({1, 2, 4, 5, 6}, {3, 2, 2, 3, 2}, {{"pads", Ints{0, 1, 1, 1, 0, 0}}})); }

TEST(GradNn, ConvAutoPadSameUpper) {
  check_gradients(conv({1, 3, 7, 8}, {2, 3, 3, 3}, {{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2, 2}}}, false));
}

TEST(GradNn, ConvAutoPadSameLowerDilated) {
  check_gradients(conv({1, 6, 8, 7}, {3, 6, 2, 3}, {{"auto_pad", std::string("SAME_LOWER")}, {"dilations", Ints{2, 1}}}));
}

TEST(GradNn, ConvPointwiseLargeSpatial) {
  // 1x1 over > 100 positions: the plain-layout policy.
  check_gradients(conv({1, 8, 12, 13}, {5, 8, 1, 1}, {}));
}

TEST(GradNn, ConvConstantWeights) {
  // Constant W and B (packed once at plan time); their gradients asked for with weights = true.
  GradCase c = conv({1, 3, 7, 9}, {4, 3, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{1, 2}}});
  c.constant = {false, true, true};
  c.weights = true;
  check_gradients(c);
}

TEST(GradNn, ConvConstantWeightsInputGradientOnly) {
  // The default: no weight gradients, so no backward-weights primitive; dX still right.
  GradCase c = conv({1, 4, 8, 7}, {4, 2, 3, 3}, {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}});
  c.constant = {false, true, true};
  check_gradients(c);
}

TEST(GradNn, ConvFloat16) {
  // The backend converts float16 forward values to float32 around the grad kernel, so the
  // gradients of a float16 Conv equal those of the float32 Conv on the same (float16-exact) values.
  // (Finite differences in float16 would measure the rounding of the step, not the kernel.)
  GradCase c32 = conv({1, 2, 5, 6}, {3, 2, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}});
  for (Tensor& t : c32.inputs) t = t.cast(DType::Float16).cast(DType::Float32);
  GradCase c16 = c32;
  for (Tensor& t : c16.inputs) t = t.cast(DType::Float16);
  gradtest::GradChecker g32(c32), g16(c16);
  g32.session().backward(g32.seeds());
  g16.session().backward(g16.seeds());
  for (const char* name : {"in0", "in1", "in2"}) {
    const Tensor a = g32.session().gradients().fetch(name), b = g16.session().gradients().fetch(name);
    ASSERT_EQ(b.dtype(), DType::Float32);
    ASSERT_EQ(a.numel(), b.numel());
    for (int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a.get_f64(i), b.get_f64(i), 1e-5) << name << " " << i;
  }
}

// ---------------------------------------------------------------------------------------------
GradCase conv_t(Shape x, Shape w, std::map<std::string, AttrValue> attrs, bool bias = true) {
  GradCase c;
  c.op = "ConvTranspose";
  c.attrs = std::move(attrs);
  c.inputs = {random_tensor(x, 11), random_tensor(w, 12)};
  const int64_t group = c.attrs.count("group") ? std::get<int64_t>(c.attrs["group"]) : 1;
  if (bias) c.inputs.push_back(random_tensor({w[1] * group}, 13));
  return c;
}

TEST(GradNn, ConvTransposeStride2OutputPadding) {
  check_gradients(conv_t({1, 4, 5, 6}, {4, 3, 3, 3}, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"output_padding", Ints{1, 0}}}));
}

TEST(GradNn, ConvTransposeGroupsDilation) {
  check_gradients(conv_t({2, 4, 4, 5}, {4, 2, 2, 3}, {{"group", int64_t{2}}, {"dilations", Ints{2, 1}}, {"pads", Ints{0, 1, 1, 0}}}));
}

TEST(GradNn, ConvTransposeKernelEqualsStride) {
  // The forward's patch-GEMM path (PP-OCR det upsamplers).
  check_gradients(conv_t({1, 3, 4, 5}, {3, 2, 2, 2}, {{"strides", Ints{2, 2}}}));
}

TEST(GradNn, ConvTranspose1dOutputShape) {
  check_gradients(conv_t({2, 3, 6}, {3, 2, 3}, {{"strides", Ints{2}}, {"output_shape", Ints{14}}}));
}

TEST(GradNn, ConvTransposeConstantWeights) {
  GradCase c = conv_t({1, 2, 4, 4}, {2, 3, 3, 3}, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 0, 1, 0}}});
  c.constant = {false, true, true};
  c.weights = true;
  check_gradients(c);
}

// ---------------------------------------------------------------------------------------------
GradCase gemm(bool ta, bool tb, Shape c_shape, float alpha, float beta) {
  const int64_t m = 5, k = 4, n = 3;
  GradCase c;
  c.op = "Gemm";
  c.attrs = {{"transA", int64_t{ta}}, {"transB", int64_t{tb}}, {"alpha", alpha}, {"beta", beta}};
  c.inputs = {random_tensor(ta ? Shape{k, m} : Shape{m, k}, 21), random_tensor(tb ? Shape{n, k} : Shape{k, n}, 22)};
  if (c_shape.size() != 1 || c_shape[0] >= 0) c.inputs.push_back(random_tensor(c_shape, 23));
  return c;
}

TEST(GradNn, GemmPlain) { check_gradients(gemm(false, false, {5, 3}, 1.0f, 1.0f)); }
TEST(GradNn, GemmTransARowBias) { check_gradients(gemm(true, false, {3}, 0.7f, 1.3f)); }
TEST(GradNn, GemmTransBColumnBias) { check_gradients(gemm(false, true, {5, 1}, 1.0f, 0.5f)); }
TEST(GradNn, GemmTransBothScalarC) { check_gradients(gemm(true, true, {}, -1.5f, 2.0f)); }
TEST(GradNn, GemmRowMatrixC) { check_gradients(gemm(true, false, {1, 3}, 2.0f, -0.25f)); }
TEST(GradNn, GemmNoC) { check_gradients(gemm(false, true, {-1}, 1.0f, 1.0f)); }

TEST(GradNn, GemmConstantWeights) {
  GradCase c = gemm(false, true, {3}, 1.0f, 1.0f);
  c.constant = {false, true, true};
  c.weights = true;
  check_gradients(c);
}

// ---------------------------------------------------------------------------------------------
GradCase matmul(Shape a, Shape b) {
  GradCase c;
  c.op = "MatMul";
  c.opset = 13;
  c.inputs = {random_tensor(a, 31), random_tensor(b, 32)};
  return c;
}

TEST(GradNn, MatMul2d) { check_gradients(matmul({4, 5}, {5, 3})); }
TEST(GradNn, MatMulBatchedTimes2d) { check_gradients(matmul({2, 3, 4, 5}, {5, 3})); }
TEST(GradNn, MatMulBatchBroadcastBothSides) { check_gradients(matmul({2, 1, 3, 4}, {3, 4, 2})); }
TEST(GradNn, MatMul2dTimesBatched) { check_gradients(matmul({3, 4}, {2, 4, 5})); }
TEST(GradNn, MatMulVectorLeft) { check_gradients(matmul({4}, {2, 4, 3})); }
TEST(GradNn, MatMulVectorRight) { check_gradients(matmul({2, 3, 4}, {4})); }
TEST(GradNn, MatMulVectorVector) { check_gradients(matmul({6}, {6})); }
TEST(GradNn, MatMulVectorTimes2d) { check_gradients(matmul({5}, {5, 3})); }

TEST(GradNn, MatMulSameInputTwice) {
  // Mul(x, x)-style aliasing: both slots are one buffer; dX = dY X^T + X^T dY.
  Graph g;
  g.opsets[""] = 13;
  Node n;
  n.name = "mm";
  n.op_type = "MatMul";
  n.inputs = {"x", "x"};
  n.outputs = {"y"};
  g.nodes.push_back(n);
  g.inputs.push_back(ValueInfo{"x", DType::Float32, {Dim{3, ""}, Dim{3, ""}}, true});
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  const Tensor x = random_tensor({3, 3}, 5), seed = random_tensor({3, 3}, 6);
  s.run({{"x", x}});
  s.backward({{"y", seed}});
  const Tensor gx = s.gradients().fetch("x");
  const float* xp = x.data_as<float>();
  const float* d = seed.data_as<float>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double want = 0;  // (dY X^T)[i][j] + (X^T dY)[i][j]
      for (int t = 0; t < 3; ++t) want += d[i * 3 + t] * xp[j * 3 + t] + xp[t * 3 + i] * d[t * 3 + j];
      EXPECT_NEAR(gx.get_f64(i * 3 + j), want, 1e-5) << i << "," << j;
    }
}

// ---------------------------------------------------------------------------------------------
GradCase pool(const std::string& op, Shape x, std::map<std::string, AttrValue> attrs, size_t outputs = 1) {
  GradCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = {distinct_tensor(x, 41)};
  c.num_outputs = outputs;
  return c;
}

TEST(GradNn, MaxPoolStride2Pads) {
  check_gradients(pool("MaxPool", {1, 3, 7, 9}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
}
TEST(GradNn, MaxPoolCeilModeOverlapping) {
  check_gradients(pool("MaxPool", {2, 2, 8, 7}, {{"kernel_shape", Ints{3, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}));
}
TEST(GradNn, MaxPoolDilationAsymmetricPadsWithIndices) {
  // The Indices output (int64) carries no gradient; the seed is on Y only.
  check_gradients(pool("MaxPool", {1, 2, 9, 8},
                       {{"kernel_shape", Ints{2, 3}}, {"dilations", Ints{2, 1}}, {"pads", Ints{1, 0, 0, 2}}}, 2));
}
TEST(GradNn, MaxPool1dAnd3d) {
  check_gradients(pool("MaxPool", {2, 3, 10}, {{"kernel_shape", Ints{3}}, {"strides", Ints{2}}}));
  check_gradients(pool("MaxPool", {1, 2, 4, 5, 6}, {{"kernel_shape", Ints{2, 2, 3}}, {"strides", Ints{2, 1, 2}}, {"ceil_mode", int64_t{1}}}));
}
TEST(GradNn, PoolsAutoPadSameUpper) {
  check_gradients(pool("MaxPool", {1, 2, 7, 8}, {{"kernel_shape", Ints{3, 2}}, {"strides", Ints{2, 3}}, {"auto_pad", std::string("SAME_UPPER")}}));
  check_gradients(pool("AveragePool", {1, 2, 7, 8}, {{"kernel_shape", Ints{3, 2}}, {"strides", Ints{2, 3}}, {"auto_pad", std::string("SAME_LOWER")}}));
}

TEST(GradNn, MaxPoolTiesGoToTheFirstMaximum) {
  // All-equal input: each window's gradient lands on its first element (row-major), nothing else.
  Graph g;
  g.opsets[""] = 17;
  Node n;
  n.name = "mp";
  n.op_type = "MaxPool";
  n.attrs = {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}};
  n.inputs = {"x"};
  n.outputs = {"y"};
  g.nodes.push_back(n);
  g.inputs.push_back(ValueInfo{"x", DType::Float32, {Dim{1, ""}, Dim{1, ""}, Dim{4, ""}, Dim{4, ""}}, true});
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  s.run({{"x", Tensor::from_f32({1, 1, 4, 4}, std::vector<float>(16, 2.0f))}});
  s.backward({{"y", Tensor::from_f32({1, 1, 2, 2}, {1.0f, 2.0f, 3.0f, 4.0f})}});
  const Tensor gx = s.gradients().fetch("x");
  const std::vector<double> want = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(gx.get_f64(i), want[static_cast<size_t>(i)]) << i;
}

TEST(GradNn, AveragePoolExcludePad) {
  check_gradients(pool("AveragePool", {1, 3, 7, 9}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
}
TEST(GradNn, AveragePoolIncludePad) {
  check_gradients(pool("AveragePool", {1, 3, 7, 9},
                       {{"kernel_shape", Ints{3, 2}}, {"strides", Ints{2, 1}}, {"pads", Ints{1, 0, 0, 1}}, {"count_include_pad", int64_t{1}}}));
}
TEST(GradNn, AveragePoolCeilModeIncludePad) {
  check_gradients(pool("AveragePool", {2, 2, 8, 7},
                       {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"ceil_mode", int64_t{1}}, {"count_include_pad", int64_t{1}}}));
}
TEST(GradNn, AveragePool1d3d) {
  check_gradients(pool("AveragePool", {2, 3, 10}, {{"kernel_shape", Ints{4}}, {"strides", Ints{3}}, {"pads", Ints{1, 2}}}));
  check_gradients(pool("AveragePool", {1, 2, 4, 5, 6}, {{"kernel_shape", Ints{2, 2, 3}}, {"strides", Ints{1, 2, 2}}}));
}
TEST(GradNn, GlobalPools) {
  check_gradients(pool("GlobalAveragePool", {2, 3, 5, 7}, {}));
  check_gradients(pool("GlobalMaxPool", {2, 3, 5, 7}, {}));
  check_gradients(pool("GlobalAveragePool", {1, 4, 3, 2, 5}, {}));
  check_gradients(pool("GlobalMaxPool", {2, 4, 9}, {}));
}

// ---------------------------------------------------------------------------------------------
GradCase batchnorm(Shape x, int64_t opset, bool constants) {
  const int64_t c = x.size() > 1 ? x[1] : 1;
  GradCase g;
  g.op = "BatchNormalization";
  g.opset = opset;
  g.attrs = {{"epsilon", 1e-3f}};
  g.inputs = {random_tensor(x, 51), random_tensor({c}, 52, 0.5f, 1.5f), random_tensor({c}, 53),
              random_tensor({c}, 54, -0.3f, 0.3f), random_tensor({c}, 55, 0.4f, 1.2f)};
  if (constants) {
    g.constant = {false, true, true, true, true};
    g.weights = true;
  }
  return g;
}

TEST(GradNn, BatchNormWeightsAsConstants) { check_gradients(batchnorm({2, 3, 4, 5}, 15, true)); }
TEST(GradNn, BatchNormAllGraphInputs) { check_gradients(batchnorm({3, 4, 5}, 15, false)); }
TEST(GradNn, BatchNorm2dInput) { check_gradients(batchnorm({5, 3}, 9, true)); }
TEST(GradNn, BatchNormPerElementOpset7) {
  GradCase g = batchnorm({2, 2, 3}, 7, true);
  g.attrs["spatial"] = int64_t{0};
  for (size_t i = 1; i < 5; ++i) {  // parameters per channel x position
    const float lo = i == 1 ? 0.5f : i == 4 ? 0.4f : -0.3f, hi = i == 1 ? 1.5f : i == 4 ? 1.2f : 0.3f;
    g.inputs[i] = random_tensor({2, 3}, 60 + static_cast<uint32_t>(i), lo, hi);
  }
  check_gradients(g);
}

TEST(GradNn, InstanceNorm) {
  GradCase g;
  g.op = "InstanceNormalization";
  g.attrs = {{"epsilon", 1e-3f}};
  g.inputs = {random_tensor({2, 3, 5, 4}, 71), random_tensor({3}, 72, 0.5f, 1.5f), random_tensor({3}, 73)};
  g.constant = {false, true, true};
  g.weights = true;
  check_gradients(g);
  g.inputs[0] = random_tensor({2, 3, 7}, 74);
  g.constant = {};
  check_gradients(g);
}

GradCase layernorm(Shape x, int64_t axis, Shape scale, Shape bias, size_t outputs) {
  GradCase g;
  g.op = "LayerNormalization";
  g.attrs = {{"axis", axis}, {"epsilon", 1e-3f}};
  g.inputs = {random_tensor(x, 81), random_tensor(scale, 82, 0.5f, 1.5f)};
  if (!bias.empty()) g.inputs.push_back(random_tensor(bias, 83));
  g.constant = {false, true, true};
  g.weights = true;
  g.num_outputs = outputs;
  return g;
}

TEST(GradNn, LayerNormLastAxis) { check_gradients(layernorm({2, 3, 6}, -1, {6}, {6}, 1)); }
TEST(GradNn, LayerNormAxis1WithMeanAndInvStdDev) { check_gradients(layernorm({2, 3, 4}, 1, {3, 4}, {3, 4}, 3)); }
TEST(GradNn, LayerNormBroadcastScaleNoBias) { check_gradients(layernorm({3, 2, 5}, 1, {5}, {}, 1)); }

TEST(GradNn, Lrn) {
  for (int64_t size : {3, 4}) {
    GradCase g;
    g.op = "LRN";
    g.attrs = {{"size", size}, {"alpha", 0.5f}, {"beta", 0.75f}, {"bias", 1.5f}};
    g.inputs = {random_tensor({2, 5, 3, 4}, 91)};
    check_gradients(g);
  }
}

TEST(GradNn, LpNormalization) {
  for (int64_t p : {1, 2}) {
    GradCase g;
    g.op = "LpNormalization";
    g.attrs = {{"p", p}, {"axis", int64_t{1}}};
    g.inputs = {random_tensor({2, 4, 5}, 101)};
    check_gradients(g);
    g.attrs = {{"p", p}};  // axis -1
    g.inputs = {random_tensor({3, 7}, 102)};
    check_gradients(g);
  }
}

// ---------------------------------------------------------------------------------------------
// Kernels add into the input gradients (the GradKernel contract), never assign: the node duplicated
// on the same inputs, seeded with s and 2s, must give 3x the single node's gradients (seeded s), for
// every input including constant weights (weights = true). Finite differences on one node cannot
// see an assignment; this can.
std::map<std::string, Tensor> gradients_of(const GradCase& c, int copies) {
  Graph g;
  g.opsets[""] = c.opset;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.inputs[i].defined()) continue;
    const std::string name = "in" + std::to_string(i);
    if (i < c.constant.size() && c.constant[i]) {
      g.initializers[name] = c.inputs[i];
    } else {
      ValueInfo v{name, c.inputs[i].dtype(), {}, true};
      for (int64_t d : c.inputs[i].shape()) v.dims.push_back(Dim{d, ""});
      g.inputs.push_back(v);
    }
  }
  for (int k = 0; k < copies; ++k) {
    Node n;
    n.name = "node" + std::to_string(k);
    n.op_type = c.op;
    n.attrs = c.attrs;
    for (size_t i = 0; i < c.inputs.size(); ++i) n.inputs.push_back(c.inputs[i].defined() ? "in" + std::to_string(i) : "");
    n.outputs.push_back("y" + std::to_string(k));
    g.nodes.push_back(n);
    g.outputs.push_back(ValueInfo{"y" + std::to_string(k), DType::Float32, {}, true});
  }
  auto cpu = make_cpu_backend();
  Session s(std::move(g), {cpu.get()});
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].defined() && !(i < c.constant.size() && c.constant[i])) feeds["in" + std::to_string(i)] = c.inputs[i];
  s.run(feeds);
  const Tensor seed = random_tensor(s.info("y0").shape, 77);
  std::map<std::string, Tensor> seeds;
  for (int k = 0; k < copies; ++k) {
    Tensor sk = seed.clone();
    for (int64_t e = 0; e < sk.numel(); ++e) sk.data_as<float>()[e] *= static_cast<float>(k + 1);
    seeds["y" + std::to_string(k)] = sk;
  }
  s.backward(seeds, GradientOptions{true});
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].defined() && is_float(c.inputs[i].dtype())) out["in" + std::to_string(i)] = s.gradients().fetch("in" + std::to_string(i)).clone();
  return out;
}

void check_accumulates(GradCase c) {
  c.num_outputs = 1;
  const auto one = gradients_of(c, 1), two = gradients_of(c, 2);
  for (const auto& [name, g1] : one) {
    const Tensor& g2 = two.at(name);
    double num = 0, den = 0;
    for (int64_t i = 0; i < g1.numel(); ++i) {
      const double d = g2.get_f64(i) - 3.0 * g1.get_f64(i);
      num += d * d;
      den += 9.0 * g1.get_f64(i) * g1.get_f64(i);
    }
    EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), 1e-5) << c.op << " " << name << ": gradients of two readers do not add up";
    EXPECT_GT(den, 0.0) << c.op << " " << name << ": zero gradient, the check would prove nothing";
  }
}

TEST(GradNn, KernelsAddIntoInputGradients) {
  GradCase cv = conv({1, 8, 6, 7}, {5, 8, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}});
  cv.constant = {false, true, true};
  check_accumulates(cv);
  GradCase pw = conv({1, 6, 5, 5}, {4, 6, 1, 1}, {});
  pw.constant = {false, true, true};
  check_accumulates(pw);
  GradCase ct = conv_t({1, 4, 5, 6}, {4, 3, 3, 3}, {{"strides", Ints{2, 2}}});
  ct.constant = {false, true, true};
  check_accumulates(ct);
  check_accumulates(gemm(true, false, {3}, 0.7f, 1.3f));
  check_accumulates(matmul({2, 1, 3, 4}, {3, 4, 2}));
  check_accumulates(matmul({2, 3, 4}, {4, 5}));
  check_accumulates(pool("MaxPool", {1, 3, 7, 9}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}}));
  check_accumulates(pool("MaxPool", {1, 2, 4, 5, 6}, {{"kernel_shape", Ints{2, 2, 2}}}));
  check_accumulates(pool("AveragePool", {1, 3, 7, 9}, {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}}));
  check_accumulates(pool("GlobalAveragePool", {2, 3, 5, 7}, {}));
  check_accumulates(pool("GlobalMaxPool", {2, 3, 5, 7}, {}));
  check_accumulates(batchnorm({2, 3, 4, 5}, 15, true));
  GradCase in;
  in.op = "InstanceNormalization";
  in.inputs = {random_tensor({2, 3, 5, 4}, 71), random_tensor({3}, 72, 0.5f, 1.5f), random_tensor({3}, 73)};
  in.constant = {false, true, true};
  check_accumulates(in);
  check_accumulates(layernorm({2, 3, 4}, 1, {3, 4}, {4}, 1));
  GradCase lrn;
  lrn.op = "LRN";
  lrn.attrs = {{"size", int64_t{3}}, {"alpha", 0.5f}};
  lrn.inputs = {random_tensor({2, 5, 3, 4}, 91)};
  check_accumulates(lrn);
  GradCase lp;
  lp.op = "LpNormalization";
  lp.inputs = {random_tensor({3, 7}, 102)};
  check_accumulates(lp);
}

// ---------------------------------------------------------------------------------------------
// Every op of the forward nn table has a backward entry (all of them have float outputs): a new op
// registered without one fails here.
TEST(GradNn, EveryNnOpHasAGradient) {
  cpu::CpuOpTable ops;
  cpu::register_nn_ops(ops);
  cpu::CpuGradTable grads;
  cpu::register_nn_grads(grads);
  ASSERT_GE(ops.size(), 13u);
  for (const auto& [op, unused] : ops) EXPECT_TRUE(grads.count(op)) << op << " has no backward kernel in register_nn_grads";
  for (const auto& [op, unused] : grads) EXPECT_TRUE(ops.count(op)) << op << " has a backward but no forward kernel";
}

}  // namespace
