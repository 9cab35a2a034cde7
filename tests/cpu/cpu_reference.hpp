// Direct double-precision references of CPU ops, shared by the op tests (tests/cpu) and the
// conformance harness (tests/conformance): written independently of the kernels (plain loops over
// the ONNX definitions), header-only.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"

namespace netlens::cpuref {

// ---- float unary ops: value references over the range each test draws from ---------------------
struct UnaryRef {
  std::string op;
  std::map<std::string, AttrValue> attrs;
  std::function<double(double)> ref;
  double lo = -3, hi = 3;
};

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double softplus(double x) { return std::log1p(std::exp(x)); }

inline std::vector<UnaryRef> unary_refs() {
  const double pi = 3.14159265358979323846;
  return {
      {"Relu", {}, [](double x) { return x < 0 ? 0 : x; }},
      {"LeakyRelu", {{"alpha", 0.3f}}, [](double x) { return x < 0 ? 0.3f * x : x; }},
      {"LeakyRelu", {}, [](double x) { return x < 0 ? 0.01f * x : x; }},
      {"Elu", {{"alpha", 0.7f}}, [](double x) { return x < 0 ? 0.7f * (std::exp(x) - 1) : x; }},
      {"Selu", {}, [](double x) {
         return 1.05070102214813232421875 * (x <= 0 ? 1.67326319217681884765625 * (std::exp(x) - 1) : x);
       }},
      {"Celu", {{"alpha", 2.0f}}, [](double x) { return std::max(0.0, x) + std::min(0.0, 2.0 * (std::exp(x / 2.0) - 1)); }},
      {"Sigmoid", {}, sigmoid, -20, 20},
      {"HardSigmoid", {{"alpha", 0.3f}, {"beta", 0.4f}}, [](double x) {
         return std::clamp(static_cast<double>(0.3f) * x + static_cast<double>(0.4f), 0.0, 1.0);
       }},
      {"HardSwish", {}, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -5, 5},
      {"Tanh", {}, [](double x) { return std::tanh(x); }},
      {"Softplus", {}, softplus, -30, 30},
      {"Softsign", {}, [](double x) { return x / (1 + std::fabs(x)); }},
      {"ThresholdedRelu", {{"alpha", 0.5f}}, [](double x) { return x > 0.5 ? x : 0; }},
      {"Mish", {}, [](double x) { return x * std::tanh(softplus(x)); }},
      {"Erf", {}, [](double x) { return std::erf(x); }},
      {"Gelu", {}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"Gelu", {{"approximate", std::string("tanh")}}, [pi](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x)));
       }},
      {"Sqrt", {}, [](double x) { return std::sqrt(x); }, 0, 100},
      {"Exp", {}, [](double x) { return std::exp(x); }, -10, 10},
      {"Log", {}, [](double x) { return std::log(x); }, 1e-3, 100},
      {"Neg", {}, [](double x) { return -x; }},
      {"Abs", {}, [](double x) { return std::fabs(x); }},
      {"Reciprocal", {}, [](double x) { return 1 / x; }, 0.1, 10},
      {"Floor", {}, [](double x) { return std::floor(x); }},
      {"Ceil", {}, [](double x) { return std::ceil(x); }},
      {"Sign", {}, [](double x) { return (x > 0) - (x < 0); }},
      {"Sin", {}, [](double x) { return std::sin(x); }},
      {"Cos", {}, [](double x) { return std::cos(x); }},
      {"Tan", {}, [](double x) { return std::tan(x); }, -1.5, 1.5},
      {"Asin", {}, [](double x) { return std::asin(x); }, -1, 1},
      {"Acos", {}, [](double x) { return std::acos(x); }, -1, 1},
      {"Atan", {}, [](double x) { return std::atan(x); }},
      {"Sinh", {}, [](double x) { return std::sinh(x); }},
      {"Cosh", {}, [](double x) { return std::cosh(x); }},
      {"Asinh", {}, [](double x) { return std::asinh(x); }},
      {"Acosh", {}, [](double x) { return std::acosh(x); }, 1, 10},
      {"Atanh", {}, [](double x) { return std::atanh(x); }, -0.99, 0.99},
  };
}

