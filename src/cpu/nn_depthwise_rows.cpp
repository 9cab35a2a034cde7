// The depthwise conv's paths on plain planes (nn_depthwise.hpp): stride 1 on the flattened plane,
// stride 2 on rows of 14 and more, stride 2 two rows per vector. Their geometry and contracts are
// in the header; nn_depthwise.cpp picks the path and splits the work.
#include "nn_depthwise.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "nn_common.hpp"
#include "nn_v16.hpp"

namespace netlens::cpu::nn::dw {

// ---- Planar stride-1 path ---------------------------------------------------------------------
// Stride-1 convs whose output rows are as long as the input rows (pad_left + pad_right ==
// (kw - 1) * dw: every "same" conv) skip the blocked copies. Output position q of a plane
// (flattened, q = r * w + c) reads input position q + off(i, j), off(i, j) = (i * dh - ph) * w +
// j * dw - pw: a plane is a 1-D convolution of the flattened plane with kh * kw offsets, 16
// consecutive positions per vector whatever the row width (7- and 14-wide rows waste no lanes).
// Lanes whose tap column falls outside the row (the flat offset would wrap into the neighbouring
// row) are zeroed by per-vector column masks; rows above and below the image are read from a
// zero-padded copy (only for the bands at the top and bottom of a plane, whose reads leave it).
// Why: the transposes in and out cost more than the FMAs (144x56x56 stride 1: 0.55 ms blocked).

// Planes under 100 positions (7x7) take the small-plane path below (the zero-padded copy of the
// whole plane per band cost more than the FMAs: 960x7x7 0.052 planar against 0.049 ms blocked).
bool planar_fits(const DwGeom& g) { return g.sh == 1 && g.sw == 1 && g.ow == g.w && g.oh * g.ow >= 100; }

PlanarGeom planar_geom(const DwGeom& g, int64_t band_positions) {
  PlanarGeom p;
  p.hw = g.h * g.w;
  p.ohw = g.oh * g.ow;
  p.kh = g.kh;
  p.kw = g.kw;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) p.off.push_back((i * g.dh - g.ph) * g.w + j * g.dw - g.pw);
  p.dw = g.dw;
  if (g.pw % g.dw == 0 && g.pw / g.dw < g.kw) p.centre = g.pw / g.dw;
  p.lo = *std::min_element(p.off.begin(), p.off.end());
  p.hi = *std::max_element(p.off.begin(), p.off.end());
  const int64_t nv = (p.ohw + 15) / 16;
  p.masks.assign(static_cast<size_t>(nv * g.kw), 0);
  for (int64_t v = 0; v < nv; ++v)
    for (int64_t j = 0; j < g.kw; ++j) {
      unsigned m = 0;
      for (int l = 0; l < 16; ++l) {
        const int64_t col = (v * 16 + l) % g.w + j * g.dw - g.pw;
        if (col >= 0 && col < g.w) m |= 1u << l;
      }
      p.masks[static_cast<size_t>(v * g.kw + j)] = static_cast<uint16_t>(m);
    }
  p.band = std::min((p.ohw + 15) / 16 * 16, band_positions);
  return p;
}

// Arguments of one band: out[16 v + l] = bias + the taps of position 16 v + l of the band (v < nv),
// the taps column by column (j outer, i inner). src[16 v + l + off[t]]: the input of tap t (every
// read inside the buffer); masks[v * kw + j]: the band's column masks; wt[t]: the taps' weights.
struct PlanarBand {
  const float* src;
  const int64_t* off;
  const float* wt;
  float bias;
  const uint16_t* masks;
  int64_t kh, kw, nv;
  float* out;
  int64_t centre;  // the tap column that never leaves the row (-1: none)
  bool d1;         // dilation 1 along the row: off(i, j) = off(i, 0) + j
};

#ifndef NETLENS_DW_U
#define NETLENS_DW_U 8
#endif
constexpr int kPlanarU = NETLENS_DW_U;  // vectors in registers at a time
constexpr int64_t kPlanarDirectMin = 24;  // vectors of a band read in place, at least

