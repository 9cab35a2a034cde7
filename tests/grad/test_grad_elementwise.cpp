// Finite-difference checks of the CPU backward kernels of the elementwise family
// (src/cpu/grad_elementwise*.cpp), one node at a time through Session::backward (grad_check.hpp).
//
// Tolerances: relative L2 error ≤ 2e-3 per input (the harness default) for every float32 case:
// central differences in float32 forward runs with step 1e-2·max(1, |x|∞) are accurate to ~1e-4
// relative away from kinks, and every input here is drawn away from kinks, steps and ties (see the
// generators below). Measured (2026-12-06): per-element cases median 1.5e-6, 90th percentile
// 1.1e-4, worst 1.2e-3 (Div's divisor, finite-difference curvature); random-direction cases median
// 1.1e-5, worst 5.7e-3 relative at 2e-5 absolute (within the harness's 1e-4 absolute floor).
// Float16 cases: 5e-2 against finite differences (the forward output is rounded to float16, ~5e-4
// relative, divided by the 2h step: measured up to 2.9e-2 on Sigmoid) and, the sharp check there,
// 2e-3 relative L2 against the float32 model's gradient on the same float16-exact values
// (measured ≤ 1.8e-4).
//
// Coverage: `AllCases` lists every case; the test `EveryFloatOpHasGradient` fails when a float-output
// op of the forward elementwise table has no gradient entry, and `EveryGradientIsTested` when a
// gradient entry has no case here.
// Longer than about 600 lines: one finite-difference case list per op on the shared
// grad_check harness.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"
#include "grad_check.hpp"

