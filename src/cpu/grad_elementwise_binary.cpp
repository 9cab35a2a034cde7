// Reverse mode for the broadcasting ops of the elementwise family: Add, Sub, Mul, Div, Pow, Mod,
// PRelu, Where and the variadic Max, Min, Sum, Mean. Each input's gradient is the output gradient
// times the local derivative, summed over the dims that input was broadcast along
// (grad_elementwise_common.hpp), legacy (opset < 7) `broadcast`/`axis` included.
//
// Choices where the derivative is not unique:
// - Max/Min: on ties the whole gradient goes to the first input (in input order) equal to the
//   output, not split between them; NaN outputs pass no gradient.
// - Mod: d/da = 1 and d/db = -floor(a/b) (fmod=1: -trunc(a/b)), the derivative away from the
//   jumps at multiples of b (as PyTorch's remainder/fmod).
// - Pow: d/da = b a^(b-1) (zero when b == 0), d/db = y log(a), zero where a == 0 and b >= 0 and NaN
//   for a < 0 (log undefined), as PyTorch.
// - PRelu: d/dx = slope where x < 0, else 1; d/dslope = x where x < 0, else 0.
// - Where: the condition is bool and gets nothing; X gets g where the condition holds, Y elsewhere.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <cstring>

#include "grad_elementwise_common.hpp"

