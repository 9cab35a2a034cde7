// Reverse mode for the CPU backend's elementwise ops (CpuGrad contract in cpu_ops.hpp): unary maths,
// activations and Clip here; broadcasting binaries, PRelu, Pow, Mod, Where and the variadic ops in
// grad_elementwise_binary.cpp; reductions and the softmax family in grad_elementwise_reduce.cpp.
//
// Conventions at points where the derivative does not exist (PyTorch's, so that the model tests'
// autograd oracle agrees): Relu'(0) = 0, Abs'(0) = 0, LeakyRelu'(0) = alpha, Elu/Selu use the
// negative branch at 0, HardSigmoid/HardSwish use the inner branch on the closed interval for
// HardSwish and the open one for HardSigmoid, Clip passes the gradient to x on lo <= x <= hi.
// Floor, Ceil, Round and Sign have zero gradient (they are piecewise constant): their kernels add
// nothing, explicitly, so that a graph through them is still differentiable.
//
// Speed: derivatives use the kept output where that avoids a transcendental (Sigmoid y(1-y), Tanh
// 1-y², Exp y, Elu y+alpha...); Gelu, Erf, Softplus and Mish go through oneDNN on tensors of 256+
// elements (std::exp/erf/tanh are scalar calls); every other loop is a branch-free vectorised pass.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <limits>
#include <numbers>

#include "elementwise_dnnl.hpp"
#include "nn_common.hpp"  // the process-wide oneDNN engine and per-thread streams
#include "grad_elementwise_common.hpp"

