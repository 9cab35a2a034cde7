// MaxPool / AveragePool over up to three spatial dims.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/launch.hpp"

namespace netlens::kern {
namespace {

__global__ void pool_kernel(const float* __restrict__ x, float* __restrict__ y, PoolGeom g, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = t;
    const int64_t o2 = rem % g.out[2]; rem /= g.out[2];
    const int64_t o1 = rem % g.out[1]; rem /= g.out[1];
    const int64_t o0 = rem % g.out[0]; rem /= g.out[0];
    const float* plane = x + rem * g.in[0] * g.in[1] * g.in[2];
    const int64_t s0 = pool_window_start(o0, g.s[0], g.pb[0]);
    const int64_t s1 = pool_window_start(o1, g.s[1], g.pb[1]);
    const int64_t s2 = pool_window_start(o2, g.s[2], g.pb[2]);
    float acc = g.max ? -INFINITY : 0.0f;
    for (int64_t a = 0; a < g.k[0]; ++a) {
      const int64_t i0 = s0 + a * g.d[0];
      if (i0 < 0 || i0 >= g.in[0]) continue;
      for (int64_t b = 0; b < g.k[1]; ++b) {
        const int64_t i1 = s1 + b * g.d[1];
        if (i1 < 0 || i1 >= g.in[1]) continue;
        const float* row = plane + (i0 * g.in[1] + i1) * g.in[2];
        for (int64_t c = 0; c < g.k[2]; ++c) {
          const int64_t i2 = s2 + c * g.d[2];
          if (i2 < 0 || i2 >= g.in[2]) continue;
          const float v = row[i2];
          if (g.max) acc = (v > acc || isnan(v)) ? v : acc;
          else acc += v;
        }
      }
    }
    if (!g.max) {
      // count_include_pad counts taps inside the padded extent; otherwise taps inside the input.
      int64_t cnt = 1;
      for (int d = 0; d < 3; ++d) {
        const int64_t st = pool_window_start(d == 0 ? o0 : (d == 1 ? o1 : o2), g.s[d], g.pb[d]);
        cnt *= g.count_include_pad ? pool_taps_inside(st, g.k[d], g.d[d], -g.pb[d], g.in[d] + g.pe[d])
                                   : pool_taps_inside(st, g.k[d], g.d[d], 0, g.in[d]);
      }
      acc = cnt > 0 ? acc / static_cast<float>(cnt) : 0.0f;
    }
    y[t] = acc;
  }
}

}  // namespace

int launch_pool(const float* x, float* y, const PoolGeom& g, void* stream) {
  const int64_t n = g.nc * g.out[0] * g.out[1] * g.out[2];
  if (n == 0) return 0;
  pool_kernel<<<grid_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, y, g, n);
  return last_error();
}

}  // namespace netlens::kern
