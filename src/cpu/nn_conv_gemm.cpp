// AVX-512 kernel of the dense 1x1 conv's GEMM (contract in nn_conv_gemm.hpp). Compiled for AVX-512F
// by function attribute (the library targets baseline x86-64) and only called where the CPU has it.
#include "nn_conv_gemm.hpp"
#include "nn_v16.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <new>
#include <utility>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NETLENS_PW_AVX512 1
#define NETLENS_PW_TARGET __attribute__((target("avx512f,fma")))
#endif

namespace netlens::cpu::nn {

namespace {

// w [m][k] as panels of `rows` rows, each panel k columns of `rows` values; rows past m are zero.
std::vector<float> pack_panels(const float* w, int64_t m, int64_t k, int64_t rows) {
  const int64_t panels = (m + rows - 1) / rows;
  std::vector<float> p(static_cast<size_t>(panels * k * rows), 0.0f);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < k; ++i) p[(r / rows * k + i) * rows + r % rows] = w[r * k + i];
  return p;
}

}  // namespace

std::vector<float> pack_pointwise_weights(const float* w, int64_t m, int64_t k) {
  return pack_panels(w, m, k, kPointwiseRows);
}

std::vector<float> pack_pointwise_weights16(const float* w, int64_t m, int64_t k) {
  return pack_panels(w, m, k, kPointwiseBlock);
}

#ifdef NETLENS_PW_AVX512

bool pointwise_gemm_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

namespace {

// Packed X per chunk of positions (every input channel of up to 64 x 12 positions at k = 256): in
// L2 with the panel's weights, read again by every panel of the chunk.
constexpr int64_t kChunkBytes = int64_t{768} << 10;
constexpr int64_t kDirectPanels = 3;

// One vector to c: streamed where asked, whole and 64-byte aligned; else normal (masked at the tail).
NETLENS_PW_TARGET inline void put(float* p, __m512 v, bool whole, __mmask16 tail, bool stream) {
  if (!whole) {
    _mm512_mask_storeu_ps(p, tail, v);
  } else if (stream && (reinterpret_cast<uintptr_t>(p) & 63) == 0) {
    _mm512_stream_ps(p, v);
  } else {
    _mm512_storeu_ps(p, v);
  }
}

// Clip's expression per lane, x < lo ? lo : x then v > hi ? hi : v (a NaN and -0 pass unchanged;
// Relu is lo 0, hi +inf). Compare and blend: GCC 12 warns of an uninitialised operand inside
// _mm512_max_ps where this is inlined into the panels.
NETLENS_PW_TARGET inline __m512 clip16(__m512 x, __m512 lo, __m512 hi) {
  const __m512 v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), x, lo);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), v, hi);
}