namespace netlens::cpu {

namespace {

using namespace gew;

std::optional<std::string> check_float(const NodeContext& ctx) { return float_input(ctx, 0); }

// A backward kernel built from oneDNN's vectorised transcendental functions, or null when oneDNN
// cannot build them for this size (then the scalar loop of add_unary runs).
using FastGrad = std::function<std::unique_ptr<GradKernel>(const Node&, int64_t n)>;

// dx += g * d(x, y) for a float unary op; make(node) returns d (attributes read at plan time).
template <class Make>
void add_unary(CpuGradTable& t, const char* name, Make make, FastGrad fast = {}) {
  CpuGrad g;
  g.check = check_float;
  g.plan = [make, fast](const NodeContext& ctx, const std::vector<bool>&) -> std::unique_ptr<GradKernel> {
    if (fast)
      if (auto k = fast(ctx.node, numel(ctx.inputs.at(0).shape))) return k;
    auto d = make(ctx.node);
    return make_grad_kernel([d](const GradViews& v) {
      if (!wanted(v, 0) || !v.grad_outputs[0].data) return;
      const float* x = fin(v.inputs[0]);
      const float* y = fin(v.outputs[0]);
      const float* g = fin(v.grad_outputs[0]);
      add_flat(fout(v.grad_inputs[0]), v.grad_inputs[0].numel(), [d, x, y, g](int64_t i) { return g[i] * d(x[i], y[i]); });
    });
  };
  t[name] = std::move(g);
}

template <class D>
void add_plain(CpuGradTable& t, const char* name, D d, FastGrad fast = {}) {
  add_unary(t, name, [d](const Node&) { return d; }, std::move(fast));
}

// Piecewise-constant ops: a gradient of zero almost everywhere (and undefined at the steps).
void add_zero(CpuGradTable& t, const char* name) {
  CpuGrad g;
  g.check = check_float;
  g.plan = [](const NodeContext&, const std::vector<bool>&) { return make_grad_kernel([](const GradViews&) {}); };
  t[name] = std::move(g);
}

float sigmoid(float x) {
  const float e = std::exp(-std::fabs(x));
  const float r = 1.f / (1.f + e);
  return x >= 0.f ? r : e * r;
}

float softplus(float x) { return x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// ---------------------------------------------------------------------------------------------
// oneDNN fast paths. std::exp/erf/tanh are scalar calls (Gelu's backward ran 40x slower than its
// oneDNN forward); here the transcendental part runs through oneDNN forward primitives on scratch
// buffers (kept by the kernel between runs) and the rest is a vectorised loop.
struct Scratch {
  std::vector<float> a, b;
  void size(int64_t n, int count) {
    if (static_cast<int64_t>(a.size()) != n) a.assign(static_cast<size_t>(n), 0.f);
    if (count > 1 && static_cast<int64_t>(b.size()) != n) b.assign(static_cast<size_t>(n), 0.f);
  }
};

// gx += c(x, g, a, b) elementwise, after prep(x, a, b) filled the scratch (one or two buffers).
template <class Prep, class Contribution>
std::unique_ptr<GradKernel> scratch_kernel(int64_t n, int buffers, Prep prep, Contribution c) {
  auto sc = std::make_shared<Scratch>();
  return make_grad_kernel([sc, n, buffers, prep, c](const GradViews& v) {
    if (!wanted(v, 0) || !v.grad_outputs[0].data) return;
    sc->size(n, buffers);
    const float* x = fin(v.inputs[0]);
    prep(x, sc->a.data(), sc->b.data());
    const float* g = fin(v.grad_outputs[0]);
    const float* a = sc->a.data();
    const float* b = buffers > 1 ? sc->b.data() : a;  // unused then, but a valid load: no branch
    add_flat(fout(v.grad_inputs[0]), n, [=](int64_t i) { return c(x[i], g[i], a[i], b[i]); });
  });
}

// a[i] = f(x[i]), vectorised.
template <class F>
void fill(const float* x, float* a, int64_t n, F f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) a[i] = f(x[i]);
}

std::unique_ptr<GradKernel> fast_erf(const Node&, int64_t n) {
  ew::FloatFn ex = ew::dnnl_eltwise(ew::Eltwise::Exp, n);
  if (!ex) return nullptr;
  return scratch_kernel(
      n, 1,
      [ex, n](const float* x, float* a, float*) {
        fill(x, a, n, [](float v) { return -v * v; });
        ex(a, a);
      },
      [](float, float g, float e, float) { return g * (2.f * std::numbers::inv_sqrtpi_v<float>) * e; });
}

// Gelu: oneDNN's own eltwise backward (one pass: dx = dy * gelu'(x)) into scratch, then added.
std::unique_ptr<GradKernel> fast_gelu(const Node& node, int64_t n) {
  if (n < 256) return nullptr;  // below this the scalar loop is as fast as a primitive call
  try {
    const dnnl::algorithm alg = node.attr_string("approximate", "none") == "tanh" ? dnnl::algorithm::eltwise_gelu_tanh
                                                                                   : dnnl::algorithm::eltwise_gelu_erf;
    const dnnl::memory::desc d({n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
    const dnnl::eltwise_forward::primitive_desc fwd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, alg, d, 0.f, 0.f), nn::dnnl_engine());
    auto prim = std::make_shared<dnnl::eltwise_backward>(
        dnnl::eltwise_backward::primitive_desc(dnnl::eltwise_backward::desc(alg, d, d, 0.f, 0.f), nn::dnnl_engine(), fwd));
    auto sc = std::make_shared<Scratch>();
    return make_grad_kernel([prim, d, n, sc](const GradViews& v) {
      if (!wanted(v, 0) || !v.grad_outputs[0].data) return;
      sc->size(n, 1);
      dnnl::memory src(d, nn::dnnl_engine(), v.inputs[0].data);
      dnnl::memory dy(d, nn::dnnl_engine(), v.grad_outputs[0].data);
      dnnl::memory dx(d, nn::dnnl_engine(), sc->a.data());
      dnnl::stream& st = nn::dnnl_stream();
      prim->execute(st, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, dx}});
      st.wait();
      const float* a = sc->a.data();
      add_flat(fout(v.grad_inputs[0]), n, [a](int64_t i) { return a[i]; });
    });
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

std::unique_ptr<GradKernel> fast_softplus(const Node&, int64_t n) {
  ew::FloatFn sig = ew::dnnl_eltwise(ew::Eltwise::Logistic, n);
  if (!sig) return nullptr;
  return scratch_kernel(
      n, 1, [sig](const float* x, float* a, float*) { sig(x, a); }, [](float, float g, float s, float) { return g * s; });
}

// Mish' = tanh(sp) + x (1 - tanh^2(sp)) sigmoid(x), sp = softplus(x); with e = exp(x):
// tanh(sp) = (e^2 + 2e) / (e^2 + 2e + 2) and sigmoid = e / (1 + e). x is capped at 20 for e
// (beyond, both are 1 in float32) so e^2 never overflows.
std::unique_ptr<GradKernel> fast_mish(const Node&, int64_t n) {
  ew::FloatFn ex = ew::dnnl_eltwise(ew::Eltwise::Exp, n);
  if (!ex) return nullptr;
  return scratch_kernel(
      n, 1,
      [ex, n](const float* x, float* a, float*) {
        fill(x, a, n, [](float v) { return v < 20.f ? v : 20.f; });
        ex(a, a);
      },
      [](float x, float g, float e, float) {
        const float q = e * (e + 2.f);
        const float th = q / (q + 2.f);
        const float sig = e / (1.f + e);
        return g * (th + x * (1.f - th * th) * sig);
      });
}

void register_unary(CpuGradTable& t) {
  // Where the output gives the derivative cheaply it is used (y = f(x) is kept by the forward run).
  add_plain(t, "Sigmoid", [](float, float y) { return y * (1.f - y); });
  add_plain(t, "Tanh", [](float, float y) { return 1.f - y * y; });
  add_plain(t, "Exp", [](float, float y) { return y; });
  add_plain(t, "Log", [](float x, float) { return 1.f / x; });
  add_plain(t, "Sqrt", [](float, float y) { return 0.5f / y; });
  add_plain(t, "Reciprocal", [](float, float y) { return -y * y; });
  add_plain(t, "Neg", [](float, float) { return -1.f; });
  add_plain(t, "Abs", [](float x, float) { return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f); });
  add_plain(t, "Relu", [](float x, float) { return x > 0.f ? 1.f : 0.f; });
  add_plain(t, "Softplus", [](float x, float) { return sigmoid(x); }, fast_softplus);
  add_plain(t, "Softsign", [](float x, float) {
    const float d = 1.f + std::fabs(x);
    return 1.f / (d * d);
  });
  add_plain(
      t, "Mish",
      [](float x, float) {
        const float th = std::tanh(softplus(x));
        return th + x * (1.f - th * th) * sigmoid(x);
      },
      fast_mish);
  add_plain(t, "Erf", [](float x, float) { return std::numbers::inv_sqrtpi_v<float> * 2.f * std::exp(-x * x); }, fast_erf);
  add_plain(t, "Sin", [](float x, float) { return std::cos(x); });
  add_plain(t, "Cos", [](float x, float) { return -std::sin(x); });
  add_plain(t, "Tan", [](float, float y) { return 1.f + y * y; });
  add_plain(t, "Asin", [](float x, float) { return 1.f / std::sqrt(1.f - x * x); });
  add_plain(t, "Acos", [](float x, float) { return -1.f / std::sqrt(1.f - x * x); });
  add_plain(t, "Atan", [](float x, float) { return 1.f / (1.f + x * x); });
  add_plain(t, "Sinh", [](float x, float) { return std::cosh(x); });
  add_plain(t, "Cosh", [](float x, float) { return std::sinh(x); });
  add_plain(t, "Asinh", [](float x, float) { return 1.f / std::sqrt(x * x + 1.f); });
  add_plain(t, "Acosh", [](float x, float) { return 1.f / std::sqrt(x * x - 1.f); });
  add_plain(t, "Atanh", [](float x, float) { return 1.f / (1.f - x * x); });
  // HardSwish = x * clamp(x/6 + 1/2, 0, 1).
  add_plain(t, "HardSwish", [](float x, float) { return x < -3.f ? 0.f : (x > 3.f ? 1.f : x / 3.f + 0.5f); });

