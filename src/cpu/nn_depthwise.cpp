// Depthwise 2-D convolution (group == C_in == C_out) on plain NCHW, computed 16 channels at a time
// in a channel-blocked copy (position-major, 16 channels per 64-byte vector, like oneDNN's nChw16c
// or onnxruntime's NCHWc), so that every tap of every output position is one full-width FMA with no
// edge handling: zero borders are part of the copy, and strides and dilations are plain index
// arithmetic on whole vectors.
//
// Why: per plane, the planar kernel this replaces spent most of its time outside the FMAs (padding
// copies of 7..56-wide rows, remainder loops, stride-phase splits, per-plane calls): MobileNetV2's
// 17 depthwise convs took 4.3 ms against onnxruntime's 1.3 ms on this 2-core machine, e.g.
// 0.146 ms against 0.034 for 384x14x14 single-threaded. The copies in and out of the blocked layout
// are 16x16 register transposes on data in L1/L2; the activations in the store stay plain NCHW.
//
// Work item: one image, 16 channels (the last group may be partial), a band of output rows
// (about 1024 output positions: the band's input rows, output and transposed output fit in L2).
// Per item: (1) the band's input rows are transposed into `in` (rows of wcols positions, zero
// outside the image); (2) each output position is bias + the taps in (i, j) order, 8 positions in
// registers at a time; (3) the result is transposed back into 16 plane rows (`tile`), which the
// fused chain (fused_chain.hpp) writes out with its own outputs, or which are copied to the output.
//
// Stride-1 convs with "same" rows (output rows as long as the input rows) and planes of 100
// positions and more take the planar path instead (see "Planar stride-1 path" below): no layout
// change, each channel's flattened plane convolved 16 positions per vector with column masks.
// Per MobileNetV2 node (single thread, fused Clip included) it took e.g. 144x56x56 0.56 -> 0.37 ms,
// 32x112x112 0.44 -> 0.34 ms. On AVX-512 CPUs, stride-2 convs up to 3 wide with output rows of 14
// and more take planar rows ("Planar stride-2 path": 96x56x56 0.65 -> 0.56 ms), and those with
// output rows of 4..8 two rows per vector ("Stride-2 row pairs": 576x14x14 -> 7x7 0.105 -> 0.06
// ms in MobileNetV2). 7x7 stride-1 planes, 5x5 stride 2 onto rows of 14 and more, and other strides
// stay blocked. NETLENS_DW_PLANAR=0 turns the planar paths off, NETLENS_DW_GENERIC=1 the AVX-512
// code (stride 1 then runs portable code, stride 2 blocked). The planar paths prefetch small planes
// ahead (NETLENS_DW_PREFETCH=floats, 0 off): 14x14 planes, read from memory where the previous
// node streamed them and written to fresh kept tensors, are too short for the hardware prefetcher.
//
// Longer than about 600 lines: the three paths share the geometry, the work split and the chain
// hand-off of one kernel class, and each path's vector code sits beside its geometry.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "netlens/cpu/fused_chain.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "nn_common.hpp"
#include "nn_v16.hpp"

