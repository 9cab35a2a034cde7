// Level-of-detail pyramids for a C×H×W volume. Level k cell (y, x) aggregates the level-0 cells
// [y·2^k, (y+1)·2^k) × [x·2^k, (x+1)·2^k) of the same channel (clipped at the edges). Two
// aggregates: max (the value of largest magnitude, sign kept, so one strong neuron stays visible
// from afar) and mean (over the covered neurons). A non-finite value anywhere in a block makes the
// block non-finite at every level: anomalies must not disappear with distance.
#pragma once

#include <cstdint>
#include <vector>

#include "netlens/viz/colormap.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

inline constexpr int kMaxLevels = 13;  // level 0 plus 12 aggregated levels (sides up to 4096)

struct LevelDims { int64_t h = 1, w = 1; };
// Dims of levels 1.. until both sides are 1 (empty when H = W = 1); at most kMaxLevels - 1.
std::vector<LevelDims> pyramid_levels(int64_t H, int64_t W);

struct FloatPyramid {
  std::vector<LevelDims> dims;               // per level ≥ 1
  std::vector<std::vector<float>> max, mean;  // per level ≥ 1, C·h·w each, channel-major
  std::vector<std::vector<uint8_t>> empty;    // 1 where a block covers no neuron (grid tails)
};
// values: the `d.count` neurons of the volume, flat (c, y, x) order.
FloatPyramid build_pyramid(const float* values, const VolumeDims& d);

// The byte codes of channels [c0, c1) at every level, encoded with `s` (kCodeEmpty where a block
// covers no neuron), computed channel by channel with exactly build_pyramid's arithmetic, so the
// codes equal encoding build_pyramid's floats. Level k's codes go to codes_max/codes_mean +
// level_offset[k] + c·h·w (k = 1..levels; level_offset[0] unused). Channels are independent, so
// disjoint channel ranges may be written from different threads. Needs no volume-sized buffers.
void pyramid_codes(const float* values, const VolumeDims& d, int64_t c0, int64_t c1, const ColorScale& s,
                   const uint64_t* level_offset, uint8_t* codes_max, uint8_t* codes_mean);
// The same codes from only channels [c0, c1)'s neurons: chunk[i] is neuron c0·H·W + i (read only
// below d.count), and level k's codes go to dst_max[k] / dst_mean[k] (channel c0's first cell;
// k = 1..levels, [0] unused). Lets a caller convert one channel run at a time (float16 sources).
void pyramid_codes_at(const float* chunk, const VolumeDims& d, int64_t c0, int64_t c1, const ColorScale& s,
                      uint8_t* const* dst_max, uint8_t* const* dst_mean);

}  // namespace netlens::viz
