// Float comparisons may raise FP exceptions; with GCC's default -ftrapping-math that stops it from
// turning `x < 0 ? 0 : x` style selects into vector blends, so most loops here would stay scalar.
// Nothing in netlens reads FP exception flags, and NaN/inf semantics are unchanged.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "elementwise_dnnl.hpp"

#include <cmath>
#include <memory>

#include "nn_common.hpp"  // the process-wide oneDNN engine and per-thread streams

namespace netlens::cpu::ew {

namespace {

// Below this size the portable loop is as fast as a primitive call.
constexpr int64_t kMinElements = 256;

dnnl::algorithm algorithm_of(Eltwise k) {
  switch (k) {
    case Eltwise::Logistic: return dnnl::algorithm::eltwise_logistic;
    case Eltwise::Tanh: return dnnl::algorithm::eltwise_tanh;
    case Eltwise::Exp: return dnnl::algorithm::eltwise_exp;
    case Eltwise::GeluErf: return dnnl::algorithm::eltwise_gelu_erf;
    case Eltwise::GeluTanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case Eltwise::SoftPlus: return dnnl::algorithm::eltwise_soft_relu;
    case Eltwise::Elu: return dnnl::algorithm::eltwise_elu;
    case Eltwise::Mish: return dnnl::algorithm::eltwise_mish;
  }
  return dnnl::algorithm::eltwise_exp;
}

}  // namespace

FloatFn dnnl_eltwise(Eltwise kind, int64_t n, float alpha) {
  if (n < kMinElements) return {};
  try {
    const dnnl::memory::desc d({n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
    const float a = kind == Eltwise::SoftPlus ? 1.f : alpha;  // soft_relu's alpha is its slope: 1
    auto prim = std::make_shared<dnnl::eltwise_forward>(dnnl::eltwise_forward::primitive_desc(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm_of(kind), d, a, 0.f),
        nn::dnnl_engine()));
    // oneDNN's exp maps NaN to +inf; every other algorithm here keeps NaN (checked by the tests).
    const bool fix_nan = kind == Eltwise::Exp;
    return [prim, d, n, fix_nan](const float* x, float* y) {
      dnnl::memory src(d, nn::dnnl_engine(), const_cast<float*>(x));
      dnnl::memory dst(d, nn::dnnl_engine(), y);
      dnnl::stream& s = nn::dnnl_stream();
      prim->execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
      s.wait();
      if (fix_nan) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] != x[i] ? x[i] : y[i];  // a blend, vectorises
      }
    };
  } catch (const dnnl::error&) {
    return {};
  }
}

FloatFn dnnl_softmax(int64_t outer, int64_t n, int64_t inner, bool log) {
  if (outer * n * inner < kMinElements) return {};
  try {
    const dnnl::memory::desc d({outer, n, inner}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
    auto prim = std::make_shared<dnnl::softmax_v2_forward>(dnnl::softmax_v2_forward::primitive_desc(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                       log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate, d, d,
                                       1),
        nn::dnnl_engine()));
    return [prim, d](const float* x, float* y) {
      dnnl::memory src(d, nn::dnnl_engine(), const_cast<float*>(x));
      dnnl::memory dst(d, nn::dnnl_engine(), y);
      dnnl::stream& s = nn::dnnl_stream();
      prim->execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
      s.wait();
    };
  } catch (const dnnl::error&) {
    return {};
  }
}

}  // namespace netlens::cpu::ew
