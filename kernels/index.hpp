// Index arithmetic shared by the CUDA kernels (device) and their unit tests (host).
// No CUDA headers: every function is `NL_HD` (__host__ __device__ under nvcc, plain inline
// otherwise), so tests/cuda/index_test.cpp checks the exact code the kernels run, on the CPU.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define NL_HD __host__ __device__ __forceinline__
#else
#define NL_HD inline
#endif

namespace netlens::kern {

// Highest tensor rank the CUDA kernels handle; larger ranks fall back to the CPU backend.
constexpr int kMaxRank = 8;

// A strided walk over `rank` dims in row-major order: linear index i → element offset
// offset + sum(idx_d * strides[d]). Strides may be 0 (broadcast) or negative (reversed slice).
struct StridedMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  int64_t offset = 0;
};

NL_HD int64_t strided_offset(const StridedMap& m, int64_t i) {
  int64_t off = m.offset;
  for (int d = m.rank - 1; d >= 0; --d) {
    const int64_t q = i / m.dims[d];
    off += (i - q * m.dims[d]) * m.strides[d];
    i = q;
  }
  return off;
}

// Same walk with 32-bit index arithmetic (much faster divisions on the GPU); valid when every
// index and offset fits in int32 (the launcher checks numel and extents before choosing it).
NL_HD int32_t strided_offset32(const StridedMap& m, int32_t i) {
  int32_t off = static_cast<int32_t>(m.offset);
  for (int d = m.rank - 1; d >= 0; --d) {
    const int32_t n = static_cast<int32_t>(m.dims[d]);
    const int32_t q = i / n;
    off += (i - q * n) * static_cast<int32_t>(m.strides[d]);
    i = q;
  }
  return off;
}

// Merges adjacent dims that every operand walks contiguously (stride[d] == stride[d+1]*dims[d+1]
// for all operands) and drops size-1 dims, in place, keeping the walk identical. Fewer dims mean
// fewer divisions per element: [N,C,H,W] + bias[C,1,1] becomes [N, C, H*W] with strides [0,1,0].
// `maps` share dims (only strides/offset differ); returns the new rank (>= 1 unless rank was 0).
NL_HD int collapse_dims(StridedMap* maps, int count) {
  if (count <= 0) return 0;
  int rank = maps[0].rank;
  int out = 0;
  // Pass 1: drop size-1 dims (they contribute nothing to any offset).
  for (int d = 0; d < rank; ++d) {
    const int64_t n = maps[0].dims[d];
    if (n == 1) continue;
    for (int k = 0; k < count; ++k) {
      maps[k].dims[out] = n;
      maps[k].strides[out] = maps[k].strides[d];
    }
    ++out;
  }
  rank = out;
  if (rank == 0) {
    for (int k = 0; k < count; ++k) {
      maps[k].rank = 1;
      maps[k].dims[0] = 1;
      maps[k].strides[0] = 0;
    }
    return 1;
  }
  // Pass 2: merge d into d+1 (from the right) when contiguous for every operand.
  int w = 0;  // index of the current merged dim being built (walk left to right)
  for (int d = 1; d < rank; ++d) {
    bool mergeable = true;
    for (int k = 0; k < count; ++k)
      if (maps[k].strides[w] != maps[k].strides[d] * maps[k].dims[d]) mergeable = false;
    if (mergeable) {
      for (int k = 0; k < count; ++k) {
        maps[k].dims[w] *= maps[k].dims[d];
        maps[k].strides[w] = maps[k].strides[d];
      }
    } else {
      ++w;
      for (int k = 0; k < count; ++k) {
        maps[k].dims[w] = maps[k].dims[d];
        maps[k].strides[w] = maps[k].strides[d];
      }
    }
  }
  for (int k = 0; k < count; ++k) maps[k].rank = w + 1;
  return w + 1;
}

// ---------------------------------------------------------------------------------------------
// Pooling: first input position of output position `o` along one dim (may be negative = padding).
NL_HD int64_t pool_window_start(int64_t o, int64_t stride, int64_t pad_begin) { return o * stride - pad_begin; }

