// Backward of BatchNormalization (inference: a per-channel scale, and per-channel sums for its
// parameters), LayerNormalization (row statistics recomputed as the forward does), Conv's bias, MaxPool/AveragePool and the global pools. Contract: kernels/grad_launch.hpp.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/grad_launch.hpp"

namespace netlens::kern {
namespace {

// One block per channel: Σ over batch and space, in float (block_sum's tree keeps the error small).
__global__ void channel_dot_kernel(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ shift,
                                   const float* __restrict__ coef, float* __restrict__ out, int64_t n, int64_t c,
                                   int64_t inner) {
  __shared__ float sh[32];
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    const float m = shift ? shift[ch] : 0.0f;
    float s = 0.0f;
    const int64_t per = n * inner;
    for (int64_t t = threadIdx.x; t < per; t += blockDim.x) {
      const int64_t b = t / inner, i = t - b * inner;
      const int64_t e = (b * c + ch) * inner + i;
      s += x ? g[e] * (x[e] - m) : g[e];
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[ch] += (coef ? coef[ch] : 1.0f) * s;
  }
}

__global__ void layernorm_grad_kernel(const float* __restrict__ x, const float* __restrict__ scale,
                                      const float* __restrict__ g, float* __restrict__ dx, float* __restrict__ stats,
                                      int64_t rows, int64_t cols, float eps) {
  __shared__ float sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    const float* gr = g + r * cols;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j];
    const float mean = block_sum(s, sh) / static_cast<float>(cols);
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float d = xr[j] - mean;
      v += d * d;
    }
    const float istd = 1.0f / sqrtf(block_sum(v, sh) / static_cast<float>(cols) + eps);
    if (stats && threadIdx.x == 0) {
      stats[2 * r] = mean;
      stats[2 * r + 1] = istd;
    }
    if (!dx) continue;
    float s1 = 0.0f, s2 = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float h = gr[j] * scale[j];
      s1 += h;
      s2 += h * (xr[j] - mean) * istd;
    }
    const float m1 = block_sum(s1, sh) / static_cast<float>(cols);
    const float m2 = block_sum(s2, sh) / static_cast<float>(cols);
    float* dr = dx + r * cols;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float xh = (xr[j] - mean) * istd;
      dr[j] += istd * (gr[j] * scale[j] - m1 - xh * m2);
    }
  }
}

// One thread per column: the sums over rows (rows of a token sequence: hundreds, not millions).
__global__ void layernorm_param_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                       const float* __restrict__ stats, float* __restrict__ dscale, float* __restrict__ dbias,
                                       int64_t rows, int64_t cols) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < cols; j += int64_t{gridDim.x} * blockDim.x) {
    float ss = 0.0f, sb = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float gv = g[r * cols + j];
      ss += gv * (x[r * cols + j] - stats[2 * r]) * stats[2 * r + 1];
      sb += gv;
    }
    if (dscale) dscale[j] += ss;
    if (dbias) dbias[j] += sb;
  }
}

__global__ void channel_scale_kernel(const float* __restrict__ g, const float* __restrict__ a, float* __restrict__ dx,
                                     int64_t c, int64_t inner, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x)
    dx[t] += g[t] * a[(t / inner) % c];
}

__global__ void pool_grad_kernel(const float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ g,
                                 float* dx, PoolGradGeom geom, int64_t n) {
  const int64_t in_plane = geom.in[0] * geom.in[1] * geom.in[2];
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = t;
    const int64_t o2 = rem % geom.out[2]; rem /= geom.out[2];
    const int64_t o1 = rem % geom.out[1]; rem /= geom.out[1];
    const int64_t o0 = rem % geom.out[0]; rem /= geom.out[0];
    float* dplane = dx + rem * in_plane;
    if (geom.max) {
      const int64_t off = pool_first_max_offset(x + rem * in_plane, geom, o0, o1, o2, y[t]);
      if (off >= 0) atomicAdd(dplane + off, g[t]);
      continue;
    }
    const int64_t cnt = pool_average_count(geom, o0, o1, o2);
    if (cnt <= 0) continue;
    const float share = g[t] / static_cast<float>(cnt);
    const int64_t s0 = o0 * geom.s[0] - geom.pb[0], s1 = o1 * geom.s[1] - geom.pb[1], s2 = o2 * geom.s[2] - geom.pb[2];
    for (int64_t a = 0; a < geom.k[0]; ++a) {
      const int64_t i0 = s0 + a * geom.d[0];
      if (i0 < 0 || i0 >= geom.in[0]) continue;
      for (int64_t b = 0; b < geom.k[1]; ++b) {
        const int64_t i1 = s1 + b * geom.d[1];
        if (i1 < 0 || i1 >= geom.in[1]) continue;
        for (int64_t c = 0; c < geom.k[2]; ++c) {
          const int64_t i2 = s2 + c * geom.d[2];
          if (i2 < 0 || i2 >= geom.in[2]) continue;
          atomicAdd(dplane + (i0 * geom.in[1] + i1) * geom.in[2] + i2, share);
        }
      }
    }
  }
}

