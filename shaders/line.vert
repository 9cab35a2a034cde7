#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(location = 0) in vec3 a_pos;
layout(location = 1) in vec4 a_color;
layout(location = 0) out vec4 v_color;
void main() {
  v_color = a_color;
  gl_Position = frame.view_proj * vec4(a_pos, 1.0);
  gl_ClipDistance[0] = cut_distance(a_pos);
}
