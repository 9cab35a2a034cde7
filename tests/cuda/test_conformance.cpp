// Op conformance: every op the CUDA backend implements, on random inputs of several (odd) shapes,
// planned and run directly on both backends (CPU = reference), outputs compared with a per-op
// tolerance (relative L2; exact for integer/bool outputs), non-finite values checked, and guard
// bytes around every CUDA output checked for overruns.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include "cuda_test_util.hpp"
#include "resize_geometry.hpp"
#include "shape_util.hpp"

namespace netlens::test {
namespace {

constexpr size_t kGuard = 512;
constexpr uint8_t kPoison = 0xA5;

struct In {
  std::string name;  // "" = omitted optional input
  Tensor value;
  bool constant = false;
};

struct Case {
  std::string label;
  Node node;
  std::vector<In> inputs;
  int64_t opset = 17;
  double tol = 1e-5;
};

std::mt19937& rng() {
  static std::mt19937 g(1234);
  return g;
}

Tensor rand_f32(const Shape& s, float lo = -2.0f, float hi = 2.0f) {
  Tensor t(DType::Float32, s);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng());
  return t;
}
Tensor rand_i64(const Shape& s, int64_t lo, int64_t hi, bool nonzero = false) {
  Tensor t(DType::Int64, s);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = d(rng());
    if (nonzero && v == 0) v = 1;
    t.data_as<int64_t>()[i] = v;
  }
  return t;
}
Tensor rand_bool(const Shape& s) {
  Tensor t(DType::Bool, s);
  std::bernoulli_distribution d(0.5);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<uint8_t>()[i] = d(rng()) ? 1 : 0;
  return t;
}

Node make_node(const std::string& op, size_t n_in, size_t n_out, std::map<std::string, AttrValue> attrs = {}) {
  Node n;
  n.name = op + "_test";
  n.op_type = op;
  for (size_t i = 0; i < n_in; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < n_out; ++i) n.outputs.push_back("out" + std::to_string(i));
  n.attrs = std::move(attrs);
  return n;
}

In var(Tensor t) { return In{"x", std::move(t), false}; }
In cst(Tensor t) { return In{"c", std::move(t), true}; }
In none() { return In{"", Tensor(), false}; }

Case make_case(const std::string& op, std::vector<In> inputs, std::map<std::string, AttrValue> attrs = {},
               double tol = 1e-5, int64_t opset = 17, size_t n_out = 1) {
  Case c;
  c.node = make_node(op, inputs.size(), n_out, std::move(attrs));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name.empty()) c.node.inputs[i] = "";
  c.inputs = std::move(inputs);
  c.tol = tol;
  c.opset = opset;
  std::string shapes;
  for (const In& i : c.inputs)
    shapes += (shapes.empty() ? "" : ",") + (i.name.empty() ? std::string("-") : shape_str(i.value.shape()));
  c.label = op + "(" + shapes + ")";
  return c;
}

