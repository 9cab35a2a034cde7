// Elementwise CPU ops (shape inference + kernels) against direct double-precision computations.
//
// Every op runs through the real path: the OpRegistry shape function, then the CPU backend's
// unsupported_reason/plan (with its float16 → float32 wrapper) and Kernel::run.
// Tolerances: float32 results vs the double reference |got - ref| <= 1e-5 * |ref| + 1e-6 for
// elementwise maths (a few float ulps); reductions and softmax 1e-5 relative + 1e-5 absolute
// (float32 inputs, double accumulation); integer and bool results exactly.
// Longer than about 600 lines: one short case per op of the family, all on this
// file's node-building and reference helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cpu_reference.hpp"
#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Backend& cpu() {
  static std::unique_ptr<Backend> b = make_cpu_backend();
  return *b;
}

Node make_node(const std::string& op, size_t n_inputs, std::map<std::string, AttrValue> attrs = {}) {
  Node n;
  n.op_type = op;
  n.name = op + "_test";
  for (size_t i = 0; i < n_inputs; ++i) n.inputs.push_back("x" + std::to_string(i));
  n.outputs = {"y"};
  n.attrs = std::move(attrs);
  return n;
}

// Runs one node: shape inference, backend check, plan, run. Undefined input tensors are omitted
// optional inputs; inputs listed in `consts` are passed as constants.
std::vector<Tensor> run_op(Node node, int64_t opset, const std::vector<Tensor>& ins,
                           const std::set<size_t>& consts = {}) {
  for (size_t i = 0; i < ins.size() && i < node.inputs.size(); ++i)
    if (!ins[i].defined()) node.inputs[i] = "";
  std::vector<TensorInfo> infos(ins.size());
  std::vector<const TensorInfo*> ptrs(ins.size(), nullptr);
  std::vector<const Tensor*> cptrs(ins.size(), nullptr);
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i].defined()) continue;
    infos[i] = {ins[i].dtype(), ins[i].shape()};
    ptrs[i] = &infos[i];
    if (consts.count(i)) cptrs[i] = &ins[i];
  }
  const InferFn* fn = OpRegistry::global().find(node.op_type);
  if (!fn) throw Error(ErrorKind::Unsupported, "no shape function for " + node.op_type);
  InferContext ictx{node, opset, ptrs, cptrs};
  std::vector<TensorInfo> outs_info = (*fn)(ictx);
  NodeContext nctx{node, opset, infos, outs_info, cptrs};
  if (auto reason = cpu().unsupported_reason(nctx)) throw Error(ErrorKind::Unsupported, *reason);
  std::unique_ptr<Kernel> k = cpu().plan(nctx);
  std::vector<Tensor> outs;
  std::vector<TensorView> vin, vout;
  for (const Tensor& t : ins)
    vin.push_back(t.defined() ? TensorView{t.dtype(), t.shape(), const_cast<void*>(t.data())} : TensorView{});
  for (const TensorInfo& info : outs_info) {
    outs.emplace_back(info.dtype, info.shape);
    vout.push_back({info.dtype, info.shape, outs.back().data()});
  }
  k->run(vin, vout);
  return outs;
}

Tensor run1(const Node& node, int64_t opset, const std::vector<Tensor>& ins, const std::set<size_t>& consts = {}) {
  return run_op(node, opset, ins, consts).at(0);
}

std::mt19937& rng() {
  static std::mt19937 g(1234);
  return g;
}

Tensor rand_f32(const Shape& s, double lo = -3.0, double hi = 3.0) {
  std::uniform_real_distribution<double> d(lo, hi);
  Tensor t(DType::Float32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = static_cast<float>(d(rng()));
  return t;
}

template <class T>
Tensor rand_int(DType dt, const Shape& s, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> d(lo, hi);
  Tensor t(dt, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<T>()[i] = static_cast<T>(d(rng()));
  return t;
}

Tensor rand_bool(const Shape& s) { return rand_int<uint8_t>(DType::Bool, s, 0, 1); }

// Flat index into a tensor of shape `s` for output element `flat` of the broadcast shape `out`.
int64_t bidx(const Shape& s, const Shape& out, int64_t flat) {
  int64_t idx = 0, stride = 1;
  for (size_t k = 0; k < out.size(); ++k) {
    const size_t d = out.size() - 1 - k;
    const int64_t coord = flat % out[d];
    flat /= out[d];
    if (k < s.size()) {
      const size_t sd = s.size() - 1 - k;
      if (s[sd] != 1) idx += coord * stride;
      stride *= s[sd];
    }
  }
  return idx;
}

Shape bshape(const std::vector<Shape>& shapes) {
  size_t r = 0;
  for (const auto& s : shapes) r = std::max(r, s.size());
  Shape out(r, 1);
  for (const auto& s : shapes)
    for (size_t k = 0; k < s.size(); ++k) {
      const int64_t d = s[s.size() - 1 - k];
      if (d != 1) out[r - 1 - k] = d;
    }
  return out;
}

::testing::AssertionResult close(double got, double ref, double rtol, double atol) {
  if (std::isnan(ref) && std::isnan(got)) return ::testing::AssertionSuccess();
  if (std::isinf(ref) && got == ref) return ::testing::AssertionSuccess();
  if (std::isfinite(got) && std::fabs(got - ref) <= atol + rtol * std::fabs(ref)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", expected " << ref;
}

void expect_all_close(const Tensor& got, const std::vector<double>& ref, double rtol, double atol,
                      const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(ref.size())) << what;
  int bad = 0;
  for (int64_t i = 0; i < got.numel() && bad < 5; ++i) {
    auto r = close(got.get_f64(i), ref[static_cast<size_t>(i)], rtol, atol);
    if (!r) {
      ++bad;
      ADD_FAILURE() << what << " [" << i << "]: " << r.message();
    }
  }
}

void expect_exact(const Tensor& got, const std::vector<int64_t>& ref, const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(ref.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_EQ(got.get_i64(i), ref[static_cast<size_t>(i)]) << what << " [" << i << "]";
}

// ---------------------------------------------------------------------------------------------
// The double references of the float unary ops (cpu_reference.hpp, shared with tests/conformance).
using UnaryCase = netlens::cpuref::UnaryRef;
using netlens::cpuref::sigmoid;
using netlens::cpuref::softplus;

TEST(ElementwiseUnary, FloatOpsMatchDouble) {
  const std::vector<UnaryCase> cases = netlens::cpuref::unary_refs();
  // An odd size, and one above the OpenMP threshold.
  for (const Shape& shape : {Shape{3, 7, 5}, Shape{41, 1013}}) {
    for (const auto& c : cases) {
      Tensor x = rand_f32(shape, c.lo, c.hi);
      Tensor y = run1(make_node(c.op, 1, c.attrs), 18, {x});
      ASSERT_EQ(y.shape(), shape);
      ASSERT_EQ(y.dtype(), DType::Float32);
      std::vector<double> ref;
      for (int64_t i = 0; i < x.numel(); ++i) ref.push_back(c.ref(x.get_f64(i)));
      expect_all_close(y, ref, 1e-5, 1e-6, c.op + " " + shape_str(shape));
    }
  }
}

// Large tensors take the oneDNN paths (Sigmoid, Tanh, Exp, Mish, Elu, Gelu): check them over a
// wide range, with NaN, infinities and extreme values mixed in.
TEST(ElementwiseUnary, FastPathsOverWideRangeAndSpecialValues) {
  const double pi = 3.14159265358979323846;
  std::vector<UnaryCase> cases = {
      {"Sigmoid", {}, sigmoid},
      {"Tanh", {}, [](double x) { return std::tanh(x); }},
      {"Exp", {}, [](double x) { return std::exp(x); }},
      {"Elu", {{"alpha", 0.7f}}, [](double x) { return x < 0 ? 0.7f * std::expm1(x) : x; }},
      {"Mish", {}, [](double x) { return x * std::tanh(softplus(x)); }},
      {"Softplus", {}, softplus},
      {"Erf", {}, [](double x) { return std::erf(x); }},
      {"Gelu", {}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"Gelu", {{"approximate", std::string("tanh")}}, [pi](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x)));
       }},
  };
  for (const auto& c : cases) {
    // Exp overflows float above ~88.7; keep its finite range there.
    const double range = c.op == "Exp" ? 85 : c.op == "Erf" ? 5 : 40;
    Tensor x = rand_f32({5000}, -range, range);
    float* p = x.data_as<float>();
    p[0] = NAN;
    p[1] = -NAN;
    p[2] = static_cast<float>(range);
    p[3] = static_cast<float>(-range);
    p[4] = 0.f;
    p[5] = 1e-20f;
    // Around the branch points of the vectorised Erf (1 and 4) and tiny values.
    const float edges[] = {0.9999f, 1.f, -1.f, 1.0001f, 3.999f, 4.f, -4.5f, 1e-4f, -2e-3f};
    for (size_t i = 0; i < std::size(edges); ++i) p[20 + i] = edges[i];
    const bool inf_ok = c.op == "Sigmoid" || c.op == "Tanh" || c.op == "Exp" || c.op == "Elu" ||
                        c.op == "Softplus" || c.op == "Erf";
    if (inf_ok) p[6] = INFINITY, p[7] = -INFINITY;
    Tensor y = run1(make_node(c.op, 1, c.attrs), 20, {x});
    std::vector<double> ref;
    for (int64_t i = 0; i < x.numel(); ++i) ref.push_back(c.ref(x.get_f64(i)));
    // Near the ends of the range the functions are at their asymptotes; a few float ulps there.
    expect_all_close(y, ref, 1e-5, 1e-6, c.op + " wide range");
  }
}

