// CPU kernels of the elementwise family: unary maths and activations, broadcasting arithmetic,
// comparisons, logic, Where, Clip, PRelu, Pow, BitShift and the variadic Min/Max/Sum/Mean.
// Reductions, ArgMax/ArgMin and the softmax family live in elementwise_reduce.cpp.
//
// Float kernels run in float32 (the backend converts float16/bfloat16/float64 around them);
// integer tensors keep their type. Integer division/modulo by zero yields 0 instead of trapping
// (onnxruntime would crash the process; we never do).
// Float comparisons may raise FP exceptions; with GCC's default -ftrapping-math that stops it from
// turning `x < 0 ? 0 : x` style selects into vector blends, so most loops here would stay scalar.
// Nothing in netlens reads FP exception flags, and NaN/inf semantics are unchanged.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "elementwise_common.hpp"
#include "elementwise_dnnl.hpp"
#include "elementwise_erf.hpp"
#include "elementwise_sigmoid.hpp"

namespace netlens::cpu {

namespace {

using namespace ew;

using Build = std::function<KernelFn(const NodeContext&)>;

CpuOp make_op(unsigned set, Build build, bool dtype_generic = false) {
  CpuOp op;
  op.check = check_dtype(set);
  op.plan = [build = std::move(build)](const NodeContext& ctx) { return make_kernel(build(ctx)); };
  op.dtype_generic = dtype_generic;
  return op;
}

void require_f32(const TensorView& v, const char* op) {
  if (v.dtype != DType::Float32) bad_dtype(v.dtype, op);
}

// ---------------------------------------------------------------------------------------------
// Float-only unary ops. `make` receives the node (for attributes) and returns the scalar function;
// `fast` (optional) names the oneDNN eltwise algorithm (and its alpha) computing the same thing,
// used when oneDNN can build it for the tensor's size.
using FastFn = std::function<std::optional<std::pair<Eltwise, float>>(const Node&)>;

template <class Make>
void add_float_unary(CpuOpTable& t, const char* name, Make make, FastFn fast = {}) {
  t[name] = make_op(kFloat, [make, name, fast](const NodeContext& ctx) -> KernelFn {
    if (fast) {
      if (auto alg = fast(ctx.node)) {
        if (FloatFn fn = dnnl_eltwise(alg->first, numel(ctx.inputs.at(0).shape), alg->second)) {
          return [fn, name](std::span<const TensorView> in, std::span<const TensorView> out) {
            require_f32(in[0], name);
            fn(in_ptr<float>(in[0]), out_ptr<float>(out[0]));
          };
        }
      }
    }
    auto f = make(ctx.node);
    return [f, name](std::span<const TensorView> in, std::span<const TensorView> out) {
      require_f32(in[0], name);
      unary_flat<float, float>(in[0], out[0], f);
    };
  });
}

// Plain functions of x with no attributes.
template <class F>
void add_float_fn(CpuOpTable& t, const char* name, F f, std::optional<Eltwise> fast = std::nullopt) {
  FastFn ff;
  if (fast) ff = [k = *fast](const Node&) { return std::optional<std::pair<Eltwise, float>>({k, 0.f}); };
  add_float_unary(t, name, [f](const Node&) { return f; }, ff);
}

float softplus(float x) {
  // log(1 + e^x) without overflow for large x.
  return x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// A float32 op computed by one of the shared vectorised functions (elementwise_sigmoid.hpp,
// elementwise_erf.hpp) over 16K-element chunks, in parallel. Their results do not depend on the
// split, so the fused chains' steps, which call them on other ranges, give the same bits.
void add_shared_float_fn(CpuOpTable& t, const char* name, void (*fn)(const float*, float*, int64_t)) {
  t[name] = make_op(kFloat, [name, fn](const NodeContext&) -> KernelFn {
    return [name, fn](std::span<const TensorView> in, std::span<const TensorView> out) {
      require_f32(in[0], name);
      const float* x = in_ptr<float>(in[0]);
      float* y = out_ptr<float>(out[0]);
      const int64_t n = out[0].numel();
      constexpr int64_t kChunk = 16384;
      const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
      for (int64_t c = 0; c < chunks; ++c) fn(x + c * kChunk, y + c * kChunk, std::min(kChunk, n - c * kChunk));
    };
  });
}

void register_float_unary(CpuOpTable& t) {
  // Lambdas, not function pointers, so the loops inline them.
  // Sigmoid: the vectorised function the fused chains' Sigmoid step also uses (fused and unfused
  // runs give the same bits; oneDNN's logistic would not be reproducible in a chain step).
  add_shared_float_fn(t, "Sigmoid", sigmoid_floats);
  add_float_fn(t, "Tanh", [](float x) { return std::tanh(x); }, Eltwise::Tanh);
  // No oneDNN path: its soft_relu is off by ~2e-6 absolute (and negative) for x < -15.
  add_float_fn(t, "Softplus", [](float x) { return softplus(x); });
  add_float_fn(t, "Softsign", [](float x) { return x / (1.f + std::fabs(x)); });
  add_float_fn(t, "Mish", [](float x) { return x * std::tanh(softplus(x)); }, Eltwise::Mish);
  // Erf: GELU decomposed by exporters (Div, Erf, Add, Mul, Mul) makes it hot in transformers; the
  // chains' Erf step uses the same function, so the whole GELU fuses into one pass.
  add_shared_float_fn(t, "Erf", erf_floats);
  add_float_fn(t, "Sqrt", [](float x) { return std::sqrt(x); });
  add_float_fn(t, "Exp", [](float x) { return std::exp(x); }, Eltwise::Exp);
  add_float_fn(t, "Log", [](float x) { return std::log(x); });
  add_float_fn(t, "Reciprocal", [](float x) { return 1.f / x; });
  add_float_fn(t, "Floor", [](float x) { return std::floor(x); });
  add_float_fn(t, "Ceil", [](float x) { return std::ceil(x); });
  // nearbyint rounds half to even in the default rounding mode, as ONNX Round requires.
  add_float_fn(t, "Round", [](float x) { return std::nearbyint(x); });
  add_float_fn(t, "Sin", [](float x) { return std::sin(x); });
  add_float_fn(t, "Cos", [](float x) { return std::cos(x); });
  add_float_fn(t, "Tan", [](float x) { return std::tan(x); });
  add_float_fn(t, "Asin", [](float x) { return std::asin(x); });
  add_float_fn(t, "Acos", [](float x) { return std::acos(x); });
  add_float_fn(t, "Atan", [](float x) { return std::atan(x); });
  add_float_fn(t, "Sinh", [](float x) { return std::sinh(x); });
  add_float_fn(t, "Cosh", [](float x) { return std::cosh(x); });
  add_float_fn(t, "Asinh", [](float x) { return std::asinh(x); });
  add_float_fn(t, "Acosh", [](float x) { return std::acosh(x); });
  add_float_fn(t, "Atanh", [](float x) { return std::atanh(x); });
  // Comparisons are written so that NaN falls through unchanged (Relu(NaN) = NaN, as in ORT).
  add_float_fn(t, "HardSwish", [](float x) {
    const float v = x / 6.f + 0.5f;
    return x * (v < 0.f ? 0.f : (v > 1.f ? 1.f : v));
  });

  add_float_unary(t, "LeakyRelu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 0.01f);
    return [alpha](float x) { return x < 0.f ? alpha * x : x; };
  });
  add_float_unary(
      t, "Elu",
      [](const Node& n) {
        const float alpha = n.attr_float("alpha", 1.f);
        return [alpha](float x) { return x < 0.f ? alpha * std::expm1(x) : x; };
      },
      [](const Node& n) { return std::optional<std::pair<Eltwise, float>>({Eltwise::Elu, n.attr_float("alpha", 1.f)}); });
  add_float_unary(t, "Selu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.67326319217681884765625f);
    const float gamma = n.attr_float("gamma", 1.05070102214813232421875f);
    return [alpha, gamma](float x) { return gamma * (x <= 0.f ? alpha * std::expm1(x) : x); };
  });
  add_float_unary(t, "Celu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.f);
    return [alpha](float x) { return x < 0.f ? alpha * std::expm1(x / alpha) : x; };
  });
  add_float_unary(t, "HardSigmoid", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
    return [alpha, beta](float x) {
      const float v = alpha * x + beta;
      return v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
    };
  });
  add_float_unary(t, "ThresholdedRelu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.f);
    return [alpha](float x) { return x > alpha || std::isnan(x) ? x : 0.f; };
  });

  // Gelu (opset 20): exact erf form or the tanh approximation.
  add_float_unary(
      t, "Gelu",
      [](const Node& n) -> std::function<float(float)> {
        if (n.attr_string("approximate", "none") == "tanh") {
          const float k = std::sqrt(2.f / std::numbers::pi_v<float>);
          return [k](float x) { return 0.5f * x * (1.f + std::tanh(k * (x + 0.044715f * x * x * x))); };
        }
        return [](float x) { return 0.5f * x * (1.f + std::erf(x * std::numbers::sqrt2_v<float> / 2)); };
      },
      [](const Node& n) {
        const bool approx = n.attr_string("approximate", "none") == "tanh";
        return std::optional<std::pair<Eltwise, float>>({approx ? Eltwise::GeluTanh : Eltwise::GeluErf, 0.f});
      });
  t["Gelu"].check = [](const NodeContext& ctx) -> std::optional<std::string> {
    const std::string a = ctx.node.attr_string("approximate", "none");
    if (a != "none" && a != "tanh") return "Gelu approximate='" + a + "' is not supported";
    return check_dtype(kFloat)(ctx);
  };

  t["IsNaN"] = make_op(kFloat, [](const NodeContext&) -> KernelFn {
    return [](std::span<const TensorView> in, std::span<const TensorView> out) {
      require_f32(in[0], "IsNaN");
      unary_flat<float, uint8_t>(in[0], out[0], [](float x) { return static_cast<uint8_t>(std::isnan(x)); });
    };
  });
  t["IsInf"] = make_op(kFloat, [](const NodeContext& ctx) -> KernelFn {
    const bool neg = ctx.node.attr_int("detect_negative", 1) != 0;
    const bool pos = ctx.node.attr_int("detect_positive", 1) != 0;
    return [neg, pos](std::span<const TensorView> in, std::span<const TensorView> out) {
      require_f32(in[0], "IsInf");
      unary_flat<float, uint8_t>(in[0], out[0], [neg, pos](float x) {
        return static_cast<uint8_t>(std::isinf(x) && ((x > 0.f && pos) || (x < 0.f && neg)));
      });
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Unary ops over every numeric type.
template <class F>
void add_numeric_unary(CpuOpTable& t, const char* name, F f) {
  t[name] = make_op(kNumeric, [f, name](const NodeContext&) -> KernelFn {
    return [f, name](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kNumeric>(in[0].dtype, name, [&](auto tag) {
        using T = decltype(tag);
        unary_flat<T, T>(in[0], out[0], [f](T x) { return f(x); });
      });
    };
  });
}

void register_numeric_unary(CpuOpTable& t) {
  add_numeric_unary(t, "Relu", [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_signed_v<T>) return x < T(0) ? T(0) : x;
    else return x;
  });
  add_numeric_unary(t, "Neg", [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) return -x;
    // Wrap around like two's complement (Neg(INT_MIN) = INT_MIN) instead of signed overflow.
    else return static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(x));
  });
  add_numeric_unary(t, "Abs", [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) return std::fabs(x);
    else if constexpr (std::is_signed_v<T>)
      return x < T(0) ? static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(x)) : x;
    else return x;
  });
  add_numeric_unary(t, "Sign", [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) return x;
      return static_cast<T>((x > T(0)) - (x < T(0)));
    } else if constexpr (std::is_signed_v<T>) {
      return static_cast<T>((x > T(0)) - (x < T(0)));
    } else {
      return static_cast<T>(x > T(0));
    }
  });

  t["Not"] = make_op(kBool, [](const NodeContext&) -> KernelFn {
    return [](std::span<const TensorView> in, std::span<const TensorView> out) {
      unary_flat<uint8_t, uint8_t>(in[0], out[0], [](uint8_t x) { return static_cast<uint8_t>(x == 0); });
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Legacy (opset < 7) broadcast=1 with `axis`: B's dims sit at `axis` of A. Padding B's shape with
// trailing 1s turns it into numpy broadcasting (the shape function validated the axis). Returns
// an empty shape when nothing changes.
std::optional<Shape> legacy_b_shape(const NodeContext& ctx) {
  if (ctx.opset >= 7 || ctx.node.attr_int("broadcast", 0) == 0 || !ctx.node.has_attr("axis") ||
      ctx.inputs.size() < 2)
    return std::nullopt;
  const Shape& a = ctx.inputs[0].shape;
  const Shape& b = ctx.inputs[1].shape;
  const int64_t ra = static_cast<int64_t>(a.size()), rb = static_cast<int64_t>(b.size());
  int64_t axis = ctx.node.attr_int("axis", ra - rb);
  if (axis < 0) axis += ra;
  if (axis < 0 || axis + rb > ra) throw Error(ErrorKind::Model, ctx.node.describe() + ": bad legacy broadcast axis");
  Shape padded = b;
  padded.resize(static_cast<size_t>(ra - axis), 1);
  return padded;
}

// The inputs as the kernel should see them (input 1 reshaped for legacy broadcasting).
struct BinaryInputs {
  TensorView a, b;
  BinaryInputs(std::span<const TensorView> in, const std::optional<Shape>& legacy) : a(in[0]), b(in[1]) {
    if (legacy) b.shape = *legacy;
  }
};

// ---------------------------------------------------------------------------------------------
// Binary ops. `Set` is the dtype set of the inputs; Out = void keeps the input type, else the
// result type (uint8_t for comparisons).
template <unsigned Set, class Out, class F>
void add_binary(CpuOpTable& t, const char* name, F f) {
  t[name] = make_op(Set, [f, name](const NodeContext& ctx) -> KernelFn {
    return [f, name, legacy = legacy_b_shape(ctx)](std::span<const TensorView> in, std::span<const TensorView> out) {
      const BinaryInputs v(in, legacy);
      dispatch<Set>(in[0].dtype, name, [&](auto tag) {
        using T = decltype(tag);
        using O = std::conditional_t<std::is_void_v<Out>, T, Out>;
        binary<T, T, O>(v.a, v.b, out[0], [f](T a, T b) { return static_cast<O>(f(a, b)); });
      });
    };
  });
}

template <class T> T int_div(T a, T b) {
  if (b == T(0)) return T(0);
  if constexpr (std::is_signed_v<T>)
    if (b == T(-1)) return static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(a));
  return static_cast<T>(a / b);  // C++ truncates toward zero, as onnxruntime does
}

// Remainder with the sign of the divisor (Python/numpy), or of the dividend when `c_fmod`.
template <class T> T mod_op(T a, T b, bool c_fmod) {
  if constexpr (std::is_floating_point_v<T>) {
    const T r = std::fmod(a, b);
    if (!c_fmod && r != T(0) && ((r < T(0)) != (b < T(0)))) return r + b;
    return r;
  } else {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
      const T r = static_cast<T>(a % b);
      if (!c_fmod && r != T(0) && ((r < T(0)) != (b < T(0)))) return static_cast<T>(r + b);
      return r;
    } else {
      return static_cast<T>(a % b);
    }
  }
}

template <class T> T max_op(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (a > b || std::isnan(a)) ? a : b;  // NaN wins
  else return a > b ? a : b;
}
template <class T> T min_op(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (a < b || std::isnan(a)) ? a : b;
  else return a < b ? a : b;
}

void register_binary(CpuOpTable& t) {
  // Integer +,-,* wrap (computed in the unsigned type: no signed-overflow UB).
  add_binary<kNumeric, void>(t, "Add", [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    } else return a + b;
  });
  add_binary<kNumeric, void>(t, "Sub", [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
    } else return a - b;
  });
  add_binary<kNumeric, void>(t, "Mul", [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_integral_v<T>) {
      using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
      return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    } else return a * b;
  });
  add_binary<kNumeric, void>(t, "Div", [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_integral_v<T>) return int_div(a, b);
    else return a / b;
  });

  t["Mod"] = make_op(kNumeric, [](const NodeContext& ctx) -> KernelFn {
    const bool c_fmod = ctx.node.attr_int("fmod", 0) != 0;
    return [c_fmod](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kNumeric>(in[0].dtype, "Mod", [&](auto tag) {
        using T = decltype(tag);
        binary<T, T, T>(in[0], in[1], out[0], [c_fmod](T a, T b) { return mod_op(a, b, c_fmod); });
      });
    };
  });

  add_binary<kNumeric | kBool, uint8_t>(t, "Equal", [](auto a, auto b) { return a == b; });
  add_binary<kNumeric, uint8_t>(t, "Greater", [](auto a, auto b) { return a > b; });
  add_binary<kNumeric, uint8_t>(t, "Less", [](auto a, auto b) { return a < b; });
  add_binary<kNumeric, uint8_t>(t, "GreaterOrEqual", [](auto a, auto b) { return a >= b; });
  add_binary<kNumeric, uint8_t>(t, "LessOrEqual", [](auto a, auto b) { return a <= b; });
  // Bool tensors hold 0/1, but normalise anyway so that a stray 2 still means true.
  add_binary<kBool, void>(t, "And", [](auto a, auto b) { return static_cast<uint8_t>((a != 0) && (b != 0)); });
  add_binary<kBool, void>(t, "Or", [](auto a, auto b) { return static_cast<uint8_t>((a != 0) || (b != 0)); });
  add_binary<kBool, void>(t, "Xor", [](auto a, auto b) { return static_cast<uint8_t>((a != 0) != (b != 0)); });

  t["BitShift"] = make_op(kSmallInt | kOtherInt, [](const NodeContext& ctx) -> KernelFn {
    const bool left = ctx.node.attr_string("direction", "") == "LEFT";
    return [left](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kSmallInt | kOtherInt>(in[0].dtype, "BitShift", [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_unsigned_v<T>) {
          constexpr T bits = static_cast<T>(sizeof(T) * 8);
          // Shifting by the width or more is undefined in C++; the mathematical result is 0.
          binary<T, T, T>(in[0], in[1], out[0], [left](T a, T b) {
            if (b >= bits) return T(0);
            return static_cast<T>(left ? a << b : a >> b);
          });
        } else {
          bad_dtype(in[0].dtype, "BitShift");
        }
      });
    };
  });
  t["BitShift"].check = check_dtype(kSmallInt | kOtherInt);

  t["PRelu"] = make_op(kFloat | kInt32_64 | kSmallInt, [](const NodeContext&) -> KernelFn {
    return [](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kFloat | kInt32_64 | kSmallInt>(in[0].dtype, "PRelu", [&](auto tag) {
        using T = decltype(tag);
        binary<T, T, T>(in[0], in[1], out[0], [](T x, T s) {
          if constexpr (std::is_signed_v<T>) return x < T(0) ? static_cast<T>(x * s) : x;
          else return x;
        });
      });
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Variadic Min/Max/Sum/Mean: fold the inputs pairwise into the output (which has the full
// broadcast shape, so the running result is always broadcast-free).
template <unsigned Set, class F>
void add_variadic(CpuOpTable& t, const char* name, F f, bool mean) {
  t[name] = make_op(Set, [f, name, mean](const NodeContext&) -> KernelFn {
    return [f, name, mean](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<Set>(in[0].dtype, name, [&](auto tag) {
        using T = decltype(tag);
        auto g = [f](T a, T b) { return static_cast<T>(f(a, b)); };
        const TensorView& o = out[0];
        if (in.size() == 1) {
          if (o.nbytes()) std::memcpy(o.data, in[0].data, o.nbytes());
        } else {
          binary<T, T, T>(in[0], in[1], o, g);
          for (size_t i = 2; i < in.size(); ++i) binary<T, T, T>(o, in[i], o, g);
        }
        if constexpr (std::is_floating_point_v<T>)
          if (mean) {
            const T inv = T(1) / static_cast<T>(in.size());
            unary_flat<T, T>(o, o, [inv](T x) { return x * inv; });
          }
      });
    };
  });
}

void register_variadic(CpuOpTable& t) {
  add_variadic<kNumeric>(t, "Max", [](auto a, auto b) { return max_op(a, b); }, false);
  add_variadic<kNumeric>(t, "Min", [](auto a, auto b) { return min_op(a, b); }, false);
  add_variadic<kNumeric>(t, "Sum", [](auto a, auto b) { return a + b; }, false);
  add_variadic<kFloat>(t, "Mean", [](auto a, auto b) { return a + b; }, true);
}

// ---------------------------------------------------------------------------------------------
// Pow: base and exponent may have different types; the result has the base's type.
template <class T> T int_pow(T base, int64_t e) {
  if (e < 0) {  // only |base| == 1 survives truncation toward zero
    if (base == T(1)) return T(1);
    if constexpr (std::is_signed_v<T>)
      if (base == T(-1)) return (e & 1) ? T(-1) : T(1);
    return T(0);
  }
  using U = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  U r = 1, b = static_cast<U>(base);
  while (e) {  // wraps like repeated multiplication in T would
    if (e & 1) r = static_cast<U>(static_cast<uint64_t>(r) * static_cast<uint64_t>(b));
    b = static_cast<U>(static_cast<uint64_t>(b) * static_cast<uint64_t>(b));
    e >>= 1;
  }
  return static_cast<T>(r);
}

Tensor converted(const TensorView& v, DType to) {
  return Tensor::view(v.dtype, v.shape, v.data).cast(to);
}
TensorView view_of(Tensor& t) { return {t.dtype(), t.shape(), t.data()}; }

void register_pow(CpuOpTable& t) {
  CpuOp op = make_op(kNumeric, [](const NodeContext& ctx) -> KernelFn {
    // A constant scalar exponent (x^2 in decomposed LayerNorm, x^0.5) gets a cheaper kernel.
    std::optional<double> ce;
    if (ctx.const_inputs.size() > 1 && ctx.const_inputs[1] && ctx.const_inputs[1]->numel() == 1)
      ce = ctx.const_inputs[1]->get_f64(0);
    return [ce, legacy = legacy_b_shape(ctx)](std::span<const TensorView> in, std::span<const TensorView> out) {
      const BinaryInputs v(in, legacy);
      const TensorView& x = v.a;
      const TensorView& y = v.b;
      if (x.dtype == DType::Float32) {
        if (ce && x.numel() == out[0].numel()) {
          const double e = *ce;
          if (e == 2.0) return unary_flat<float, float>(x, out[0], [](float v) { return v * v; });
          if (e == 1.0) return unary_flat<float, float>(x, out[0], [](float v) { return v; });
          if (e == 0.5) return unary_flat<float, float>(x, out[0], [](float v) { return std::sqrt(v); });
          if (e == 3.0) return unary_flat<float, float>(x, out[0], [](float v) { return v * v * v; });
        }
        auto f = [](float a, float b) { return std::pow(a, b); };
        if (y.dtype == DType::Float32) return binary<float, float, float>(x, y, out[0], f);
        Tensor yf = converted(y, DType::Float32);
        return binary<float, float, float>(x, view_of(yf), out[0], f);
      }
      dispatch<kInt32_64 | kSmallInt | kOtherInt>(x.dtype, "Pow", [&](auto tag) {
        using T = decltype(tag);
        if (is_integer(y.dtype)) {
          Tensor yi;
          TensorView yv = y;
          if (y.dtype != DType::Int64) {
            yi = converted(y, DType::Int64);
            yv = view_of(yi);
          }
          binary<T, int64_t, T>(x, yv, out[0], [](T a, int64_t e) { return int_pow(a, e); });
        } else {
          Tensor yd = converted(y, DType::Float64);
          binary<T, double, T>(x, view_of(yd), out[0], [](T a, double e) {
            return static_cast<T>(std::pow(static_cast<double>(a), e));
          });
        }
      });
    };
  });
  op.check = [](const NodeContext& ctx) -> std::optional<std::string> {
    for (size_t i = 0; i < 2 && i < ctx.inputs.size(); ++i)
      if (!in_set(ctx.inputs[i].dtype, kNumeric))
        return "Pow on " + std::string(dtype_name(ctx.inputs[i].dtype)) + " is not implemented on the CPU";
    return std::nullopt;
  };
  t["Pow"] = std::move(op);
}

// ---------------------------------------------------------------------------------------------
// Clip: bounds are attributes before opset 11, optional scalar inputs from opset 11 on (they may
// be computed at run time, so they are read in run()).
void register_clip(CpuOpTable& t) {
  t["Clip"] = make_op(kNumeric, [](const NodeContext& ctx) -> KernelFn {
    const bool attrs = ctx.opset < 11;
    const float amin = ctx.node.attr_float("min", -std::numeric_limits<float>::infinity());
    const float amax = ctx.node.attr_float("max", std::numeric_limits<float>::infinity());
    return [attrs, amin, amax](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kNumeric>(in[0].dtype, "Clip", [&](auto tag) {
        using T = decltype(tag);
        T lo, hi;
        if constexpr (std::is_floating_point_v<T>) {
          lo = -std::numeric_limits<T>::infinity();
          hi = std::numeric_limits<T>::infinity();
        } else {
          lo = std::numeric_limits<T>::lowest();
          hi = std::numeric_limits<T>::max();
        }
        if (attrs) {
          if constexpr (std::is_floating_point_v<T>) lo = amin, hi = amax;
        } else {
          if (in.size() > 1 && in[1].data && in[1].numel() == 1) lo = in_ptr<T>(in[1])[0];
          if (in.size() > 2 && in[2].data && in[2].numel() == 1) hi = in_ptr<T>(in[2])[0];
        }
        // min(max(x, lo), hi): with lo > hi every value becomes hi, as numpy.clip; NaN stays NaN.
        unary_flat<T, T>(in[0], out[0], [lo, hi](T x) {
          const T v = x < lo ? lo : x;
          return v > hi ? hi : v;
        });
      });
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Where moves bytes, so it runs on every dtype (float16 included) by element size.
template <class T>
void where_typed(std::span<const TensorView> in, const TensorView& o) {
  const uint8_t* c = in_ptr<uint8_t>(in[0]);
  const T* x = in_ptr<T>(in[1]);
  const T* y = in_ptr<T>(in[2]);
  T* z = out_ptr<T>(o);
  const int64_t n = o.numel();
  if (in[0].numel() == n && in[1].numel() == n && in[2].numel() == n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) z[i] = c[i] ? x[i] : y[i];
    return;
  }
  Bcast<3> bc(o.shape, {&in[0].shape, &in[1].shape, &in[2].shape});
  bc.for_rows([&](const std::array<int64_t, 3>& off, int64_t oo, int64_t len, const std::array<int64_t, 3>& s) {
    for (int64_t i = 0; i < len; ++i)
      z[oo + i] = c[off[0] + i * s[0]] ? x[off[1] + i * s[1]] : y[off[2] + i * s[2]];
  });
}

void register_where(CpuOpTable& t) {
  CpuOp op = make_op(0, [](const NodeContext&) -> KernelFn {
    return [](std::span<const TensorView> in, std::span<const TensorView> out) {
      if (in[0].dtype != DType::Bool) bad_dtype(in[0].dtype, "Where");
      switch (dtype_size(out[0].dtype)) {
        case 1: return where_typed<uint8_t>(in, out[0]);
        case 2: return where_typed<uint16_t>(in, out[0]);
        case 4: return where_typed<uint32_t>(in, out[0]);
        case 8: return where_typed<uint64_t>(in, out[0]);
        default: bad_dtype(out[0].dtype, "Where");
      }
    };
  }, /*dtype_generic=*/true);
  op.check = [](const NodeContext& ctx) -> std::optional<std::string> {
    if (ctx.inputs.empty() || ctx.inputs[0].dtype != DType::Bool) return "Where needs a bool condition";
    if (ctx.outputs.empty() || ctx.outputs[0].dtype == DType::Undefined) return "Where output dtype unknown";
    return std::nullopt;
  };
  t["Where"] = std::move(op);
}

}  // namespace

void register_elementwise_ops(CpuOpTable& t) {
  register_float_unary(t);
  register_numeric_unary(t);
  register_binary(t);
  register_variadic(t);
  register_pow(t);
  register_clip(t);
  register_where(t);
  ew::register_reduce_ops(t);
}

}  // namespace netlens::cpu
