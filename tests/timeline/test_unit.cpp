// Timeline units: natural order, discovery errors, layers of a graph, activation statistics against
// hand-counted values, and every diagnosis rule on both sides of its threshold (synthetic reports).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "netlens/timeline.hpp"
#include "test_util.hpp"

namespace netlens::test {
namespace {

namespace tl = netlens::timeline;

TEST(Timeline, NaturalOrder) {
  EXPECT_TRUE(tl::natural_less("epoch_2", "epoch_10"));
  EXPECT_FALSE(tl::natural_less("epoch_10", "epoch_2"));
  EXPECT_TRUE(tl::natural_less("a1", "b0"));
  EXPECT_TRUE(tl::natural_less("e007", "e8"));
  EXPECT_FALSE(tl::natural_less("e5", "e5"));
  EXPECT_TRUE(tl::natural_less("e5", "e5b"));
}

TEST(Timeline, DiscoveryErrors) {
  ErrorKind k{};
  EXPECT_NE(error_of([] { tl::discover_checkpoints({}); }, &k).find("no checkpoints"), std::string::npos);
  EXPECT_EQ(k, ErrorKind::Usage);
  TempDir t;
  std::filesystem::create_directories(t / "w1");
  std::ofstream(t / "w1" / "conv.weight.npy") << "x";
  std::ofstream(t / "a.onnx") << "x";
  EXPECT_NE(error_of([&] { tl::discover_checkpoints({(t / "a.onnx").string(), (t / "w1").string()}); }, &k).find("mix"),
            std::string::npos);
  EXPECT_NE(error_of([&] { tl::discover_checkpoints({(t / "w1").string()}); }, &k).find("need their graph"), std::string::npos);
  EXPECT_EQ(k, ErrorKind::Usage);
  EXPECT_NE(error_of([&] { tl::discover_checkpoints({(t / "missing.onnx").string()}); }, &k).find("does not exist"),
            std::string::npos);
  EXPECT_EQ(k, ErrorKind::Io);
  std::ofstream(t / "graph.onnx") << "x";
  const tl::CheckpointList l = tl::discover_checkpoints({(t / "w1").string()});
  EXPECT_EQ(l.graph, (t / "graph.onnx").string());
  ASSERT_EQ(l.checkpoints.size(), 1u);
  EXPECT_EQ(l.checkpoints[0].name, "w1");
}

Tensor f32(Shape s, std::vector<float> v) { return Tensor::from_f32(std::move(s), v); }

TEST(Timeline, ActivationStatsByHand) {
  // Relu, batch 2 × 3 channels × 2: channel 1 never > 0 (dead), channel 0 > 0 in one item only.
  const Tensor r = f32({2, 3, 2}, {0, 0, 0, 0, 1, 2, /*item 1*/ 3, 0, 0, 0, 0, 4});
  const tl::ActivationStats a = tl::activation_stats(r, "Relu");
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.dead_channels, 1);
  EXPECT_DOUBLE_EQ(a.dead_share, 1.0 / 3);
  EXPECT_NEAR(a.mean, 10.0 / 12, 1e-12);
  const double var = (1 + 4 + 9 + 16) / 12.0 - (10.0 / 12) * (10.0 / 12);
  EXPECT_NEAR(a.std, std::sqrt(var), 1e-12);
  EXPECT_EQ(tl::activation_stats(r, "Conv").dead_channels, 0);  // dead channels only for Relu
  // Sigmoid: ≤ 0.01 or ≥ 0.99 saturated (inclusive); NaN counted apart.
  const tl::ActivationStats s = tl::activation_stats(f32({1, 5}, {0.005f, 0.5f, 0.995f, 0.99f, NAN}), "Sigmoid");
  EXPECT_EQ(s.non_finite, 1);
  EXPECT_DOUBLE_EQ(s.saturated_share, 3.0 / 4);
  EXPECT_DOUBLE_EQ(tl::activation_stats(f32({1, 4}, {-0.995f, 0.2f, 0.999f, 0.5f}), "Tanh").saturated_share, 0.5);
}

TEST(Timeline, LayersFollowTheirActivation) {
  Graph g;
  g.opsets[""] = 13;
  g.inputs.push_back(ValueInfo{"x", DType::Float32, {{1, ""}, {1, ""}, {4, ""}, {4, ""}}, true});
  g.initializers["W"] = Tensor(DType::Float32, {2, 1, 3, 3});
  g.initializers["B"] = Tensor(DType::Float32, {2});
  for (const char* n : {"s", "b", "m", "v"}) g.initializers[n] = Tensor(DType::Float32, {2});
  g.initializers["k"] = Tensor::scalar_f32(2);  // one element: not a parameter
  auto node = [&](std::string name, std::string op, std::vector<std::string> in, std::string out) {
    Node n;
    n.name = std::move(name);
    n.op_type = std::move(op);
    n.inputs = std::move(in);
    n.outputs = {std::move(out)};
    g.nodes.push_back(std::move(n));
  };
  node("conv", "Conv", {"x", "W", "B"}, "c");
  node("bn", "BatchNormalization", {"c", "s", "b", "m", "v"}, "n");
  node("relu", "Relu", {"n"}, "r");
  node("conv2", "Conv", {"r", "W"}, "c2");  // W shared: belongs to 'conv'
  node("mul", "Mul", {"c2", "k"}, "y");
  g.outputs.push_back(ValueInfo{"y", DType::Float32, {}, false});
  const std::vector<tl::Layer> l = tl::find_layers(g);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].node, "conv");
  EXPECT_EQ(l[0].params, (std::vector<std::string>{"W", "B"}));
  EXPECT_EQ(l[0].param_count, 20);
  EXPECT_EQ(l[0].activation, "r");
  EXPECT_EQ(l[0].activation_op, "Relu");
  EXPECT_TRUE(l[0].weight_layer);
  EXPECT_EQ(l[1].node, "bn");
  EXPECT_FALSE(l[1].weight_layer);
  EXPECT_EQ(l[1].activation, "r");
}