// Erf (elementwise_erf.hpp; the fused chains' Erf step calls the same function) within 4 float32
// ulps of double erf on every 1021st float of magnitude below 6 (both signs, subnormals included),
// exact at the ends: +-0 keeps its sign, +-inf gives +-1, NaN stays NaN.
TEST(ElementwiseUnary, ErfWithinFourUlpsOfDouble) {
  std::vector<float> xs;
  for (uint32_t bits = 0; bits < 0x40C00000u; bits += 1021) {
    float v;
    std::memcpy(&v, &bits, sizeof v);
    xs.push_back(v);
    xs.push_back(-v);
  }
  xs.insert(xs.end(), {0.f, -0.f, 1.f, -1.f, 4.f, -4.f, 3.9999998f, 1e6f, INFINITY, -INFINITY, NAN});
  const int64_t n = static_cast<int64_t>(xs.size());
  const Tensor y = run1(make_node("Erf", 1), 13, {Tensor::from_f32({n}, xs)});
  const float* p = y.data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float x = xs[static_cast<size_t>(i)];
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(p[i]));
      continue;
    }
    const double want = std::erf(static_cast<double>(x));
    const float w = static_cast<float>(std::fabs(want));
    const double ulp = w == 0.f ? std::numeric_limits<float>::denorm_min()
                                : std::min(std::nextafter(w, INFINITY) - w, w - std::nextafter(w, 0.f));
    ASSERT_LE(std::fabs(p[i] - want), 4 * ulp) << "erf(" << x << ") = " << p[i] << ", want " << want;
    ASSERT_EQ(std::signbit(p[i]), std::signbit(x)) << "erf(" << x << ")";
  }
}

TEST(ElementwiseUnary, RoundIsHalfToEven) {
  Tensor x = Tensor::from_f32({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f, 3.5f});
  Tensor y = run1(make_node("Round", 1), 13, {x});
  expect_all_close(y, {0, 2, 2, -0.0, -2, 2, -3, 4}, 0, 0, "Round");
}

TEST(ElementwiseUnary, NanAndInfPropagate) {
  Tensor x = Tensor::from_f32({4}, {NAN, INFINITY, -INFINITY, -1.f});
  expect_all_close(run1(make_node("Relu", 1), 14, {x}), {kNaN, kInf, 0, 0}, 0, 0, "Relu");
  expect_all_close(run1(make_node("Sigmoid", 1), 13, {x}), {kNaN, 1, 0, sigmoid(-1)}, 1e-6, 0, "Sigmoid");
  expect_all_close(run1(make_node("Tanh", 1), 13, {x}), {kNaN, 1, -1, std::tanh(-1.0)}, 1e-6, 0, "Tanh");
  expect_all_close(run1(make_node("LeakyRelu", 1), 13, {x}), {kNaN, kInf, -kInf, -0.01f}, 1e-6, 0, "LeakyRelu");
  expect_all_close(run1(make_node("Softplus", 1), 13, {x}), {kNaN, kInf, 0, softplus(-1)}, 1e-6, 0, "Softplus");
  expect_all_close(run1(make_node("HardSigmoid", 1), 13, {x}), {kNaN, 1, 0, 0.3}, 1e-6, 0, "HardSigmoid");
  expect_all_close(run1(make_node("Abs", 1), 13, {x}), {kNaN, kInf, kInf, 1}, 0, 0, "Abs");
  expect_all_close(run1(make_node("Sign", 1), 13, {x}), {kNaN, 1, -1, -1}, 0, 0, "Sign");
  expect_exact(run1(make_node("IsNaN", 1), 13, {x}), {1, 0, 0, 0}, "IsNaN");
  expect_exact(run1(make_node("IsInf", 1), 10, {x}), {0, 1, 1, 0}, "IsInf");
  expect_exact(run1(make_node("IsInf", 1, {{"detect_negative", int64_t{0}}}), 10, {x}), {0, 1, 0, 0}, "IsInf+");
  expect_exact(run1(make_node("IsInf", 1, {{"detect_positive", int64_t{0}}}), 10, {x}), {0, 0, 1, 0}, "IsInf-");
  EXPECT_EQ(run1(make_node("IsNaN", 1), 13, {x}).dtype(), DType::Bool);
}

TEST(ElementwiseUnary, IntegerUnary) {
  Tensor x = Tensor::from_i64({5}, {-7, 0, 5, std::numeric_limits<int64_t>::min(), 3});
  expect_exact(run1(make_node("Neg", 1), 13, {x}), {7, 0, -5, std::numeric_limits<int64_t>::min(), -3}, "Neg");
  expect_exact(run1(make_node("Abs", 1), 13, {x}), {7, 0, 5, std::numeric_limits<int64_t>::min(), 3}, "Abs");
  expect_exact(run1(make_node("Sign", 1), 13, {x}), {-1, 0, 1, -1, 1}, "Sign");
  expect_exact(run1(make_node("Relu", 1), 14, {x}), {0, 0, 5, 0, 3}, "Relu");
  Tensor x32 = x.cast(DType::Int32);
  Tensor n32 = run1(make_node("Neg", 1), 13, {Tensor::from_i64({3}, {-7, 0, 5}).cast(DType::Int32)});
  EXPECT_EQ(n32.dtype(), DType::Int32);
  expect_exact(n32, {7, 0, -5}, "Neg int32");
  Tensor b = Tensor::from_i64({4}, {0, 1, 1, 0}).cast(DType::Bool);
  Tensor nb = run1(make_node("Not", 1), 1, {b});
  EXPECT_EQ(nb.dtype(), DType::Bool);
  expect_exact(nb, {1, 0, 0, 1}, "Not");
}

// ---------------------------------------------------------------------------------------------
struct BinCase {
  std::string op;
  std::map<std::string, AttrValue> attrs;
  std::function<double(double, double)> ref;
  double lo = -3, hi = 3, blo = -3, bhi = 3;
};

