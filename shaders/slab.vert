#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "cube.glsl"
// One box per part (a run of channels of a layer; usually the whole layer): the stack of slabs seen
// from outside. The fragment shader maps each face point to the neuron on that face (front/back
// slab, or the slabs' edges on the four sides).
layout(location = 0) flat out uint v_part;
layout(location = 1) out vec3 v_local;   // position in the part's box, [0,1]^3
layout(location = 2) flat out vec3 v_normal;
layout(location = 3) out vec3 v_world;
layout(location = 4) flat out uint v_face;
void main() {
  uint pi = slabs[gl_InstanceIndex].x;
  GpuPart P = parts[pi];
  GpuLayer L = layers[P.head.x];
  float pitch = L.origin_pitch.w;
  vec3 origin = vec3(L.origin_pitch.x + float(P.head.y) * pitch, L.origin_pitch.yz);
  vec3 size = vec3(float(P.head.z - P.head.y - 1u) * pitch + L.size_thick.w, L.size_thick.yz);
  uint face = uint(gl_VertexIndex) / 6u;
  vec3 c01 = cube_corner(uint(gl_VertexIndex));
  vec3 world = origin + c01 * size;
  v_part = pi;
  v_local = c01;
  v_normal = cube_normal(face);
  v_world = world;
  v_face = face;
  gl_Position = frame.view_proj * vec4(world, 1.0);
  gl_ClipDistance[0] = cut_distance(world);
}