// ------------------------------------------------------------------------------------------------
// References. Spatial problems are lifted to 3 spatial dims (missing dims have size 1).
struct Geo {
  std::vector<int64_t> k, s, d, pb, pe;
};

inline Shape lift3(const Shape& s) {  // N, C, D1..Dr → N, C, 1.., D1..Dr (3 spatial)
  Shape o(s.begin(), s.begin() + 2);
  for (size_t i = s.size(); i < 5; ++i) o.push_back(1);
  o.insert(o.end(), s.begin() + 2, s.end());
  return o;
}
inline Geo lift3(const Geo& g) {
  Geo o;
  const size_t pad = 3 - g.k.size();
  auto lift = [&](const std::vector<int64_t>& v, int64_t fill) {
    std::vector<int64_t> r(pad, fill);
    r.insert(r.end(), v.begin(), v.end());
    return r;
  };
  return Geo{lift(g.k, 1), lift(g.s, 1), lift(g.d, 1), lift(g.pb, 0), lift(g.pe, 0)};
}

inline std::vector<double> conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const Geo& g0,
                             const Shape& y0) {
  const Shape X = lift3(x.shape()), W = lift3(w.shape()), Y = lift3(y0);
  const Geo g = lift3(g0);
  std::vector<double> y(static_cast<size_t>(numel(Y)), 0.0);
  const int64_t ocg = W[0] / group, icg = W[1];
  for (int64_t n = 0; n < Y[0]; ++n)
    for (int64_t oc = 0; oc < Y[1]; ++oc) {
      const int64_t gi = oc / ocg;
      for (int64_t o0 = 0; o0 < Y[2]; ++o0)
        for (int64_t o1 = 0; o1 < Y[3]; ++o1)
          for (int64_t o2 = 0; o2 < Y[4]; ++o2) {
            double acc = b ? b->get_f64(oc) : 0.0;
            for (int64_t ic = 0; ic < icg; ++ic)
              for (int64_t k0 = 0; k0 < W[2]; ++k0)
                for (int64_t k1 = 0; k1 < W[3]; ++k1)
                  for (int64_t k2 = 0; k2 < W[4]; ++k2) {
                    const int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                    const int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                    const int64_t i2 = o2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                    if (i0 < 0 || i0 >= X[2] || i1 < 0 || i1 >= X[3] || i2 < 0 || i2 >= X[4]) continue;
                    const int64_t c = gi * icg + ic;
                    acc += x.get_f64((((n * X[1] + c) * X[2] + i0) * X[3] + i1) * X[4] + i2) *
                           w.get_f64((((oc * W[1] + ic) * W[2] + k0) * W[3] + k1) * W[4] + k2);
                  }
            y[static_cast<size_t>((((n * Y[1] + oc) * Y[2] + o0) * Y[3] + o1) * Y[4] + o2)] = acc;
          }
    }
  return y;
}

// ConvTranspose by scattering each input element through the kernel.
inline std::vector<double> convtranspose_ref(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group,
                                      const Geo& g0, const Shape& y0) {
  const Shape X = lift3(x.shape()), W = lift3(w.shape()), Y = lift3(y0);
  const Geo g = lift3(g0);
  std::vector<double> y(static_cast<size_t>(numel(Y)), 0.0);
  const int64_t icg = X[1] / group, ocg = W[1];
  for (int64_t n = 0; n < Y[0]; ++n)
    for (int64_t oc = 0; oc < Y[1]; ++oc)
      for (int64_t i = 0; i < Y[2] * Y[3] * Y[4]; ++i)
        y[static_cast<size_t>((n * Y[1] + oc) * Y[2] * Y[3] * Y[4] + i)] = b ? b->get_f64(oc) : 0.0;
  for (int64_t n = 0; n < X[0]; ++n)
    for (int64_t ic = 0; ic < X[1]; ++ic) {
      const int64_t gi = ic / icg;
      for (int64_t i0 = 0; i0 < X[2]; ++i0)
        for (int64_t i1 = 0; i1 < X[3]; ++i1)
          for (int64_t i2 = 0; i2 < X[4]; ++i2) {
            const double xv = x.get_f64((((n * X[1] + ic) * X[2] + i0) * X[3] + i1) * X[4] + i2);
            for (int64_t m = 0; m < ocg; ++m)
              for (int64_t k0 = 0; k0 < W[2]; ++k0)
                for (int64_t k1 = 0; k1 < W[3]; ++k1)
                  for (int64_t k2 = 0; k2 < W[4]; ++k2) {
                    const int64_t o0 = i0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                    const int64_t o1 = i1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                    const int64_t o2 = i2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                    if (o0 < 0 || o0 >= Y[2] || o1 < 0 || o1 >= Y[3] || o2 < 0 || o2 >= Y[4]) continue;
                    const int64_t oc = gi * ocg + m;
                    y[static_cast<size_t>((((n * Y[1] + oc) * Y[2] + o0) * Y[3] + o1) * Y[4] + o2)] +=
                        xv * w.get_f64((((ic * W[1] + m) * W[2] + k0) * W[3] + k1) * W[4] + k2);
                  }
          }
    }
  return y;
}

