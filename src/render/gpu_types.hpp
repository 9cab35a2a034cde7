// C++ view of shaders/shared/types.h with layout checks: a mismatch with the GLSL std430/std140
// layout would silently scramble the scene, so sizes are asserted here.
#pragma once

#include "types.h"

namespace netlens::gpu {
static_assert(sizeof(GpuLayer) == 64, "GpuLayer must match std430 layout in shaders/shared/types.h");
static_assert(sizeof(GpuPart) == 80, "GpuPart must match std430 layout in shaders/shared/types.h");
static_assert(sizeof(GpuFrame) == 64 + 16 * 9, "GpuFrame must match std140 layout in shaders/shared/types.h");
static_assert(sizeof(GpuRegion) == 48, "GpuRegion must match std430 layout in shaders/shared/types.h");

struct TextVertex {
  float pos[2];     // pixels, origin top-left
  float uv[2];
  float color[4];
  float params[4];  // see text.vert
};
static_assert(sizeof(TextVertex) == 48);

struct LineVertex {
  float pos[3];
  float color[4];
};
static_assert(sizeof(LineVertex) == 28);
}  // namespace netlens::gpu