// Plans and runs the case on both backends and compares every output.
// `errs`: when given, receives each output's relative L2 error.
void run_case(Backend* cuda, const Case& c, std::vector<double>* errs = nullptr) {
  SCOPED_TRACE(c.label);
  const Node& node = c.node;
  std::vector<TensorInfo> infos;
  std::vector<const TensorInfo*> info_ptrs;
  std::vector<const Tensor*> consts;
  infos.reserve(c.inputs.size());
  for (const In& i : c.inputs) {
    infos.push_back(i.name.empty() ? TensorInfo{} : TensorInfo{i.value.dtype(), i.value.shape()});
    consts.push_back(i.constant ? &i.value : nullptr);
  }
  for (size_t i = 0; i < infos.size(); ++i) info_ptrs.push_back(c.inputs[i].name.empty() ? nullptr : &infos[i]);
  const InferFn* infer = OpRegistry::global().find(node.op_type);
  ASSERT_NE(infer, nullptr) << "no shape function for " << node.op_type;
  std::vector<TensorInfo> outs;
  try {
    outs = (*infer)(InferContext{node, c.opset, info_ptrs, consts});
  } catch (const Error& e) {
    FAIL() << "shape inference: " << e.what();
  }
  NodeContext ctx{node, c.opset, infos, outs, consts};
  const auto why = cuda->unsupported_reason(ctx);
  ASSERT_FALSE(why.has_value()) << "CUDA backend refuses the case: " << *why;
  Backend* cpu = cpu_backend();
  ASSERT_FALSE(cpu->unsupported_reason(ctx).has_value());

  // Reference on the CPU.
  std::vector<TensorView> cin, cout_;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    cin.push_back(c.inputs[i].name.empty() ? TensorView{}
                                           : TensorView{infos[i].dtype, infos[i].shape,
                                                        const_cast<void*>(c.inputs[i].value.data())});
  std::vector<Tensor> want;
  for (size_t i = 0; i < outs.size(); ++i) {
    const bool used = !node.outputs[i].empty();
    want.push_back(used ? Tensor(outs[i].dtype, outs[i].shape) : Tensor());
    cout_.push_back(used ? TensorView{outs[i].dtype, outs[i].shape, want.back().data()} : TensorView{});
  }
  try {
    auto k = cpu->plan(ctx);
    k->run(cin, cout_);
  } catch (const Error& e) {
    FAIL() << "CPU reference failed: " << e.what();
  }

  // CUDA, with poisoned guard bytes around each output.
  std::vector<DeviceBuffer> bufs;
  std::vector<TensorView> din, dout;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].name.empty()) {
      din.push_back(TensorView{});
      continue;
    }
    bufs.push_back(cuda->allocate(c.inputs[i].value.nbytes()));
    cuda->copy_from_host(bufs.back().get(), c.inputs[i].value.data(), c.inputs[i].value.nbytes());
    din.push_back(TensorView{infos[i].dtype, infos[i].shape, bufs.back().get()});
  }
  std::vector<void*> out_base(outs.size(), nullptr);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (node.outputs[i].empty()) {
      dout.push_back(TensorView{});
      continue;
    }
    const size_t total = outs[i].nbytes() + 2 * kGuard;
    bufs.push_back(cuda->allocate(total));
    std::vector<uint8_t> poison(total, kPoison);
    cuda->copy_from_host(bufs.back().get(), poison.data(), total);
    out_base[i] = bufs.back().get();
    dout.push_back(TensorView{outs[i].dtype, outs[i].shape, static_cast<uint8_t*>(out_base[i]) + kGuard});
  }
  try {
    auto k = cuda->plan(ctx);
    k->run(din, dout);
    k->run(din, dout);  // twice: kernels must not depend on state left by a previous run
    cuda->synchronize();
  } catch (const Error& e) {
    FAIL() << "CUDA run failed: " << e.what();
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    if (node.outputs[i].empty()) continue;
    const size_t total = outs[i].nbytes() + 2 * kGuard;
    std::vector<uint8_t> host(total);
    cuda->copy_to_host(host.data(), out_base[i], total);
    for (size_t b = 0; b < kGuard; ++b) {
      ASSERT_EQ(host[b], kPoison) << "output " << i << ": guard byte " << b << " before the output was overwritten";
      ASSERT_EQ(host[total - kGuard + b], kPoison) << "output " << i << ": guard byte " << b << " after the output was overwritten";
    }
    Tensor got(outs[i].dtype, outs[i].shape);
    std::memcpy(got.data(), host.data() + kGuard, outs[i].nbytes());
    const Compare r = compare_tensors(got, want[i], c.tol);
    EXPECT_TRUE(r.problem.empty()) << "output " << i << ": " << r.problem;
    if (errs) errs->push_back(r.rel_l2);
  }
}

void run_all(Backend* cuda, const std::vector<Case>& cases) {
  for (const Case& c : cases) run_case(cuda, c);
}

const std::vector<Shape> kShapes = {{7}, {3, 5, 11}, {2, 3, 17, 13}, {1, 37, 1, 9}};

// ---------------------------------------------------------------------------------------------
class CudaConformance : public CudaTest {};

TEST_F(CudaConformance, Unary) {
  struct U {
    const char* op;
    std::map<std::string, AttrValue> attrs;
    float lo, hi;
  };
  const std::vector<U> ops = {
      {"Relu", {}, -2, 2}, {"LeakyRelu", {{"alpha", 0.13f}}, -2, 2}, {"Sigmoid", {}, -6, 6}, {"Tanh", {}, -4, 4},
      {"HardSigmoid", {{"alpha", 0.3f}, {"beta", 0.4f}}, -4, 4}, {"HardSwish", {}, -5, 5},
      {"Elu", {{"alpha", 0.7f}}, -3, 3}, {"Selu", {}, -3, 3}, {"Celu", {{"alpha", 1.3f}}, -3, 3},
      {"Softplus", {}, -5, 5}, {"Softsign", {}, -5, 5}, {"Erf", {}, -3, 3}, {"Gelu", {}, -4, 4},
      {"Gelu", {{"approximate", std::string("tanh")}}, -4, 4}, {"Exp", {}, -5, 5}, {"Log", {}, 0.01f, 10},
      {"Sqrt", {}, 0, 10}, {"Neg", {}, -2, 2}, {"Abs", {}, -2, 2}, {"Reciprocal", {}, 0.1f, 4},
      {"Floor", {}, -5, 5}, {"Ceil", {}, -5, 5}, {"Round", {}, -5, 5}, {"Sin", {}, -6, 6}, {"Cos", {}, -6, 6},
      {"Sign", {}, -2, 2}, {"Mish", {}, -4, 4}, {"ThresholdedRelu", {{"alpha", 0.5f}}, -2, 2},
  };
  std::vector<Case> cases;
  for (const U& u : ops)
    for (const Shape& s : kShapes) {
      const int64_t opset = std::string(u.op) == "Gelu" ? 20 : 17;
      cases.push_back(make_case(u.op, {var(rand_f32(s, u.lo, u.hi))}, u.attrs, 1e-5, opset));
    }
  // Clip: bounds as constant inputs (opset 11+) and as attributes (opset 6), one bound omitted.
  for (const Shape& s : kShapes) {
    cases.push_back(make_case("Clip", {var(rand_f32(s)), cst(Tensor::scalar_f32(-0.5f)), cst(Tensor::scalar_f32(0.75f))}));
    cases.push_back(make_case("Clip", {var(rand_f32(s)), none(), cst(Tensor::scalar_f32(0.25f))}));
    cases.push_back(make_case("Clip", {var(rand_f32(s))}, {{"min", -0.3f}, {"max", 0.6f}}, 1e-5, 6));
  }
  // float16 storage, float compute.
  for (const char* op : {"Relu", "Sigmoid", "Tanh"})
    for (const Shape& s : kShapes) cases.push_back(make_case(op, {var(rand_f32(s).cast(DType::Float16))}, {}, 1e-3));
  run_all(cuda_, cases);
}

