#include "lod.hpp"

#include <algorithm>
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

FloatPyramid build_pyramid(const float* values, const VolumeDims& d) {
  FloatPyramid p;
  p.dims = pyramid_levels(d.H, d.W);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // The previous level: extreme value, sum, neuron count per cell. Level 0 is read from `values`
  // directly (no copy: volumes reach 10^8 neurons).
  int64_t ph = d.H, pw = d.W;
  std::vector<float> pmax, psum;
  std::vector<uint32_t> pcnt;
  bool first = true;
  for (const LevelDims& ld : p.dims) {
    size_t n = static_cast<size_t>(d.C * ld.h * ld.w);
    std::vector<float> nmax(n, 0.0f), nsum(n, 0.0f);
    std::vector<uint32_t> ncnt(n, 0);
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t y = 0; y < ld.h; ++y)
        for (int64_t x = 0; x < ld.w; ++x) {
          size_t o = static_cast<size_t>((c * ld.h + y) * ld.w + x);
          float best = 0.0f, sum = 0.0f;
          uint32_t cnt = 0;
          bool bad = false, any = false;
          for (int64_t dy = 0; dy < 2; ++dy)
            for (int64_t dx = 0; dx < 2; ++dx) {
              int64_t yy = 2 * y + dy, xx = 2 * x + dx;
              if (yy >= ph || xx >= pw) continue;
              int64_t i = (c * ph + yy) * pw + xx;
              float m, s;
              uint32_t k;
              if (first) {
                if (i >= d.count) continue;
                m = values[i];
                s = std::isfinite(m) ? m : nan;
                k = 1;
              } else {
                k = pcnt[static_cast<size_t>(i)];
                if (k == 0) continue;
                m = pmax[static_cast<size_t>(i)];
                s = psum[static_cast<size_t>(i)];
              }
              if (!std::isfinite(m) || !std::isfinite(s)) { bad = true; best = std::isfinite(m) ? nan : m; }
              if (!bad && (!any || std::fabs(m) > std::fabs(best))) best = m;
              any = true;
              sum += s;
              cnt += k;
            }
          nmax[o] = best;
          nsum[o] = bad ? nan : sum;
          ncnt[o] = cnt;
        }
    std::vector<float> mean(n, 0.0f);
    std::vector<uint8_t> empty(n, 0);
    for (size_t i = 0; i < n; ++i) {
      empty[i] = ncnt[i] == 0;
      mean[i] = ncnt[i] ? nsum[i] / float(ncnt[i]) : 0.0f;
      if (!std::isfinite(nsum[i]) && ncnt[i]) mean[i] = std::isfinite(nmax[i]) ? nan : nmax[i];
    }
    p.max.push_back(nmax);
    p.mean.push_back(std::move(mean));
    p.empty.push_back(std::move(empty));
    pmax = std::move(nmax);
    psum = std::move(nsum);
    pcnt = std::move(ncnt);
    first = false;
    ph = ld.h;
    pw = ld.w;
  }
  return p;
}

}  // namespace netlens::viz
