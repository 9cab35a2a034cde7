// F16C conversion with a scalar fallback; see half_convert.hpp. The vector loops live in functions
// compiled for f16c/avx2 via target attributes (not -mf16c for the whole library, which would make
// every translation unit require it) and are called per chunk from the OpenMP loop, because
// outlined OpenMP regions do not inherit a function's target attribute.
#include "netlens/cpu/half_convert.hpp"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>

#include "netlens/core.hpp"

namespace netlens::cpu {

namespace {

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) void h2f_f16c(const uint16_t* s, float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  for (; i < n; ++i) d[i] = half_to_float(s[i]);
}
__attribute__((target("avx2,f16c"))) void f2h_f16c(const float* s, uint16_t* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) d[i] = float_to_half(s[i]);
}
bool have_f16c() {
  // F16C from CPUID leaf 1 (ECX bit 29): clang 14, the fuzz build's compiler, has no "f16c" for
  // __builtin_cpu_supports.
  unsigned a = 0, b = 0, c = 0, d = 0;
  static const bool ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0 && __builtin_cpu_supports("avx2") &&
                         std::getenv("NETLENS_NO_F16C") == nullptr;
  return ok;
}
#else
bool have_f16c() { return false; }
void h2f_f16c(const uint16_t*, float*, int64_t) {}
void f2h_f16c(const float*, uint16_t*, int64_t) {}
#endif

void h2f_scalar(const uint16_t* s, float* d, int64_t n) { for (int64_t i = 0; i < n; ++i) d[i] = half_to_float(s[i]); }
void f2h_scalar(const float* s, uint16_t* d, int64_t n) { for (int64_t i = 0; i < n; ++i) d[i] = float_to_half(s[i]); }

// Chunks of 64K elements: large enough to amortise the call, small enough to balance threads.
constexpr int64_t kChunk = 65536;

template <class S, class D>
void chunked(const S* s, D* d, int64_t n, void (*fn)(const S*, D*, int64_t)) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (chunks > 1) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * kChunk;
    fn(s + b, d + b, std::min(kChunk, n - b));
  }
}

}  // namespace

bool half_convert_vectorised() { return have_f16c(); }

void half_to_float_n(const uint16_t* src, float* dst, int64_t n) {
  chunked(src, dst, n, have_f16c() ? &h2f_f16c : &h2f_scalar);
}
void float_to_half_n(const float* src, uint16_t* dst, int64_t n) {
  chunked(src, dst, n, have_f16c() ? &f2h_f16c : &f2h_scalar);
}

}  // namespace netlens::cpu
