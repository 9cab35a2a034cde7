// Backward of the data-movement ops: the adjoint of a strided copy adds the output gradient back
// along the same maps (Transpose, Concat's parts, Reshape/Flatten/Identity). Contract:
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

}  // namespace

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
