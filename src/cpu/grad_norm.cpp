// Backward of the normalisations: BatchNormalization (inference form), InstanceNormalization,
// LayerNormalization, LRN and LpNormalization. Direct loops with sums in double, parallel over
// independent rows/channels with OpenMP; per-channel parameter gradients are reduced after the
// parallel part (or parallelised over the channel), so no two threads add into one element.
#include <algorithm>
#include <cmath>
#include <vector>

#include "grad_nn.hpp"
#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cpu::nn {

namespace {

int64_t spatial_of(const Shape& x) {
  int64_t s = 1;
  for (size_t i = 2; i < x.size(); ++i) s *= x[i];
  return s;
}

}  // namespace

// y = (x - mean) * a + B with a = scale / sqrt(var + eps), per channel p (per channel × position
// for opset < 9 spatial = 0). With r = x - mean:
//   dX = dY a,  dScale = Σ dY r / sqrt(var+eps),  dB = Σ dY,  dMean = -Σ dY a,
//   dVar = -½ Σ dY r scale (var+eps)^(-3/2).
// Opset < 14 statistics outputs (the running values passed through) add their gradient to mean/var.
std::unique_ptr<GradKernel> plan_batchnorm_grad(const NodeContext& ctx, const Need& need) {
  const Shape x = ctx.inputs[0].shape;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const int64_t n = x[0], c = x.size() > 1 ? x[1] : 1, spatial = spatial_of(x);
  const bool per_element = ctx.opset < 9 && ctx.node.attr_int("spatial", 1) == 0;
  const int64_t inner = per_element ? spatial : 1;  // parameters per channel
  std::vector<bool> w(5);
  for (size_t i = 0; i < 5; ++i) w[i] = wanted(need, i);
  const bool params = w[1] || w[2] || w[3] || w[4];
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    const float *xp = fwd_in(v, 0), *scale = fwd_in(v, 1), *mean = fwd_in(v, 3), *var = fwd_in(v, 4);
    float *dx = w[0] ? grad_in(v, 0) : nullptr, *dscale = w[1] ? grad_in(v, 1) : nullptr,
          *dbias = w[2] ? grad_in(v, 2) : nullptr, *dmean = w[3] ? grad_in(v, 3) : nullptr,
          *dvar = w[4] ? grad_in(v, 4) : nullptr;
    if (dy) {
#pragma omp parallel for schedule(static) if (n * c * spatial > 32768)
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t j = 0; j < inner; ++j) {
          const int64_t pi = ch * inner + j;
          const double istd = 1.0 / std::sqrt(static_cast<double>(var[pi]) + eps);
          const double a = scale[pi] * istd;
          const float af = static_cast<float>(a);
          double sdy = 0.0, sdyr = 0.0;
          const float m = mean[pi];
          for (int64_t b = 0; b < n; ++b) {
            const int64_t base = (b * c + ch) * spatial;
            const float* dys = dy + base;
            const float* xs = xp + base;
            if (per_element) {
              sdy += dys[j];
              sdyr += static_cast<double>(dys[j]) * (static_cast<double>(xs[j]) - m);
              if (dx) dx[base + j] += dys[j] * af;
            } else {
              if (dx) {
                float* dxs = dx + base;
#pragma omp simd
                for (int64_t i = 0; i < spatial; ++i) dxs[i] += dys[i] * af;
              }
              if (params) {
                double s0 = 0.0, s1 = 0.0;
#pragma omp simd reduction(+ : s0, s1)
                for (int64_t i = 0; i < spatial; ++i) {
                  s0 += dys[i];
                  s1 += static_cast<double>(dys[i]) * (static_cast<double>(xs[i]) - m);
                }
                sdy += s0;
                sdyr += s1;
              }
            }
          }
          if (dscale) dscale[pi] += static_cast<float>(sdyr * istd);
          if (dbias) dbias[pi] += static_cast<float>(sdy);
          if (dmean) dmean[pi] += static_cast<float>(-sdy * a);
          if (dvar) dvar[pi] += static_cast<float>(-0.5 * sdyr * scale[pi] * istd * istd * istd);
        }
      }
    }
    const int64_t np = c * inner;
    if (const float* g1 = grad_out(v, 1); g1 && dmean)
      for (int64_t i = 0; i < np; ++i) dmean[i] += g1[i];
    if (const float* g2 = grad_out(v, 2); g2 && dvar)
      for (int64_t i = 0; i < np; ++i) dvar[i] += g2[i];
  });
}

