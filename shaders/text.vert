#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Screen-space quads (pixels, origin top-left): glyphs, rounded panels and colour bars.
layout(location = 0) in vec2 a_pos;
layout(location = 1) in vec2 a_uv;
layout(location = 2) in vec4 a_color;
layout(location = 3) in vec4 a_params;  // x: mode (0 glyph, 1 panel, 2 sequential bar, 3 diverging bar); yz: panel size px; w: radius px
layout(location = 0) out vec2 v_uv;
layout(location = 1) out vec4 v_color;
layout(location = 2) flat out vec4 v_params;
void main() {
  v_uv = a_uv;
  v_color = a_color;
  v_params = a_params;
  gl_Position = vec4(a_pos * frame.viewport.zw * 2.0 - 1.0, 0.0, 1.0);
}