// len floats of one row of X (len > 0) to dst as whole vectors, the lanes past len zero; clamped
// with [lo, hi] when clamp (a deferred clamp's input, Kernel::read_clamped).
NETLENS_PW_TARGET inline void pack_row(const float* src, float* dst, int64_t len, bool clamp, __m512 lo, __m512 hi) {
  for (int64_t v = 0; v < (len + 15) / 16; ++v) {
    const int64_t rest = len - 16 * v;
    const __mmask16 mk = static_cast<__mmask16>(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(mk, src + 16 * v);
    _mm512_store_ps(dst + 16 * v, clamp ? _mm512_maskz_mov_ps(mk, clip16(x, lo, hi)) : x);
  }
}

// 6 rows x NV vectors of 16 positions over k steps; the last vector's lanes limited by `tail` (mask).
// 6 x 4 accumulators + 4 loaded vectors: 28 of the 32 zmm; each k step is NV loads of X's row k
// (rows `ldb` apart: packed or in place) and 6 broadcasts of the packed weights. Then the sums go
// to c, or through `epi` (its pointers at this panel's offset, like c).
template <int NV>
NETLENS_PW_TARGET void panel(const float* a, int64_t m, int64_t k, const float* b, int64_t ldb, const float* bias,
                             float* c, int64_t ldc, __mmask16 tail, bool resume, const PointwiseEpilogue* epi) {
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
  if (!epi) {
#pragma GCC unroll 8
    for (int r = 0; r < kPointwiseRows; ++r) {
      if (r >= m) continue;
      float* cr = c + r * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV - 1; ++v) _mm512_storeu_ps(cr + 16 * v, acc[r][v]);
      _mm512_mask_storeu_ps(cr + 16 * (NV - 1), tail, acc[r][NV - 1]);
    }
    return;
  }
  // The residual epilogue: the chain's float expressions (fused_chain.cpp), value by value.
  const __m512 lo = _mm512_set1_ps(epi->clamp.lo), hi = _mm512_set1_ps(epi->clamp.hi);
  const bool st = epi->stream;
#pragma GCC unroll 8
  for (int r = 0; r < kPointwiseRows; ++r) {
    if (r >= m) continue;
    const int64_t o = r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const bool whole = v < NV - 1 || tail == 0xFFFF;
      const int64_t q = o + 16 * v;
      put(c + q, acc[r][v], whole, tail, st);
      const __m512 add = _mm512_maskz_loadu_ps(whole ? 0xFFFF : tail, epi->add + q);
      const __m512 sum = _mm512_add_ps(acc[r][v], add);
      if (epi->sum) put(epi->sum + q, sum, whole, tail, st);
      if (epi->out) put(epi->out + q, clip16(sum, lo, hi), whole, tail, st);
    }
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

namespace {

NETLENS_PW_TARGET void gemm_rows(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                                 const float* bias, float* c, int64_t ldc, const Clamp* clamp, const PointwiseEpilogue* epi) {
  // Chunks of positions whose X (every input channel) is packed once into L2, strip by strip of 64
  // positions; then each panel of 6 output rows runs over every strip of the chunk, so that a
  // panel's rows are written end to end. (Strips outermost, each panel writing a 256-byte piece of
  // its 6 rows, the tile's stores went to hundreds of places at once: 64 -> 256 over 3136
  // positions with X and C in memory took 1.18 ms, 0.68 written row by row; with a residual Add
  // and ReLU applied afterwards 1.17 ms, in these panels 0.96.)
  const int64_t panels = (m + kPointwiseRows - 1) / kPointwiseRows;
  const int64_t per_chunk = std::max<int64_t>(64, kChunkBytes / (std::max<int64_t>(k, 1) * 4) / 64 * 64);
  const int64_t chunks = (n + per_chunk - 1) / per_chunk;
  // Few panels read X in place, as in gemm_strips (here: up to 18 rows over more than 128 inputs).
  const bool direct = panels <= kDirectPanels && !clamp;
  float* packed = direct ? nullptr : pack_buffer(static_cast<size_t>(std::min(n, per_chunk) + 63) / 64 * 64 * k);
  for (int64_t ch = 0; ch < chunks; ++ch) {
    // Chunks sized evenly (no short last one).
    const int64_t q0 = n * ch / chunks, len = n * (ch + 1) / chunks - q0;
    const int64_t strips = (len + 63) / 64;
    if (!direct) {
      // [strip][k][64], each row of X read end to end; a deferred clamp's input clamped here.
      const __m512 lo = _mm512_set1_ps(clamp ? clamp->lo : 0.f), hi = _mm512_set1_ps(clamp ? clamp->hi : 0.f);
      for (int64_t i = 0; i < k; ++i)
        for (int64_t s = 0; s < strips; ++s)
          pack_row(b + i * ldb + q0 + 64 * s, packed + (s * k + i) * 64, std::min<int64_t>(64, len - 64 * s), clamp, lo, hi);
    }
    for (int64_t r0 = 0; r0 < m; r0 += kPointwiseRows) {
      const float* ap = a + r0 * k;  // panel r0 / 6 of k x 6
      const int64_t rows = std::min(kPointwiseRows, m - r0);
      const float* bp = bias ? bias + r0 : nullptr;
      for (int64_t s = 0; s < strips; ++s) {
        const int64_t q = q0 + 64 * s, sl = std::min<int64_t>(64, len - 64 * s);
        const int nv = static_cast<int>((sl + 15) / 16);
        const int rest = static_cast<int>(sl - 16 * (nv - 1));
        const __mmask16 t = static_cast<__mmask16>(rest == 16 ? 0xFFFF : (1u << rest) - 1);
        // In place, the first panel reads X from memory, 256 bytes of each of k rows far apart,
        // which the hardware prefetcher does not follow: the next strip's rows are prefetched.
        if (direct && r0 == 0 && s + 1 < strips)
          for (int64_t i = 0; i < k; ++i)
            for (int64_t l = 0; l < 64 && q + 64 + l < q0 + len; l += 16)
              _mm_prefetch(reinterpret_cast<const char*>(b + i * ldb + q + 64 + l), _MM_HINT_T0);
        const float* bs = direct ? b + q : packed + s * k * 64;
        const int64_t lds = direct ? ldb : 64;
        float* cp = c + r0 * ldc + q;
        const PointwiseEpilogue e = epi ? epi->at(r0 * ldc + q) : PointwiseEpilogue{};
        const PointwiseEpilogue* ep = epi ? &e : nullptr;
        switch (nv) {
          case 1: panel<1>(ap, rows, k, bs, lds, bp, cp, ldc, t, false, ep); break;
          case 2: panel<2>(ap, rows, k, bs, lds, bp, cp, ldc, t, false, ep); break;
          case 3: panel<3>(ap, rows, k, bs, lds, bp, cp, ldc, t, false, ep); break;
          default: panel<4>(ap, rows, k, bs, lds, bp, cp, ldc, t, false, ep); break;
        }
      }
    }
  }
}

constexpr int64_t kKc = 128;  // rows of X per block of k (gemm_strips)

NETLENS_PW_TARGET void gemm_strips(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                                   const float* bias, float* c, int64_t ldc, const Clamp* clamp) {
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
      const bool direct = panels <= kDirectPanels && !clamp;
      if (!direct) {
        const __m512 lo = _mm512_set1_ps(clamp ? clamp->lo : 0.f), hi = _mm512_set1_ps(clamp ? clamp->hi : 0.f);
        for (int64_t i = 0; i < kc; ++i) pack_row(b + (k0 + i) * ldb + q0, packed + i * 16 * nv, len, clamp, lo, hi);
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
          case 1: panel<1>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume, nullptr); break;
          case 2: panel<2>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume, nullptr); break;
          case 3: panel<3>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume, nullptr); break;
          default: panel<4>(ap, rows, kc, bs, lds, bp, cp, ldc, t, resume, nullptr); break;
        }
      }
    }
  }
}

}  // namespace

