// Generated cases for the CPU ops the ported CUDA cases do not reach (odd shapes, the attribute
// variants that change the code path), and the finite-difference annotation of every generated
// case: which input values are kinks of the op's derivative, which ops route gradients through
// comparisons (inputs made tie-free), which cases cannot be finite-differenced and why.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "conformance.hpp"

namespace netlens::conformance {
namespace {

using V = std::vector<int64_t>;

Tensor i64(Shape s, std::vector<int64_t> v) { return Tensor::from_i64(std::move(s), v); }

std::vector<OpCase> unary_more() {
  std::vector<OpCase> c;
  struct U { const char* op; float lo, hi; };
  for (const U& u : std::vector<U>{{"Acos", -0.9f, 0.9f}, {"Asin", -0.9f, 0.9f}, {"Atan", -3, 3}, {"Acosh", 1.2f, 4},
                                   {"Asinh", -3, 3}, {"Atanh", -0.8f, 0.8f}, {"Cosh", -2, 2}, {"Sinh", -2, 2}, {"Tan", -1.2f, 1.2f}})
    for (const Shape& s : std::vector<Shape>{{7}, {3, 5, 11}})
      c.push_back(make_case(u.op, {var(rand_f32(s, u.lo, u.hi))}));
  for (const Shape& s : std::vector<Shape>{{3, 1, 5}, {2, 3, 4}}) {
    c.push_back(make_case("Mean", {var(rand_f32(s)), var(rand_f32({s.back()})), var(rand_f32(s))}));
  }
  Tensor special = rand_f32({4, 9});
  for (int64_t i = 0; i < special.numel(); i += 4)
    special.data_as<float>()[i] = i % 8 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  special.data_as<float>()[1] = -std::numeric_limits<float>::infinity();
  c.push_back(make_case("IsNaN", {var(special)}));
  c.push_back(make_case("IsInf", {var(special)}));
  c.push_back(make_case("IsInf", {var(special)}, {{"detect_negative", int64_t{0}}}));
  c.push_back(make_case("Not", {var(rand_bool({3, 7}))}));
  c.push_back(make_case("Identity", {var(rand_f32({2, 9}))}));
  Tensor u8(DType::UInt8, {2, 5}), sh(DType::UInt8, {5});
  for (int64_t i = 0; i < 10; ++i) u8.data_as<uint8_t>()[i] = static_cast<uint8_t>(17 * i + 3);
  for (int64_t i = 0; i < 5; ++i) sh.data_as<uint8_t>()[i] = static_cast<uint8_t>(i);
  for (const char* dir : {"LEFT", "RIGHT"}) c.push_back(make_case("BitShift", {var(u8), var(sh)}, {{"direction", std::string(dir)}}));
  c.push_back(make_case("CastLike", {var(rand_f32({3, 4})), var(Tensor(DType::Float16, {1}))}));
  c.push_back(make_case("CastLike", {var(rand_f32({5}, -50, 50)), var(rand_i64({2}, 0, 1))}));
  c.push_back(make_case("CastLike", {var(rand_f32({2, 3})), var(rand_f32({1}))}));
  return c;
}

std::vector<OpCase> reductions_more() {
  std::vector<OpCase> c;
  const Shape s{2, 5, 3, 7};
  for (const char* op : {"ReduceLogSum", "ReduceLogSumExp", "ReduceSum", "ReduceProd"})
    for (const V& axes : std::vector<V>{{1}, {0, 3}, {}})
      for (int64_t keep : {0, 1}) {
        std::vector<Input> in{var(rand_f32(s, 0.2f, 1.5f))};
        if (!axes.empty()) in.push_back(cst(i64({static_cast<int64_t>(axes.size())}, axes)));
        c.push_back(make_case(op, in, {{"keepdims", keep}}, 1e-5, 18));
      }
  c.push_back(make_case("ReduceSum", {var(rand_f32(s)), cst(Tensor(DType::Int64, {0}))}, {{"noop_with_empty_axes", int64_t{1}}}, 1e-5, 13));
  for (const char* op : {"ArgMax", "ArgMin"})
    for (int64_t axis : {0, 2, -1})
      for (int64_t last : {0, 1})
        c.push_back(make_case(op, {var(rand_i64(s, -3, 3).cast(DType::Float32))},
                              {{"axis", axis}, {"keepdims", axis == 2 ? int64_t{0} : int64_t{1}}, {"select_last_index", last}}));
  for (int64_t axis : {1, -1}) c.push_back(make_case("Hardmax", {var(rand_f32({3, 4, 6}))}, {{"axis", axis}}));
  for (int64_t axis : {1, -1}) c.push_back(make_case("LogSoftmax", {var(rand_f32({3, 4, 6}, -30, 30))}, {{"axis", axis}}));
  for (int64_t excl : {0, 1})
    for (int64_t rev : {0, 1})
      c.push_back(make_case("CumSum", {var(rand_f32({3, 5, 4})), cst(i64({}, {1}))}, {{"exclusive", excl}, {"reverse", rev}}));
  c.push_back(make_case("CumSum", {var(rand_i64({9}, -5, 5)), cst(i64({}, {-1}))}));
  for (int64_t largest : {0, 1})
    for (int64_t axis : {1, -1})
      c.push_back(make_case("TopK", {var(rand_f32({3, 7, 5})), cst(i64({1}, {3}))}, {{"axis", axis}, {"largest", largest}},
                            1e-5, 17, 2));
  return c;
}

std::vector<OpCase> nn_more() {
  std::vector<OpCase> c;
  c.push_back(make_case("LRN", {var(rand_f32({2, 7, 5, 3}))}, {{"size", int64_t{3}}, {"alpha", 1e-3f}, {"beta", 0.75f}, {"bias", 1.5f}}));
  c.push_back(make_case("LRN", {var(rand_f32({1, 4, 9, 9}))}, {{"size", int64_t{4}}}));
  for (int64_t p : {1, 2})
    for (int64_t axis : {1, -1}) c.push_back(make_case("LpNormalization", {var(rand_f32({3, 5, 4}))}, {{"p", p}, {"axis", axis}}));
  for (const char* eq : {"ij,jk->ik", "bij,bjk->bik", "ii->i", "ij->ji", "i,i->", "abc,cd->abd", "...ij,...jk->...ik"}) {
    const std::string e(eq);
    std::vector<Input> in;
    if (e == "ij,jk->ik") in = {var(rand_f32({4, 5})), var(rand_f32({5, 3}))};
    else if (e == "bij,bjk->bik") in = {var(rand_f32({2, 4, 5})), var(rand_f32({2, 5, 3}))};
    else if (e == "ii->i") in = {var(rand_f32({5, 5}))};
    else if (e == "ij->ji") in = {var(rand_f32({3, 7}))};
    else if (e == "i,i->") in = {var(rand_f32({9})), var(rand_f32({9}))};
    else if (e == "abc,cd->abd") in = {var(rand_f32({2, 3, 4})), var(rand_f32({4, 5}))};
    else in = {var(rand_f32({2, 3, 4})), var(rand_f32({2, 4, 2}))};
    c.push_back(make_case("Einsum", in, {{"equation", e}}, 1e-5, 12));
  }
  return c;
}

std::vector<OpCase> index_more() {
  std::vector<OpCase> c;
  for (const char* mode : {"DCR", "CRD"})
    c.push_back(make_case("DepthToSpace", {var(rand_f32({2, 8, 3, 5}))}, {{"blocksize", int64_t{2}}, {"mode", std::string(mode)}}));
  c.push_back(make_case("SpaceToDepth", {var(rand_f32({2, 3, 6, 4}))}, {{"blocksize", int64_t{2}}}));
  // Indices without repeats where a scatter overwrites (the result would depend on the order).
  c.push_back(make_case("GatherElements", {var(rand_f32({4, 5})), var(rand_i64({3, 5}, -4, 3))}, {{"axis", int64_t{0}}}));
  c.push_back(make_case("GatherElements", {var(rand_f32({3, 6, 2})), var(rand_i64({3, 4, 2}, 0, 5))}, {{"axis", int64_t{1}}}));
  c.push_back(make_case("GatherND", {var(rand_f32({4, 5, 3})), var(i64({2, 2}, {0, 4, 3, -1}))}));
  c.push_back(make_case("GatherND", {var(rand_f32({2, 5, 3})), var(i64({2, 1, 1}, {4, 2}))}, {{"batch_dims", int64_t{1}}}));
  const Tensor perm_rows = i64({2, 3}, {2, 0, 3, 1, 3, 0});  // rows unique per column
  c.push_back(make_case("ScatterElements", {var(rand_f32({4, 3})), var(perm_rows), var(rand_f32({2, 3}))}, {{"axis", int64_t{0}}}, 1e-5, 16));
  for (const char* red : {"add", "mul", "max", "min"})
    c.push_back(make_case("ScatterElements", {var(rand_f32({4, 3})), var(i64({3, 3}, {1, 1, 0, 3, 1, 2, 1, 0, 2})), var(rand_f32({3, 3}))},
                          {{"axis", int64_t{0}}, {"reduction", std::string(red)}}, 1e-5, 18));
  c.push_back(make_case("Scatter", {var(rand_f32({3, 5})), var(i64({3, 2}, {4, 0, 1, 3, 2, 0})), var(rand_f32({3, 2}))},
                        {{"axis", int64_t{1}}}, 1e-5, 10));
  c.push_back(make_case("ScatterND", {var(rand_f32({4, 5, 2})), var(i64({2, 1}, {3, 1})), var(rand_f32({2, 5, 2}))}, {}, 1e-5, 16));
  c.push_back(make_case("ScatterND", {var(rand_f32({4, 5})), var(i64({3, 2}, {0, 1, 3, 4, 0, 1})), var(rand_f32({3}))},
                        {{"reduction", std::string("add")}}, 1e-5, 16));
  for (int64_t upper : {0, 1}) {
    c.push_back(make_case("Trilu", {var(rand_f32({2, 4, 6})), cst(i64({}, {1}))}, {{"upper", upper}}, 1e-5, 14));
    c.push_back(make_case("Trilu", {var(rand_f32({5, 3}))}, {{"upper", upper}}, 1e-5, 14));
  }
  c.push_back(make_case("ReverseSequence", {var(rand_f32({5, 3, 2})), var(i64({3}, {5, 1, 3}))},
                        {{"batch_axis", int64_t{1}}, {"time_axis", int64_t{0}}}));
  c.push_back(make_case("ReverseSequence", {var(rand_f32({3, 4})), var(i64({3}, {2, 4, 1}))},
                        {{"batch_axis", int64_t{0}}, {"time_axis", int64_t{1}}}));
  Tensor cond(DType::Bool, {5});
  for (int64_t i = 0; i < 5; ++i) cond.data_as<uint8_t>()[i] = i % 2 == 0;
  c.push_back(make_case("Compress", {var(rand_f32({3, 5})), cst(cond)}, {{"axis", int64_t{1}}}));
  c.push_back(make_case("Compress", {var(rand_f32({2, 3})), cst(cond)}));
  c.push_back(make_case("OneHot", {var(i64({2, 3}, {0, 4, -1, 2, 3, 1})), cst(i64({}, {5})), var(Tensor::from_f32({2}, {-0.5f, 2.0f}))},
                        {{"axis", int64_t{-1}}}, 1e-5, 11));
  c.push_back(make_case("OneHot", {var(i64({4}, {1, 0, 2, 2})), cst(i64({}, {3})), var(Tensor::from_f32({2}, {0.25f, 1.5f}))},
                        {{"axis", int64_t{0}}}, 1e-5, 11));
  c.push_back(make_case("Upsample", {var(rand_f32({1, 2, 3, 4})), cst(Tensor::from_f32({4}, {1, 1, 2, 3}))},
                        {{"mode", std::string("nearest")}}, 1e-5, 9));
  c.push_back(make_case("Upsample", {var(rand_f32({1, 2, 3, 4})), cst(Tensor::from_f32({4}, {1, 1, 2, 2}))},
                        {{"mode", std::string("linear")}}, 1e-5, 9));
  c.push_back(make_case("Resize", {var(rand_f32({1, 2, 4, 5})), none(), cst(Tensor::from_f32({4}, {1, 1, 1.5f, 2}))},
                        {{"mode", std::string("cubic")}}, 1e-5, 13));
  return c;
}

std::vector<OpCase> shape_more() {
  std::vector<OpCase> c;
  c.push_back(make_case("Shape", {var(rand_f32({2, 3, 5, 7}))}));
  c.push_back(make_case("Shape", {var(rand_f32({2, 3, 5, 7}))}, {{"start", int64_t{1}}, {"end", int64_t{-1}}}, 1e-5, 15));
  c.push_back(make_case("Size", {var(rand_f32({2, 3, 5}))}));
  c.push_back(make_case("NonZero", {cst(rand_i64({3, 5}, -1, 1))}, {}, 1e-5, 13));  // output size = its values
  Tensor value = Tensor::from_f32({1}, {2.5f});
  c.push_back(make_case("ConstantOfShape", {cst(i64({3}, {2, 3, 4}))}, {{"value", value}}));
  c.push_back(make_case("Constant", {}, {{"value", rand_f32({3, 4})}}));
  c.push_back(make_case("Range", {cst(Tensor::scalar_f32(1.5f)), cst(Tensor::scalar_f32(9.0f)), cst(Tensor::scalar_f32(0.7f))}, {}, 1e-5, 11));
  c.push_back(make_case("Range", {cst(i64({}, {10})), cst(i64({}, {-3})), cst(i64({}, {-3}))}, {}, 1e-5, 11));
  c.push_back(make_case("EyeLike", {var(rand_f32({4, 6}))}, {{"k", int64_t{1}}}));
  c.push_back(make_case("EyeLike", {var(rand_i64({5, 3}, 0, 1))}, {{"k", int64_t{-1}}, {"dtype", int64_t{1}}}));
  c.push_back(make_case("Unique", {cst(Tensor::from_f32({8}, {2, 1, 1, 3, 4, 3, 0, 2}))}, {{"sorted", int64_t{1}}}, 1e-5, 11, 4));
  c.push_back(make_case("Unique", {cst(i64({3, 2}, {1, 2, 1, 2, 0, 5}))}, {{"axis", int64_t{0}}}, 1e-5, 11, 4));
  return c;
}

// Finite-difference annotation by op: kinks of the derivative, tie-sensitive ops, domains.
void annotate_fd(OpCase& c) {
  const std::string& op = c.node.op_type;
  for (const Input& i : c.inputs)
    if (i.value.defined() && is_float(i.value.dtype()) && i.value.dtype() != DType::Float32) {
      c.fd = false;
      c.no_fd = "float16/float64 inputs: a central difference drowns in their rounding";
      return;
    }
  if (c.source == "generated/non_finite") {
    c.fd = false;
    c.no_fd = "non-finite inputs";
    return;
  }
  if (op == "Mod") {
    c.fd = false;
    c.no_fd = "jumps wherever x crosses a multiple of y (tests/grad checks chosen points)";
    return;
  }
  static const std::set<std::string> kink0 = {"Relu", "LeakyRelu", "PRelu", "Abs", "Elu", "Selu", "Sign", "ReduceL1",
                                               "LpNormalization", "Celu", "ReduceL2"};
  if (kink0.count(op)) c.kinks = {0.0f};
  if (op == "HardSigmoid") {
    const float a = c.node.attr_float("alpha", 0.2f), b = c.node.attr_float("beta", 0.5f);
    c.kinks = {-b / a, (1 - b) / a};
  }
  if (op == "HardSwish") c.kinks = {-3.0f, 3.0f};
  if (op == "ThresholdedRelu") c.kinks = {c.node.attr_float("alpha", 1.0f)};
  if (op == "Clip") {
    if (c.node.has_attr("min")) c.kinks.push_back(c.node.attr_float("min", 0));
    if (c.node.has_attr("max")) c.kinks.push_back(c.node.attr_float("max", 0));
    for (size_t i = 1; i < c.inputs.size(); ++i)
      if (c.inputs[i].value.defined()) c.kinks.push_back(static_cast<float>(c.inputs[i].value.get_f64(0)));
    c.fd_skip = {false, true, true};  // the bounds: S is flat in them except on the clipped set
  }
  if (op == "Floor" || op == "Ceil" || op == "Round")
    for (int k = -8; k <= 8; ++k) c.kinks.push_back(op == "Round" ? static_cast<float>(k) + 0.5f : static_cast<float>(k));
  static const std::set<std::string> ties = {"Max", "Min", "MaxPool", "GlobalMaxPool", "ReduceMax", "ReduceMin", "TopK",
                                             "Hardmax", "ScatterElements", "ScatterND"};
  if (ties.count(op)) c.distinct = true;
  if (op == "Resize" || op == "Upsample") c.fd_skip = {false, true, true, true};
  // Steep near 0 (or undefined below): a step of 1e-2 max|x| must stay inside the domain.
  static const std::set<std::string> positive = {"Sqrt", "Log", "Reciprocal", "Div", "Pow"};
  if (positive.count(op)) {
    c.fd_min = 0.5f;
    c.fd_tol = 1e-2;  // central-difference error (h/x)^2 f'''/6f' is about 4e-3 at x = 0.5
  }
  if (op == "BatchNormalization") {  // (var + eps)^-1/2 is steep for small variances
    c.fd_min = 0.5f;
    c.fd_min_input = 4;
  }
  int64_t elems = 0;
  for (const Input& i : c.inputs) elems += i.value.defined() ? i.value.numel() : 0;
  // S sums many float32 outputs: its rounding limits a directional difference to about 1e-2.
  if (elems > 500) c.fd_tol = std::max(c.fd_tol, 2e-2);
  if (c.distinct && elems > 2000) {
    c.fd = false;
    c.no_fd = "comparison-routed op over 2000 elements: the tie-free spacing is below the difference step";
  }
}

std::vector<OpCase> all_generated() {
  std::vector<OpCase> all;
  for (auto* families : {&ported_families, &extra_families})
    for (auto& [family, cases] : (*families)())
      for (OpCase& c : cases) {
        c.source = "generated/" + family;
        annotate_fd(c);
        if (!c.node.has_attr("auto_pad") || c.node.op_type != "ConvTranspose") attach_reference(c);
        all.push_back(std::move(c));
      }
  return all;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<OpCase>>> extra_families() {
  return {{"unary_more", unary_more()}, {"reductions_more", reductions_more()}, {"nn_more", nn_more()},
          {"index_more", index_more()}, {"shape_more", shape_more()}, {"cpu_reference", reference_cases()}};
}

const std::vector<OpCase>& generated_cases() {
  static const std::vector<OpCase> cases = all_generated();
  return cases;
}

}  // namespace netlens::conformance
