// Data movement: strided copy (Transpose/Slice/Expand/Concat/Split), Gather, Pad, Resize.
#include "kernels/common.cuh"
#include "kernels/launch.hpp"

namespace netlens::kern {
namespace {

template <class U, bool Wide>
__global__ void strided_copy_kernel(const U* __restrict__ src, U* __restrict__ dst, StridedMap ms, StridedMap md,
                                    int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (Wide) dst[strided_offset(md, i)] = src[strided_offset(ms, i)];
    else dst[strided_offset32(md, static_cast<int32_t>(i))] = src[strided_offset32(ms, static_cast<int32_t>(i))];
  }
}

template <class U, class I>
__global__ void gather_kernel(const U* __restrict__ data, const I* __restrict__ idx, U* __restrict__ out,
                              int64_t axis_len, int64_t inner, int64_t num_idx, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = t % inner;
    const int64_t j = (t / inner) % num_idx;
    const int64_t o = t / (inner * num_idx);
    const int64_t k = gather_index(static_cast<int64_t>(idx[j]), axis_len);
    out[t] = k < 0 ? U(0) : data[(o * axis_len + k) * inner + i];
  }
}

template <class U>
__global__ void pad_kernel(const U* __restrict__ src, U* __restrict__ dst, PadGeom g, PadMode mode, U value,
                           int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = t, src_off = 0, src_stride = 1;
    bool constant = false;
    for (int d = g.rank - 1; d >= 0; --d) {
      const int64_t o = rem % g.out_dims[d];
      rem /= g.out_dims[d];
      const int64_t i = pad_source_index(o, g.pad_begin[d], g.in_dims[d], mode);
      if (i < 0) constant = true;
      src_off += i * src_stride;
      src_stride *= g.in_dims[d];
    }
    dst[t] = constant ? value : src[src_off];
  }
}

__global__ void resize_kernel(const float* __restrict__ x, float* __restrict__ y, ResizeGeom g, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x)
    y[t] = resize_element(x, g, t);
}

}  // namespace

int launch_strided_copy(size_t elem_size, const void* src, void* dst, const StridedMap& ms, const StridedMap& md,
                        int64_t n, void* stream) {
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned g = grid_for(n);
  const bool wide = !(fits_i32(ms, n) && fits_i32(md, n));
#define NL_COPY(B)                                                                                        \
  if (wide)                                                                                               \
    strided_copy_kernel<Bits<B>::type, true><<<g, kThreads, 0, s>>>(                                     \
        static_cast<const Bits<B>::type*>(src), static_cast<Bits<B>::type*>(dst), ms, md, n);            \
  else                                                                                                    \
    strided_copy_kernel<Bits<B>::type, false><<<g, kThreads, 0, s>>>(                                    \
        static_cast<const Bits<B>::type*>(src), static_cast<Bits<B>::type*>(dst), ms, md, n)
  switch (elem_size) {
    case 1: NL_COPY(1); break;
    case 2: NL_COPY(2); break;
    case 4: NL_COPY(4); break;
    case 8: NL_COPY(8); break;
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
#undef NL_COPY
  return last_error();
}

int launch_gather(size_t elem_size, const void* data, const void* indices, bool indices_i64, void* out,
                  int64_t outer, int64_t axis_len, int64_t inner, int64_t num_indices, void* stream) {
  const int64_t n = outer * num_indices * inner;
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned g = grid_for(n);
#define NL_GATHER(B, I)                                                                                    \
  gather_kernel<Bits<B>::type, I><<<g, kThreads, 0, s>>>(static_cast<const Bits<B>::type*>(data),           \
                                                         static_cast<const I*>(indices),                    \
                                                         static_cast<Bits<B>::type*>(out), axis_len, inner,  \
                                                         num_indices, n)
#define NL_GATHER_IDX(B)                    \
  if (indices_i64) NL_GATHER(B, int64_t);   \
  else NL_GATHER(B, int32_t)
  switch (elem_size) {
    case 1: NL_GATHER_IDX(1); break;
    case 2: NL_GATHER_IDX(2); break;
    case 4: NL_GATHER_IDX(4); break;
    case 8: NL_GATHER_IDX(8); break;
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
#undef NL_GATHER_IDX
#undef NL_GATHER
  return last_error();
}

int launch_pad(size_t elem_size, PadMode mode, const void* src, void* dst, const PadGeom& g, const void* value,
               void* stream) {
  int64_t n = 1;
  for (int d = 0; d < g.rank; ++d) n *= g.out_dims[d];
  if (n == 0) return 0;
  for (int d = 0; d < g.rank; ++d)
    if (g.in_dims[d] == 0 && mode != PadMode::Constant) return static_cast<int>(cudaErrorInvalidValue);
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned grid = grid_for(n);
#define NL_PAD(B)                                                                                        \
  {                                                                                                      \
    Bits<B>::type v;                                                                                     \
    memcpy(&v, value, B);                                                                                \
    pad_kernel<Bits<B>::type><<<grid, kThreads, 0, s>>>(static_cast<const Bits<B>::type*>(src),          \
                                                        static_cast<Bits<B>::type*>(dst), g, mode, v, n); \
  }
  switch (elem_size) {
    case 1: NL_PAD(1); break;
    case 2: NL_PAD(2); break;
    case 4: NL_PAD(4); break;
    case 8: NL_PAD(8); break;
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
#undef NL_PAD
  return last_error();
}

int launch_resize(const float* x, float* y, const ResizeGeom& g, void* stream) {
  const int64_t n = g.outer * g.out_h * g.out_w;
  if (n == 0) return 0;
  resize_kernel<<<grid_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, y, g, n);
  return last_error();
}

}  // namespace netlens::kern