// A report with two weight layers (a Relu and a Sigmoid one) over three checkpoints, healthy figures.
tl::Report healthy_report() {
  tl::Report r;
  r.num_classes = 10;
  r.layers = {tl::Layer{"first", "Conv", {"w1"}, 10, "a1", "Relu", true},
              tl::Layer{"last", "Gemm", {"w2"}, 10, "a2", "Sigmoid", true}};
  for (int c = 0; c < 3; ++c) {
    tl::CheckpointPoint p;
    p.name = std::to_string(c);
    p.name.insert(0, 1, 'c');  // not "c" + to_string: GCC 12 -Wrestrict false positive
    p.probe_loss = 1.0;
    p.probe_accuracy = 0.5;
    for (int l = 0; l < 2; ++l) {
      tl::LayerPoint lp;
      lp.weight_norm = 1;
      lp.delta_norm = c ? 0.01 : tl::kNone;
      lp.update_ratio = c ? 0.01 : tl::kNone;
      lp.grad_norm = lp.grad_rms = 0.01;
      lp.act.channels = 10;
      lp.act.dead_share = 0.1;
      lp.act.saturated_share = 0.1;
      p.layers.push_back(lp);
    }
    p.eval = {tl::EvalPoint{"train", 100, 1.0 - 0.3 * c, 0.8}, tl::EvalPoint{"validation", 100, 1.0 - 0.2 * c, 0.7}};
    r.points.push_back(p);
  }
  for (const tl::CheckpointPoint& p : r.points) r.list.checkpoints.push_back(tl::Checkpoint{p.name, p.name + ".onnx"});
  return r;
}

std::vector<std::string> kinds_of(const tl::Report& r) {
  std::vector<std::string> k;
  for (const tl::Finding& f : tl::diagnose(r)) k.push_back(f.kind);
  return k;
}
using Kinds = std::vector<std::string>;

