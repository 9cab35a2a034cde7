// The cases tests/cuda/test_conformance.cpp ran against the CUDA backend (moved here unchanged in
// shapes, values' ranges and tolerances): every one must be accepted by the CUDA backend
// (required_on = "cuda"); the harness now also runs them on the CPU's references, its backward and
// its guard checks. Extra families for the remaining CPU ops are in cases_extra.cpp.
#include <limits>

#include "conformance.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::conformance {

const std::vector<Shape> kShapes = {{7}, {3, 5, 11}, {2, 3, 17, 13}, {1, 37, 1, 9}};


std::vector<OpCase> unary_cases() {
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
  std::vector<OpCase> cases;
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
  return cases;
}

std::vector<OpCase> binary_broadcast_cases() {
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3, 5, 7}, {2, 3, 5, 7}}, {{2, 3, 5, 7}, {3, 1, 1}}, {{5, 1, 7}, {1, 6, 1}},
      {{2, 3, 5, 7}, {}},           {{1}, {4, 3}},             {{9, 1, 13}, {13}},
  };
  std::vector<OpCase> cases;
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
  return cases;
}

// NaN and ±Inf inputs: IEEE propagation must agree with the CPU (same positions, same kinds).
std::vector<OpCase> non_finite_inputs_cases() {
  auto special = [](const Shape& s) {
    Tensor t = rand_f32(s);
    const float v[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
    for (int64_t i = 0; i < t.numel(); i += 5) t.data_as<float>()[i] = v[(i / 5) % 3];
    return t;
  };
  std::vector<OpCase> cases;
  for (const Shape& s : std::vector<Shape>{{41}, {3, 7, 5}}) {
    for (const char* op : {"Exp", "Abs", "Neg", "Sigmoid", "Tanh", "Sqrt", "Floor"})
      cases.push_back(make_case(op, {var(special(s))}));
    for (const char* op : {"Add", "Sub", "Mul", "Div"})
      cases.push_back(make_case(op, {var(special(s)), var(rand_f32(s, 0.5f, 2.0f))}));
    cases.push_back(make_case("Transpose", {var(special(s))}));
  }
  return cases;
}

std::vector<OpCase> cast_cases() {
  std::vector<OpCase> cases;
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
  return cases;
}

std::vector<OpCase> softmax_and_reductions_cases() {
  std::vector<OpCase> cases;
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
  return cases;
}

std::vector<OpCase> data_movement_cases() {
  std::vector<OpCase> cases;
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
    OpCase c = make_case("Split", {var(rand_f32({2, 10, 3})), cst(Tensor::from_i64({3}, {2, 5, 3}))}, {{"axis", int64_t{1}}},
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
  return cases;
}

std::vector<OpCase> resize_cases() {
  std::vector<OpCase> cases;
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

std::vector<OpCase> conv_cases() {
  std::vector<OpCase> cases;
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
    std::vector<Input> in = {var(rand_f32(c.x)), cst(rand_f32(c.w, -0.5f, 0.5f))};
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

std::vector<OpCase> gemm_matmul_cases() {
  std::vector<OpCase> cases;
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

std::vector<OpCase> normalization_cases() {
  std::vector<OpCase> cases;
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
  return cases;
}

std::vector<OpCase> pooling_cases() {
  std::vector<OpCase> cases;
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
  return cases;
}
std::vector<std::pair<std::string, std::vector<OpCase>>> ported_families() {
  std::vector<std::pair<std::string, std::vector<OpCase>>> f = {
      {"unary", unary_cases()},           {"binary_broadcast", binary_broadcast_cases()},
      {"non_finite", non_finite_inputs_cases()}, {"cast", cast_cases()},
      {"softmax_reductions", softmax_and_reductions_cases()}, {"data_movement", data_movement_cases()},
      {"resize", resize_cases()},         {"conv", conv_cases()},
      {"gemm_matmul", gemm_matmul_cases()}, {"normalization", normalization_cases()},
      {"pooling", pooling_cases()},
  };
  for (auto& [name, cases] : f)
    for (OpCase& c : cases) c.required_on = {"cuda"};
  return f;
}

}  // namespace netlens::conformance
