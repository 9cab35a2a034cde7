#version 450
// Texels are already display (sRGB-encoded) colours, written to a UNORM target as they are.
layout(set = 0, binding = 0) uniform sampler2D tex;
layout(location = 0) in vec2 v_uv;
layout(location = 0) out vec4 color;
void main() { color = texture(tex, v_uv); }