// Per (n, c) plane with x̂ = (x - μ) σ⁻¹ and g = dY scale:
//   dX = σ⁻¹ (g - mean(g) - x̂ mean(g x̂)),  dScale = Σ dY x̂,  dB = Σ dY.
std::unique_ptr<GradKernel> plan_instancenorm_grad(const NodeContext& ctx, const Need& need) {
  const Shape x = ctx.inputs[0].shape;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const int64_t n = x[0], c = x[1], spatial = spatial_of(x);
  const bool wx = wanted(need, 0), ws = wanted(need, 1), wb = wanted(need, 2);
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    if (!dy || spatial == 0) return;
    const float *xp = fwd_in(v, 0), *scale = fwd_in(v, 1);
    float *dx = wx ? grad_in(v, 0) : nullptr, *dscale = ws ? grad_in(v, 1) : nullptr, *dbias = wb ? grad_in(v, 2) : nullptr;
    std::vector<double> sdy(static_cast<size_t>(n * c)), sdyx(static_cast<size_t>(n * c));
#pragma omp parallel for schedule(static) if (n * c * spatial > 32768)
    for (int64_t nc = 0; nc < n * c; ++nc) {
      const float* xs = xp + nc * spatial;
      const float* dys = dy + nc * spatial;
      double mean, inv;
      row_stats(xs, spatial, eps, mean, inv);
      double s0 = 0.0, s1 = 0.0;
      for (int64_t i = 0; i < spatial; ++i) {
        s0 += dys[i];
        s1 += dys[i] * ((xs[i] - mean) * inv);
      }
      sdy[static_cast<size_t>(nc)] = s0;
      sdyx[static_cast<size_t>(nc)] = s1;
      if (dx) {
        const double sc = scale[nc % c], mg = sc * s0 / spatial, mgx = sc * s1 / spatial;
        float* dxs = dx + nc * spatial;
        for (int64_t i = 0; i < spatial; ++i) {
          const double xh = (xs[i] - mean) * inv;
          dxs[i] += static_cast<float>(inv * (sc * dys[i] - mg - xh * mgx));
        }
      }
    }
    for (int64_t nc = 0; nc < n * c; ++nc) {
      if (dscale) dscale[nc % c] += static_cast<float>(sdyx[static_cast<size_t>(nc)]);
      if (dbias) dbias[nc % c] += static_cast<float>(sdy[static_cast<size_t>(nc)]);
    }
  });
}

