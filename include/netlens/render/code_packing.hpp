// How the scene's byte codes are packed into storage-buffer chunks: pure arithmetic on the layout
// (no Vulkan), so it is tested without a device (tests/render/test_render.cpp, CodePacking).
// Contract: each layer's channels are covered, in order, by one or more parts (channel runs); a part
// lives in one chunk and holds, contiguously for its channels, level 0 (H·W bytes a channel) at
// off0, then every max pyramid level at off_max.., then the mean levels bytes_max further on (each
// level channel-major). Chunks are filled in layer order and never exceed chunk_limit bytes; a layer
// is split only when the rest of the current chunk cannot hold all of its remaining channels.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "netlens/viz/scene.hpp"

namespace netlens::render {

struct CodePart {
  uint32_t layer = 0, c0 = 0, c1 = 0, chunk = 0;  // channels [c0, c1) of `layer`, in chunk `chunk`
  uint64_t off0 = 0;                              // byte offset of level 0 (channel c0) in the chunk
  uint64_t off_max = 0;                           // byte offset of max level 1 (channel c0)
  uint64_t bytes_max = 0;                         // bytes of all max levels; the mean levels follow
};

struct CodePacking {
  uint64_t chunk_limit = 0;                                // bytes per chunk at most (a multiple of 4)
  std::vector<CodePart> parts;
  std::vector<std::pair<uint32_t, uint32_t>> layer_parts;  // [first, end) into parts, per layer
  std::vector<uint64_t> chunk_used;                        // bytes used per chunk (at least one chunk)
  // The part holding channel c of a layer.
  uint32_t part_of(int layer, int64_t c) const {
    auto [a, b] = layer_parts[static_cast<size_t>(layer)];
    for (uint32_t p = a; p < b; ++p)
      if (static_cast<uint32_t>(c) < parts[p].c1) return p;
    return b - 1;
  }
};

// Bytes of one channel's codes: level 0 plus the max and the mean pyramids.
uint64_t channel_code_bytes(const viz::VolumeDims& d);
// The packing of `scene`'s codes into chunks of at most `limit` bytes (rounded down to a multiple of
// 4). Error{Internal} when a layer's pyramid depth disagrees with its shape; Error{Device} naming the
// layer and `device` when one channel does not fit in a chunk.
CodePacking pack_codes(const viz::Scene& scene, uint64_t limit, const std::string& device);

}  // namespace netlens::render
