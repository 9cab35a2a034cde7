// CPU kernels of the "nn" family. Conv, ConvTranspose, Gemm, MatMul and the pools go through
// oneDNN (nn_conv.cpp, nn_matmul.cpp, nn_pool.cpp); the normalisations, global pools, LRN and
// LpNormalization are direct loops here (statistics accumulated in double, so results are correct
// to float32 rounding), parallel over independent rows/planes with OpenMP.
#include <cmath>
#include <cstring>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"
#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cpu {

namespace {

using nn::affine_row;
using nn::row_stats;
using nn::sum_row;

const float* in_f32(std::span<const TensorView> in, size_t i) {
  return i < in.size() ? static_cast<const float*>(in[i].data) : nullptr;
}
float* out_f32(std::span<const TensorView> out, size_t i) {
  return i < out.size() ? static_cast<float*>(out[i].data) : nullptr;
}
bool output_used(const NodeContext& ctx, size_t i) {
  return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty();
}

// ------------------------------------------------------------------------------------------------
// BatchNormalization (inference): y = (x - mean) / sqrt(var + eps) * scale + B, per channel (or per
// element for opset < 9 with spatial = 0).
std::optional<std::string> check_batchnorm(const NodeContext& ctx) {
  if (ctx.opset >= 14) {
    if (ctx.node.attr_int("training_mode", 0) != 0)
      return "training_mode=1 (batch statistics) not supported; inference only";
  } else {
    for (size_t i = 1; i < ctx.node.outputs.size(); ++i)
      if (!ctx.node.outputs[i].empty())
        return "training outputs (mean/var/saved statistics) not supported; inference only";
  }
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_batchnorm(const NodeContext& ctx) {
  const Shape x = ctx.inputs[0].shape;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const int64_t n = x[0], c = x.size() > 1 ? x[1] : 1;
  int64_t spatial = 1;
  for (size_t i = 2; i < x.size(); ++i) spatial *= x[i];
  const bool per_element = ctx.opset < 9 && ctx.node.attr_int("spatial", 1) == 0;
  const int64_t params = per_element ? c * spatial : c;
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
    const float *xp = in_f32(in, 0), *scale = in_f32(in, 1), *bias = in_f32(in, 2), *mean = in_f32(in, 3),
                *var = in_f32(in, 4);
    float* y = out_f32(out, 0);
    std::vector<float> a(static_cast<size_t>(params)), b(static_cast<size_t>(params));
    for (int64_t i = 0; i < params; ++i) {
      const double s = static_cast<double>(scale[i]) / std::sqrt(static_cast<double>(var[i]) + eps);
      a[i] = static_cast<float>(s);
      b[i] = static_cast<float>(static_cast<double>(bias[i]) - static_cast<double>(mean[i]) * s);
    }
#pragma omp parallel for schedule(static) if (n * c * spatial > 32768)
    for (int64_t nc = 0; nc < n * c; ++nc) {
      const int64_t ch = nc % c;
      const float* xs = xp + nc * spatial;
      float* ys = y + nc * spatial;
      if (per_element) {
        const float *as = a.data() + ch * spatial, *bs = b.data() + ch * spatial;
        for (int64_t i = 0; i < spatial; ++i) ys[i] = xs[i] * as[i] + bs[i];
      } else {
        const float ac = a[ch], bc = b[ch];
        affine_row(xs, ys, spatial, ac, bc);
      }
    }
    // Opset < 14 may declare (unused) statistics outputs in inference: pass the running ones.
    for (size_t o = 1; o < out.size() && o <= 2; ++o)
      if (out[o].data) std::memcpy(out[o].data, o == 1 ? mean : var, static_cast<size_t>(params) * sizeof(float));
  });
}

