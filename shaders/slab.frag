#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(location = 0) flat in uint v_part;
layout(location = 1) in vec3 v_local;
layout(location = 2) flat in vec3 v_normal;
layout(location = 3) in vec3 v_world;
layout(location = 4) flat in uint v_face;
layout(location = 5) flat in uint v_chan;  // channel + 1 of an open layer's tile; 0: the part's box
layout(location = 0) out vec4 o_color;
layout(location = 1) out uvec2 o_id;

void main() {
  // Derivatives first, in uniform control flow (helper invocations must execute them too).
  vec3 ddx = dFdx(v_local), ddy = dFdy(v_local);
  GpuPart P = parts[v_part];
  uint li = P.head.x;
  GpuLayer L = layers[li];
  uint H = L.dims.y, W = L.dims.z;
  // The box: the part's run of channels, or one channel's tile of an open layer. Codes are addressed
  // from the part's first channel (pc0) either way.
  uint pc0 = P.head.y;
  uint c0 = v_chan > 0u ? v_chan - 1u : pc0, nc = v_chan > 0u ? 1u : P.head.z - pc0;
  float pitch = L.origin_pitch.w;
  float depth = float(nc - 1u) * pitch + L.size_thick.w;  // the part's box along X
  // Continuous coordinates on the box: channel position along X (in slab pitches, from c0), row, column.
  float cpos = v_local.x * depth / pitch;
  float ypos = (1.0 - v_local.y) * float(H);
  float xpos = v_local.z * float(W);
  uint c = c0 + min(uint(max(cpos, 0.0)), nc - 1u);
  uint y = min(uint(max(ypos, 0.0)), H - 1u);
  uint x = min(uint(max(xpos, 0.0)), W - 1u);
  // Face → which coordinates vary on it (u along the face, v across) and which one is fixed.
  vec2 uv;        // the two in-face cell coordinates used for the LOD footprint and grid lines
  bool slab_face = v_face <= 1u;
  if (v_face == 0u) { c = c0; uv = vec2(xpos, ypos); }
  else if (v_face == 1u) { c = c0 + nc - 1u; uv = vec2(xpos, ypos); }
  else if (v_face == 2u) { y = H - 1u; uv = vec2(xpos, cpos); }
  else if (v_face == 3u) { y = 0u; uv = vec2(xpos, cpos); }
  else if (v_face == 4u) { x = 0u; uv = vec2(ypos, cpos); }
  else { x = W - 1u; uv = vec2(ypos, cpos); }
  // Texel footprint along the cell axes of this face: pick the pyramid level where a cell is
  // about a pixel, so far-away layers show aggregated (max or mean) values instead of aliasing.
  // In cell units: x → channel pitches, y → rows, z → columns.
  vec3 scale = vec3(depth / pitch, float(H), float(W));
  vec3 gx = ddx * scale, gy = ddy * scale;
  vec2 fx, fy;  // derivatives of the face's cell coordinates (channel axis excluded on the sides)
  if (slab_face) { fx = gx.zy; fy = gy.zy; }
  else if (v_face <= 3u) { fx = vec2(gx.z, 0.0); fy = vec2(gy.z, 0.0); }
  else { fx = vec2(gx.y, 0.0); fy = vec2(gy.y, 0.0); }
  float foot = max(max(length(fx), length(fy)), 1e-6);
  int level = clamp(int(floor(log2(foot))), 0, int(L.info.y));
  uint code;
  if (layer_unfilled(L)) {
    uint k = uint(level);
    code = unfilled_code(L, (c * H + ((y >> k) << k)) * W + ((x >> k) << k));
  } else if (level == 0) {
    code = byte_at(P.offs.x + ((c - pc0) * H + y) * W + x);
  } else {
    uint k = uint(level);
    uint hk = (H + (1u << k) - 1u) >> k, wk = (W + (1u << k) - 1u) >> k;
    uint off = level_offset(P, k) + ((c - pc0) * hk + (y >> k)) * wk + (x >> k);
    code = byte_at((frame.flags.x & kFrameLodMax) != 0u ? off : off + P.offs.y);
  }
  vec3 col = code_color(L, code);
  uint flat_index = (c * H + y) * W + x;
  if ((frame.flags.x & kFrameGridLines) != 0u) {
    // Soft cell borders once cells are a few pixels wide; on the sides, the gaps between slabs.
    float px = 1.0 / foot;
    if (px > 3.0) {
      vec2 f = fract(uv);
      float e = slab_face ? min(min(f.x, 1.0 - f.x), min(f.y, 1.0 - f.y)) * px
                          : min(f.x, 1.0 - f.x) * px;
      float strength = smoothstep(3.0, 10.0, px) * frame.cell_scale.y;
      col *= mix(1.0 - 0.45 * strength, 1.0, smoothstep(0.0, 1.25, e));
    }
    if (!slab_face && nc > 1u) {
      float pitch_px = 1.0 / max(max(abs(gx.x), abs(gy.x)), 1e-6);
      float gap = 1.0 - L.size_thick.w / L.origin_pitch.w;  // fraction of a pitch that is gap
      float in_gap = step(1.0 - gap, fract(cpos));
      col *= mix(1.0, 0.35, in_gap * smoothstep(2.0, 6.0, pitch_px));
    }
  }
  uint h = highlight(li, c, y, x, flat_index);
  col = apply_highlight(col, h);
  col *= shade(v_normal, v_world);
  o_color = vec4(col, 1.0);
  o_id = flat_index < L.dims.w ? uvec2(li + 1u, flat_index) : uvec2(0u);
}