typedef int32_t I16 __attribute__((vector_size(64), aligned(4), may_alias));

// Any clone: masks as lane-wise ANDs (a masked tap adds w * +0, as a zero border would).
template <int U, int KH, int KW>
__attribute__((always_inline)) inline void planar_vectors(const PlanarBand& b, int64_t v) {
  const int64_t kh = KH ? KH : b.kh, kw = KW ? KW : b.kw;
  const I16 bit = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
  V16 acc[U];
  for (int u = 0; u < U; ++u) acc[u] = V16{} + b.bias;
  for (int64_t j = 0; j < kw; ++j) {
    I16 m[U];
    for (int u = 0; u < U; ++u) m[u] = ((I16{} + b.masks[(v + u) * kw + j]) & bit) != 0;
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t t = i * kw + j;
      const V16 wv = V16{} + b.wt[t];
      const float* s = b.src + v * 16 + b.off[t];
      for (int u = 0; u < U; ++u) acc[u] += wv * reinterpret_cast<V16>(reinterpret_cast<I16>(NETLENS_CV16(s + u * 16)) & m[u]);
    }
  }
  for (int u = 0; u < U; ++u) NETLENS_V16(b.out + (v + u) * 16) = acc[u];
}

template <int KH, int KW>
__attribute__((always_inline)) inline void planar_band_any(const PlanarBand& b) {
  int64_t v = 0;
  for (; v + 4 <= b.nv; v += 4) planar_vectors<4, KH, KW>(b, v);
  for (; v < b.nv; ++v) planar_vectors<1, KH, KW>(b, v);
}

#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void planar_band_generic(const PlanarBand& b) {
  if (b.kh == 3 && b.kw == 3) return planar_band_any<3, 3>(b);
  if (b.kh == 5 && b.kw == 5) return planar_band_any<5, 5>(b);
  planar_band_any<0, 0>(b);
}

#ifdef NETLENS_DW_V4
// AVX-512: a masked lane keeps its sum (masked FMA, no extra instruction). The loads limit it:
// each (i, j) step broadcasts its weight once for U vectors, the column masks are loaded once per
// column (none for the centre column, whose taps never leave the row), and with dilation 1 the
// taps of a row are one pointer plus immediate displacements (offsets kept in memory were a
// quarter of the loads).
template <int U, int KH, int KW, bool D1>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline void planar_vectors_v4(const PlanarBand& b,
                                                                                      const float* const* row,
                                                                                      int64_t v) {
  const int64_t kh = KH ? KH : b.kh, kw = KW ? KW : b.kw;
  __m512 acc[U];
  for (int u = 0; u < U; ++u) acc[u] = _mm512_set1_ps(b.bias);
  for (int64_t j = 0; j < kw; ++j) {
    const bool full = j == b.centre;
    __mmask16 m[U];
    for (int u = 0; u < U; ++u) m[u] = full ? __mmask16(0xffff) : __mmask16(b.masks[(v + u) * kw + j]);
    for (int64_t i = 0; i < kh; ++i) {
      const __m512 w = _mm512_set1_ps(b.wt[i * kw + j]);
      const float* s = row[i] + v * 16 + (D1 ? j : b.off[i * kw + j] - b.off[i * kw]);
      if (full) {
        for (int u = 0; u < U; ++u) acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(s + u * 16), w, acc[u]);
      } else {
        for (int u = 0; u < U; ++u) acc[u] = _mm512_mask3_fmadd_ps(_mm512_loadu_ps(s + u * 16), w, acc[u], m[u]);
      }
    }
  }
  for (int u = 0; u < U; ++u) _mm512_storeu_ps(b.out + (v + u) * 16, acc[u]);
}

