// Radix-select histograms (pass 0, 1, 2 = bits 31..21, 20..10, 9..0 of |v|) over each layer's
// samples (every stride-th value, non-finite skipped, as viz::robust_scale). Pass 0 also counts the
// finite and zero samples, the largest |v|, and whether any value is negative, over all values.
// Pass 1/2 count only the samples whose higher bits equal the prefix found so far for each target.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "codes.h"
layout(local_size_x = NL_CODES_GROUP) in;

shared uint s_hist[kCodesTargets * kCodesBuckets];
shared uint s_fin, s_zero, s_flags, s_max;

void main() {
  CodesTile t;
  if (!nl_tile(t)) return;  // whole workgroup
  const uint li = t.v.x, pass_ = pc.args.x, lid = gl_LocalInvocationID.x, st = li * kStWords;
  const CodesLayer L = layers[li];
  const uint targets = pass_ == 0u ? 1u : state[st + kStTargets];
  if (targets == 0u) return;  // the scale is fixed already (whole workgroup)
  for (uint b = lid; b < targets * kCodesBuckets; b += kCodesGroup) s_hist[b] = 0u;
  if (lid == 0u) { s_fin = 0u; s_zero = 0u; s_flags = 0u; s_max = 0u; }
  barrier();
  const uint stride = L.src.y;
  const uint shift_prev = pass_ == 1u ? 21u : 10u;
  const uint prefix0 = state[st + kStPrefix0], prefix1 = state[st + kStPrefix0 + 2u];
  uint fin = 0u, zero = 0u, flags = 0u, mx = 0u;
  for (uint j = 0u; j < kCodesItems; ++j) {
    const uint e = t.v.y + j * kCodesGroup + lid;
    if (e >= t.v.z) break;
    const uint i = pass_ == 0u ? e : e * stride;  // pass 0 walks every value, later ones the samples
    const uint b = floatBitsToUint(act[L.src.x + i]);
    const bool finite = nl_finite(b);
    const uint key = b & 0x7fffffffu;  // |v|: non-negative floats order like their bits
    if (pass_ == 0u) {
      if ((b & 0x80000000u) != 0u && key != 0u && key <= 0x7f800000u)  // v < 0 (not -0, not NaN)
        flags |= finite ? (kCodesFlagNegFinite | kCodesFlagNegAny) : kCodesFlagNegAny;
      if (!finite || (stride != 1u && i % stride != 0u)) continue;  // (integer division is slow on CPUs' SIMD)
      fin += 1u;
      zero += key == 0u ? 1u : 0u;
      mx = max(mx, key);
      atomicAdd(s_hist[key >> 21], 1u);
    } else {
      if (!finite) continue;
      const uint digit = pass_ == 1u ? (key >> 10) & 2047u : key & 1023u;
      if ((key >> shift_prev) == prefix0) atomicAdd(s_hist[digit], 1u);
      if (targets > 1u && (key >> shift_prev) == prefix1) atomicAdd(s_hist[kCodesBuckets + digit], 1u);
    }
  }
  if (pass_ == 0u) {
    if (fin != 0u) atomicAdd(s_fin, fin);
    if (zero != 0u) atomicAdd(s_zero, zero);
    if (flags != 0u) atomicOr(s_flags, flags);
    if (mx != 0u) atomicMax(s_max, mx);
  }
  barrier();
  const uint hbase = li * kCodesTargets * kCodesBuckets;
  for (uint b = lid; b < targets * kCodesBuckets; b += kCodesGroup) {
    uint c = s_hist[b];
    if (c != 0u) atomicAdd(hist[hbase + b], c);
  }
  if (pass_ == 0u && lid == 0u) {
    if (s_fin != 0u) atomicAdd(state[st + kStFin], s_fin);
    if (s_zero != 0u) atomicAdd(state[st + kStZero], s_zero);
    if (s_flags != 0u) atomicOr(state[st + kStFlags], s_flags);
    if (s_max != 0u) atomicMax(state[st + kStMax], s_max);
  }
}
