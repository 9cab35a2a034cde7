// Bulk float16 <-> float32 conversion for the CPU backend's float16 path (the Float32Wrapper around
// float32 kernels, Cast). Uses the F16C instructions where the CPU has them (checked once at run
// time, so the binary still runs on CPUs without them) and core's scalar half_to_float /
// float_to_half otherwise; both round to nearest even and give the same bits for every finite
// value, infinity and subnormal (NaN payloads may differ; both stay NaN).
// Thread safety: pure functions; large arrays are split over OpenMP threads.
#pragma once

#include <cstdint>

namespace netlens::cpu {

void half_to_float_n(const uint16_t* src, float* dst, int64_t n);
void float_to_half_n(const float* src, uint16_t* dst, int64_t n);
// Whether the F16C path is in use (tests report it; both paths are tested against the scalar one).
bool half_convert_vectorised();

}  // namespace netlens::cpu
