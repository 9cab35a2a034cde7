#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(location = 0) flat in uvec2 v_id;
layout(location = 1) flat in vec3 v_color;
layout(location = 2) flat in vec3 v_normal;
layout(location = 3) in vec3 v_world;
layout(location = 4) in vec2 v_face_uv;
layout(location = 0) out vec4 o_color;
layout(location = 1) out uvec2 o_id;
void main() {
  vec3 col = v_color * shade(v_normal, v_world);
  if ((frame.flags.x & kFrameLighting) != 0u) {
    // Soft bevel: darken towards each face's border, measured in pixels.
    vec2 d = min(v_face_uv, 1.0 - v_face_uv);
    vec2 w = max(fwidth(v_face_uv), vec2(1e-6));
    float e = min(d.x / w.x, d.y / w.y);
    col *= mix(0.62, 1.0, smoothstep(0.0, 2.5, e));
  }
  o_color = vec4(col, 1.0);
  o_id = v_id;
}
