// A layer's feature maps as one texture: every channel's H×W map is a tile of a grid, one texel per
// neuron, coloured exactly as the 3D view colours it (viz::encode with the given scale, then the
// renderer's code LUT), tiles separated by a one-texel transparent gap. Plain CPU code (tested
// without a GPU); the layer inspector uploads the result with ImGuiLayer::upload_texture.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "netlens/viz/colormap.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::ui {

enum class ChannelOrder { Index, MeanDesc, MaxDesc };

struct FeatureGrid {
  int cols = 0, rows = 0;        // tiles
  int tile_w = 0, tile_h = 0;    // = the layer's W, H
  int width = 0, height = 0;     // texture size: cols·(tile_w+1)−1 × rows·(tile_h+1)−1
  std::vector<int64_t> order;    // channel shown in tile t (row-major over tiles); size = tiles shown
  int64_t channels = 0;          // channels of the layer (order.size() ≤ channels: texel budget)
  std::vector<uint8_t> rgba;     // width·height·4
  // Tile of channel `c` and its top-left texel; -1 when the channel is not shown.
  int tile_of(int64_t c) const;
};

// `values`: the layer's d.count neurons in volume order (viz::SceneLayer::values). `key`: one sort
// value per channel (mean or max of the channel, from the statistics the caller has), ignored for
// ChannelOrder::Index; ties keep channel order. `aspect`: width / height of the box the grid is shown
// in; the column count is the one that shows the tiles largest in it.
// At most `max_texels` texels: channels past the budget are left out (the first ones in `order`).
FeatureGrid feature_grid(const viz::VolumeDims& d, std::span<const float> values, const viz::ColorScale& scale,
                         ChannelOrder order, std::span<const float> key = {}, float aspect = 1.0f,
                         int64_t max_texels = int64_t(1) << 24);

// A rows×cols matrix (row-major) as RGBA texels with the 3D view's colours for `scale`
// (heatmaps of weights and attention).
std::vector<uint8_t> colour_matrix(int64_t rows, int64_t cols, std::span<const float> values,
                                   const viz::ColorScale& scale);

}  // namespace netlens::ui