namespace {

using namespace netlens;
using namespace netlens::gradtest;
using Attrs = std::map<std::string, AttrValue>;

// ---------------------------------------------------------------------------------------------
// Input generators.

// Uniform in [lo, hi], then every value within `margin` of a kink moved 2·margin away from it.
Tensor away(Shape s, uint32_t seed, float lo, float hi, std::vector<float> kinks, float margin = 0.05f) {
  Tensor t = random_tensor(std::move(s), seed, lo, hi);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    for (float k : kinks)
      if (std::fabs(p[i] - k) < margin) p[i] = p[i] >= k ? k + 2 * margin : k - 2 * margin;
  return t;
}

// Distinct values (no two within `gap`): a random permutation of offset + gap·k, k < numel.
Tensor distinct(Shape s, uint32_t seed, float gap = 0.05f, float offset = -1.f) {
  Tensor t(DType::Float32, std::move(s));
  std::vector<int> idx(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int>(i);
  std::mt19937 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = offset + gap * static_cast<float>(idx[static_cast<size_t>(i)]);
  return t;
}

// Values on the grid offset + 0.1·k in [-1, 1]: inputs on grids with different offsets never tie.
Tensor grid(Shape s, uint32_t seed, float offset) {
  Tensor t = random_tensor(std::move(s), seed, -1.f, 1.f);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::round(p[i] * 10.f) / 10.f + offset;
  return t;
}

Tensor bools(Shape s, uint32_t seed) {
  Tensor t(DType::Bool, std::move(s));
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<uint8_t>()[i] = static_cast<uint8_t>(rng() & 1u);
  return t;
}

Tensor i64s(std::vector<int64_t> v) {
  Tensor t(DType::Int64, Shape{static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data_as<int64_t>()[i] = v[i];
  return t;
}

Tensor scalar(float v) {
  Tensor t(DType::Float32, Shape{});
  t.data_as<float>()[0] = v;
  return t;
}

// ---------------------------------------------------------------------------------------------
// The cases.
struct Named {
  std::string name;
  GradCase c;
};

const Shape kOdd{1, 3, 5, 7};

void add_unary(std::vector<Named>& v) {
  struct U {
    const char* op;
    float lo, hi;
    std::vector<float> kinks;
    Attrs attrs = {};
    int64_t opset = 17;
    std::string tag = "";
  };
  const std::vector<U> us = {
      {"Sigmoid", -4, 4, {}},       {"Tanh", -3, 3, {}},
      {"Mish", -25, 25, {}, {}, 17, "wide"},  // both sides of the oneDNN path's cap at 20
      {"Softplus", -20, 20, {}, {}, 17, "wide"},         {"Exp", -2, 2, {}},
      {"Log", 0.5f, 3, {}},         {"Sqrt", 0.5f, 3, {}},       {"Reciprocal", 0.5f, 2, {}},
      {"Neg", -1, 1, {}},           {"Abs", -1, 1, {0}},         {"Relu", -1, 1, {0}},
      {"Softplus", -4, 4, {}},      {"Softsign", -3, 3, {0}},    {"Mish", -3, 3, {}},
      {"Erf", -2, 2, {}},           {"Sin", -3, 3, {}},          {"Cos", -3, 3, {}},
      {"Tan", -1, 1, {}},           {"Asin", -0.8f, 0.8f, {}},   {"Acos", -0.8f, 0.8f, {}},
      {"Atan", -3, 3, {}},          {"Sinh", -2, 2, {}},         {"Cosh", -2, 2, {}},
      {"Asinh", -3, 3, {}},         {"Acosh", 1.5f, 3, {}},      {"Atanh", -0.8f, 0.8f, {}},
      {"HardSwish", -5, 5, {-3, 3}},
      {"LeakyRelu", -1, 1, {0}, {{"alpha", AttrValue(0.1f)}}},
      {"Elu", -2, 2, {0}, {{"alpha", AttrValue(0.7f)}}},
      {"Selu", -2, 2, {0}},
      {"Celu", -2, 2, {0}, {{"alpha", AttrValue(1.5f)}}},
      {"HardSigmoid", -4, 4, {-2.5f, 2.5f}},
      {"HardSigmoid", -4, 4, {-1.5f, 0.5f}, {{"alpha", AttrValue(0.5f)}, {"beta", AttrValue(0.75f)}}, 17, "alpha_beta"},
      {"ThresholdedRelu", -2, 2, {0.5f}, {{"alpha", AttrValue(0.5f)}}},
      {"Gelu", -3, 3, {}, {}, 20, "erf"},
      {"Gelu", -3, 3, {}, {{"approximate", AttrValue(std::string("tanh"))}}, 20, "tanh"},
      // Piecewise constant: finite differences away from the steps are exactly zero.
      {"Floor", -2, 2, {-2, -1, 0, 1, 2}},
      {"Ceil", -2, 2, {-2, -1, 0, 1, 2}},
      {"Round", -2, 2, {-1.5f, -0.5f, 0.5f, 1.5f}},
      {"Sign", -1, 1, {0}},
  };
  uint32_t seed = 10;
  for (const U& u : us) {
    const std::string base = std::string(u.op) + (u.tag.empty() ? "" : "_" + u.tag);
    // Odd 4-D shape (random directions) and a small one (every element).
    v.push_back({base, GradCase{.op = u.op, .opset = u.opset, .attrs = u.attrs,
                                .inputs = {away(kOdd, seed++, u.lo, u.hi, u.kinks)}}});
    v.push_back({base + "_small", GradCase{.op = u.op, .opset = u.opset, .attrs = u.attrs,
                                           .inputs = {away({3, 5}, seed++, u.lo, u.hi, u.kinks)}}});
    // Large enough (≥ 256 elements) for the oneDNN fast paths of Erf, Gelu, Softplus, Mish.
    v.push_back({base + "_large", GradCase{.op = u.op, .opset = u.opset, .attrs = u.attrs,
                                           .inputs = {away({2, 5, 7, 9}, seed++, u.lo, u.hi, u.kinks)}}});
  }
}

void add_clip(std::vector<Named>& v) {
  const std::vector<float> kinks{-0.5f, 0.5f};
  v.push_back({"Clip_attrs_opset6", GradCase{.op = "Clip", .opset = 6,
                                            .attrs = {{"min", AttrValue(-0.5f)}, {"max", AttrValue(0.5f)}},
                                            .inputs = {away(kOdd, 1, -1, 1, kinks)}}});
  v.push_back({"Clip_inputs", GradCase{.op = "Clip", .opset = 13,
                                       .inputs = {away({4, 6}, 2, -1, 1, kinks), scalar(-0.5f), scalar(0.5f)}}});
  v.push_back({"Clip_max_only", GradCase{.op = "Clip", .opset = 13,
                                         .inputs = {away({4, 6}, 3, -1, 1, kinks), Tensor(), scalar(0.5f)}}});
  v.push_back({"Clip_constant_bounds", GradCase{.op = "Clip", .opset = 13,
                                                .inputs = {away(kOdd, 4, -1, 1, kinks), scalar(-0.5f), scalar(0.5f)},
                                                .constant = {false, true, true}}});
  // lo > hi: every output is hi, so only hi gets a gradient.
  v.push_back({"Clip_crossed", GradCase{.op = "Clip", .opset = 13,
                                        .inputs = {random_tensor({2, 3}, 5), scalar(0.5f), scalar(-0.5f)}}});
}

// Broadcasting pairs (shape of A, shape of B).
const std::vector<std::pair<Shape, Shape>> kPairs = {
    {{1, 3, 5, 7}, {1, 3, 5, 7}},  // same shape
    {{1, 3, 5, 7}, {3, 1, 1}},     // per-channel bias, lower rank
    {{3, 1, 1}, {1, 3, 5, 7}},     // the other way round
    {{2, 3, 4}, {}},               // scalar B
    {{}, {2, 3, 4}},               // scalar A
    {{4, 1}, {1, 5}},              // both broadcast
    {{2, 1, 5}, {3, 1}},           // mismatched ranks, both broadcast
    {{1, 3, 1, 7}, {5, 1}},        // B lower rank, expands a middle dim
    {{2, 3, 4, 5}, {2, 1, 4, 1}},  // B kept/reduced/kept/reduced: runs under two kept dims
};

std::string shape_tag(const Shape& s) {
  std::string r = "s";
  for (int64_t d : s) r += std::to_string(d);
  return r;
}

void add_binary(std::vector<Named>& v) {
  struct B {
    const char* op;
    float alo, ahi, blo, bhi;
  };
  const std::vector<B> bs = {{"Add", -1, 1, -1, 1}, {"Sub", -1, 1, -1, 1}, {"Mul", -1, 1, -1, 1},
                             {"Div", -1, 1, 0.5f, 2}, {"Pow", 0.5f, 2, -2, 2}};
  uint32_t seed = 100;
  for (const B& b : bs)
    for (const auto& [sa, sb] : kPairs)
      v.push_back({std::string(b.op) + "_" + shape_tag(sa) + "_" + shape_tag(sb),
                   GradCase{.op = b.op, .inputs = {random_tensor(sa, seed++, b.alo, b.ahi), random_tensor(sb, seed++, b.blo, b.bhi)}}});
  // Above the parallel threshold (32768 elements): the threaded reduction paths, scalar and
  // per-channel operands beside a full one and both broadcast.
  for (const char* op : {"Mul", "Div"}) {
    const Shape big{2, 4, 72, 72};
    // The full operand's gradient is checked along random directions over 41472 elements: the
    // float32 rounding of S then limits finite differences to ~3e-3 relative (measured 5.5e-3 on
    // an exact g·b), hence 1e-2 here; the scalar operand's gradient (one element, a sum over
    // every output) is checked alone at the default tolerance in the `_b` case.
    v.push_back({std::string(op) + "_large_scalar", GradCase{.op = op, .inputs = {random_tensor(big, seed++), random_tensor({}, seed++, 0.5f, 2.f)}, .tol = 1e-2}});
    v.push_back({std::string(op) + "_large_scalar_b", GradCase{.op = op, .inputs = {random_tensor(big, seed++), random_tensor({}, seed++, 0.5f, 2.f)},
                                                               .skip = {true, false}}});
    v.push_back({std::string(op) + "_large_channel", GradCase{.op = op, .inputs = {random_tensor(big, seed++), random_tensor({4, 1, 1}, seed++, 0.5f, 2.f)}}});
    v.push_back({std::string(op) + "_large_both", GradCase{.op = op, .inputs = {random_tensor({2, 1, 72, 72}, seed++), random_tensor({4, 72, 1}, seed++, 0.5f, 2.f)}}});
  }
  // Legacy (opset 6) broadcast=1 with axis: B's dims sit at `axis` of A.
  for (const char* op : {"Add", "Mul", "Div"})
    v.push_back({std::string(op) + "_legacy_axis",
                 GradCase{.op = op, .opset = 6, .attrs = {{"broadcast", AttrValue(int64_t(1))}, {"axis", AttrValue(int64_t(1))}},
                          .inputs = {random_tensor({2, 3, 4, 5}, seed++), random_tensor({3, 4}, seed++, 0.5f, 2.f)}}});
  // A constant exponent (x^2 of a decomposed LayerNorm): only the base varies.
  v.push_back({"Pow_const_exponent", GradCase{.op = "Pow", .inputs = {random_tensor(kOdd, seed++, -2, 2), scalar(2.f)},
                                              .constant = {false, true}}});
  // Integer exponent: not differentiated, read as float for the base's gradient.
  {
    Tensor e(DType::Int64, Shape{});
    e.data_as<int64_t>()[0] = 3;
    v.push_back({"Pow_int_exponent", GradCase{.op = "Pow", .inputs = {random_tensor({3, 4}, seed++, -2, 2), e}}});
  }

  // Mod: a = b·(k + f) with f in [0.2, 0.8] keeps a/b away from the jumps at integers.
  for (int fmod : {0, 1}) {
    Tensor b = random_tensor({3, 5}, seed++, 0.7f, 1.5f);
    Tensor a = random_tensor({3, 5}, seed++, 0.2f, 0.8f);
    Tensor k = random_tensor({3, 5}, seed++, -3.f, 3.f);
    for (int64_t i = 0; i < a.numel(); ++i) {
      float* pb = b.data_as<float>();
      if (i % 2) pb[i] = -pb[i];
      a.data_as<float>()[i] = pb[i] * (std::round(k.data_as<float>()[i]) + a.data_as<float>()[i]);
    }
    v.push_back({"Mod_fmod" + std::to_string(fmod),
                 GradCase{.op = "Mod", .attrs = {{"fmod", AttrValue(int64_t(fmod))}}, .inputs = {a, b}}});
  }

  // PRelu: slope per channel, scalar, full, last-dim.
  const std::vector<Shape> slopes = {{3, 1, 1}, {1}, kOdd, {7}};
  for (const Shape& s : slopes)
    v.push_back({"PRelu_" + shape_tag(s),
                 GradCase{.op = "PRelu", .inputs = {away(kOdd, seed++, -1, 1, {0}), random_tensor(s, seed++, 0.05f, 0.5f)}}});

  // Where: the bool condition gets no gradient; X and Y broadcast against it and each other.
  v.push_back({"Where_broadcast", GradCase{.op = "Where", .inputs = {bools({3, 1, 5}, 1), random_tensor({1, 4, 5}, seed++),
                                                                     random_tensor({}, seed++)}}});
  v.push_back({"Where_same", GradCase{.op = "Where", .inputs = {bools(kOdd, 2), random_tensor(kOdd, seed++),
                                                                random_tensor(kOdd, seed++)}}});
}

void add_variadic(std::vector<Named>& v) {
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) {
    // Three inputs on disjoint grids (no ties within the step) with different broadcast shapes.
    v.push_back({std::string(op) + "_three", GradCase{.op = op, .inputs = {grid({2, 3, 4}, 1, 0.f), grid({3, 1}, 2, 0.033f),
                                                                           grid({4}, 3, 0.066f)}}});
    v.push_back({std::string(op) + "_one", GradCase{.op = op, .inputs = {random_tensor({3, 4}, 4)}}});
    v.push_back({std::string(op) + "_two_same", GradCase{.op = op, .inputs = {grid(kOdd, 5, 0.f), grid(kOdd, 6, 0.05f)}}});
  }
}

// Reductions: (axes, keepdims) combinations, as attribute (opset 11/13) and as input (13/18).
void add_reduce(std::vector<Named>& v) {
  struct R {
    const char* op;
    int64_t input_opset;
    float lo, hi;
    bool distinct_values;  // Max/Min: no ties
    std::vector<float> kinks;
  };
  const std::vector<R> rs = {
      {"ReduceSum", 13, -1, 1, false, {}},      {"ReduceMean", 18, -1, 1, false, {}},
      {"ReduceMax", 18, -1, 1, true, {}},       {"ReduceMin", 18, -1, 1, true, {}},
      {"ReduceProd", 18, 0.5f, 1.5f, false, {}}, {"ReduceL1", 18, -1, 1, false, {0}},
      {"ReduceL2", 18, -1, 1, false, {}},       {"ReduceSumSquare", 18, -1, 1, false, {}},
      {"ReduceLogSum", 18, 0.5f, 2, false, {}}, {"ReduceLogSumExp", 18, -2, 2, false, {}},
  };
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> axes_keep = {
      {{1}, 1}, {{1}, 0}, {{0, 2}, 1}, {{-1}, 0}, {{}, 1}, {{}, 0}, {{0, 3}, 0}};
  uint32_t seed = 300;
  for (const R& r : rs) {
    int k = 0;
    for (const auto& [axes, keep] : axes_keep) {
      const Shape s = k % 2 ? Shape{2, 3, 4, 5} : Shape{2, 3, 2, 5};
      Tensor x = r.distinct_values ? distinct(s, seed++) : away(s, seed++, r.lo, r.hi, r.kinks);
      if (r.op == std::string("ReduceProd"))  // mixed signs
        for (int64_t i = 0; i < x.numel(); i += 3) x.data_as<float>()[i] = -x.data_as<float>()[i];
      std::string axes_tag;
      for (int64_t a : axes) axes_tag += (a < 0 ? "m" : "") + std::to_string(std::abs(a));
      const std::string base = std::string(r.op) + "_ax" + (axes.empty() ? "all" : axes_tag) + "_k" + std::to_string(keep);
      // Axes as an attribute (opset 11) and as an input (the op's input opset).
      Attrs attrs{{"keepdims", AttrValue(keep)}};
      if (!axes.empty()) attrs["axes"] = axes;
      v.push_back({base + "_attr", GradCase{.op = r.op, .opset = 11, .attrs = attrs, .inputs = {x}}});
      Attrs attrs2{{"keepdims", AttrValue(keep)}};
      GradCase c{.op = r.op, .opset = r.input_opset, .attrs = attrs2, .inputs = {x}};
      if (!axes.empty()) {
        c.inputs.push_back(i64s(axes));
        c.constant = {false, true};
      }
      v.push_back({base + "_input", c});
      ++k;
    }
    // noop_with_empty_axes: identity.
    v.push_back({std::string(r.op) + "_noop", GradCase{.op = r.op, .opset = r.input_opset,
                                                      .attrs = {{"noop_with_empty_axes", AttrValue(int64_t(1))}},
                                                      .inputs = {away({2, 3}, seed++, r.lo, r.hi, r.kinks)}}});
  }
  // Above the parallel threshold (36864 elements, 16 results): the threaded scans and expansions.
  // Max/Min: each reduced set's extreme is pushed 0.05 clear of the rest (no flips within a step).
  for (const char* op : {"ReduceSum", "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMin"}) {
    Tensor x = random_tensor({2, 8, 48, 48}, seed++);
    const bool mx = op == std::string("ReduceMax"), mn = op == std::string("ReduceMin");
    if (mx || mn) {
      float* p = x.data_as<float>();
      for (int64_t set = 0; set < 16; ++set) {
        float* q = p + set * 2304;
        float* e = mx ? std::max_element(q, q + 2304) : std::min_element(q, q + 2304);
        *e += mx ? 0.05f : -0.05f;
      }
    }
    v.push_back({std::string(op) + "_large", GradCase{.op = op, .opset = 11, .attrs = {{"axes", AttrValue(std::vector<int64_t>{2, 3})}},
                                                      .inputs = {x}}});
  }
  // ReduceProd through zeros: one zero in a reduced set (it gets the product of the others), two
  // zeros (nothing), and none.
  Tensor z = random_tensor({3, 4}, seed++, 0.5f, 1.5f);
  z.data_as<float>()[1] = 0.f;                              // row 0: one zero
  z.data_as<float>()[4] = 0.f, z.data_as<float>()[6] = 0.f;  // row 1: two zeros
  v.push_back({"ReduceProd_zeros", GradCase{.op = "ReduceProd", .opset = 11,
                                            .attrs = {{"axes", AttrValue(std::vector<int64_t>{1})}}, .inputs = {z}}});
}

void add_softmax(std::vector<Named>& v) {
  uint32_t seed = 500;
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    // opset 11: coerced to 2-D at axis (default 1); opset 13: one axis (default -1).
    for (int64_t opset : {11, 13})
      for (int64_t axis : {0, 1, 2, -1}) {
        const std::string name = std::string(op) + "_opset" + std::to_string(opset) + "_axis" + (axis < 0 ? "m1" : std::to_string(axis));
        v.push_back({name, GradCase{.op = op, .opset = opset, .attrs = {{"axis", AttrValue(axis)}},
                                    .inputs = {random_tensor({2, 3, 4, 5}, seed++, -3, 3)}}});
      }
    v.push_back({std::string(op) + "_opset11_default", GradCase{.op = op, .opset = 11, .inputs = {random_tensor({2, 3, 4}, seed++, -3, 3)}}});
    v.push_back({std::string(op) + "_opset13_default", GradCase{.op = op, .opset = 13, .inputs = {random_tensor({2, 3, 4}, seed++, -3, 3)}}});
    v.push_back({std::string(op) + "_1d", GradCase{.op = op, .opset = 13, .inputs = {random_tensor({10}, seed++, -3, 3)}}});
  }
  for (const char* op : {"Softmax", "LogSoftmax"})
    for (int64_t axis : {1, -1})
      v.push_back({std::string(op) + "_large_axis" + (axis < 0 ? "m1" : "1"),
                   GradCase{.op = op, .opset = 13, .attrs = {{"axis", AttrValue(axis)}}, .inputs = {random_tensor({4, 16, 24, 24}, seed++, -3, 3)}}});
  // Hardmax: piecewise constant (distinct values: no ties within the step).
  v.push_back({"Hardmax", GradCase{.op = "Hardmax", .opset = 13, .inputs = {distinct({3, 4, 5}, 1)}}});
}

std::vector<Named> all_cases() {
  std::vector<Named> v;
  add_unary(v);
  add_clip(v);
  add_binary(v);
  add_variadic(v);
  add_reduce(v);
  add_softmax(v);
  return v;
}

const std::vector<Named>& cases() {
  static const std::vector<Named> c = all_cases();
  return c;
}

class AllCases : public ::testing::TestWithParam<size_t> {};

TEST_P(AllCases, MatchesFiniteDifferences) {
  const Named& n = cases()[GetParam()];
  SCOPED_TRACE(n.name);
  check_gradients(n.c);
}

INSTANTIATE_TEST_SUITE_P(Elementwise, AllCases, ::testing::Range<size_t>(0, cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) { return cases()[info.param].name; });

// ---------------------------------------------------------------------------------------------
// Aliased gradient slots: Mul(x, x) = x², Add(x, x) = 2x, both inputs the same graph input.
void check_square(const std::string& op, double expect_factor_of_x, double expect_const) {
  Tensor x = random_tensor({3, 5}, 42);
  Graph g;
  g.opsets[""] = 17;
  ValueInfo vi{"x", DType::Float32, {Dim{3, ""}, Dim{5, ""}}, true};
  g.inputs.push_back(vi);
  Node n;
  n.name = "node";
  n.op_type = op;
  n.inputs = {"x", "x"};
  n.outputs = {"y"};
  g.nodes.push_back(n);
  auto cpu = make_cpu_backend();
  Session s(std::move(g), {cpu.get()});
  s.run({{"x", x}});
  Tensor seed = random_tensor({3, 5}, 43);
  s.backward({{"y", seed}});
  Tensor gx = s.gradients().fetch("x");
  for (int64_t i = 0; i < x.numel(); ++i)
    EXPECT_NEAR(gx.get_f64(i), seed.get_f64(i) * (expect_factor_of_x * x.get_f64(i) + expect_const), 1e-6) << op << " element " << i;
}

TEST(GradElementwise, AliasedInputs) {
  check_square("Mul", 2.0, 0.0);  // d(x²)/dx = 2x
  check_square("Add", 0.0, 2.0);  // d(2x)/dx = 2
  check_square("Sub", 0.0, 0.0);  // x - x = 0
  check_square("Max", 0.0, 1.0);  // max(x, x) = x: the tie goes to the first slot, once
  check_square("Min", 0.0, 1.0);
  check_square("Sum", 0.0, 2.0);
}

// ---------------------------------------------------------------------------------------------
// Float16 models: the backend converts the forward values to float32 around the grad kernel.
// Values on the grid 2^-6 with |x| ≤ 1.5625 and one element at ±1.5625: the harness's step is then
// h = 1e-2 · 1.5625 = 2^-6, so x ± h is exact in float16 and the only noise left in the finite
// differences is the float16 rounding of the output.
Tensor f16_exact(Shape s, uint32_t seed, float lo, float hi) {
  Tensor t = random_tensor(std::move(s), seed, lo, hi);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::clamp(std::round(p[i] * 64.f) / 64.f, -1.5625f, 1.5625f);
  p[0] = p[0] < 0 ? -1.5625f : 1.5625f;
  return t;
}

void check_f16(const std::string& op, std::vector<Tensor> inputs32, int64_t opset = 17) {
  std::vector<Tensor> inputs16;
  for (const Tensor& t : inputs32) inputs16.push_back(t.dtype() == DType::Float32 ? t.cast(DType::Float16) : t);
  GradCase c16{.op = op, .opset = opset, .inputs = inputs16, .tol = 5e-2};
  GradCase c32{.op = op, .opset = opset, .inputs = inputs32};
  GradChecker g16(c16), g32(c32);
  g16.check();  // finite differences of the float16 model
  g32.check();
  // check() ends with perturbed runs (which drop the gradients): run and differentiate once more.
  std::map<std::string, Tensor> f16, f32;
  for (size_t i = 0; i < inputs32.size(); ++i) {
    f16["in" + std::to_string(i)] = inputs16[i];
    f32["in" + std::to_string(i)] = inputs32[i];
  }
  g16.session().run(f16);
  g16.session().backward(g16.seeds());
  g32.session().run(f32);
  g32.session().backward(g32.seeds());
  for (size_t i = 0; i < inputs32.size(); ++i) {
    if (inputs32[i].dtype() != DType::Float32) continue;
    const std::string name = "in" + std::to_string(i);
    Tensor a = g16.session().gradients().fetch(name), b = g32.session().gradients().fetch(name);
    ASSERT_EQ(a.dtype(), DType::Float32) << "gradients are float32 for a float16 model";
    double num = 0, den = 0;
    for (int64_t k = 0; k < a.numel(); ++k) {
      num += (a.get_f64(k) - b.get_f64(k)) * (a.get_f64(k) - b.get_f64(k));
      den += b.get_f64(k) * b.get_f64(k);
    }
    const double rel = std::sqrt(num / std::max(den, 1e-12));
    EXPECT_LE(rel, 2e-3) << op << " input " << i << ": float16 vs float32 gradient";
  }
}

TEST(GradElementwise, Float16Inputs) {
  check_f16("Sigmoid", {f16_exact({3, 5}, 1, -3, 3)});
  check_f16("Mul", {f16_exact({2, 3, 4}, 2, -1, 1), f16_exact({3, 1}, 3, -1, 1)});
  check_f16("Softmax", {f16_exact({2, 6}, 4, -2, 2)}, 13);
  check_f16("ReduceMean", {f16_exact({2, 3, 4}, 5, -1, 1)}, 13);
  check_f16("Where", {bools({2, 1, 4}, 6), f16_exact({3, 4}, 7, -1, 1), f16_exact({2, 3, 1}, 8, -1, 1)});
}

// ---------------------------------------------------------------------------------------------
// The documented choices where the derivative is not unique (finite differences cannot see them),
// against gradients worked out by hand from the rule.
std::map<std::string, Tensor> gradients_of(const GradCase& c) {
  GradChecker g(c);
  std::map<std::string, Tensor> feeds, out;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].defined()) feeds["in" + std::to_string(i)] = c.inputs[i];
  g.session().run(feeds);
  g.session().backward(g.seeds());
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].defined() && is_float(c.inputs[i].dtype()))
      out["in" + std::to_string(i)] = g.session().gradients().fetch("in" + std::to_string(i)).clone();
  out["seed"] = g.seeds().at("out0").clone();
  return out;
}

