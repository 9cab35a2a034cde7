// The quantized ops against ONNX's own node tests (libonnx-testdata: every QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger
// folder must run and match exactly; none may be skipped), and malformed quantization parameters:
// one Error{Model} naming the node and the parameter, from prepare(), never a crash; and
// QuantizeLinear's rounding (half to even) and saturation on ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "one_node.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace netlens;

namespace {

TEST(QuantNodeTests, AllRunAndMatchExactly) {
  const fs::path root = fs::path(NETLENS_ONNX_TESTDATA) / "node";
  const std::regex ours("test_(quantizelinear|dequantizelinear|dynamicquantizelinear|qlinearconv|qlinearmatmul|"
                        "convinteger|basic_convinteger|matmulinteger).*");
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  int ran = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, ours)) continue;
    SCOPED_TRACE(name);
    const Graph g = load_onnx((e.path() / "model.onnx").string());
    std::map<std::string, Tensor> feeds;
    for (size_t i = 0; i < g.inputs.size(); ++i)
      feeds[g.inputs[i].name] = load_onnx_tensor((e.path() / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")).string());
    Session s(g, {cpu.get()});
    ASSERT_NO_THROW(s.run(feeds));
    for (size_t k = 0; k < g.outputs.size(); ++k) {
      const Tensor want = load_onnx_tensor((e.path() / "test_data_set_0" / ("output_" + std::to_string(k) + ".pb")).string());
      const Tensor got = s.activations().fetch(g.outputs[k].name);
      ASSERT_EQ(got.dtype(), want.dtype()) << g.outputs[k].name;
      ASSERT_EQ(got.shape(), want.shape()) << g.outputs[k].name;
      // Integers exactly; the float outputs (DequantizeLinear, DynamicQuantizeLinear's scale) too:
      // they are one multiplication / division of the same float32 values.
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.nbytes()), 0) << g.outputs[k].name;
    }
    ++ran;
  }
  EXPECT_EQ(ran, 17) << "libonnx-testdata 1.12 has 17 node tests of these ops";
}

using test::OneNode;