const std::vector<std::pair<Shape, Shape>>& bcast_pairs() {
  static const std::vector<std::pair<Shape, Shape>> p = {
      {{2, 1, 5}, {3, 1}},          {{3, 4}, {3, 4}},          {{3, 4}, {}},
      {{}, {3, 4}},                 {{1, 3, 1, 5}, {2, 1, 4, 1}}, {{2, 3, 4, 5}, {3, 1, 1}},
      {{7}, {1}},                   {{2, 3, 4, 5}, {5}},       {{5, 1}, {1, 5}},
      {{16, 3, 32, 32}, {3, 1, 1}}, {{1, 64, 600}, {64, 1}},   {{9, 2, 5}, {9, 2, 5}},
      {{0, 3}, {1, 3}},
  };
  return p;
}

TEST(ElementwiseBinary, FloatBroadcastMatchesDouble) {
  std::vector<BinCase> cases = {
      {"Add", {}, [](double a, double b) { return a + b; }},
      {"Sub", {}, [](double a, double b) { return a - b; }},
      {"Mul", {}, [](double a, double b) { return a * b; }},
      {"Div", {}, [](double a, double b) { return a / b; }, -3, 3, 0.5, 3},
      {"Pow", {}, [](double a, double b) { return std::pow(a, b); }, 0.1, 3, -2, 2},
      {"Mod", {{"fmod", int64_t{1}}}, [](double a, double b) { return std::fmod(a, b); }, -10, 10, 0.5, 3},
      {"Mod", {{"fmod", int64_t{1}}}, [](double a, double b) { return std::fmod(a, b); }, -10, 10, -3, -0.5},
      {"Max", {}, [](double a, double b) { return std::max(a, b); }},
      {"Min", {}, [](double a, double b) { return std::min(a, b); }},
      {"Sum", {}, [](double a, double b) { return a + b; }},
      {"Mean", {}, [](double a, double b) { return (a + b) / 2; }},
      {"PRelu", {}, [](double a, double b) { return a < 0 ? a * b : a; }},
  };
  for (const auto& [sa, sb] : bcast_pairs()) {
    const Shape out = bshape({sa, sb});
    for (const auto& c : cases) {
      if (c.op == "PRelu" && out != sa) continue;  // unidirectional only
      Tensor a = rand_f32(sa, c.lo, c.hi), b = rand_f32(sb, c.blo, c.bhi);
      Tensor y = run1(make_node(c.op, 2, c.attrs), 13, {a, b});
      ASSERT_EQ(y.shape(), out) << c.op << " " << shape_str(sa) << " " << shape_str(sb);
      std::vector<double> ref;
      for (int64_t i = 0; i < numel(out); ++i)
        ref.push_back(c.ref(a.get_f64(bidx(sa, out, i)), b.get_f64(bidx(sb, out, i))));
      expect_all_close(y, ref, 1e-5, 1e-6, c.op + " " + shape_str(sa) + " with " + shape_str(sb));
    }
  }
}

// Outputs of 256 KiB and more are computed in blocks and streamed (elementwise_common.hpp): bias
// rows (odd lengths, so rows start at every alignment), full-shape and scalar operands, an in-place
// accumulation (Sum), and the per-plane scalar case that is not streamed, all bit for bit against
// the float32 expression, and integer outputs (Equal's uint8).
TEST(ElementwiseBinary, LargeOutputsStreamedBitForBit) {
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {{{197, 3071}, {3071}}, {{3, 101, 1013}, {1, 1, 1013}}, {{700, 1001}, {700, 1001}},
                        {{700, 1001}, {}}, {{}, {700, 1001}}, {{1, 96, 57, 57}, {1, 96, 1, 1}}};
  for (const Case& c : cases) {
    const Shape out = bshape({c.a, c.b});
    const Tensor a = rand_f32(c.a), b = rand_f32(c.b);
    for (const char* op : {"Add", "Mul", "Sub", "Div", "Sum"}) {
      const Tensor y = run1(make_node(op, 2), 13, {a, b});
      ASSERT_EQ(y.shape(), out);
      for (int64_t i = 0; i < numel(out); ++i) {
        const float x = a.data_as<float>()[bidx(c.a, out, i)], z = b.data_as<float>()[bidx(c.b, out, i)];
        const std::string o = op;
        const float want = o == "Mul" ? x * z : o == "Sub" ? x - z : o == "Div" ? x / z : x + z;
        ASSERT_EQ(y.data_as<float>()[i], want) << op << " " << shape_str(c.a) << " with " << shape_str(c.b) << " at " << i;
      }
    }
    const Tensor e = run1(make_node("Equal", 2), 13, {a, a.numel() == 1 ? a : b});
    for (int64_t i = 0; i < numel(e.shape()); ++i) {
      const float x = a.data_as<float>()[bidx(c.a, e.shape(), i)];
      const float z = (a.numel() == 1 ? a : b).data_as<float>()[bidx(a.numel() == 1 ? c.a : c.b, e.shape(), i)];
      ASSERT_EQ(e.data_as<uint8_t>()[i], x == z ? 1 : 0) << i;
    }
  }
}

TEST(ElementwiseBinary, ComparisonsBroadcast) {
  std::vector<std::pair<std::string, std::function<bool(double, double)>>> cases = {
      {"Equal", [](double a, double b) { return a == b; }},
      {"Greater", [](double a, double b) { return a > b; }},
      {"Less", [](double a, double b) { return a < b; }},
      {"GreaterOrEqual", [](double a, double b) { return a >= b; }},
      {"LessOrEqual", [](double a, double b) { return a <= b; }},
  };
  for (const auto& [sa, sb] : bcast_pairs()) {
    const Shape out = bshape({sa, sb});
    // Small integers so that equality actually happens; once as float32, once as int64.
    for (DType dt : {DType::Float32, DType::Int64, DType::Int32}) {
      Tensor a = rand_int<int64_t>(DType::Int64, sa, -2, 2).cast(dt);
      Tensor b = rand_int<int64_t>(DType::Int64, sb, -2, 2).cast(dt);
      for (const auto& [op, f] : cases) {
        Tensor y = run1(make_node(op, 2), 16, {a, b});
        ASSERT_EQ(y.dtype(), DType::Bool);
        std::vector<int64_t> ref;
        for (int64_t i = 0; i < numel(out); ++i)
          ref.push_back(f(a.get_f64(bidx(sa, out, i)), b.get_f64(bidx(sb, out, i))));
        expect_exact(y, ref, op + " " + std::string(dtype_name(dt)) + " " + shape_str(sa) + " " + shape_str(sb));
      }
    }
  }
}

