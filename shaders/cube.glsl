// A unit cube [0,1]^3 as 36 vertices (6 faces × 2 triangles), counter-clockwise seen from outside.
// Faces: 0 -X, 1 +X, 2 -Y, 3 +Y, 4 -Z, 5 +Z.
const vec3 kFaceNormals[6] = vec3[6](vec3(-1, 0, 0), vec3(1, 0, 0), vec3(0, -1, 0), vec3(0, 1, 0),
                                     vec3(0, 0, -1), vec3(0, 0, 1));
// Corner index bits: 1 = x, 2 = y, 4 = z.
const uint kFaceCorners[24] = uint[24](0u, 4u, 6u, 2u,   // -X
                                       1u, 3u, 7u, 5u,   // +X
                                       0u, 1u, 5u, 4u,   // -Y
                                       2u, 6u, 7u, 3u,   // +Y
                                       0u, 2u, 3u, 1u,   // -Z
                                       4u, 5u, 7u, 6u);  // +Z
const uint kQuad[6] = uint[6](0u, 1u, 2u, 0u, 2u, 3u);
vec3 cube_corner(uint vi) {
  uint face = vi / 6u;
  uint k = kFaceCorners[face * 4u + kQuad[vi % 6u]];
  return vec3(float(k & 1u), float((k >> 1) & 1u), float((k >> 2) & 1u));
}
vec3 cube_normal(uint face) { return kFaceNormals[face]; }
// Position inside the face, both coordinates in [0,1] (for soft edges).
vec2 cube_face_uv(uint vi) {
  uint q = kQuad[vi % 6u];
  return vec2(float(q == 1u || q == 2u), float(q >= 2u));
}