// One spatial dim of a pooling window (ONNX MaxPool/AveragePool): the output size and the pads,
// from explicit pads or auto_pad SAME_UPPER/SAME_LOWER; with ceil_mode the last window must start
// inside the input or the left pad.
struct PoolDim {
  int64_t out, pad_begin, pad_end;
};
inline PoolDim pool_dim(int64_t in, int64_t k, int64_t s, int64_t dil, int64_t pb, int64_t pe, bool ceil,
                        const std::string& auto_pad) {
  const int64_t eff = (k - 1) * dil + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
    pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    return {out, pb, total - pb};
  }
  const int64_t span = in + pb + pe - eff;
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= in + pb) --out;
  return {out, pb, pe};
}

// Pooling. For average: include_pad counts taps inside [-pb, in + pe), otherwise taps inside the
// input. Max returns the value; `argmax` (optional) the row-major flat input index.
inline std::vector<double> pool_ref(const Tensor& x, const Geo& g0, const Shape& y0, bool is_max, bool include_pad,
                             std::vector<int64_t>* argmax = nullptr) {
  const Shape X = lift3(x.shape()), Y = lift3(y0);
  const Geo g = lift3(g0);
  std::vector<double> y(static_cast<size_t>(numel(Y)));
  if (argmax) argmax->assign(y.size(), -1);
  for (int64_t p = 0; p < Y[0] * Y[1]; ++p)
    for (int64_t o0 = 0; o0 < Y[2]; ++o0)
      for (int64_t o1 = 0; o1 < Y[3]; ++o1)
        for (int64_t o2 = 0; o2 < Y[4]; ++o2) {
          double best = -INFINITY, sum = 0;
          int64_t cnt = 0, arg = -1;
          for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
            for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
              for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
                const int64_t i[3] = {o0 * g.s[0] - g.pb[0] + k0 * g.d[0], o1 * g.s[1] - g.pb[1] + k1 * g.d[1],
                                      o2 * g.s[2] - g.pb[2] + k2 * g.d[2]};
                bool in = true, in_pads = true;
                for (int d = 0; d < 3; ++d) {
                  if (i[d] < 0 || i[d] >= X[2 + d]) in = false;
                  if (i[d] >= X[2 + d] + g.pe[d]) in_pads = false;
                }
                if (in) {
                  const int64_t idx = ((p * X[2] + i[0]) * X[3] + i[1]) * X[4] + i[2];
                  const double v = x.get_f64(idx);
                  if (v > best) {
                    best = v;
                    arg = idx;
                  }
                  sum += v;
                  ++cnt;
                } else if (include_pad && in_pads) {
                  ++cnt;
                }
              }
          const size_t oi = static_cast<size_t>(((p * Y[2] + o0) * Y[3] + o1) * Y[4] + o2);
          y[oi] = is_max ? best : sum / static_cast<double>(cnt);
          if (argmax) (*argmax)[oi] = arg;
        }
  return y;
}


}  // namespace netlens::cpuref
