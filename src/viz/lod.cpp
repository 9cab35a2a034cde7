#include "netlens/viz/lod.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace netlens::viz {

std::vector<LevelDims> pyramid_levels(int64_t H, int64_t W) {
  std::vector<LevelDims> out;
  int64_t h = H, w = W;
  while ((h > 1 || w > 1) && static_cast<int>(out.size()) < kMaxLevels - 1) {
    h = (h + 1) / 2;
    w = (w + 1) / 2;
    out.push_back({h, w});
  }
  return out;
}

namespace {

// One level's extreme value, sum and neuron count per cell, for a run of channels.
struct LevelCells {
  std::vector<float> max, sum;
  std::vector<uint32_t> cnt;
};

// Level `ld` of channels [c0, c1) from the previous level (ph × pw cells per channel): `prev`
// holds the same channels (indexed from c0), or is null for level 0, read from `values` directly
// (no copy: volumes reach 10^8 neurons). build_pyramid and pyramid_codes both use this, so their
// floats are the same whatever the channel split.
// `values` holds neuron `base` onwards (base = 0: the whole volume; c0·H·W: a channel run's chunk).
void reduce_level(const float* values, int64_t base, int64_t count, const LevelCells* prev, int64_t ph, int64_t pw,
                  const LevelDims& ld, int64_t c0, int64_t c1, LevelCells& out) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const size_t n = static_cast<size_t>((c1 - c0) * ld.h * ld.w);
  out.max.assign(n, 0.0f);
  out.sum.assign(n, 0.0f);
  out.cnt.assign(n, 0);
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t y = 0; y < ld.h; ++y)
      for (int64_t x = 0; x < ld.w; ++x) {
        size_t o = static_cast<size_t>(((c - c0) * ld.h + y) * ld.w + x);
        float best = 0.0f, sum = 0.0f;
        uint32_t cnt = 0;
        bool bad = false, any = false;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx) {
            int64_t yy = 2 * y + dy, xx = 2 * x + dx;
            if (yy >= ph || xx >= pw) continue;
            float m, sv;
            uint32_t k;
            if (!prev) {
              int64_t i = (c * ph + yy) * pw + xx;
              if (i >= count) continue;
              m = values[i - base];
              sv = std::isfinite(m) ? m : nan;
              k = 1;
            } else {
              size_t i = static_cast<size_t>(((c - c0) * ph + yy) * pw + xx);
              k = prev->cnt[i];
              if (k == 0) continue;
              m = prev->max[i];
              sv = prev->sum[i];
            }
            if (!std::isfinite(m) || !std::isfinite(sv)) { bad = true; best = std::isfinite(m) ? nan : m; }
            if (!bad && (!any || std::fabs(m) > std::fabs(best))) best = m;
            any = true;
            sum += sv;
            cnt += k;
          }
        out.max[o] = best;
        out.sum[o] = bad ? nan : sum;
        out.cnt[o] = cnt;
      }
}

// A cell's mean; a non-finite block keeps its non-finite value (NaN, or the ±Inf it holds).
float cell_mean(float max, float sum, uint32_t cnt) {
  if (!cnt) return 0.0f;
  if (!std::isfinite(sum)) return std::isfinite(max) ? std::numeric_limits<float>::quiet_NaN() : max;
  return sum / float(cnt);
}

}  // namespace

FloatPyramid build_pyramid(const float* values, const VolumeDims& d) {
  FloatPyramid p;
  p.dims = pyramid_levels(d.H, d.W);
  int64_t ph = d.H, pw = d.W;
  LevelCells prev, next;
  bool first = true;
  for (const LevelDims& ld : p.dims) {
    reduce_level(values, 0, d.count, first ? nullptr : &prev, ph, pw, ld, 0, d.C, next);
    const size_t n = next.max.size();
    std::vector<float> mean(n, 0.0f);
    std::vector<uint8_t> empty(n, 0);
    for (size_t i = 0; i < n; ++i) {
      empty[i] = next.cnt[i] == 0;
      mean[i] = cell_mean(next.max[i], next.sum[i], next.cnt[i]);
    }
    p.max.push_back(next.max);
    p.mean.push_back(std::move(mean));
    p.empty.push_back(std::move(empty));
    std::swap(prev, next);
    first = false;
    ph = ld.h;
    pw = ld.w;
  }
  return p;
}

namespace {

// pyramid_codes_at with `values` holding neuron `base` onwards.
void codes_from(const float* values, int64_t base, const VolumeDims& d, int64_t c0, int64_t c1, const ColorScale& s,
                uint8_t* const* dst_max, uint8_t* const* dst_mean) {
  const std::vector<LevelDims> dims = pyramid_levels(d.H, d.W);
  int64_t ph = d.H, pw = d.W;
  LevelCells prev, next;
  for (size_t k = 0; k < dims.size(); ++k) {
    const LevelDims& ld = dims[k];
    reduce_level(values, base, d.count, k == 0 ? nullptr : &prev, ph, pw, ld, c0, c1, next);
    uint8_t* cm = dst_max[k + 1];
    uint8_t* ca = dst_mean[k + 1];
    for (size_t j = 0; j < next.max.size(); ++j) {
      const bool e = next.cnt[j] == 0;
      cm[j] = e ? kCodeEmpty : encode(next.max[j], s);
      ca[j] = e ? kCodeEmpty : encode(cell_mean(next.max[j], next.sum[j], next.cnt[j]), s);
    }
    std::swap(prev, next);
    ph = ld.h;
    pw = ld.w;
  }
}

}  // namespace

void pyramid_codes_at(const float* chunk, const VolumeDims& d, int64_t c0, int64_t c1, const ColorScale& s,
                      uint8_t* const* dst_max, uint8_t* const* dst_mean) {
  codes_from(chunk, c0 * d.H * d.W, d, c0, c1, s, dst_max, dst_mean);
}

void pyramid_codes(const float* values, const VolumeDims& d, int64_t c0, int64_t c1, const ColorScale& s,
                   const uint64_t* level_offset, uint8_t* codes_max, uint8_t* codes_mean) {
  const std::vector<LevelDims> dims = pyramid_levels(d.H, d.W);
  std::array<uint8_t*, kMaxLevels> dm{}, da{};
  for (size_t k = 0; k < dims.size(); ++k) {
    const uint64_t base = level_offset[k + 1] + static_cast<uint64_t>(c0 * dims[k].h * dims[k].w);
    dm[k + 1] = codes_max + base;
    da[k + 1] = codes_mean + base;
  }
  // values + c0·H·W would point past a short grid's end: pass the whole array with base 0 instead.
  codes_from(values, 0, d, c0, c1, s, dm.data(), da.data());
}

}  // namespace netlens::viz