NETLENS_PW_TARGET void pointwise_gemm(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                                      const float* bias, float* c, int64_t ldc, const Clamp* clamp,
                                      const PointwiseEpilogue* epi, bool c_is_buffer) {
  // Rows first where c is the output in memory and wide (over 48 rows: ResNet-50's 64 -> 256 over
  // 3136 positions 1.18 -> 0.79 ms, one thread) or a sum over more than kKc input channels (strips
  // would store partial sums to c and read them back, from memory), and for the epilogue (only
  // planned on wide outputs). Otherwise strip by strip, every panel over a block of X while it is
  // in L1: into a small buffer in cache (a tile that a chain then streams out; rows first cost
  // EfficientNet-B0's expands with their swish chains 2-10% a node), and on narrow outputs, where
  // the stores go to few rows at once anyway (MobileNetV2's and EfficientNet-B0's projections to
  // 16-40 channels: rows first 8-30% slower).
  if (epi || (!c_is_buffer && (m > 48 || k > kKc))) return gemm_rows(a, m, n, k, b, ldb, bias, c, ldc, clamp, epi);
  gemm_strips(a, m, n, k, b, ldb, bias, c, ldc, clamp);
}

namespace {

constexpr int64_t kSmallKc = 128;     // rows of X (and of the weight blocks) per block of k
constexpr int64_t kSmallChunk = 112;  // positions per chunk: its sums (112 x 48 floats) stay in L1
constexpr auto kSmallHint = _MM_HINT_T1;  // to L2: a block of X rows outgrows L1
constexpr int kTs = 48;               // floats per position in the chunk's sums (3 blocks of 16)
constexpr int kMaxPositions[4] = {0, 16, 12, 8};  // positions per tile for 1, 2, 3 blocks (16-24 sums)

// MV blocks of 16 channels (`lda` floats apart, each [k][16]) x P positions (X's column q at
// b[i * ldb + q]): acc[v][p] starts at init[v] (the bias) or, resuming a later block of k, at the
// sums in t ([P][kTs]), and goes back there. Per k step MV weight loads and P broadcasts of X.
template <int MV, int P>
NETLENS_PW_TARGET void small_tile(const float* a, int64_t lda, int64_t k, const float* b, int64_t ldb, float* t,
                                  const float* init) {
  __m512 acc[MV][P];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) acc[v][p] = _mm512_load_ps(init ? init + 16 * v : t + p * kTs + 16 * v);
  for (int64_t i = 0; i < k; ++i) {
    __m512 w[MV];
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) w[v] = _mm512_loadu_ps(a + v * lda + i * 16);  // std::vector: 16-byte aligned
    const float* br = b + i * ldb;
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512 x = _mm512_set1_ps(br[p]);
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) acc[v][p] = _mm512_fmadd_ps(w[v], x, acc[v][p]);
    }
  }
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) _mm512_store_ps(t + p * kTs + 16 * v, acc[v][p]);
}

