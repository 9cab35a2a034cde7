// The logistic function of the CPU backend, shared by the Sigmoid kernel and the Sigmoid step of
// fused chains (fused_chain.hpp), so that a fused and an unfused run give the same bits.
//
// Contract: y[i] = 1 / (1 + exp(-x[i])) for i < n, within ~3 float32 ulps of the exact value
// (exp(-|x|) by range reduction and a degree-6 polynomial, then 1/(1+e) or e/(1+e)); 0 for
// x < -87 (the exact value is below 1.7e-38 there), 1 for large x, NaN for NaN. Each element's
// result depends only on its value, never on n, its position or the buffers' alignment (every
// element, the tail's too, goes through the same 16-lane code), so any split of a tensor into
// ranges gives the same bits. x and y may be the same buffer. One thread; callers parallelise.
#pragma once

#include <cstdint>

namespace netlens::cpu::ew {

void sigmoid_floats(const float* x, float* y, int64_t n);

}  // namespace netlens::cpu::ew
