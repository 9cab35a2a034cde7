// Finite-difference checks of the CPU tensor ops' gradients (src/cpu/grad_tensor*.cpp) through
// Session::backward, with tests/grad/grad_check.hpp: per element for inputs of ≤ 64 elements,
// three random directions above. Tolerance: the harness default, relative L2 error ≤ 2e-3 (or an
// absolute L2 error ≤ 1e-4 when the gradient is zero), and per direction
// |Δ| ≤ 2e-3·(|fd| + |g·v|) + 1e-4. Almost every op here is linear in its float inputs, so the
// central difference is exact up to float32 rounding of the forward (measured errors ~1e-6);
// the multilinear (Einsum, Scatter mul) and piecewise-linear (TopK, Scatter max) cases use
// inputs away from ties. Odd shapes, negative axes, duplicate indices (gradients must add up),
// steps, every Pad mode and Resize coordinate modes in both directions are covered.
// Also: every op of the forward tensor table has a gradient entry or a documented reason.
#include <gtest/gtest.h>

#include <set>

#include "netlens/cpu/cpu_ops.hpp"
#include "grad_check.hpp"
#include "netlens/cpu/grad_tensor.hpp"

namespace {

using netlens::AttrValue;
using netlens::DType;
using netlens::Shape;
using netlens::Tensor;
using netlens::gradtest::check_gradients;
using netlens::gradtest::GradCase;
using netlens::gradtest::random_tensor;

Tensor rnd(Shape s, uint32_t seed = 1) { return random_tensor(std::move(s), seed); }
Tensor ints(Shape s, std::vector<int64_t> v) { return Tensor::from_i64(std::move(s), v); }
Tensor floats(Shape s, std::vector<float> v) { return Tensor::from_f32(std::move(s), v); }
using Attrs = std::map<std::string, AttrValue>;
using Ints = std::vector<int64_t>;

// Distinct values 0.1 apart (± 0.013) in a shuffled order, shifted by `shift`, for TopK and max
// reductions: with shifts 0.05 apart, two such tensors stay ≥ 0.02 apart, twice the harness step.
Tensor distinct(Shape s, uint32_t seed, float shift = 0.f) {
  Tensor t = rnd(s, seed);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>((i * 37) % t.numel()) * 0.1f + 0.013f * p[i] + shift;
  return t;
}

GradCase one(std::string op, int64_t opset, Attrs attrs, std::vector<Tensor> in, std::vector<bool> constant = {}, size_t outs = 1) {
  GradCase c;
  c.op = std::move(op);
  c.opset = opset;
  c.attrs = std::move(attrs);
  c.inputs = std::move(in);
  c.constant = std::move(constant);
  c.num_outputs = outs;
  return c;
}

// ------------------------------------------------------------------------------------------------
TEST(GradTensor, ShapeOnlyOps) {
  check_gradients(one("Reshape", 14, {}, {rnd({2, 3, 5}), ints({2}, {-1, 10})}, {false, true}));
  check_gradients(one("Flatten", 13, {{"axis", int64_t{-1}}}, {rnd({2, 3, 5})}));
  check_gradients(one("Squeeze", 13, {}, {rnd({3, 1, 5, 1}), ints({2}, {-1, 1})}, {false, true}));
  check_gradients(one("Squeeze", 11, {{"axes", Ints{1}}}, {rnd({3, 1, 5})}));
  check_gradients(one("Unsqueeze", 13, {}, {rnd({3, 5}), ints({2}, {0, -1})}, {false, true}));
  check_gradients(one("Identity", 14, {}, {rnd({7})}));
  check_gradients(one("Dropout", 13, {}, {rnd({3, 7})}));
  // Training mode with ratio 0 is the identity too; the mask output is bool (no gradient).
  check_gradients(one("Dropout", 13, {}, {rnd({3, 7}), floats({}, {0.f}), ints({}, {1}).cast(DType::Bool)},
                      {false, true, true}, 2));
}

TEST(GradTensor, Transpose) {
  check_gradients(one("Transpose", 13, {{"perm", Ints{2, 0, 1}}}, {rnd({2, 3, 5})}));
  check_gradients(one("Transpose", 13, {}, {rnd({3, 5})}));                                   // reversed dims
  check_gradients(one("Transpose", 13, {{"perm", Ints{1, 0, 3, 2}}}, {rnd({3, 2, 7, 5}, 4)}));  // directions
  check_gradients(one("Transpose", 13, {{"perm", Ints{2, 1, 0}}}, {rnd({41, 37, 45}, 5)}));    // threaded
}

TEST(GradTensor, Concat) {
  check_gradients(one("Concat", 13, {{"axis", int64_t{-1}}}, {rnd({2, 3, 1}, 1), rnd({2, 3, 4}, 2), rnd({2, 3, 2}, 3)}));
  check_gradients(one("Concat", 13, {{"axis", int64_t{0}}}, {rnd({1, 5}, 1), rnd({3, 5}, 2)}));
  check_gradients(one("Concat", 4, {{"axis", int64_t{1}}}, {rnd({2, 2, 3}, 1), rnd({2, 5, 3}, 2)}));
}

TEST(GradTensor, Split) {
  check_gradients(one("Split", 13, {{"axis", int64_t{1}}}, {rnd({2, 6, 3}), ints({3}, {1, 3, 2})}, {false, true}, 3));
  check_gradients(one("Split", 11, {{"axis", int64_t{-1}}, {"split", Ints{4, 1}}}, {rnd({3, 5})}, {}, 2));
  check_gradients(one("Split", 18, {{"axis", int64_t{0}}, {"num_outputs", int64_t{3}}}, {rnd({7, 2})}, {}, 3));  // 3, 3, 1
  check_gradients(one("Split", 13, {{"axis", int64_t{0}}}, {rnd({6, 2})}, {}, 2));  // equal halves
}

TEST(GradTensor, Slice) {
  // starts, ends, axes, steps: negative axes, steps > 1 and < 0, clamped ends.
  check_gradients(one("Slice", 13, {},
                      {rnd({4, 5, 6}), ints({2}, {1, -1}), ints({2}, {100, 0}), ints({2}, {-1, 0}), ints({2}, {2, -2})},
                      {false, true, true, true, true}));
  check_gradients(one("Slice", 13, {}, {rnd({7, 3}), ints({1}, {-2}), ints({1}, {-100}), ints({1}, {0}), ints({1}, {-1})},
                      {false, true, true, true, true}));
  check_gradients(one("Slice", 13, {}, {rnd({5, 9}), ints({1}, {1}), ints({1}, {8}), Tensor(), ints({1}, {3})},
                      {false, true, true, true, true}));  // axes omitted
  check_gradients(one("Slice", 9, {{"starts", Ints{1}}, {"ends", Ints{-1}}, {"axes", Ints{1}}}, {rnd({3, 6})}));
}

TEST(GradTensor, Gather) {
  // Duplicate and negative indices: the gradient of a row read twice is the sum of both.
  check_gradients(one("Gather", 13, {{"axis", int64_t{1}}}, {rnd({2, 4, 3}), ints({2, 3}, {0, -1, 3, 0, 2, 0})}));
  check_gradients(one("Gather", 13, {{"axis", int64_t{0}}}, {rnd({5, 3}), ints({}, {-2})}));
  check_gradients(one("Gather", 13, {{"axis", int64_t{-1}}}, {rnd({3, 5}), ints({4}, {4, 4, 4, 1})}));
  check_gradients(one("Gather", 13, {{"axis", int64_t{0}}}, {rnd({50, 40}, 3), ints({6}, {3, 3, 49, 0, -1, 7})}));
}

TEST(GradTensor, GatherElementsAndND) {
  check_gradients(one("GatherElements", 13, {{"axis", int64_t{-1}}}, {rnd({3, 4}), ints({3, 5}, {0, 1, 1, -1, 3, 2, 2, 2, 0, 1, 3, 3, 0, 0, 1})}));
  check_gradients(one("GatherElements", 13, {{"axis", int64_t{0}}}, {rnd({3, 2}), ints({4, 2}, {0, 2, 2, 2, 1, 0, 0, 0})}));
  check_gradients(one("GatherND", 13, {}, {rnd({3, 4, 2}), ints({4, 2}, {0, 1, 2, 3, 0, 1, -1, 0})}));
  check_gradients(one("GatherND", 13, {{"batch_dims", int64_t{1}}}, {rnd({2, 3, 4}), ints({2, 2, 1}, {0, 2, 1, 1})}));
}

TEST(GradTensor, ExpandTile) {
  check_gradients(one("Expand", 13, {}, {rnd({3, 1}), ints({3}, {2, 3, 4})}, {false, true}));
  check_gradients(one("Expand", 13, {}, {rnd({1, 4, 1}), ints({3}, {5, 4, 30})}, {false, true}));
  check_gradients(one("Tile", 13, {}, {rnd({2, 3}), ints({2}, {3, 2})}, {false, true}));
  check_gradients(one("Tile", 13, {}, {rnd({2, 1, 3}), ints({3}, {1, 4, 1})}, {false, true}));
}

TEST(GradTensor, Pad) {
  // Constant mode: the constant value's gradient is the sum over the padded cells.
  check_gradients(one("Pad", 13, {}, {rnd({2, 3}), ints({4}, {1, 0, 2, 2}), floats({}, {0.5f})}, {false, true, false}));
  check_gradients(one("Pad", 13, {{"mode", std::string("reflect")}}, {rnd({3, 4}), ints({4}, {2, 3, 1, 2})}, {false, true}));
  check_gradients(one("Pad", 13, {{"mode", std::string("reflect")}}, {rnd({2, 3, 5}), ints({6}, {0, 0, 2, 0, 1, 4})}, {false, true}));
  check_gradients(one("Pad", 13, {{"mode", std::string("edge")}}, {rnd({3, 4}), ints({4}, {2, 1, 0, 3})}, {false, true}));
  check_gradients(one("Pad", 19, {{"mode", std::string("wrap")}}, {rnd({3, 4}), ints({4}, {1, 2, 3, 1})}, {false, true}));
  check_gradients(one("Pad", 13, {}, {rnd({4, 5}), ints({4}, {-1, 1, 1, -2})}, {false, true}));  // crop + pad
  check_gradients(one("Pad", 18, {{"mode", std::string("reflect")}}, {rnd({2, 5}), ints({2}, {3, 2}), Tensor(), ints({1}, {-1})},
                      {false, true, true, true}));  // axes input
  check_gradients(one("Pad", 2, {{"pads", Ints{0, 1, 1, 0}}, {"value", 1.5f}}, {rnd({3, 4})}));
  check_gradients(one("Pad", 13, {{"mode", std::string("reflect")}}, {rnd({2, 8, 30, 30}, 9), ints({8}, {0, 0, 2, 2, 0, 0, 3, 1})},
                      {false, true}));  // threaded rows (not injective: one thread)
  check_gradients(one("Pad", 13, {}, {rnd({2, 8, 30, 30}, 9), ints({8}, {0, 1, 2, 2, 0, 0, 3, 1}), floats({}, {-1.f})},
                      {false, true, false}));
}

TEST(GradTensor, DepthSpace) {
  check_gradients(one("DepthToSpace", 13, {{"blocksize", int64_t{2}}}, {rnd({1, 8, 2, 3})}));
  check_gradients(one("DepthToSpace", 13, {{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}}, {rnd({2, 4, 3, 2})}));
  check_gradients(one("SpaceToDepth", 13, {{"blocksize", int64_t{2}}}, {rnd({2, 2, 4, 6})}));
}

// Resize: `in` shape [1, 2, H, W]; sizes or scales.
GradCase resize(Attrs a, Tensor x, std::vector<float> scales, Ints sizes = {}, int64_t opset = 13) {
  std::vector<Tensor> in{x, Tensor(), Tensor()};
  std::vector<bool> c{false, true, true};
  if (!scales.empty()) in[2] = floats({static_cast<int64_t>(scales.size())}, scales);
  if (!sizes.empty()) {
    in.push_back(ints({static_cast<int64_t>(sizes.size())}, sizes));
    c.push_back(true);
  }
  return one("Resize", opset, std::move(a), in, c);
}

TEST(GradTensor, ResizeNearest) {
  const std::pair<const char*, const char*> modes[] = {
      {"half_pixel", "round_prefer_floor"}, {"asymmetric", "floor"},     {"align_corners", "round_prefer_ceil"},
      {"tf_half_pixel_for_nn", "ceil"},    {"pytorch_half_pixel", "round_prefer_floor"},
  };
  for (const auto& [coord, nearest] : modes) {
    SCOPED_TRACE(std::string(coord) + " / " + nearest);
    const Attrs a{{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string(coord)},
                  {"nearest_mode", std::string(nearest)}};
    check_gradients(resize(a, rnd({1, 2, 3, 4}), {1.f, 1.f, 2.f, 1.5f}));  // up (several outputs read one input)
    check_gradients(resize(a, rnd({1, 2, 6, 5}), {1.f, 1.f, 0.5f, 0.6f}));  // down (some inputs unread)
    check_gradients(resize(a, rnd({1, 2, 5, 3}), {}, {1, 2, 3, 7}));       // sizes: one axis down, one up
  }
  check_gradients(one("Upsample", 9, {{"mode", std::string("nearest")}}, {rnd({1, 2, 2, 3}), floats({4}, {1, 1, 2, 3})}, {false, true}));
  check_gradients(one("Upsample", 7, {{"mode", std::string("nearest")}, {"scales", std::vector<float>{1, 1, 3, 2}}}, {rnd({1, 1, 2, 3})}));
  check_gradients(resize({{"mode", std::string("nearest")}}, rnd({2, 3, 17, 19}, 7), {1.f, 1.f, 2.f, 2.f}));  // directions
  // Resize-10: scales only, asymmetric coordinates, "simple" nearest rounding (ceil when shrinking).
  check_gradients(one("Resize", 10, {{"mode", std::string("nearest")}}, {rnd({1, 1, 3, 4}), floats({4}, {1, 1, 2.f, 0.5f})}, {false, true}));
  check_gradients(one("Resize", 10, {{"mode", std::string("linear")}}, {rnd({1, 1, 3, 4}), floats({4}, {1, 1, 0.7f, 1.5f})}, {false, true}));
}

TEST(GradTensor, ResizeLinear) {
  for (const char* coord : {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"}) {
    SCOPED_TRACE(coord);
    const Attrs a{{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string(coord)}};
    check_gradients(resize(a, rnd({1, 2, 3, 4}), {1.f, 1.f, 2.f, 1.5f}));
    check_gradients(resize(a, rnd({1, 2, 7, 5}), {1.f, 1.f, 0.5f, 0.6f}));
    check_gradients(resize(a, rnd({1, 1, 4, 3}), {}, {1, 1, 3, 8}));
    check_gradients(resize(a, rnd({2, 3, 9, 11}, 3), {}, {2, 3, 20, 6}));  // directions
  }
  check_gradients(one("Upsample", 9, {{"mode", std::string("linear")}}, {rnd({1, 2, 2, 3}), floats({4}, {1, 1, 2, 2})}, {false, true}));
  check_gradients(one("Upsample", 7, {{"mode", std::string("bilinear")}, {"scales", std::vector<float>{1, 1, 2, 2}}}, {rnd({1, 1, 3, 2})}));
  // Opset 18: sizes for some axes only, with an aspect-ratio policy.
  check_gradients(one("Resize", 18, {{"mode", std::string("linear")}, {"axes", Ints{2, 3}}, {"keep_aspect_ratio_policy", std::string("not_larger")}},
                      {rnd({1, 2, 4, 6}), Tensor(), Tensor(), ints({2}, {7, 7})}, {false, true, true, true}));
  // 1-D and 3-D linear (the forward is separable along any rank).
  check_gradients(resize({{"mode", std::string("linear")}}, rnd({5}), {}, {9}));
  check_gradients(resize({{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}},
                         rnd({2, 3, 2}), {}, {3, 5, 4}));
}

TEST(GradTensor, ResizeCubicAndCrop) {
  check_gradients(resize({{"mode", std::string("cubic")}}, rnd({1, 1, 4, 5}), {1.f, 1.f, 2.f, 1.4f}));
  check_gradients(resize({{"mode", std::string("cubic")}, {"exclude_outside", int64_t{1}}, {"cubic_coeff_a", -0.5f}},
                         rnd({1, 1, 6, 5}), {1.f, 1.f, 0.5f, 1.6f}));
  check_gradients(resize({{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string("align_corners")}},
                         rnd({1, 2, 4, 3}), {}, {1, 2, 7, 2}));
  // tf_crop_and_resize: outputs outside the ROI are the extrapolation value (no gradient to x).
  GradCase c = resize({{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                       {"extrapolation_value", 2.f}},
                      rnd({1, 1, 4, 5}), {}, {1, 1, 5, 4});
  c.inputs[1] = floats({8}, {0, 0, -0.2f, 0.1f, 1, 1, 0.9f, 1.3f});
  check_gradients(c);
}

TEST(GradTensor, Einsum) {
  auto eq = [](const char* e) { return Attrs{{"equation", std::string(e)}}; };
  check_gradients(one("Einsum", 12, eq("ij,jk->ik"), {rnd({2, 3}, 1), rnd({3, 4}, 2)}));
  check_gradients(one("Einsum", 12, eq("bij,bkj->bik"), {rnd({2, 3, 4}, 1), rnd({2, 5, 4}, 2)}));
  check_gradients(one("Einsum", 12, eq("ii->i"), {rnd({4, 4})}));                      // diagonal
  check_gradients(one("Einsum", 12, eq("ii"), {rnd({3, 3})}));                         // trace
  check_gradients(one("Einsum", 12, eq("ij->"), {rnd({3, 5})}));                       // full sum
  check_gradients(one("Einsum", 12, eq("ij->ji"), {rnd({3, 5})}));
  check_gradients(one("Einsum", 12, eq("i,i->"), {rnd({6}, 1), rnd({6}, 2)}));
  check_gradients(one("Einsum", 12, eq("i,j->ij"), {rnd({3}, 1), rnd({4}, 2)}));
  check_gradients(one("Einsum", 12, eq("...ij,...jk->...ik"), {rnd({1, 2, 3}, 1), rnd({4, 3, 2}, 2)}));  // broadcast batch
  check_gradients(one("Einsum", 12, eq("ij,jk,kl->il"), {rnd({2, 3}, 1), rnd({3, 2}, 2), rnd({2, 4}, 3)}));
  check_gradients(one("Einsum", 12, eq("bhqd,bhkd->bhqk"), {rnd({2, 3, 5, 8}, 1), rnd({2, 3, 6, 8}, 2)}));  // directions
}

TEST(GradTensor, Scatter) {
  const Tensor idx = ints({2, 3}, {1, 0, 2, 1, 2, 2});  // duplicates in column 2 (rows 0, 1 → 2)
  for (const char* red : {"none", "add", "mul", "max", "min"}) {
    SCOPED_TRACE(red);
    check_gradients(one("ScatterElements", 18, {{"axis", int64_t{0}}, {"reduction", std::string(red)}},
                        {distinct({3, 3}, 1), idx, distinct({2, 3}, 2, 0.05f)}));
  }
  // Duplicate targets without a reduction: the last update wins, the earlier one gets nothing.
  check_gradients(one("ScatterElements", 13, {{"axis", int64_t{-1}}}, {rnd({2, 4}), ints({2, 2}, {3, 3, -1, 0}), rnd({2, 2}, 2)}));
  check_gradients(one("Scatter", 9, {{"axis", int64_t{1}}}, {rnd({2, 4}), ints({2, 2}, {1, 3, 0, 2}), rnd({2, 2}, 2)}));
  for (const char* red : {"none", "add", "mul", "max"}) {
    SCOPED_TRACE(red);
    check_gradients(one("ScatterND", 18, {{"reduction", std::string(red)}},
                        {distinct({4, 3}, 1), ints({3, 1}, {2, 0, 2}), distinct({3, 3}, 2, 0.05f)}));
  }
  check_gradients(one("ScatterND", 13, {}, {rnd({2, 3, 2}), ints({2, 2}, {0, 1, 1, -1}), rnd({2, 2}, 2)}));
}

TEST(GradTensor, SelectionOps) {
  const Tensor cond = ints({4}, {1, 0, 1, 1}).cast(DType::Bool);
  check_gradients(one("Compress", 11, {{"axis", int64_t{1}}}, {rnd({2, 4, 3}), cond}, {false, true}));
  check_gradients(one("Compress", 11, {}, {rnd({2, 3}), ints({5}, {0, 1, 1, 0, 1}).cast(DType::Bool)}, {false, true}));
  check_gradients(one("ReverseSequence", 10, {{"time_axis", int64_t{0}}, {"batch_axis", int64_t{1}}},
                      {rnd({4, 3, 2}), ints({3}, {4, 1, 2})}));
  check_gradients(one("ReverseSequence", 10, {{"time_axis", int64_t{1}}, {"batch_axis", int64_t{0}}},
                      {rnd({2, 5}), ints({2}, {3, 5})}));
  check_gradients(one("Trilu", 14, {}, {rnd({2, 3, 4})}));
  check_gradients(one("Trilu", 14, {{"upper", int64_t{0}}}, {rnd({4, 3}), ints({}, {-1})}, {false, true}));
  check_gradients(one("Trilu", 14, {}, {rnd({3, 5}), ints({}, {2})}, {false, true}));
  // TopK: the values output's gradient goes to the selected positions (indices output: none).
  check_gradients(one("TopK", 11, {{"axis", int64_t{1}}}, {distinct({2, 5, 3}, 3), ints({1}, {2})}, {false, true}, 2));
  check_gradients(one("TopK", 11, {{"largest", int64_t{0}}}, {distinct({3, 6}, 4), ints({1}, {4})}, {false, true}, 2));
  check_gradients(one("TopK", 1, {{"k", int64_t{2}}}, {distinct({7}, 5)}, {}, 2));
}

TEST(GradTensor, CumSum) {
  for (int64_t exclusive : {0, 1})
    for (int64_t reverse : {0, 1}) {
      SCOPED_TRACE("exclusive " + std::to_string(exclusive) + " reverse " + std::to_string(reverse));
      check_gradients(one("CumSum", 14, {{"exclusive", exclusive}, {"reverse", reverse}}, {rnd({3, 5}), ints({}, {-1})}, {false, true}));
      check_gradients(one("CumSum", 14, {{"exclusive", exclusive}, {"reverse", reverse}}, {rnd({4, 2, 3}), ints({1}, {0})}, {false, true}));
    }
}

TEST(GradTensor, CastAndValueOps) {
  check_gradients(one("Cast", 13, {{"to", int64_t{11}}}, {rnd({3, 4})}));  // float32 → float64
  check_gradients(one("Cast", 13, {{"to", int64_t{1}}}, {rnd({3, 4}).cast(DType::Float64)}));
  // CastLike's target only gives a dtype: its gradient is zero (as is the finite difference).
  check_gradients(one("CastLike", 15, {}, {rnd({5}), rnd({1}, 2).cast(DType::Float64)}));
  // OneHot: the gradient of values [off, on] sums the output gradient over the cold and hot cells.
  check_gradients(one("OneHot", 11, {{"axis", int64_t{-1}}}, {ints({2, 3}, {0, 2, -1, 5, 1, 1}), ints({}, {4}), floats({2}, {0.25f, 2.f})},
                      {false, true, false}));
  // EyeLike reads only its input's shape: the gradient is zero (and so is the finite difference).
  check_gradients(one("EyeLike", 9, {{"k", int64_t{1}}}, {rnd({3, 4})}));
}

// Split with an omitted ("") middle output: the later outputs' gradients land at their own offsets
// (the backward takes every output's extent from shape inference). Expected values by hand.
TEST(GradTensor, SplitWithOmittedOutput) {
  netlens::Graph g;
  g.opsets[""] = 13;
  g.initializers["split"] = ints({3}, {1, 2, 3});
  g.inputs.push_back(netlens::ValueInfo{"x", DType::Float32, {netlens::Dim{6, ""}}, true});
  netlens::Node n;
  n.name = "split";
  n.op_type = "Split";
  n.attrs["axis"] = int64_t{0};
  n.inputs = {"x", "split"};
  n.outputs = {"a", "", "c"};
  g.nodes.push_back(n);
  auto cpu = netlens::make_cpu_backend();
  netlens::Session s(std::move(g), {cpu.get()});
  s.run({{"x", floats({6}, {0, 1, 2, 3, 4, 5})}});
  const Tensor c = s.activations().fetch("c");
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(c.data_as<float>()[i], static_cast<float>(3 + i)) << "forward c, element " << i;
  s.backward({{"a", floats({1}, {10})}, {"c", floats({3}, {1, 2, 3})}});
  const Tensor dx = s.gradients().fetch("x");
  const std::vector<float> want{10, 0, 0, 1, 2, 3};
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(dx.data_as<float>()[i], want[static_cast<size_t>(i)]) << "element " << i;
}

// TopK whose indices output the model omits: the backward recovers the selected positions.
TEST(GradTensor, TopKWithoutIndicesOutput) {
  netlens::Graph g;
  g.opsets[""] = 11;
  g.initializers["k"] = ints({1}, {2});
  g.inputs.push_back(netlens::ValueInfo{"x", DType::Float32, {netlens::Dim{2, ""}, netlens::Dim{5, ""}}, true});
  netlens::Node n;
  n.name = "topk";
  n.op_type = "TopK";
  n.inputs = {"x", "k"};
  n.outputs = {"v", ""};
  g.nodes.push_back(n);
  auto cpu = netlens::make_cpu_backend();
  netlens::Session s(std::move(g), {cpu.get()});
  s.run({{"x", floats({2, 5}, {1, 5, 3, 4, 2, 0.5f, 0.1f, 0.9f, 0.3f, 0.7f})}});
  s.backward({{"v", floats({2, 2}, {1, 2, 3, 4})}});
  const Tensor dx = s.gradients().fetch("x");
  const std::vector<float> want{0, 1, 0, 2, 0, 0, 0, 3, 0, 4};
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(dx.data_as<float>()[i], want[static_cast<size_t>(i)]) << "element " << i;
}

// Weight gradients (GradientOptions::weights): an embedding table read by Gather and a class token
// concatenated, as in ViT-style models. (A node reading only constants is folded: no gradient flows.)
TEST(GradTensor, InitializerGradients) {
  GradCase c = one("Gather", 13, {{"axis", int64_t{0}}}, {rnd({6, 4}), ints({5}, {2, 0, 2, 5, -1})}, {true, false});
  c.weights = true;
  check_gradients(c);
  c = one("Concat", 13, {{"axis", int64_t{1}}}, {rnd({2, 1, 3}, 1), rnd({2, 4, 3}, 2)}, {true, false});
  c.weights = true;
  check_gradients(c);
}

// Sizes above the kernels' threading thresholds (checked along random directions), so the
// OpenMP paths are exercised: a race or a wrong partition shows up as a gradient error.
TEST(GradTensor, ThreadedPaths) {
  check_gradients(one("Gather", 13, {{"axis", int64_t{1}}}, {rnd({40, 30, 64}, 1), ints({5}, {3, 3, -1, 0, 7})}));
  check_gradients(one("Slice", 13, {}, {rnd({4, 130, 150}, 2), ints({1}, {-1}), ints({1}, {-200}), ints({1}, {1}), ints({1}, {-1})},
                      {false, true, true, true, true}));
  check_gradients(one("Concat", 13, {{"axis", int64_t{2}}}, {rnd({3, 40, 300}, 1), rnd({3, 40, 301}, 2)}));
  check_gradients(resize({{"mode", std::string("linear")}}, rnd({1, 4, 60, 70}, 3), {1.f, 1.f, 2.f, 2.f}));
  check_gradients(resize({{"mode", std::string("cubic")}}, rnd({1, 4, 140, 130}, 3), {1.f, 1.f, 0.5f, 0.75f}));
  check_gradients(one("Pad", 13, {}, {rnd({2, 8, 60, 60}, 4), ints({8}, {0, 1, 2, 2, 0, 0, 3, 1}), floats({}, {0.5f})},
                      {false, true, false}));
  check_gradients(one("Trilu", 14, {{"upper", int64_t{0}}}, {rnd({2, 200, 190}, 5), ints({}, {3})}, {false, true}));
  check_gradients(one("CumSum", 14, {{"reverse", int64_t{1}}}, {rnd({300, 250}, 6), ints({}, {0})}, {false, true}));
  check_gradients(one("Einsum", 12, {{"equation", std::string("...ij,...jk->...ik")}}, {rnd({1, 20, 30}, 1), rnd({8, 30, 20}, 2)}));
}

// Float64 models: the backend hands the kernels float32 copies of the forward values, both for
// dtype-generic ops (Gather, Concat: bytes moved in the model's dtype) and float32 kernels (Resize).
TEST(GradTensor, Float64Inputs) {
  auto d = [](Shape s, uint32_t seed) { return rnd(std::move(s), seed).cast(DType::Float64); };
  check_gradients(one("Gather", 13, {{"axis", int64_t{1}}}, {d({2, 4}, 1), ints({3}, {3, 0, 3})}));
  check_gradients(one("Concat", 13, {{"axis", int64_t{0}}}, {d({1, 3}, 1), d({2, 3}, 2)}));
  check_gradients(one("Pad", 13, {{"mode", std::string("reflect")}}, {d({3, 4}, 3), ints({4}, {1, 2, 0, 1})}, {false, true}));
  check_gradients(resize({{"mode", std::string("linear")}}, d({1, 1, 3, 4}, 4), {1.f, 1.f, 2.f, 0.5f}));
}

// Every forward op of the tensor family has a gradient entry or a documented reason for none,
// and nothing is in both: a new tensor op without a gradient fails here.
TEST(GradTensor, EveryForwardOpAccountedFor) {
  netlens::cpu::CpuOpTable fwd;
  netlens::cpu::register_tensor_ops(fwd);
  netlens::cpu::CpuGradTable grads;
  netlens::cpu::register_tensor_grads(grads);
  const auto& none = netlens::cpu::grad::tensor_ops_without_gradient();
  ASSERT_GE(fwd.size(), 40u);
  for (const auto& [op, unused] : fwd) {
    const bool has = grads.count(op) != 0, listed = none.count(op) != 0;
    EXPECT_TRUE(has != listed) << op << (has ? ": both a gradient and a reason for none" : ": neither a gradient nor a documented reason");
  }
  for (const auto& [op, unused] : grads) EXPECT_TRUE(fwd.count(op)) << op << ": a gradient for an op the forward table lacks";
  for (const auto& [op, why] : none) {
    EXPECT_TRUE(fwd.count(op)) << op << ": documented without gradient but not a forward op";
    EXPECT_FALSE(why.empty()) << op;
  }
}

}  // namespace
