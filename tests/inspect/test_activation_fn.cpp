// Activation-function recognition on hand-made graphs of every pattern (single ops and the
// decomposed forms, in several operand orders), checked three ways: the recognised kind and
// parameters; the recognised function applied to the actual input reproduces what the engine
// computed for the graph (|Δ| ≤ 1e-5 + 1e-5·|y|, float32 kernels); the curve matches a direct
// formula written here (|Δ| ≤ 1e-7 + 1e-6·|y|: the parameters are float32 in the model). Flat/saturated shares are checked against counts made in the test with the documented
// thresholds. Also PP-OCRv4 det/rec: every HardSwish / swish block is found.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "netlens/inspect/activation_fn.hpp"
#include "inspect_test_util.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;

namespace {

const Shape kShape{1, 2, 64};

// x: 128 values evenly spaced in [-8, 8] (channel 0 the negative half, channel 1 the positive).
Tensor x_input() {
  std::vector<float> v(128);
  for (size_t i = 0; i < v.size(); ++i) v[i] = -8.0f + 16.0f * static_cast<float>(i) / 127.0f;
  return Tensor::from_f32(kShape, v);
}

double sig(double x) { return 1 / (1 + std::exp(-x)); }
double hsig(double x, double a, double b) { return std::min(1.0, std::max(0.0, a * x + b)); }

struct Case {
  std::string name;
  int64_t opset;
  std::function<std::string(GraphBuilder&)> build;  // returns the output tensor
  ActKind kind;
  size_t nodes;                                      // nodes the pattern spans
  std::function<double(double, int64_t)> f;          // direct formula (channel for PRelu)
  std::function<void(const Activation&)> params;     // extra parameter checks
};

// gtest prints a parameter with this (names, not raw bytes).
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

void no_params(const Activation&) {}

std::vector<Case> cases() {
  const float s2 = std::sqrt(2.0f);
  std::vector<Case> c;
  c.push_back({"Relu", 17, [](GraphBuilder& b) { return b.add("Relu", {"x"}, "y"); }, ActKind::Relu, 1,
               [](double x, int64_t) { return x > 0 ? x : 0; }, no_params});
  c.push_back({"LeakyRelu", 17,
               [](GraphBuilder& b) {
                 b.add("LeakyRelu", {"x"}, "y");
                 b.last().attrs["alpha"] = 0.1f;
                 return std::string("y");
               },
               ActKind::LeakyRelu, 1, [](double x, int64_t) { return x < 0 ? 0.1 * x : x; },
               [](const Activation& a) { EXPECT_NEAR(a.alpha, 0.1, 1e-7); }});
  c.push_back({"PRelu", 17,
               [](GraphBuilder& b) {
                 b.g.initializers["slope"] = Tensor::from_f32({2, 1}, {0.25f, 0.5f});
                 return b.add("PRelu", {"x", "slope"}, "y");
               },
               ActKind::PRelu, 1, [](double x, int64_t ch) { return x < 0 ? (ch == 0 ? 0.25 : 0.5) * x : x; },
               [](const Activation& a) { EXPECT_EQ(a.slope, (std::vector<float>{0.25f, 0.5f})); }});
  c.push_back({"Sigmoid", 17, [](GraphBuilder& b) { return b.add("Sigmoid", {"x"}, "y"); }, ActKind::Sigmoid, 1,
               [](double x, int64_t) { return sig(x); }, no_params});
  c.push_back({"Tanh", 17, [](GraphBuilder& b) { return b.add("Tanh", {"x"}, "y"); }, ActKind::Tanh, 1,
               [](double x, int64_t) { return std::tanh(x); }, no_params});
  c.push_back({"HardSigmoid", 17,
               [](GraphBuilder& b) {
                 b.add("HardSigmoid", {"x"}, "y");
                 b.last().attrs["alpha"] = 0.2f;
                 b.last().attrs["beta"] = 0.4f;
                 return std::string("y");
               },
               ActKind::HardSigmoid, 1, [](double x, int64_t) { return hsig(x, 0.2, 0.4); },
               [](const Activation& a) {
                 EXPECT_NEAR(a.alpha, 0.2, 1e-7);
                 EXPECT_NEAR(a.beta, 0.4, 1e-7);
               }});
  c.push_back({"HardSwishOp", 17, [](GraphBuilder& b) { return b.add("HardSwish", {"x"}, "y"); }, ActKind::HardSwish,
               1, [](double x, int64_t) { return x * hsig(x, 1.0 / 6, 0.5); }, no_params});
  c.push_back({"Softplus", 17, [](GraphBuilder& b) { return b.add("Softplus", {"x"}, "y"); }, ActKind::Softplus, 1,
               [](double x, int64_t) { return std::log(1 + std::exp(x)); }, no_params});
  c.push_back({"Elu", 17,
               [](GraphBuilder& b) {
                 b.add("Elu", {"x"}, "y");
                 b.last().attrs["alpha"] = 0.5f;
                 return std::string("y");
               },
               ActKind::Elu, 1, [](double x, int64_t) { return x < 0 ? 0.5 * (std::exp(x) - 1) : x; }, no_params});
  c.push_back({"Selu", 17, [](GraphBuilder& b) { return b.add("Selu", {"x"}, "y"); }, ActKind::Selu, 1,
               [](double x, int64_t) { return 1.0507009873554805 * (x < 0 ? 1.6732632423543772 * (std::exp(x) - 1) : x); },
               no_params});
  c.push_back({"ClipInputs", 17,
               [](GraphBuilder& b) {
                 const std::string lo = b.c(-1.5f), hi = b.c(2.5f);
                 return b.add("Clip", {"x", lo, hi}, "y");
               },
               ActKind::Clip, 1, [](double x, int64_t) { return std::min(2.5, std::max(-1.5, x)); },
               [](const Activation& a) {
                 EXPECT_EQ(a.min, -1.5);
                 EXPECT_EQ(a.max, 2.5);
               }});
  c.push_back({"ClipMinOnly", 17,
               [](GraphBuilder& b) { return b.add("Clip", {"x", b.c(0.0f)}, "y"); }, ActKind::Clip, 1,
               [](double x, int64_t) { return std::max(0.0, x); },
               [](const Activation& a) {
                 EXPECT_EQ(a.min, 0);
                 EXPECT_TRUE(std::isinf(a.max));
                 EXPECT_TRUE(a.outputs_exact_zeros());
               }});
  c.push_back({"ClipAttrsOpset6", 6,
               [](GraphBuilder& b) {
                 b.add("Clip", {"x"}, "y");
                 b.last().attrs["min"] = 0.0f;
                 b.last().attrs["max"] = 6.0f;
                 return std::string("y");
               },
               ActKind::Clip, 1, [](double x, int64_t) { return std::min(6.0, std::max(0.0, x)); }, no_params});
  c.push_back({"GeluOp", 20, [](GraphBuilder& b) { return b.add("Gelu", {"x"}, "y"); }, ActKind::Gelu, 1,
               [](double x, int64_t) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, no_params});
  c.push_back({"GeluOpTanh", 20,
               [](GraphBuilder& b) {
                 b.add("Gelu", {"x"}, "y");
                 b.last().attrs["approximate"] = std::string("tanh");
                 return std::string("y");
               },
               ActKind::GeluTanh, 1,
               [](double x, int64_t) {
                 return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
               },
               no_params});
  // --- decompositions ---
  const auto silu = [](double x, int64_t) { return x * sig(x); };
  c.push_back({"SiluXFirst", 17,
               [](GraphBuilder& b) {
                 b.add("Sigmoid", {"x"}, "s");
                 return b.add("Mul", {"x", "s"}, "y");
               },
               ActKind::Silu, 2, silu, [](const Activation& a) { EXPECT_EQ(a.beta, 1); }});
  c.push_back({"SiluSigmoidFirst", 17,
               [](GraphBuilder& b) {
                 b.add("Sigmoid", {"x"}, "s");
                 return b.add("Mul", {"s", "x"}, "y");
               },
               ActKind::Silu, 2, silu, no_params});
  c.push_back({"SwishBeta", 17,  // Paddle's swish: x·sigmoid(β·x)
               [](GraphBuilder& b) {
                 b.add("Mul", {"x", b.c(1.5f)}, "bx");
                 b.add("Sigmoid", {"bx"}, "s");
                 return b.add("Mul", {"x", "s"}, "y");
               },
               ActKind::Silu, 3, [](double x, int64_t) { return x * sig(1.5 * x); },
               [](const Activation& a) { EXPECT_NEAR(a.beta, 1.5, 1e-6); }});
  c.push_back({"XTimesHardSigmoid", 17,
               [](GraphBuilder& b) {
                 b.add("HardSigmoid", {"x"}, "h");
                 b.last().attrs["alpha"] = 1.0f / 6;
                 b.last().attrs["beta"] = 0.5f;
                 return b.add("Mul", {"h", "x"}, "y");
               },
               ActKind::HardSwish, 2, [](double x, int64_t) { return x * hsig(x, 1.0 / 6, 0.5); }, no_params});
  const auto hswish = [](double x, int64_t) { return x * std::min(6.0, std::max(0.0, x + 3)) / 6; };
  c.push_back({"HardSwishMulDiv", 11,  // PP-OCR's form: Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)
               [](GraphBuilder& b) {
                 b.add("Add", {"x", b.c(3)}, "a");
                 const std::string lo = b.c(0), hi = b.c(6);
                 b.add("Clip", {"a", lo, hi}, "r6");
                 b.add("Mul", {"x", "r6"}, "m");
                 return b.add("Div", {"m", b.c(6)}, "y");
               },
               ActKind::HardSwish, 4, hswish,
               [](const Activation& a) {
                 EXPECT_NEAR(a.alpha, 1.0 / 6, 1e-7);
                 EXPECT_NEAR(a.beta, 0.5, 1e-7);
               }});
  c.push_back({"HardSwishDivInside", 11,  // Mul(Div(Clip(Add(3, x)), 6), x)
               [](GraphBuilder& b) {
                 b.add("Add", {b.c(3), "x"}, "a");
                 const std::string lo = b.c(0), hi = b.c(6);
                 b.add("Clip", {"a", lo, hi}, "r6");
                 b.add("Div", {"r6", b.c(6)}, "d");
                 return b.add("Mul", {"d", "x"}, "y");
               },
               ActKind::HardSwish, 4, hswish, no_params});
  c.push_back({"HardSwishMulSixth", 11,  // Mul(Mul(x, r6), 1/6) — the constant split differently
               [](GraphBuilder& b) {
                 b.add("Add", {"x", b.c(3)}, "a");
                 const std::string lo = b.c(0), hi = b.c(6);
                 b.add("Clip", {"a", lo, hi}, "r6");
                 b.add("Mul", {"r6", "x"}, "m");
                 return b.add("Mul", {b.c(1.0f / 6), "m"}, "y");
               },
               ActKind::HardSwish, 4, hswish, no_params});
  c.push_back({"HardSigmoidDecomposed", 11,  // Clip(x + 3, 0, 6) / 6
               [](GraphBuilder& b) {
                 b.add("Add", {"x", b.c(3)}, "a");
                 const std::string lo = b.c(0), hi = b.c(6);
                 b.add("Clip", {"a", lo, hi}, "r6");
                 return b.add("Div", {"r6", b.c(6)}, "y");
               },
               ActKind::HardSigmoid, 3, [](double x, int64_t) { return hsig(x, 1.0 / 6, 0.5); },
               [](const Activation& a) {
                 EXPECT_NEAR(a.alpha, 1.0 / 6, 1e-7);
                 EXPECT_NEAR(a.beta, 0.5, 1e-7);
               }});
  const auto gelu = [](double x, int64_t) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); };
  c.push_back({"GeluErfDivLast", 17,  // BERT's export: ((x·(1+erf(x/√2)))·0.5
               [s2](GraphBuilder& b) {
                 b.add("Div", {"x", b.c(s2)}, "u");
                 b.add("Erf", {"u"}, "e");
                 b.add("Add", {"e", b.c(1)}, "p");
                 b.add("Mul", {"x", "p"}, "m");
                 return b.add("Mul", {"m", b.c(0.5f)}, "y");
               },
               ActKind::Gelu, 5, gelu, no_params});
  c.push_back({"GeluErfHalfFirst", 17,  // (0.5·x)·(1+erf(x·(1/√2)))
               [s2](GraphBuilder& b) {
                 b.add("Mul", {b.c(0.5f), "x"}, "h");
                 b.add("Mul", {"x", b.c(1 / s2)}, "u");
                 b.add("Erf", {"u"}, "e");
                 b.add("Add", {b.c(1), "e"}, "p");
                 return b.add("Mul", {"p", "h"}, "y");
               },
               ActKind::Gelu, 5, gelu, no_params});
  const auto gelu_tanh = [](double x, int64_t) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  };
  c.push_back({"GeluTanhPow", 17,
               [](GraphBuilder& b) {
                 b.add("Pow", {"x", b.c(3)}, "x3");
                 b.add("Mul", {"x3", b.c(0.044715f)}, "k");
                 b.add("Add", {"x", "k"}, "s");
                 b.add("Mul", {b.c(std::sqrt(2 / static_cast<float>(M_PI))), "s"}, "w");
                 b.add("Tanh", {"w"}, "t");
                 b.add("Add", {"t", b.c(1)}, "p");
                 b.add("Mul", {"x", b.c(0.5f)}, "h");
                 return b.add("Mul", {"h", "p"}, "y");
               },
               ActKind::GeluTanh, 8, gelu_tanh, no_params});
  c.push_back({"GeluTanhCubeByMul", 17,
               [](GraphBuilder& b) {
                 b.add("Mul", {"x", "x"}, "x2");
                 b.add("Mul", {"x2", "x"}, "x3");
                 b.add("Mul", {b.c(0.044715f), "x3"}, "k");
                 b.add("Add", {"k", "x"}, "s");
                 b.add("Mul", {"s", b.c(std::sqrt(2 / static_cast<float>(M_PI)))}, "w");
                 b.add("Tanh", {"w"}, "t");
                 b.add("Add", {b.c(1), "t"}, "p");
                 b.add("Mul", {"x", "p"}, "m");
                 return b.add("Mul", {b.c(0.5f), "m"}, "y");
               },
               ActKind::GeluTanh, 9, gelu_tanh, no_params});
  return c;
}