using SmallTile = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*, const float*);

template <int MV, int... P>
constexpr std::array<SmallTile, 17> small_tiles(std::integer_sequence<int, P...>) {
  return {nullptr, &small_tile<MV, P + 1>...};
}

// kSmallTiles[mv][p]: the tile of mv blocks x p positions (p <= kMaxPositions[mv]).
const std::array<SmallTile, 17> kSmallTiles[4] = {{}, small_tiles<1>(std::make_integer_sequence<int, 16>()),
                                                   small_tiles<2>(std::make_integer_sequence<int, 12>()),
                                                   small_tiles<3>(std::make_integer_sequence<int, 8>())};

// The chunk's sums t[q][16 * v + j] (q < len, j < 16) to c's rows 16 * v + j < rows, as 16 x 16
// blocks transposed in registers; the last 1 or 2 positions (49 = 3 x 16 + 1, and the 1x1 planes)
// scattered instead, 16 lanes to 16 rows.
NETLENS_PW_TARGET void small_store(const float* t, int mv, int64_t rows, int64_t len, float* c, int64_t ldc) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(ldc)));
  for (int v = 0; v < mv; ++v) {
    const int64_t nr = std::min<int64_t>(16, rows - 16 * v);
    const __mmask16 rm = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    float* cv = c + 16 * v * ldc;
    for (int64_t q0 = 0; q0 < len; q0 += 16) {
      const int64_t nq = std::min<int64_t>(16, len - q0);
      if (nq <= 2) {
        for (int64_t q = q0; q < len; ++q) _mm512_mask_i32scatter_ps(cv + q, rm, idx, _mm512_load_ps(t + q * kTs + 16 * v), 4);
        break;
      }
      const __mmask16 qm = static_cast<__mmask16>(nq == 16 ? 0xFFFF : (1u << nq) - 1);
      V16 r[16];
      // Rows past len: whatever the buffer holds, never stored.
      for (int j = 0; j < 16; ++j) r[j] = NETLENS_CV16(t + (q0 + j) * kTs + 16 * v);
      transpose16(r);
      for (int64_t j = 0; j < nr; ++j) _mm512_mask_storeu_ps(cv + j * ldc + q0, qm, static_cast<__m512>(r[j]));
    }
  }
}

}  // namespace

