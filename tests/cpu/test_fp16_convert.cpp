// The CPU backend's bulk float16 <-> float32 conversion (F16C where present) against core's scalar
// half_to_float / float_to_half (themselves tested bit-exactly in unit.Half.*): the same bits for
// every one of the 65536 float16 values and for float32 values around every float16 rounding
// boundary, subnormals, overflow and signed zeros included; NaN stays NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "netlens/cpu/half_convert.hpp"
#include "netlens/core.hpp"

namespace netlens::cpu {
namespace {

bool is_nan_half(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

TEST(Fp16Convert, EveryHalfToFloatMatchesScalar) {
  std::printf("F16C path: %s\n", half_convert_vectorised() ? "yes" : "no (scalar)");
  // Odd length and offset start: exercises the vector body and the scalar tail.
  std::vector<uint16_t> h(65536 + 3);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
  std::vector<float> f(h.size());
  half_to_float_n(h.data() + 1, f.data() + 1, static_cast<int64_t>(h.size()) - 1);
  for (size_t i = 1; i < h.size(); ++i) {
    const float ref = half_to_float(h[i]);
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(f[i])) << "half 0x" << std::hex << h[i];
      continue;
    }
    uint32_t a, b;
    std::memcpy(&a, &f[i], 4);
    std::memcpy(&b, &ref, 4);
    ASSERT_EQ(a, b) << "half 0x" << std::hex << h[i];
  }
}

TEST(Fp16Convert, FloatToHalfMatchesScalarAtEveryRoundingBoundary) {
  std::vector<float> f;
  // For each finite half h: h itself, the halfway point to the next half, and one float ulp either
  // side of it (ties to even and the rounding direction), both signs.
  for (uint32_t h = 0; h < 0x7c00u; ++h) {
    const float lo = half_to_float(static_cast<uint16_t>(h));
    const float hi = h + 1 < 0x7c00u ? half_to_float(static_cast<uint16_t>(h + 1)) : 65536.f;
    const float mid = lo + (hi - lo) / 2;
    for (float v : {lo, mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e30f)}) {
      f.push_back(v);
      f.push_back(-v);
    }
  }
  // Overflow, tiny values below the smallest subnormal, infinities, NaN, random values.
  for (float v : {65504.f, 65519.99f, 65520.f, 1e6f, 1e-8f, 2.9e-8f, 3e-8f, 1e-30f, INFINITY, -INFINITY, NAN})
    f.push_back(v);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-70000.f, 70000.f);
  for (int i = 0; i < 100001; ++i) f.push_back(i % 2 ? u(rng) : u(rng) * 1e-6f);
  std::vector<uint16_t> h(f.size());
  float_to_half_n(f.data(), h.data(), static_cast<int64_t>(f.size()));
  for (size_t i = 0; i < f.size(); ++i) {
    const uint16_t ref = float_to_half(f[i]);
    if (std::isnan(f[i])) {
      EXPECT_TRUE(is_nan_half(h[i]));
      continue;
    }
    ASSERT_EQ(h[i], ref) << "float " << f[i] << " (index " << i << ")";
  }
}

}  // namespace
}  // namespace netlens::cpu