  add_unary(t, "LeakyRelu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 0.01f);
    return [alpha](float x, float) { return x > 0.f ? 1.f : alpha; };
  });
  // Elu/Selu/Celu: on the negative branch the derivative is a shift of the output (no exp).
  add_unary(t, "Elu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.f);
    return [alpha](float x, float y) { return x > 0.f ? 1.f : y + alpha; };
  });
  add_unary(t, "Selu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.67326319217681884765625f);
    const float gamma = n.attr_float("gamma", 1.05070102214813232421875f);
    return [ga = gamma * alpha, gamma](float x, float y) { return x > 0.f ? gamma : y + ga; };
  });
  add_unary(t, "Celu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.f);
    return [inv = 1.f / alpha](float x, float y) { return x < 0.f ? y * inv + 1.f : 1.f; };
  });
  add_unary(t, "HardSigmoid", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
    return [alpha, beta](float x, float) {
      const float v = alpha * x + beta;
      return v > 0.f && v < 1.f ? alpha : 0.f;
    };
  });
  add_unary(t, "ThresholdedRelu", [](const Node& n) {
    const float alpha = n.attr_float("alpha", 1.f);
    return [alpha](float x, float) { return x > alpha ? 1.f : 0.f; };
  });
  add_unary(t, "Gelu", [](const Node& n) {
    const bool approx = n.attr_string("approximate", "none") == "tanh";
    return [approx](float x, float) {
      if (approx) {
        const float k = std::numbers::sqrt2_v<float> * std::numbers::inv_sqrtpi_v<float>;  // sqrt(2/pi)
        const float th = std::tanh(k * (x + 0.044715f * x * x * x));
        return 0.5f * (1.f + th) + 0.5f * x * (1.f - th * th) * k * (1.f + 3.f * 0.044715f * x * x);
      }
      // Phi(x) + x phi(x).
      const float cdf = 0.5f * (1.f + std::erf(x * (std::numbers::sqrt2_v<float> / 2)));
      const float pdf = std::exp(-0.5f * x * x) * (std::numbers::inv_sqrtpi_v<float> / std::numbers::sqrt2_v<float>);
      return cdf + x * pdf;
    };
  }, fast_gelu);
  t["Gelu"].check = [](const NodeContext& ctx) -> std::optional<std::string> {
    const std::string a = ctx.node.attr_string("approximate", "none");
    if (a != "none" && a != "tanh") return "Gelu approximate='" + a + "' is not supported";
    return check_float(ctx);
  };

  add_zero(t, "Floor");
  add_zero(t, "Ceil");
  add_zero(t, "Round");
  add_zero(t, "Sign");
}

