// Unary activations, broadcast binary ops, Where and Cast.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/launch.hpp"

namespace netlens::kern {
namespace {

__device__ __forceinline__ float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

__device__ __forceinline__ float unary_apply(UnaryOp op, float x, float a, float b) {
  switch (op) {
    case UnaryOp::Relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::LeakyRelu: return x >= 0.0f ? x : a * x;
    case UnaryOp::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::HardSigmoid: return fmaxf(0.0f, fminf(1.0f, a * x + b));
    case UnaryOp::HardSwish: return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
    case UnaryOp::Clip: return x < a ? a : (x > b ? b : x);
    case UnaryOp::Elu: return x > 0.0f ? x : a * (expf(x) - 1.0f);
    case UnaryOp::Selu: return x > 0.0f ? b * x : b * a * (expf(x) - 1.0f);
    case UnaryOp::Celu: return fmaxf(0.0f, x) + fminf(0.0f, a * (expf(x / a) - 1.0f));
    case UnaryOp::Softplus: return softplus(x);
    case UnaryOp::Softsign: return x / (1.0f + fabsf(x));
    case UnaryOp::Erf: return erff(x);
    case UnaryOp::Gelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case UnaryOp::GeluTanh:
      return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Reciprocal: return 1.0f / x;
    case UnaryOp::Floor: return floorf(x);
    case UnaryOp::Ceil: return ceilf(x);
    case UnaryOp::Round: return rintf(x);  // half to even, as ONNX specifies
    case UnaryOp::Sin: return sinf(x);
    case UnaryOp::Cos: return cosf(x);
    case UnaryOp::Sign: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case UnaryOp::Mish: return x * tanhf(softplus(x));
    case UnaryOp::ThresholdedRelu: return x > a ? x : 0.0f;
    case UnaryOp::Identity: return x;
  }
  return x;
}

template <class T>
__global__ void unary_kernel(UnaryOp op, const T* __restrict__ x, T* __restrict__ y, int64_t n, float a, float b) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    st(y + i, unary_apply(op, static_cast<float>(ld(x + i)), a, b));
}

// ---- binary -------------------------------------------------------------------------------------
template <class C>
__device__ __forceinline__ C arith(BinaryOp op, C x, C y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div:
      if constexpr (std::is_integral_v<C>) return y == 0 ? C(0) : x / y;  // no trap on the GPU
      else return x / y;
    case BinaryOp::Max: return x < y ? y : x;
    case BinaryOp::Min: return y < x ? y : x;
    case BinaryOp::PRelu: return x < C(0) ? x * y : x;
    case BinaryOp::Pow:
      if constexpr (std::is_integral_v<C>) return C(0);  // rejected by binary_supports
      else return powf(x, y);
    case BinaryOp::FMod:
      if constexpr (std::is_integral_v<C>) return y == 0 ? C(0) : x % y;
      else return fmodf(x, y);
    case BinaryOp::Mod:  // result takes the divisor's sign (Python semantics)
      if constexpr (std::is_integral_v<C>) {
        if (y == 0) return C(0);
        C r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      } else {
        float r = fmodf(x, y);
        if (r != 0.0f && ((r < 0.0f) != (y < 0.0f))) r += y;
        return r;
      }
    case BinaryOp::BitShiftLeft:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(x << y);
      else return C(0);
    case BinaryOp::BitShiftRight:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(x >> y);
      else return C(0);
    default: return C(0);
  }
}

template <class C>
__device__ __forceinline__ bool compare(BinaryOp op, C x, C y) {
  switch (op) {
    case BinaryOp::Equal: return x == y;
    case BinaryOp::Less: return x < y;
    case BinaryOp::Greater: return x > y;
    case BinaryOp::LessOrEqual: return x <= y;
    case BinaryOp::GreaterOrEqual: return x >= y;
    case BinaryOp::And: return (x != C(0)) && (y != C(0));
    case BinaryOp::Or: return (x != C(0)) || (y != C(0));
    case BinaryOp::Xor: return (x != C(0)) != (y != C(0));
    default: return false;
  }
}