class Patterns : public ::testing::TestWithParam<Case> {};

TEST_P(Patterns, RecognisedAndReproducesTheEngine) {
  const Case& c = GetParam();
  GraphBuilder b(kShape, c.opset);
  const std::string out = c.build(b);
  Ran r = run_graph(b.done(out, kShape), {{"x", x_input()}});
  auto act = recognize_tensor(*r.view, out);
  ASSERT_TRUE(act.has_value()) << c.name << " not recognised";
  EXPECT_EQ(act->kind, c.kind) << act->name();
  EXPECT_EQ(act->input, "x");
  EXPECT_EQ(act->output, out);
  EXPECT_EQ(act->nodes.size(), c.nodes);
  EXPECT_EQ(act->decomposed, c.nodes > 1);
  EXPECT_TRUE(std::is_sorted(act->nodes.begin(), act->nodes.end()));
  c.params(*act);

  // The recognised function reproduces the engine's output, element by element.
  const Tensor x = r.value("x"), y = r.value(out);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = i / kShape[2];
    const double want = y.get_f64(i);
    EXPECT_NEAR(act->eval(x.get_f64(i), ch), want, 1e-5 + 1e-5 * std::fabs(want)) << "x=" << x.get_f64(i);
  }

  // The curve spans the inputs ±10% and follows the formula (PRelu: mean slope).
  const ActivationAnalysis an = analyze_activation(*r.view, *act, 101);
  ASSERT_EQ(an.curve.size(), 101u);
  EXPECT_DOUBLE_EQ(an.x_min, -8);
  EXPECT_DOUBLE_EQ(an.x_max, 8);
  EXPECT_NEAR(an.curve.front().x, -9.6, 1e-12);
  EXPECT_NEAR(an.curve.back().x, 9.6, 1e-12);
  for (const CurvePoint& p : an.curve) {
    const double want = c.kind == ActKind::PRelu ? (p.x < 0 ? 0.375 * p.x : p.x) : c.f(p.x, 0);
    EXPECT_NEAR(p.y, want, 1e-7 + 1e-6 * std::fabs(want)) << c.name << " x=" << p.x;  // float32 parameters
  }
  int64_t hist_total = 0;
  for (int64_t n : an.input_histogram.counts) hist_total += n;
  EXPECT_EQ(hist_total, 128);
}