TEST_F(CudaConformance, BinaryBroadcast) {
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3, 5, 7}, {2, 3, 5, 7}}, {{2, 3, 5, 7}, {3, 1, 1}}, {{5, 1, 7}, {1, 6, 1}},
      {{2, 3, 5, 7}, {}},           {{1}, {4, 3}},             {{9, 1, 13}, {13}},
  };
  std::vector<Case> cases;
  for (const auto& [a, b] : pairs) {
    for (const char* op : {"Add", "Sub", "Mul", "Max", "Min"})
      cases.push_back(make_case(op, {var(rand_f32(a)), var(rand_f32(b))}));
    cases.push_back(make_case("Div", {var(rand_f32(a)), var(rand_f32(b, 0.5f, 3.0f))}));
    cases.push_back(make_case("Pow", {var(rand_f32(a, 0.1f, 3.0f)), var(rand_f32(b, -2.0f, 2.0f))}));
    if (broadcast_shapes(a, b, "test") == a)  // PRelu's slope broadcasts one way only
      cases.push_back(make_case("PRelu", {var(rand_f32(a)), var(rand_f32(b))}));
    cases.push_back(make_case("Mod", {var(rand_f32(a, -9, 9)), var(rand_f32(b, 0.5f, 3.0f))}, {{"fmod", int64_t{1}}}));
    for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) {
      // Small integer-valued floats so that Equal has true cases too.
      Tensor x = rand_i64(a, -3, 3).cast(DType::Float32), y = rand_i64(b, -3, 3).cast(DType::Float32);
      cases.push_back(make_case(op, {var(x), var(y)}));
      cases.push_back(make_case(op, {var(rand_i64(a, -3, 3)), var(rand_i64(b, -3, 3))}));
    }
    for (const char* op : {"Add", "Sub", "Mul", "Div"})
      cases.push_back(make_case(op, {var(rand_i64(a, -50, 50)), var(rand_i64(b, -7, 7, true))}));
    cases.push_back(make_case("Mod", {var(rand_i64(a, -50, 50)), var(rand_i64(b, -7, 7, true))}));
    for (const char* op : {"And", "Or", "Xor"}) cases.push_back(make_case(op, {var(rand_bool(a)), var(rand_bool(b))}));
    cases.push_back(make_case("Add", {var(rand_f32(a).cast(DType::Float16)), var(rand_f32(b).cast(DType::Float16))}, {},
                              1e-3));
    cases.push_back(make_case("Where", {var(rand_bool(a)), var(rand_f32(b)), var(rand_f32(a))}));
    cases.push_back(make_case("Where", {var(rand_bool(b)), var(rand_i64(a, -9, 9)), var(rand_i64(b, -9, 9))}));
  }
  cases.push_back(make_case("Sum", {var(rand_f32({3, 4})), var(rand_f32({4}))}));
  cases.push_back(make_case("Max", {var(rand_f32({3, 4}))}));
  // A constant operand (the Session passes device views of constants too).
  cases.push_back(make_case("Mul", {var(rand_f32({2, 8, 5, 5})), cst(rand_f32({8, 1, 1}))}));
  run_all(cuda_, cases);
}

