// Shared device helpers for the kernels/*.cu files (CUDA-only; never included by C++ code).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/index.hpp"

namespace netlens::kern {

constexpr int kThreads = 256;

// Grid size for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 8 ? (blocks < 1 ? 1 : blocks) : 65535 * 8);
}

inline int last_error() { return static_cast<int>(cudaGetLastError()); }

// Whether every offset a map can produce fits in int32 (then the 32-bit walk is used).
inline bool fits_i32(const StridedMap& m, int64_t n) {
  if (n >= (int64_t{1} << 31)) return false;
  int64_t lo = m.offset, hi = m.offset;
  for (int d = 0; d < m.rank; ++d) {
    const int64_t span = (m.dims[d] - 1) * m.strides[d];
    if (span > 0) hi += span; else lo += span;
  }
  return lo > -(int64_t{1} << 31) && hi < (int64_t{1} << 31);
}

// Storage ↔ compute conversions (fp16 is computed in float).
template <class T> struct Compute { using type = T; };
template <> struct Compute<__half> { using type = float; };
template <class T> __device__ __forceinline__ typename Compute<T>::type ld(const T* p) { return *p; }
template <> __device__ __forceinline__ float ld<__half>(const __half* p) { return __half2float(*p); }
template <class T> __device__ __forceinline__ void st(T* p, typename Compute<T>::type v) { *p = v; }
template <> __device__ __forceinline__ void st<__half>(__half* p, float v) { *p = __float2half_rn(v); }

// Unsigned integer type of a given byte size, for kernels that only move bytes.
template <int Bytes> struct Bits;
template <> struct Bits<1> { using type = uint8_t; };
template <> struct Bits<2> { using type = uint16_t; };
template <> struct Bits<4> { using type = uint32_t; };
template <> struct Bits<8> { using type = uint64_t; };

// Block-wide sum of one float per thread (blockDim.x a multiple of 32, at most 1024).
__device__ __forceinline__ float block_sum(float v, float* shared32) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // shared32 may still be read by a previous call
  if (lane == 0) shared32[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? shared32[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;  // every thread gets the total
}

__device__ __forceinline__ float block_max(float v, float* shared32) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared32[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? shared32[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace netlens::kern