TEST(ElementwiseBinary, Int64ArithmeticIsExact) {
  const Shape sa{4, 1, 6}, sb{3, 1};
  const Shape out = bshape({sa, sb});
  Tensor a = rand_int<int64_t>(DType::Int64, sa, -1000000000000, 1000000000000);
  Tensor b = rand_int<int64_t>(DType::Int64, sb, -50, 50);
  b.data_as<int64_t>()[0] = 7;  // no zero divisors here (see DivideByZero)
  for (int64_t i = 0; i < b.numel(); ++i)
    if (b.data_as<int64_t>()[i] == 0) b.data_as<int64_t>()[i] = -3;
  auto pymod = [](int64_t x, int64_t y) {
    int64_t r = x % y;
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
  };
  std::vector<std::tuple<std::string, std::map<std::string, AttrValue>, std::function<int64_t(int64_t, int64_t)>>> cases = {
      {"Add", {}, [](int64_t x, int64_t y) { return x + y; }},
      {"Sub", {}, [](int64_t x, int64_t y) { return x - y; }},
      {"Mul", {}, [](int64_t x, int64_t y) { return x * y; }},
      {"Div", {}, [](int64_t x, int64_t y) { return x / y; }},  // C truncation toward zero
      {"Mod", {}, pymod},
      {"Mod", {{"fmod", int64_t{1}}}, [](int64_t x, int64_t y) { return x % y; }},
      {"Max", {}, [](int64_t x, int64_t y) { return std::max(x, y); }},
      {"Min", {}, [](int64_t x, int64_t y) { return std::min(x, y); }},
  };
  for (DType dt : {DType::Int64, DType::Int32}) {
    Tensor ta = dt == DType::Int64 ? a : rand_int<int32_t>(DType::Int32, sa, -100000, 100000);
    Tensor tb = b.cast(dt);
    for (const auto& [op, attrs, f] : cases) {
      Tensor y = run1(make_node(op, 2, attrs), 13, {ta, tb});
      ASSERT_EQ(y.dtype(), dt);
      std::vector<int64_t> ref;
      for (int64_t i = 0; i < numel(out); ++i)
        ref.push_back(f(ta.get_i64(bidx(sa, out, i)), tb.get_i64(bidx(sb, out, i))));
      expect_exact(y, ref, op + " " + std::string(dtype_name(dt)));
    }
  }
  // The typical shape-subgraph case: scalar int64 arithmetic.
  expect_exact(run1(make_node("Div", 2), 13, {Tensor::from_i64({}, {-7}), Tensor::from_i64({}, {2})}), {-3}, "Div");
  expect_exact(run1(make_node("Mul", 2), 13, {Tensor::from_i64({2}, {3, 4}), Tensor::from_i64({}, {5})}), {15, 20},
               "Mul");
}

TEST(ElementwiseBinary, SmallIntegerTypes) {
  Tensor a = Tensor::from_i64({4}, {200, 3, 250, 17}).cast(DType::UInt8);
  Tensor b = Tensor::from_i64({4}, {100, 5, 10, 4}).cast(DType::UInt8);
  expect_exact(run1(make_node("Add", 2), 14, {a, b}), {44, 8, 4, 21}, "Add uint8 wraps");
  expect_exact(run1(make_node("Sub", 2), 14, {a, b}), {100, 254, 240, 13}, "Sub uint8 wraps");
  expect_exact(run1(make_node("Div", 2), 14, {a, b}), {2, 0, 25, 4}, "Div uint8");
  Tensor c = Tensor::from_i64({3}, {-128, 100, -5}).cast(DType::Int8);
  Tensor d = Tensor::from_i64({3}, {-1, 3, 2}).cast(DType::Int8);
  expect_exact(run1(make_node("Div", 2), 14, {c, d}), {-128, 33, -2}, "Div int8");
  expect_exact(run1(make_node("Mod", 2), 14, {c, d}), {0, 1, 1}, "Mod int8");
  Tensor u16a = Tensor::from_i64({2}, {65535, 7}).cast(DType::UInt16);
  Tensor u16b = Tensor::from_i64({2}, {1, 9}).cast(DType::UInt16);
  expect_exact(run1(make_node("Max", 2), 13, {u16a, u16b}), {65535, 9}, "Max uint16");
}

TEST(ElementwiseBinary, DivideByZeroDoesNotCrash) {
  // Integer division by zero is undefined in ONNX; we return 0 rather than trapping.
  Tensor a = Tensor::from_i64({3}, {5, -5, 0});
  Tensor z = Tensor::from_i64({3}, {0, 0, 0});
  expect_exact(run1(make_node("Div", 2), 13, {a, z}), {0, 0, 0}, "Div by 0");
  expect_exact(run1(make_node("Mod", 2), 13, {a, z}), {0, 0, 0}, "Mod by 0");
  expect_exact(run1(make_node("Div", 2), 13, {Tensor::from_i64({1}, {std::numeric_limits<int64_t>::min()}),
                                              Tensor::from_i64({1}, {-1})}),
               {std::numeric_limits<int64_t>::min()}, "INT64_MIN / -1 wraps");
  Tensor f = run1(make_node("Div", 2), 13, {Tensor::from_f32({3}, {1, -1, 0}), Tensor::from_f32({3}, {0, 0, 0})});
  expect_all_close(f, {kInf, -kInf, kNaN}, 0, 0, "float Div by 0");
}

TEST(ElementwiseBinary, FloatModFollowsDivisorSign) {
  Tensor a = Tensor::from_f32({4}, {5.5f, -5.5f, 5.5f, -5.5f});
  Tensor b = Tensor::from_f32({4}, {2, 2, -2, -2});
  expect_all_close(run1(make_node("Mod", 2), 13, {a, b}), {1.5, 0.5, -0.5, -1.5}, 0, 0, "Mod fmod=0");
  expect_all_close(run1(make_node("Mod", 2, {{"fmod", int64_t{1}}}), 13, {a, b}), {1.5, -1.5, 1.5, -1.5}, 0, 0,
                   "Mod fmod=1");
}

TEST(ElementwiseBinary, MaxMinPropagateNaN) {
  Tensor a = Tensor::from_f32({3}, {NAN, 1.f, NAN});
  Tensor b = Tensor::from_f32({3}, {1.f, NAN, NAN});
  expect_all_close(run1(make_node("Max", 2), 13, {a, b}), {kNaN, kNaN, kNaN}, 0, 0, "Max");
  expect_all_close(run1(make_node("Min", 2), 13, {a, b}), {kNaN, kNaN, kNaN}, 0, 0, "Min");
  expect_all_close(run1(make_node("Add", 2), 13, {a, Tensor::scalar_f32(INFINITY)}), {kNaN, kInf, kNaN}, 0, 0, "Add");
}

TEST(ElementwiseBinary, PowMixedTypes) {
  Tensor xf = Tensor::from_f32({3}, {2.f, -3.f, 0.5f});
  expect_all_close(run1(make_node("Pow", 2), 15, {xf, Tensor::from_i64({3}, {3, 2, -2})}), {8, 9, 4}, 1e-6, 0,
                   "float^int64");
  Tensor xi = Tensor::from_i64({4}, {2, -3, 5, 1}).cast(DType::Int32);
  Tensor yi = Tensor::from_i64({4}, {10, 3, 0, -4}).cast(DType::Int32);
  Tensor p = run1(make_node("Pow", 2), 15, {xi, yi});
  EXPECT_EQ(p.dtype(), DType::Int32);
  expect_exact(p, {1024, -27, 1, 1}, "int32^int32");
  expect_exact(run1(make_node("Pow", 2), 15, {Tensor::from_i64({2}, {3, 9}), Tensor::from_f32({2}, {2.f, 0.5f})}),
               {9, 3}, "int64^float");
  // Constant scalar exponent fast path vs the general one.
  Tensor x = rand_f32({5, 9}, 0.1, 4);
  for (float e : {2.f, 0.5f, 3.f, 1.f, 1.7f}) {
    Tensor y = run1(make_node("Pow", 2), 15, {x, Tensor::scalar_f32(e)}, {1});
    std::vector<double> ref;
    for (int64_t i = 0; i < x.numel(); ++i) ref.push_back(std::pow(x.get_f64(i), static_cast<double>(e)));
    expect_all_close(y, ref, 1e-5, 1e-6, "Pow const " + std::to_string(e));
  }
}

