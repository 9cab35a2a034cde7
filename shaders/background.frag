#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(location = 0) in vec2 v_uv;
layout(location = 0) out vec4 o_color;
layout(location = 1) out uvec2 o_id;
void main() {
  // The full frame's coordinates: a tile (tiled export) shows its part of one gradient and vignette.
  vec2 uv = frame.tile.xy + v_uv * frame.tile.zw;
  vec3 c = mix(frame.bg_top.rgb, frame.bg_bottom.rgb, uv.y);
  // Soft vignette draws the eye to the centre.
  vec2 d = uv - 0.5;
  c *= 1.0 - 0.35 * dot(d, d);
  o_color = vec4(c, 1.0);
  o_id = uvec2(0u);
}
