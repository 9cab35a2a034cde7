// onnxruntime's com.microsoft QLinear elementwise ops (QLinearAdd, QLinearMul, QLinearSigmoid,
// QLinearLeakyRelu, QLinearGlobalAveragePool, QLinearConcat, QLinearAveragePool) against onnxruntime-node: single-node models written
// by quant_ms_cases.py (int8 and uint8, broadcasting, ties, saturation, channels_last 0/1) whose
// outputs must be bit-identical; malformed parameters (one Error{Model} line naming the node); and
// the custom-domain refusal for ops that are not registered.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <fstream>

#include <nlohmann/json.hpp>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/runtime/shapes_quant.hpp"
#include "one_node.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace netlens;

namespace {

TEST(QuantMsOps, BitIdenticalToOnnxruntime) {
  test::TempDir dir;
  const std::string cmd = "/usr/bin/python3 '" NETLENS_SOURCE_DIR "/tests/quant/quant_ms_cases.py' '" +
                          dir.path().string() + "'";
  const test::ShellResult gen = test::run_shell("NETLENS_CACHE_DIR='" NETLENS_CACHE_DIR "' " + cmd);
  ASSERT_EQ(gen.status, 0) << gen.out << gen.err;
  std::ifstream f(dir / "cases.json");
  const nlohmann::json cases = nlohmann::json::parse(f);
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::set<std::string> ops;
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const fs::path d = dir / name;
    const Graph g = load_onnx((d / "model.onnx").string());
    ops.insert(g.nodes.at(0).domain + ":" + g.nodes.at(0).op_type);
    std::map<std::string, Tensor> feeds;
    for (const auto& in : c.at("inputs")) feeds[in.at(0)] = read_npy((d / in.at(1).get<std::string>()).string());
    Session s(g, {cpu.get()});
    ASSERT_NO_THROW(s.run(feeds));
    const Tensor want = read_npy((d / "ort" / "y.npy").string());
    const Tensor got = s.activations().fetch("y");
    ASSERT_EQ(got.dtype(), want.dtype());
    ASSERT_EQ(got.shape(), want.shape());
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; i < got.numel(); ++i)
      if (static_cast<const uint8_t*>(got.data())[i] != static_cast<const uint8_t*>(want.data())[i]) {
        if (first < 0) first = i;
        ++differ;
      }
    EXPECT_EQ(differ, 0) << "of " << got.numel() << " differ; first at " << first << ": netlens "
                         << (first >= 0 ? got.get_f64(first) : 0) << " onnxruntime " << (first >= 0 ? want.get_f64(first) : 0);
  }
  EXPECT_EQ(cases.size(), 58u);
  EXPECT_EQ(ops.size(), 7u) << "every op has cases";
}

// A one-node com.microsoft graph (opset 13 for the default domain).
struct MsNode : test::OneNode {
  explicit MsNode(const std::string& op, const std::string& domain = "com.microsoft") : OneNode(op, 13, domain) {}
  MsNode& var(const std::string& name, Tensor v) { OneNode::var(name, std::move(v)); return *this; }
  MsNode& cst(const std::string& name, Tensor v) { OneNode::cst(name, std::move(v)); return *this; }
};