// Rows of `inner` = prod(X.shape[axis:]) elements; Scale/B broadcast to that shape. Per row with
// x̂ = (x - μ) σ⁻¹, g = dY scale:  dX = σ⁻¹ (g - mean(g) - x̂ mean(g x̂)); the Mean and InvStdDev
// outputs add dMean / inner and -dInv σ⁻² x̂ / inner. dScale = Σ_rows dY x̂, dB = Σ_rows dY,
// summed further over Scale's/B's broadcast dims.
std::unique_ptr<GradKernel> plan_layernorm_grad(const NodeContext& ctx, const Need& need) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.size()), ctx.node.describe());
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const Shape norm(x.begin() + axis, x.end());
  const int64_t inner = numel(norm), outer = inner > 0 ? numel(x) / inner : 0;
  const Shape scale_shape = ctx.inputs[1].shape;
  const bool has_bias = has_input(ctx, 2);
  const Shape bias_shape = has_bias ? ctx.inputs[2].shape : Shape{};
  const bool wx = wanted(need, 0), ws = wanted(need, 1), wb = wanted(need, 2) && has_bias;
  // Offset into Scale/B of each normalised element.
  auto offsets = [&](const Shape& s) {
    std::vector<int64_t> off(static_cast<size_t>(inner));
    const std::vector<int64_t> st = broadcast_strides(s, norm), ns = strides_of(norm);
    for (int64_t i = 0; i < inner; ++i) {
      int64_t o = 0;
      for (size_t d = 0; d < norm.size(); ++d) o += (i / ns[d]) % norm[d] * st[d];
      off[static_cast<size_t>(i)] = o;
    }
    return off;
  };
  const std::vector<int64_t> soff = offsets(scale_shape), boff = has_bias ? offsets(bias_shape) : std::vector<int64_t>{};
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    const float *gmean = grad_out(v, 1), *ginv = grad_out(v, 2);
    if (inner == 0) return;
    const float *xp = fwd_in(v, 0), *scale = fwd_in(v, 1);
    float *dx = wx ? grad_in(v, 0) : nullptr, *dscale = ws ? grad_in(v, 1) : nullptr, *dbias = wb ? grad_in(v, 2) : nullptr;
    std::vector<float> sc(static_cast<size_t>(inner));
    for (int64_t i = 0; i < inner; ++i) sc[static_cast<size_t>(i)] = scale[soff[static_cast<size_t>(i)]];
    std::vector<double> means(static_cast<size_t>(outer)), invs(static_cast<size_t>(outer));
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t r = 0; r < outer; ++r) {
      const float* xs = xp + r * inner;
      double mean, inv;
      row_stats(xs, inner, eps, mean, inv);
      means[static_cast<size_t>(r)] = mean;
      invs[static_cast<size_t>(r)] = inv;
      if (!dx) continue;
      float* dxs = dx + r * inner;
      double sg = 0.0, sgx = 0.0;
      if (dy) {
        const float* dys = dy + r * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const double g = static_cast<double>(dys[i]) * sc[static_cast<size_t>(i)];
          sg += g;
          sgx += g * ((xs[i] - mean) * inv);
        }
        const double mg = sg / inner, mgx = sgx / inner;
        for (int64_t i = 0; i < inner; ++i) {
          const double xh = (xs[i] - mean) * inv;
          dxs[i] += static_cast<float>(inv * (static_cast<double>(dys[i]) * sc[static_cast<size_t>(i)] - mg - xh * mgx));
        }
      }
      const double dm = gmean ? gmean[r] / static_cast<double>(inner) : 0.0;
      const double di = ginv ? -static_cast<double>(ginv[r]) * inv * inv / static_cast<double>(inner) : 0.0;
      if (dm != 0.0 || di != 0.0)
        for (int64_t i = 0; i < inner; ++i) dxs[i] += static_cast<float>(dm + di * (xs[i] - mean) * inv);
    }
    if (!dy || (!dscale && !dbias)) return;
    std::vector<double> es(static_cast<size_t>(inner)), eb(static_cast<size_t>(inner));
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t i = 0; i < inner; ++i) {
      double s0 = 0.0, s1 = 0.0;
      for (int64_t r = 0; r < outer; ++r) {
        const double d = dy[r * inner + i];
        s0 += d;
        s1 += d * (xp[r * inner + i] - means[static_cast<size_t>(r)]) * invs[static_cast<size_t>(r)];
      }
      eb[static_cast<size_t>(i)] = s0;
      es[static_cast<size_t>(i)] = s1;
    }
    for (int64_t i = 0; i < inner; ++i) {
      if (dscale) dscale[soff[static_cast<size_t>(i)]] += static_cast<float>(es[static_cast<size_t>(i)]);
      if (dbias) dbias[boff[static_cast<size_t>(i)]] += static_cast<float>(eb[static_cast<size_t>(i)]);
    }
  });
}

