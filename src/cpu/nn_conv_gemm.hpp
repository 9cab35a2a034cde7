// The GEMM of a dense 1x1 conv on plain NCHW, C[oc][p] = bias[oc] + sum_ic W[oc][ic] X[ic][p], as
// an AVX-512 register-blocked kernel (nn_conv_gemm.cpp): 6 output channels x up to 64 positions in
// 24 zmm accumulators, the weights pre-packed at plan time, X (rows `ldb` apart) packed into
// strips of 64 positions (read in place for <= 18 rows), masked loads and stores for the last
// positions. Two orders: where C goes to memory, X is packed per chunk of positions (all input
// channels, up to 768 KiB) and each panel of 6 rows runs over the chunk's strips, so that rows are
// written end to end (and a residual epilogue can be applied from the registers); where C is a
// small buffer in cache, strip by strip, every panel over a strip of X (128 input channels at a
// time) in L1. Used by nn_conv.cpp's PointwiseConv per tile instead of
// dnnl_sgemm on the layers where it measured faster (pointwise_own_kernel). Small planes (7x7,
// 14x14, 1x1: a 49-position row is 3 vectors and a 1-lane one) have a second kernel vectorised over
// output channels instead (pointwise_gemm_small). Private to src/cpu.
#pragma once

#include <cstdint>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::cpu::nn {

// Output channels per packed weight panel (rows of the kernel).
inline constexpr int64_t kPointwiseRows = 6;

// Whether this CPU runs the kernel (AVX-512F); when false pointwise_gemm must not be called.
bool pointwise_gemm_supported();

// W [m][k] row-major packed as ceil(m / 6) panels of [k][6] (rows past m zero).
std::vector<float> pack_pointwise_weights(const float* w, int64_t m, int64_t k);

// c[r * ldc + q] = (bias ? bias[r] : 0) + sum_i a(r, i) * b[i * ldb + q] for r < m, q < n, with
// `a` the packed panels starting at a row that is a multiple of 6 (m rows from there, `k` columns)
// and `bias` pointing at that row's bias. The sum runs over i in order (one fma per i), so the
// result does not depend on m, n or the tiling.
// clamp (optional): X is a deferred clamp's input (Kernel::read_clamped), clamped as each chunk is
// packed (then every chunk is packed).
// epi (optional): a residual Add and an optional clamp after it, computed from the sums in
// registers (a conv's fused chain: ResNet's Add + ReLU, MobileNetV2's residual Add): c gets the
// sums as always, sum[] = c + add[] (when sum is set) and out[] = clamp(c + add[]) (when out is
// set), all indexed like c (row r at r * ldc). With `stream`, whole 64-byte-aligned vectors of all
// three are stored non-temporally (the caller fences, stream_store.hpp). The same float expressions
// as the chain's steps, so the same bits.
struct PointwiseEpilogue {
  const float* add = nullptr;
  float* sum = nullptr;
  float* out = nullptr;
  Clamp clamp{0.f, 0.f};
  bool stream = false;
  // The same epilogue for c + off (every pointer moved by off floats).
  PointwiseEpilogue at(int64_t off) const {
    return {add + off, sum ? sum + off : nullptr, out ? out + off : nullptr, clamp, stream};
  }
};
// c_is_buffer: c is a small buffer in cache (a tile a chain streams out next), not the output in
// memory; the kernel then keeps X in L1 and may store partial sums to c and read them back.
void pointwise_gemm(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb, const float* bias,
                    float* c, int64_t ldc, const Clamp* clamp = nullptr, const PointwiseEpilogue* epi = nullptr,
                    bool c_is_buffer = false);

// Output channels per weight block of pointwise_gemm_small.
inline constexpr int64_t kPointwiseBlock = 16;

// W [m][k] row-major packed as ceil(m / 16) blocks of [k][16] (channels past m zero).
std::vector<float> pack_pointwise_weights16(const float* w, int64_t m, int64_t k);

// pointwise_gemm's contract, with `a` the blocks of pack_pointwise_weights16 from a row that is a
// multiple of 16: 16 output channels per vector, up to 3 vectors x 8-16 positions broadcast from X,
// the sums then transposed into c's rows. For planes of few positions (no ragged last vector of
// positions); the sum runs over i in order from the bias, one fma per i, as in pointwise_gemm, so
// the two give the same bits.
void pointwise_gemm_small(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                          const float* bias, float* c, int64_t ldc);

}  // namespace netlens::cpu::nn
