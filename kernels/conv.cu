// Direct (one thread per output) convolution and transposed convolution, float32, NC + up to 3
// spatial dims. The fallback when cuDNN offers no fp32 engine without TF32 for a configuration.
#include "kernels/common.cuh"
#include "kernels/launch.hpp"

namespace netlens::kern {
namespace {

__global__ void conv_direct_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                   const float* __restrict__ bias, float* __restrict__ y, ConvGeom g, int64_t n_out) {
  const int64_t cg = g.c / g.groups, kg = g.k / g.groups;
  const int64_t ksz = g.kern[0] * g.kern[1] * g.kern[2];
  const int64_t isz = g.in[0] * g.in[1] * g.in[2];
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n_out; t += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = t;
    const int64_t o2 = rem % g.out[2]; rem /= g.out[2];
    const int64_t o1 = rem % g.out[1]; rem /= g.out[1];
    const int64_t o0 = rem % g.out[0]; rem /= g.out[0];
    const int64_t k = rem % g.k;
    const int64_t n = rem / g.k;
    const int64_t grp = k / kg;
    float acc = bias ? bias[k] : 0.0f;
    for (int64_t ci = 0; ci < cg; ++ci) {
      const float* xp = x + (n * g.c + grp * cg + ci) * isz;
      const float* wp = w + (k * cg + ci) * ksz;
      for (int64_t a = 0; a < g.kern[0]; ++a) {
        const int64_t i0 = o0 * g.stride[0] - g.pad[0] + a * g.dil[0];
        if (i0 < 0 || i0 >= g.in[0]) continue;
        for (int64_t b = 0; b < g.kern[1]; ++b) {
          const int64_t i1 = o1 * g.stride[1] - g.pad[1] + b * g.dil[1];
          if (i1 < 0 || i1 >= g.in[1]) continue;
          for (int64_t c = 0; c < g.kern[2]; ++c) {
            const int64_t i2 = o2 * g.stride[2] - g.pad[2] + c * g.dil[2];
            if (i2 < 0 || i2 >= g.in[2]) continue;
            acc += xp[(i0 * g.in[1] + i1) * g.in[2] + i2] * wp[(a * g.kern[1] + b) * g.kern[2] + c];
          }
        }
      }
    }
    y[t] = acc;
  }
}

// Input position along one dim that output position o receives through tap r, or -1.
__device__ __forceinline__ int64_t transposed_src(int64_t o, int64_t r, int64_t s, int64_t p, int64_t d, int64_t in) {
  const int64_t v = o + p - r * d;
  if (v < 0 || v % s != 0) return -1;
  const int64_t i = v / s;
  return i < in ? i : -1;
}

// g.c = input channels (ConvTranspose's C_in), g.k = output channels; w is [C_in, C_out/G, k...].
__global__ void conv_transpose_direct_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                             const float* __restrict__ bias, float* __restrict__ y, ConvGeom g,
                                             int64_t n_out) {
  const int64_t cg = g.c / g.groups, kg = g.k / g.groups;
  const int64_t ksz = g.kern[0] * g.kern[1] * g.kern[2];
  const int64_t isz = g.in[0] * g.in[1] * g.in[2];
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n_out; t += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = t;
    const int64_t o2 = rem % g.out[2]; rem /= g.out[2];
    const int64_t o1 = rem % g.out[1]; rem /= g.out[1];
    const int64_t o0 = rem % g.out[0]; rem /= g.out[0];
    const int64_t k = rem % g.k;
    const int64_t n = rem / g.k;
    const int64_t grp = k / kg, kk = k % kg;
    float acc = bias ? bias[k] : 0.0f;
    for (int64_t ci = 0; ci < cg; ++ci) {
      const int64_t cin = grp * cg + ci;
      const float* xp = x + (n * g.c + cin) * isz;
      const float* wp = w + (cin * kg + kk) * ksz;
      for (int64_t a = 0; a < g.kern[0]; ++a) {
        const int64_t i0 = transposed_src(o0, a, g.stride[0], g.pad[0], g.dil[0], g.in[0]);
        if (i0 < 0) continue;
        for (int64_t b = 0; b < g.kern[1]; ++b) {
          const int64_t i1 = transposed_src(o1, b, g.stride[1], g.pad[1], g.dil[1], g.in[1]);
          if (i1 < 0) continue;
          for (int64_t c = 0; c < g.kern[2]; ++c) {
            const int64_t i2 = transposed_src(o2, c, g.stride[2], g.pad[2], g.dil[2], g.in[2]);
            if (i2 < 0) continue;
            acc += xp[(i0 * g.in[1] + i1) * g.in[2] + i2] * wp[(a * g.kern[1] + b) * g.kern[2] + c];
          }
        }
      }
    }
    y[t] = acc;
  }
}

}  // namespace

int launch_conv_direct(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, bool transposed,
                       void* stream) {
  const int64_t n = g.n * g.k * g.out[0] * g.out[1] * g.out[2];
  if (n == 0) return 0;
  if (g.groups <= 0 || g.c % g.groups || g.k % g.groups) return static_cast<int>(cudaErrorInvalidValue);
  auto s = static_cast<cudaStream_t>(stream);
  if (transposed) conv_transpose_direct_kernel<<<grid_for(n), kThreads, 0, s>>>(x, w, bias, y, g, n);
  else conv_direct_kernel<<<grid_for(n), kThreads, 0, s>>>(x, w, bias, y, g, n);
  return last_error();
}

}  // namespace netlens::kern
