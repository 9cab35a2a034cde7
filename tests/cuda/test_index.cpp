// The __host__ __device__ index helpers of kernels/index.hpp, run on the CPU: the same code the
// CUDA kernels execute. Expected values come from direct computation (naive loops) or from the
// ONNX / numpy definitions worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/grad_index.hpp"
#include "kernels/index.hpp"

namespace netlens::kern {
namespace {

// Naive offset: decompose i into a multi-index explicitly.
int64_t naive_offset(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, int64_t off, int64_t i) {
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = i % dims[d];
    i /= dims[d];
  }
  for (size_t d = 0; d < dims.size(); ++d) off += idx[d] * strides[d];
  return off;
}

StridedMap make_map(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, int64_t off = 0) {
  StridedMap m;
  m.rank = static_cast<int>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    m.dims[d] = dims[d];
    m.strides[d] = strides[d];
  }
  m.offset = off;
  return m;
}

TEST(CudaIndex, StridedOffsetMatchesNaiveWalk) {
  std::mt19937 g(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int rank = 1 + static_cast<int>(g() % kMaxRank);
    std::vector<int64_t> dims(rank), strides(rank);
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) {
      dims[d] = 1 + g() % 4;
      strides[d] = static_cast<int64_t>(g() % 41) - 20;
      n *= dims[d];
    }
    const int64_t off = 1000;
    const StridedMap m = make_map(dims, strides, off);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(strided_offset(m, i), naive_offset(dims, strides, off, i));
      ASSERT_EQ(strided_offset32(m, static_cast<int32_t>(i)), naive_offset(dims, strides, off, i));
    }
  }
}

// Collapsing dims must never change any operand's walk.
TEST(CudaIndex, CollapseDimsPreservesEveryWalk) {
  std::mt19937 g(11);
  for (int trial = 0; trial < 300; ++trial) {
    const int rank = 1 + static_cast<int>(g() % kMaxRank);
    std::vector<int64_t> dims(rank);
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) {
      dims[d] = 1 + g() % 4;
      n *= dims[d];
    }
    // Operand 0: contiguous; operand 1: broadcast on random dims; operand 2: random permutation strides.
    std::vector<int64_t> contiguous(rank), bcast(rank), random(rank);
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; --d) {
      contiguous[d] = s;
      bcast[d] = (g() % 2) ? 0 : s;
      random[d] = static_cast<int64_t>(g() % 7);
      s *= dims[d];
    }
    StridedMap maps[3] = {make_map(dims, contiguous), make_map(dims, bcast, 5), make_map(dims, random, 3)};
    const StridedMap before[3] = {maps[0], maps[1], maps[2]};
    const int r = collapse_dims(maps, 3);
    ASSERT_GE(r, 1);
    ASSERT_LE(r, rank);
    for (int k = 0; k < 3; ++k) {
      int64_t prod = 1;
      for (int d = 0; d < maps[k].rank; ++d) prod *= maps[k].dims[d];
      ASSERT_EQ(prod, n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(strided_offset(maps[k], i), strided_offset(before[k], i)) << "operand " << k;
    }
  }
}

TEST(CudaIndex, CollapseMergesBiasPattern) {
  // [N,C,H,W] + bias[C,1,1]: the walk becomes [N, C, H*W] with bias strides [0, 1, 0].
  StridedMap maps[2] = {make_map({2, 8, 5, 5}, {200, 25, 5, 1}), make_map({2, 8, 5, 5}, {0, 1, 0, 0})};
  ASSERT_EQ(collapse_dims(maps, 2), 3);
  EXPECT_EQ(maps[0].dims[0], 2);
  EXPECT_EQ(maps[0].dims[1], 8);
  EXPECT_EQ(maps[0].dims[2], 25);
  EXPECT_EQ(maps[1].strides[0], 0);
  EXPECT_EQ(maps[1].strides[1], 1);
  EXPECT_EQ(maps[1].strides[2], 0);
  // Fully contiguous operands collapse to one dim; all-ones dims to a single size-1 dim.
  StridedMap c[1] = {make_map({3, 4, 5}, {20, 5, 1})};
  EXPECT_EQ(collapse_dims(c, 1), 1);
  EXPECT_EQ(c[0].dims[0], 60);
  StridedMap ones[1] = {make_map({1, 1}, {1, 1})};
  EXPECT_EQ(collapse_dims(ones, 1), 1);
  EXPECT_EQ(ones[0].dims[0], 1);
}

