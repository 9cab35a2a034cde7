// ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare (also GlobalAverage/MaxPool) over any set of axes.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/launch.hpp"

namespace netlens::kern {
namespace {

__device__ __forceinline__ float identity_of(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max: return -INFINITY;
    case ReduceOp::Min: return INFINITY;
    case ReduceOp::Prod: return 1.0f;
    default: return 0.0f;
  }
}
__device__ __forceinline__ float pre(ReduceOp op, float v) {
  switch (op) {
    case ReduceOp::L1: return fabsf(v);
    case ReduceOp::L2: case ReduceOp::SumSquare: return v * v;
    default: return v;
  }
}
__device__ __forceinline__ float combine(ReduceOp op, float a, float b) {
  switch (op) {
    case ReduceOp::Max: return (b > a || isnan(b)) ? b : a;
    case ReduceOp::Min: return (b < a || isnan(b)) ? b : a;
    case ReduceOp::Prod: return a * b;
    default: return a + b;
  }
}
__device__ __forceinline__ float finish(ReduceOp op, float acc, int64_t n_red) {
  switch (op) {
    case ReduceOp::Mean: return acc / static_cast<float>(n_red);
    case ReduceOp::L2: return sqrtf(acc);
    default: return acc;
  }
}

__global__ void reduce_thread_kernel(ReduceOp op, const float* __restrict__ x, float* __restrict__ y, StridedMap kept,
                                     StridedMap red, int64_t n_out, int64_t n_red) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n_out; o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t base = strided_offset(kept, o);
    float acc = identity_of(op);
    for (int64_t r = 0; r < n_red; ++r) acc = combine(op, acc, pre(op, x[base + strided_offset(red, r)]));
    y[o] = finish(op, acc, n_red);
  }
}

__global__ void reduce_block_kernel(ReduceOp op, const float* __restrict__ x, float* __restrict__ y, StridedMap kept,
                                    StridedMap red, int64_t n_out, int64_t n_red) {
  __shared__ float sh[kThreads];
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {
    const int64_t base = strided_offset(kept, o);
    float acc = identity_of(op);
    for (int64_t r = threadIdx.x; r < n_red; r += blockDim.x)
      acc = combine(op, acc, pre(op, x[base + strided_offset(red, r)]));
    __syncthreads();
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
      if (static_cast<int>(threadIdx.x) < w) sh[threadIdx.x] = combine(op, sh[threadIdx.x], sh[threadIdx.x + w]);
      __syncthreads();
    }
    if (threadIdx.x == 0) y[o] = finish(op, sh[0], n_red);
  }
}

}  // namespace

int launch_reduce(ReduceOp op, const float* x, float* y, const StridedMap& kept, const StridedMap& reduced,
                  int64_t n_out, int64_t n_red, void* stream) {
  if (n_out == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (n_red >= 512 && n_out < (int64_t{1} << 20)) {
    const unsigned g = static_cast<unsigned>(n_out < 65535 * 16 ? n_out : 65535 * 16);
    reduce_block_kernel<<<g, kThreads, 0, s>>>(op, x, y, kept, reduced, n_out, n_red);
  } else {
    reduce_thread_kernel<<<grid_for(n_out), kThreads, 0, s>>>(op, x, y, kept, reduced, n_out, n_red);
  }
  return last_error();
}

}  // namespace netlens::kern
