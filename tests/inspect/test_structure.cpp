// Model structure on a hand-made graph with known answers (parameters, FLOPs from the convolution
// formula, attributes as JSON, shared weights counted once, folded nodes, search) and on PP-OCRv4
// det, whose Conv FLOPs and parameters are recomputed here from the shapes.
#include <gtest/gtest.h>

#include "inspect_test_util.hpp"
#include "netlens/inspect/structure.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;

namespace {

// x [1,2,8,8] → Conv(w [4,2,3,3], b [4], pad 1, stride 2) → c [1,4,4,4] → LeakyRelu → r
// → Mul(r, shared) and Add(·, shared) with one [1] weight read twice; a Constant (folded) feeds Reshape.
Graph hand_graph() {
  GraphBuilder b({1, 2, 8, 8});
  Graph& g = b.g;
  std::vector<float> w(4 * 2 * 3 * 3, 0.01f), bias(4, 0.5f);
  g.initializers["w"] = Tensor::from_f32({4, 2, 3, 3}, w);
  g.initializers["b"] = Tensor::from_f32({4}, bias);
  g.initializers["shared"] = Tensor::from_f32({1}, {2.0f});
  g.nodes.push_back(node("Conv", "stem_conv", {"x", "w", "b"}, {"c"}));
  g.nodes.back().attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  g.nodes.back().attrs["strides"] = std::vector<int64_t>{2, 2};
  g.nodes.back().attrs["auto_pad"] = std::string("NOTSET");
  g.nodes.push_back(node("LeakyRelu", "act_RELU_leaky", {"c"}, {"r"}));
  g.nodes.back().attrs["alpha"] = 0.125f;
  g.nodes.push_back(node("Mul", "scale", {"r", "shared"}, {"m"}));
  g.nodes.push_back(node("Add", "shift", {"m", "shared"}, {"a"}));
  Node k = node("Constant", "shape_const", {}, {"shape"});
  k.attrs["value"] = Tensor::from_i64({2}, {1, 64});
  g.nodes.push_back(k);
  g.nodes.push_back(node("Reshape", "flatten", {"a", "shape"}, {"y"}));
  return b.done("y", {1, 64});
}

TEST(Structure, HandGraphKnownAnswers) {
  Tensor x(DType::Float32, {1, 2, 8, 8});
  Ran r = run_graph(hand_graph(), {{"x", x}});
  const Structure st = model_structure(*r.view);
  ASSERT_EQ(st.nodes.size(), 6u);
  const NodeInfo& conv = st.nodes[0];
  EXPECT_EQ(conv.index, 0u);
  EXPECT_EQ(conv.name, "stem_conv");
  EXPECT_EQ(conv.op, "Conv");
  EXPECT_EQ(conv.parameters, 4 * 2 * 3 * 3 + 4);
  // 2 · (outputs 1·4·4·4) · (Cin 2 · 3 · 3) multiply-adds.
  EXPECT_DOUBLE_EQ(conv.flops, 2.0 * 64 * 18);
  EXPECT_EQ(conv.backend, "cpu");
  ASSERT_EQ(conv.inputs.size(), 3u);
  EXPECT_EQ(conv.inputs[0].shape, (Shape{1, 2, 8, 8}));
  EXPECT_FALSE(conv.inputs[0].constant);
  EXPECT_TRUE(conv.inputs[1].constant);
  EXPECT_EQ(conv.outputs[0].shape, (Shape{1, 4, 4, 4}));
  EXPECT_EQ(conv.outputs[0].dtype, DType::Float32);
  EXPECT_EQ(conv.attributes["pads"], nlohmann::json({1, 1, 1, 1}));
  EXPECT_EQ(conv.attributes["auto_pad"], "NOTSET");
  EXPECT_DOUBLE_EQ(st.nodes[1].attributes["alpha"].get<double>(), 0.125);
  EXPECT_EQ(st.nodes[1].parameters, 0);
  EXPECT_EQ(st.nodes[2].parameters, 1);
  EXPECT_EQ(st.nodes[3].parameters, 1);
  // The Constant is folded; its tensor attribute is described, not dumped; int64 data is no parameter.
  EXPECT_EQ(st.nodes[4].backend, "folded");
  EXPECT_EQ(st.nodes[4].attributes["value"], nlohmann::json({{"dtype", "int64"}, {"shape", {2}}}));
  EXPECT_EQ(st.nodes[5].parameters, 0);
  EXPECT_EQ(st.folded_nodes, 1);
  // Shared weight counted once: 72 + 4 + 1.
  EXPECT_EQ(st.total_parameters, 77);
  EXPECT_DOUBLE_EQ(st.total_flops, 2.0 * 64 * 18);
  EXPECT_EQ(st.op_counts.at("Conv"), 1);
  ASSERT_EQ(st.inputs.size(), 1u);
  EXPECT_EQ(st.outputs[0].shape, (Shape{1, 64}));

  // Search: case-insensitive substring of name or op.
  EXPECT_EQ(search_nodes(st, "relu"), (std::vector<size_t>{1}));  // op LeakyRelu and name act_RELU_leaky
  EXPECT_EQ(search_nodes(st, "CONV"), (std::vector<size_t>{0}));
  EXPECT_EQ(search_nodes(st, "s"), (std::vector<size_t>{0, 2, 3, 4, 5}));  // stem, scale, shift, shape, Reshape
  EXPECT_TRUE(search_nodes(st, "gemm").empty());
  EXPECT_TRUE(search_nodes(st, "").empty());

  const nlohmann::json j = to_json(st);
  EXPECT_EQ(j["node_count"], 6);
  EXPECT_EQ(j["nodes"][0]["inputs"][1]["name"], "w");
  EXPECT_EQ(j["nodes"][0]["outputs"][0]["shape"], nlohmann::json({1, 4, 4, 4}));
  EXPECT_FALSE(to_json(st, false).contains("nodes"));
}

// PP-OCRv4 det at 96x128: Conv/ConvTranspose FLOPs and parameters from the shapes, recomputed
// here; the totals are at least the graph's float initializers (weights) and node count matches.
TEST(Structure, PpocrDetAgainstShapes) {
  if (!have_model("ppocrv4_det.onnx")) return;
  Graph g = load_onnx(model_path("ppocrv4_det.onnx"));
  const int64_t weights = g.parameter_count();
  const size_t nodes = g.nodes.size();
  auto cpu = make_cpu_backend();
  Session s(std::move(g), {cpu.get()});
  s.prepare({{"x", {1, 3, 96, 128}}});
  ModelView view(s);
  const Structure st = model_structure(view);
  ASSERT_EQ(st.nodes.size(), nodes);
  double conv_flops = 0;
  int convs = 0;
  for (const NodeInfo& n : st.nodes) {
    if (n.op != "Conv" && n.op != "ConvTranspose") continue;
    ++convs;
    const Shape& w = n.inputs[1].shape;  // Conv [Cout, Cin/g, kh, kw]; ConvTranspose [Cin, Cout/g, kh, kw]
    const double taps = static_cast<double>(w[1] * w[2] * w[3]);
    const double f = n.op == "Conv" ? 2 * static_cast<double>(numel(n.outputs[0].shape)) * taps
                                    : 2 * static_cast<double>(numel(n.inputs[0].shape)) * taps;
    EXPECT_DOUBLE_EQ(n.flops, f) << n.name;
    conv_flops += f;
    int64_t p = numel(w);
    if (n.inputs.size() > 2 && !n.inputs[2].name.empty()) p += numel(n.inputs[2].shape);
    EXPECT_EQ(n.parameters, p) << n.name;
  }
  EXPECT_EQ(convs, 64);
  EXPECT_DOUBLE_EQ(st.total_flops, conv_flops);  // det has no Gemm/MatMul
  EXPECT_GE(st.total_parameters, weights);
  EXPECT_EQ(st.folded_nodes, s.report().folded_nodes);
  EXPECT_EQ(search_nodes(st, "hardsigmoid").size(), 10u);
}

}  // namespace
