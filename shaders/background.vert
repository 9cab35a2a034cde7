#version 450
layout(location = 0) out vec2 v_uv;
void main() {
  // One triangle covering the screen.
  vec2 p = vec2(float((gl_VertexIndex << 1) & 2), float(gl_VertexIndex & 2));
  v_uv = p;
  gl_Position = vec4(p * 2.0 - 1.0, 1.0, 1.0);
}