// NaN and ±Inf inputs: IEEE propagation must agree with the CPU (same positions, same kinds).
TEST_F(CudaConformance, NonFiniteInputs) {
  auto special = [](const Shape& s) {
    Tensor t = rand_f32(s);
    const float v[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
    for (int64_t i = 0; i < t.numel(); i += 5) t.data_as<float>()[i] = v[(i / 5) % 3];
    return t;
  };
  std::vector<Case> cases;
  for (const Shape& s : std::vector<Shape>{{41}, {3, 7, 5}}) {
    for (const char* op : {"Exp", "Abs", "Neg", "Sigmoid", "Tanh", "Sqrt", "Floor"})
      cases.push_back(make_case(op, {var(special(s))}));
    for (const char* op : {"Add", "Sub", "Mul", "Div"})
      cases.push_back(make_case(op, {var(special(s)), var(rand_f32(s, 0.5f, 2.0f))}));
    cases.push_back(make_case("Transpose", {var(special(s))}));
  }
  run_all(cuda_, cases);
}

TEST_F(CudaConformance, Cast) {
  std::vector<Case> cases;
  auto cast_case = [&](Tensor x, DType to) {
    cases.push_back(make_case("Cast", {var(std::move(x))}, {{"to", static_cast<int64_t>(to == DType::Float32   ? 1
                                                                                       : to == DType::Float16 ? 10
                                                                                       : to == DType::Int64   ? 7
                                                                                       : to == DType::Int32   ? 6
                                                                                       : to == DType::Bool    ? 9
                                                                                       : to == DType::UInt8   ? 2
                                                                                       : to == DType::Float64 ? 11
                                                                                                              : 0)}}));
  };
  for (const Shape& s : kShapes) {
    cast_case(rand_f32(s), DType::Float16);
    cast_case(rand_f32(s).cast(DType::Float16), DType::Float32);
    cast_case(rand_f32(s, -100, 100), DType::Int64);
    cast_case(rand_f32(s, -100, 100), DType::Int32);
    cast_case(rand_i64(s, -1000, 1000), DType::Float32);
    cast_case(rand_i64(s, -1000, 1000), DType::Int32);
    cast_case(rand_i64(s, -1, 1), DType::Bool);
    cast_case(rand_bool(s), DType::Float32);
    cast_case(rand_f32(s, 0, 200), DType::UInt8);
    cast_case(rand_f32(s), DType::Float64);
    cast_case(rand_f32(s), DType::Float32);
  }
  run_all(cuda_, cases);
}

TEST_F(CudaConformance, SoftmaxAndReductions) {
  std::vector<Case> cases;
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    cases.push_back(make_case(op, {var(rand_f32({3, 17}, -5, 5))}));
    cases.push_back(make_case(op, {var(rand_f32({2, 5, 7, 3}, -5, 5))}, {{"axis", int64_t{1}}}));
    cases.push_back(make_case(op, {var(rand_f32({2, 1000}, -5, 5))}, {{"axis", int64_t{-1}}}));
    cases.push_back(make_case(op, {var(rand_f32({2, 5, 7, 3}, -5, 5))}, {{"axis", int64_t{1}}}, 1e-5, 11));
  }
  const Shape s{2, 5, 7, 9};
  for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceL1", "ReduceSumSquare"})
    for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{1}, {2, 3}, {0, -2}, {}})
      for (int64_t keep : {0, 1}) {
        std::map<std::string, AttrValue> attrs{{"keepdims", keep}};
        if (!axes.empty()) attrs["axes"] = axes;
        cases.push_back(make_case(op, {var(rand_f32(s))}, attrs, 1e-5, 17));
      }
  cases.push_back(make_case("ReduceProd", {var(rand_f32({3, 4, 5}, 0.5f, 1.5f))}, {{"axes", std::vector<int64_t>{1}}}));
  // Opset 13+ ReduceSum takes axes as an input; a long reduction exercises the block-per-output path.
  cases.push_back(make_case("ReduceSum", {var(rand_f32(s)), cst(Tensor::from_i64({2}, {1, 3}))}, {}, 1e-5, 13));
  cases.push_back(make_case("ReduceSum", {var(rand_f32({3, 4000})), cst(Tensor::from_i64({1}, {1}))}, {}, 1e-5, 13));
  cases.push_back(make_case("ReduceMean", {var(rand_f32({1, 3, 100, 100}))}, {{"axes", std::vector<int64_t>{2, 3}}}));
  cases.push_back(make_case("ReduceMean", {var(rand_f32(s)), cst(Tensor::from_i64({1}, {-1}))}, {}, 1e-5, 18));
  run_all(cuda_, cases);
}

