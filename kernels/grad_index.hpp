// Arithmetic of the CUDA backward kernels (kernels/grad_*.cu) that the CPU can run too: local
// derivatives of the unary and binary ops and the pooling windows' taps. Every function is NL_HD
// (kernels/index.hpp), so tests/cuda/test_index.cpp checks on the host the exact code the GPU runs,
// against the CPU backward's conventions (src/cpu/grad_*.cpp):
//   Relu'(0) = 0; LeakyRelu'(0) = alpha; HardSigmoid passes on the open interval, HardSwish on the
//   closed one; Clip passes g to x on lo <= x <= hi and nothing when lo > hi; MaxPool's gradient
//   goes to the first tap (window order) equal to the forward's output.
// No CUDA headers, no netlens headers besides index.hpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/index.hpp"

namespace netlens::kern {

// ---- unary ----------------------------------------------------------------------------------------
enum class UnaryGrad : int { Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Clip, Exp, Neg, Identity, Erf, Gelu, GeluTanh };

// d y / d x at (x, y = op(x)); a/b: alpha (LeakyRelu, HardSigmoid), beta (HardSigmoid), lo/hi (Clip).
NL_HD float unary_grad_factor(UnaryGrad op, float x, float y, float a, float b) {
  switch (op) {
    case UnaryGrad::Relu: return x > 0.0f ? 1.0f : 0.0f;
    case UnaryGrad::LeakyRelu: return x > 0.0f ? 1.0f : a;
    case UnaryGrad::Sigmoid: return y * (1.0f - y);
    case UnaryGrad::Tanh: return 1.0f - y * y;
    case UnaryGrad::HardSigmoid: {
      const float v = a * x + b;
      return v > 0.0f && v < 1.0f ? a : 0.0f;
    }
    case UnaryGrad::HardSwish: return x < -3.0f ? 0.0f : (x > 3.0f ? 1.0f : x / 3.0f + 0.5f);
    case UnaryGrad::Clip: return (a <= b && x >= a && x <= b) ? 1.0f : 0.0f;
    case UnaryGrad::Exp: return y;
    case UnaryGrad::Neg: return -1.0f;
    case UnaryGrad::Identity: return 1.0f;
    case UnaryGrad::Erf: return 1.1283791670955126f * expf(-x * x);  // 2/sqrt(pi) e^(-x²)
    case UnaryGrad::Gelu: {  // Phi(x) + x phi(x)
      const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
      const float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
      return cdf + x * pdf;
    }
    case UnaryGrad::GeluTanh: {
      const float k = 0.79788456080286536f;  // sqrt(2/pi)
      const float th = tanhf(k * (x + 0.044715f * x * x * x));
      return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * k * (1.0f + 3.0f * 0.044715f * x * x);
    }
  }
  return 0.0f;
}

// Clip's bound gradients: whether output element x is the lower bound (is_lo) or the upper bound
// because of it (x > hi, or every element when lo > hi), as the CPU kernel decides.
NL_HD bool clip_picks_bound(float x, float lo, float hi, bool is_lo) {
  const bool to_hi = lo > hi || x > hi;
  const bool to_lo = !to_hi && x < lo;
  return is_lo ? to_lo : to_hi;
}

// ---- binary ---------------------------------------------------------------------------------------
// One operand's gradient term before the sum over the dims it was broadcast along. `self` is the
// operand whose gradient is computed (its element at the reduced position), `other` the other one.
enum class BinaryGrad : int {
  G,           // Add (either side), Sub's A: g
  GOther,      // Mul: g * other
  GOverOther,  // Div's A: g / b (other = b)
  DivDenom,    // Div's B: -g * a / b² (self = b, other = a)
  PReluX,      // PRelu's X: x < 0 ? g * slope : g (self = x, other = slope)
  PReluSlope,  // PRelu's slope: x < 0 ? g * x : 0 (other = x)
};

// alpha scales the result (Sub's B: -1; Gemm's C: beta).
NL_HD float binary_grad_term(BinaryGrad t, float g, float self, float other, float alpha) {
  float r = 0.0f;
  switch (t) {
    case BinaryGrad::G: r = g; break;
    case BinaryGrad::GOther: r = g * other; break;
    case BinaryGrad::GOverOther: r = g / other; break;
    case BinaryGrad::DivDenom: r = -g * other / (self * self); break;
    case BinaryGrad::PReluX: r = self < 0.0f ? g * other : g; break;
    case BinaryGrad::PReluSlope: r = other < 0.0f ? g * other : 0.0f; break;
  }
  return alpha * r;
}

// Whether a term reads `self` / `other` (the launcher may pass null otherwise).
NL_HD bool binary_grad_reads_self(BinaryGrad t) { return t == BinaryGrad::DivDenom || t == BinaryGrad::PReluX; }
NL_HD bool binary_grad_reads_other(BinaryGrad t) { return t != BinaryGrad::G; }

// ---- pools ----------------------------------------------------------------------------------------
// Geometry of MaxPool/AveragePool over up to 3 spatial dims, right-aligned (unused leading dims:
// size 1, kernel 1, stride 1, no pads). The same fields as launch.hpp's PoolGeom.
struct PoolGradGeom {
  int64_t nc = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  bool max = true;
  bool count_include_pad = false;
};

// Offset within its (n, c) plane of the first tap (window order) of output (o0, o1, o2) whose value
// equals m (the forward's output); -1 when none does (a NaN maximum, an empty window).
NL_HD int64_t pool_first_max_offset(const float* plane, const PoolGradGeom& g, int64_t o0, int64_t o1, int64_t o2,
                                    float m) {
  const int64_t s0 = o0 * g.s[0] - g.pb[0], s1 = o1 * g.s[1] - g.pb[1], s2 = o2 * g.s[2] - g.pb[2];
  for (int64_t a = 0; a < g.k[0]; ++a) {
    const int64_t i0 = s0 + a * g.d[0];
    if (i0 < 0 || i0 >= g.in[0]) continue;
    for (int64_t b = 0; b < g.k[1]; ++b) {
      const int64_t i1 = s1 + b * g.d[1];
      if (i1 < 0 || i1 >= g.in[1]) continue;
      for (int64_t c = 0; c < g.k[2]; ++c) {
        const int64_t i2 = s2 + c * g.d[2];
        if (i2 < 0 || i2 >= g.in[2]) continue;
        const int64_t off = (i0 * g.in[1] + i1) * g.in[2] + i2;
        if (plane[off] == m) return off;
      }
    }
  }
  return -1;
}

// AveragePool's divisor for output (o0, o1, o2): taps inside the input, or inside input + pads
// with count_include_pad (the forward's rule).
NL_HD int64_t pool_average_count(const PoolGradGeom& g, int64_t o0, int64_t o1, int64_t o2) {
  int64_t cnt = 1;
  for (int d = 0; d < 3; ++d) {
    const int64_t st = pool_window_start(d == 0 ? o0 : (d == 1 ? o1 : o2), g.s[d], g.pb[d]);
    cnt *= g.count_include_pad ? pool_taps_inside(st, g.k[d], g.d[d], -g.pb[d], g.in[d] + g.pe[d])
                               : pool_taps_inside(st, g.k[d], g.d[d], 0, g.in[d]);
  }
  return cnt;
}

// ---- Resize ---------------------------------------------------------------------------------------
// The input taps of Resize output element t (kernels/index.hpp resize_element): y[t] = Σ_k w[k] ·
// x[plane + off[k]] in exact arithmetic, so the adjoint adds w[k] · g[t] at each tap. Clamped
// borders repeat a tap (its weights then add up). Nearest: one tap of weight 1.
struct ResizeTaps {
  int64_t plane = 0;  // element offset of t's [in_h, in_w] plane
  int count = 0;
  int64_t off[4] = {0, 0, 0, 0};
  float w[4] = {0, 0, 0, 0};
};
NL_HD ResizeTaps resize_taps(const ResizeGeom& g, int64_t t) {
  ResizeTaps r;
  const int64_t ox = t % g.out_w;
  const int64_t oy = (t / g.out_w) % g.out_h;
  r.plane = (t / (g.out_w * g.out_h)) * g.in_h * g.in_w;
  const float sy = g.identity_h ? static_cast<float>(oy)
                                : resize_source_coord(static_cast<float>(oy), g.scale_h, g.in_h, g.out_h, g.length_h, g.coord);
  const float sx = g.identity_w ? static_cast<float>(ox)
                                : resize_source_coord(static_cast<float>(ox), g.scale_w, g.in_w, g.out_w, g.length_w, g.coord);
  if (!g.linear) {
    r.count = 1;
    r.off[0] = resize_nearest_index(sy, g.in_h, g.nearest) * g.in_w + resize_nearest_index(sx, g.in_w, g.nearest);
    r.w[0] = 1.0f;
    return r;
  }
  const LinearTaps ty = resize_linear_taps(sy, g.in_h);
  const LinearTaps tx = resize_linear_taps(sx, g.in_w);
  r.count = 4;
  r.off[0] = ty.lo * g.in_w + tx.lo;
  r.off[1] = ty.lo * g.in_w + tx.hi;
  r.off[2] = ty.hi * g.in_w + tx.lo;
  r.off[3] = ty.hi * g.in_w + tx.hi;
  r.w[0] = (1.0f - tx.w_hi) * (1.0f - ty.w_hi);
  r.w[1] = tx.w_hi * (1.0f - ty.w_hi);
  r.w[2] = (1.0f - tx.w_hi) * ty.w_hi;
  r.w[3] = tx.w_hi * ty.w_hi;
  return r;
}

}  // namespace netlens::kern
