// Backward of the data-movement ops: the adjoint of a strided copy adds the output gradient back
// along the same maps (Transpose, Concat's parts, Reshape/Flatten/Identity); Resize's adjoint
// spreads each output gradient over its taps. Contract:
// kernels/grad_launch.hpp.
#include "kernels/common.cuh"
#include "kernels/grad_launch.hpp"

namespace netlens::kern {
namespace {

__global__ void strided_add_kernel(const float* __restrict__ src, float* __restrict__ dst, StridedMap sm, StridedMap dm,
                                   int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x)
    dst[strided_offset(dm, t)] += src[strided_offset(sm, t)];
}

__global__ void strided_add_kernel32(const float* __restrict__ src, float* __restrict__ dst, StridedMap sm, StridedMap dm,
                                     int32_t n) {
  for (int32_t t = blockIdx.x * blockDim.x + threadIdx.x; t < n; t += gridDim.x * blockDim.x)
    dst[strided_offset32(dm, t)] += src[strided_offset32(sm, t)];
}

__global__ void resize_grad_kernel(const float* __restrict__ g, float* dx, ResizeGeom geom, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const ResizeTaps taps = resize_taps(geom, t);
    const float gv = g[t];
    for (int k = 0; k < taps.count; ++k) atomicAdd(dx + taps.plane + taps.off[k], taps.w[k] * gv);
  }
}

}  // namespace

int launch_resize_grad(const float* g, float* dx, const ResizeGeom& geom, void* stream) {
  const int64_t n = geom.outer * geom.out_h * geom.out_w;
  if (n == 0) return 0;
  resize_grad_kernel<<<grid_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(g, dx, geom, n);
  return last_error();
}

int launch_strided_add(const float* src, float* dst, const StridedMap& src_map, const StridedMap& dst_map, int64_t n,
                       void* stream) {
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (fits_i32(src_map, n) && fits_i32(dst_map, n))
    strided_add_kernel32<<<grid_for(n), kThreads, 0, s>>>(src, dst, src_map, dst_map, static_cast<int32_t>(n));
  else
    strided_add_kernel<<<grid_for(n), kThreads, 0, s>>>(src, dst, src_map, dst_map, n);
  return last_error();
}

}  // namespace netlens::kern