TEST(CudaIndex, ResizeCoordinates) {
  // half_pixel, 4 → 8: x_in = (x + 0.5) / 2 - 0.5
  EXPECT_FLOAT_EQ(resize_source_coord(0, 2.0f, 4, 8, 8.0f, ResizeCoord::HalfPixel), -0.25f);
  EXPECT_FLOAT_EQ(resize_source_coord(3, 2.0f, 4, 8, 8.0f, ResizeCoord::HalfPixel), 1.25f);
  // asymmetric: x / scale; tf_half_pixel_for_nn: (x + 0.5) / scale
  EXPECT_FLOAT_EQ(resize_source_coord(3, 2.0f, 4, 8, 8.0f, ResizeCoord::Asymmetric), 1.5f);
  EXPECT_FLOAT_EQ(resize_source_coord(3, 2.0f, 4, 8, 8.0f, ResizeCoord::TfHalfPixelForNn), 1.75f);
  // align_corners: x * (in - 1) / (length - 1), length = in * scale when scales are given
  // (7 * 0.6 = 4.2, not the 4 output pixels): 3 * 6 / 3.2 = 5.625
  EXPECT_FLOAT_EQ(resize_source_coord(7, 2.0f, 4, 8, 8.0f, ResizeCoord::AlignCorners), 3.0f);
  EXPECT_FLOAT_EQ(resize_source_coord(3, 0.6f, 7, 4, 4.2f, ResizeCoord::AlignCorners), 5.625f);
  EXPECT_FLOAT_EQ(resize_source_coord(0, 2.0f, 4, 1, 1.0f, ResizeCoord::AlignCorners), 0.0f);
  // pytorch_half_pixel: 0 when the output has length 1
  EXPECT_FLOAT_EQ(resize_source_coord(0, 0.25f, 4, 1, 1.0f, ResizeCoord::PytorchHalfPixel), 0.0f);
  EXPECT_FLOAT_EQ(resize_source_coord(1, 2.0f, 4, 8, 8.0f, ResizeCoord::PytorchHalfPixel), 0.25f);
}

TEST(CudaIndex, ResizeNearestRounding) {
  EXPECT_EQ(resize_nearest_index(1.5f, 10, ResizeNearest::RoundPreferFloor), 1);
  EXPECT_EQ(resize_nearest_index(1.5f, 10, ResizeNearest::RoundPreferCeil), 2);
  EXPECT_EQ(resize_nearest_index(1.6f, 10, ResizeNearest::RoundPreferFloor), 2);
  EXPECT_EQ(resize_nearest_index(1.4f, 10, ResizeNearest::RoundPreferCeil), 1);
  EXPECT_EQ(resize_nearest_index(1.9f, 10, ResizeNearest::Floor), 1);
  EXPECT_EQ(resize_nearest_index(1.1f, 10, ResizeNearest::Ceil), 2);
  EXPECT_EQ(resize_nearest_index(2.0f, 10, ResizeNearest::Ceil), 2);
  // Negative coordinates: floor(-0.25) = -1, clamped to 0; beyond the end clamps to in-1.
  EXPECT_EQ(resize_nearest_index(-0.25f, 10, ResizeNearest::Floor), 0);
  EXPECT_EQ(resize_nearest_index(-0.5f, 10, ResizeNearest::RoundPreferCeil), 0);
  EXPECT_EQ(resize_nearest_index(12.0f, 10, ResizeNearest::Floor), 9);
  EXPECT_FLOAT_EQ(nl_floor(-1.0f), -1.0f);
  EXPECT_FLOAT_EQ(nl_floor(-1.5f), -2.0f);
  EXPECT_FLOAT_EQ(nl_floor(2.999f), 2.0f);
}

TEST(CudaIndex, ResizeLinearTaps) {
  LinearTaps t = resize_linear_taps(1.25f, 4);
  EXPECT_EQ(t.lo, 1);
  EXPECT_EQ(t.hi, 2);
  EXPECT_FLOAT_EQ(t.w_hi, 0.25f);
  t = resize_linear_taps(-0.25f, 4);  // clamped to 0
  EXPECT_EQ(t.lo, 0);
  EXPECT_FLOAT_EQ(t.w_hi, 0.0f);
  t = resize_linear_taps(3.5f, 4);  // clamped to the last pixel
  EXPECT_EQ(t.lo, 3);
  EXPECT_EQ(t.hi, 3);
}

