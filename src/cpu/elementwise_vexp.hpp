// 16-lane float vectors (GCC/clang vector extensions), their target clones, lane loads and stores,
// and the exponential they share: the logistic
// (elementwise_sigmoid.cpp) and erf (elementwise_erf.cpp) kernels, which fused chains also call, so
// their bits must not depend on how a tensor is split (fused_chain.hpp).
//
// Contract: exp_nonpositive(z, e) sets e = exp(z) within ~1 float32 ulp for every lane with -87 <= z <= 0
// (Cephes expf: k = round(z / ln 2), r = z - k ln 2 in two parts, a degree-6 polynomial, times 2^k
// built in the exponent field). Lanes outside that range give unspecified values; callers mask them.
// Header-only and always inlined, so each caller's target clone compiles it for its own ISA; vectors
// pass by reference (a 64-byte vector argument or result is an ABI error for clang in the baseline
// clone).
#pragma once

#include <cstdint>
#include <cstring>

namespace netlens::cpu::ew {

typedef float VF __attribute__((vector_size(64)));
typedef int32_t VI __attribute__((vector_size(64)));

// The clones the callers compile their loops for (not under ThreadSanitizer, which rejects ifuncs).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define NETLENS_EW_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NETLENS_EW_CLONES
#endif

// v = x[0, m) in lanes 0..m-1 (m <= 16), zeros above; and y[0, m) = lanes 0..m-1 of s. Whole vectors
// when m == 16, so a tail goes through the same arithmetic as every other element.
__attribute__((always_inline)) inline void load_lanes(const float* x, int64_t m, VF& v) {
  v = (VF){};
  if (m == 16) {
    std::memcpy(&v, x, sizeof v);
  } else {
    for (int64_t j = 0; j < m; ++j) v[j] = x[j];
  }
}
__attribute__((always_inline)) inline void store_lanes(float* y, int64_t m, const VF& s) {
  if (m == 16) {
    std::memcpy(y, &s, sizeof s);
  } else {
    for (int64_t j = 0; j < m; ++j) y[j] = s[j];
  }
}

__attribute__((always_inline)) inline void exp_nonpositive(const VF& z, VF& out) {
  // The 1.5 * 2^23 shift rounds z / ln 2 to the nearest integer k, which t then holds in its low bits.
  constexpr float kShift = 12582912.f;
  const VF t = z * 1.44269504088896341f + kShift;
  const VF k = t - kShift;
  VF r = z - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  VF p = (VF){} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const VF e = p * (r * r) + r + 1.f;
  // 2^k for k in [-126, 0]: its exponent field k + 127.
  const VI kb = (VI)t - 0x4B400000;
  const VI pow2b = (kb + 127) << 23;
  out = e * (VF)pow2b;
}

}  // namespace netlens::cpu::ew