__global__ void global_avg_grad_kernel(const float* __restrict__ g, float* __restrict__ dx, int64_t spatial, int64_t n) {
  const float inv = 1.0f / static_cast<float>(spatial);
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x)
    dx[t] += g[t / spatial] * inv;
}

// One thread per plane: the forward's scan order (a later element wins when strictly greater or NaN).
__global__ void global_max_grad_kernel(const float* __restrict__ x, const float* __restrict__ g, float* __restrict__ dx,
                                       int64_t planes, int64_t spatial) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < planes; p += int64_t{gridDim.x} * blockDim.x) {
    const float* xs = x + p * spatial;
    int64_t best = 0;
    for (int64_t i = 1; i < spatial; ++i)
      if (xs[i] > xs[best] || isnan(xs[i])) best = i;
    dx[p * spatial + best] += g[p];
  }
}

}  // namespace

int launch_channel_dot_add(const float* g, const float* x, const float* shift, const float* coef, float* out, int64_t n,
                           int64_t c, int64_t inner, void* stream) {
  if (c == 0) return 0;
  channel_dot_kernel<<<static_cast<unsigned>(c < 65535 * 8 ? c : 65535 * 8), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      g, x, shift, coef, out, n, c, inner);
  return last_error();
}

int launch_layernorm_grad(const float* x, const float* scale, const float* g, float* dx, float* row_stats, int64_t rows,
                          int64_t cols, float eps, void* stream) {
  if (rows == 0 || cols == 0) return 0;
  layernorm_grad_kernel<<<static_cast<unsigned>(rows < 65535 * 8 ? rows : 65535 * 8), kThreads, 0,
                          static_cast<cudaStream_t>(stream)>>>(x, scale, g, dx, row_stats, rows, cols, eps);
  return last_error();
}

int launch_layernorm_param_grad(const float* x, const float* g, const float* row_stats, float* dscale, float* dbias,
                                int64_t rows, int64_t cols, void* stream) {
  if (rows == 0 || cols == 0) return 0;
  layernorm_param_kernel<<<grid_for(cols), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, g, row_stats, dscale, dbias,
                                                                                             rows, cols);
  return last_error();
}

int launch_channel_scale_add(const float* g, const float* a, float* dx, int64_t n, int64_t c, int64_t inner, void* stream) {
  const int64_t total = n * c * inner;
  if (total == 0) return 0;
  channel_scale_kernel<<<grid_for(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(g, a, dx, c, inner, total);
  return last_error();
}

int launch_pool_grad(const float* x, const float* y, const float* g, float* dx, const PoolGradGeom& geom, void* stream) {
  const int64_t n = geom.nc * geom.out[0] * geom.out[1] * geom.out[2];
  if (n == 0) return 0;
  pool_grad_kernel<<<grid_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, y, g, dx, geom, n);
  return last_error();
}

int launch_global_pool_grad(const float* x, const float* g, float* dx, int64_t planes, int64_t spatial, bool is_max,
                            void* stream) {
  if (planes == 0 || spatial == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (is_max)
    global_max_grad_kernel<<<grid_for(planes), kThreads, 0, s>>>(x, g, dx, planes, spatial);
  else
    global_avg_grad_kernel<<<grid_for(planes * spatial), kThreads, 0, s>>>(g, dx, spatial, planes * spatial);
  return last_error();
}

}  // namespace netlens::kern