TEST(CudaIndex, PadSourceIndexMatchesNumpy) {
  // numpy.pad(arange(4), 3, mode) for the modes below, read as source indices.
  const std::vector<int64_t> reflect = {3, 2, 1, 0, 1, 2, 3, 2, 1, 0};
  const std::vector<int64_t> edge = {0, 0, 0, 0, 1, 2, 3, 3, 3, 3};
  const std::vector<int64_t> wrap = {1, 2, 3, 0, 1, 2, 3, 0, 1, 2};
  for (int64_t o = 0; o < 10; ++o) {
    EXPECT_EQ(pad_source_index(o, 3, 4, PadMode::Reflect), reflect[o]) << o;
    EXPECT_EQ(pad_source_index(o, 3, 4, PadMode::Edge), edge[o]) << o;
    EXPECT_EQ(pad_source_index(o, 3, 4, PadMode::Wrap), wrap[o]) << o;
    EXPECT_EQ(pad_source_index(o, 3, 4, PadMode::Constant), (o >= 3 && o < 7) ? o - 3 : -1) << o;
  }
  // Negative begin pad crops.
  EXPECT_EQ(pad_source_index(0, -2, 6, PadMode::Constant), 2);
  // Reflect over a single element stays on it.
  EXPECT_EQ(pad_source_index(0, 2, 1, PadMode::Reflect), 0);
}

TEST(CudaIndex, PoolWindows) {
  // kernel 3, stride 2, pad 1 over 7 inputs: output 0 starts at -1 and sees 2 real taps.
  EXPECT_EQ(pool_window_start(0, 2, 1), -1);
  EXPECT_EQ(pool_taps_inside(-1, 3, 1, 0, 7), 2);
  EXPECT_EQ(pool_taps_inside(-1, 3, 1, -1, 8), 3);  // count_include_pad counts the pad
  EXPECT_EQ(pool_taps_inside(5, 3, 1, 0, 7), 2);
  EXPECT_EQ(pool_taps_inside(0, 2, 2, 0, 3), 2);  // dilation 2: taps 0 and 2
}

TEST(CudaIndex, GatherAndSoftmaxIndices) {
  EXPECT_EQ(gather_index(-1, 5), 4);
  EXPECT_EQ(gather_index(4, 5), 4);
  EXPECT_EQ(gather_index(5, 5), -1);
  EXPECT_EQ(gather_index(-6, 5), -1);
  EXPECT_EQ(oai_offset(1, 2, 3, 4, 5), (1 * 4 + 2) * 5 + 3);
}