namespace netlens::cpu::gew {

namespace {

// Legacy (opset < 7) broadcast=1 with `axis`: B's dims sit at `axis` of A; padded with trailing
// 1s that is numpy broadcasting (mirrors legacy_b_shape of ops_elementwise.cpp).
std::optional<Shape> legacy_b_shape(const NodeContext& ctx) {
  if (ctx.opset >= 7 || ctx.node.attr_int("broadcast", 0) == 0 || !ctx.node.has_attr("axis") || ctx.inputs.size() < 2)
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

std::optional<std::string> check_float0(const NodeContext& ctx) { return float_input(ctx, 0); }

// A two-input op: `da(g, a, b, y)` and `db(g, a, b, y)` are g times the partial derivatives.
template <class DA, class DB>
CpuGrad binary_grad(DA da, DB db) {
  CpuGrad gr;
  gr.check = check_float0;
  gr.plan = [da, db](const NodeContext& ctx, const std::vector<bool>&) {
    return make_grad_kernel([da, db, legacy = legacy_b_shape(ctx)](const GradViews& v) {
      if (!v.grad_outputs[0].data) return;
      const TensorView& a = v.inputs[0];
      TensorView b = v.inputs[1];
      if (legacy) b.shape = *legacy;
      // A non-float second operand (Pow's integer exponent) is read as float.
      std::vector<float> bconv;
      const float* pb = fin(b);
      if (b.dtype != DType::Float32) {
        Tensor f = Tensor::view(b.dtype, b.shape, b.data).cast(DType::Float32);
        bconv.assign(f.data_as<float>(), f.data_as<float>() + f.numel());
        pb = bconv.data();
      }
      const float* pa = fin(a);
      const float* y = fin(v.outputs[0]);
      const float* g = fin(v.grad_outputs[0]);
      const Shape& O = v.outputs[0].shape;
      const int64_t n = numel(O);
      // A broadcast operand whose partner has the output's shape (a bias, an SE scale) is reduced
      // in one fused pass; otherwise the products go through a scratch buffer.
      if (wanted(v, 0)) {
        if (a.numel() != n && b.numel() == n)
          unbroadcast_map(O, fout(v.grad_inputs[0]), a.shape,
                          [=](int64_t i, int64_t k) { return da(g[i], pa[k], pb[i], y[i]); });
        else
          add_unbroadcast(fout(v.grad_inputs[0]), a.shape, O, [&](float* dst) {
            each2(pa, a.shape, pb, b.shape, O, [=](int64_t o, float av, float bv) { dst[o] += da(g[o], av, bv, y[o]); });
          });
      }
      if (wanted(v, 1)) {
        if (b.numel() != n && a.numel() == n)
          unbroadcast_map(O, fout(v.grad_inputs[1]), b.shape,
                          [=](int64_t i, int64_t k) { return db(g[i], pa[i], pb[k], y[i]); });
        else
          add_unbroadcast(fout(v.grad_inputs[1]), b.shape, O, [&](float* dst) {
            each2(pa, a.shape, pb, b.shape, O, [=](int64_t o, float av, float bv) { dst[o] += db(g[o], av, bv, y[o]); });
          });
      }
    });
  };
  return gr;
}

// Add/Sub: the gradient itself (or its negation), reduced; no need to read the operands.
CpuGrad linear_grad(float sign_b) {
  CpuGrad gr;
  gr.check = check_float0;
  gr.plan = [sign_b](const NodeContext& ctx, const std::vector<bool>&) {
    return make_grad_kernel([sign_b, legacy = legacy_b_shape(ctx)](const GradViews& v) {
      if (!v.grad_outputs[0].data) return;
      const float* g = fin(v.grad_outputs[0]);
      const Shape& O = v.outputs[0].shape;
      if (wanted(v, 0)) unbroadcast_add(g, O, fout(v.grad_inputs[0]), v.inputs[0].shape);
      if (wanted(v, 1)) {
        const Shape& B = legacy ? *legacy : v.inputs[1].shape;
        float* gb = fout(v.grad_inputs[1]);
        if (sign_b > 0) {
          unbroadcast_add(g, O, gb, B);
        } else {
          add_unbroadcast(gb, B, O, [&](float* dst) { add_flat(dst, numel(O), [=](int64_t i) { return -g[i]; }); });
        }
      }
    });
  };
  return gr;
}

void register_arith(CpuGradTable& t) {
  t["Add"] = linear_grad(1.f);
  t["Sub"] = linear_grad(-1.f);
  t["Mul"] = binary_grad([](float g, float, float b, float) { return g * b; },
                         [](float g, float a, float, float) { return g * a; });
  t["Div"] = binary_grad([](float g, float, float b, float) { return g / b; },
                         [](float g, float a, float b, float) { return -g * a / (b * b); });
  t["Pow"] = binary_grad(
      [](float g, float a, float b, float) { return b == 0.f ? 0.f : g * b * std::pow(a, b - 1.f); },
      [](float g, float a, float b, float y) { return a == 0.f && b >= 0.f ? 0.f : g * y * std::log(a); });
  t["PRelu"] = binary_grad([](float g, float x, float s, float) { return x < 0.f ? g * s : g; },
                           [](float g, float x, float, float) { return x < 0.f ? g * x : 0.f; });
  t["Mod"] = CpuGrad{};  // attribute-dependent: planned below
  t["Mod"].check = check_float0;
  t["Mod"].plan = [](const NodeContext& ctx, const std::vector<bool>& need) {
    const auto da = [](float g, float, float, float) { return g; };
    if (ctx.node.attr_int("fmod", 0) != 0)
      return binary_grad(da, [](float g, float a, float b, float) { return -g * std::trunc(a / b); }).plan(ctx, need);
    return binary_grad(da, [](float g, float a, float b, float) { return -g * std::floor(a / b); }).plan(ctx, need);
  };
}

// Where(cond, X, Y): cond is bool (no gradient); X and Y broadcast with it.
void register_where(CpuGradTable& t) {
  CpuGrad gr;
  gr.check = [](const NodeContext& ctx) -> std::optional<std::string> {
    if (ctx.outputs.empty() || ctx.outputs[0].dtype != DType::Float32)
      return "Where on " + std::string(dtype_name(ctx.outputs.empty() ? DType::Undefined : ctx.outputs[0].dtype)) +
             " has no gradient";
    return std::nullopt;
  };
  gr.plan = [](const NodeContext&, const std::vector<bool>&) {
    return make_grad_kernel([](const GradViews& v) {
      if (!v.grad_outputs[0].data) return;
      const TensorView& c = v.inputs[0];
      const uint8_t* pc = static_cast<const uint8_t*>(c.data);
      const float* g = fin(v.grad_outputs[0]);
      const Shape& O = v.outputs[0].shape;
      const int64_t n = numel(O);
      // The condition broadcast to O, as bytes, once for both branches.
      std::vector<uint8_t> mask(static_cast<size_t>(n));
      if (c.numel() == n) {
        std::memcpy(mask.data(), pc, static_cast<size_t>(n));
      } else {
        ew::Bcast<1> bc(O, {&c.shape});
        bc.for_rows([&](const std::array<int64_t, 1>& off, int64_t oo, int64_t len, const std::array<int64_t, 1>& s) {
          for (int64_t i = 0; i < len; ++i) mask[static_cast<size_t>(oo + i)] = pc[off[0] + i * s[0]];
        });
      }
      const uint8_t* m = mask.data();
      for (size_t k = 1; k <= 2; ++k) {
        if (!wanted(v, k)) continue;
        const bool take = k == 1;
        add_unbroadcast(fout(v.grad_inputs[k]), v.inputs[k].shape, O, [&](float* dst) {
          add_flat(dst, n, [=](int64_t i) {
            const float gi = g[i];  // an unconditional load: the select vectorises
            return (m[i] != 0) == take ? gi : 0.f;
          });
        });
      }
    });
  };
  t["Where"] = std::move(gr);
}

// Variadic Sum/Mean: every input gets the (scaled) gradient, reduced to its shape.
CpuGrad variadic_linear(bool mean) {
  CpuGrad gr;
  gr.check = check_float0;
  gr.plan = [mean](const NodeContext&, const std::vector<bool>&) {
    return make_grad_kernel([mean](const GradViews& v) {
      if (!v.grad_outputs[0].data) return;
      const float* g = fin(v.grad_outputs[0]);
      const Shape& O = v.outputs[0].shape;
      const float scale = mean ? 1.f / static_cast<float>(v.inputs.size()) : 1.f;
      for (size_t k = 0; k < v.inputs.size(); ++k) {
        if (!wanted(v, k)) continue;
        if (!mean) {
          unbroadcast_add(g, O, fout(v.grad_inputs[k]), v.inputs[k].shape);
          continue;
        }
        add_unbroadcast(fout(v.grad_inputs[k]), v.inputs[k].shape, O, [&](float* dst) {
          add_flat(dst, numel(O), [=](int64_t i) { return g[i] * scale; });
        });
      }
    });
  };
  return gr;
}

// Variadic Max/Min: the first input equal to the output takes the gradient.
CpuGrad variadic_select() {
  CpuGrad gr;
  gr.check = check_float0;
  gr.plan = [](const NodeContext&, const std::vector<bool>&) {
    return make_grad_kernel([](const GradViews& v) {
      if (!v.grad_outputs[0].data) return;
      const float* g = fin(v.grad_outputs[0]);
      const float* y = fin(v.outputs[0]);
      const Shape& O = v.outputs[0].shape;
      const int64_t n = numel(O);
      // winner[o]: index of the first input whose value at o equals the output (-1: none, NaN).
      std::vector<int32_t> winner(static_cast<size_t>(n), -1);
      int32_t* w = winner.data();
      for (size_t k = 0; k < v.inputs.size(); ++k) {
        const int32_t kk = static_cast<int32_t>(k);
        each1(fin(v.inputs[k]), v.inputs[k].shape, O, [=](int64_t o, float x) {
          if (w[o] < 0 && x == y[o]) w[o] = kk;
        });
      }
      for (size_t k = 0; k < v.inputs.size(); ++k) {
        if (!wanted(v, k)) continue;
        const int32_t kk = static_cast<int32_t>(k);
        add_unbroadcast(fout(v.grad_inputs[k]), v.inputs[k].shape, O, [&](float* dst) {
          add_flat(dst, n, [=](int64_t i) {
            const float gi = g[i];
            return w[i] == kk ? gi : 0.f;
          });
        });
      }
    });
  };
  return gr;
}

}  // namespace

void register_binary_grads(CpuGradTable& t) {
  register_arith(t);
  register_where(t);
  t["Sum"] = variadic_linear(false);
  t["Mean"] = variadic_linear(true);
  t["Max"] = variadic_select();
  t["Min"] = variadic_select();
}

}  // namespace netlens::cpu::gew