template <int KH, int KW, bool D1>
__attribute__((target("arch=x86-64-v4"))) void planar_band_v4_k(const PlanarBand& b) {
  constexpr int R = KH ? KH : 16;
  const float* row[R];
  for (int64_t i = 0; i < b.kh && i < R; ++i) row[i] = b.src + b.off[i * b.kw];
  int64_t v = 0;
  for (; v + kPlanarU <= b.nv; v += kPlanarU) planar_vectors_v4<kPlanarU, KH, KW, D1>(b, row, v);
  if (kPlanarU > 4 && v + 4 <= b.nv) {  // 7x7 planes are 4 vectors
    planar_vectors_v4<4, KH, KW, D1>(b, row, v);
    v += 4;
  }
  for (; v < b.nv; ++v) planar_vectors_v4<1, KH, KW, D1>(b, row, v);
}

__attribute__((target("arch=x86-64-v4"))) void planar_band_v4(const PlanarBand& b) {
  if (b.d1 && b.kh == 3 && b.kw == 3) return planar_band_v4_k<3, 3, true>(b);
  if (b.d1 && b.kh == 5 && b.kw == 5) return planar_band_v4_k<5, 5, true>(b);
  if (b.kh <= 16) return planar_band_v4_k<0, 0, false>(b);
  planar_band_generic(b);
}

