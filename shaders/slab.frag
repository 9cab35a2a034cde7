#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(location = 0) flat in uvec2 v_layer_chan;
layout(location = 1) in vec3 v_local;
layout(location = 2) flat in vec3 v_normal;
layout(location = 3) in vec3 v_world;
layout(location = 4) flat in uint v_face;
layout(location = 0) out vec4 o_color;
layout(location = 1) out uvec2 o_id;

void main() {
  uint li = v_layer_chan.x, c = v_layer_chan.y;
  GpuLayer L = layers[li];
  uint H = L.dims.y, W = L.dims.z;
  vec2 uv = v_local.xy;
  uint x = min(uint(max(uv.x, 0.0)), W - 1u);
  uint y = min(uint(max(uv.y, 0.0)), H - 1u);
  // Texel footprint: how many cells one pixel covers; pick the pyramid level where a cell is about
  // a pixel, so far-away layers show aggregated (max or mean) values instead of aliasing.
  vec2 du = dFdx(uv), dv = dFdy(uv);
  float foot = max(max(length(du), length(dv)), 1e-6);
  int level = clamp(int(floor(log2(foot))), 0, int(L.info.y));
  uint code;
  if (level == 0) {
    code = byte_at0(L.info.x + (c * H + y) * W + x);
  } else {
    uint k = uint(level);
    uint hk = (H + (1u << k) - 1u) >> k, wk = (W + (1u << k) - 1u) >> k;
    uint off = level_offset(L, k) + (c * hk + (y >> k)) * wk + (x >> k);
    code = (frame.flags.x & kFrameLodMax) != 0u ? byte_at_max(off) : byte_at_mean(off);
  }
  vec3 col = code_color(L, code);
  uint flat_index = (c * H + y) * W + x;
  bool face_on = v_face <= 1u;  // the H×W faces (±X)
  // Cell grid lines once cells are a few pixels wide (soft, anti-aliased by distance in pixels).
  float px = 1.0 / foot;
  if ((frame.flags.x & kFrameGridLines) != 0u && face_on && px > 3.0) {
    vec2 f = fract(uv);
    float e = min(min(f.x, 1.0 - f.x), min(f.y, 1.0 - f.y)) * px;
    float strength = smoothstep(3.0, 10.0, px) * frame.cell_scale.y;
    col *= mix(1.0 - 0.45 * strength, 1.0, smoothstep(0.0, 1.25, e));
  }
  uint h = highlight(li, c, y, x, flat_index);
  col = apply_highlight(col, h);
  col *= shade(v_normal, v_world);
  o_color = vec4(col, 1.0);
  o_id = flat_index < L.dims.w ? uvec2(li + 1u, flat_index) : uvec2(0u);
}
