// AVX-512 kernel of the dense 1x1 conv's GEMM (contract in nn_conv_gemm.hpp). Compiled for AVX-512F
// by function attribute (the library targets baseline x86-64) and only called where the CPU has it.
#include "nn_conv_gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NETLENS_PW_AVX512 1
#define NETLENS_PW_TARGET __attribute__((target("avx512f,fma")))
#endif

namespace netlens::cpu::nn {

std::vector<float> pack_pointwise_weights(const float* w, int64_t m, int64_t k) {
  const int64_t panels = (m + kPointwiseRows - 1) / kPointwiseRows;
  std::vector<float> p(static_cast<size_t>(panels * k * kPointwiseRows), 0.0f);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < k; ++i) p[(r / kPointwiseRows * k + i) * kPointwiseRows + r % kPointwiseRows] = w[r * k + i];
  return p;
}

#ifdef NETLENS_PW_AVX512

bool pointwise_gemm_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

namespace {

constexpr int64_t kKc = 128;  // rows of X per block of k
constexpr int64_t kDirectPanels = 3;

// 6 rows x NV vectors of 16 positions; the last vector's lanes limited by `tail` (mask). 6 x 4
// accumulators + 4 loaded vectors: 28 of the 32 zmm; each k step is NV loads of X's row k (rows
// `ldb` apart: packed or in place) and 6 broadcasts of the packed weights.
template <int NV>
NETLENS_PW_TARGET void panel(const float* a, int64_t m, int64_t k, const float* b, int64_t ldb, const float* bias,
                             float* c, int64_t ldc, __mmask16 tail, bool resume) {
  __m512 acc[kPointwiseRows][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kPointwiseRows; ++r) {
    // A later block of k: the sums so far from c (rows past m: anything, never stored).
    const float* cr = c + (r < m ? r : 0) * ldc;
    const __m512 init = _mm512_set1_ps(bias && r < m ? bias[r] : 0.0f);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[r][v] = !resume ? init : v < NV - 1 ? _mm512_loadu_ps(cr + 16 * v) : _mm512_maskz_loadu_ps(tail, cr + 16 * v);
  }
  for (int64_t i = 0; i < k; ++i) {
    const float* br = b + i * ldb;
    __m512 x[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) x[v] = _mm512_loadu_ps(br + 16 * v);
    x[NV - 1] = _mm512_maskz_loadu_ps(tail, br + 16 * (NV - 1));
    const float* ar = a + i * kPointwiseRows;
#pragma GCC unroll 8
    for (int r = 0; r < kPointwiseRows; ++r) {
      const __m512 wv = _mm512_set1_ps(ar[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(wv, x[v], acc[r][v]);
    }
  }
  // Every loop over r and v fully unrolled: the accumulators stay in registers (GCC kept the array in
  // memory, stored each k step, when the store loop below ended at a run-time m).
#pragma GCC unroll 8
  for (int r = 0; r < kPointwiseRows; ++r) {
    if (r >= m) continue;
    float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; ++v) _mm512_storeu_ps(cr + 16 * v, acc[r][v]);
    _mm512_mask_storeu_ps(cr + 16 * (NV - 1), tail, acc[r][NV - 1]);
  }
}

}  // namespace

// This thread's buffer of at least `floats` (64-byte aligned), kept for the next call.
static float* pack_buffer(size_t floats) {
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  static thread_local Buf buf;
  if (buf.n < floats) {
    std::free(buf.p);
    buf.n = (floats + 15) / 16 * 16;
    buf.p = static_cast<float*>(std::aligned_alloc(64, buf.n * sizeof(float)));
    if (!buf.p) throw std::bad_alloc();
  }
  return buf.p;
}

NETLENS_PW_TARGET void pointwise_gemm(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                                      const float* bias, float* c, int64_t ldc) {
  // Blocks of kKc rows of X, and in each, strips of 64 positions: the strip's block packed
  // contiguous (32 KiB, the last positions zero), then every panel of weights over it from L1 (the
  // weights, 24 bytes per k step, stream). The activations mostly come from memory (written by
  // streaming stores), read 256 bytes a row at rows far apart, which the hardware prefetcher does not
  // follow: the next strip's rows are prefetched while this one computes, a few before each panel.
  // (Packing a whole block of the tile first, then computing: 256->64 56x56 convs with X in memory
  // at 105 GF/s against 122 for dnnl_sgemm.)
  const int64_t strips = (n + 63) / 64, panels = (m + kPointwiseRows - 1) / kPointwiseRows;
  float* packed = pack_buffer(static_cast<size_t>(kKc * 64));
  for (int64_t k0 = 0; k0 < k; k0 += kKc) {
    const int64_t kc = std::min(kKc, k - k0);
    const bool resume = k0 > 0, last_block = k0 + kc >= k;
    for (int64_t s = 0; s < strips; ++s) {
      const int64_t q0 = 64 * s, len = std::min<int64_t>(64, n - q0);
      const int nv = static_cast<int>((len + 15) / 16);
      const int rest = static_cast<int>(len - 16 * (nv - 1));
      const __mmask16 t = static_cast<__mmask16>(rest == 16 ? 0xFFFF : (1u << rest) - 1);
      // Few panels (up to kDirectPanels, 18 output channels) read the strip in place: packing it
      // cost more than it saved (12 and 18 x 3136 x 64 with X in memory: 58 and 70 GFLOP/s in place,
      // 41 and 58 packed).
      const bool direct = panels <= kDirectPanels;
      for (int64_t i = 0; i < (direct ? 0 : kc); ++i) {
        const float* sr = b + (k0 + i) * ldb + q0;
        float* dr = packed + i * 16 * nv;
        for (int v = 0; v < nv - 1; ++v) _mm512_store_ps(dr + 16 * v, _mm512_loadu_ps(sr + 16 * v));
        _mm512_store_ps(dr + 16 * (nv - 1), _mm512_maskz_loadu_ps(t, sr + 16 * (nv - 1)));
      }
      // What is read next: this block's next strip, else the next block's first.
      const float* pf = nullptr;
      int64_t pf_rows = 0, pf_len = 0;
      if (s + 1 < strips) {
        pf = b + k0 * ldb + q0 + 64, pf_rows = kc, pf_len = std::min<int64_t>(64, n - q0 - 64);
      } else if (!last_block) {
        pf = b + (k0 + kc) * ldb, pf_rows = std::min(kKc, k - k0 - kc), pf_len = std::min<int64_t>(64, n);
      }
      const int64_t lpr = (pf_len + 15) / 16, lines = pf_rows * lpr, per_panel = (lines + panels - 1) / panels;
      int64_t line = 0, pr = 0, pc = 0;  // line = pr * lpr + pc (no division per prefetch: idiv was 40% of the time)
      for (int64_t r0 = 0; r0 < m; r0 += kPointwiseRows) {
        const float* ap = a + r0 * k + k0 * kPointwiseRows;  // panel r0 / 6 of k x 6, from row k0
        const int64_t rows = std::min(kPointwiseRows, m - r0);
        const float* bp = bias ? bias + r0 : nullptr;
        float* cp = c + r0 * ldc + q0;
        for (int64_t e = std::min(lines, line + per_panel); line < e; ++line) {
          _mm_prefetch(reinterpret_cast<const char*>(pf + pr * ldb + pc * 16), _MM_HINT_T1);
          if (++pc == lpr) pc = 0, ++pr;
        }
        const float* bs = direct ? b + k0 * ldb + q0 : packed;
        const int64_t lds = direct ? ldb : 16 * nv;
        switch (nv) {
          case 1: panel<1>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume); break;
          case 2: panel<2>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume); break;
          case 3: panel<3>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume); break;
          default: panel<4>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume); break;
        }
      }
    }
  }
}

#else

bool pointwise_gemm_supported() { return false; }
void pointwise_gemm(const float*, int64_t, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t) {}

#endif

}  // namespace netlens::cpu::nn