// The AVX-512 path unless the CPU lacks it or NETLENS_DW_GENERIC=1 (read when a kernel is planned;
// the tests run both paths).
bool planar_use_v4() {
  const char* e = std::getenv("NETLENS_DW_GENERIC");
  if (e && std::atoi(e) != 0) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#else
bool planar_use_v4() { return false; }
#endif

// Output positions [p0, p0 + len) of one plane into out (rounded up to whole vectors): xplane the
// input plane, buf room for a padded copy (PlanarGeom::in_floats). The vectors whose reads stay in
// the plane read it in place; those at its top and bottom read a copy with zeros around it.
void planar_band(const PlanarGeom& p, bool v4, const float* xplane, const float* wt, float bias, int64_t p0,
                 int64_t len, float* buf, float* out) {
  const int64_t nv = (len + 15) / 16;
  // Vectors [v0, v1) of the band; src[16 v + l + off]: the input of lane l of vector v.
  const auto run = [&](const float* src, int64_t v0, int64_t v1) {
    if (v0 >= v1) return;
    const PlanarBand b{src + v0 * 16, p.off.data(), wt, bias, p.masks.data() + (p0 / 16 + v0) * p.kw, p.kh, p.kw,
                       v1 - v0, out + v0 * 16, p.centre, p.dw == 1};
#ifdef NETLENS_DW_V4
    if (v4) return planar_band_v4(b);
#endif
    planar_band_generic(b);
  };
  // Vectors [v0, v1) through a copy: buf[k] is input position first + k (zero outside the plane).
  const auto run_copied = [&](int64_t v0, int64_t v1) {
    if (v0 >= v1) return;
    const int64_t first = p0 + v0 * 16 + p.lo, n = (v1 - v0) * 16 + p.hi - p.lo;
    const int64_t a = std::clamp<int64_t>(-first, 0, n), z = std::clamp<int64_t>(p.hw - first, a, n);
    std::memset(buf, 0, static_cast<size_t>(a) * sizeof(float));
    std::memcpy(buf + a, xplane + first + a, static_cast<size_t>(z - a) * sizeof(float));
    std::memset(buf + z, 0, static_cast<size_t>(n - z) * sizeof(float));
    run(buf - p.lo - v0 * 16, v0, v1);
  };
  // [0, va): reads above the plane; [vb, nv): reads past its end.
  const int64_t va = std::min(nv, std::max<int64_t>(0, -(p0 + p.lo) + 15) / 16);
  const int64_t vb = std::clamp<int64_t>((p.hw - p.hi - p0) >= 0 ? (p.hw - p.hi - p0) / 16 : 0, 0, nv);
  // Small planes (EfficientNet's and MobileNetV2's 14x14 and 7x7) are faster copied whole, in
  // one call: 384x14x14 took 0.050 against 0.043 ms in three pieces.
  if (vb - va < kPlanarDirectMin) return run_copied(0, nv);
  run_copied(0, va);
  run(xplane + p0, va, vb);
  run_copied(vb, nv);
}

// ---- Planar stride-2 path (AVX-512) ----------------------------------------------------------
// Stride-2 convs (dilation 1 along the row, output rows of 14 and more) also skip the blocked
// copies on CPUs with AVX-512: 16 outputs of a row, c0 .. c0 + 15, read input columns
// 2 c + j - pw; one pair of loads from column 2 c0 + j - pw holds tap j in its even lanes and tap
// j + 1 in its odd ones (two-source permutes pick them). Loads are masked to the row's columns
// (zeros outside, nothing read outside the row) and to rows inside the image (zeros above and
// below), so nothing is copied. Each vector is stored whole in row order: the lanes past the row
// end are overwritten by the next row's vector (the output buffer has a vector of slack).

// Rows under 14 outputs (7x7 outputs) would leave half the lanes idle; 5-wide kernels spend a
// permute per tap on port 5 beside the FMAs (EfficientNet's 144x28x28 5x5: 0.35 blocked against
// 0.38 ms) and stay blocked.
bool s2_fits(const DwGeom& g) {
  return g.sh == 2 && g.sw == 2 && g.dw == 1 && g.ow >= 14 && g.oh * g.ow >= 100 && g.kw <= 3;
}

S2Geom s2_geom(const DwGeom& g, int64_t band_positions) {
  S2Geom q;
  q.nk = (g.ow + 15) / 16;
  q.rows = std::clamp<int64_t>(band_positions / g.ow, 1, g.oh);
  q.masks.assign(static_cast<size_t>(q.nk * g.kw), 0);
  for (int64_t k = 0; k < q.nk; ++k)
    for (int64_t j = 0; j < g.kw; ++j) {
      uint32_t m = 0;
      for (int t = 0; t < 32; ++t) {
        const int64_t col = 32 * k + j - g.pw + t;
        if (col >= 0 && col < g.w) m |= 1u << t;
      }
      q.masks[static_cast<size_t>(k * g.kw + j)] = m;
    }
  return q;
}

#ifdef NETLENS_DW_V4
// Vectors (r, k) = (r0, k0), then k + 1 wrapping to the next row, U of them (no divisions).
// Interior: every tap row of these output rows is inside the image (no row checks; the rows at
// the top and bottom go through the checked code, and loads of rows outside are masked off).
template <int U, int KH, int KW, bool Interior>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline void s2_vectors_v4(const S2Band& b, int64_t r0,
                                                                                  int64_t k0) {
  const int64_t kh = KH ? KH : b.kh, kw = KW ? KW : b.kw;
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  int64_t r[U], k[U];
  const float* base[U];  // tap row 0, column 2 c0 - pw
  __m512 acc[U];
  for (int u = 0; u < U; ++u) {
    r[u] = r0;
    k[u] = k0;
    if (++k0 == b.nk) {
      k0 = 0;
      ++r0;
    }
    base[u] = b.x + (2 * r[u] - b.ph) * b.w + 32 * k[u] - b.pw;
    acc[u] = _mm512_set1_ps(b.bias);
  }
  for (int64_t i = 0; i < kh; ++i) {
    const int64_t roff = i * b.dh * b.w;
    uint32_t rowm[U];
    for (int u = 0; u < U; ++u) {
      const int64_t ir = 2 * r[u] + i * b.dh - b.ph;
      rowm[u] = Interior || (ir >= 0 && ir < b.h) ? ~0u : 0u;
    }
    for (int64_t j = 0; j < kw; j += 2) {
      const __m512 we = _mm512_set1_ps(b.wt[i * kw + j]);
      const __m512 wo = _mm512_set1_ps(j + 1 < kw ? b.wt[i * kw + j + 1] : 0.f);
      for (int u = 0; u < U; ++u) {
        const uint32_t m = b.masks[k[u] * kw + j] & rowm[u];
        const float* src = Interior ? base[u] + roff + j : (rowm[u] ? base[u] + roff + j : b.x);
        const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), src);
        const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m >> 16), src + 16);
        acc[u] = _mm512_fmadd_ps(_mm512_permutex2var_ps(lo, even, hi), we, acc[u]);
        if (j + 1 < kw) acc[u] = _mm512_fmadd_ps(_mm512_permutex2var_ps(lo, odd, hi), wo, acc[u]);
      }
    }
  }
  for (int u = 0; u < U; ++u) _mm512_storeu_ps(b.out + (r[u] - b.r0) * b.ow + 16 * k[u], acc[u]);
}

