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
// positions and more take the planar path instead (nn_depthwise_rows.cpp, "Planar stride-1 path"): no layout
// change, each channel's flattened plane convolved 16 positions per vector with column masks.
// Per MobileNetV2 node (single thread, fused Clip included) it took e.g. 144x56x56 0.56 -> 0.37 ms,
// 32x112x112 0.44 -> 0.34 ms. On AVX-512 CPUs, stride-2 convs up to 3 wide with output rows of 14
// and more take planar rows ("Planar stride-2 path": 96x56x56 0.65 -> 0.56 ms), and those with
// output rows of 4..8 two rows per vector ("Stride-2 row pairs": 576x14x14 -> 7x7 0.105 -> 0.06
// ms in MobileNetV2), and stride-1 planes under 100 positions with masked loads per tap ("Small
// stride-1 planes": 960x7x7 0.070 -> 0.052 ms). 5x5 stride 2 onto rows of 14 and more, other strides
// and CPUs without AVX-512 stay blocked. NETLENS_DW_PLANAR=0 turns the planar paths off, NETLENS_DW_GENERIC=1 the AVX-512
// code (stride 1 then runs portable code, stride 2 blocked). The planar paths prefetch small planes
// ahead (NETLENS_DW_PREFETCH=floats, 0 off): 14x14 planes, read from memory where the previous
// node streamed them and written to fresh kept tensors, are too short for the hardware prefetcher.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "netlens/cpu/fused_chain.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "nn_common.hpp"
#include "nn_depthwise.hpp"
#include "nn_v16.hpp"

namespace netlens::cpu::nn {

namespace {

using namespace dw;


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
                    const DwGeom& g, const Clamp* clamp, float* in, float* out, float* tile) {
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
      if (clamp) {  // a deferred clamp's input (read_clamped)
        alignas(64) float t[16];
        for (int k = 0; k < 16; ++k) {
          NETLENS_V16(t) = r[k];
          clamp_floats(t, t, 16, *clamp);
          r[k] = NETLENS_CV16(t);
        }
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
    } else if (small_fits(g_) && planar_enabled() && planar_use_v4()) {
      small_ = true;
      m_ = small_geom(g_);
    }
  }

  // A deferred clamp's input (runtime.hpp): each plane (planar paths) or band row (blocked path) is
  // clamped where the kernel copies it into its buffers.
  bool can_read_clamped(size_t input) const override { return input == 0; }
  void read_clamped(size_t, Clamp c) override { clamp_ = c; }

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
    if (planar_ || s2_ || pair_ || small_) return run_planar(xp, wp, bp, yp, chain, from_buf);
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
        depthwise_band(xp + (img * c + c0) * in_plane, nc, wk, b16, r0, r1, g, clamp_ ? &*clamp_ : nullptr, bin, bout,
                       tile);
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
    // Whole small planes (the 7x7 outputs of the row-pair and small-plane paths) are handed to the
    // chain `gp` planes at a time, as they lie in the output: one call of 784 floats instead of 16
    // of 49 (MobileNetV2's 960x7x7: 0.052 against 0.089 ms, 576x7x7 stride 2: 0.049 against 0.060).
    const int64_t gp = pair_ || small_ ? 16 : 1;
    // A clamped input: each plane is clamped into `clamped` (with a vector of slack for the paths'
    // masked loads) the first time an item of it runs.
    const int64_t clamp_floats_n = clamp_ ? hw + 32 : 0;
    const size_t buf_bytes = static_cast<size_t>(in_floats + gp * band + 16 + clamp_floats_n) * sizeof(float);
#pragma omp parallel if (items > 1 && n_ * c * ohw * taps > 65536)
    {
      float* in = static_cast<float*>(scratch(3, buf_bytes));
      float* tile = in + in_floats;
      float* clamped = tile + gp * band + 16;
      int64_t clamped_plane = -1;
      int64_t pending = 0, first_off = 0;  // planes in the tile, the output offset of the first
      // The thread's items, [ib, ie) (as schedule(static)), read one contiguous range of the input
      // and write one of the output, from its first item's plane (band) on: prefetched `ahead`
      // floats ahead of the item being computed (the output only where it takes normal stores).
      const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
      const int64_t ib = items * tid / nt, ie = items * (tid + 1) / nt;
      // Small planes only: from 56x56 on, the hardware prefetcher follows the longer runs (and
      // 96x112x112 stride 2 took 0.74 against 0.69 ms with it). Grouping 14x14 planes per chain call
      // (as the 7x7 ones below) was slower: 384x14x14 0.081 -> 0.089 ms.
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
        if (clamp_) {
          if (clamped_plane != plane) clamp_floats(xplane, clamped, hw, *clamp_);
          clamped_plane = plane;
          xplane = clamped;
        }
        const float bias = bp ? bp[ch] : 0.f;
        float* t = tile + pending * band;
        if (planar_) {
          planar_band(p, v4_, xplane, wp + ch * taps, bias, p0, len, in, t);
        } else {
#ifdef NETLENS_DW_V4
          if (s2_) {
            const int64_t r0 = p0 / g.ow, nv = len / g.ow * q_.nk;
            s2_band_v4(S2Band{xplane, wp + ch * taps, bias, q_.masks.data(), g.h, g.w, g.ow, g.kh, g.kw, g.dh, g.ph,
                              g.pw, q_.nk, r0, nv, t});
          } else if (pair_) {
            pair_plane_v4(r_, xplane, wp + ch * taps, bias, t, g.ow);
          } else {
            small_plane_v4(m_, xplane, wp + ch * taps, bias, t);
          }
#endif
        }
        if (pending++ == 0) first_off = off;
        if (pending == gp || it + 1 == ie) {
          // The store policy of one plane's piece, whatever the planes per call.
          hand_off(chain, tile, yp, first_off, pending * len, from_buf && len < smin);
          pending = 0;
        }
      }
      if (chain) chain_store_fence();
    }
    if (chain_) chain_->finish(chain != nullptr);
  }

  static constexpr int64_t kBandPositions = 1024;
  static constexpr int64_t kPlanarBand = 2048;
  int64_t n_, c_;
  DwGeom g_{};
  bool planar_ = false, v4_ = false, s2_ = false, pair_ = false, small_ = false;  // s2_, pair_, small_: only where planar_use_v4()
  std::optional<Clamp> clamp_;  // read_clamped
  PlanarGeom p_;
  S2Geom q_;
  PairGeom r_;
  SmallGeom m_;
  std::shared_ptr<Chain> chain_;
};

}  // namespace

std::unique_ptr<Kernel> make_depthwise_conv2d(const Shape& x, const Shape& y, const SpatialGeometry& g,
                                              std::shared_ptr<Chain> chain) {
  return std::make_unique<DepthwiseConv2d>(x, y, g, std::move(chain));
}

}  // namespace netlens::cpu::nn
