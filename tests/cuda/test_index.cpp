// The __host__ __device__ index helpers of kernels/index.hpp, run on the CPU: the same code the
// CUDA kernels execute. Expected values come from direct computation (naive loops) or from the
// ONNX / numpy definitions worked out by hand.
#include <gtest/gtest.h>

#include <random>
#include <vector>

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

}  // namespace
}  // namespace netlens::kern
