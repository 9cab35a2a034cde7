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
layout(location = 5) flat out uint v_chan;
void main() {
  uvec2 inst = slabs[gl_InstanceIndex];
  uint pi = inst.x;
  GpuPart P = parts[pi];
  GpuLayer L = layers[P.head.x];
  float pitch = L.origin_pitch.w;
  vec3 origin = vec3(L.origin_pitch.x + float(P.head.y) * pitch, L.origin_pitch.yz);
  vec3 size = vec3(float(P.head.z - P.head.y - 1u) * pitch + L.size_thick.w, L.size_thick.yz);
  if (inst.y > 0u) {
    // One channel's tile of the open layer (frame.open): its slab, translated as in
    // viz::open_tile_offset (src/viz/open_layer.cpp; the two must agree).
    uint c = inst.y - 1u, cols = max(frame.open.y, 1u), C = L.dims.x;
    uint rows = (C + cols - 1u) / cols;
    float s = uintBitsToFloat(frame.open.z), gap = uintBitsToFloat(frame.open.w);
    float th = L.size_thick.y, tw = L.size_thick.z;
    vec3 closed = vec3(L.origin_pitch.x + float(c) * pitch, L.origin_pitch.yz);
    vec3 centre = L.origin_pitch.xyz + 0.5 * L.size_thick.xyz;
    float gh = float(rows) * th + float(rows - 1u) * gap, gw = float(cols) * tw + float(cols - 1u) * gap;
    vec3 opened = vec3(centre.x - 0.5 * L.size_thick.w,
                       centre.y + 0.5 * gh - float(c / cols) * (th + gap) - th,
                       centre.z - 0.5 * gw + float(c % cols) * (tw + gap));
    origin = closed + s * (opened - closed);
    size = vec3(L.size_thick.w, th, tw);
  }
  v_chan = inst.y;
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
