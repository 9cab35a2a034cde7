// Launchers of the CUDA backward kernels (kernels/grad_elementwise.cu, grad_tensor.cu, grad_nn.cu),
// callable from plain C++: no CUDA types here. Same contract as kernels/launch.hpp (device
// pointers, `stream` a cudaStream_t as void*, enqueued without waiting, the cudaError_t of the
// launch returned as int, n == 0 launches nothing) plus the GradKernel one: every launcher ADDS
// into its destination (dst += ...), never assigns, so a gradient read by several nodes sums their
// contributions. Destinations written from several threads use atomicAdd only where windows
// overlap (pools); elsewhere each destination element has one writer. All float32.
// The local derivatives and window arithmetic are in kernels/grad_index.hpp (host-testable).
#pragma once

#include <cstdint>

#include "kernels/grad_index.hpp"
#include "kernels/index.hpp"

namespace netlens::kern {

// ---- grad_elementwise.cu --------------------------------------------------------------------------
// dx[i] += g[i] * unary_grad_factor(op, x[i], y[i], a, b). x or y may be null when op does not read
// it (Sigmoid/Tanh/Exp read y; Relu/LeakyRelu/HardSigmoid/HardSwish/Clip read x).
int launch_unary_grad(UnaryGrad op, const float* x, const float* y, const float* g, float* dx, int64_t n, float a,
                      float b, void* stream);

// Clip's bound gradient: *out += Σ_i g[i] over the elements clip_picks_bound(x[i], lo, hi, is_lo)
// (one block; Clip bounds are scalars).
int launch_clip_bound_grad(const float* x, const float* g, int64_t n, float lo, float hi, bool is_lo, float* out,
                           void* stream);

// A broadcasting binary op's gradient for one operand ("self", contiguous, n_out elements):
//   dst[o] += Σ_r binary_grad_term(t, g[go(o, r)], self[o], other[oo(o, r)], alpha)
// with go(o, r) = strided_offset(kept_g, o) + strided_offset(red_g, r) (offsets into the output
// gradient) and oo likewise into the other operand. kept_* walk self's dims (the output's dims
// where self is not broadcast), red_* the dims self was broadcast along (n_red elements; n_red = 1
// when self has the output's shape). Sums of 256+ terms take one block per output element.
int launch_binary_grad(BinaryGrad t, float alpha, const float* g, const float* self, const float* other, float* dst,
                       const StridedMap& kept_g, const StridedMap& kept_other, const StridedMap& red_g,
                       const StridedMap& red_other, int64_t n_out, int64_t n_red, void* stream);

// Softmax / LogSoftmax over the middle dim of [outer, len, inner], from the forward output y:
//   Softmax:    dx += y (g − Σ_a g y)       LogSoftmax: dx += g − exp(y) Σ_a g
int launch_softmax_grad(const float* y, const float* g, float* dx, int64_t outer, int64_t len, int64_t inner, bool log,
                        void* stream);

// ---- grad_tensor.cu -------------------------------------------------------------------------------
// dst[dst_map(i)] += src[src_map(i)] for i in [0, n); dst_map must not visit an element twice
// (Transpose, Concat's parts, Reshape/Identity as contiguous maps).
int launch_strided_add(const float* src, float* dst, const StridedMap& src_map, const StridedMap& dst_map, int64_t n,
                       void* stream);

// Resize (nearest / linear over the last two dims): dx[taps of t] += w · g[t] (resize_taps),
// atomicAdd (several outputs read one input).
int launch_resize_grad(const float* g, float* dx, const ResizeGeom& geom, void* stream);

// ---- grad_nn.cu -----------------------------------------------------------------------------------
// Per channel c of g [n, c, inner]:
//   out[c] += coef[c] · Σ_{b, i} g[b, c, i] · (x ? x[b, c, i] − shift[c] : 1)
// coef null means 1, shift null means 0. One block per channel. Conv's bias gradient (x null),
// BatchNormalization's scale/bias/mean/var gradients.
int launch_channel_dot_add(const float* g, const float* x, const float* shift, const float* coef, float* out, int64_t n,
                           int64_t c, int64_t inner, void* stream);
// LayerNormalization over rows of `cols` (scale [cols], the forward's float statistics recomputed
// per row, two passes as the forward): with x̂ = (x − mean)·istd and h = g·scale,
//   dx += istd · (h − mean(h) − x̂ · mean(h·x̂))        (one block per row; dx may be null)
// and, when row_stats is not null, row_stats[2r] = mean, row_stats[2r+1] = istd for
// launch_layernorm_param_grad: dscale[j] += Σ_r g·x̂, dbias[j] += Σ_r g (either may be null).
int launch_layernorm_grad(const float* x, const float* scale, const float* g, float* dx, float* row_stats, int64_t rows,
                          int64_t cols, float eps, void* stream);
int launch_layernorm_param_grad(const float* x, const float* g, const float* row_stats, float* dscale, float* dbias,
                                int64_t rows, int64_t cols, void* stream);
// dx[b, c, i] += g[b, c, i] · a[c] (BatchNormalization's input gradient in inference mode).
int launch_channel_scale_add(const float* g, const float* a, float* dx, int64_t n, int64_t c, int64_t inner,
                             void* stream);
// MaxPool (first maximum, from the forward's x and y) / AveragePool (even share) backward:
// one thread per output element, atomicAdd into dx (windows overlap).
int launch_pool_grad(const float* x, const float* y, const float* g, float* dx, const PoolGradGeom& geom, void* stream);
// GlobalAveragePool (dx += g / spatial) and GlobalMaxPool (g to the plane's first maximum; a NaN
// replaces the running maximum, as the forward) over `planes` planes of `spatial` elements.
int launch_global_pool_grad(const float* x, const float* g, float* dx, int64_t planes, int64_t spatial, bool is_max,
                            void* stream);

}  // namespace netlens::kern
