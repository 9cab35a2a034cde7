#version 450
layout(location = 0) in vec4 v_color;
layout(location = 0) out vec4 o_color;
layout(location = 1) out uvec2 o_id;
void main() {
  o_color = v_color;
  o_id = uvec2(0u);  // masked off by the pipeline: lines are not pickable
}
