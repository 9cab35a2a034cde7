// ConvInteger / QLinearConv on the int8 GEMM path (src/cpu/ops_quant_conv.cpp: oneDNN's u8 x s8
// GEMM on VNNI CPUs) at the extremes where a kernel that pairs products in saturating int16
// (vpmaddubsw) or mishandles the +-128 shifts would go wrong: uint8 and int8 activations and weights
// at their limits with zero points at the other end, so every product is +-255*255 or +-255*128, long
// reductions (K = 64*3*3), padding, strides and dilations, and several output-row slabs. Reference:
// the defining sum, computed here directly in int64 (independent of netlens' kernels); exact match.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;

namespace {

struct ConvCase {
  DType xt, wt;
  int32_t xzp, wzp;
  int64_t c, h, w, m, k, stride, dil, pad;
  int mode;  // 0: extremes (x at its max, w at its min), 1: random, 2: alternating extremes
};

Tensor q_tensor(DType t, Shape s, const std::vector<int32_t>& v) {
  Tensor out(t, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::Int8) out.data_as<int8_t>()[i] = static_cast<int8_t>(v[i]);
    else out.data_as<uint8_t>()[i] = static_cast<uint8_t>(v[i]);
  }
  return out;
}

Tensor q_scalar(DType t, int32_t v) { return q_tensor(t, {}, {v}); }

void run_case(const ConvCase& cc) {
  const int32_t xlo = cc.xt == DType::Int8 ? -128 : 0, xhi = cc.xt == DType::Int8 ? 127 : 255;
  const int32_t wlo = cc.wt == DType::Int8 ? -128 : 0, whi = cc.wt == DType::Int8 ? 127 : 255;
  std::mt19937 rng(7);
  std::vector<int32_t> x(static_cast<size_t>(cc.c * cc.h * cc.w)), w(static_cast<size_t>(cc.m * cc.c * cc.k * cc.k));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = cc.mode == 0 ? xhi : cc.mode == 2 ? (i % 3 ? xhi : xlo) : std::uniform_int_distribution<int32_t>(xlo, xhi)(rng);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = cc.mode == 0 ? wlo : cc.mode == 2 ? (i % 2 ? wlo : whi) : std::uniform_int_distribution<int32_t>(wlo, whi)(rng);
  const int64_t ek = (cc.k - 1) * cc.dil + 1;
  const int64_t oh = (cc.h + 2 * cc.pad - ek) / cc.stride + 1, ow = (cc.w + 2 * cc.pad - ek) / cc.stride + 1;

  Graph g;
  g.opsets[""] = 13;
  Node n{"conv", "ConvInteger", "", {"x", "w", "xzp", "wzp"}, {"y"}, {}};
  n.attrs["kernel_shape"] = std::vector<int64_t>{cc.k, cc.k};
  n.attrs["strides"] = std::vector<int64_t>{cc.stride, cc.stride};
  n.attrs["dilations"] = std::vector<int64_t>{cc.dil, cc.dil};
  n.attrs["pads"] = std::vector<int64_t>{cc.pad, cc.pad, cc.pad, cc.pad};
  g.nodes.push_back(n);
  g.inputs.push_back(ValueInfo{"x", cc.xt, {Dim{1, ""}, Dim{cc.c, ""}, Dim{cc.h, ""}, Dim{cc.w, ""}}, true});
  g.initializers["w"] = q_tensor(cc.wt, {cc.m, cc.c, cc.k, cc.k}, w);
  g.initializers["xzp"] = q_scalar(cc.xt, cc.xzp);
  g.initializers["wzp"] = q_scalar(cc.wt, cc.wzp);
  g.outputs.push_back(ValueInfo{"y", DType::Undefined, {}, false});
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  s.run({{"x", q_tensor(cc.xt, {1, cc.c, cc.h, cc.w}, x)}});
  const Tensor y = s.activations().fetch("y");
  ASSERT_EQ(y.dtype(), DType::Int32);
  ASSERT_EQ(y.shape(), (Shape{1, cc.m, oh, ow}));
  int64_t bad = 0, biggest = 0;
  for (int64_t m = 0; m < cc.m; ++m)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        int64_t sum = 0;
        for (int64_t c = 0; c < cc.c; ++c)
          for (int64_t ky = 0; ky < cc.k; ++ky)
            for (int64_t kx = 0; kx < cc.k; ++kx) {
              const int64_t iy = oy * cc.stride - cc.pad + ky * cc.dil, ix = ox * cc.stride - cc.pad + kx * cc.dil;
              if (iy < 0 || iy >= cc.h || ix < 0 || ix >= cc.w) continue;  // padding is the zero point: adds 0
              sum += int64_t(x[size_t((c * cc.h + iy) * cc.w + ix)] - cc.xzp) *
                     int64_t(w[size_t(((m * cc.c + c) * cc.k + ky) * cc.k + kx)] - cc.wzp);
            }
        biggest = std::max(biggest, std::abs(sum));
        bad += y.data_as<int32_t>()[(m * oh + oy) * ow + ox] != sum;
      }
  EXPECT_EQ(bad, 0) << "of " << y.numel() << " outputs differ (largest |sum| " << biggest << ")";
}

TEST(QuantConvGemm, ExtremeProductsExact) {
  // uint8 x uint8 (the ISNet form): x = 255 with zero point 0, w = 0 with zero point 255: every
  // product -65025, K = 576 products per output.
  run_case({DType::UInt8, DType::UInt8, 0, 255, 64, 20, 20, 8, 3, 1, 1, 1, 0});
  run_case({DType::UInt8, DType::UInt8, 0, 255, 64, 20, 20, 8, 3, 1, 1, 1, 2});
  // int8 weights and activations at their limits with the opposite zero points.
  run_case({DType::UInt8, DType::Int8, 0, 127, 64, 12, 12, 5, 3, 2, 1, 1, 0});
  run_case({DType::Int8, DType::Int8, -128, 127, 32, 12, 12, 5, 3, 1, 2, 2, 2});
  run_case({DType::Int8, DType::UInt8, 127, 0, 32, 12, 12, 5, 3, 1, 1, 0, 2});
}

TEST(QuantConvGemm, RandomWithStridesDilationsAndSlabs) {
  run_case({DType::UInt8, DType::UInt8, 117, 143, 16, 33, 29, 7, 3, 2, 1, 1, 1});
  run_case({DType::UInt8, DType::UInt8, 3, 250, 8, 40, 37, 4, 3, 1, 4, 4, 1});
  run_case({DType::UInt8, DType::Int8, 200, -5, 5, 31, 31, 3, 5, 3, 1, 2, 1});
  run_case({DType::UInt8, DType::UInt8, 128, 128, 3, 15, 15, 6, 1, 1, 1, 0, 1});  // 1x1
  // Large enough for several ~4 MiB im2col slabs: K = 288, 2048 output columns per row.
  run_case({DType::UInt8, DType::UInt8, 90, 143, 32, 40, 2048, 2, 3, 1, 1, 1, 1});
}

}  // namespace