// y_c = x_c D_c^-β with D_c = bias + α/size Σ_{c' ∈ [c-lo, c+hi]} x_c'^2. So
//   dx_j = dy_j D_j^-β - 2αβ/size x_j Σ_{c : j ∈ window(c)} dy_c x_c D_c^(-β-1),
// and j ∈ window(c) ⇔ c ∈ [j - hi, j + lo].
std::unique_ptr<GradKernel> plan_lrn_grad(const NodeContext& ctx, const Need& need) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t size = ctx.node.attr_int("size", 1);
  const double alpha = ctx.node.attr_float("alpha", 1e-4f), beta = ctx.node.attr_float("beta", 0.75f),
               bias = ctx.node.attr_float("bias", 1.0f);
  const int64_t n = x[0], c = x[1], spatial = spatial_of(x);
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  const bool want = wanted(need, 0);
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    float* dx = want ? grad_in(v, 0) : nullptr;
    if (!dy || !dx) return;
    const float* xp = fwd_in(v, 0);
    const double k = alpha / static_cast<double>(size);
    // One (batch, position) column of channels per iteration: D and t for the column, then dX.
#pragma omp parallel for schedule(static) if (n * c * spatial > 32768)
    for (int64_t bi = 0; bi < n * spatial; ++bi) {
      const int64_t b = bi / spatial, i = bi % spatial;
      const int64_t base = b * c * spatial + i;
      std::vector<double> dpow(static_cast<size_t>(c)), t(static_cast<size_t>(c));
      for (int64_t ch = 0; ch < c; ++ch) {
        double s = 0.0;
        for (int64_t cc = std::max<int64_t>(0, ch - lo); cc <= std::min<int64_t>(c - 1, ch + hi); ++cc) {
          const double xv = xp[base + cc * spatial];
          s += xv * xv;
        }
        const double d = bias + k * s;
        dpow[static_cast<size_t>(ch)] = std::pow(d, -beta);
        t[static_cast<size_t>(ch)] = dy[base + ch * spatial] * static_cast<double>(xp[base + ch * spatial]) * dpow[static_cast<size_t>(ch)] / d;
      }
      for (int64_t j = 0; j < c; ++j) {
        double s = 0.0;
        for (int64_t cc = std::max<int64_t>(0, j - hi); cc <= std::min<int64_t>(c - 1, j + lo); ++cc) s += t[static_cast<size_t>(cc)];
        const double xj = xp[base + j * spatial];
        dx[base + j * spatial] += static_cast<float>(dy[base + j * spatial] * dpow[static_cast<size_t>(j)] - 2.0 * k * beta * xj * s);
      }
    }
  });
}

// p = 2: y = x / ‖x‖ → dx = (dy - y Σ dy·y) / ‖x‖. p = 1: y = x / Σ|x| → dx = dy / s - sign(x) Σ dy·x / s².
// A zero norm (y = 0 there) passes no gradient.
std::unique_ptr<GradKernel> plan_lpnorm_grad(const NodeContext& ctx, const Need& need) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.size()), ctx.node.describe());
  const int64_t p = ctx.node.attr_int("p", 2);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x[i];
  for (size_t i = static_cast<size_t>(axis) + 1; i < x.size(); ++i) inner *= x[i];
  const int64_t len = x[static_cast<size_t>(axis)];
  const bool want = wanted(need, 0);
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    float* dx = want ? grad_in(v, 0) : nullptr;
    if (!dy || !dx) return;
    const float* xp = fwd_in(v, 0);
#pragma omp parallel for schedule(static) if (outer * inner * len > 32768)
    for (int64_t oi = 0; oi < outer * inner; ++oi) {
      const int64_t o = oi / inner, i = oi % inner;
      const int64_t base = o * len * inner + i;
      double s = 0.0, sdx = 0.0;
      for (int64_t kk = 0; kk < len; ++kk) {
        const double xv = xp[base + kk * inner];
        s += p == 1 ? std::fabs(xv) : xv * xv;
        sdx += dy[base + kk * inner] * xv;
      }
      const double norm = p == 1 ? s : std::sqrt(s);
      if (!(norm > 0)) continue;
      for (int64_t kk = 0; kk < len; ++kk) {
        const double xv = xp[base + kk * inner], d = dy[base + kk * inner];
        const double g = p == 1 ? d / norm - (xv > 0 ? 1.0 : xv < 0 ? -1.0 : 0.0) * sdx / (norm * norm)
                                : (d - xv * sdx / (norm * norm)) / norm;
        dx[base + kk * inner] += static_cast<float>(g);
      }
    }
  });
}

}  // namespace netlens::cpu::nn