Tensor values(Shape s, std::vector<float> v) {
  Tensor t(DType::Float32, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) t.data_as<float>()[i] = v[i];
  return t;
}

TEST(GradElementwise, TiesGoToTheFirst) {
  // Max/Min of equal inputs: all to input 0 (where input 1 is strictly better, to input 1).
  for (const char* op : {"Max", "Min"}) {
    Tensor a = values({4}, {1, 2, 3, 4}), b = values({4}, {1, 5, 3, -1});
    auto g = gradients_of(GradCase{.op = op, .inputs = {a, b}});
    const float* s = g["seed"].data_as<float>();
    const bool max = op == std::string("Max");
    for (int64_t i = 0; i < 4; ++i) {
      const float av = a.data_as<float>()[i], bv = b.data_as<float>()[i];
      const bool to_a = av == bv || (max ? av > bv : av < bv);
      EXPECT_EQ(g["in0"].data_as<float>()[i], to_a ? s[i] : 0.f) << op << " element " << i;
      EXPECT_EQ(g["in1"].data_as<float>()[i], to_a ? 0.f : s[i]) << op << " element " << i;
    }
  }
  // ReduceMax/ReduceMin along axis 1: the lowest index among equal extremes.
  Tensor x = values({2, 3}, {1, 3, 3, 0, 0, 2});
  auto gmax = gradients_of(GradCase{.op = "ReduceMax", .opset = 13, .attrs = {{"axes", AttrValue(std::vector<int64_t>{1})}}, .inputs = {x}});
  const float* sm = gmax["seed"].data_as<float>();
  const std::vector<float> emax{0, sm[0], 0, 0, 0, sm[1]};
  auto gmin = gradients_of(GradCase{.op = "ReduceMin", .opset = 13, .attrs = {{"axes", AttrValue(std::vector<int64_t>{1})}}, .inputs = {x}});
  const float* sn = gmin["seed"].data_as<float>();
  const std::vector<float> emin{sn[0], 0, 0, sn[1], 0, 0};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(gmax["in0"].data_as<float>()[i], emax[i]) << "ReduceMax element " << i;
    EXPECT_EQ(gmin["in0"].data_as<float>()[i], emin[i]) << "ReduceMin element " << i;
  }
}

