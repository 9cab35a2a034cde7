// oneDNN-backed fast paths of the elementwise family: transcendental activations and softmax.
// oneDNN's JIT kernels vectorise exp/tanh/erf (std:: versions are scalar calls, 10-30x slower);
// measured accuracy is within a few float32 ulps of the double reference.
//
// Contract: each builder returns an empty function when oneDNN cannot build a primitive for the
// geometry (the caller then keeps its portable loop). The returned function runs synchronously on
// contiguous float32 buffers of exactly the planned size and propagates NaN inputs to NaN outputs.
#pragma once

#include <cstdint>
#include <functional>

namespace netlens::cpu::ew {

enum class Eltwise { Logistic, Tanh, Exp, GeluErf, GeluTanh, SoftPlus, Elu, Mish };

using FloatFn = std::function<void(const float* x, float* y)>;

// y = f(x) over n elements; `alpha` is Elu's alpha.
FloatFn dnnl_eltwise(Eltwise kind, int64_t n, float alpha = 0.f);

// Softmax or LogSoftmax over dim 1 of a row-major [outer, n, inner] tensor.
FloatFn dnnl_softmax(int64_t outer, int64_t n, int64_t inner, bool log);

}  // namespace netlens::cpu::ew