// Output rows [r_begin, r_end) of the band (rows from b.r0), every vector of each row.
template <int KH, int KW, bool Interior>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline void s2_rows_v4(const S2Band& b, int64_t r_begin,
                                                                               int64_t r_end) {
  const int64_t nv = (r_end - r_begin) * b.nk;
  int64_t v = 0, r = r_begin, k = 0;
  const auto advance = [&](int64_t n) {
    v += n;
    k += n;
    while (k >= b.nk) {
      k -= b.nk;
      ++r;
    }
  };
  while (v + 4 <= nv) {
    s2_vectors_v4<4, KH, KW, Interior>(b, r, k);
    advance(4);
  }
  while (v < nv) {
    s2_vectors_v4<1, KH, KW, Interior>(b, r, k);
    advance(1);
  }
}

template <int KH, int KW>
__attribute__((target("arch=x86-64-v4"))) void s2_band_v4_k(const S2Band& b) {
  // Interior rows: 2 r - ph >= 0 and 2 r + (kh - 1) dh - ph < h.
  const int64_t r1 = b.r0 + b.nv / b.nk, last = (b.kh - 1) * b.dh - b.ph;
  const int64_t ra = std::clamp<int64_t>((b.ph + 1) / 2, b.r0, r1);
  const int64_t rb = std::clamp<int64_t>(b.h - 1 - last >= 0 ? (b.h - 1 - last) / 2 + 1 : 0, ra, r1);
  s2_rows_v4<KH, KW, false>(b, b.r0, ra);
  s2_rows_v4<KH, KW, true>(b, ra, rb);
  s2_rows_v4<KH, KW, false>(b, rb, r1);
}

__attribute__((target("arch=x86-64-v4"))) void s2_band_v4(const S2Band& b) {
  if (b.kh == 3 && b.kw == 3) return s2_band_v4_k<3, 3>(b);
  s2_band_v4_k<0, 0>(b);
}
#endif

// ---- Stride-2 row pairs (AVX-512) -------------------------------------------------------------
// Stride-2 convs with output rows of 4..8 (MobileNetV2's 576x14x14 and EfficientNet's 672x14x14
// 5x5 down to 7x7): one vector holds two output rows, lanes [0, ow) row 2v and [ow, 2 ow) row
// 2v + 1, which lie contiguous in the output plane. Tap (i, j) of lane c reads input column
// 2c + j - pw of input row 4v + i dh - ph (row 2v) or of two rows below (row 2v + 1). One pair of
// 16-column loads per tap row (from column -pw, masked to the row's columns and to rows inside
// the image) serves all its taps: a two-source permute picks lane 2c + j of either load. Every
// tap column 2c + j - pw < w (the others read zeros) is in the loads when 2 (ow - 1) + kw - 1 < 16
// (3x3 on 14-wide rows) or w + pw <= 16 (EfficientNet's 5x5 on 14-wide rows); lanes whose column is
// past the load are zeroed by the permute's mask. Other geometries stay blocked (a pair of loads
// per tap took 0.135 ms for 672x14x14 5x5, blocked 0.068).
// Why: the blocked path spends most of its time in the transposes of 7-wide rows (one thread, in
// cache: 576x14x14 3x3 0.043 -> 0.024 ms, 672x14x14 5x5 0.068 -> 0.047).
bool pair_fits(const DwGeom& g) {
  return g.sh == 2 && g.sw == 2 && g.dw == 1 && g.ow >= 4 && g.ow <= 8 &&
         (2 * (g.ow - 1) + g.kw - 1 < 16 || g.w + g.pw <= 16);
}

