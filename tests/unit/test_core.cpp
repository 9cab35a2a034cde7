// Core types and shape helpers against direct computations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "netlens/core.hpp"
#include "netlens/runtime/shape_util.hpp"

using namespace netlens;

TEST(Half, RoundTripsEveryHalfValue) {
  // Every finite half converts to float and back exactly; NaN stays NaN.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
      continue;
    }
    EXPECT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties to even → 1.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // Slightly above the halfway point rounds up.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // overflow to inf
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);  // largest finite
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);  // underflow to zero
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
}

TEST(BFloat16, RoundTrip) {
  // Values with at most 8 significant bits round-trip exactly.
  for (float f : {0.0f, 1.0f, -2.5f, 3.140625f, std::ldexp(1.0f, 100), -std::ldexp(1.0f, -100)})
    EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(f)), f) << f;
  // Others round to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 → 1.
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
}

TEST(Shape, ParseAndPrint) {
  EXPECT_EQ(parse_shape("1x3x224x224"), (Shape{1, 3, 224, 224}));
  EXPECT_EQ(shape_str({1, 3, 224, 224}), "1x3x224x224");
  EXPECT_EQ(shape_str({}), "scalar");
  EXPECT_EQ(numel({}), 1);
  EXPECT_EQ(numel({2, 0, 3}), 0);
  EXPECT_THROW(parse_shape("1xx3"), Error);
  EXPECT_THROW(parse_shape("1x-3"), Error);
  EXPECT_EQ(strides_of({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
}

TEST(Tensor, CastAndAccess) {
  Tensor t = Tensor::from_f32({2, 2}, {1.5f, -2.0f, 0.0f, 7.25f});
  Tensor h = t.cast(DType::Float16);
  EXPECT_EQ(h.dtype(), DType::Float16);
  EXPECT_EQ(h.to_f32_vector(), t.to_f32_vector());
  Tensor i = t.cast(DType::Int64);
  EXPECT_EQ(i.to_i64_vector(), (std::vector<int64_t>{1, -2, 0, 7}));
  Tensor b = t.cast(DType::Bool);
  EXPECT_EQ(b.to_i64_vector(), (std::vector<int64_t>{1, 1, 0, 1}));
  Tensor big = Tensor::from_i64({1}, {(int64_t{1} << 62) + 1});
  EXPECT_EQ(big.cast(DType::Int64).get_i64(0), (int64_t{1} << 62) + 1);  // no detour through double
  Tensor c = t.clone();
  c.data_as<float>()[0] = 9;
  EXPECT_EQ(t.data_as<float>()[0], 1.5f);
}

TEST(ShapeUtil, Broadcast) {
  EXPECT_EQ(broadcast_shapes({2, 1, 5}, {3, 1}, "t"), (Shape{2, 3, 5}));
  EXPECT_EQ(broadcast_shapes({}, {4}, "t"), (Shape{4}));
  EXPECT_THROW(broadcast_shapes({2, 3}, {4, 3}, "t"), Error);
  EXPECT_EQ(broadcast_strides({3, 1}, {2, 3, 5}), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(normalize_axis(-1, 4, "t"), 3);
  EXPECT_THROW(normalize_axis(4, 4, "t"), Error);
}

TEST(ShapeUtil, ConvOutDimMatchesEnumeration) {
  // Count window start positions directly and compare.
  for (int64_t in = 1; in < 12; ++in)
    for (int64_t k = 1; k < 5; ++k)
      for (int64_t s = 1; s < 4; ++s)
        for (int64_t d = 1; d < 3; ++d)
          for (int64_t pb = 0; pb < 2; ++pb)
            for (int64_t pe = 0; pe < 2; ++pe) {
              const int64_t eff = d * (k - 1) + 1;
              int64_t count = 0;
              for (int64_t start = -pb; start + eff <= in + pe; start += s) ++count;
              EXPECT_EQ(conv_out_dim(in, k, s, pb, pe, d, false), count) << in << " " << k << " " << s;
            }
  // ceil_mode (PyTorch/ONNX): a partial last window counts if it starts inside input + left pad.
  EXPECT_EQ(conv_out_dim(5, 2, 2, 0, 0, 1, true), 3);
  EXPECT_EQ(conv_out_dim(6, 3, 2, 1, 1, 1, true), 4);
  EXPECT_EQ(conv_out_dim(4, 2, 2, 0, 0, 1, true), 2);  // exact fit: no extra window
}

TEST(ShapeUtil, SamePadding) {
  Node n;
  n.op_type = "Conv";
  n.name = "c";
  n.attrs["auto_pad"] = std::string("SAME_UPPER");
  n.attrs["strides"] = std::vector<int64_t>{2, 2};
  SpatialGeometry g = conv_geometry(n, {1, 3, 7, 8}, {3, 3});
  // out = ceil(7/2)=4: total pad = (4-1)*2+3-7 = 2 → 1,1; W: ceil(8/2)=4: total = 6+3-8 = 1 → 0,1.
  EXPECT_EQ(g.pad_begin, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(g.pad_end, (std::vector<int64_t>{1, 1}));
  n.attrs["auto_pad"] = std::string("SAME_LOWER");
  g = conv_geometry(n, {1, 3, 7, 8}, {3, 3});
  EXPECT_EQ(g.pad_begin, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(g.pad_end, (std::vector<int64_t>{1, 0}));
}