INSTANTIATE_TEST_SUITE_P(All, Patterns, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Shares of inputs in flat and saturated regions vs counts made here with the documented thresholds.
TEST(ActivationRegions, FlatAndSaturatedShares) {
  const std::vector<float> xs = x_input().to_f32_vector();
  auto share = [&](const std::function<bool(double)>& pred) {
    int64_t n = 0;
    for (float x : xs) n += pred(x);
    return static_cast<double>(n) / static_cast<double>(xs.size());
  };
  struct R {
    std::string op;
    std::function<bool(double)> flat, sat;  // sat empty: not applicable
  };
  const double ln99 = 4.59511985013459;      // sigmoid(x) = 0.99
  const double atanh99 = 2.6466524123622457;  // tanh(x) = 0.99
  const std::vector<R> rs = {
      {"Relu", [](double x) { return x < 0; }, {}},
      {"Sigmoid", [](double) { return false; }, [&](double x) { return std::fabs(x) > ln99; }},
      {"Tanh", [](double) { return false; }, [&](double x) { return std::fabs(x) > atanh99; }},
      {"HardSigmoid", [](double x) { return x < -2.5 || x > 2.5; }, [](double x) { return x < -2.5 || x > 2.5; }},
      {"HardSwish", [](double x) { return x < -3; }, {}},
      {"Elu", [](double) { return false; }, [](double x) { return x < std::log(0.01); }},
      {"Softplus", [](double) { return false; }, {}},
  };
  for (const R& rr : rs) {
    GraphBuilder b(kShape);
    b.add(rr.op, {"x"}, "y");
    Ran r = run_graph(b.done("y", kShape), {{"x", x_input()}});
    auto act = recognize_tensor(*r.view, "y");
    ASSERT_TRUE(act) << rr.op;
    const ActivationAnalysis an = analyze_activation(*r.view, *act);
    EXPECT_DOUBLE_EQ(an.flat_fraction, share(rr.flat)) << rr.op;
    ASSERT_EQ(an.saturated_fraction.has_value(), static_cast<bool>(rr.sat)) << rr.op;
    if (rr.sat) EXPECT_DOUBLE_EQ(*an.saturated_fraction, share(rr.sat)) << rr.op;
    EXPECT_GT(share(rr.flat) + (rr.sat ? share(rr.sat) : 0.0) + (rr.op == "Softplus"), 0) << "test input too narrow";
  }
}

// Non-finite inputs are excluded from the shares and the histogram.
TEST(ActivationRegions, NonFiniteInputsExcluded) {
  GraphBuilder b({1, 1, 4});
  b.add("Relu", {"x"}, "y");
  Ran r = run_graph(b.done("y", {1, 1, 4}), {{"x", Tensor::from_f32({1, 1, 4}, {-1, NAN, INFINITY, 2})}});
  const ActivationAnalysis an = analyze_activation(*r.view, *recognize_tensor(*r.view, "y"));
  EXPECT_EQ(an.inputs, 4);
  EXPECT_EQ(an.finite, 2);
  EXPECT_DOUBLE_EQ(an.flat_fraction, 0.5);
  EXPECT_DOUBLE_EQ(an.x_min, -1);
  EXPECT_DOUBLE_EQ(an.x_max, 2);
}

// What must not be recognised.
TEST(ActivationNegative, LookAlikesAreNotActivations) {
  const Shape s = kShape;
  {  // SE-style gating: y · sigmoid(x) with y ≠ x is not SiLU.
    GraphBuilder b(s);
    b.add("Relu", {"x"}, "z");
    b.add("Sigmoid", {"x"}, "g");
    b.add("Mul", {"z", "g"}, "y");
    Ran r = run_graph(b.done("y", s), {{"x", x_input()}});
    EXPECT_FALSE(recognize_tensor(*r.view, "y"));
    EXPECT_EQ(recognize_tensor(*r.view, "g")->kind, ActKind::Sigmoid);
  }
  {  // The gate read elsewhere too: folding it into a SiLU would hide a tensor.
    GraphBuilder b(s);
    b.add("Sigmoid", {"x"}, "g");
    b.add("Mul", {"x", "g"}, "y");
    b.add("Add", {"y", "g"}, "z");
    Ran r = run_graph(b.done("z", s), {{"x", x_input()}});
    EXPECT_FALSE(recognize_tensor(*r.view, "y"));
  }
  {  // Wrong constant: x·Clip(x+3, 0, 6)/5 is no HardSwish.
    GraphBuilder b(s, 11);
    b.add("Add", {"x", b.c(3)}, "a");
    const std::string lo = b.c(0), hi = b.c(6);
    b.add("Clip", {"a", lo, hi}, "r6");
    b.add("Mul", {"x", "r6"}, "m");
    b.add("Div", {"m", b.c(5)}, "y");
    Ran r = run_graph(b.done("y", s), {{"x", x_input()}});
    EXPECT_FALSE(recognize_tensor(*r.view, "y"));
  }
  {  // GELU with 0.7 instead of 0.5.
    GraphBuilder b(s);
    b.add("Div", {"x", b.c(std::sqrt(2.0f))}, "u");
    b.add("Erf", {"u"}, "e");
    b.add("Add", {"e", b.c(1)}, "p");
    b.add("Mul", {"x", "p"}, "m");
    b.add("Mul", {"m", b.c(0.7f)}, "y");
    Ran r = run_graph(b.done("y", s), {{"x", x_input()}});
    EXPECT_FALSE(recognize_tensor(*r.view, "y"));
  }
  {  // A plain Add or Conv-free Mul by a constant.
    GraphBuilder b(s);
    b.add("Mul", {"x", b.c(2)}, "y");
    Ran r = run_graph(b.done("y", s), {{"x", x_input()}});
    EXPECT_FALSE(recognize_tensor(*r.view, "y"));
    EXPECT_FALSE(recognize_tensor(*r.view, "x"));  // a graph input has no producer
  }
}

// find_activations lists the outermost pattern only (not the Clip inside a HardSwish).
TEST(ActivationFind, OutermostOnly) {
  GraphBuilder b(kShape, 11);
  b.add("Add", {"x", b.c(3)}, "a");
  const std::string lo = b.c(0), hi = b.c(6);
  b.add("Clip", {"a", lo, hi}, "r6");
  b.add("Mul", {"x", "r6"}, "m");
  b.add("Div", {"m", b.c(6)}, "h");
  b.add("Sigmoid", {"h"}, "y");
  Ran r = run_graph(b.done("y", kShape), {{"x", x_input()}});
  const auto all = find_activations(*r.view);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, ActKind::HardSwish);
  EXPECT_EQ(all[0].output, "h");
  EXPECT_EQ(all[1].kind, ActKind::Sigmoid);
  EXPECT_EQ(recognize_tensor(*r.view, "r6")->kind, ActKind::Clip);  // still recognisable on its own
}

