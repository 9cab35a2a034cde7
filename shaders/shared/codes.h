// Structures and constants shared by the code-building compute shaders (shaders/codes_*.comp) and
// src/render/code_builder.cpp: the GPU version of viz::build_scene_from_values (per-layer colour
// scale by radix select, byte codes, max/mean LOD pyramids). std430 layout with uvec4 members
// only, so both sides agree; code_builder.cpp static_asserts the sizes. The GLSL helpers at the
// end (exact float division, encode) are compiled only in shaders.
#ifndef NETLENS_SHADERS_CODES_H
#define NETLENS_SHADERS_CODES_H

#include "types.h"  // byte codes (kCodeMaxColor, kCodeZero, kCodeNonFinite, kCodeEmpty)

#ifdef __cplusplus
#include <cstdint>
#include <glm/vec4.hpp>
namespace netlens::gpu {
using uint = uint32_t;
using uvec4 = glm::uvec4;
#define NL_CODES_CONST(type, name, value) inline constexpr type name = value;
#else
#define NL_CODES_CONST(type, name, value) const type name = value;
#endif

NL_CODES_CONST(uint, kCodesGroup, 256u)        // invocations per workgroup (every codes_*.comp)
#define NL_CODES_GROUP 256                     // the same, as a literal for local_size_x (a constant
                                               // there would need LocalSizeId, i.e. maintenance4)
NL_CODES_CONST(uint, kCodesItems, 16u)         // elements per invocation in the histogram passes
NL_CODES_CONST(uint, kCodesWords, 2u)          // output words (4 codes each) per invocation
NL_CODES_CONST(uint, kCodesBuckets, 2048u)     // histogram buckets per target (11-bit digits)
NL_CODES_CONST(uint, kCodesTargets, 2u)        // percentiles selected per layer at most (lo, hi)
NL_CODES_CONST(uint, kCodesMaxLevels, 12u)     // aggregated pyramid levels (= viz::kMaxLevels - 1)
NL_CODES_CONST(uint, kCodesMaxGroupsX, 65535u) // dispatch width; larger tile counts wrap into y
// Radix-select digits over the 31 bits of |v|: pass 0 bits 31..21, pass 1 bits 20..10, pass 2 bits 9..0.
NL_CODES_CONST(uint, kCodesFlagNegFinite, 1u)  // CodesState.stats.z: a finite sample is < 0
NL_CODES_CONST(uint, kCodesFlagNegAny, 2u)     // any value (-Inf included) is < 0
NL_CODES_CONST(uint, kCodesForceExact, 1u)     // CodesPush.args.w: exact division for every code
NL_CODES_CONST(uint, kCodesPerturbDivision, 2u)  // ... hardware quotients made 2 ULP off (tests)
NL_CODES_CONST(uint, kCodesTinyHiBits, 0x0da24260u)  // bits of 1e-30f (robust_scale's smallest hi)
NL_CODES_CONST(uint, kCodesOneBits, 0x3f800000u)     // bits of 1.0f
// CodesState as a flat uint array (GLSL atomics need scalar buffer members): 12 uints per layer.
NL_CODES_CONST(uint, kStFin, 0u)
NL_CODES_CONST(uint, kStZero, 1u)
NL_CODES_CONST(uint, kStFlags, 2u)
NL_CODES_CONST(uint, kStMax, 3u)
NL_CODES_CONST(uint, kStRank0, 4u)     // target t: rank at 4 + 2t, prefix at 5 + 2t
NL_CODES_CONST(uint, kStPrefix0, 5u)
NL_CODES_CONST(uint, kStTargets, 8u)
NL_CODES_CONST(uint, kStWords, 12u)

// Descriptor bindings (set 0, shared by every codes_*.comp pipeline).
NL_CODES_CONST(uint, kCodesBindLayers, 0u)
NL_CODES_CONST(uint, kCodesBindTiles, 1u)
NL_CODES_CONST(uint, kCodesBindActivations, 2u)
NL_CODES_CONST(uint, kCodesBindState, 3u)
NL_CODES_CONST(uint, kCodesBindHist, 4u)
NL_CODES_CONST(uint, kCodesBindScales, 5u)
NL_CODES_CONST(uint, kCodesBindCodes0, 6u)
NL_CODES_CONST(uint, kCodesBindCodesMax, 7u)
NL_CODES_CONST(uint, kCodesBindCodesMean, 8u)
NL_CODES_CONST(uint, kCodesBindScratch, 9u)

// One layout layer, as build_scene_from_values lays it out.
struct CodesLayer {
  uvec4 dims;          // C, H, W, neuron count (d.count)
  uvec4 src;           // x: first float of the layer in the activation buffer; y: sample stride;
                       // z: samples (ceil(count / stride)); w: pyramid levels (0..12)
  uvec4 out0;          // x: byte offset of level 0 in codes0; y: cells (C·H·W); z: lo_pct; w: hi_pct
  uvec4 level_off[3];  // byte offset of level k (1..12) in codes_max/codes_mean at [(k-1)/4][(k-1)%4]
  uvec4 level_hw[6];   // (h, w) of level k at [(k-1)/2].xy (k odd) or .zw (k even)
};

// A workgroup's share of one pass: elements (histogram passes) or output words (code passes).
struct CodesTile {
  uvec4 v;             // x: layer; y: first element or word; z: end (exclusive); w: level (code passes)
};

// Per-layer selection state (device memory, zeroed at the start of every run).
struct CodesState {
  uvec4 stats;         // x: finite samples; y: zero samples; z: kCodesFlag* bits; w: max |v| bits
  uvec4 sel;           // x: rank of target 0 within its bucket; y: prefix of target 0; z, w: target 1
  uvec4 info;          // x: targets (0: scale fixed already, 1: diverging, 2: sequential lo and hi)
};

// The result per layer (host-visible): viz::ColorScale.
struct CodesScale {
  uvec4 v;             // x: 0 sequential / 1 diverging; y: lo bits; z: hi bits; w: 1 once written
};

struct CodesPush {
  uvec4 args;          // x: pass (0..2) or level (0..12); y: first tile; z: tile count; w: kCodes* flags
};

#ifdef __cplusplus
}  // namespace netlens::gpu
#else

