// Reverse mode for reductions (ReduceSum ... ReduceLogSumExp) and the softmax family, mirroring the
// forward's attribute handling (elementwise_reduce.cpp): axes as an attribute before the opset
// where they became an input (13 for ReduceSum, 18 for the others), keepdims (the output gradient
// has the same layout either way), noop_with_empty_axes (identity), and Softmax/LogSoftmax's
// coercion to 2-D at `axis` before opset 13 versus the single `axis` from 13 on.
//
// Choices where the derivative is not unique:
// - ReduceMax/ReduceMin: the gradient goes to the first element (lowest flat index) equal to the
//   result, not split between ties.
// - ReduceProd: y/x where no element is zero; with one zero, that element gets the product of the
//   others and the rest nothing; with two or more zeros nothing.
// - ReduceL1: sign(x), 0 at 0. ReduceL2: x/y, 0 where y == 0.
// - Hardmax: zero gradient (piecewise constant).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <algorithm>
#include <cmath>

#include "grad_elementwise_common.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cpu::gew {

namespace {

enum class RKind { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

// Reduced dims as elementwise_reduce.cpp's reduce_axes reads them; empty optional = identity
// (noop_with_empty_axes with no axes).
std::optional<std::vector<bool>> reduced_dims(const NodeContext& ctx, int64_t input_opset) {
  const int64_t rank = static_cast<int64_t>(ctx.inputs.at(0).shape.size());
  std::vector<int64_t> axes;
  if (ctx.opset >= input_opset) {
    if (ctx.inputs.size() > 1 && ctx.inputs[1].dtype != DType::Undefined) {
      const Tensor* t = ctx.const_inputs.size() > 1 ? ctx.const_inputs[1] : nullptr;
      if (!t) throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": axes must be a constant input");
      axes = t->to_i64_vector();
    }
  } else {
    axes = ctx.node.attr_ints("axes");
  }
  const bool noop = ctx.opset >= input_opset && ctx.node.attr_int("noop_with_empty_axes", 0) != 0;
  if (axes.empty() && noop) return std::nullopt;
  std::vector<bool> red(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    if (a < -std::max<int64_t>(rank, 1) || a >= std::max<int64_t>(rank, 1))
      throw Error(ErrorKind::Model, ctx.node.describe() + ": axis " + std::to_string(a) + " out of range");
    if (a < 0) a += rank;
    if (rank > 0) red[static_cast<size_t>(std::min(a, rank - 1))] = true;
  }
  return red;
}

// y, g (the reduced layout) broadcast back over x: gx[i] += h(x[i], y, g).
template <class H>
void expand(const GradViews& v, const Shape& keep, H h) {
  const float* x = fin(v.inputs[0]);
  float* gx = fout(v.grad_inputs[0]);
  each2(fin(v.outputs[0]), keep, fin(v.grad_outputs[0]), keep, v.inputs[0].shape,
        [=](int64_t i, float y, float g) { gx[i] += h(x[i], y, g); });
}

template <RKind K>
void reduce_backward(const GradViews& v, const std::optional<std::vector<bool>>& red, const ReduceGeom* geom) {
  const float* g = fin(v.grad_outputs[0]);
  float* gx = fout(v.grad_inputs[0]);
  const Shape& xs = v.inputs[0].shape;
  if (!red) {  // identity
    add_flat(gx, v.inputs[0].numel(), [=](int64_t i) { return g[i]; });
    return;
  }
  Shape keep = xs;
  for (size_t d = 0; d < keep.size(); ++d)
    if ((*red)[d]) keep[d] = 1;
  const int64_t count = numel(xs) / std::max<int64_t>(numel(keep), 1);
  if constexpr (K == RKind::Sum) {
    expand(v, keep, [](float, float, float g) { return g; });
  } else if constexpr (K == RKind::Mean) {
    const float inv = 1.f / static_cast<float>(std::max<int64_t>(count, 1));
    expand(v, keep, [inv](float, float, float g) { return g * inv; });
  } else if constexpr (K == RKind::L1) {
    expand(v, keep, [](float x, float, float g) { return x > 0.f ? g : (x < 0.f ? -g : 0.f); });
  } else if constexpr (K == RKind::L2) {
    expand(v, keep, [](float x, float y, float g) { return y > 0.f ? g * x / y : 0.f; });
  } else if constexpr (K == RKind::SumSquare) {
    expand(v, keep, [](float x, float, float g) { return 2.f * g * x; });
  } else if constexpr (K == RKind::LogSum) {
    expand(v, keep, [](float, float y, float g) { return g * std::exp(-y); });
  } else if constexpr (K == RKind::LogSumExp) {
    expand(v, keep, [](float x, float y, float g) { return g * std::exp(x - y); });
  } else {
    // Max, Min, Prod: a scan over each output's reduced set.
    const float* x = fin(v.inputs[0]);
    const float* y = fin(v.outputs[0]);
    const int64_t outs = geom->out_count, k = static_cast<int64_t>(geom->roff.size());
    const int64_t* base = geom->base.data();
    const int64_t* roff = geom->roff.data();
#pragma omp parallel for schedule(static) if (outs * k > kParallelMin && outs > 1)
    for (int64_t o = 0; o < outs; ++o) {
      const float* p = x + base[o];
      float* q = gx + base[o];
      if constexpr (K == RKind::Prod) {
        int64_t zeros = 0, zero_at = -1;
        double others = 1.0;
        for (int64_t j = 0; j < k; ++j) {
          const float xv = p[roff[j]];
          if (xv == 0.f) {
            if (zeros++ == 0) zero_at = roff[j];
          } else {
            others *= xv;
          }
        }
        if (zeros == 0) {
          for (int64_t j = 0; j < k; ++j) q[roff[j]] += static_cast<float>(g[o] * (others / p[roff[j]]));
        } else if (zeros == 1) {
          q[zero_at] += static_cast<float>(g[o] * others);
        }
      } else {
        for (int64_t j = 0; j < k; ++j)
          if (p[roff[j]] == y[o]) {
            q[roff[j]] += g[o];
            break;
          }
      }
    }
  }
}

template <RKind K>
void add_reduce(CpuGradTable& t, const char* name, int64_t input_opset) {
  CpuGrad gr;
  gr.check = [](const NodeContext& ctx) { return float_input(ctx, 0); };
  gr.plan = [input_opset](const NodeContext& ctx, const std::vector<bool>&) {
    auto red = reduced_dims(ctx, input_opset);
    std::shared_ptr<ReduceGeom> geom;
    if constexpr (K == RKind::Max || K == RKind::Min || K == RKind::Prod)
      if (red) geom = std::make_shared<ReduceGeom>(ctx.inputs.at(0).shape, *red, /*all_offsets=*/true);
    return make_grad_kernel([red, geom](const GradViews& v) {
      if (!wanted(v, 0) || !v.grad_outputs[0].data) return;
      reduce_backward<K>(v, red, geom.get());
    });
  };
  t[name] = std::move(gr);
}

// Softmax: gx = y (g - Σ g y); LogSoftmax: gx = g - exp(y) Σ g; sums along n of [outer, n, inner].
template <bool Log>
void softmax_block(const float* y, const float* g, float* gx, int64_t n, int64_t inner, std::vector<double>& s) {
  if (inner == 1) {  // one contiguous row: a dot product (8 partial sums) and one pass
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int u = 0; u < 8; ++u) part[u] += Log ? g[i + u] : g[i + u] * y[i + u];
    double acc = 0;
    for (; i < n; ++i) acc += Log ? g[i] : g[i] * y[i];
    for (float p : part) acc += p;
    const float sj = static_cast<float>(acc);
    if constexpr (Log) {
      for (int64_t k = 0; k < n; ++k) gx[k] += g[k] - std::exp(y[k]) * sj;
    } else {
#pragma omp simd
      for (int64_t k = 0; k < n; ++k) gx[k] += y[k] * (g[k] - sj);
    }
    return;
  }
  s.assign(static_cast<size_t>(inner), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t e = i * inner + j;
      s[static_cast<size_t>(j)] += Log ? g[e] : g[e] * y[e];
    }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t e = i * inner + j;
      const float sj = static_cast<float>(s[static_cast<size_t>(j)]);
      gx[e] += Log ? g[e] - std::exp(y[e]) * sj : y[e] * (g[e] - sj);
    }
}