TEST(ElementwiseBinary, BoolLogicBroadcast) {
  const std::vector<std::pair<Shape, Shape>> shapes = {{{3, 4}, {3, 4}}, {{3, 4, 5}, {4, 5}}, {{2, 1, 5}, {3, 1}}, {{6}, {}}};
  std::vector<std::pair<std::string, std::function<bool(bool, bool)>>> cases = {
      {"And", [](bool x, bool y) { return x && y; }},
      {"Or", [](bool x, bool y) { return x || y; }},
      {"Xor", [](bool x, bool y) { return x != y; }},
      {"Equal", [](bool x, bool y) { return x == y; }},
  };
  for (const auto& [sa, sb] : shapes) {
    const Shape out = bshape({sa, sb});
    Tensor a = rand_bool(sa), b = rand_bool(sb);
    for (const auto& [op, f] : cases) {
      Tensor y = run1(make_node(op, 2), 7, {a, b});
      ASSERT_EQ(y.dtype(), DType::Bool);
      ASSERT_EQ(y.shape(), out);
      std::vector<int64_t> ref;
      for (int64_t i = 0; i < numel(out); ++i)
        ref.push_back(f(a.get_i64(bidx(sa, out, i)) != 0, b.get_i64(bidx(sb, out, i)) != 0));
      expect_exact(y, ref, op + " " + shape_str(sa) + " " + shape_str(sb));
    }
  }
}

TEST(ElementwiseBinary, BitShift) {
  Tensor a = Tensor::from_i64({4}, {16, 4, 1, 255}).cast(DType::UInt8);
  Tensor b = Tensor::from_i64({4}, {1, 2, 7, 9}).cast(DType::UInt8);
  expect_exact(run1(make_node("BitShift", 2, {{"direction", std::string("RIGHT")}}), 11, {a, b}), {8, 1, 0, 0}, "R");
  expect_exact(run1(make_node("BitShift", 2, {{"direction", std::string("LEFT")}}), 11, {a, b}), {32, 16, 128, 0}, "L");
  Tensor c = Tensor::from_i64({2}, {1, 3}).cast(DType::UInt64);
  expect_exact(run1(make_node("BitShift", 2, {{"direction", std::string("LEFT")}}), 11,
                    {c, Tensor::from_i64({}, {40}).cast(DType::UInt64)}),
               {int64_t{1} << 40, int64_t{3} << 40}, "L u64");
}

TEST(ElementwiseBinary, Float16GoesThroughTheWrapper) {
  Tensor a = rand_f32({3, 5}).cast(DType::Float16), b = rand_f32({5}).cast(DType::Float16);
  Tensor y = run1(make_node("Add", 2), 14, {a, b});
  ASSERT_EQ(y.dtype(), DType::Float16);
  std::vector<double> ref;
  for (int64_t i = 0; i < 15; ++i) ref.push_back(half_to_float(float_to_half(static_cast<float>(a.get_f64(i) + b.get_f64(i % 5)))));
  expect_all_close(y, ref, 0, 0, "Add float16");  // one rounding of the float32 sum: exact
}

// Large float16 tensors take the chunked path (cpu_backend.cpp: 64K-element chunks per thread, a
// tail chunk, constant and runtime scalars); a per-channel broadcast takes the
// whole-tensor wrapper. Either way: one float32 op, rounded once to float16 — exact.
TEST(ElementwiseBinary, Float16LargeTensorsChunkedOrNot) {
  const Shape s{1, 5, 211, 251};  // 264805 elements: 4 full chunks and a tail
  Tensor a = rand_f32(s).cast(DType::Float16), b = rand_f32(s).cast(DType::Float16);
  Tensor two = Tensor::from_f32({}, {2.5f}).cast(DType::Float16);
  Tensor ch = rand_f32({1, 5, 1, 1}).cast(DType::Float16);
  auto round16 = [](double v) { return static_cast<double>(half_to_float(float_to_half(static_cast<float>(v)))); };
  const int64_t n = a.numel();
  std::vector<double> add, mul, clip, bc;
  for (int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(a.get_f64(i)), y = static_cast<float>(b.get_f64(i));
    add.push_back(round16(x + y));
    mul.push_back(round16(x * 2.5f));
    clip.push_back(round16(std::min(std::max(x, -1.0f), 2.5f)));
    bc.push_back(round16(x + static_cast<float>(ch.get_f64((i / (211 * 251)) % 5))));
  }
  Tensor y = run1(make_node("Add", 2), 14, {a, b});
  ASSERT_EQ(y.dtype(), DType::Float16);
  expect_all_close(y, add, 0, 0, "Add float16 chunked");
  expect_all_close(run1(make_node("Mul", 2), 14, {a, two}, {1}), mul, 0, 0, "Mul by a constant scalar");
  expect_all_close(run1(make_node("Mul", 2), 14, {a, two}), mul, 0, 0, "Mul by a runtime scalar");
  Tensor lo = Tensor::from_f32({}, {-1.f}).cast(DType::Float16);
  expect_all_close(run1(make_node("Clip", 3), 13, {a, lo, two}, {1, 2}), clip, 0, 0, "Clip float16 chunked");
  expect_all_close(run1(make_node("Add", 2), 14, {a, ch}), bc, 0, 0, "Add per-channel broadcast (whole-tensor)");
}

TEST(ElementwiseBinary, LegacyBroadcastAttribute) {
  // Opset < 7: broadcast=1 with axis places B's dims at `axis` of A (e.g. a per-channel bias).
  Tensor a = rand_f32({2, 3, 4, 5}), b = rand_f32({3, 4});
  Tensor y = run1(make_node("Add", 2, {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}}), 6, {a, b});
  ASSERT_EQ(y.shape(), a.shape());
  std::vector<double> ref;
  for (int64_t i = 0; i < a.numel(); ++i) ref.push_back(a.get_f64(i) + b.get_f64((i / 5) % 12));
  expect_all_close(y, ref, 1e-6, 0, "Add legacy axis=1");
  Tensor base = rand_f32({2, 3}, 0.5, 2);
  Tensor p = run1(make_node("Pow", 2, {{"broadcast", int64_t{1}}, {"axis", int64_t{0}}}), 6,
                  {base, Tensor::from_f32({2}, {2.f, 0.5f})});
  ASSERT_EQ(p.shape(), Shape({2, 3}));
  std::vector<double> pref;
  for (int64_t i = 0; i < 6; ++i) pref.push_back(std::pow(base.get_f64(i), i < 3 ? 2.0 : 0.5));
  expect_all_close(p, pref, 1e-6, 0, "Pow legacy axis=0");
  // Without an axis it is numpy's right alignment.
  Tensor m = run1(make_node("Mul", 2, {{"broadcast", int64_t{1}}}), 6, {a, rand_f32({5})});
  EXPECT_EQ(m.shape(), a.shape());
  EXPECT_THROW(run1(make_node("Add", 2, {{"broadcast", int64_t{1}}, {"axis", int64_t{3}}}), 6, {a, b}), Error);
}

