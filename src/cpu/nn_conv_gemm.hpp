// The GEMM of a dense 1x1 conv on plain NCHW, C[oc][p] = bias[oc] + sum_ic W[oc][ic] X[ic][p], as
// an AVX-512 register-blocked kernel (nn_conv_gemm.cpp): 6 output channels x up to 64 positions in
// 24 zmm accumulators, the weights pre-packed at plan time, X (rows `ldb` apart) copied per strip
// of 64 positions x 128 channels into a contiguous block (read in place for <= 18 rows), masked
// loads and stores for the last positions. Used by nn_conv.cpp's PointwiseConv per tile instead of
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
// clamp (optional): X is a deferred clamp's input (Kernel::read_clamped), clamped as each strip is
// packed (then every strip is packed).
void pointwise_gemm(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb, const float* bias,
                    float* c, int64_t ldc, const Clamp* clamp = nullptr);

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
