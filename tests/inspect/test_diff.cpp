// inspect::diff_tensors and viz::difference_values (what the diff mode draws) on small tensors whose
// figures are worked out by hand: the zero cases of rel_l2_diff, the exclusion of non-finite pairs,
// float16 against float32, and the refusal of shapes that differ. (On real models against NumPy:
// tests/inspect/diff_fp16.py.)
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "netlens/inspect/diff.hpp"
#include "netlens/viz/values.hpp"

namespace netlens::inspect {
namespace {

Tensor make(std::initializer_list<float> v) {
  Tensor t(DType::Float32, Shape{static_cast<int64_t>(v.size())});
  float* p = t.data_as<float>();
  for (float x : v) *p++ = x;
  return t;
}

TEST(Diff, Figures) {
  // a − b = (0, −1, 2, 0): max 2, mean 3/4, ‖a−b‖ = √5, ‖a‖ = √(1+4+9+16) = √30.
  const TensorDiff d = diff_tensors("t", make({1, 2, 3, 4}), make({1, 3, 1, 4}));
  EXPECT_EQ(d.count, 4);
  EXPECT_DOUBLE_EQ(d.max_abs_diff, 2.0);
  EXPECT_DOUBLE_EQ(d.mean_abs_diff, 0.75);
  ASSERT_TRUE(d.rel_l2_diff);
  EXPECT_NEAR(*d.rel_l2_diff, std::sqrt(5.0 / 30.0), 1e-15);
}

TEST(Diff, ZeroCases) {
  const TensorDiff both = diff_tensors("z", make({0, 0}), make({0, 0}));
  ASSERT_TRUE(both.rel_l2_diff);
  EXPECT_EQ(*both.rel_l2_diff, 0.0);
  const TensorDiff only_a = diff_tensors("z", make({0, 0}), make({0, 3}));
  EXPECT_FALSE(only_a.rel_l2_diff);  // undefined: B diverges from an all-zero A
  EXPECT_EQ(only_a.max_abs_diff, 3.0);
  EXPECT_TRUE(to_json(only_a)["rel_l2_diff"].is_null());
  EXPECT_TRUE(to_json(only_a)["rel_l2_undefined"].get<bool>());
}

TEST(Diff, NonFinitePairsExcluded) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const TensorDiff d = diff_tensors("n", make({nan, 1, 2}), make({0, inf, 5}));
  EXPECT_EQ(d.non_finite, 2);
  EXPECT_EQ(d.count, 1);
  EXPECT_DOUBLE_EQ(d.max_abs_diff, 3.0);
  EXPECT_NEAR(*d.rel_l2_diff, 1.5, 1e-15);
  const Tensor v = viz::difference_values("n", make({nan, 1, 2}), make({0, inf, 5}), false);
  EXPECT_TRUE(std::isnan(v.data_as<float>()[0]));
  EXPECT_EQ(v.data_as<float>()[2], 3.0f);
}

TEST(Diff, Float16AgainstFloat32) {
  // 1/3 in float16 is 0.333251953125 (exactly representable in float32 too).
  const Tensor a = make({1.0f / 3.0f});
  const Tensor b = make({0.333251953125f}).cast(DType::Float16);
  const TensorDiff d = diff_tensors("h", a, b);
  EXPECT_DOUBLE_EQ(d.max_abs_diff, std::abs(double(1.0f / 3.0f) - 0.333251953125));
  const Tensor r = viz::difference_values("h", make({2, 0, -4}), make({1, 0, -4}), true);
  EXPECT_NEAR(r.data_as<float>()[0], 1.0 / (2.0 + 4e-6), 1e-7);  // eps = 1e-6 · max|a| = 4e-6
  EXPECT_EQ(r.data_as<float>()[1], 0.0f);
}

TEST(Diff, ShapesMustMatch) {
  EXPECT_THROW(diff_tensors("s", make({1, 2}), make({1, 2, 3})), Error);
  Tensor i(DType::Int64, Shape{2});
  EXPECT_THROW(viz::difference_values("s", i, i, false), Error);
}

}  // namespace
}  // namespace netlens::inspect