TEST(ElementwiseBinary, BadShapesAreModelErrors) {
  try {
    run1(make_node("Add", 2), 13, {rand_f32({2, 3}), rand_f32({4, 3})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Model);
    EXPECT_NE(std::string(e.what()).find("Add node"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run1(make_node("Add", 2), 13, {rand_f32({2}), Tensor::from_i64({2}, {1, 2})}), Error);
  EXPECT_THROW(run1(make_node("PRelu", 2), 9, {rand_f32({3}), rand_f32({2, 3})}), Error);
  EXPECT_THROW(run1(make_node("Where", 3), 9, {rand_f32({3}), rand_f32({3}), rand_f32({3})}), Error);
}

// ---------------------------------------------------------------------------------------------
TEST(ElementwiseVariadic, ThreeInputsBroadcast) {
  const Shape s0{3, 1}, s1{2, 1, 4}, s2{4};
  const Shape out = bshape({s0, s1, s2});
  Tensor a = rand_f32(s0), b = rand_f32(s1), c = rand_f32(s2);
  std::vector<std::pair<std::string, std::function<double(double, double, double)>>> cases = {
      {"Sum", [](double x, double y, double z) { return x + y + z; }},
      {"Mean", [](double x, double y, double z) { return (x + y + z) / 3; }},
      {"Max", [](double x, double y, double z) { return std::max({x, y, z}); }},
      {"Min", [](double x, double y, double z) { return std::min({x, y, z}); }},
  };
  for (const auto& [op, f] : cases) {
    Tensor y = run1(make_node(op, 3), 13, {a, b, c});
    ASSERT_EQ(y.shape(), out);
    std::vector<double> ref;
    for (int64_t i = 0; i < numel(out); ++i)
      ref.push_back(f(a.get_f64(bidx(s0, out, i)), b.get_f64(bidx(s1, out, i)), c.get_f64(bidx(s2, out, i))));
    expect_all_close(y, ref, 1e-5, 1e-6, op);
    // One input: a copy.
    Tensor one = run1(make_node(op, 1), 13, {b});
    std::vector<double> ref1;
    for (int64_t i = 0; i < b.numel(); ++i) ref1.push_back(b.get_f64(i));
    expect_all_close(one, ref1, 0, 0, op + " one input");
  }
  Tensor ia = Tensor::from_i64({2}, {1, 9}), ib = Tensor::from_i64({2, 1}, {4, -2}), ic = Tensor::from_i64({}, {3});
  expect_exact(run1(make_node("Max", 3), 13, {ia, ib, ic}), {4, 9, 3, 9}, "Max int64");
  expect_exact(run1(make_node("Sum", 3), 13, {ia, ib, ic}), {8, 16, 2, 10}, "Sum int64");
}

// ---------------------------------------------------------------------------------------------
TEST(ElementwiseWhere, BroadcastAndDtypes) {
  const Shape sc{2, 1, 5}, sx{3, 1}, sy{5};
  const Shape out = bshape({sc, sx, sy});
  Tensor c = rand_bool(sc);
  for (DType dt : {DType::Float32, DType::Int64, DType::Float16, DType::Int8}) {
    Tensor x = rand_int<int64_t>(DType::Int64, sx, -100, 100).cast(dt);
    Tensor y = rand_int<int64_t>(DType::Int64, sy, -100, 100).cast(dt);
    Tensor z = run1(make_node("Where", 3), 16, {c, x, y});
    ASSERT_EQ(z.dtype(), dt);
    ASSERT_EQ(z.shape(), out);
    std::vector<int64_t> ref;
    for (int64_t i = 0; i < numel(out); ++i)
      ref.push_back(c.get_i64(bidx(sc, out, i)) ? x.get_i64(bidx(sx, out, i)) : y.get_i64(bidx(sy, out, i)));
    expect_exact(z, ref, "Where " + std::string(dtype_name(dt)));
  }
  // Same shapes, large: the flat path.
  Tensor cc = rand_bool({50000}), x = rand_f32({50000}), y = rand_f32({50000});
  Tensor z = run1(make_node("Where", 3), 16, {cc, x, y});
  for (int64_t i = 0; i < 50000; ++i)
    ASSERT_EQ(z.get_f64(i), cc.get_i64(i) ? x.get_f64(i) : y.get_f64(i));
  // One long broadcast row (a scalar X): the row is split across threads.
  Tensor s = Tensor::scalar_f32(7.f);
  Tensor zs = run1(make_node("Where", 3), 16, {cc, s, y});
  for (int64_t i = 0; i < 50000; ++i) ASSERT_EQ(zs.get_f64(i), cc.get_i64(i) ? 7.0 : y.get_f64(i));
}

// ---------------------------------------------------------------------------------------------
TEST(ElementwiseClip, AttributesAndInputs) {
  Tensor x = Tensor::from_f32({6}, {-5.f, -0.5f, 0.f, 0.7f, 9.f, NAN});
  expect_all_close(run1(make_node("Clip", 1, {{"min", -1.f}, {"max", 1.f}}), 6, {x}), {-1, -0.5, 0, 0.7f, 1, kNaN},
                   0, 0, "Clip opset 6");
  expect_all_close(run1(make_node("Clip", 1), 6, {x}), {-5, -0.5, 0, 0.7f, 9, kNaN}, 0, 0, "Clip opset 6 defaults");
  expect_all_close(run1(make_node("Clip", 3), 13, {x, Tensor::scalar_f32(-1.f), Tensor::scalar_f32(0.5f)}),
                   {-1, -0.5, 0, 0.5, 0.5, kNaN}, 0, 0, "Clip opset 13");
  expect_all_close(run1(make_node("Clip", 3), 13, {x, Tensor(), Tensor::scalar_f32(0.5f)}), {-5, -0.5, 0, 0.5, 0.5, kNaN},
                   0, 0, "Clip max only");
  expect_all_close(run1(make_node("Clip", 2), 13, {x, Tensor::scalar_f32(0.f)}), {0, 0, 0, 0.7f, 9, kNaN}, 0, 0,
                   "Clip min only");
  Tensor xi = Tensor::from_i64({5}, {-128, -3, 0, 50, 127}).cast(DType::Int8);
  Tensor lo = Tensor::from_i64({}, {-2}).cast(DType::Int8), hi = Tensor::from_i64({}, {60}).cast(DType::Int8);
  Tensor yi = run1(make_node("Clip", 3), 13, {xi, lo, hi});
  EXPECT_EQ(yi.dtype(), DType::Int8);
  expect_exact(yi, {-2, -2, 0, 50, 60}, "Clip int8");
  expect_exact(run1(make_node("Clip", 3), 13, {Tensor::from_i64({3}, {-9, 4, 99}), Tensor(), Tensor::from_i64({}, {10})}),
               {-9, 4, 10}, "Clip int64 max only");
}

TEST(ElementwisePRelu, SlopeBroadcast) {
  Tensor x = rand_f32({2, 3, 4, 5});
  for (const Shape& ss : {Shape{3, 1, 1}, Shape{5}, Shape{1}, Shape{2, 3, 4, 5}}) {
    Tensor s = rand_f32(ss, 0, 1);
    Tensor y = run1(make_node("PRelu", 2), 16, {x, s});
    std::vector<double> ref;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double v = x.get_f64(i);
      ref.push_back(v < 0 ? v * s.get_f64(bidx(ss, x.shape(), i)) : v);
    }
    expect_all_close(y, ref, 1e-6, 0, "PRelu slope " + shape_str(ss));
  }
}

// ---------------------------------------------------------------------------------------------
// Reductions against a direct loop over every input element.
struct RedCase {
  std::string op;
  double init;
  std::function<double(double, double)> step;
  std::function<double(double, int64_t)> fin;
};

std::vector<RedCase> reduce_cases() {
  auto id = [](double a, int64_t) { return a; };
  return {
      {"ReduceSum", 0, [](double a, double x) { return a + x; }, id},
      {"ReduceMean", 0, [](double a, double x) { return a + x; }, [](double a, int64_t n) { return a / n; }},
      {"ReduceMax", -kInf, [](double a, double x) { return std::max(a, x); }, id},
      {"ReduceMin", kInf, [](double a, double x) { return std::min(a, x); }, id},
      {"ReduceProd", 1, [](double a, double x) { return a * x; }, id},
      {"ReduceL1", 0, [](double a, double x) { return a + std::fabs(x); }, id},
      {"ReduceL2", 0, [](double a, double x) { return a + x * x; }, [](double a, int64_t) { return std::sqrt(a); }},
      {"ReduceSumSquare", 0, [](double a, double x) { return a + x * x; }, id},
      {"ReduceLogSum", 0, [](double a, double x) { return a + x; }, [](double a, int64_t) { return std::log(a); }},
      {"ReduceLogSumExp", 0, [](double a, double x) { return a + std::exp(x); },
       [](double a, int64_t) { return std::log(a); }},
  };
}

// Reference: output shape and values for `axes` (normalised, empty = all).
std::pair<Shape, std::vector<double>> reduce_ref(const Tensor& x, std::vector<int64_t> axes, bool keepdims,
                                                 const RedCase& c) {
  const Shape& s = x.shape();
  const int64_t r = static_cast<int64_t>(s.size());
  for (auto& a : axes) a = a < 0 ? a + r : a;
  std::vector<bool> red(s.size(), axes.empty());
  for (auto a : axes) red[static_cast<size_t>(a)] = true;
  Shape out, kept;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!red[i]) kept.push_back(s[i]), out.push_back(s[i]);
    else if (keepdims) out.push_back(1);
  }
  std::vector<double> acc(static_cast<size_t>(numel(kept)), c.init);
  std::vector<int64_t> cnt(acc.size(), 0);
  std::vector<int64_t> idx(s.size(), 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i;
    for (size_t d = s.size(); d-- > 0;) idx[d] = rem % s[d], rem /= s[d];
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d)
      if (!red[d]) o = o * s[d] + idx[d];
    acc[static_cast<size_t>(o)] = c.step(acc[static_cast<size_t>(o)], x.get_f64(i));
    ++cnt[static_cast<size_t>(o)];
  }
  for (size_t o = 0; o < acc.size(); ++o) acc[o] = c.fin(acc[o], cnt[o]);
  return {out, acc};
}