// ---- backward (kernels/grad_index.hpp) ---------------------------------------------------------------
// Each local derivative against a central difference of the forward function away from its kinks,
// and the CPU backward's conventions at the kinks (src/cpu/grad_elementwise.cpp).
TEST(CudaIndex, UnaryGradFactorsMatchDerivatives) {
  struct Case {
    UnaryGrad op;
    float a, b;
    float (*f)(float, float, float);
  };
  const Case cases[] = {
      {UnaryGrad::Relu, 0, 0, [](float x, float, float) { return x > 0 ? x : 0.0f; }},
      {UnaryGrad::LeakyRelu, 0.1f, 0, [](float x, float a, float) { return x > 0 ? x : a * x; }},
      {UnaryGrad::Sigmoid, 0, 0, [](float x, float, float) { return 1.0f / (1.0f + std::exp(-x)); }},
      {UnaryGrad::Tanh, 0, 0, [](float x, float, float) { return std::tanh(x); }},
      {UnaryGrad::HardSigmoid, 0.2f, 0.5f, [](float x, float a, float b) { return std::max(0.0f, std::min(1.0f, a * x + b)); }},
      {UnaryGrad::HardSwish, 0, 0, [](float x, float, float) { return x * std::max(0.0f, std::min(1.0f, x / 6 + 0.5f)); }},
      {UnaryGrad::Clip, -1.0f, 2.0f, [](float x, float a, float b) { return std::min(std::max(x, a), b); }},
      {UnaryGrad::Exp, 0, 0, [](float x, float, float) { return std::exp(x); }},
      {UnaryGrad::Neg, 0, 0, [](float x, float, float) { return -x; }},
      {UnaryGrad::Erf, 0, 0, [](float x, float, float) { return std::erf(x); }},
      {UnaryGrad::Gelu, 0, 0, [](float x, float, float) { return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f))); }},
      {UnaryGrad::GeluTanh, 0, 0,
       [](float x, float, float) {
         return 0.5f * x * (1.0f + std::tanh(std::sqrt(2.0f / 3.14159265f) * (x + 0.044715f * x * x * x)));
       }},
  };
  for (const Case& c : cases) {
    for (float x = -4.1f; x < 4.2f; x += 0.37f) {
      const double h = 1e-3;
      const double fd = (double(c.f(float(x + h), c.a, c.b)) - double(c.f(float(x - h), c.a, c.b))) / (2 * h);
      const float got = unary_grad_factor(c.op, x, c.f(x, c.a, c.b), c.a, c.b);
      EXPECT_NEAR(got, fd, 2e-3 * (1 + std::abs(fd))) << "op " << static_cast<int>(c.op) << " at x = " << x;
    }
  }
  // Conventions at the kinks.
  EXPECT_EQ(unary_grad_factor(UnaryGrad::Relu, 0.0f, 0.0f, 0, 0), 0.0f);
  EXPECT_EQ(unary_grad_factor(UnaryGrad::LeakyRelu, 0.0f, 0.0f, 0.1f, 0), 0.1f);
  EXPECT_EQ(unary_grad_factor(UnaryGrad::Clip, -1.0f, -1.0f, -1.0f, 2.0f), 1.0f);  // closed interval
  EXPECT_EQ(unary_grad_factor(UnaryGrad::Clip, 2.0f, 2.0f, -1.0f, 2.0f), 1.0f);
  EXPECT_EQ(unary_grad_factor(UnaryGrad::Clip, 0.5f, 0.0f, 1.0f, 0.0f), 0.0f);  // lo > hi: output is hi everywhere
  EXPECT_EQ(unary_grad_factor(UnaryGrad::HardSwish, 3.0f, 3.0f, 0, 0), 1.5f);   // inner branch on the closed interval
  EXPECT_EQ(unary_grad_factor(UnaryGrad::HardSwish, -3.0f, 0.0f, 0, 0), -0.5f);
  EXPECT_EQ(unary_grad_factor(UnaryGrad::HardSigmoid, -2.5f, 0.0f, 0.2f, 0.5f), 0.0f);  // open interval
  // Clip's bounds: x < lo goes to lo, x > hi to hi, everything to hi when lo > hi.
  EXPECT_TRUE(clip_picks_bound(-2.0f, -1.0f, 2.0f, true));
  EXPECT_FALSE(clip_picks_bound(-1.0f, -1.0f, 2.0f, true));
  EXPECT_TRUE(clip_picks_bound(3.0f, -1.0f, 2.0f, false));
  EXPECT_TRUE(clip_picks_bound(-5.0f, 1.0f, 0.0f, false));
  EXPECT_FALSE(clip_picks_bound(-5.0f, 1.0f, 0.0f, true));
}

TEST(CudaIndex, BinaryGradTermsArePartialDerivatives) {
  const float g = 0.7f, a = -1.3f, b = 2.1f;
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::G, g, a, b, 1.0f), g);
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::G, g, b, a, -1.0f), -g);  // Sub's B
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::GOther, g, a, b, 1.0f), g * b);  // d(ab)/da
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::GOverOther, g, a, b, 1.0f), g / b);  // d(a/b)/da
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::DivDenom, g, b, a, 1.0f), -g * a / (b * b));  // d(a/b)/db
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::PReluX, g, a, 0.25f, 1.0f), g * 0.25f);  // x < 0: slope
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::PReluX, g, b, 0.25f, 1.0f), g);
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::PReluSlope, g, 0.25f, a, 1.0f), g * a);  // d/dslope = x where x < 0
  EXPECT_FLOAT_EQ(binary_grad_term(BinaryGrad::PReluSlope, g, 0.25f, b, 1.0f), 0.0f);
  EXPECT_FALSE(binary_grad_reads_other(BinaryGrad::G));
  EXPECT_TRUE(binary_grad_reads_self(BinaryGrad::DivDenom));
  EXPECT_FALSE(binary_grad_reads_self(BinaryGrad::GOther));
}