// Walk: 0 = both contiguous with the output, 1 = 32-bit strided, 2 = 64-bit strided.
template <class T, class O, bool Cmp, int Walk>
__global__ void binary_kernel(BinaryOp op, const T* __restrict__ a, const T* __restrict__ b, O* __restrict__ y,
                              StridedMap ma, StridedMap mb, int64_t n) {
  using C = typename Compute<T>::type;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t ia = i, ib = i;
    if constexpr (Walk == 1) {
      ia = strided_offset32(ma, static_cast<int32_t>(i));
      ib = strided_offset32(mb, static_cast<int32_t>(i));
    } else if constexpr (Walk == 2) {
      ia = strided_offset(ma, i);
      ib = strided_offset(mb, i);
    }
    const C x = static_cast<C>(ld(a + ia)), z = static_cast<C>(ld(b + ib));
    if constexpr (Cmp) y[i] = compare<C>(op, x, z) ? O(1) : O(0);
    else st(y + i, arith<C>(op, x, z));
  }
}

bool is_identity(const StridedMap& m, int64_t n) {
  return m.rank == 1 && m.dims[0] == n && m.strides[0] == 1 && m.offset == 0;
}

template <class T, class O, bool Cmp>
int binary_typed(BinaryOp op, const void* a, const void* b, void* y, const StridedMap& ma, const StridedMap& mb,
                 int64_t n, cudaStream_t s) {
  const auto* pa = static_cast<const T*>(a);
  const auto* pb = static_cast<const T*>(b);
  auto* py = static_cast<O*>(y);
  const unsigned g = grid_for(n);
  if (is_identity(ma, n) && is_identity(mb, n))
    binary_kernel<T, O, Cmp, 0><<<g, kThreads, 0, s>>>(op, pa, pb, py, ma, mb, n);
  else if (fits_i32(ma, n) && fits_i32(mb, n))
    binary_kernel<T, O, Cmp, 1><<<g, kThreads, 0, s>>>(op, pa, pb, py, ma, mb, n);
  else
    binary_kernel<T, O, Cmp, 2><<<g, kThreads, 0, s>>>(op, pa, pb, py, ma, mb, n);
  return last_error();
}

// ---- where / cast ---------------------------------------------------------------------------------
template <class U>
__global__ void where_kernel(const uint8_t* __restrict__ c, const U* __restrict__ x, const U* __restrict__ y,
                             U* __restrict__ out, StridedMap mc, StridedMap mx, StridedMap my, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = c[strided_offset(mc, i)] ? x[strided_offset(mx, i)] : y[strided_offset(my, i)];
}

template <class S, class D>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    if constexpr (std::is_same_v<S, __half>) return __half2float(v) != 0.0f;
    else return v != S(0);
  } else if constexpr (std::is_same_v<S, __half>) {
    return static_cast<D>(__half2float(v));
  } else if constexpr (std::is_same_v<D, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}

template <class S, class D>
__global__ void cast_kernel(const S* __restrict__ x, D* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] = convert<S, D>(x[i]);
}

template <class S, class D>
int cast_typed(const void* x, void* y, int64_t n, cudaStream_t s) {
  cast_kernel<S, D><<<grid_for(n), kThreads, 0, s>>>(static_cast<const S*>(x), static_cast<D*>(y), n);
  return last_error();
}