PairGeom pair_geom(const DwGeom& g) {
  PairGeom q;
  q.kh = g.kh;
  q.kw = g.kw;
  q.nv = ((g.oh + 1) / 2 + 3) / 4 * 4;
  for (int64_t j = 0; j < g.kw; ++j) {
    unsigned m = 0;
    for (int64_t l = 0; l < 2 * g.ow; ++l)
      if (2 * (l % g.ow) + j < 16) m |= 1u << l;
    q.pmask.push_back(static_cast<uint16_t>(m));
  }
  const auto lanes = [&](int64_t col) {  // lanes t of a 16-column load from `col` inside the row
    const int64_t lo = std::clamp<int64_t>(-col, 0, 16), hi = std::clamp<int64_t>(g.w - col, lo, 16);
    return static_cast<uint16_t>((1u << hi) - (1u << lo));
  };
  for (int64_t v = 0; v < q.nv; ++v) {
    const int64_t n = std::clamp<int64_t>(g.oh * g.ow - 2 * v * g.ow, 0, 2 * g.ow);
    q.smask.push_back(static_cast<uint16_t>((1u << n) - 1));
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t e = 0; e < 2; ++e) {
        const int64_t orow = 2 * v + e, r = 2 * orow + i * g.dh - g.ph;
        const bool in = orow < g.oh && r >= 0 && r < g.h;
        q.off.push_back(static_cast<int32_t>(std::clamp<int64_t>(r, 0, g.h - 1) * g.w - g.pw));
        q.mask.push_back(in ? lanes(-g.pw) : 0);
      }
  }
  for (int l = 0; l < 16; ++l) q.idx[l] = l < g.ow ? 2 * l : l < 2 * g.ow ? 16 + 2 * (l - g.ow) : 0;
  return q;
}

#ifdef NETLENS_DW_V4
// Vectors v0 .. v0 + 3 of one plane, their sums side by side.
template <int KH, int KW>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline void pair_vectors_v4(
    const PairGeom& q, const float* x, const float* wt, float bias, float* out, int64_t v0, int64_t ow) {
  constexpr int U = 4;
  const int64_t kh = KH ? KH : q.kh, kw = KW ? KW : q.kw;
  __m512 acc[U];
  for (int u = 0; u < U; ++u) acc[u] = _mm512_set1_ps(bias);
  for (int64_t i = 0; i < kh; ++i) {
    __m512 lo[U], hi[U];
    for (int u = 0; u < U; ++u) {
      const int64_t k = ((v0 + u) * kh + i) * 2;
      lo[u] = _mm512_maskz_loadu_ps(q.mask[k], x + q.off[k]);
      hi[u] = _mm512_maskz_loadu_ps(q.mask[k + 1], x + q.off[k + 1]);
    }
    __m512i idx = _mm512_load_si512(q.idx);
    for (int64_t j = 0; j < kw; ++j) {
      const __m512 wv = _mm512_set1_ps(wt[i * kw + j]);
      const __mmask16 pm = q.pmask[j];
      for (int u = 0; u < U; ++u)
        acc[u] = _mm512_fmadd_ps(_mm512_maskz_permutex2var_ps(pm, lo[u], idx, hi[u]), wv, acc[u]);
      idx = _mm512_add_epi32(idx, _mm512_set1_epi32(1));
    }
  }
  for (int u = 0; u < U; ++u) _mm512_mask_storeu_ps(out + 2 * (v0 + u) * ow, q.smask[v0 + u], acc[u]);
}

template <int KH, int KW>
__attribute__((target("arch=x86-64-v4"))) void pair_plane_v4_k(const PairGeom& q, const float* x, const float* wt,
                                                               float bias, float* out, int64_t ow) {
  for (int64_t v0 = 0; v0 < q.nv; v0 += 4) pair_vectors_v4<KH, KW>(q, x, wt, bias, out, v0, ow);
}