TEST(ElementwiseReduce, AllOpsAxesKeepdims) {
  const std::vector<std::pair<Shape, std::vector<std::vector<int64_t>>>> setups = {
      {{3, 4, 5}, {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1}, {0, 1, 2}}},
      {{2, 3, 4, 5}, {{1, 3}, {0, 2}, {0, 2, 3}, {-2, -1}, {1}}},  // includes non-[outer,K,inner] patterns
      {{7}, {{0}, {}}},
      {{1, 5, 1, 3}, {{0, 2}, {1}}},
      {{64, 40, 30}, {{0}, {1}, {2}, {0, 2}}},  // above the OpenMP threshold
  };
  for (const auto& c : reduce_cases()) {
    for (const auto& [shape, axes_sets] : setups) {
      const bool positive = c.op == "ReduceLogSum" || c.op == "ReduceProd";
      Tensor x = positive ? rand_f32(shape, 0.5, 1.5) : rand_f32(shape);
      for (const auto& axes : axes_sets) {
        for (int64_t keep : {0, 1}) {
          auto [oshape, ref] = reduce_ref(x, axes, keep != 0, c);
          // Axes as attribute (opset 13 for all but ReduceSum, opset 11 for ReduceSum) and as input (18).
          const int64_t attr_opset = c.op == "ReduceSum" ? 11 : 13;
          std::map<std::string, AttrValue> attrs{{"keepdims", keep}};
          if (!axes.empty()) attrs["axes"] = axes;
          Tensor y = run1(make_node(c.op, 1, attrs), attr_opset, {x});
          const std::string what = c.op + " " + shape_str(shape) + " axes " + std::to_string(axes.size()) +
                                   " keepdims " + std::to_string(keep);
          ASSERT_EQ(y.shape(), oshape) << what;
          expect_all_close(y, ref, 1e-5, 1e-5, what);

          std::vector<Tensor> ins{x};
          if (!axes.empty()) ins.push_back(Tensor::from_i64({static_cast<int64_t>(axes.size())}, axes));
          Tensor y18 = run1(make_node(c.op, ins.size(), {{"keepdims", keep}}), 18, ins, {1});
          ASSERT_EQ(y18.shape(), oshape) << what << " (opset 18)";
          expect_all_close(y18, ref, 1e-5, 1e-5, what + " (opset 18)");
        }
      }
    }
  }
}

TEST(ElementwiseReduce, NoopWithEmptyAxesAndIntegers) {
  Tensor x = rand_f32({3, 4});
  Tensor y = run1(make_node("ReduceSum", 2, {{"noop_with_empty_axes", int64_t{1}}}), 13,
                  {x, Tensor(DType::Int64, {0})}, {1});
  ASSERT_EQ(y.shape(), x.shape());
  expect_all_close(y, [&] { std::vector<double> v; for (int64_t i = 0; i < 12; ++i) v.push_back(x.get_f64(i)); return v; }(), 0, 0,
                   "noop");
  Tensor all = run1(make_node("ReduceSum", 2, {{"keepdims", int64_t{0}}}), 13, {x, Tensor(DType::Int64, {0})}, {1});
  EXPECT_EQ(all.shape(), Shape{});
  // int64 shape arithmetic: ReduceProd of a shape vector, ReduceMax/Sum of int64.
  Tensor s = Tensor::from_i64({4}, {2, 3, 5, 7});
  expect_exact(run1(make_node("ReduceProd", 1, {{"keepdims", int64_t{0}}}), 13, {s}), {210}, "ReduceProd int64");
  Tensor m = Tensor::from_i64({2, 3}, {1, -9, 4, 8, 2, -3});
  expect_exact(run1(make_node("ReduceMax", 1, {{"axes", std::vector<int64_t>{1}}}), 13, {m}), {4, 8}, "ReduceMax int64");
  expect_exact(run1(make_node("ReduceMin", 1, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}}), 13, {m}),
               {1, -9, -3}, "ReduceMin int64");
  expect_exact(run1(make_node("ReduceSum", 2), 13, {m.cast(DType::Int32), Tensor::from_i64({1}, {-1})}, {1}), {-4, 7},
               "ReduceSum int32");
  expect_exact(run1(make_node("ReduceMean", 1, {{"axes", std::vector<int64_t>{1}}}), 13, {m}), {-1, 2}, "ReduceMean int64");
  // NaN propagates through max/min and sums.
  Tensor n = Tensor::from_f32({2, 2}, {1.f, NAN, 2.f, 3.f});
  expect_all_close(run1(make_node("ReduceMax", 1, {{"axes", std::vector<int64_t>{1}}}), 13, {n}), {kNaN, 3}, 0, 0,
                   "ReduceMax NaN");
  expect_all_close(run1(make_node("ReduceSum", 1, {{"axes", std::vector<int64_t>{1}}}), 11, {n}), {kNaN, 5}, 0, 0,
                   "ReduceSum NaN");
  // LogSumExp stays finite where exp overflows float.
  Tensor big = Tensor::from_f32({2}, {1000.f, 1000.f});
  expect_all_close(run1(make_node("ReduceLogSumExp", 1, {{"keepdims", int64_t{0}}}), 13, {big}),
                   {1000 + std::log(2.0)}, 1e-6, 0, "ReduceLogSumExp large");
  // Axes computed at run time cannot give a shape before the run: Unsupported, named.
  try {
    run1(make_node("ReduceSum", 2), 13, {x, Tensor::from_i64({1}, {0})}, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("ReduceSum node"), std::string::npos) << e.what();
  }
  // Repeated axes are a model error.
  EXPECT_THROW(run1(make_node("ReduceSum", 1, {{"axes", std::vector<int64_t>{1, -1}}}), 11, {x}), Error);
  EXPECT_THROW(run1(make_node("ReduceMean", 1, {{"axes", std::vector<int64_t>{2}}}), 13, {x}), Error);
}