TEST(GradElementwise, KinkConventions) {
  // Relu'(0) = 0, Abs'(0) = 0, LeakyRelu'(0) = alpha, Clip passes on lo <= x <= hi (bounds included).
  Tensor x = values({3}, {-0.5f, 0.f, 0.5f});
  auto relu = gradients_of(GradCase{.op = "Relu", .inputs = {x}});
  auto abs = gradients_of(GradCase{.op = "Abs", .inputs = {x}});
  auto leaky = gradients_of(GradCase{.op = "LeakyRelu", .attrs = {{"alpha", AttrValue(0.25f)}}, .inputs = {x}});
  auto clip = gradients_of(GradCase{.op = "Clip", .opset = 13, .inputs = {x, scalar(-0.5f), scalar(0.f)}});
  const float* s = relu["seed"].data_as<float>();
  const std::vector<float> erelu{0, 0, s[2]}, eabs{-s[0], 0, s[2]}, eleaky{0.25f * s[0], 0.25f * s[1], s[2]},
      eclip{s[0], s[1], 0};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(relu["in0"].data_as<float>()[i], erelu[i]) << "Relu element " << i;
    EXPECT_EQ(abs["in0"].data_as<float>()[i], eabs[i]) << "Abs element " << i;
    EXPECT_FLOAT_EQ(leaky["in0"].data_as<float>()[i], eleaky[i]) << "LeakyRelu element " << i;
    EXPECT_EQ(clip["in0"].data_as<float>()[i], eclip[i]) << "Clip element " << i;
  }
  // Clip's bounds: nothing reaches lo or hi when x sits on them (x gets it instead).
  EXPECT_EQ(clip["in1"].data_as<float>()[0], 0.f);
  EXPECT_EQ(clip["in2"].data_as<float>()[0], s[2]);  // x = 0.5 > hi = 0
}

