// Level-0 codes: viz::encode of every neuron with its layer's scale; grid cells past the end of a
// vector get kCodeEmpty. One invocation per output word (4 codes) of codes0.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "codes.h"
layout(local_size_x = NL_CODES_GROUP) in;

void main() {
  CodesTile t;
  if (!nl_tile(t)) return;
  const CodesLayer L = layers[t.v.x];
  const uvec4 sc = scales[t.v.x].v;
  const uint flags = pc.args.w;
  const uint off = L.out0.x, cells = L.out0.y, count = L.dims.w;
  for (uint j = 0u; j < kCodesWords; ++j) {
    const uint w = t.v.y + j * kCodesGroup + gl_LocalInvocationID.x;
    if (w >= t.v.z) break;
    uint word = 0u;
    bool full = true;
    for (uint k = 0u; k < 4u; ++k) {
      const uint g = w * 4u + k;
      if (g < off || g - off >= cells) { full = false; continue; }
      const uint i = g - off;
      const uint c = i < count ? nl_encode(act[L.src.x + i], sc, flags) : kCodeEmpty;
      word |= c << (8u * k);
    }
    NL_PUT_WORD(codes0, w, word, full)
  }
}