template <bool Log>
void add_softmax(CpuGradTable& t, const char* name) {
  CpuGrad gr;
  gr.check = [](const NodeContext& ctx) { return float_input(ctx, 0); };
  gr.plan = [](const NodeContext& ctx, const std::vector<bool>&) {
    const SoftmaxGeometry g = softmax_geometry(ctx.node, ctx.opset, ctx.inputs.at(0).shape);
    const int64_t outer = g.outer, n = g.len, inner = g.inner;
    return make_grad_kernel([outer, n, inner](const GradViews& v) {
      if (!wanted(v, 0) || !v.grad_outputs[0].data) return;
      const float* y = fin(v.outputs[0]);
      const float* g = fin(v.grad_outputs[0]);
      float* gx = fout(v.grad_inputs[0]);
      const int64_t block = n * inner;
#pragma omp parallel if (outer * block > kParallelMin && outer > 1)
      {
        std::vector<double> sums;
#pragma omp for schedule(static)
        for (int64_t o = 0; o < outer; ++o)
          softmax_block<Log>(y + o * block, g + o * block, gx + o * block, n, inner, sums);
      }
    });
  };
  t[name] = std::move(gr);
}

}  // namespace

void register_reduce_grads(CpuGradTable& t) {
  add_reduce<RKind::Sum>(t, "ReduceSum", 13);
  add_reduce<RKind::Mean>(t, "ReduceMean", 18);
  add_reduce<RKind::Max>(t, "ReduceMax", 18);
  add_reduce<RKind::Min>(t, "ReduceMin", 18);
  add_reduce<RKind::Prod>(t, "ReduceProd", 18);
  add_reduce<RKind::L1>(t, "ReduceL1", 18);
  add_reduce<RKind::L2>(t, "ReduceL2", 18);
  add_reduce<RKind::SumSquare>(t, "ReduceSumSquare", 18);
  add_reduce<RKind::LogSum>(t, "ReduceLogSum", 18);
  add_reduce<RKind::LogSumExp>(t, "ReduceLogSumExp", 18);
  add_softmax<false>(t, "Softmax");
  add_softmax<true>(t, "LogSoftmax");
  // Hardmax is piecewise constant: zero gradient, explicitly.
  t["Hardmax"] = CpuGrad{[](const NodeContext& ctx) { return float_input(ctx, 0); },
                         [](const NodeContext&, const std::vector<bool>&) {
                           return make_grad_kernel([](const GradViews&) {});
                         }};
}

}  // namespace netlens::cpu::gew