// ---- GLSL bindings and helpers -----------------------------------------------------------------

layout(std430, set = 0, binding = kCodesBindLayers) readonly buffer LayersBuf { CodesLayer layers[]; };
layout(std430, set = 0, binding = kCodesBindTiles) readonly buffer TilesBuf { CodesTile tiles[]; };
layout(std430, set = 0, binding = kCodesBindActivations) readonly buffer ActBuf { float act[]; };
layout(std430, set = 0, binding = kCodesBindState) buffer StateBuf { uint state[]; };  // kSt* · layer
layout(std430, set = 0, binding = kCodesBindHist) buffer HistBuf { uint hist[]; };  // (layer·2 + t)·2048 + b
layout(std430, set = 0, binding = kCodesBindScales) buffer ScalesBuf { CodesScale scales[]; };
layout(std430, set = 0, binding = kCodesBindCodes0) buffer Codes0Buf { uint codes0[]; };
layout(std430, set = 0, binding = kCodesBindCodesMax) buffer CodesMaxBuf { uint codes_max[]; };
layout(std430, set = 0, binding = kCodesBindCodesMean) buffer CodesMeanBuf { uint codes_mean[]; };
struct CodesCell { float mx; float sum; uint cnt; };  // a pyramid cell before encoding (lod.cpp)
layout(std430, set = 0, binding = kCodesBindScratch) buffer ScratchBuf { CodesCell scratch[]; };
layout(push_constant) uniform PushBlock { CodesPush pc; };

// This workgroup's tile, or false when it is past the end (dispatches wrap into y).
bool nl_tile(out CodesTile t) {
  uint i = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (i >= pc.args.z) return false;
  t = tiles[pc.args.y + i];
  return true;
}

// Level k ≥ 1 of a layer: byte offset and (h, w).
uint nl_level_off(CodesLayer L, uint k) { return L.level_off[(k - 1u) >> 2][(k - 1u) & 3u]; }
uvec2 nl_level_hw(CodesLayer L, uint k) {
  uvec4 p = L.level_hw[(k - 1u) >> 1];
  return ((k - 1u) & 1u) == 0u ? p.xy : p.zw;
}

// Writes the bytes [lo, hi) of word w (a code buffer region's share of it): whole words are
// stored; a word shared with a neighbouring region (zero-filled first) is OR-ed, so two regions
// written by different invocations never lose each other's bytes.
#define NL_PUT_WORD(buf, w, value, full) \
  if (full) buf[w] = (value); else atomicOr(buf[w], (value));

bool nl_finite(uint b) { return (b & 0x7f800000u) != 0x7f800000u; }

