#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "cube.glsl"
layout(location = 0) flat out uvec2 v_layer_chan;
layout(location = 1) out vec3 v_local;   // x: column (cells), y: row (cells), z: through the slab
layout(location = 2) flat out vec3 v_normal;
layout(location = 3) out vec3 v_world;
layout(location = 4) flat out uint v_face;
void main() {
  uvec2 inst = slabs[gl_InstanceIndex];
  GpuLayer L = layers[inst.x];
  uint face = uint(gl_VertexIndex) / 6u;
  vec3 c01 = cube_corner(uint(gl_VertexIndex));
  vec3 origin = L.origin_pitch.xyz + vec3(float(inst.y) * L.origin_pitch.w, 0.0, 0.0);
  vec3 size = vec3(L.size_thick.w, L.size_thick.y, L.size_thick.z);
  vec3 world = origin + c01 * size;
  v_layer_chan = inst;
  v_local = vec3(c01.z * float(L.dims.z), (1.0 - c01.y) * float(L.dims.y), c01.x);
  v_normal = cube_normal(face);
  v_world = world;
  v_face = face;
  gl_Position = frame.view_proj * vec4(world, 1.0);
}