// ---------------------------------------------------------------------------------------------
// Completeness. Ops of the forward elementwise table whose outputs are never float (comparisons,
// logic, bit shifts, predicates, arg-reductions): nothing flows into them, so no gradient entry.
const std::set<std::string> kNoFloatOutput = {"IsNaN", "IsInf",          "Not",         "Equal", "Greater",
                                              "Less",  "GreaterOrEqual", "LessOrEqual", "And",   "Or",
                                              "Xor",   "BitShift",       "ArgMax",      "ArgMin"};

TEST(GradElementwise, EveryFloatOpHasGradient) {
  netlens::cpu::CpuOpTable fwd;
  netlens::cpu::register_elementwise_ops(fwd);
  netlens::cpu::CpuGradTable grads;
  netlens::cpu::register_elementwise_grads(grads);
  for (const auto& [op, unused] : fwd) {
    if (kNoFloatOutput.count(op)) {
      EXPECT_FALSE(grads.count(op)) << op << " is listed as having no float output but has a gradient entry";
      continue;
    }
    EXPECT_TRUE(grads.count(op)) << op << " is in the forward elementwise table, may output float, and has no gradient";
  }
  for (const auto& [op, unused] : grads) EXPECT_TRUE(fwd.count(op)) << op << " has a gradient but no forward kernel here";
  for (const std::string& op : kNoFloatOutput) EXPECT_TRUE(fwd.count(op)) << op << ": stale entry in kNoFloatOutput";
}