namespace netlens::cpu::nn {

namespace {

struct DwGeom {
  int64_t h, w, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
  int64_t band;   // output rows per work item
  int64_t wcols;  // positions per row of the blocked input: input columns -pw .. (ow-1)*sw - pw + (kw-1)*dw
  int64_t in_rows() const { return (band - 1) * sh + (kh - 1) * dh + 1; }
  // Floats of one thread's buffers: blocked input, blocked output, transposed output (+ one
  // vector of slack: full-vector stores of the last chunk).
  int64_t in_floats() const { return in_rows() * wcols * 16; }
  int64_t out_floats() const { return band * ow * 16; }
  int64_t buf_floats() const { return in_floats() + 2 * out_floats() + 16; }
};

// Output positions q .. q + Q of one row: o[(q + u) * 16] = bias + the taps in (i, j) order.
// base: the blocked input row of the output row's first tap row. (Vectors pass by pointer: a
// 64-byte vector argument is an ABI error for clang in the baseline clone.)
template <int Q>
__attribute__((always_inline)) inline void dw_positions(const float* base, const float* wk, const float* bias16,
                                                        const DwGeom& g, int64_t q, float* o) {
  V16 a[Q];
  for (int u = 0; u < Q; ++u) a[u] = NETLENS_CV16(bias16);
  const int64_t step = g.sw * 16;
  for (int64_t i = 0; i < g.kh; ++i) {
    const float* xr = base + (i * g.dh * g.wcols + q * g.sw) * 16;
    for (int64_t j = 0; j < g.kw; ++j) {
      const V16 wv = NETLENS_CV16(wk + (i * g.kw + j) * 16);
      const float* xs = xr + j * g.dw * 16;
      for (int u = 0; u < Q; ++u) a[u] += wv * NETLENS_CV16(xs + u * step);
    }
  }
  for (int u = 0; u < Q; ++u) NETLENS_V16(o + (q + u) * 16) = a[u];
}

// One work item: output rows [r0, r1) of channels c0 .. c0 + nc (nc <= 16) of one image. xg: the
// first of those channels' input planes; wk: the taps' weights as [tap][16], bias16 the biases
// (zero lanes past nc). Leaves the result in tile[k * len + p] for channel k, position p of the
// band (len = (r1 - r0) * ow positions, contiguous in each output plane from r0 * ow).
#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void depthwise_band(const float* xg, int64_t nc, const float* wk, const float* bias16, int64_t r0, int64_t r1,
                    const DwGeom& g, float* in, float* out, float* tile) {
  const int64_t hw = g.h * g.w, wcols = g.wcols;
  const int64_t ib0 = r0 * g.sh - g.ph, rows = (r1 - r0 - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  // (1) Zero borders, then the band's input rows that exist, 16 positions x 16 channels at a time.
  const int64_t lpad = std::min(g.pw, wcols), rpad0 = std::min(g.pw + g.w, wcols);
  for (int64_t k = 0; k < rows; ++k) {
    const int64_t ih = ib0 + k;
    float* row = in + k * wcols * 16;
    if (ih < 0 || ih >= g.h) {
      std::memset(row, 0, static_cast<size_t>(wcols) * 16 * sizeof(float));
      continue;
    }
    std::memset(row, 0, static_cast<size_t>(lpad) * 16 * sizeof(float));
    if (rpad0 < wcols) std::memset(row + rpad0 * 16, 0, static_cast<size_t>(wcols - rpad0) * 16 * sizeof(float));
  }
  const int64_t ih0 = std::max<int64_t>(ib0, 0), ih1 = std::min(ib0 + rows, g.h);
  if (ih0 < ih1) {
    const int64_t p_end = ih1 * g.w;
    int64_t row = ih0, col = 0;
    V16 r[16];
    for (int64_t p = ih0 * g.w; p < p_end; p += 16) {
      const int64_t len = std::min<int64_t>(16, p_end - p);
      if (nc == 16 && len == 16) {
        for (int k = 0; k < 16; ++k) r[k] = NETLENS_CV16(xg + k * hw + p);
      } else {
        alignas(64) float t[16][16] = {};
        for (int64_t k = 0; k < nc; ++k)
          for (int64_t j = 0; j < len; ++j) t[k][j] = xg[k * hw + p + j];
        for (int k = 0; k < 16; ++k) r[k] = NETLENS_CV16(t[k]);
      }
      transpose16(r);
      for (int64_t j = 0; j < len; ++j) {
        const int64_t bc = g.pw + col;
        if (bc < wcols) NETLENS_V16(in + ((row - ib0) * wcols + bc) * 16) = r[j];
        if (++col == g.w) {
          col = 0;
          ++row;
        }
      }
    }
  }
  // (2) Each output position: bias, then every tap in (i, j) order; 8, 4, 2 or 1 positions in
  // registers at a time.
  const int64_t ow = g.ow;
  for (int64_t r = r0; r < r1; ++r) {
    const float* base = in + (r - r0) * g.sh * wcols * 16;
    float* o = out + (r - r0) * ow * 16;
    int64_t q = 0;
    for (; q + 8 <= ow; q += 8) dw_positions<8>(base, wk, bias16, g, q, o);
    if (q + 4 <= ow) {
      dw_positions<4>(base, wk, bias16, g, q, o);
      q += 4;
    }
    if (q + 2 <= ow) {
      dw_positions<2>(base, wk, bias16, g, q, o);
      q += 2;
    }
    if (q < ow) dw_positions<1>(base, wk, bias16, g, q, o);
  }
  // (3) Back to plane rows: tile[k * len + p].
  const int64_t len = (r1 - r0) * ow;
  V16 r[16];
  for (int64_t p = 0; p < len; p += 16) {
    const int64_t m = std::min<int64_t>(16, len - p);
    for (int j = 0; j < 16; ++j) r[j] = j < m ? NETLENS_CV16(out + (p + j) * 16) : V16{};
    transpose16(r);
    if (m == 16) {
      for (int64_t k = 0; k < nc; ++k) NETLENS_V16(tile + k * len + p) = r[k];
    } else {
      alignas(64) float t[16];
      for (int64_t k = 0; k < nc; ++k) {
        NETLENS_V16(t) = r[k];
        for (int64_t j = 0; j < m; ++j) tile[k * len + p + j] = t[j];
      }
    }
  }
}


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
struct PlanarGeom {
  int64_t hw = 0, ohw = 0, kh = 0, kw = 0;
  int64_t band = 0;             // output positions per work item, a multiple of 16
  int64_t lo = 0, hi = 0;       // the smallest and largest tap offsets
  int64_t dw = 1, centre = -1;  // dilation along the row; the tap column j with j * dw == pw
  std::vector<int64_t> off;     // per tap (i, j), row-major
  std::vector<uint16_t> masks;  // [vector v of the plane][tap column j]: bit l set when the column of
                                // position 16 v + l, moved by j * dw - pw, is inside the row
  // Floats of one thread's buffers: zero-padded input of one band, the band's output (+ slack).
  int64_t in_floats() const { return band + hi - lo + 16; }
  int64_t buf_floats() const { return in_floats() + band + 16; }
};

// Planes under 100 positions (7x7) stay blocked: a quarter of their lanes would be idle (960x7x7:
// 0.052 planar against 0.049 ms blocked).
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

#if defined(__x86_64__) && defined(__GNUC__)
#define NETLENS_DW_V4 1
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
struct S2Geom {
  int64_t nk = 0;                // vectors per output row
  int64_t rows = 0;              // output rows per work item
  std::vector<uint32_t> masks;   // [k][j]: bit t set when column 32 k + j - pw + t is in the row
  int64_t buf_floats(int64_t ow) const { return rows * ow + 16; }
};

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

// Output rows [r0, r1) of one plane: out[(r - r0) * ow + c] (plus junk in the slack).
struct S2Band {
  const float* x;  // the input plane
  const float* wt;
  float bias;
  const uint32_t* masks;
  int64_t h, w, ow, kh, kw, dh, ph, pw, nk, r0, nv;  // nv = (r1 - r0) * nk vectors
  float* out;
};

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

// The same for every plane: per vector v (padded to a multiple of 4 with vectors that load and
// store nothing) and tap row i, the offsets in the plane of the two rows' loads (from column -pw)
// and their masks (rows outside the image: 0).
struct PairGeom {
  int64_t nv = 0, kh = 0, kw = 0;
  std::vector<uint16_t> pmask;   // [j]: the lanes whose column 2c + j lies in the load
  std::vector<int32_t> off;      // [v][i][2]
  std::vector<uint16_t> mask;    // [v][i][2]
  std::vector<uint16_t> smask;   // [v]: the output positions of vector v
  alignas(64) int32_t idx[16];   // lane l < ow: column 2l of the first row, l < 2 ow: of the second
};

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

// Software prefetch of the 64-byte lines of [from, to), for reading or for writing.
inline void prefetch_lines(const float* from, const float* to, bool write) {
  for (const float* q = from; q < to; q += 16) {
    if (write)
      __builtin_prefetch(q, 1, 3);
    else
      __builtin_prefetch(q, 0, 3);
  }
}

// Floats read (and written) ahead of the planar paths' work items.
static int64_t prefetch_ahead() {
  static const int64_t v = [] {
    const char* e = std::getenv("NETLENS_DW_PREFETCH");
    return e ? std::atoll(e) : int64_t{1024};
  }();
  return v;
}

// The conv output [off, off + len) from `src` (in cache) to y, with the chain's outputs when there is
// one: the chain writes the head from src block by block with its own outputs (streamed where it
// streams, unless `cached`), so the head is not read back from y.
inline void hand_off(const Chain* chain, const float* src, float* y, int64_t off, int64_t len, bool cached) {
  if (!chain) {
    std::memcpy(y + off, src, static_cast<size_t>(len) * sizeof(float));
  } else if (cached) {
    chain->apply_from_cached(src, off, len);
  } else {
    chain->apply_from(src, off, len);
  }
}

class DepthwiseConv2d : public Kernel {
 public:
  DepthwiseConv2d(const Shape& x, const Shape& y, const SpatialGeometry& s, std::shared_ptr<Chain> chain)
      : n_(x[0]), c_(x[1]), chain_(std::move(chain)) {
    g_ = DwGeom{x[2], x[3], y[2], y[3], s.kernel[0], s.kernel[1], s.strides[0], s.strides[1], s.dilations[0],
                s.dilations[1], s.pad_begin[0], s.pad_begin[1], 1, 1};
    g_.band = std::clamp<int64_t>(kBandPositions / std::max<int64_t>(g_.ow, 1), 1, std::max<int64_t>(g_.oh, 1));
    g_.wcols = (g_.ow - 1) * g_.sw + (g_.kw - 1) * g_.dw + 1;
    if (planar_fits(g_) && planar_enabled()) {
      planar_ = true;
      p_ = planar_geom(g_, kPlanarBand);
      v4_ = planar_use_v4();
    } else if (s2_fits(g_) && planar_enabled() && planar_use_v4()) {
      s2_ = true;
      q_ = s2_geom(g_, kPlanarBand);
    } else if (pair_fits(g_) && planar_enabled() && planar_use_v4()) {
      pair_ = true;
      r_ = pair_geom(g_);
    }
  }

  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* xp = static_cast<const float*>(in[0].data);
    const float* wp = static_cast<const float*>(in[1].data);
    const float* bp = in.size() > 2 ? static_cast<const float*>(in[2].data) : nullptr;
    float* yp = static_cast<float*>(out[0].data);
    const DwGeom& g = g_;
    const int64_t c = c_, groups = (c + 15) / 16, bands = (g.oh + g.band - 1) / g.band;
    const int64_t items = n_ * groups * bands, taps = g.kh * g.kw;
    const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
    const bool fused = chain_ && chain_->ready(yp);
    const Chain* chain = fused ? chain_.get() : nullptr;
    // A streamed chain writes the conv output from the tile with its own outputs (no read for
    // ownership of the output, no read back).
    const bool from_buf = chain && chain->streams();
    // Plane pieces under 256 floats (EfficientNet's 14x14 and 7x7 layers) are written with normal
    // stores: few of their 64-byte lines are whole, and the next nodes read the small tensors
    // from cache (streamed, the 672x14x14 depthwise conv with its swish took 0.45 against 0.35-0.4
    // ms; 28x28 layers, 784-float pieces, were faster streamed). NETLENS_DW_STREAM_MIN=floats moves it.
    const int64_t smin = stream_min();
    if (planar_ || s2_ || pair_) return run_planar(xp, wp, bp, yp, chain, from_buf);
    const size_t buf_bytes = static_cast<size_t>(g.buf_floats() + taps * 16 + 16) * sizeof(float);
#pragma omp parallel if (items > 1 && n_ * c * out_plane * taps > 65536)
    {
      float* buf = static_cast<float*>(scratch(3, buf_bytes));
      float* bin = buf;
      float* bout = bin + g.in_floats();
      float* tile = bout + g.out_floats();
      float* wk = tile + g.out_floats() + 16;
      float* b16 = wk + taps * 16;
      int64_t packed = -1;  // the channel group whose weights are in wk
#pragma omp for schedule(static)
      for (int64_t it = 0; it < items; ++it) {
        const int64_t img = it / (groups * bands), grp = it / bands % groups, band = it % bands;
        const int64_t c0 = grp * 16, nc = std::min<int64_t>(16, c - c0);
        if (packed != grp) {
          for (int64_t t = 0; t < taps; ++t)
            for (int64_t k = 0; k < 16; ++k) wk[t * 16 + k] = k < nc ? wp[(c0 + k) * taps + t] : 0.f;
          for (int64_t k = 0; k < 16; ++k) b16[k] = k < nc && bp ? bp[c0 + k] : 0.f;
          packed = grp;
        }
        const int64_t r0 = band * g.band, r1 = std::min(g.oh, r0 + g.band), len = (r1 - r0) * g.ow;
        depthwise_band(xp + (img * c + c0) * in_plane, nc, wk, b16, r0, r1, g, bin, bout, tile);
        // Whole planes (one band): the tile is the nc planes as they lie in the output, one piece
        // (EfficientNet's 1152x7x7 with its swish: 0.224 -> 0.164 ms against 16 pieces of 49).
        const int64_t pieces = bands == 1 ? 1 : nc, plen = bands == 1 ? nc * len : len;
        for (int64_t k = 0; k < pieces; ++k) {
          const int64_t off = (img * c + c0 + k) * out_plane + r0 * g.ow;
          hand_off(chain, tile + k * len, yp, off, plen, from_buf && plen < smin);
        }
      }
      if (chain) chain_store_fence();
    }
    if (chain_) chain_->finish(fused);
  }

 private:
  static int64_t stream_min() {
    static const int64_t v = [] {
      const char* e = std::getenv("NETLENS_DW_STREAM_MIN");
      return e ? std::atoll(e) : int64_t{256};
    }();
    return v;
  }
  // NETLENS_DW_PLANAR=0: stride-1 convs take the blocked path too (for measurements and tests).
  static bool planar_enabled() {
    const char* e = std::getenv("NETLENS_DW_PLANAR");
    return !e || std::atoi(e) != 0;
  }

  // The planar paths: one work item is one band of output positions of one channel of one image
  // (whole output rows for stride 2).
  void run_planar(const float* xp, const float* wp, const float* bp, float* yp, const Chain* chain, bool from_buf) {
    const DwGeom& g = g_;
    const PlanarGeom& p = p_;
    const int64_t c = c_, taps = g.kh * g.kw, hw = g.h * g.w, ohw = g.oh * g.ow;
    const int64_t band = planar_ ? p.band : s2_ ? q_.rows * g.ow : ohw, bands = (ohw + band - 1) / band;
    const int64_t items = n_ * c * bands;
    const int64_t smin = stream_min();
    const int64_t in_floats = planar_ ? p.in_floats() : 0;
    const size_t buf_bytes = static_cast<size_t>(in_floats + band + 16) * sizeof(float);
#pragma omp parallel if (items > 1 && n_ * c * ohw * taps > 65536)
    {
      float* in = static_cast<float*>(scratch(3, buf_bytes));
      float* tile = in + in_floats;
      // The thread's items, [ib, ie) (as schedule(static)), read one contiguous range of the input
      // and write one of the output, from its first item's plane (band) on: prefetched `ahead`
      // floats ahead of the item being computed (the output only where it takes normal stores).
      const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
      const int64_t ib = items * tid / nt, ie = items * (tid + 1) / nt;
      // Small planes only: from 56x56 on, the hardware prefetcher follows the longer runs (and
      // 96x112x112 stride 2 took 0.74 against 0.69 ms with it). Items of several small planes (one
      // chain call for them) were slower: 384x14x14 0.081 -> 0.089 ms.
      const int64_t ahead = hw < 2048 ? prefetch_ahead() : 0;
      const float* x_end = xp + std::min((ie + bands - 1) / bands, n_ * c) * hw;
      float* y_end = yp + (ie > ib ? std::min((ie - 1) / bands * ohw + (ie - 1) % bands * band + band, n_ * c * ohw) : 0);
      const float* xpf = xp + ib / bands * hw;
      float* ypf = yp + ib / bands * ohw + ib % bands * band;
      for (int64_t it = ib; it < ie; ++it) {
        const int64_t plane = it / bands, ch = plane % c, p0 = it % bands * band;
        const int64_t len = std::min(band, ohw - p0), off = plane * ohw + p0;
        const bool normal_stores = !from_buf || len < smin;
        if (ahead > 0) {
          const float* xt = std::min(xp + plane * hw + std::min(hw, (p0 + len) * hw / ohw) + ahead, x_end);
          if (xt > xpf) {
            prefetch_lines(xpf, xt, false);
            xpf = xt;
          }
          float* yt = std::min(yp + off + len + ahead, y_end);
          if (normal_stores && yt > ypf) prefetch_lines(ypf, yt, true);
          ypf = std::max(ypf, yt);
        }
        const float* xplane = xp + plane * hw;
        const float bias = bp ? bp[ch] : 0.f;
        if (planar_) {
          planar_band(p, v4_, xplane, wp + ch * taps, bias, p0, len, in, tile);
        } else {
#ifdef NETLENS_DW_V4
          if (s2_) {
            const int64_t r0 = p0 / g.ow, nv = len / g.ow * q_.nk;
            s2_band_v4(S2Band{xplane, wp + ch * taps, bias, q_.masks.data(), g.h, g.w, g.ow, g.kh, g.kw, g.dh, g.ph,
                              g.pw, q_.nk, r0, nv, tile});
          } else {
            pair_plane_v4(r_, xplane, wp + ch * taps, bias, tile, g.ow);
          }
#endif
        }
        hand_off(chain, tile, yp, off, len, from_buf && len < smin);
      }
      if (chain) chain_store_fence();
    }
    if (chain_) chain_->finish(chain != nullptr);
  }

  static constexpr int64_t kBandPositions = 1024;
  static constexpr int64_t kPlanarBand = 2048;
  int64_t n_, c_;
  DwGeom g_{};
  bool planar_ = false, v4_ = false, s2_ = false, pair_ = false;  // s2_, pair_: only where planar_use_v4()
  PlanarGeom p_;
  S2Geom q_;
  PairGeom r_;
  std::shared_ptr<Chain> chain_;
};

}  // namespace

std::unique_ptr<Kernel> make_depthwise_conv2d(const Shape& x, const Shape& y, const SpatialGeometry& g,
                                              std::shared_ptr<Chain> chain) {
  return std::make_unique<DepthwiseConv2d>(x, y, g, std::move(chain));
}

}  // namespace netlens::cpu::nn