// Swish blocks (x·sigmoid(x), Paddle's x·sigmoid(β·x) included) counted straight from the ONNX
// node list, independently of ModelView and find_activations: a Sigmoid whose input is x, or
// Mul(x, constant), and a Mul of that x (or of the Sigmoid's own input) with the Sigmoid's output.
int64_t count_swish_blocks(const Graph& g) {
  std::map<std::string, const Node*> producer;
  std::set<std::string> constants;
  for (const auto& [name, t] : g.initializers) constants.insert(name);
  for (const Node& n : g.nodes) {
    for (const auto& o : n.outputs) producer[o] = &n;
    if (n.op_type == "Constant") constants.insert(n.outputs.at(0));
  }
  int64_t count = 0;
  for (const Node& s : g.nodes) {
    if (s.op_type != "Sigmoid") continue;
    std::set<std::string> xs = {s.inputs.at(0)};
    if (auto it = producer.find(s.inputs.at(0)); it != producer.end() && it->second->op_type == "Mul" &&
                                                 it->second->inputs.size() == 2) {
      const auto& in = it->second->inputs;
      if (constants.count(in[1])) xs.insert(in[0]);
      if (constants.count(in[0])) xs.insert(in[1]);
    }
    const std::string& y = s.outputs.at(0);
    for (const Node& m : g.nodes)
      if (m.op_type == "Mul" && m.inputs.size() == 2 &&
          ((m.inputs[0] == y && xs.count(m.inputs[1])) || (m.inputs[1] == y && xs.count(m.inputs[0])))) {
        ++count;
        break;
      }
  }
  return count;
}