NETLENS_PW_TARGET void pointwise_gemm_small(const float* a, int64_t m, int64_t n, int64_t k, const float* b, int64_t ldb,
                                            const float* bias, float* c, int64_t ldc) {
  // Panels of up to 3 blocks of 16 channels (sized evenly: 4 blocks as 2 + 2, not 3 + 1), and in
  // each, chunks of positions whose sums stay in L1; per block of kSmallKc rows of k, the panel's
  // weights (up to 24 KiB) in L1 for every tile of positions of the chunk.
  float* t = pack_buffer(static_cast<size_t>((kSmallChunk + 16) * kTs));
  const int64_t blocks = (m + kPointwiseBlock - 1) / kPointwiseBlock, panels = (blocks + 2) / 3;
  const int64_t chunks = (n + kSmallChunk - 1) / kSmallChunk;
  for (int64_t pn = 0, blk = 0; pn < panels; ++pn) {
    const int mv = static_cast<int>(blocks / panels + (pn < blocks % panels ? 1 : 0));
    const int64_t r0 = blk * kPointwiseBlock, rows = std::min<int64_t>(m - r0, mv * kPointwiseBlock);
    blk += mv;
    alignas(64) float init[kTs] = {};  // the panel's bias (0 past m)
    for (int64_t r = 0; bias && r < rows; ++r) init[r] = bias[r0 + r];
    const float* ap = a + r0 * k;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      // Chunks and tiles of positions sized evenly (49 positions: 7 tiles of 7 with 3 blocks).
      const int64_t q0 = n * ch / chunks, len = n * (ch + 1) / chunks - q0;
      const int64_t tiles = (len + kMaxPositions[mv] - 1) / kMaxPositions[mv];
      // Next chunk's positions (for the prefetches of the last block of k).
      const int64_t nq0 = n * (ch + 1) / chunks, nlen = ch + 1 < chunks ? n * (ch + 2) / chunks - nq0 : 0;
      for (int64_t k0 = 0; k0 < k; k0 += kSmallKc) {
        const int64_t kc = std::min(kSmallKc, k - k0);
        // X's rows for the next block of k (else the next chunk's first), prefetched a slice per tile:
        // X often comes from memory (kept activations), a short piece of each of kc rows, which the
        // hardware prefetcher does not follow (ResNet-50's 1024 -> 256 at 14x14: slower than oneDNN
        // without).
        const bool last = k0 + kc >= k;
        const int64_t pk = last ? 0 : k0 + kc, pkc = last ? (nlen ? std::min(kSmallKc, k) : 0) : std::min(kSmallKc, k - pk);
        const float* pb = b + pk * ldb + (last ? nq0 : q0);
        const int64_t plen = last ? nlen : len;
        // Likewise the weights' next block of k (a line per row of a block of 16), first read in the
        // panel's first chunk, else after the panel's last block the next panel's first: each weight
        // is read from memory once a run, in bursts at the first tile of each block without. Not with
        // one tile (the 1x1 planes: their weights stream through the kernel, which the hardware
        // prefetcher follows; 1152 -> 48 10.8 -> 15 us with).
        const float* pw = nullptr;
        int64_t pwv = 0, pwk = 0;
        if (tiles < 2) {
        } else if (ch == 0 && !last) {
          pw = ap + (k0 + kc) * 16, pwv = mv, pwk = std::min(kSmallKc, k - k0 - kc);
        } else if (last && ch + 1 == chunks && pn + 1 < panels) {
          pw = a + blk * kPointwiseBlock * k, pwv = std::min<int64_t>(3, blocks - blk), pwk = std::min(kSmallKc, k);
        }
        for (int64_t tq = 0; tq < tiles; ++tq) {
          for (int64_t r = pkc * tq / tiles, re = pkc * (tq + 1) / tiles; r < re; ++r) {
            const char* row = reinterpret_cast<const char*>(pb + r * ldb);
            for (int64_t j = 0; j < plen; j += 16) _mm_prefetch(row + 4 * j, kSmallHint);
            _mm_prefetch(row + 4 * (plen - 1), kSmallHint);
          }
          for (int64_t v = 0; v < pwv; ++v)
            for (int64_t r = pwk * tq / tiles, re = pwk * (tq + 1) / tiles; r < re; ++r)
              _mm_prefetch(reinterpret_cast<const char*>(pw + v * 16 * k + r * 16), kSmallHint);
          const int64_t p0 = len * tq / tiles, np = len * (tq + 1) / tiles - p0;
          kSmallTiles[mv][np](ap + k0 * 16, 16 * k, kc, b + k0 * ldb + q0 + p0, ldb, t + p0 * kTs, k0 == 0 ? init : nullptr);
        }
      }
      small_store(t, mv, rows, len, c + r0 * ldc + q0, ldc);
    }
  }
}

#else

bool pointwise_gemm_supported() { return false; }
void pointwise_gemm(const float*, int64_t, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t, const Clamp*,
                    const PointwiseEpilogue*, bool) {}
void pointwise_gemm_small(const float*, int64_t, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t) {}

#endif

}  // namespace netlens::cpu::nn