// Clip: bounds are attributes before opset 11, optional scalar inputs from opset 11 on. y =
// min(max(x, lo), hi): x gets g where lo <= x <= hi, lo gets Σ g where x < lo (and lo <= hi),
// hi gets Σ g where the result is hi because of it (x > hi, or every element when lo > hi).
void register_clip(CpuGradTable& t) {
  CpuGrad g;
  g.check = check_float;
  g.plan = [](const NodeContext& ctx, const std::vector<bool>&) {
    const bool attrs = ctx.opset < 11;
    const float amin = ctx.node.attr_float("min", -std::numeric_limits<float>::infinity());
    const float amax = ctx.node.attr_float("max", std::numeric_limits<float>::infinity());
    return make_grad_kernel([attrs, amin, amax](const GradViews& v) {
      if (!v.grad_outputs[0].data) return;
      float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
      if (attrs) {
        lo = amin;
        hi = amax;
      } else {
        if (v.inputs.size() > 1 && v.inputs[1].data && v.inputs[1].numel() == 1) lo = fin(v.inputs[1])[0];
        if (v.inputs.size() > 2 && v.inputs[2].data && v.inputs[2].numel() == 1) hi = fin(v.inputs[2])[0];
      }
      const float* x = fin(v.inputs[0]);
      const float* g = fin(v.grad_outputs[0]);
      const int64_t n = v.outputs[0].numel();
      if (wanted(v, 0)) {
        if (lo > hi) {
          // Every output is hi: nothing reaches x.
        } else {
          add_flat(fout(v.grad_inputs[0]), n, [=](int64_t i) {
            // g loaded unconditionally and two selects (not &&): the loop stays branch-free.
            const float gi = g[i], xi = x[i];
            const float r = xi >= lo ? gi : 0.f;
            return xi <= hi ? r : 0.f;
          });
        }
      }
      for (size_t k = 1; k <= 2; ++k) {
        if (attrs || !wanted(v, k) || !v.inputs[k].data) continue;
        const bool is_lo = k == 1;
        double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; ++i) {
          const bool to_hi = lo > hi || x[i] > hi;
          const bool to_lo = !to_hi && x[i] < lo;
          if (is_lo ? to_lo : to_hi) acc += g[i];
        }
        fout(v.grad_inputs[k])[0] += static_cast<float>(acc);
      }
    });
  };
  t["Clip"] = std::move(g);
}

}  // namespace

void register_elementwise_grads(CpuGradTable& t) {
  register_unary(t);
  register_clip(t);
  gew::register_binary_grads(t);
  gew::register_reduce_grads(t);
}

}  // namespace netlens::cpu