Tensor u8(Shape s, uint8_t v = 0) {
  Tensor t(DType::UInt8, s);
  std::memset(t.data(), v, t.nbytes());
  return t;
}
Tensor i8(Shape s) { return Tensor(DType::Int8, s); }
Tensor f32(Shape s, float v) {
  Tensor t(DType::Float32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = v;
  return t;
}

void expect_model_error(OneNode& n, const std::string& needle) {
  ErrorKind kind{};
  const std::string msg = n.error(&kind);
  EXPECT_EQ(kind, ErrorKind::Model) << msg;
  EXPECT_NE(msg.find(n.node().describe()), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

TEST(QuantBadParameters, ScaleCountDiffersFromAxisDim) {
  OneNode n("DequantizeLinear", 13);
  n.var("x", u8({2, 3, 4})).cst("s", f32({4}, 0.5f)).cst("z", u8({4}));  // axis 1 has 3
  expect_model_error(n, "scale has 4 values but input dim 1");
}

TEST(QuantBadParameters, PerAxisScaleBeforeOpset13) {
  OneNode n("QuantizeLinear", 10);
  n.var("x", f32({2, 3}, 1.0f)).cst("s", f32({3}, 0.5f)).cst("z", u8({3}));
  expect_model_error(n, "opset 10 allows only a scalar");
}

TEST(QuantBadParameters, ZeroPointShapeDiffersFromScale) {
  OneNode n("QuantizeLinear", 13);
  n.var("x", f32({2, 3}, 1.0f)).cst("s", f32({3}, 0.5f)).cst("z", u8({1}));
  expect_model_error(n, "zero point shape");
}

TEST(QuantBadParameters, ZeroPointDtypeDiffersFromInput) {
  OneNode n("DequantizeLinear", 13);
  n.var("x", u8({2, 3})).cst("s", f32({}, 0.5f)).cst("z", i8({}));
  expect_model_error(n, "x_zero_point is int8 but the tensor it describes is uint8");
}

TEST(QuantBadParameters, ZeroAndNegativeScales) {
  for (float bad : {0.0f, -0.25f, NAN}) {
    OneNode n("QuantizeLinear", 13);
    n.var("x", f32({4}, 1.0f)).cst("s", f32({}, bad)).cst("z", u8({}));
    expect_model_error(n, "a scale must be finite and > 0");
  }
}

TEST(QuantBadParameters, QLinearConvWeightScalePerChannelCount) {
  OneNode n("QLinearConv", 13);
  n.var("x", u8({1, 2, 5, 5})).cst("xs", f32({}, 0.1f)).cst("xz", u8({}))
      .cst("w", i8({4, 2, 3, 3})).cst("ws", f32({3}, 0.1f)).cst("wz", i8({3}))  // 4 output channels
      .cst("ys", f32({}, 0.2f)).cst("yz", u8({}));
  expect_model_error(n, "w_scale has shape 3");
}

TEST(QuantBadParameters, QLinearConvBiasNotInt32) {
  OneNode n("QLinearConv", 13);
  n.var("x", u8({1, 2, 5, 5})).cst("xs", f32({}, 0.1f)).cst("xz", u8({}))
      .cst("w", i8({4, 2, 3, 3})).cst("ws", f32({4}, 0.1f)).cst("wz", i8({4}))
      .cst("ys", f32({}, 0.2f)).cst("yz", u8({})).cst("b", f32({4}, 1.0f));
  expect_model_error(n, "bias must be int32");
}

TEST(QuantBadParameters, QLinearMatMulInputScaleNotScalar) {
  OneNode n("QLinearMatMul", 13);
  n.var("a", u8({2, 3})).cst("as", f32({2}, 0.1f)).cst("az", u8({}))
      .cst("b", i8({3, 4})).cst("bs", f32({}, 0.1f)).cst("bz", i8({}))
      .cst("ys", f32({}, 0.2f)).cst("yz", u8({}));
  expect_model_error(n, "a_scale must be a scalar");
}

TEST(QuantBadParameters, MatMulIntegerZeroPointPerColumnCount) {
  OneNode n("MatMulInteger", 13);
  n.var("a", u8({2, 3})).cst("b", u8({3, 4})).none().cst("bz", u8({5}));
  expect_model_error(n, "b_zero_point has shape 5");
}

TEST(QuantBadParameters, ConvIntegerInputNotQuantized) {
  OneNode n("ConvInteger", 13);
  n.var("x", f32({1, 2, 5, 5}, 1.0f)).cst("w", u8({4, 2, 3, 3}));
  expect_model_error(n, "x must be int8 or uint8, got float32");
}

}  // namespace

namespace {

// ONNX specifies round half to even and saturation for QuantizeLinear; ties are where a
// round-half-away implementation differs (x / scale = ±0.5, ±1.5, ±2.5 with scale 0.5 exactly
// representable), and values past the range must clamp. Expected: numpy.rint + clip, as the
// ONNX reference implementation computes it.
TEST(QuantRounding, HalfToEvenAndSaturation) {
  const std::vector<float> x = {0.25f, 0.75f, 1.25f, -0.25f, -0.75f, -1.25f, 100.0f, -100.0f};
  for (DType out : {DType::Int8, DType::UInt8}) {
    OneNode n("QuantizeLinear", 13);
    Tensor zp(out, {});
    if (out == DType::UInt8) zp.data_as<uint8_t>()[0] = 10;
    n.var("x", Tensor::from_f32({8}, x)).cst("s", f32({}, 0.5f)).cst("z", zp);
    n.g.outputs.push_back(ValueInfo{"y", DType::Undefined, {}, false});
    std::unique_ptr<Backend> cpu = make_cpu_backend();
    Session s(n.g, {cpu.get()});
    s.run(n.feeds);
    const Tensor y = s.activations().fetch("y");
    ASSERT_EQ(y.dtype(), out);
    const int64_t z = out == DType::UInt8 ? 10 : 0, lo = out == DType::UInt8 ? 0 : -128, hi = out == DType::UInt8 ? 255 : 127;
    for (int64_t i = 0; i < 8; ++i) {
      const double r = std::nearbyint(static_cast<double>(x[static_cast<size_t>(i)]) / 0.5);  // ties to even
      EXPECT_EQ(y.get_i64(i), std::clamp<int64_t>(static_cast<int64_t>(r) + z, lo, hi)) << "x=" << x[static_cast<size_t>(i)];
    }
    // The ties land on even integers: 0.5 → 0, 1.5 → 2, 2.5 → 2 (and negated).
    EXPECT_EQ(y.get_i64(0) - z, 0);
    EXPECT_EQ(y.get_i64(1) - z, 2);
    EXPECT_EQ(y.get_i64(2) - z, 2);
  }
}

}  // namespace