// Number of window taps (kernel k, dilation dil, starting at `start`) that land inside [lo, hi).
NL_HD int64_t pool_taps_inside(int64_t start, int64_t k, int64_t dil, int64_t lo, int64_t hi) {
  int64_t n = 0;
  for (int64_t t = 0; t < k; ++t) {
    const int64_t p = start + t * dil;
    if (p >= lo && p < hi) ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Resize (ONNX semantics). Coordinate transformation modes and nearest rounding modes.
enum class ResizeCoord : int { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn };
enum class ResizeNearest : int { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

// Source coordinate (in input pixels, may be fractional/out of range) of output position x, in
// float32 as onnxruntime and the CPU backend compute it. `scale` is out/in (the scales input, or
// sizes/in); `length` the resized length as ONNX defines it (in * scale when scales are given, the
// output size when sizes are): align_corners divides by it. out_len is the integer output size.
NL_HD float resize_source_coord(float x, float scale, int64_t in_len, int64_t out_len, float length,
                                ResizeCoord mode) {
  switch (mode) {
    case ResizeCoord::HalfPixel: return (x + 0.5f) / scale - 0.5f;
    case ResizeCoord::PytorchHalfPixel: return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case ResizeCoord::AlignCorners:
      return length == 1.0f ? 0.0f : x * (static_cast<float>(in_len) - 1.0f) / (length - 1.0f);
    case ResizeCoord::Asymmetric: return x / scale;
    case ResizeCoord::TfHalfPixelForNn: return (x + 0.5f) / scale;
  }
  return 0.0f;
}

// floor() without libm, identical on host and device.
NL_HD float nl_floor(float x) {
  const float t = static_cast<float>(static_cast<int64_t>(x));
  return t > x ? t - 1.0f : t;
}

NL_HD int64_t resize_nearest_index(float x, int64_t in_len, ResizeNearest mode) {
  const float f = nl_floor(x);
  const float frac = x - f;
  float r = f;
  switch (mode) {
    case ResizeNearest::RoundPreferFloor: r = frac > 0.5f ? f + 1.0f : f; break;
    case ResizeNearest::RoundPreferCeil: r = frac >= 0.5f ? f + 1.0f : f; break;
    case ResizeNearest::Floor: r = f; break;
    case ResizeNearest::Ceil: r = frac > 0.0f ? f + 1.0f : f; break;
  }
  int64_t i = static_cast<int64_t>(r);
  if (i < 0) i = 0;
  if (i > in_len - 1) i = in_len - 1;
  return i;
}

// Linear interpolation taps along one dim: lower index, upper index and the upper weight.
struct LinearTaps {
  int64_t lo, hi;
  float w_hi;
};
NL_HD LinearTaps resize_linear_taps(float x, int64_t in_len) {
  if (x < 0) x = 0;  // onnxruntime clamps the source coordinate into the input
  const float maxc = static_cast<float>(in_len - 1);
  if (x > maxc) x = maxc;
  int64_t lo = static_cast<int64_t>(x);
  if (lo > in_len - 1) lo = in_len - 1;
  const int64_t hi = lo + 1 < in_len ? lo + 1 : in_len - 1;
  return {lo, hi, x - static_cast<float>(lo)};
}

// Geometry of a Resize over the last two dims of a tensor seen as [outer, in_h, in_w].
struct ResizeGeom {
  int64_t outer = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  float scale_h = 1, scale_w = 1;    // out/in as ONNX defines them (from scales, or sizes/in)
  float length_h = 1, length_w = 1;  // resized lengths (in * scale, or the sizes): align_corners
  bool identity_h = false, identity_w = false;  // axis not resized (same size, scale 1): x maps to x
  ResizeCoord coord = ResizeCoord::HalfPixel;
  ResizeNearest nearest = ResizeNearest::RoundPreferFloor;
  bool linear = false;
};

// Output element t (row-major over [outer, out_h, out_w]) of a Resize: what the kernel computes.
NL_HD float resize_element(const float* x, const ResizeGeom& g, int64_t t) {
  const int64_t ox = t % g.out_w;
  const int64_t oy = (t / g.out_w) % g.out_h;
  const int64_t p = t / (g.out_w * g.out_h);
  const float* plane = x + p * g.in_h * g.in_w;
  const float sy = g.identity_h ? static_cast<float>(oy)
                                : resize_source_coord(static_cast<float>(oy), g.scale_h, g.in_h, g.out_h, g.length_h, g.coord);
  const float sx = g.identity_w ? static_cast<float>(ox)
                                : resize_source_coord(static_cast<float>(ox), g.scale_w, g.in_w, g.out_w, g.length_w, g.coord);
  if (!g.linear) {
    const int64_t iy = resize_nearest_index(sy, g.in_h, g.nearest);
    const int64_t ix = resize_nearest_index(sx, g.in_w, g.nearest);
    return plane[iy * g.in_w + ix];
  }
  const LinearTaps ty = resize_linear_taps(sy, g.in_h);
  const LinearTaps tx = resize_linear_taps(sx, g.in_w);
  const float v00 = plane[ty.lo * g.in_w + tx.lo], v01 = plane[ty.lo * g.in_w + tx.hi];
  const float v10 = plane[ty.hi * g.in_w + tx.lo], v11 = plane[ty.hi * g.in_w + tx.hi];
  const float top = v00 + (v01 - v00) * tx.w_hi;
  const float bot = v10 + (v11 - v10) * tx.w_hi;
  return top + (bot - top) * ty.w_hi;
}

// ---------------------------------------------------------------------------------------------
// Pad: input index for output index `o` along one dim, or -1 for "constant value".
enum class PadMode : int { Constant, Reflect, Edge, Wrap };
NL_HD int64_t pad_source_index(int64_t o, int64_t pad_begin, int64_t in_len, PadMode mode) {
  int64_t i = o - pad_begin;
  if (i >= 0 && i < in_len) return i;
  switch (mode) {
    case PadMode::Constant: return -1;
    case PadMode::Edge: return i < 0 ? 0 : in_len - 1;
    case PadMode::Reflect: {
      if (in_len == 1) return 0;
      const int64_t period = 2 * (in_len - 1);
      i %= period;
      if (i < 0) i += period;
      return i < in_len ? i : period - i;
    }
    case PadMode::Wrap: {
      i %= in_len;
      if (i < 0) i += in_len;
      return i;
    }
  }
  return -1;
}

// Gather: normalises a possibly negative index; returns -1 when out of range (the kernel then
// writes zeros rather than reading out of bounds; the CPU reference reports the error).
NL_HD int64_t gather_index(int64_t idx, int64_t axis_len) {
  if (idx < 0) idx += axis_len;
  return (idx >= 0 && idx < axis_len) ? idx : -1;
}

// Softmax/LayerNorm geometry: a tensor seen as [outer, axis_len, inner]; element (o, a, i).
NL_HD int64_t oai_offset(int64_t o, int64_t a, int64_t i, int64_t axis_len, int64_t inner) {
  return (o * axis_len + a) * inner + i;
}

}  // namespace netlens::kern
