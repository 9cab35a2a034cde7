// Helpers of the CPU quantized-op family (ops_quant.cpp: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger, QLinearMatMul; ops_quant_conv.cpp: ConvInteger, QLinearConv).
//
// Arithmetic follows onnxruntime's CPU provider (MLAS) so that integer outputs are bit-exact:
// - quantize: q = clamp(nearbyint(x / scale) + zp) in float32 (x / scale a float32 division;
//   nearbyint in the default rounding mode = round half to even, as ONNX specifies);
// - requantize an int32 accumulator: q = clamp(nearbyint(float(acc) * m) + zp) with the float32
//   multiplier m = (in_scale * w_scale) / out_scale, evaluated left to right in float32;
// - integer products accumulate exactly in int32.
// Views are host memory; shapes were checked by shapes_quant.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/runtime/shapes_quant.hpp"

namespace netlens::cpu::quant {

// Element i of a scale (float32 after the backend's float conversion) / zero point (int8, uint8 or
// int32; 0 when the view is absent).
inline float scale_at(const TensorView& v, int64_t i) { return static_cast<const float*>(v.data)[i]; }
int32_t zp_at(const TensorView& v, int64_t i);
// All `n` zero points (1 or n values in v, broadcast), or zeros when v is absent.
std::vector<int32_t> zero_points(const TensorView& v, int64_t n);

inline int32_t qmin(DType t) { return t == DType::Int8 ? -128 : 0; }
inline int32_t qmax(DType t) { return t == DType::Int8 ? 127 : 255; }

// nearbyint(v) + zp clamped to [lo, hi]; NaN saturates to hi (deterministic; ONNX leaves it open).
// The same values as fmax(lo, fmin(hi, nearbyint(v) + zp)) without libm calls (they are not inlined
// without -msse4.1 and cost a fifth of a dynamically quantized model's run): below 2^22 adding and
// subtracting 1.5 * 2^23 rounds to an integer in the default rounding mode (half to even, as
// nearbyint); a larger |v| saturates whatever its rounding (zero points are 8-bit).
inline int32_t saturate_round(float v, int32_t zp, int32_t lo, int32_t hi) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  float r = std::fabs(v) < 4194304.0f ? (v + kMagic) - kMagic : v;
  r += static_cast<float>(zp);
  const float fl = static_cast<float>(lo), fh = static_cast<float>(hi);
  r = r < fh ? r : fh;  // NaN -> hi, as fmin(hi, NaN)
  r = r > fl ? r : fl;
  return static_cast<int32_t>(r);
}

// Writes value v (already in [qmin, qmax] of t) as element i of an int8/uint8 buffer.
inline void store_q(void* dst, DType t, int64_t i, int32_t v) {
  if (t == DType::Int8) static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(v);
  else static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(v);
}
inline int32_t load_q(const void* src, DType t, int64_t i) {
  return t == DType::Int8 ? static_cast<const int8_t*>(src)[i] : static_cast<const uint8_t*>(src)[i];
}

// Requantizes `count` int32 accumulators (plus bias[ch] when bias) into `dst` at element offset
// `at`, all of output channel `ch` with multiplier mult.
void requantize(const int32_t* acc, int64_t count, float mult, int32_t zp, DType out, void* dst, int64_t at);

void register_quant_conv_ops(CpuOpTable& t);  // ops_quant_conv.cpp

}  // namespace netlens::cpu::quant