TEST(GradElementwise, EveryGradientIsTested) {
  netlens::cpu::CpuGradTable grads;
  netlens::cpu::register_elementwise_grads(grads);
  std::set<std::string> tested;
  for (const Named& n : cases()) tested.insert(n.c.op);
  for (const auto& [op, unused] : grads) EXPECT_TRUE(tested.count(op)) << op << " has no finite-difference case";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Timing probe (not a timed test: run with --gtest_also_run_disabled_tests): forward kernel vs
// backward kernel on ResNet-sized activations, through the CPU tables directly (no Session
// overhead), each the best of 30 runs.
double best_ms(const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < 30; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void time_op(const std::string& op, std::vector<Tensor> ins, Attrs attrs = {}, int64_t opset = 17,
             std::vector<bool> need = {}) {
  if (need.empty()) need.assign(ins.size(), true);
  netlens::cpu::CpuOpTable fwd;
  netlens::cpu::register_elementwise_ops(fwd);
  netlens::cpu::CpuGradTable grads;
  netlens::cpu::register_elementwise_grads(grads);
  Node n;
  n.name = "probe";
  n.op_type = op;
  n.attrs = attrs;
  NodeContext ctx{n, opset, {}, {}, {}};
  Shape out_shape;
  for (const Tensor& t : ins) {
    ctx.inputs.push_back(TensorInfo{t.dtype(), t.shape()});
    ctx.const_inputs.push_back(nullptr);
    if (t.numel() > numel(out_shape) || out_shape.empty()) out_shape = t.shape();
  }
  if (op.rfind("Reduce", 0) == 0) {  // probe reductions over the spatial dims, keepdims
    out_shape[2] = out_shape[3] = 1;
  }
  ctx.outputs.push_back(TensorInfo{DType::Float32, out_shape});
  Tensor y(DType::Float32, out_shape), gy = random_tensor(out_shape, 9);
  std::vector<Tensor> gin;
  std::vector<TensorView> vin, vgin;
  gin.reserve(ins.size());
  for (size_t i = 0; i < ins.size(); ++i) {
    Tensor& t = ins[i];
    vin.push_back({t.dtype(), t.shape(), t.data()});
    gin.emplace_back(DType::Float32, t.shape());
    vgin.push_back({DType::Float32, t.shape(), need[i] ? gin.back().data() : nullptr});
  }
  std::vector<TensorView> vout{{DType::Float32, out_shape, y.data()}}, vgout{{DType::Float32, out_shape, gy.data()}};
  auto k = fwd.at(op).plan(ctx);
  auto gk = grads.at(op).plan(ctx, need);
  const double f = best_ms([&] { k->run(vin, vout); });
  const double b = best_ms([&] { gk->run(GradViews{vin, vout, vgout, vgin}); });
  std::string tag = netlens::shape_str(ins[0].shape());
  for (size_t i = 1; i < ins.size(); ++i) tag += "," + netlens::shape_str(ins[i].shape()) + (need[i] ? "" : "(no grad)");
  if (!need[0]) tag += " (no grad 0)";
  std::printf("%-12s %-40s forward %7.3f ms  backward %7.3f ms  ratio %.2f\n", op.c_str(),
              tag.c_str(), f, b, b / f);
}

TEST(GradElementwise, DISABLED_TimingProbe) {
  const Shape big{1, 64, 112, 112};
  Tensor x = random_tensor(big, 1), x2 = random_tensor(big, 2), bias = random_tensor({64, 1, 1}, 3);
  time_op("Relu", {x});
  time_op("Sigmoid", {x});
  time_op("HardSwish", {x});
  time_op("HardSigmoid", {x});
  time_op("LeakyRelu", {x});
  time_op("Tanh", {x});
  time_op("Exp", {x});
  time_op("Erf", {x});
  time_op("Gelu", {x}, {}, 20);
  time_op("Softplus", {x});
  time_op("Mish", {x});
  time_op("Add", {x, x2});
  time_op("Add", {x, bias});
  time_op("Mul", {x, x2});
  time_op("Mul", {x, bias});
  time_op("Mul", {x, bias}, {}, 17, {true, false});
  time_op("Mul", {x, bias}, {}, 17, {false, true});
  time_op("Mul", {x, random_tensor({}, 4)}, {}, 17, {false, true});
  time_op("Add", {x, random_tensor({}, 4)}, {}, 17, {false, true});
  time_op("Softmax", {x}, {{"axis", AttrValue(int64_t(-1))}});
  time_op("Softmax", {x}, {{"axis", AttrValue(int64_t(1))}});
  time_op("ReduceMean", {x}, {{"axes", AttrValue(std::vector<int64_t>{2, 3})}}, 11);
  time_op("Clip", {x}, {{"min", AttrValue(0.f)}, {"max", AttrValue(6.f)}}, 6);
}
