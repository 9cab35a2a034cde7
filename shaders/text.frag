#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(set = 0, binding = 9) uniform sampler2D font_sdf;
layout(location = 0) in vec2 v_uv;
layout(location = 1) in vec4 v_color;
layout(location = 2) flat in vec4 v_params;
layout(location = 0) out vec4 o_color;
layout(location = 1) out uvec2 o_id;
void main() {
  int mode = int(v_params.x + 0.5);
  o_id = uvec2(0u);
  // Sampled and differentiated in uniform control flow (implicit-LOD sampling and derivatives
  // are undefined inside branches that differ across a quad).
  float d = texture(font_sdf, v_uv).r;
  float w = max(fwidth(d), 1e-4) * 0.75;
  if (mode == 0) {
    float text = smoothstep(0.5 - w, 0.5 + w, d);
    float halo = smoothstep(0.30 - w, 0.30 + w, d);  // dark outline keeps labels readable anywhere
    vec3 col = mix(vec3(0.02, 0.03, 0.05), v_color.rgb, text);
    o_color = vec4(col, v_color.a * max(text, 0.75 * halo));
  } else if (mode == 1) {
    vec2 size = v_params.yz;
    float r = v_params.w;
    vec2 p = v_uv * size;
    vec2 q = abs(p - 0.5 * size) - (0.5 * size - vec2(r));
    float dist = length(max(q, 0.0)) + min(max(q.x, q.y), 0.0) - r;
    float a = 1.0 - smoothstep(-0.75, 0.75, dist);
    o_color = vec4(v_color.rgb, v_color.a * a);
  } else {
    uint base = mode == 3 ? 256u : 0u;
    uint code = uint(clamp(v_uv.x, 0.0, 1.0) * float(kCodeMaxColor) + 0.5);
    o_color = vec4(lut[base + code].rgb, 1.0);
  }
}
