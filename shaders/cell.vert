#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "cube.glsl"
layout(location = 0) flat out uvec2 v_id;
layout(location = 1) flat out vec3 v_color;
layout(location = 2) flat out vec3 v_normal;
layout(location = 3) out vec3 v_world;
layout(location = 4) out vec2 v_face_uv;
void main() {
  uvec2 inst = cells[gl_InstanceIndex];
  GpuPart P = parts[inst.x];
  uint li = P.head.x;
  GpuLayer L = layers[li];
  uint H = L.dims.y, W = L.dims.z;
  uint f = inst.y;
  uint c = f / (H * W), r = f % (H * W), y = r / W, x = r % W;
  uint vi = uint(gl_VertexIndex);
  uint face = vi / 6u;
  vec3 c01 = cube_corner(vi);
  float cell = L.size_thick.y / float(H), cell_z = L.size_thick.z / float(W);
  float s = frame.cell_scale.x;
  vec3 center = vec3(L.origin_pitch.x + float(c) * L.origin_pitch.w + 0.5 * L.size_thick.w,
                     L.origin_pitch.y + L.size_thick.y - (float(y) + 0.5) * cell,
                     L.origin_pitch.z + (float(x) + 0.5) * cell_z);
  vec3 size = vec3(L.size_thick.w, s * cell, s * cell_z);
  vec3 world = center + (c01 - 0.5) * size;
  uint code = layer_unfilled(L) ? unfilled_code(L, f) : byte_at(P.offs.x + f - P.head.y * H * W);
  vec3 col = code_color(L, code);
  v_color = apply_highlight(col, highlight(li, c, y, x, f));
  v_id = uvec2(li + 1u, f);
  v_normal = cube_normal(face);
  v_world = world;
  v_face_uv = cube_face_uv(vi);
  gl_Position = frame.view_proj * vec4(world, 1.0);
  gl_ClipDistance[0] = cut_distance(world);
}
