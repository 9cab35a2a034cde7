// Descriptor bindings and helpers shared by the scene shaders.
#include "types.h"

layout(std140, set = 0, binding = 0) uniform FrameBlock { GpuFrame frame; };
layout(std430, set = 0, binding = 1) readonly buffer Layers { GpuLayer layers[]; };
layout(std430, set = 0, binding = 2) readonly buffer Parts { GpuPart parts[]; };
layout(std430, set = 0, binding = 3) readonly buffer LayerRegions { uvec2 layer_regions[]; };  // (first, count)
layout(std430, set = 0, binding = 5) readonly buffer Lut { vec4 lut[]; };  // 256 sequential, 256 diverging
layout(std430, set = 0, binding = 6) readonly buffer Regions { GpuRegion regions[]; };
layout(std430, set = 0, binding = 7) readonly buffer Slabs { uvec2 slabs[]; };  // (part, channel + 1 of an open layer's tile; 0: the whole part)
layout(std430, set = 0, binding = 8) readonly buffer Cells { uvec2 cells[]; };  // (part, flat index in the layer)

// The code buffer of the draw's chunk (every instance of a draw lives in the same chunk).
layout(std430, set = 1, binding = 0) readonly buffer Codes { uint codes[]; };

uint byte_at(uint b) { return (codes[b >> 2] >> ((b & 3u) * 8u)) & 255u; }

uint level_offset(GpuPart P, uint k) {
  uint i = k - 1u;
  return P.level_offset[i >> 2][i & 3u];
}

// The code of an unfilled layer's (kLayerUnfilled) cell whose block (level 0: the cell itself; level
// k: the 2^k × 2^k block, clipped) starts at flat index `first`: a block holds a neuron exactly when
// its first cell does (cells past d.count are the tail of a wrapped vector), as in viz::pyramid_codes.
uint unfilled_code(GpuLayer L, uint first) { return first < L.dims.w ? kCodeZero : kCodeEmpty; }
bool layer_unfilled(GpuLayer L) { return (L.info.z & kLayerUnfilled) != 0u; }

vec3 code_color(GpuLayer L, uint code) {
  uint base = (L.info.z & kLayerDiverging) != 0u ? 256u : 0u;
  return lut[base + code].rgb;
}

// 0: not highlighted, 1: inside a receptive-field region, 2: the selected neuron, 3: fan-out,
// 4: a top contributor (GpuRegion.lo.w: 0 receptive field, 1 fan-out, 2 contributor).
uint highlight(uint layer, uint c, uint y, uint x, uint flat_index) {
  if (frame.flags.z == layer + 1u && frame.flags.w == flat_index) return 2u;
  // Only this layer's regions: a deep receptive field has one region in each of hundreds of layers.
  uvec2 range = frame.flags.y > 0u ? layer_regions[layer] : uvec2(0u);
  for (uint i = range.x; i < range.x + range.y; ++i) {
    GpuRegion r = regions[i];
    if (r.head.y != 0u) {
      if (flat_index >= r.head.z && flat_index < r.head.w) return r.lo.w == 0u ? 1u : r.lo.w == 1u ? 3u : 4u;
    } else if (c >= r.lo.x && c < r.hi.x && y >= r.lo.y && y < r.hi.y && x >= r.lo.z && x < r.hi.z) {
      return r.lo.w == 0u ? 1u : r.lo.w == 1u ? 3u : 4u;
    }
  }
  return 0u;
}

vec3 apply_highlight(vec3 col, uint h) {
  if (h == 2u) return mix(col, vec3(1.0), 0.65);
  if (h == 1u) return mix(col, vec3(0.30, 0.95, 1.0), 0.40);
  if (h == 3u) return mix(col, vec3(1.0, 0.55, 0.10), 0.50);
  if (h == 4u) return mix(col, vec3(1.0, 0.25, 0.85), 0.60);
  return col;
}

// The cutaway (GpuFrame.cell_scale.zw): geometry upstream of x = z is clipped.
float cut_distance(vec3 world) { return frame.cell_scale.w > 0.0 ? world.x - frame.cell_scale.z : 1.0; }

// Soft key light + head light + ambient. Returns the factor applied to the base colour.
float shade(vec3 n, vec3 world) {
  if ((frame.flags.x & kFrameLighting) == 0u) return 1.0;
  vec3 v = normalize(frame.eye.xyz - world);
  float key = max(dot(n, frame.light_dir.xyz), 0.0);
  float head = max(dot(n, v), 0.0);
  return 0.50 + 0.32 * key + 0.28 * head;
}
