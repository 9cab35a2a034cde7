// Backward of the elementwise family: unary activations, Clip's bounds, broadcasting binary ops
// (the sum over broadcast dims fused into the kernel), Softmax / LogSoftmax. Contract:
// kernels/grad_launch.hpp (every kernel adds into its destination).
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/grad_launch.hpp"

namespace netlens::kern {
namespace {

__global__ void unary_grad_kernel(UnaryGrad op, const float* __restrict__ x, const float* __restrict__ y,
                                  const float* __restrict__ g, float* __restrict__ dx, int64_t n, float a, float b) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const float xv = x ? x[t] : 0.0f, yv = y ? y[t] : 0.0f;
    dx[t] += g[t] * unary_grad_factor(op, xv, yv, a, b);
  }
}

__global__ void clip_bound_kernel(const float* __restrict__ x, const float* __restrict__ g, int64_t n, float lo, float hi,
                                  bool is_lo, float* out) {
  __shared__ float sh[32];
  float s = 0.0f;
  for (int64_t t = threadIdx.x; t < n; t += blockDim.x)
    if (clip_picks_bound(x[t], lo, hi, is_lo)) s += g[t];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) *out += s;
}

struct BinaryGradArgs {
  BinaryGrad t;
  float alpha;
  const float* g;
  const float* self;
  const float* other;
  float* dst;
  StridedMap kept_g, kept_other, red_g, red_other;
  int64_t n_out, n_red;
};

__device__ __forceinline__ float binary_term(const BinaryGradArgs& a, int64_t o, int64_t base_g, int64_t base_o,
                                             int64_t r) {
  const int64_t gi = base_g + strided_offset(a.red_g, r);
  const float other = a.other ? a.other[base_o + strided_offset(a.red_other, r)] : 0.0f;
  const float self = a.self ? a.self[o] : 0.0f;
  return binary_grad_term(a.t, a.g[gi], self, other, a.alpha);
}

// Few terms per output: one thread per output element.
__global__ void binary_grad_thread_kernel(BinaryGradArgs a) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < a.n_out; o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t bg = strided_offset(a.kept_g, o), bo = strided_offset(a.kept_other, o);
    float s = 0.0f;
    for (int64_t r = 0; r < a.n_red; ++r) s += binary_term(a, o, bg, bo, r);
    a.dst[o] += s;
  }
}

// Many terms per output (a bias over N·H·W): one block per output element.
__global__ void binary_grad_block_kernel(BinaryGradArgs a) {
  __shared__ float sh[32];
  for (int64_t o = blockIdx.x; o < a.n_out; o += gridDim.x) {
    const int64_t bg = strided_offset(a.kept_g, o), bo = strided_offset(a.kept_other, o);
    float s = 0.0f;
    for (int64_t r = threadIdx.x; r < a.n_red; r += blockDim.x) s += binary_term(a, o, bg, bo, r);
    s = block_sum(s, sh);
    if (threadIdx.x == 0) a.dst[o] += s;
  }
}

// inner == 1: one block per row (a dot product, then one pass).
__global__ void softmax_grad_rows_kernel(const float* __restrict__ y, const float* __restrict__ g, float* __restrict__ dx,
                                         int64_t rows, int64_t len, bool log) {
  __shared__ float sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* yr = y + r * len;
    const float* gr = g + r * len;
    float* dr = dx + r * len;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += log ? gr[j] : gr[j] * yr[j];
    s = block_sum(s, sh);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) dr[j] += log ? gr[j] - expf(yr[j]) * s : yr[j] * (gr[j] - s);
  }
}

// inner > 1: one thread per (outer, inner) column.
__global__ void softmax_grad_cols_kernel(const float* __restrict__ y, const float* __restrict__ g, float* __restrict__ dx,
                                         int64_t outer, int64_t len, int64_t inner, bool log) {
  const int64_t n = outer * inner;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t o = t / inner, i = t % inner;
    const int64_t base = oai_offset(o, 0, i, len, inner);
    float s = 0.0f;
    for (int64_t a = 0; a < len; ++a) s += log ? g[base + a * inner] : g[base + a * inner] * y[base + a * inner];
    for (int64_t a = 0; a < len; ++a) {
      const int64_t e = base + a * inner;
      dx[e] += log ? g[e] - expf(y[e]) * s : y[e] * (g[e] - s);
    }
  }
}

}  // namespace

int launch_unary_grad(UnaryGrad op, const float* x, const float* y, const float* g, float* dx, int64_t n, float a,
                      float b, void* stream) {
  if (n == 0) return 0;
  unary_grad_kernel<<<grid_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(op, x, y, g, dx, n, a, b);
  return last_error();
}

int launch_clip_bound_grad(const float* x, const float* g, int64_t n, float lo, float hi, bool is_lo, float* out,
                           void* stream) {
  if (n == 0) return 0;
  clip_bound_kernel<<<1, 1024, 0, static_cast<cudaStream_t>(stream)>>>(x, g, n, lo, hi, is_lo, out);
  return last_error();
}

int launch_binary_grad(BinaryGrad t, float alpha, const float* g, const float* self, const float* other, float* dst,
                       const StridedMap& kept_g, const StridedMap& kept_other, const StridedMap& red_g,
                       const StridedMap& red_other, int64_t n_out, int64_t n_red, void* stream) {
  if (n_out == 0) return 0;
  const BinaryGradArgs a{t, alpha, g, self, other, dst, kept_g, kept_other, red_g, red_other, n_out, n_red};
  auto s = static_cast<cudaStream_t>(stream);
  if (n_red >= 256)
    binary_grad_block_kernel<<<static_cast<unsigned>(n_out < 65535 * 8 ? n_out : 65535 * 8), kThreads, 0, s>>>(a);
  else
    binary_grad_thread_kernel<<<grid_for(n_out), kThreads, 0, s>>>(a);
  return last_error();
}

int launch_softmax_grad(const float* y, const float* g, float* dx, int64_t outer, int64_t len, int64_t inner, bool log,
                        void* stream) {
  const int64_t n = outer * len * inner;
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (inner == 1)
    softmax_grad_rows_kernel<<<static_cast<unsigned>(outer < 65535 * 8 ? outer : 65535 * 8), kThreads, 0, s>>>(y, g, dx, outer,
                                                                                                             len, log);
  else
    softmax_grad_cols_kernel<<<grid_for(outer * inner), kThreads, 0, s>>>(y, g, dx, outer, len, inner, log);
  return last_error();
}

}  // namespace netlens::kern