// PP-OCRv4: every HardSwish block (Add/Clip/Mul/Div) and, in rec, every Paddle swish is found;
// counts are those of the op types that make them (one Clip per HardSwish, one Sigmoid per swish,
// HardSigmoid and Relu ops as themselves), and nothing else is taken for an activation. The swish
// count is count_swish_blocks' over the node list (rec has some, det none: the check is not empty).
TEST(ActivationModels, PpocrBlocksFound) {
  for (const std::string file : {"ppocrv4_det.onnx", "ppocrv4_rec.onnx"}) {
    if (!have_model(file)) return;
    Graph g = load_onnx(model_path(file));
    int64_t clips = 0, sigmoids = 0, hsig_ops = 0, relu_ops = 0;
    const int64_t swish_blocks = count_swish_blocks(g);
    for (const Node& n : g.nodes) {
      clips += n.op_type == "Clip";
      sigmoids += n.op_type == "Sigmoid";
      hsig_ops += n.op_type == "HardSigmoid";
      relu_ops += n.op_type == "Relu";
    }
    auto cpu = make_cpu_backend();
    Session s(std::move(g), {cpu.get()});
    const bool rec = file == "ppocrv4_rec.onnx";
    s.prepare({{"x", rec ? Shape{1, 3, 48, 64} : Shape{1, 3, 64, 64}}});
    ModelView view(s);
    int64_t hswish = 0, silu = 0, sigmoid = 0, hsig = 0, relu = 0, total = 0;
    for (const Activation& a : find_activations(view)) {
      ++total;
      hswish += a.kind == ActKind::HardSwish && a.decomposed;
      silu += a.kind == ActKind::Silu;
      sigmoid += a.kind == ActKind::Sigmoid;
      hsig += a.kind == ActKind::HardSigmoid && !a.decomposed;  // the SE blocks' gates
      relu += a.kind == ActKind::Relu;
      if (a.kind == ActKind::HardSwish) {
        EXPECT_NEAR(a.alpha, 1.0 / 6, 1e-7);
        EXPECT_NEAR(a.beta, 0.5, 1e-7);
      }
    }
    EXPECT_EQ(hswish, clips) << file;
    EXPECT_EQ(silu + sigmoid, sigmoids) << file;
    EXPECT_EQ(silu, swish_blocks) << file;
    if (rec) EXPECT_GT(swish_blocks, 0) << file << ": the rec model's swish blocks were not found in its node list";
    std::printf("%s: %lld swish blocks in the node list, %lld Silu recognised\n", file.c_str(),
                static_cast<long long>(swish_blocks), static_cast<long long>(silu));
    EXPECT_EQ(hsig, hsig_ops) << file;
    EXPECT_EQ(relu, relu_ops) << file;
    EXPECT_EQ(total, hswish + silu + sigmoid + hsig + relu) << file << ": an unexpected kind was recognised";
  }
}

}  // namespace