TEST(Timeline, EachRuleOnBothSidesOfItsThreshold) {
  EXPECT_EQ(kinds_of(healthy_report()), Kinds{});

  tl::Report r = healthy_report();  // first/last gradient RMS 1e-4 at 2 of 3 checkpoints: vanishing
  r.points[1].layers[0].grad_rms = r.points[2].layers[0].grad_rms = 0.9e-5;
  EXPECT_EQ(kinds_of(r), Kinds{"vanishing_gradients"});
  r.points[1].layers[0].grad_rms = 0.01;  // 1 of 3: not
  EXPECT_EQ(kinds_of(r), Kinds{});
  r.points[1].layers[0].grad_rms = r.points[2].layers[0].grad_rms = 11.0;  // ratio 1100
  EXPECT_EQ(kinds_of(r), Kinds{"exploding_gradients"});

  r = healthy_report();  // divergence: a NaN weight norm
  r.points[2].layers[1].weight_norm = NAN;
  const std::vector<tl::Finding> f = tl::diagnose(r);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, "exploding_gradients");
  EXPECT_EQ(f[0].checkpoints, std::vector<std::string>{"c2"});

  r = healthy_report();
  r.points[2].layers[0].act.dead_share = 0.7;  // grew 0.6 from 0.1
  EXPECT_EQ(kinds_of(r), Kinds{"dying_relu"});
  r.points[0].layers[0].act.dead_share = 0.45;  // grew only 0.25
  EXPECT_EQ(kinds_of(r), Kinds{});
  r.points[2].layers[1].act.dead_share = 0.9;  // a Sigmoid layer has no dead units
  EXPECT_EQ(kinds_of(r), Kinds{});

  r = healthy_report();
  r.points[2].layers[1].act.saturated_share = 0.5;
  EXPECT_EQ(kinds_of(r), Kinds{"saturation"});
  r.points[2].layers[1].act.saturated_share = 0.49;
  EXPECT_EQ(kinds_of(r), Kinds{});

  r = healthy_report();
  r.points[1].layers[1].update_ratio = 0.9e-4;
  r.points[2].layers[1].update_ratio = 0.9e-4;
  EXPECT_EQ(kinds_of(r), Kinds{"stalled"});
  r.points[1].layers[1].update_ratio = 1.1e-4;
  r.points[2].layers[1].update_ratio = 1.1e-4;
  EXPECT_EQ(kinds_of(r), Kinds{});

  r = healthy_report();  // validation 1.0, 0.5, 0.8 while training 1.0, 0.5, 0.2
  r.points[1].eval[1].loss = 0.5;
  r.points[2].eval[1].loss = 0.8;
  r.points[1].eval[0].loss = 0.5;
  r.points[2].eval[0].loss = 0.2;
  EXPECT_EQ(kinds_of(r), Kinds{"overfitting"});
  r.points[2].eval[1].loss = 0.56;  // below 1.1 x 0.5 + 0.02
  EXPECT_EQ(kinds_of(r), Kinds{});
  r.points[2].eval[1].loss = 0.8;
  r.points[2].eval[0].loss = 0.6;  // training loss rose too: not overfitting
  EXPECT_EQ(kinds_of(r), Kinds{});

  r = healthy_report();
  r.points[2].eval[0].loss = 0.5 * std::log(10.0) + 0.01;
  EXPECT_EQ(kinds_of(r), Kinds{"underfitting"});
  r.points[2].eval[0].loss = 0.5 * std::log(10.0) - 0.01;
  EXPECT_EQ(kinds_of(r), Kinds{});
}

TEST(Timeline, JsonReport) {
  tl::Report r = healthy_report();
  r.points[2].eval[0].loss = 2.2;
  r.findings = tl::diagnose(r);
  const nlohmann::json j = nlohmann::json::parse(tl::to_json(r));
  EXPECT_TRUE(j["checkpoints"][0]["layers"][0]["delta_norm"].is_null());  // NaN → null
  EXPECT_DOUBLE_EQ(j["checkpoints"][1]["layers"][0]["update_ratio"].get<double>(), 0.01);
  ASSERT_EQ(j["findings"].size(), 1u);
  EXPECT_EQ(j["findings"][0]["kind"], "underfitting");
  EXPECT_DOUBLE_EQ(j["findings"][0]["figures"]["final_loss"].get<double>(), 2.2);
  EXPECT_EQ(j["rules"].size(), tl::rules().size());
  EXPECT_EQ(j["layers"][1]["activation_op"], "Sigmoid");
}

}  // namespace
}  // namespace netlens::test