// ------------------------------------------------------------------------------------------------
std::unique_ptr<Kernel> plan_instancenorm(const NodeContext& ctx) {
  const Shape x = ctx.inputs[0].shape;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const int64_t n = x[0], c = x[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < x.size(); ++i) spatial *= x[i];
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
    const float *xp = in_f32(in, 0), *scale = in_f32(in, 1), *bias = in_f32(in, 2);
    float* y = out_f32(out, 0);
#pragma omp parallel for schedule(static) if (n * c * spatial > 32768)
    for (int64_t nc = 0; nc < n * c; ++nc) {
      const int64_t ch = nc % c;
      double mean, inv;
      row_stats(xp + nc * spatial, spatial, eps, mean, inv);
      const double a = inv * scale[ch];
      const double b = bias[ch] - mean * a;
      const float af = static_cast<float>(a), bf = static_cast<float>(b);
      const float* xs = xp + nc * spatial;
      float* ys = y + nc * spatial;
      affine_row(xs, ys, spatial, af, bf);
    }
  });
}

// LayerNormalization (opset 17): statistics over X.shape[axis:], Scale/B broadcast to that shape.
std::unique_ptr<Kernel> plan_layernorm(const NodeContext& ctx) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.size()), ctx.node.describe());
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const Shape norm(x.begin() + axis, x.end());
  const int64_t inner = numel(norm), outer = numel(x) / std::max<int64_t>(inner, 1);
  const Shape scale_shape = ctx.inputs[1].shape;
  const bool has_bias = nn::has_input(ctx, 2);
  const Shape bias_shape = has_bias ? ctx.inputs[2].shape : Shape{};
  const bool want_mean = output_used(ctx, 1), want_inv = output_used(ctx, 2);
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
    const float* xp = in_f32(in, 0);
    float* y = out_f32(out, 0);
    // Expand Scale and B to the normalised shape once per run (they are small).
    auto expand = [&](const float* src, const Shape& s) {
      std::vector<float> e(static_cast<size_t>(inner));
      const std::vector<int64_t> st = broadcast_strides(s, norm);
      const std::vector<int64_t> ns = strides_of(norm);
      for (int64_t i = 0; i < inner; ++i) {
        int64_t off = 0;
        for (size_t d = 0; d < norm.size(); ++d) off += (i / ns[d]) % norm[d] * st[d];
        e[static_cast<size_t>(i)] = src[off];
      }
      return e;
    };
    const std::vector<float> sc = expand(in_f32(in, 1), scale_shape);
    const std::vector<float> bi = has_bias ? expand(in_f32(in, 2), bias_shape) : std::vector<float>(inner, 0.0f);
    float* mean_out = want_mean ? out_f32(out, 1) : nullptr;
    float* inv_out = want_inv ? out_f32(out, 2) : nullptr;
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t r = 0; r < outer; ++r) {
      double mean, inv;
      const float* xs = xp + r * inner;
      row_stats(xs, inner, eps, mean, inv);
      float* ys = y + r * inner;
      const float mf = static_cast<float>(mean), invf = static_cast<float>(inv);
      for (int64_t i = 0; i < inner; ++i) ys[i] = (xs[i] - mf) * invf * sc[i] + bi[i];
      if (mean_out) mean_out[r] = mf;
      if (inv_out) inv_out[r] = invf;
    }
  });
}

// ------------------------------------------------------------------------------------------------
std::unique_ptr<Kernel> plan_global_pool(const NodeContext& ctx, bool is_max) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t planes = x[0] * x[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < x.size(); ++i) spatial *= x[i];
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
    const float* xp = in_f32(in, 0);
    float* y = out_f32(out, 0);
#pragma omp parallel for schedule(static) if (planes * spatial > 32768)
    for (int64_t p = 0; p < planes; ++p) {
      const float* xs = xp + p * spatial;
      if (is_max) {
        float m = spatial > 0 ? xs[0] : 0.0f;
        for (int64_t i = 1; i < spatial; ++i) m = xs[i] > m || std::isnan(xs[i]) ? xs[i] : m;
        y[p] = m;
      } else {
        y[p] = spatial > 0 ? static_cast<float>(sum_row(xs, spatial) / static_cast<double>(spatial)) : 0.0f;
      }
    }
  });
}

