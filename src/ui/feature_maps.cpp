#include "feature_maps.hpp"

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
  // Columns so that the grid's texel aspect is close to `aspect`.
  double c = std::sqrt(double(shown) * double(aspect) * double(d.H + 1) / double(d.W + 1));
  int64_t cols = std::clamp<int64_t>(static_cast<int64_t>(std::lround(c)), 1, std::min(shown, max_cols));
  int64_t rows = (shown + cols - 1) / cols;
  if (rows > max_rows) {
    rows = max_rows;
    cols = (shown + rows - 1) / rows;
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

}  // namespace netlens::ui