// a / b rounded to nearest even, as IEEE float division on the CPU does, from the bits alone
// (OpFDiv only promises 2.5 ULP, and denormals may be flushed). a, b finite, b != 0, |a / b| below
// the float range.
float nl_div_rn(float a, float b) {
  uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
  uint sign = (ua ^ ub) & 0x80000000u;
  ua &= 0x7fffffffu;
  ub &= 0x7fffffffu;
  if (ua == 0u) return uintBitsToFloat(sign);
  int ea = int(ua >> 23), eb = int(ub >> 23);
  uint ma = ua & 0x7fffffu, mb = ub & 0x7fffffu;
  if (ea == 0) { int s = 23 - findMSB(ma); ma <<= uint(s); ea = 1 - s; } else ma |= 0x800000u;
  if (eb == 0) { int s = 23 - findMSB(mb); mb <<= uint(s); eb = 1 - s; } else mb |= 0x800000u;
  int e = ea - eb;                          // a / b = (ma / mb) · 2^e
  if (ma < mb) { ma <<= 1u; e -= 1; }       // ma / mb in [1, 2)
  uint q = 0u, r = ma;                      // restoring division: 24 quotient bits
  for (int i = 0; i < 24; ++i) {
    q <<= 1u;
    if (r >= mb) { r -= mb; q |= 1u; }
    r <<= 1u;                               // r = 2 · remainder
  }
  int E = e + 127;                          // biased exponent of q · 2^(e-23)
  if (E >= 1) {
    uint up = (r > mb || (r == mb && (q & 1u) != 0u)) ? 1u : 0u;
    return uintBitsToFloat(sign | ((uint(E) << 23) + (q - 0x800000u) + up));  // a carry bumps E
  }
  int s = 1 - E;                            // subnormal: keep q >> s, round on the dropped bits
  if (s >= 25) return uintBitsToFloat(sign);
  uint qs = q >> uint(s), rem = q & ((1u << uint(s)) - 1u), half_ = 1u << uint(s - 1);
  bool up = rem > half_ || (rem == half_ && (r != 0u || (qs & 1u) != 0u));
  return uintBitsToFloat(sign | (qs + (up ? 1u : 0u)));
}

// std::lround for x in [0, 251]: halves away from zero (floor(x + 0.5) would round 0.49999997 up).
uint nl_round_code(float x) {
  precise float f = floor(x);
  precise float d = x - f;  // exact
  return min(uint(f) + (d >= 0.5 ? 1u : 0u), kCodeMaxColor);
}

// viz::encode(v, scale) for a finite, non-zero v, given t = (v - lo) / span computed exactly.
uint nl_code_exact(float v, float lo, float span) {
  precise float a = v - lo;
  if (!(a > 0.0)) return 0u;
  if (a >= span) return kCodeMaxColor;
  if (!nl_finite(floatBitsToUint(span))) return 0u;
  precise float x = nl_div_rn(a, span) * float(kCodeMaxColor);
  return nl_round_code(x);
}

NL_CODES_CONST(uint, kCodesUndecided, 255u)

// A quotient moved by 2 ULP (up or down by a bit of `seed`): kCodesPerturbDivision makes lavapipe,
// whose division is exact, behave like a device using the 2.5 ULP that OpFDiv is allowed.
float nl_perturb(float q, uint seed) {
  uint b = floatBitsToUint(q), m = b & 0x7fffffffu;
  if (m < 0x00800000u || m >= 0x7f000000u) return q;
  return uintBitsToFloat(((seed ^ (seed >> 7)) & 1u) != 0u ? b + 2u : b - 2u);
}

// viz::encode(v, scale) bit-exactly, where v may be off by at most `err` from the value the CPU
// encodes (a mean computed with OpFDiv). The hardware division decides when t·251 cannot be within
// its error of a rounding boundary; otherwise (or with kCodesForceExact) the answer is
// kCodesUndecided and the caller encodes the exact value with nl_encode_exact.
uint nl_encode_fast(float v, uvec4 scale, float err, uint flags) {
  uint b = floatBitsToUint(v);
  if (!nl_finite(b)) return kCodeNonFinite;
  if ((b & 0x7fffffffu) == 0u) return kCodeZero;
  float lo = uintBitsToFloat(scale.y), hi = uintBitsToFloat(scale.z);
  precise float span = hi - lo;
  if (!(span > 0.0)) return scale.x == 1u ? 126u : (v > lo ? kCodeMaxColor : 0u);  // lround(0.5·251)
  if ((flags & kCodesForceExact) != 0u) return kCodesUndecided;
  precise float a = v - lo;
  float q = a / span;
  if ((flags & kCodesPerturbDivision) != 0u) q = nl_perturb(q, floatBitsToUint(v));
  float t = clamp(q, 0.0, 1.0);
  precise float x = t * float(kCodeMaxColor);
  // OpFDiv: 2.5 ULP of t ≤ 3e-7; a from a v off by err (and its own rounding); the product.
  float margin = 1.0 / 1024.0 + float(kCodeMaxColor) * (err + 4e-7 * abs(a)) / span;
  float f = floor(x);
  if (abs(x - f - 0.5) > margin) return min(uint(f) + (x - f > 0.5 ? 1u : 0u), kCodeMaxColor);
  return kCodesUndecided;
}

uint nl_encode_exact(float v, uvec4 scale) {
  uint c = nl_encode_fast(v, scale, 0.0, kCodesForceExact);
  if (c != kCodesUndecided) return c;
  float lo = uintBitsToFloat(scale.y), hi = uintBitsToFloat(scale.z);
  precise float span = hi - lo;
  return nl_code_exact(v, lo, span);
}

uint nl_encode(float v, uvec4 scale, uint flags) {
  uint c = nl_encode_fast(v, scale, 0.0, flags);
  return c != kCodesUndecided ? c : nl_encode_exact(v, scale);
}

#endif
#endif