TEST_F(CudaConformance, DataMovement) {
  std::vector<Case> cases;
  const Shape s{2, 3, 5, 7};
  for (const std::vector<int64_t>& perm : std::vector<std::vector<int64_t>>{{0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 2, 3}})
    cases.push_back(make_case("Transpose", {var(rand_f32(s))}, {{"perm", perm}}));
  cases.push_back(make_case("Transpose", {var(rand_i64({4, 9}, -5, 5))}));
  cases.push_back(make_case("Transpose", {var(rand_f32({3, 5, 6}).cast(DType::Float16))}, {{"perm", std::vector<int64_t>{2, 0, 1}}}));
  // Slice: negative steps and starts, clamped ends, subset of axes.
  cases.push_back(make_case("Slice", {var(rand_f32(s)), cst(Tensor::from_i64({2}, {1, -2})), cst(Tensor::from_i64({2}, {100, 0})),
                                      cst(Tensor::from_i64({2}, {1, 3})), cst(Tensor::from_i64({2}, {1, -2}))}));
  cases.push_back(make_case("Slice", {var(rand_f32(s)), cst(Tensor::from_i64({1}, {-1})),
                                      cst(Tensor::from_i64({1}, {-1000})), cst(Tensor::from_i64({1}, {2})),
                                      cst(Tensor::from_i64({1}, {-1}))}));
  cases.push_back(make_case("Slice", {var(rand_i64({10, 4}, -9, 9)), cst(Tensor::from_i64({1}, {2})), cst(Tensor::from_i64({1}, {9}))}));
  cases.push_back(make_case("Concat", {var(rand_f32({2, 3, 5})), var(rand_f32({2, 1, 5})), var(rand_f32({2, 4, 5}))},
                            {{"axis", int64_t{1}}}));
  cases.push_back(make_case("Concat", {var(rand_i64({3, 2}, 0, 9)), var(rand_i64({3, 5}, 0, 9))}, {{"axis", int64_t{-1}}}));
  {
    Case c = make_case("Split", {var(rand_f32({2, 10, 3})), cst(Tensor::from_i64({3}, {2, 5, 3}))}, {{"axis", int64_t{1}}},
                       1e-5, 13, 3);
    cases.push_back(c);
    cases.push_back(make_case("Split", {var(rand_f32({9, 4}))}, {}, 1e-5, 11, 3));
  }
  cases.push_back(make_case("Gather", {var(rand_f32({7, 5, 3})), var(Tensor::from_i64({2, 2}, {0, 6, -1, 3}))}));
  cases.push_back(make_case("Gather", {var(rand_f32({4, 9, 3})), cst(Tensor::from_i64({3}, {8, -9, 2}))}, {{"axis", int64_t{1}}}));
  cases.push_back(make_case("Gather", {var(rand_i64({5, 6}, -9, 9)), var(Tensor::from_i64({}, {-2}))}, {{"axis", int64_t{1}}}));
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    cases.push_back(make_case("Pad", {var(rand_f32({2, 3, 5, 6})), cst(Tensor::from_i64({8}, {0, 1, 2, 3, 0, 2, 1, 4})),
                                      cst(Tensor::scalar_f32(1.5f))},
                              {{"mode", std::string(mode)}}, 1e-5, mode == std::string("wrap") ? 19 : 13));
  }
  cases.push_back(make_case("Pad", {var(rand_f32({3, 8})), cst(Tensor::from_i64({4}, {-1, 2, 0, -3}))}, {}, 1e-5, 13));
  cases.push_back(make_case("Expand", {var(rand_f32({3, 1, 5})), cst(Tensor::from_i64({4}, {2, 3, 4, 5}))}));
  cases.push_back(make_case("Expand", {var(rand_i64({1, 1}, 0, 9)), cst(Tensor::from_i64({2}, {3, 7}))}));
  cases.push_back(make_case("Tile", {var(rand_f32({2, 3, 4})), cst(Tensor::from_i64({3}, {2, 1, 3}))}));
  cases.push_back(make_case("Reshape", {var(rand_f32(s)), cst(Tensor::from_i64({3}, {6, -1, 7}))}));
  cases.push_back(make_case("Flatten", {var(rand_f32(s))}, {{"axis", int64_t{2}}}));
  cases.push_back(make_case("Squeeze", {var(rand_f32({1, 5, 1, 3})), cst(Tensor::from_i64({1}, {2}))}, {}, 1e-5, 13));
  cases.push_back(make_case("Unsqueeze", {var(rand_f32({5, 3})), cst(Tensor::from_i64({2}, {0, 3}))}, {}, 1e-5, 13));
  cases.push_back(make_case("Identity", {var(rand_i64({4, 4}, -9, 9))}));
  cases.push_back(make_case("Dropout", {var(rand_f32(s))}, {}, 1e-5, 13));
  run_all(cuda_, cases);
}

std::vector<Case> resize_cases() {
  std::vector<Case> cases;
  const Shape s{1, 3, 7, 9};
  for (const char* coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"})
    for (const char* mode : {"nearest", "linear"}) {
      std::map<std::string, AttrValue> attrs{{"mode", std::string(mode)},
                                             {"coordinate_transformation_mode", std::string(coord)}};
      // scales (upsample by 2, and a fractional downsample), and sizes.
      cases.push_back(make_case("Resize", {var(rand_f32(s)), none(), cst(Tensor::from_f32({4}, {1, 1, 2, 2}))}, attrs, 1e-5, 13));
      cases.push_back(make_case("Resize", {var(rand_f32(s)), none(), cst(Tensor::from_f32({4}, {1, 1, 0.6f, 0.75f}))}, attrs,
                                1e-5, 13));
      cases.push_back(make_case("Resize", {var(rand_f32(s)), none(), none(), cst(Tensor::from_i64({4}, {1, 3, 11, 5}))},
                                attrs, 1e-5, 13));
    }
  // tf_half_pixel_for_nn (nearest only); sizes that keep one axis (an identity axis).
  cases.push_back(make_case("Resize", {var(rand_f32(s)), none(), cst(Tensor::from_f32({4}, {1, 1, 2, 1.5f}))},
                            {{"mode", std::string("nearest")},
                             {"coordinate_transformation_mode", std::string("tf_half_pixel_for_nn")}}, 1e-5, 13));
  cases.push_back(make_case("Resize", {var(rand_f32(s)), none(), none(), cst(Tensor::from_i64({4}, {1, 3, 7, 13}))},
                            {{"mode", std::string("nearest")}, {"nearest_mode", std::string("ceil")},
                             {"coordinate_transformation_mode", std::string("tf_half_pixel_for_nn")}}, 1e-5, 13));
  for (const char* nm : {"round_prefer_ceil", "floor", "ceil"})
    cases.push_back(make_case("Resize", {var(rand_f32(s)), none(), cst(Tensor::from_f32({4}, {1, 1, 1.7f, 2.5f}))},
                              {{"mode", std::string("nearest")}, {"nearest_mode", std::string(nm)}}, 1e-5, 13));
  return cases;
}

TEST_F(CudaConformance, Resize) { run_all(cuda_, resize_cases()); }

// The Resize kernel's arithmetic (kernels/index.hpp resize_element with the geometry the CUDA op
// plans) evaluated on the host against the CPU backend: runs without a GPU.
TEST(CudaResizeOnHost, KernelArithmeticMatchesCpu) {
  const std::vector<Case> cases = resize_cases();
  ASSERT_GT(cases.size(), 20u);
  int64_t checked = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    std::vector<TensorInfo> infos;
    std::vector<const TensorInfo*> info_ptrs;
    std::vector<const Tensor*> consts;
    for (const In& i : c.inputs) {
      infos.push_back(i.name.empty() ? TensorInfo{} : TensorInfo{i.value.dtype(), i.value.shape()});
      consts.push_back(i.constant ? &i.value : nullptr);
    }
    for (size_t i = 0; i < infos.size(); ++i) info_ptrs.push_back(c.inputs[i].name.empty() ? nullptr : &infos[i]);
    const auto outs = (*OpRegistry::global().find("Resize"))(InferContext{c.node, c.opset, info_ptrs, consts});
    NodeContext ctx{c.node, c.opset, infos, outs, consts};
    Tensor want(DType::Float32, outs[0].shape);
    std::vector<TensorView> in;
    for (size_t i = 0; i < c.inputs.size(); ++i)
      in.push_back(c.inputs[i].name.empty() ? TensorView{}
                                            : TensorView{infos[i].dtype, infos[i].shape, const_cast<void*>(c.inputs[i].value.data())});
    std::vector<TensorView> out{TensorView{DType::Float32, outs[0].shape, want.data()}};
    cpu_backend()->plan(ctx)->run(in, out);
    const kern::ResizeGeom g = cuda::resize_geometry(ctx);
    Tensor got(DType::Float32, outs[0].shape);
    for (int64_t t = 0; t < got.numel(); ++t)
      got.data_as<float>()[t] = kern::resize_element(c.inputs[0].value.data_as<float>(), g, t);
    const Compare r = compare_tensors(got, want, 1e-6);
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    checked += got.numel();
  }
  EXPECT_GT(checked, 1000);
}

