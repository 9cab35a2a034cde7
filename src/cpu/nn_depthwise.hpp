// Depthwise 2-D convolution, internal to src/cpu: the geometry shared by nn_depthwise.cpp (the
// kernel: channel-blocked path, work split, chain hand-off) and nn_depthwise_rows.cpp (the paths on
// plain planes). Each *_fits says whether a path takes a conv; its *_geom is computed once per
// kernel; the plane functions are called per work item from any thread (no shared state).
#pragma once

#include <cstdint>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define NETLENS_DW_V4 1  // the AVX-512 code is built (used where planar_use_v4())
#endif

namespace netlens::cpu::nn::dw {

// One conv (pads: the leading ones), and the blocked path's band of output rows per work item.
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

// The AVX-512 paths unless the CPU lacks AVX-512 (F, BW, VL, DQ) or NETLENS_DW_GENERIC=1.
bool planar_use_v4();

// ---- Stride 1 on the flattened plane (rows of output as long as the input's, 100 positions and more).
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
bool planar_fits(const DwGeom& g);
PlanarGeom planar_geom(const DwGeom& g, int64_t band_positions);
// Output positions [p0, p0 + len) of one plane into out (rounded up to whole vectors: out has room
// for 16 more floats): xplane the input plane, wt its kh * kw weights, buf PlanarGeom::in_floats.
void planar_band(const PlanarGeom& p, bool v4, const float* xplane, const float* wt, float bias, int64_t p0,
                 int64_t len, float* buf, float* out);

// ---- Stride 2 on rows of 14 outputs and more (AVX-512).
struct S2Geom {
  int64_t nk = 0;                // vectors per output row
  int64_t rows = 0;              // output rows per work item
  std::vector<uint32_t> masks;   // [k][j]: bit t set when column 32 k + j - pw + t is in the row
  int64_t buf_floats(int64_t ow) const { return rows * ow + 16; }
};
bool s2_fits(const DwGeom& g);
S2Geom s2_geom(const DwGeom& g, int64_t band_positions);
// Output rows [r0, r1) of one plane: out[(r - r0) * ow + c] (plus junk in 16 floats of slack).
struct S2Band {
  const float* x;  // the input plane
  const float* wt;
  float bias;
  const uint32_t* masks;
  int64_t h, w, ow, kh, kw, dh, ph, pw, nk, r0, nv;  // nv = (r1 - r0) * nk vectors
  float* out;
};
#ifdef NETLENS_DW_V4
void s2_band_v4(const S2Band& b);
#endif

// ---- Stride 2 onto rows of 4..8 outputs, two rows per vector (AVX-512).
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
bool pair_fits(const DwGeom& g);
PairGeom pair_geom(const DwGeom& g);
#ifdef NETLENS_DW_V4
// One plane: x the input plane, wt its weights, out its oh * ow outputs (nothing written past them).
void pair_plane_v4(const PairGeom& q, const float* x, const float* wt, float bias, float* out, int64_t ow);
#endif

// ---- Stride 1 on planes under 100 positions (7x7), masked loads per tap (AVX-512).
// Per vector v of 16 flattened output positions (padded to a multiple of 4 with vectors that load
// and store nothing) and tap t: the lanes whose input (position 16 v + l + off[t]) is in the image.
struct SmallGeom {
  int64_t nv = 0, taps = 0;
  std::vector<int32_t> off;     // [t]: input offset of tap t from the output position
  std::vector<uint16_t> mask;   // [v][t]
  std::vector<uint16_t> smask;  // [v]: the plane's positions
};
bool small_fits(const DwGeom& g);
SmallGeom small_geom(const DwGeom& g);
#ifdef NETLENS_DW_V4
// One plane: x the input plane, out its oh * ow outputs (nothing written past them).
void small_plane_v4(const SmallGeom& q, const float* x, const float* wt, float bias, float* out);
#endif

}  // namespace netlens::cpu::nn::dw
