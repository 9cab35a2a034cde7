// Structures and constants shared by the GLSL shaders and the C++ renderer (std430/std140 layout:
// only vec4/uvec4/mat4 members, so both sides agree; C++ static_asserts the sizes in
// src/render/gpu_types.hpp). Include from GLSL with GL_GOOGLE_include_directive.
#ifndef NETLENS_SHADERS_TYPES_H
#define NETLENS_SHADERS_TYPES_H

#ifdef __cplusplus
#include <cstdint>
#include <glm/mat4x4.hpp>
#include <glm/vec4.hpp>
namespace netlens::gpu {
using uint = uint32_t;
using vec4 = glm::vec4;
using uvec4 = glm::uvec4;
using mat4 = glm::mat4;
#define NL_CONST(type, name, value) inline constexpr type name = value;
#else
#define NL_CONST(type, name, value) const type name = value;
#endif

// Byte codes of a neuron's colour (see src/viz/colormap.hpp).
NL_CONST(uint, kCodeMaxColor, 251u)
NL_CONST(uint, kCodeZero, 252u)
NL_CONST(uint, kCodeNonFinite, 253u)
NL_CONST(uint, kCodeEmpty, 254u)

NL_CONST(uint, kLayerDiverging, 1u)  // GpuLayer.info.z flags
NL_CONST(uint, kLayerGrid, 2u)
// Not computed yet (a progressive run's structure frame): the renderer wrote none of the layer's
// codes; every neuron draws as kCodeZero, the cells past a wrapped vector's end (and pyramid blocks
// covering only such cells) as kCodeEmpty: the codes a scene of zeros has (unfilled_code).
NL_CONST(uint, kLayerUnfilled, 4u)

NL_CONST(uint, kFrameLighting, 1u)   // GpuFrame.flags.x bits
NL_CONST(uint, kFrameLodMax, 2u)     // pyramids: max (else mean)
NL_CONST(uint, kFrameGridLines, 4u)

NL_CONST(uint, kMaxPyramidLevels, 12u)
NL_CONST(uint, kMaxRegions, 4096u)

// Binding numbers of descriptor set 0 (shared by every draw).
NL_CONST(uint, kBindFrame, 0u)
NL_CONST(uint, kBindLayers, 1u)
NL_CONST(uint, kBindParts, 2u)
NL_CONST(uint, kBindLayerRegions, 3u)  // per layer: (first region, region count), per frame
NL_CONST(uint, kBindLut, 5u)
NL_CONST(uint, kBindRegions, 6u)
NL_CONST(uint, kBindSlabs, 7u)
NL_CONST(uint, kBindCells, 8u)
NL_CONST(uint, kBindFont, 9u)
// Descriptor set 1: one code buffer (a chunk of the scene's byte codes), rebound per draw.
NL_CONST(uint, kSetCodes, 1u)
NL_CONST(uint, kBindCodes, 0u)

struct GpuLayer {
  vec4 origin_pitch;   // xyz: minimum corner; w: slab pitch along X
  vec4 size_thick;     // xyz: extent; w: slab thickness
  uvec4 dims;          // C, H, W, neuron count
  uvec4 info;          // x: unused; y: pyramid levels; z: flags; w: unused
};

// A run of channels [c0, c1) of one layer whose byte codes sit together in one code buffer
// (chunk): level 0, then the max pyramid levels, then the mean levels, each channel-major. A scene
// larger than one buffer may hold (maxStorageBufferRange) is split into parts packed into several
// chunks; small layers are one part each. Slabs and cells are instanced per part.
struct GpuPart {
  uvec4 head;          // x: layer; y: c0; z: c1 (exclusive); w: chunk
  uvec4 offs;          // x: byte offset of level 0 (channel c0) in the chunk; y: mean minus max offset
  uvec4 level_offset[3];  // byte offset of max level k (1..12) at [(k-1)/4][(k-1)%4]
};

struct GpuFrame {
  mat4 view_proj;
  vec4 eye;            // xyz: eye position
  vec4 light_dir;      // xyz: direction towards the key light (normalised)
  vec4 viewport;       // width, height, 1/width, 1/height
  uvec4 flags;         // x: kFrame* bits; y: region count; z: selected layer + 1 (0: none); w: selected flat index
                       // (regions are sorted by layer; LayerRegions gives each layer's range)
  vec4 bg_top;         // background gradient
  vec4 bg_bottom;
  vec4 cell_scale;     // x: cell box size relative to the cell pitch; y: grid-line strength;
                       // z: cutaway plane x (geometry with x < z is clipped) when w > 0
  vec4 tile;           // the part of the full frame drawn (viz::Camera::tile: x0, y0, w, h); (0, 0, 1, 1): all
  uvec4 open;          // an open layer (viz/open_layer.hpp): x: layer + 1 (0: none); y: grid columns;
                       // z: eased openness, w: gap (float bits). Its slab instances are one per channel.
};

// A highlighted region of one layer: a (c, y, x) box or a flat range (grid layers).
struct GpuRegion {
  uvec4 head;  // x: layer; y: 1 = flat range; z: flat lo; w: flat hi
  uvec4 lo;    // c0, y0, x0; w: 0 = receptive field, 1 = fan-out
  uvec4 hi;    // c1, y1, x1 (exclusive)
};

#ifdef __cplusplus
}  // namespace netlens::gpu
#endif
#endif
