// After histogram pass `pass` (0..2): one workgroup per layer finds, for each target rank, the
// bucket holding it (prefix sums over the 2048 buckets), appends the bucket to the target's prefix
// and keeps the rank within the bucket; then clears the histogram for the next pass. Pass 0 first
// decides the targets exactly as viz::robust_scale does; pass 2 turns the keys into the ColorScale.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "codes.h"
layout(local_size_x = NL_CODES_GROUP) in;

const uint kPer = kCodesBuckets / kCodesGroup;  // buckets per invocation
shared uint s_scan[kCodesGroup];
shared uint s_bucket, s_before;

// std::lround(p / 100.0 · (n − 1)) clamped to n − 1, in integers: exact for the percentiles the
// host accepts (CodeBuilder checks that double(p)/100 is close enough to p/100 that ties stay ties).
uint rank_of(uint p, uint n) { return min((p * (n - 1u) + 50u) / 100u, n - 1u); }

// Bits of 0.25f · h for a positive float h, rounded to nearest even like the CPU (no flush).
uint quarter_bits(uint h) {
  uint e = h >> 23;
  if (e >= 3u) return h - (2u << 23);
  uint m = (h & 0x7fffffu) | (e == 0u ? 0u : 0x800000u);
  uint x = m << (e == 2u ? 1u : 0u);  // h in units of 2^-149
  uint q = x >> 2, r = x & 3u;
  return q + ((r > 2u || (r == 2u && (q & 1u) != 0u)) ? 1u : 0u);
}

void main() {
  const uint li = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x, pass_ = pc.args.x, st = li * kStWords;
  const CodesLayer L = layers[li];
  uint targets, rank[2], prefix[2];
  bool fixed_scale = false;
  uvec4 scale = uvec4(0u, 0u, kCodesOneBits, 1u);  // robust_scale's default {Sequential, 0, 1}
  if (pass_ == 0u) {
    const uint n = state[st + kStFin], z = state[st + kStZero], flags = state[st + kStFlags];
    // Samples decide the sign, and when sampling skipped values, every value does (-Inf included).
    const bool negative = (flags & (L.src.y > 1u ? kCodesFlagNegAny : kCodesFlagNegFinite)) != 0u;
    rank[0] = rank[1] = prefix[0] = prefix[1] = 0u;
    if (n == 0u) {
      targets = 0u;
    } else if (negative) {
      targets = 1u;  // |v| at hi_pct, zeros included
      rank[0] = rank_of(L.out0.w, n);
    } else if (n == z) {
      targets = 0u;  // only zeros
    } else {
      targets = 2u;  // zeros removed: they are the smallest keys, so skip past them
      rank[0] = z + rank_of(L.out0.z, n - z);
      rank[1] = z + rank_of(L.out0.w, n - z);
    }
    fixed_scale = targets == 0u;
  } else {
    targets = state[st + kStTargets];
    for (uint t = 0u; t < 2u; ++t) {
      rank[t] = state[st + kStRank0 + 2u * t];
      prefix[t] = state[st + kStPrefix0 + 2u * t];
    }
  }
  const uint hbase = li * kCodesTargets * kCodesBuckets;
  for (uint t = 0u; t < targets; ++t) {
    const uint h0 = hbase + (pass_ == 0u ? 0u : t) * kCodesBuckets + lid * kPer;
    uint sum = 0u;
    for (uint i = 0u; i < kPer; ++i) sum += hist[h0 + i];
    s_scan[lid] = sum;
    barrier();
    for (uint off = 1u; off < kCodesGroup; off <<= 1) {  // inclusive scan
      uint v = lid >= off ? s_scan[lid - off] : 0u;
      barrier();
      s_scan[lid] += v;
      barrier();
    }
    const uint incl = s_scan[lid], excl = incl - sum;
    if (rank[t] >= excl && rank[t] < incl) {  // exactly one invocation holds the rank
      uint before = excl;
      for (uint i = 0u; i < kPer; ++i) {
        uint c = hist[h0 + i];
        if (rank[t] < before + c) { s_bucket = lid * kPer + i; s_before = before; break; }
        before += c;
      }
    }
    barrier();
    rank[t] -= s_before;
    prefix[t] = pass_ == 0u ? s_bucket : (prefix[t] << (pass_ == 1u ? 11u : 10u)) | s_bucket;
    barrier();
  }
  // Clear what this pass counted: the next pass (and the next run) starts from zero.
  for (uint b = lid; b < kCodesTargets * kCodesBuckets; b += kCodesGroup) hist[hbase + b] = 0u;
  if (lid != 0u) return;
  state[st + kStTargets] = targets;
  for (uint t = 0u; t < 2u; ++t) {
    state[st + kStRank0 + 2u * t] = rank[t];
    state[st + kStPrefix0 + 2u * t] = prefix[t];
  }
  if (pass_ == 2u && targets == 1u) {
    uint m = prefix[0];                      // |v| at hi_pct
    if (m == 0u) m = state[st + kStMax];     // else the largest |v|
    if (m == 0u) m = kCodesOneBits;          // else 1
    scale = uvec4(1u, m | 0x80000000u, m, 1u);
    fixed_scale = true;
  } else if (pass_ == 2u && targets == 2u) {
    uint lo = prefix[0], hi = prefix[1];     // positive floats: compare their bits
    if (!(hi > lo)) { lo = 0u; hi = max(hi, kCodesTinyHiBits); }
    if (lo < quarter_bits(hi)) lo = 0u;      // lo < 0.25f · hi
    scale = uvec4(0u, lo, hi, 1u);
    fixed_scale = true;
  }
  if (fixed_scale) scales[li].v = scale;
}
