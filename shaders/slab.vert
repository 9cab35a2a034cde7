#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "cube.glsl"
// One box per layer: the stack of C slabs seen from outside. The fragment shader maps each face
// point to the neuron on that face (front/back slab, or the slabs' edges on the four sides).
layout(location = 0) flat out uint v_layer;
layout(location = 1) out vec3 v_local;   // position in the block, [0,1]^3
layout(location = 2) flat out vec3 v_normal;
layout(location = 3) out vec3 v_world;
layout(location = 4) flat out uint v_face;
void main() {
  uint li = slabs[gl_InstanceIndex].x;
  GpuLayer L = layers[li];
  uint face = uint(gl_VertexIndex) / 6u;
  vec3 c01 = cube_corner(uint(gl_VertexIndex));
  vec3 world = L.origin_pitch.xyz + c01 * L.size_thick.xyz;
  v_layer = li;
  v_local = c01;
  v_normal = cube_normal(face);
  v_world = world;
  v_face = face;
  gl_Position = frame.view_proj * vec4(world, 1.0);
}