// MaxPool's backward target and AveragePool's divisor, against a direct window walk over a random
// plane with ties (values on a coarse grid), 2-D with stride, dilation and asymmetric pads.
TEST(CudaIndex, PoolGradWindows) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> v(0, 4);  // many ties: the first maximum must win
  PoolGradGeom g;
  g.in[1] = 7;
  g.in[2] = 9;
  g.k[1] = 3;
  g.k[2] = 2;
  g.s[1] = 2;
  g.s[2] = 1;
  g.d[2] = 2;
  g.pb[1] = 1;
  g.pe[1] = 0;
  g.pb[2] = 1;
  g.pe[2] = 2;
  g.out[1] = (g.in[1] + g.pb[1] + g.pe[1] - (g.k[1] - 1) * g.d[1] - 1) / g.s[1] + 1;
  g.out[2] = (g.in[2] + g.pb[2] + g.pe[2] - (g.k[2] - 1) * g.d[2] - 1) / g.s[2] + 1;
  std::vector<float> plane(static_cast<size_t>(g.in[1] * g.in[2]));
  for (float& x : plane) x = static_cast<float>(v(rng));
  for (bool include_pad : {false, true}) {
    g.count_include_pad = include_pad;
    for (int64_t oy = 0; oy < g.out[1]; ++oy)
      for (int64_t ox = 0; ox < g.out[2]; ++ox) {
        int64_t best = -1, inside = 0, padded = 0;
        for (int64_t ky = 0; ky < g.k[1]; ++ky)
          for (int64_t kx = 0; kx < g.k[2]; ++kx) {
            const int64_t y = oy * g.s[1] - g.pb[1] + ky * g.d[1], x = ox * g.s[2] - g.pb[2] + kx * g.d[2];
            if (y < g.in[1] + g.pe[1] && x < g.in[2] + g.pe[2]) ++padded;
            if (y < 0 || y >= g.in[1] || x < 0 || x >= g.in[2]) continue;
            ++inside;
            if (best < 0 || plane[static_cast<size_t>(y * g.in[2] + x)] > plane[static_cast<size_t>(best)]) best = y * g.in[2] + x;
          }
        const float m = best >= 0 ? plane[static_cast<size_t>(best)] : -1.0f;
        EXPECT_EQ(pool_first_max_offset(plane.data(), g, 0, oy, ox, m), best) << oy << "," << ox;
        EXPECT_EQ(pool_average_count(g, 0, oy, ox), include_pad ? padded : inside) << oy << "," << ox;
      }
  }
}

// Resize's backward taps reproduce the forward element: Σ w·x over resize_taps equals
// resize_element (float rounding apart) for every mode, coordinate transform and scale tried, so
// their adjoint is the forward's.
TEST(CudaIndex, ResizeGradTapsReproduceTheForward) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  const ResizeCoord coords[] = {ResizeCoord::HalfPixel, ResizeCoord::PytorchHalfPixel, ResizeCoord::AlignCorners,
                                ResizeCoord::Asymmetric};
  const int64_t sizes[][4] = {{5, 7, 10, 14}, {6, 4, 3, 2}, {3, 3, 7, 5}, {8, 8, 8, 8}};
  int checked = 0;
  for (const auto& sz : sizes)
    for (ResizeCoord coord : coords)
      for (bool linear : {false, true}) {
        ResizeGeom g;
        g.outer = 2;
        g.in_h = sz[0];
        g.in_w = sz[1];
        g.out_h = sz[2];
        g.out_w = sz[3];
        g.scale_h = static_cast<float>(g.out_h) / static_cast<float>(g.in_h);
        g.scale_w = static_cast<float>(g.out_w) / static_cast<float>(g.in_w);
        g.length_h = static_cast<float>(g.out_h);
        g.length_w = static_cast<float>(g.out_w);
        g.identity_h = g.in_h == g.out_h;
        g.identity_w = g.in_w == g.out_w;
        g.coord = coord;
        g.linear = linear;
        std::vector<float> x(static_cast<size_t>(g.outer * g.in_h * g.in_w));
        for (float& v : x) v = d(rng);
        for (int64_t t = 0; t < g.outer * g.out_h * g.out_w; ++t) {
          const ResizeTaps taps = resize_taps(g, t);
          double sum = 0, wsum = 0;
          for (int k = 0; k < taps.count; ++k) {
            ASSERT_GE(taps.plane + taps.off[k], 0);
            ASSERT_LT(taps.plane + taps.off[k], static_cast<int64_t>(x.size()));
            sum += double(taps.w[k]) * x[static_cast<size_t>(taps.plane + taps.off[k])];
            wsum += taps.w[k];
          }
          EXPECT_NEAR(sum, resize_element(x.data(), g, t), 1e-5) << "t " << t << (linear ? " linear" : " nearest");
          EXPECT_NEAR(wsum, 1.0, 1e-6);
          ++checked;
        }
      }
  EXPECT_GT(checked, 1000);
}

}  // namespace
}  // namespace netlens::kern
