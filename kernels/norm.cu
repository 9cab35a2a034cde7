// BatchNormalization (folded channel affine), LayerNormalization / InstanceNormalization (row
// normalisation), Softmax / LogSoftmax.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/launch.hpp"

namespace netlens::kern {
namespace {

__global__ void channel_affine_kernel(const float* __restrict__ x, float* __restrict__ y,
                                      const float* __restrict__ scale, const float* __restrict__ shift, int64_t c,
                                      int64_t inner, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t ch = (t / inner) % c;
    y[t] = x[t] * scale[ch] + shift[ch];
  }
}

// One block per row; two passes (mean, then squared deviations) for accuracy.
__global__ void row_norm_kernel(const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ scale,
                                const float* __restrict__ bias, int64_t rows, int64_t cols, float eps,
                                bool per_row_param, int64_t channels) {
  __shared__ float sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j];
    const float mean = block_sum(s, sh) / static_cast<float>(cols);
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float d = xr[j] - mean;
      v += d * d;
    }
    const float var = block_sum(v, sh) / static_cast<float>(cols);
    const float inv = 1.0f / sqrtf(var + eps);
    const int64_t ch = per_row_param ? r % channels : 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const int64_t p = per_row_param ? ch : j;
      const float b = bias ? bias[p] : 0.0f;
      yr[j] = (xr[j] - mean) * inv * scale[p] + b;
    }
  }
}

// inner == 1: one block per row.
__global__ void softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t len,
                                    bool log) {
  __shared__ float sh[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * len;
    float* yr = y + r * len;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_max(m, sh);
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += expf(xr[j] - m);
    s = block_sum(s, sh);
    if (log) {
      const float ls = logf(s);
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) yr[j] = xr[j] - m - ls;
    } else {
      const float inv = 1.0f / s;
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) yr[j] = expf(xr[j] - m) * inv;
    }
  }
}

// inner > 1: one thread per (outer, inner) column; neighbouring threads read neighbouring columns.
__global__ void softmax_cols_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer, int64_t len,
                                    int64_t inner, bool log) {
  const int64_t n = outer * inner;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t o = t / inner, i = t % inner;
    const float* xc = x + o * len * inner + i;
    float* yc = y + o * len * inner + i;
    float m = -INFINITY;
    for (int64_t a = 0; a < len; ++a) m = fmaxf(m, xc[a * inner]);
    float s = 0.0f;
    for (int64_t a = 0; a < len; ++a) s += expf(xc[a * inner] - m);
    if (log) {
      const float ls = logf(s);
      for (int64_t a = 0; a < len; ++a) yc[a * inner] = xc[a * inner] - m - ls;
    } else {
      const float inv = 1.0f / s;
      for (int64_t a = 0; a < len; ++a) yc[a * inner] = expf(xc[a * inner] - m) * inv;
    }
  }
}

unsigned row_grid(int64_t rows) { return static_cast<unsigned>(rows < 65535 * 16 ? rows : 65535 * 16); }

}  // namespace

int launch_channel_affine(const float* x, float* y, const float* scale, const float* shift, int64_t n, int64_t c,
                          int64_t inner, void* stream) {
  const int64_t total = n * c * inner;
  if (total == 0) return 0;
  channel_affine_kernel<<<grid_for(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, y, scale, shift, c,
                                                                                              inner, total);
  return last_error();
}

int launch_row_norm(const float* x, float* y, const float* scale, const float* bias, int64_t rows, int64_t cols,
                    float eps, bool per_row_param, int64_t channels, void* stream) {
  if (rows == 0 || cols == 0) return 0;
  const int threads = cols >= 1024 ? 512 : (cols >= 256 ? 256 : 64);
  row_norm_kernel<<<row_grid(rows), threads, 0, static_cast<cudaStream_t>(stream)>>>(x, y, scale, bias, rows, cols,
                                                                                      eps, per_row_param, channels);
  return last_error();
}

int launch_softmax(const float* x, float* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
                   void* stream) {
  if (outer == 0 || axis_len == 0 || inner == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (inner == 1) {
    const int threads = axis_len >= 1024 ? 512 : (axis_len >= 256 ? 256 : 64);
    softmax_rows_kernel<<<row_grid(outer), threads, 0, s>>>(x, y, outer, axis_len, log);
  } else {
    softmax_cols_kernel<<<grid_for(outer * inner), kThreads, 0, s>>>(x, y, outer, axis_len, inner, log);
  }
  return last_error();
}

}  // namespace netlens::kern
