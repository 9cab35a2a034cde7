#include "netlens/ui/feature_maps.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace netlens::ui {

int FeatureGrid::tile_of(int64_t c) const {
  for (size_t t = 0; t < order.size(); ++t)
    if (order[t] == c) return static_cast<int>(t);
  return -1;
}

FeatureGrid feature_grid(const viz::VolumeDims& d, std::span<const float> values, const viz::ColorScale& scale,
                         ChannelOrder order, std::span<const float> key, float aspect, int64_t max_texels) {
  FeatureGrid g;
  g.channels = d.C;
  g.tile_w = static_cast<int>(d.W);
  g.tile_h = static_cast<int>(d.H);
  std::vector<int64_t> ord(static_cast<size_t>(d.C));
  std::iota(ord.begin(), ord.end(), int64_t(0));
  if (order != ChannelOrder::Index && key.size() == ord.size())
    std::stable_sort(ord.begin(), ord.end(), [&](int64_t a, int64_t b) {
      // NaN keys last.
      float ka = key[static_cast<size_t>(a)], kb = key[static_cast<size_t>(b)];
      if (std::isnan(kb)) return !std::isnan(ka);
      if (std::isnan(ka)) return false;
      return ka > kb;
    });
  const int64_t tile_texels = (d.W + 1) * (d.H + 1);
  int64_t shown = std::clamp<int64_t>(max_texels / std::max<int64_t>(tile_texels, 1), 1, d.C);
  // Textures stay within 8192 texels per side (every Vulkan device allows 4096; lavapipe 16384).
  const int64_t max_cols = std::max<int64_t>(1, 8192 / (d.W + 1)), max_rows = std::max<int64_t>(1, 8192 / (d.H + 1));
  shown = std::min(shown, max_cols * max_rows);
  ord.resize(static_cast<size_t>(shown));
  // The column count that shows tiles largest in a box of aspect `aspect` (width / height).
  int64_t cols = 1, rows = shown;
  double best = -1;
  for (int64_t c = 1; c <= std::min(shown, max_cols); ++c) {
    const int64_t r = (shown + c - 1) / c;
    if (r > max_rows) continue;
    const double w = double(c * (d.W + 1) - 1), h = double(r * (d.H + 1) - 1);
    const double scale = std::min(double(aspect) / w, 1.0 / h);
    if (scale > best * (1 + 1e-9)) {
      best = scale;
      cols = c;
      rows = r;
    }
  }
  g.cols = static_cast<int>(cols);
  g.rows = static_cast<int>(rows);
  g.width = static_cast<int>(cols * (d.W + 1) - 1);
  g.height = static_cast<int>(rows * (d.H + 1) - 1);
  g.order = std::move(ord);
  g.rgba.assign(size_t(g.width) * size_t(g.height) * 4, 0);  // gaps: transparent
  const auto lut = viz::code_lut(scale.kind);
  for (size_t t = 0; t < g.order.size(); ++t) {
    const int64_t ch = g.order[t];
    const int64_t tx = int64_t(t) % cols, ty = int64_t(t) / cols;
    for (int64_t y = 0; y < d.H; ++y)
      for (int64_t x = 0; x < d.W; ++x) {
        const int64_t flat = viz::flat_of(d, ch, y, x);
        // A vector wrapped into a grid has cells past its end: the empty code, as in 3D.
        uint8_t code = flat < d.count && flat < static_cast<int64_t>(values.size())
                           ? viz::encode(values[static_cast<size_t>(flat)], scale)
                           : viz::kCodeEmpty;
        const glm::vec3 col = lut[code];
        const size_t px = size_t(ty * (d.H + 1) + y) * size_t(g.width) + size_t(tx * (d.W + 1) + x);
        uint8_t* p = &g.rgba[px * 4];
        for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(std::lround(std::clamp(col[k], 0.0f, 1.0f) * 255.0f));
        p[3] = 255;
      }
  }
  return g;
}

std::vector<uint8_t> colour_matrix(int64_t rows, int64_t cols, std::span<const float> values,
                                   const viz::ColorScale& scale) {
  const auto lut = viz::code_lut(scale.kind);
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols) * 4, 0);
  for (int64_t i = 0; i < rows * cols && i < static_cast<int64_t>(values.size()); ++i) {
    const glm::vec3 c = lut[viz::encode(values[static_cast<size_t>(i)], scale)];
    for (int k = 0; k < 3; ++k)
      out[size_t(i) * 4 + size_t(k)] = static_cast<uint8_t>(std::lround(std::clamp(c[k], 0.0f, 1.0f) * 255.0f));
    out[size_t(i) * 4 + 3] = 255;
  }
  return out;
}

}  // namespace netlens::ui