TEST(ElementwiseReduce, ArgMaxArgMin) {
  // Ties on purpose: small integers.
  Tensor x = rand_int<int64_t>(DType::Int64, {3, 4, 5}, 0, 3).cast(DType::Float32);
  for (const char* op : {"ArgMax", "ArgMin"}) {
    const bool is_max = std::string(op) == "ArgMax";
    for (int64_t axis : {0, 1, 2, -1}) {
      for (int64_t keep : {0, 1}) {
        for (int64_t last : {0, 1}) {
          Tensor y = run1(make_node(op, 1, {{"axis", axis}, {"keepdims", keep}, {"select_last_index", last}}), 13, {x});
          ASSERT_EQ(y.dtype(), DType::Int64);
          const int64_t a = axis < 0 ? axis + 3 : axis;
          Shape os = x.shape();
          if (keep) os[static_cast<size_t>(a)] = 1;
          else os.erase(os.begin() + a);
          ASSERT_EQ(y.shape(), os);
          const Shape& s = x.shape();
          int64_t outer = 1, inner = 1;
          for (int64_t i = 0; i < a; ++i) outer *= s[static_cast<size_t>(i)];
          for (int64_t i = a + 1; i < 3; ++i) inner *= s[static_cast<size_t>(i)];
          const int64_t k = s[static_cast<size_t>(a)];
          std::vector<int64_t> ref;
          for (int64_t o = 0; o < outer; ++o)
            for (int64_t j = 0; j < inner; ++j) {
              int64_t bi = 0;
              double best = x.get_f64(o * k * inner + j);
              for (int64_t i = 1; i < k; ++i) {
                const double v = x.get_f64((o * k + i) * inner + j);
                const bool better = is_max ? (last ? v >= best : v > best) : (last ? v <= best : v < best);
                if (better) best = v, bi = i;
              }
              ref.push_back(bi);
            }
          expect_exact(y, ref, std::string(op) + " axis " + std::to_string(axis));
        }
      }
    }
  }
  expect_exact(run1(make_node("ArgMax", 1), 13, {Tensor::from_i64({2, 2}, {5, 1, 5, 9})}), {0, 1}, "ArgMax int64");
}

// ---------------------------------------------------------------------------------------------
TEST(ElementwiseSoftmax, MatchesDoubleAndRowsSumToOne) {
  Tensor x = rand_f32({2, 3, 4, 5}, -10, 10);
  const Shape& s = x.shape();
  for (int64_t opset : {11, 13}) {
    for (int64_t axis : {0, 1, 2, 3, -1, -2}) {
      const int64_t a = axis < 0 ? axis + 4 : axis;
      // The normalised group: [outer, n, inner]; opset < 13 coerces to 2-D (inner = 1).
      int64_t outer = 1, n = 1, inner = 1;
      for (int64_t i = 0; i < 4; ++i) {
        if (i < a) outer *= s[static_cast<size_t>(i)];
        else if (i == a || opset < 13) n *= s[static_cast<size_t>(i)];
        else inner *= s[static_cast<size_t>(i)];
      }
      std::vector<double> sm(static_cast<size_t>(x.numel())), lsm(sm.size()), hm(sm.size());
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          auto at = [&](int64_t i) { return (o * n + i) * inner + j; };
          double m = -kInf, sum = 0;
          int64_t am = 0;
          for (int64_t i = 0; i < n; ++i)
            if (x.get_f64(at(i)) > m) m = x.get_f64(at(i)), am = i;
          for (int64_t i = 0; i < n; ++i) sum += std::exp(x.get_f64(at(i)) - m);
          for (int64_t i = 0; i < n; ++i) {
            sm[static_cast<size_t>(at(i))] = std::exp(x.get_f64(at(i)) - m) / sum;
            lsm[static_cast<size_t>(at(i))] = x.get_f64(at(i)) - m - std::log(sum);
            hm[static_cast<size_t>(at(i))] = i == am;
          }
        }
      const std::string what = " opset " + std::to_string(opset) + " axis " + std::to_string(axis);
      Tensor y = run1(make_node("Softmax", 1, {{"axis", axis}}), opset, {x});
      expect_all_close(y, sm, 1e-5, 1e-6, "Softmax" + what);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          double sum = 0;
          for (int64_t i = 0; i < n; ++i) sum += y.get_f64((o * n + i) * inner + j);
          ASSERT_NEAR(sum, 1.0, 1e-5) << "Softmax row sum" << what;
        }
      expect_all_close(run1(make_node("LogSoftmax", 1, {{"axis", axis}}), opset, {x}), lsm, 1e-5, 1e-5,
                       "LogSoftmax" + what);
      expect_all_close(run1(make_node("Hardmax", 1, {{"axis", axis}}), opset, {x}), hm, 0, 0, "Hardmax" + what);
    }
  }
  EXPECT_THROW(run1(make_node("Softmax", 1, {{"axis", int64_t{4}}}), 13, {x}), Error);
  EXPECT_THROW(run1(make_node("Softmax", 1, {{"axis", int64_t{-5}}}), 11, {x}), Error);
  // Defaults: axis 1 before opset 13 (2-D coercion), -1 from 13 on.
  Tensor d11 = run1(make_node("Softmax", 1), 11, {x});
  double total = 0;
  for (int64_t i = 0; i < 60; ++i) total += d11.get_f64(i);
  EXPECT_NEAR(total, 1.0, 1e-5);
  Tensor d13 = run1(make_node("Softmax", 1), 13, {x});
  total = 0;
  for (int64_t i = 0; i < 5; ++i) total += d13.get_f64(i);
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(ElementwiseSoftmax, LargeRowsAndInfinities) {
  // Large, last-axis: rows sum to 1 (parallel path).
  Tensor x = rand_f32({300, 1000}, -50, 50);
  Tensor y = run1(make_node("Softmax", 1), 13, {x});
  for (int64_t r = 0; r < 300; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < 1000; ++i) sum += y.get_f64(r * 1000 + i);
    ASSERT_NEAR(sum, 1.0, 1e-5) << "row " << r;
  }
  // Masked attention scores (-inf, as models build them with Where) on the large path: the masked
  // entries get probability 0 (log-probability -inf), the others renormalise.
  Tensor a = rand_f32({64, 512}, -20, 20);
  std::bernoulli_distribution mask(0.3);
  for (int64_t i = 0; i < a.numel(); ++i)
    if (i % 512 != 0 && mask(rng())) a.data_as<float>()[i] = -INFINITY;  // column 0 stays finite
  std::vector<double> sm, lsm;
  for (int64_t r = 0; r < 64; ++r) {
    double mx = -kInf, sum = 0;
    for (int64_t i = 0; i < 512; ++i) mx = std::max(mx, a.get_f64(r * 512 + i));
    for (int64_t i = 0; i < 512; ++i) sum += std::exp(a.get_f64(r * 512 + i) - mx);
    for (int64_t i = 0; i < 512; ++i) {
      sm.push_back(std::exp(a.get_f64(r * 512 + i) - mx) / sum);
      lsm.push_back(a.get_f64(r * 512 + i) - mx - std::log(sum));
    }
  }
  expect_all_close(run1(make_node("Softmax", 1), 13, {a}), sm, 1e-5, 1e-6, "masked softmax, large");
  expect_all_close(run1(make_node("LogSoftmax", 1), 13, {a}), lsm, 1e-5, 1e-5, "masked log-softmax, large");
  // The same on the small path.
  Tensor m = Tensor::from_f32({1, 4}, {-INFINITY, 0.f, -INFINITY, 0.f});
  expect_all_close(run1(make_node("Softmax", 1), 13, {m}), {0, 0.5, 0, 0.5}, 1e-6, 0, "masked softmax");
  Tensor big = Tensor::from_f32({3}, {1000.f, 1000.f, -1000.f});
  expect_all_close(run1(make_node("Softmax", 1), 13, {big}), {0.5, 0.5, 0}, 1e-6, 0, "large logits");
  expect_all_close(run1(make_node("LogSoftmax", 1), 13, {big}), {-std::log(2.0), -std::log(2.0), -2000 - std::log(2.0)},
                   1e-6, 0, "large logits log");
}

}  // namespace