// LRN across channels: y = x / (bias + alpha / size * sum_{c' in window} x[c']^2) ^ beta, with the
// window [c - floor((size-1)/2), c + ceil((size-1)/2)].
std::unique_ptr<Kernel> plan_lrn(const NodeContext& ctx) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t size = ctx.node.attr_int("size", 1);
  const double alpha = ctx.node.attr_float("alpha", 1e-4f), beta = ctx.node.attr_float("beta", 0.75f),
               bias = ctx.node.attr_float("bias", 1.0f);
  const int64_t n = x[0], c = x[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < x.size(); ++i) spatial *= x[i];
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
    const float* xp = in_f32(in, 0);
    float* y = out_f32(out, 0);
#pragma omp parallel for schedule(static) if (n * c * spatial > 32768)
    for (int64_t nc = 0; nc < n * c; ++nc) {
      const int64_t b = nc / c, ch = nc % c;
      const int64_t c0 = std::max<int64_t>(0, ch - lo), c1 = std::min<int64_t>(c - 1, ch + hi);
      for (int64_t i = 0; i < spatial; ++i) {
        double s = 0.0;
        for (int64_t cc = c0; cc <= c1; ++cc) {
          const double v = xp[(b * c + cc) * spatial + i];
          s += v * v;
        }
        const double v = xp[nc * spatial + i];
        y[nc * spatial + i] = static_cast<float>(v / std::pow(bias + alpha / static_cast<double>(size) * s, beta));
      }
    }
  });
}

// LpNormalization: x / ||x||_p along `axis` (p = 1 or 2); a zero norm gives 0.
std::unique_ptr<Kernel> plan_lpnorm(const NodeContext& ctx) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.size()), ctx.node.describe());
  const int64_t p = ctx.node.attr_int("p", 2);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x[i];
  for (size_t i = static_cast<size_t>(axis) + 1; i < x.size(); ++i) inner *= x[i];
  const int64_t len = x[axis];
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
    const float* xp = in_f32(in, 0);
    float* y = out_f32(out, 0);
#pragma omp parallel for schedule(static) if (outer * inner * len > 32768)
    for (int64_t oi = 0; oi < outer * inner; ++oi) {
      const int64_t o = oi / inner, i = oi % inner;
      const float* xs = xp + o * len * inner + i;
      float* ys = y + o * len * inner + i;
      double s = 0.0;
      for (int64_t k = 0; k < len; ++k) s += p == 1 ? std::fabs(xs[k * inner]) : double(xs[k * inner]) * xs[k * inner];
      const double norm = p == 1 ? s : std::sqrt(s);
      for (int64_t k = 0; k < len; ++k) ys[k * inner] = norm > 0 ? static_cast<float>(xs[k * inner] / norm) : 0.0f;
    }
  });
}

std::optional<std::string> check_layernorm(const NodeContext& ctx) {
  const int64_t stash = ctx.node.attr_int("stash_type", 1);
  if (stash != 1) return "stash_type " + std::to_string(stash) + " not supported (only 1 = float32)";
  return std::nullopt;
}

}  // namespace

void register_nn_ops(CpuOpTable& t) {
  t["Conv"] = CpuOp{nullptr, nn::plan_conv, false};
  t["ConvTranspose"] = CpuOp{nullptr, nn::plan_conv_transpose, false};
  t["Gemm"] = CpuOp{nullptr, nn::plan_gemm, false};
  t["MatMul"] = CpuOp{nullptr, nn::plan_matmul, false};
  t["MaxPool"] = CpuOp{nullptr, nn::plan_max_pool, false};
  t["AveragePool"] = CpuOp{nullptr, nn::plan_average_pool, false};
  t["BatchNormalization"] = CpuOp{check_batchnorm, plan_batchnorm, false};
  t["InstanceNormalization"] = CpuOp{nullptr, plan_instancenorm, false};
  t["LayerNormalization"] = CpuOp{check_layernorm, plan_layernorm, false};
  t["GlobalAveragePool"] = CpuOp{nullptr, [](const NodeContext& c) { return plan_global_pool(c, false); }, false};
  t["GlobalMaxPool"] = CpuOp{nullptr, [](const NodeContext& c) { return plan_global_pool(c, true); }, false};
  t["LRN"] = CpuOp{nullptr, plan_lrn, false};
  t["LpNormalization"] = CpuOp{nullptr, plan_lpnorm, false};
}

}  // namespace netlens::cpu
