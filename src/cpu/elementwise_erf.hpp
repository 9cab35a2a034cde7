// The error function of the CPU backend, shared by the Erf kernel and the Erf step of fused chains
// (fused_chain.hpp), so that a fused and an unfused run give the same bits.
//
// Contract: y[i] = erf(x[i]) for i < n, within 4 float32 ulps of the exact value (2.4 measured):
// for |x| < 1, x * P(x^2) (degree 6); for 1 <= |x| < 4, 1 - exp(-x^2) * R(|x|), R a degree-10
// polynomial fit of exp(x^2) erfc(x); +-1 from |x| >= 4 (erf rounds to 1 in float32 from 3.92);
// erf(-0) = -0, NaN stays NaN. Each element's result depends only on its value, never on n, its
// position or the buffers' alignment (every element, the tail's too, goes through the same 16-lane
// code). x and y may be the same buffer. One thread; callers parallelise.
#pragma once

#include <cstdint>

namespace netlens::cpu::ew {

void erf_floats(const float* x, float* y, int64_t n);

}  // namespace netlens::cpu::ew
