// Pyramid level k ≥ 1 (push constant): each cell aggregates the 2×2 cells of level k−1 below it
// (level 0 = the activations) exactly as viz::build_pyramid does — same visiting order, max by |v|
// with the sign kept, float sum and count, non-finite values poisoning the block — keeps (max,
// sum, count) in the scratch buffer for level k+1, and writes the max and mean codes. One
// invocation per output word (4 cells) of codes_max / codes_mean.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "codes.h"
layout(local_size_x = NL_CODES_GROUP) in;

#define kNaN uintBitsToFloat(0x7fc00000u)  // std::numeric_limits<float>::quiet_NaN()

void main() {
  CodesTile t;
  if (!nl_tile(t)) return;
  const CodesLayer L = layers[t.v.x];
  const uvec4 sc = scales[t.v.x].v;
  const uint flags = pc.args.w;
  const uint k = pc.args.x;
  const uint off = nl_level_off(L, k);
  const uvec2 hw = nl_level_hw(L, k);
  const uint n = L.dims.x * hw.x * hw.y;
  const uvec2 phw = k == 1u ? L.dims.yz : nl_level_hw(L, k - 1u);
  const uint poff = k == 1u ? 0u : nl_level_off(L, k - 1u);
  for (uint j = 0u; j < kCodesWords; ++j) {
    const uint w = t.v.y + j * kCodesGroup + gl_LocalInvocationID.x;
    if (w >= t.v.z) break;
    uint wmax = 0u, wmean = 0u;
    bool full = true;
    // (c, y, x) of the word's first cell in this region, then stepped: one set of divisions per word.
    const uint first = max(w * 4u, off) - off, r0 = first % (hw.x * hw.y);
    uint c = first / (hw.x * hw.y), y = r0 / hw.y, x = r0 % hw.y;
    for (uint b = 0u; b < 4u; ++b) {
      const uint g = w * 4u + b;
      if (g < off || g - off >= n) { full = false; continue; }
      float best = 0.0;
      precise float sum = 0.0;
      uint cnt = 0u;
      bool bad = false, any = false;
      for (uint dy = 0u; dy < 2u; ++dy)
        for (uint dx = 0u; dx < 2u; ++dx) {
          const uint yy = 2u * y + dy, xx = 2u * x + dx;
          if (yy >= phw.x || xx >= phw.y) continue;
          const uint i = (c * phw.x + yy) * phw.y + xx;
          float m, s;
          uint kc;
          if (k == 1u) {
            if (i >= L.dims.w) continue;  // grid tail
            m = act[L.src.x + i];
            s = nl_finite(floatBitsToUint(m)) ? m : kNaN;
            kc = 1u;
          } else {
            const CodesCell p = scratch[poff + i];
            kc = p.cnt;
            if (kc == 0u) continue;
            m = p.mx;
            s = p.sum;
          }
          const bool mf = nl_finite(floatBitsToUint(m));
          if (!mf || !nl_finite(floatBitsToUint(s))) { bad = true; best = mf ? kNaN : m; }
          if (!bad && (!any || abs(m) > abs(best))) best = m;
          any = true;
          sum = sum + s;
          cnt += kc;
        }
      const float nsum = bad ? kNaN : sum;
      scratch[g] = CodesCell(best, nsum, cnt);
      uint cmax = kCodeEmpty, cmean = kCodeEmpty;
      if (cnt != 0u) {
        cmax = nl_encode(best, sc, flags);
        if (!nl_finite(floatBitsToUint(nsum))) {
          cmean = kCodeNonFinite;  // the CPU's mean is then NaN or the non-finite max
        } else {
          float mean = nsum / float(cnt);  // OpFDiv: within 2.5 ULP of the CPU's mean
          if ((flags & kCodesPerturbDivision) != 0u) mean = nl_perturb(mean, floatBitsToUint(nsum));
          // (a mean flushed to zero from a non-zero sum is not trusted either)
          const bool flushed = (floatBitsToUint(mean) & 0x7fffffffu) == 0u && (floatBitsToUint(nsum) & 0x7fffffffu) != 0u;
          cmean = flushed ? kCodesUndecided : nl_encode_fast(mean, sc, 4e-7 * abs(mean), flags);
          if (cmean == kCodesUndecided) cmean = nl_encode_exact(nl_div_rn(nsum, float(cnt)), sc);
        }
      }
      wmax |= cmax << (8u * b);
      wmean |= cmean << (8u * b);
      if (++x == hw.y) { x = 0u; if (++y == hw.x) { y = 0u; ++c; } }
    }
    NL_PUT_WORD(codes_max, w, wmax, full)
    NL_PUT_WORD(codes_mean, w, wmean, full)
  }
}