std::vector<Case> conv_cases() {
  std::vector<Case> cases;
  struct C {
    Shape x, w;
    std::map<std::string, AttrValue> attrs;
    bool bias;
  };
  using V = std::vector<int64_t>;
  const std::vector<C> convs = {
      {{1, 3, 17, 19}, {8, 3, 3, 3}, {{"pads", V{1, 1, 1, 1}}}, true},
      {{2, 5, 16, 15}, {7, 5, 3, 3}, {{"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}}, false},
      {{1, 4, 21, 20}, {6, 4, 3, 3}, {{"dilations", V{2, 2}}, {"pads", V{2, 2, 2, 2}}}, true},
      {{2, 6, 11, 9}, {9, 2, 3, 3}, {{"group", int64_t{3}}, {"pads", V{1, 1, 1, 1}}}, true},            // grouped
      {{1, 7, 13, 13}, {7, 1, 3, 3}, {{"group", int64_t{7}}, {"pads", V{1, 1, 1, 1}}}, true},           // depthwise
      {{1, 7, 14, 14}, {7, 1, 5, 5}, {{"group", int64_t{7}}, {"strides", V{2, 2}}, {"pads", V{2, 2, 2, 2}}}, false},
      {{1, 3, 12, 11}, {5, 3, 3, 4}, {{"pads", V{0, 1, 1, 2}}}, true},                                  // asymmetric
      {{1, 3, 12, 12}, {4, 3, 3, 3}, {{"strides", V{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}, true},
      {{1, 16, 9, 9}, {33, 16, 1, 1}, {}, true},                                                        // 1x1
      {{2, 5, 23}, {4, 5, 5}, {{"pads", V{2, 2}}, {"strides", V{2}}}, true},                           // 1-D
      {{1, 2, 5, 6, 7}, {3, 2, 3, 3, 3}, {{"pads", V{1, 1, 1, 1, 1, 1}}}, true},                       // 3-D
  };
  for (const C& c : convs) {
    std::vector<In> in = {var(rand_f32(c.x)), cst(rand_f32(c.w, -0.5f, 0.5f))};
    if (c.bias) in.push_back(cst(rand_f32({c.w[0]})));
    cases.push_back(make_case("Conv", in, c.attrs));
  }
  // ConvTranspose: stride 2 with output_padding, and grouped.
  cases.push_back(make_case("ConvTranspose", {var(rand_f32({1, 4, 5, 6})), cst(rand_f32({4, 3, 3, 3}, -0.5f, 0.5f)),
                                              cst(rand_f32({3}))},
                            {{"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}, {"output_padding", V{1, 1}}}));
  cases.push_back(make_case("ConvTranspose", {var(rand_f32({2, 6, 7, 5})), cst(rand_f32({6, 2, 4, 4}, -0.5f, 0.5f))},
                            {{"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}, {"group", int64_t{3}}}));
  cases.push_back(make_case("ConvTranspose", {var(rand_f32({1, 3, 9})), cst(rand_f32({3, 5, 3}, -0.5f, 0.5f))}, {}));
  // Asymmetric pads: always the direct kernel.
  cases.push_back(make_case("ConvTranspose", {var(rand_f32({1, 2, 6, 5})), cst(rand_f32({2, 4, 3, 3}, -0.5f, 0.5f)),
                                              cst(rand_f32({4}))},
                            {{"strides", V{2, 2}}, {"pads", V{0, 1, 1, 0}}}));
  return cases;
}

TEST_F(CudaConformance, Conv) { run_all(cuda_, conv_cases()); }

// The direct convolution kernels (the fallback when cuDNN has no engine) on the same cases.
TEST_F(CudaConformance, ConvDirectKernel) {
  ::setenv("NETLENS_CUDA_DIRECT_CONV", "1", 1);
  run_all(cuda_, conv_cases());
  ::unsetenv("NETLENS_CUDA_DIRECT_CONV");
}

std::vector<Case> gemm_matmul_cases() {
  std::vector<Case> cases;
  for (int64_t ta : {0, 1})
    for (int64_t tb : {0, 1}) {
      const int64_t m = 13, k = 17, n = 9;
      Shape a = ta ? Shape{k, m} : Shape{m, k}, b = tb ? Shape{n, k} : Shape{k, n};
      cases.push_back(make_case("Gemm", {var(rand_f32(a)), cst(rand_f32(b)), cst(rand_f32({n}))},
                                {{"transA", ta}, {"transB", tb}, {"alpha", 0.7f}, {"beta", 1.3f}}));
      cases.push_back(make_case("Gemm", {var(rand_f32(a)), var(rand_f32(b)), var(rand_f32({m, 1}))},
                                {{"transA", ta}, {"transB", tb}}));
    }
  cases.push_back(make_case("Gemm", {var(rand_f32({1, 2048})), cst(rand_f32({1000, 2048}, -0.1f, 0.1f)), cst(rand_f32({1000}))},
                            {{"transB", int64_t{1}}}));
  cases.push_back(make_case("Gemm", {var(rand_f32({3, 5})), var(rand_f32({5, 4}))}));
  const std::vector<std::pair<Shape, Shape>> mm = {
      {{5, 7}, {7, 3}}, {{2, 3, 5, 7}, {7, 4}}, {{2, 1, 5, 7}, {3, 7, 4}}, {{7}, {7, 3}}, {{4, 7}, {7}},
      {{3, 1, 6}, {3, 6, 2}}, {{2, 3, 4, 5}, {2, 3, 5, 6}}, {{1, 40, 96}, {96, 129}},
  };
  for (const auto& [a, b] : mm) cases.push_back(make_case("MatMul", {var(rand_f32(a)), var(rand_f32(b))}));
  cases.push_back(make_case("MatMul", {var(rand_f32({2, 9, 33})), cst(rand_f32({33, 17}))}));
  return cases;
}

TEST_F(CudaConformance, GemmMatMul) { run_all(cuda_, gemm_matmul_cases()); }

// Conv/ConvTranspose/Gemm/MatMul in the reduced-precision modes against the fp32 CPU reference
// (tolerance op_tolerance(): 5e-3 relative L2, see cuda_test_util.hpp).
class CudaPrecision : public CudaTest, public ::testing::WithParamInterface<Precision> {
 protected:
  Backend* backend() {
    std::string why;
    Backend* b = cuda_backend_for(GetParam(), &why);
    if (!b) ADD_FAILURE() << precision_name(GetParam()) << ": " << why;
    return b;
  }
};

TEST_P(CudaPrecision, ConvGemmMatMulWithinTolerance) {
  Backend* b = backend();
  if (!b) return;
  std::vector<Case> cases = conv_cases();
  for (Case& c : gemm_matmul_cases()) cases.push_back(std::move(c));
  double worst = 0;
  for (Case& c : cases) {
    c.tol = op_tolerance(GetParam());
    std::vector<double> errs;
    run_case(b, c, &errs);
    for (double e : errs) worst = std::max(worst, e);
  }
  std::printf("[ precision] %s: %zu Conv/Gemm/MatMul cases, worst relative L2 %.3g (tolerance %.0e)\n",
              precision_name(GetParam()), cases.size(), worst, op_tolerance(GetParam()));
}

// fp16 really computes on float16 copies: random float32 inputs are not representable in half, so
// the result must differ from the float32 reference by about the half rounding (unit roundoff
// 2^-11), more than float32 summation order ever does (~1e-7), and still be within tolerance.
TEST_F(CudaConformance, Fp16RoundsItsInputs) {
  std::string why;
  Backend* b = cuda_backend_for(Precision::Fp16, &why);
  ASSERT_NE(b, nullptr) << why;
  if (b->name() != "cuda") GTEST_SKIP() << "harness self-check mode: not the CUDA backend";
  using V = std::vector<int64_t>;
  std::vector<Case> cases = {
      make_case("Gemm", {var(rand_f32({64, 256})), cst(rand_f32({256, 64}))}, {}, op_tolerance(Precision::Fp16)),
      make_case("MatMul", {var(rand_f32({2, 64, 128})), var(rand_f32({2, 128, 32}))}, {}, op_tolerance(Precision::Fp16)),
  };
  // Float16 convolutions are opt-in (netlens/cuda.hpp says why).
  const char* fp16_conv = std::getenv("NETLENS_CUDA_FP16_CONV");
  if (fp16_conv && std::string(fp16_conv) == "1")
    cases.push_back(make_case("Conv", {var(rand_f32({1, 16, 20, 20})), cst(rand_f32({32, 16, 3, 3}, -0.5f, 0.5f))},
                              {{"pads", V{1, 1, 1, 1}}}, op_tolerance(Precision::Fp16)));
  for (const Case& c : cases) {
    std::vector<double> errs;
    run_case(b, c, &errs);
    ASSERT_EQ(errs.size(), 1u) << c.label;
    EXPECT_GT(errs[0], 1e-5) << c.label << ": no float16 rounding visible (did it run in float32?)";
    std::printf("[ precision] fp16 %s: relative L2 %.3g\n", c.label.c_str(), errs[0]);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, CudaPrecision, ::testing::Values(Precision::Tf32, Precision::Fp16),
                         [](const ::testing::TestParamInfo<Precision>& i) { return std::string(precision_name(i.param)); });

TEST_F(CudaConformance, Normalization) {
  std::vector<Case> cases;
  for (const Shape& s : std::vector<Shape>{{2, 5, 7, 3}, {3, 11}, {1, 37, 4, 4, 2}}) {
    const int64_t c = s[1];
    cases.push_back(make_case("BatchNormalization", {var(rand_f32(s)), cst(rand_f32({c})), cst(rand_f32({c})),
                                                     cst(rand_f32({c})), cst(rand_f32({c}, 0.1f, 2.0f))},
                              {{"epsilon", 1e-3f}}));
  }
  cases.push_back(make_case("LayerNormalization", {var(rand_f32({2, 7, 33})), cst(rand_f32({33})), cst(rand_f32({33}))}));
  cases.push_back(make_case("LayerNormalization", {var(rand_f32({3, 4, 5})), var(rand_f32({4, 5}))}, {{"axis", int64_t{1}}}));
  cases.push_back(make_case("LayerNormalization", {var(rand_f32({2, 3000}, -5, 5)), cst(rand_f32({3000})), none()},
                            {{"epsilon", 1e-6f}}));
  cases.push_back(make_case("InstanceNormalization", {var(rand_f32({2, 5, 7, 9})), cst(rand_f32({5})), cst(rand_f32({5}))}));
  cases.push_back(make_case("InstanceNormalization", {var(rand_f32({1, 3, 11})), cst(rand_f32({3})), cst(rand_f32({3}))},
                            {{"epsilon", 1e-3f}}));
  run_all(cuda_, cases);
}

TEST_F(CudaConformance, Pooling) {
  std::vector<Case> cases;
  using V = std::vector<int64_t>;
  const Shape s{2, 3, 17, 15};
  cases.push_back(make_case("MaxPool", {var(rand_f32(s))}, {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}}));
  cases.push_back(make_case("MaxPool", {var(rand_f32(s))}, {{"kernel_shape", V{3, 2}}, {"strides", V{2, 2}}, {"ceil_mode", int64_t{1}}}));
  cases.push_back(make_case("MaxPool", {var(rand_f32(s))}, {{"kernel_shape", V{2, 2}}, {"dilations", V{2, 2}}}));
  cases.push_back(make_case("MaxPool", {var(rand_f32({1, 4, 20}))}, {{"kernel_shape", V{3}}, {"strides", V{2}}}));
  for (int64_t cip : {0, 1}) {
    cases.push_back(make_case("AveragePool", {var(rand_f32(s))},
                              {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}, {"count_include_pad", cip}}));
    cases.push_back(make_case("AveragePool", {var(rand_f32(s))},
                              {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{0, 1, 1, 0}},
                               {"ceil_mode", int64_t{1}}, {"count_include_pad", cip}}));
  }
  cases.push_back(make_case("AveragePool", {var(rand_f32({1, 2, 5, 6, 7}))}, {{"kernel_shape", V{2, 2, 2}}, {"strides", V{2, 2, 2}}}));
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    cases.push_back(make_case(op, {var(rand_f32(s))}));
    cases.push_back(make_case(op, {var(rand_f32({1, 7, 40, 50}))}));
  }
  run_all(cuda_, cases);
}

// Unsupported configurations are refused with a reason (they then run on the CPU).
TEST_F(CudaConformance, RefusesWhatItDoesNotImplement) {
  if (cuda_->name() != "cuda") GTEST_SKIP() << "harness self-check mode: not the CUDA backend";
  Node n = make_node("Resize", 3, 1, {{"mode", std::string("cubic")}});
  NodeContext ctx{n, 13, {{DType::Float32, {1, 1, 4, 4}}, {}, {DType::Float32, {4}}}, {{DType::Float32, {1, 1, 8, 8}}},
                  {nullptr, nullptr, nullptr}};
  auto why = cuda_->unsupported_reason(ctx);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("cubic"), std::string::npos) << *why;
  Node q = make_node("QLinearConv", 1, 1);
  NodeContext qctx{q, 13, {{DType::UInt8, {1}}}, {{DType::UInt8, {1}}}, {nullptr}};
  ASSERT_TRUE(cuda_->unsupported_reason(qctx).has_value());
}

}  // namespace
}  // namespace netlens::test