template <class S>
int cast_from(DType to, const void* x, void* y, int64_t n, cudaStream_t s) {
  switch (to) {
    case DType::Float32: return cast_typed<S, float>(x, y, n, s);
    case DType::Float16: return cast_typed<S, __half>(x, y, n, s);
    case DType::Float64: return cast_typed<S, double>(x, y, n, s);
    case DType::Int64: return cast_typed<S, int64_t>(x, y, n, s);
    case DType::Int32: return cast_typed<S, int32_t>(x, y, n, s);
    case DType::Int8: return cast_typed<S, int8_t>(x, y, n, s);
    case DType::UInt8: return cast_typed<S, uint8_t>(x, y, n, s);
    case DType::Bool: return cast_typed<S, bool>(x, y, n, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

bool castable(DType t) {
  switch (t) {
    case DType::Float32: case DType::Float16: case DType::Float64: case DType::Int64: case DType::Int32:
    case DType::Int8: case DType::UInt8: case DType::Bool: return true;
    default: return false;
  }
}

}  // namespace

bool unary_supports(DType dtype) { return dtype == DType::Float32 || dtype == DType::Float16; }

int launch_unary(UnaryOp op, DType dtype, const void* x, void* y, int64_t n, float a, float b, void* stream) {
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (dtype == DType::Float32)
    unary_kernel<float><<<grid_for(n), kThreads, 0, s>>>(op, static_cast<const float*>(x), static_cast<float*>(y), n, a, b);
  else if (dtype == DType::Float16)
    unary_kernel<__half><<<grid_for(n), kThreads, 0, s>>>(op, static_cast<const __half*>(x), static_cast<__half*>(y), n, a, b);
  else
    return static_cast<int>(cudaErrorInvalidValue);
  return last_error();
}

bool binary_is_compare(BinaryOp op) { return op >= BinaryOp::Equal; }

bool binary_supports(BinaryOp op, DType t) {
  if (op == BinaryOp::And || op == BinaryOp::Or || op == BinaryOp::Xor) return t == DType::Bool;
  const bool flt = t == DType::Float32 || t == DType::Float16;
  const bool integer = t == DType::Int64 || t == DType::Int32;
  if (op == BinaryOp::Pow || op == BinaryOp::PRelu) return flt;
  if (op == BinaryOp::BitShiftLeft || op == BinaryOp::BitShiftRight) return false;  // unsigned only in ONNX
  if (op == BinaryOp::Equal) return flt || integer || t == DType::Bool;
  return flt || integer;
}

int launch_binary(BinaryOp op, DType dtype, const void* a, const void* b, void* y, const StridedMap& ma,
                  const StridedMap& mb, int64_t n, void* stream) {
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (binary_is_compare(op)) {
    switch (dtype) {
      case DType::Float32: return binary_typed<float, uint8_t, true>(op, a, b, y, ma, mb, n, s);
      case DType::Float16: return binary_typed<__half, uint8_t, true>(op, a, b, y, ma, mb, n, s);
      case DType::Int64: return binary_typed<int64_t, uint8_t, true>(op, a, b, y, ma, mb, n, s);
      case DType::Int32: return binary_typed<int32_t, uint8_t, true>(op, a, b, y, ma, mb, n, s);
      case DType::Bool: return binary_typed<uint8_t, uint8_t, true>(op, a, b, y, ma, mb, n, s);
      default: return static_cast<int>(cudaErrorInvalidValue);
    }
  }
  switch (dtype) {
    case DType::Float32: return binary_typed<float, float, false>(op, a, b, y, ma, mb, n, s);
    case DType::Float16: return binary_typed<__half, __half, false>(op, a, b, y, ma, mb, n, s);
    case DType::Int64: return binary_typed<int64_t, int64_t, false>(op, a, b, y, ma, mb, n, s);
    case DType::Int32: return binary_typed<int32_t, int32_t, false>(op, a, b, y, ma, mb, n, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int launch_where(size_t elem_size, const void* cond, const void* x, const void* y, void* out,
                 const StridedMap& mc, const StridedMap& mx, const StridedMap& my, int64_t n, void* stream) {
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  const auto* c = static_cast<const uint8_t*>(cond);
  const unsigned g = grid_for(n);
#define NL_WHERE(B)                                                                                      \
  where_kernel<Bits<B>::type><<<g, kThreads, 0, s>>>(c, static_cast<const Bits<B>::type*>(x),             \
                                                     static_cast<const Bits<B>::type*>(y),                \
                                                     static_cast<Bits<B>::type*>(out), mc, mx, my, n)
  switch (elem_size) {
    case 1: NL_WHERE(1); break;
    case 2: NL_WHERE(2); break;
    case 4: NL_WHERE(4); break;
    case 8: NL_WHERE(8); break;
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
#undef NL_WHERE
  return last_error();
}

bool cast_supports(DType from, DType to) { return castable(from) && castable(to); }

int launch_cast(DType from, DType to, const void* x, void* y, int64_t n, void* stream) {
  if (n == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  switch (from) {
    case DType::Float32: return cast_from<float>(to, x, y, n, s);
    case DType::Float16: return cast_from<__half>(to, x, y, n, s);
    case DType::Float64: return cast_from<double>(to, x, y, n, s);
    case DType::Int64: return cast_from<int64_t>(to, x, y, n, s);
    case DType::Int32: return cast_from<int32_t>(to, x, y, n, s);
    case DType::Int8: return cast_from<int8_t>(to, x, y, n, s);
    case DType::UInt8: return cast_from<uint8_t>(to, x, y, n, s);
    case DType::Bool: return cast_from<bool>(to, x, y, n, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // namespace netlens::kern