// One plane: x the input plane, out its oh * ow outputs.
__attribute__((target("arch=x86-64-v4"))) void pair_plane_v4(const PairGeom& q, const float* x, const float* wt,
                                                             float bias, float* out, int64_t ow) {
  if (q.kh == 3 && q.kw == 3) return pair_plane_v4_k<3, 3>(q, x, wt, bias, out, ow);
  if (q.kh == 5 && q.kw == 5) return pair_plane_v4_k<5, 5>(q, x, wt, bias, out, ow);
  pair_plane_v4_k<0, 0>(q, x, wt, bias, out, ow);
}
#endif

// ---- Small stride-1 planes (AVX-512) -----------------------------------------------------------
// Stride-1 "same" planes under 100 positions (7x7): the flattened plane as in the planar path, 16
// positions per vector, but every tap's load is masked to the lanes whose input lies in the image
// (column and row), so nothing is copied. In the model (one thread, Clip chain, 16 planes per chain
// call): MobileNetV2's 960x7x7 0.064 blocked -> 0.052 ms, EfficientNet's 1152x7x7 3x3 0.117 ->
// 0.096; its 5x5 ones are even (0.148 -> 0.145: 25 masked loads per vector; blocked in cache is faster).
bool small_fits(const DwGeom& g) { return g.sh == 1 && g.sw == 1 && g.ow == g.w && g.oh * g.ow < 100; }

SmallGeom small_geom(const DwGeom& g) {
  SmallGeom q;
  q.taps = g.kh * g.kw;
  q.nv = ((g.oh * g.ow + 15) / 16 + 3) / 4 * 4;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) q.off.push_back(static_cast<int32_t>((i * g.dh - g.ph) * g.w + j * g.dw - g.pw));
  for (int64_t v = 0; v < q.nv; ++v) {
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        unsigned m = 0;
        for (int l = 0; l < 16; ++l) {
          const int64_t pos = 16 * v + l, r = pos / g.w + i * g.dh - g.ph, col = pos % g.w + j * g.dw - g.pw;
          if (pos < g.oh * g.ow && r >= 0 && r < g.h && col >= 0 && col < g.w) m |= 1u << l;
        }
        q.mask.push_back(static_cast<uint16_t>(m));
      }
    const int64_t n = std::clamp<int64_t>(g.oh * g.ow - 16 * v, 0, 16);
    q.smask.push_back(static_cast<uint16_t>((1u << n) - 1));
  }
  return q;
}

#ifdef NETLENS_DW_V4
template <int T>
__attribute__((target("arch=x86-64-v4"))) void small_plane_v4_k(const SmallGeom& q, const float* x, const float* wt,
                                                                float bias, float* out) {
  constexpr int U = 4;
  const int64_t taps = T ? T : q.taps;
  for (int64_t v0 = 0; v0 < q.nv; v0 += U) {
    __m512 acc[U];
    for (int u = 0; u < U; ++u) acc[u] = _mm512_set1_ps(bias);
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 wv = _mm512_set1_ps(wt[t]);
      // Masked-off lanes may lie outside the plane (and the tensor): masked loads do not fault.
      const float* s = x + q.off[t];
      for (int u = 0; u < U; ++u) {
        const __mmask16 m = q.mask[(v0 + u) * taps + t];
        acc[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s + 16 * (v0 + u)), wv, acc[u]);
      }
    }
    for (int u = 0; u < U; ++u) _mm512_mask_storeu_ps(out + 16 * (v0 + u), q.smask[v0 + u], acc[u]);
  }
}

__attribute__((target("arch=x86-64-v4"))) void small_plane_v4(const SmallGeom& q, const float* x, const float* wt,
                                                              float bias, float* out) {
  if (q.taps == 9) return small_plane_v4_k<9>(q, x, wt, bias, out);
  if (q.taps == 25) return small_plane_v4_k<25>(q, x, wt, bias, out);
  small_plane_v4_k<0>(q, x, wt, bias, out);
}
#endif

}  // namespace netlens::cpu::nn::dw