Tensor q(DType t, Shape s) { return Tensor(t, s); }
Tensor f32(Shape s, float v) {
  Tensor t(DType::Float32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = v;
  return t;
}

void expect_model_error(MsNode& n, const std::string& needle) {
  ErrorKind kind{};
  const std::string msg = n.error(&kind);
  EXPECT_EQ(kind, ErrorKind::Model) << msg;
  EXPECT_NE(msg.find(n.node().describe()), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

MsNode add_node(DType a, DType zb, Tensor b_scale, Shape sa = {2, 3}, Shape sb = {2, 3}) {
  MsNode n("QLinearAdd");
  n.var("a", q(a, sa)).cst("as", f32({}, 0.1f)).cst("az", q(a, {}));
  n.var("b", q(a, sb)).cst("bs", std::move(b_scale)).cst("bz", q(zb, {}));
  n.cst("cs", f32({}, 0.2f)).cst("cz", q(a, {}));
  return n;
}

TEST(QuantMsBadParameters, ZeroPointDtype) {
  MsNode n = add_node(DType::UInt8, DType::Int8, f32({}, 0.1f));
  expect_model_error(n, "B_zero_point is int8 but the tensor it describes is uint8");
}

TEST(QuantMsBadParameters, ScaleNotPerTensor) {
  MsNode n = add_node(DType::Int8, DType::Int8, f32({3}, 0.1f));
  expect_model_error(n, "B_scale must be a scalar");
}

TEST(QuantMsBadParameters, ZeroOrNegativeScale) {
  for (float bad : {0.0f, -1.0f, NAN}) {
    MsNode n = add_node(DType::UInt8, DType::UInt8, f32({}, bad));
    expect_model_error(n, "a scale must be finite and > 0");
  }
}

TEST(QuantMsBadParameters, ShapesDoNotBroadcast) {
  MsNode n = add_node(DType::UInt8, DType::UInt8, f32({}, 0.1f), {2, 3}, {4});
  ErrorKind kind{};
  const std::string msg = n.error(&kind);
  EXPECT_EQ(kind, ErrorKind::Model) << msg;
  EXPECT_NE(msg.find("bad_QLinearAdd"), std::string::npos) << msg;
}

TEST(QuantMsBadParameters, FloatInputAndChannelsLast) {
  {
    MsNode n("QLinearSigmoid");
    n.var("x", f32({4}, 1.0f)).cst("xs", f32({}, 0.1f)).cst("xz", q(DType::UInt8, {}));
    n.cst("ys", f32({}, 0.1f)).cst("yz", q(DType::UInt8, {}));
    expect_model_error(n, "X must be int8 or uint8, got float32");
  }
  {
    MsNode n("QLinearGlobalAveragePool");
    n.var("x", q(DType::UInt8, {1, 2, 3, 3})).cst("xs", f32({}, 0.1f)).cst("xz", q(DType::UInt8, {}));
    n.cst("ys", f32({}, 0.1f)).cst("yz", q(DType::UInt8, {}));
    n.node().attrs["channels_last"] = int64_t{2};
    expect_model_error(n, "channels_last must be 0 or 1");
  }
}

// The views read a com.microsoft op's output by its y scale and zero point (no DequantizeLinear needed).
TEST(QuantMsViews, OutputQuantizationFromTheWriter) {
  MsNode n("QLinearSigmoid");
  Tensor x(DType::Int8, {4});
  for (int i = 0; i < 4; ++i) x.data_as<int8_t>()[i] = static_cast<int8_t>(i * 40 - 60);
  Tensor yz(DType::Int8, {});
  yz.data_as<int8_t>()[0] = -128;
  n.var("x", std::move(x)).cst("xs", f32({}, 0.05f)).cst("xz", q(DType::Int8, {}));
  n.cst("ys", f32({}, 1.0f / 256)).cst("yz", std::move(yz));
  n.g.outputs.push_back(ValueInfo{"y", DType::Undefined, {}, false});
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(n.g, {cpu.get()});
  s.run(n.feeds);
  const auto p = tensor_quantization(s, "y");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->scale, std::vector<float>{1.0f / 256});
  EXPECT_EQ(p->zero_point, std::vector<int32_t>{-128});
  EXPECT_NE(p->node.find("bad_QLinearSigmoid"), std::string::npos) << p->node;
  // Real values: sigmoid of (i * 40 - 60) * 0.05 within one quantization step (1/256).
  const Tensor real = dequantized(s.activations().fetch("y"), *p);
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(real.data_as<float>()[i], 1.0 / (1.0 + std::exp(-(i * 40 - 60) * 0.05)), 1.0 / 256) << i;
}

// Custom-domain nodes that are not registered keep the one-line refusal naming node, domain and op.
TEST(QuantMsBadParameters, UnregisteredCustomDomainOpsAreRefused) {
  for (const auto& [domain, op] : std::vector<std::pair<std::string, std::string>>{
           {"com.microsoft", "QLinearSoftmax"}, {"com.example", "QLinearAdd"}}) {
    MsNode n(op, domain);
    n.var("x", q(DType::UInt8, {4}));
    ErrorKind kind{};
    const std::string msg = n.error(&kind);
    EXPECT_EQ(kind, ErrorKind::Unsupported) << msg;
    EXPECT_NE(msg.find(domain + "." + op + " (node 'bad_" + op + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("custom domain"), std::string::npos) << msg;
  }
}

}  // namespace
