#version 450
// A textured rectangle for ImGui image items (feature-map grids): 6 vertices, no vertex buffer.
layout(push_constant) uniform Push {
  vec4 rect;  // x0, y0, x1, y1 in clip space
  vec4 uv;    // u0, v0, u1, v1
} pc;
layout(location = 0) out vec2 v_uv;
void main() {
  const vec2 corners[6] = vec2[](vec2(0, 0), vec2(1, 0), vec2(1, 1), vec2(0, 0), vec2(1, 1), vec2(0, 1));
  vec2 c = corners[gl_VertexIndex];
  v_uv = mix(pc.uv.xy, pc.uv.zw, c);
  gl_Position = vec4(mix(pc.rect.xy, pc.rect.zw, c), 0.0, 1.0);
}
