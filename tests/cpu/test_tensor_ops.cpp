// "Tensor" family CPU ops (shape inference + kernels) against direct computations.
//
// Every op runs through the real path: the OpRegistry shape function, then the CPU backend's
// unsupported_reason/plan (with its float16 → float32 wrapper for Resize/Einsum) and Kernel::run.
// The references below are written independently of the kernels: per-element index arithmetic
// (unravel the output index, compute the source index), the ONNX reference formulas for Resize
// (nearest-neighbour selection by distance on an edge-padded axis, as onnx's resize.py does), and
// plain nested loops for Einsum.
// Tolerances: data movement, Cast, Pad, nearest Resize, integer ops: exact (bytewise).
// Linear/cubic Resize: |got - ref| <= 1e-5 + 1e-5 |ref| (float32 vs double reference).
// Einsum: 1e-4 relative to the sum of |products| (float32 accumulation order differs).
// OrtCrossCheck: single-node models through onnxruntime-node (scripts/ort/run.js, when
// scripts/fetch-models.sh installed it) vs the whole netlens path (loader, Session, CPU backend):
// |got - ort| <= 1e-5 + 1e-5 |ort|. It covers the semantics the ONNX spec leaves to runtimes
// (Resize-10/Upsample nearest rounding, float32 coordinates, out-of-range Cast) and skips when
// node or onnxruntime-node is missing.
// Longer than about 600 lines: one short case per op of the family, all on this
// file's node-building and reference helpers; splitting it would only move those helpers to a header.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>  // defines ONNX_API, then includes onnx-ml.pb.h

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <variant>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;

namespace {

Backend& cpu() {
  static std::unique_ptr<Backend> b = make_cpu_backend();
  return *b;
}

// Runs one node with inputs x0..xn and `n_out` outputs y0..: shape inference, backend check, plan,
// run. Undefined input tensors are omitted optional inputs; inputs in `consts` are constants.
std::vector<Tensor> run_op(const std::string& op, std::map<std::string, AttrValue> attrs, int64_t opset,
                           const std::vector<Tensor>& ins, const std::set<size_t>& consts = {}, size_t n_out = 1) {
  Node node;
  node.op_type = op;
  node.name = op + "_test";
  node.attrs = std::move(attrs);
  for (size_t i = 0; i < ins.size(); ++i) node.inputs.push_back(ins[i].defined() ? "x" + std::to_string(i) : "");
  for (size_t i = 0; i < n_out; ++i) node.outputs.push_back("y" + std::to_string(i));
  std::vector<TensorInfo> infos(ins.size());
  std::vector<const TensorInfo*> ptrs(ins.size(), nullptr);
  std::vector<const Tensor*> cptrs(ins.size(), nullptr);
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i].defined()) continue;
    infos[i] = {ins[i].dtype(), ins[i].shape()};
    ptrs[i] = &infos[i];
    if (consts.count(i)) cptrs[i] = &ins[i];
  }
  const InferFn* fn = OpRegistry::global().find(op);
  if (!fn) throw Error(ErrorKind::Unsupported, "no shape function for " + op);
  std::vector<TensorInfo> outs = (*fn)(InferContext{node, opset, ptrs, cptrs});
  outs.resize(n_out);
  // The Session refuses outputs no machine can hold before planning; so do we (1e9 elements).
  for (const TensorInfo& o : outs) {
    double elems = 1;
    for (int64_t d : o.shape) elems *= static_cast<double>(d);
    if (elems > 1e9) throw Error(ErrorKind::Memory, op + ": output " + shape_str(o.shape) + " too large");
  }
  NodeContext ctx{node, opset, {}, outs, cptrs};
  for (size_t i = 0; i < ins.size(); ++i) ctx.inputs.push_back(ins[i].defined() ? infos[i] : TensorInfo{});
  if (auto why = cpu().unsupported_reason(ctx)) throw Error(ErrorKind::Unsupported, op + ": " + *why);
  std::unique_ptr<Kernel> k = cpu().plan(ctx);
  std::vector<TensorView> iv, ov;
  for (const Tensor& t : ins)
    iv.push_back(t.defined() ? TensorView{t.dtype(), t.shape(), const_cast<void*>(t.data())} : TensorView{});
  std::vector<Tensor> results;
  for (const TensorInfo& o : outs) results.emplace_back(o.dtype, o.shape);
  for (Tensor& r : results) ov.push_back(TensorView{r.dtype(), r.shape(), r.data()});
  k->run(iv, ov);
  return results;
}

Tensor run1(const std::string& op, std::map<std::string, AttrValue> attrs, int64_t opset,
            const std::vector<Tensor>& ins, const std::set<size_t>& consts = {}) {
  return run_op(op, std::move(attrs), opset, ins, consts).at(0);
}

Tensor random_tensor(DType dt, const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t(dt, shape);
  std::uniform_real_distribution<float> uf(-4.f, 4.f);
  std::uniform_int_distribution<int> ui(-100, 100);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dt) {
      case DType::Float32: t.data_as<float>()[i] = uf(rng); break;
      case DType::Float64: t.data_as<double>()[i] = uf(rng); break;
      case DType::Float16: t.data_as<uint16_t>()[i] = float_to_half(uf(rng)); break;
      case DType::Int64: t.data_as<int64_t>()[i] = ui(rng) * 1000003LL; break;
      case DType::Int32: t.data_as<int32_t>()[i] = ui(rng); break;
      case DType::UInt8: t.data_as<uint8_t>()[i] = static_cast<uint8_t>(ui(rng) + 100); break;
      case DType::Bool: t.data_as<uint8_t>()[i] = static_cast<uint8_t>(ui(rng) > 0); break;
      default: ADD_FAILURE() << "random_tensor: dtype not handled";
    }
  }
  return t;
}

std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (int64_t a = static_cast<int64_t>(s.size()) - 1; a >= 0; --a) {
    idx[static_cast<size_t>(a)] = i % s[static_cast<size_t>(a)];
    i /= s[static_cast<size_t>(a)];
  }
  return idx;
}

int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t i = 0;
  for (size_t a = 0; a < s.size(); ++a) i = i * s[a] + idx[a];
  return i;
}

// Builds the expected tensor element by element: src_index(out_index) → source flat index.
Tensor gather_ref(const Tensor& src, const Shape& out_shape, const std::function<int64_t(const std::vector<int64_t>&)>& f) {
  Tensor out(src.dtype(), out_shape);
  const size_t es = dtype_size(src.dtype());
  for (int64_t i = 0; i < out.numel(); ++i)
    std::memcpy(static_cast<char*>(out.data()) + i * es, static_cast<const char*>(src.data()) + f(unravel(i, out_shape)) * es, es);
  return out;
}

void expect_same(const Tensor& got, const Tensor& exp, const std::string& what = "") {
  ASSERT_EQ(got.dtype(), exp.dtype()) << what;
  ASSERT_EQ(shape_str(got.shape()), shape_str(exp.shape())) << what;
  const size_t es = dtype_size(got.dtype());
  for (int64_t i = 0; i < got.numel(); ++i)
    if (std::memcmp(static_cast<const char*>(got.data()) + i * es, static_cast<const char*>(exp.data()) + i * es, es) != 0) {
      ADD_FAILURE() << what << " element " << i << ": got " << got.get_f64(i) << ", expected " << exp.get_f64(i);
      return;
    }
}

void expect_close(const Tensor& got, const std::vector<double>& exp, double atol, double rtol, const std::string& what = "") {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(exp.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.get_f64(i), e = exp[static_cast<size_t>(i)];
    if (!(std::fabs(g - e) <= atol + rtol * std::fabs(e))) {
      ADD_FAILURE() << what << " element " << i << ": got " << g << ", expected " << e;
      return;
    }
  }
}

// (Empty vectors are built directly: Tensor::from_* would memcpy from a null data pointer.)
Tensor i64(std::vector<int64_t> v) { return v.empty() ? Tensor(DType::Int64, {0}) : Tensor::from_i64({static_cast<int64_t>(v.size())}, v); }
Tensor f32(std::vector<float> v) { return v.empty() ? Tensor(DType::Float32, {0}) : Tensor::from_f32({static_cast<int64_t>(v.size())}, v); }

const std::vector<DType> kMoveTypes = {DType::Float32, DType::Float16, DType::Int64, DType::UInt8, DType::Bool};

// ---------------------------------------------------------------------------------------------
TEST(Transpose, RandomPermutationsAllDtypes) {
  std::mt19937 rng(7);
  const std::vector<Shape> shapes = {{5}, {3, 4}, {2, 3, 4}, {2, 1, 3, 5}, {2, 3, 1, 4, 3}, {3, 33, 65}};
  uint32_t seed = 1;
  for (const Shape& s : shapes)
    for (DType dt : kMoveTypes) {
      std::vector<int64_t> perm(s.size());
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      const Tensor x = random_tensor(dt, s, seed++);
      Shape os;
      for (int64_t p : perm) os.push_back(s[static_cast<size_t>(p)]);
      const Tensor exp = gather_ref(x, os, [&](const std::vector<int64_t>& o) {
        std::vector<int64_t> in(s.size());
        for (size_t k = 0; k < perm.size(); ++k) in[static_cast<size_t>(perm[k])] = o[k];
        return ravel(in, s);
      });
      expect_same(run1("Transpose", {{"perm", perm}}, 13, {x}), exp, "perm " + shape_str(perm) + " of " + shape_str(s));
    }
}

// 4-byte elements move in 16x16 register blocks (tensor_util.cpp), the ragged edges of each 32x32
// tile element by element: shapes with full blocks and odd edges on both sides, ViT's key
// transpose, NaN payloads and -0 (bits move unchanged), float32 and int32.
TEST(Transpose, FourByteBlocksAndEdges) {
  struct Case {
    Shape s;
    std::vector<int64_t> perm;
  };
  const Case cases[] = {{{12, 197, 64}, {0, 2, 1}}, {{37, 50}, {1, 0}}, {{3, 45, 70}, {2, 1, 0}},
                        {{2, 33, 5, 48}, {0, 3, 2, 1}}, {{16, 16}, {1, 0}}};
  uint32_t seed = 300;
  for (const Case& c : cases)
    for (DType dt : {DType::Float32, DType::Int32}) {
      Tensor x = random_tensor(dt, c.s, seed++);
      if (dt == DType::Float32) {
        const uint32_t nan_payload = 0x7fc01234u, neg_zero = 0x80000000u;
        std::memcpy(x.data_as<float>(), &nan_payload, 4);
        std::memcpy(x.data_as<float>() + x.numel() - 1, &neg_zero, 4);
      }
      Shape os;
      for (int64_t p : c.perm) os.push_back(c.s[static_cast<size_t>(p)]);
      const Tensor exp = gather_ref(x, os, [&](const std::vector<int64_t>& o) {
        std::vector<int64_t> in(c.s.size());
        for (size_t k = 0; k < c.perm.size(); ++k) in[static_cast<size_t>(c.perm[k])] = o[k];
        return ravel(in, c.s);
      });
      const Tensor got = run1("Transpose", {{"perm", c.perm}}, 13, {x});
      ASSERT_EQ(got.shape(), os);
      ASSERT_EQ(std::memcmp(got.data(), exp.data(), exp.nbytes()), 0) << "perm " << shape_str(c.perm) << " of " << shape_str(c.s);
    }
}

TEST(Transpose, DefaultReversesAndLargeIsParallel) {
  const Tensor x = random_tensor(DType::Float32, {2, 64, 96, 40}, 3);
  const Shape os = {40, 96, 64, 2};
  const Tensor exp = gather_ref(x, os, [&](const std::vector<int64_t>& o) { return ravel({o[3], o[2], o[1], o[0]}, x.shape()); });
  expect_same(run1("Transpose", {}, 13, {x}), exp);
  // NCHW → NHWC on a big float16 activation: inner runs are strided.
  const Tensor h = random_tensor(DType::Float16, {1, 64, 56, 56}, 4);
  const Tensor exp2 = gather_ref(h, {1, 56, 56, 64}, [&](const std::vector<int64_t>& o) { return ravel({o[0], o[3], o[1], o[2]}, h.shape()); });
  expect_same(run1("Transpose", {{"perm", std::vector<int64_t>{0, 2, 3, 1}}}, 13, {h}), exp2);
}

TEST(Reshape, ZeroMinusOneAllowzero) {
  const Tensor x = random_tensor(DType::Float16, {2, 3, 4}, 5);
  Tensor y = run1("Reshape", {}, 13, {x, i64({0, -1, 2})}, {1});
  EXPECT_EQ(y.shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(y.dtype(), DType::Float16);
  EXPECT_EQ(std::memcmp(y.data(), x.data(), x.nbytes()), 0);
  // allowzero=1: 0 is a real zero-sized dim.
  const Tensor e(DType::Float32, {0, 3});
  EXPECT_EQ(run1("Reshape", {{"allowzero", int64_t{1}}}, 14, {e, i64({3, 0})}, {1}).shape(), (Shape{3, 0}));
  EXPECT_THROW(run1("Reshape", {}, 13, {x, i64({5, -1})}, {1}), Error);
  EXPECT_THROW(run1("Reshape", {}, 13, {x, i64({-1, -1})}, {1}), Error);
  // The shape must be a constant.
  try {
    run1("Reshape", {}, 13, {x, i64({0, -1})});
    ADD_FAILURE() << "non-constant shape accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::Unsupported);
  }
}

TEST(Reshape, FlattenSqueezeUnsqueeze) {
  const Tensor x = random_tensor(DType::Int64, {2, 1, 3, 1}, 6);
  EXPECT_EQ(run1("Flatten", {{"axis", int64_t{-2}}}, 13, {x}).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Flatten", {{"axis", int64_t{0}}}, 13, {x}).shape(), (Shape{1, 6}));
  EXPECT_EQ(run1("Squeeze", {}, 13, {x}).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Squeeze", {{"axes", std::vector<int64_t>{-1}}}, 11, {x}).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(run1("Squeeze", {}, 13, {x, i64({1})}, {1}).shape(), (Shape{2, 3, 1}));
  EXPECT_THROW(run1("Squeeze", {}, 13, {x, i64({0})}, {1}), Error);
  EXPECT_EQ(run1("Unsqueeze", {{"axes", std::vector<int64_t>{0, -1}}}, 11, {x}).shape(), (Shape{1, 2, 1, 3, 1, 1}));
  Tensor u = run1("Unsqueeze", {}, 13, {x, i64({-2, 1})}, {1});
  EXPECT_EQ(u.shape(), (Shape{2, 1, 1, 3, 1, 1}));
  EXPECT_EQ(std::memcmp(u.data(), x.data(), x.nbytes()), 0);
}

TEST(Concat, NegativeAxisAllDtypes) {
  uint32_t seed = 10;
  for (DType dt : kMoveTypes)
    for (int64_t axis : {0, 1, -1, -3}) {
      const Shape base = {3, 4, 5};
      const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
      std::vector<Tensor> xs;
      for (int64_t len : {2, 1, 3}) {
        Shape s = base;
        s[a] = len;
        xs.push_back(random_tensor(dt, s, seed++));
      }
      Shape os = base;
      os[a] = 6;
      Tensor exp(dt, os);
      const size_t es = dtype_size(dt);
      for (int64_t i = 0; i < exp.numel(); ++i) {
        std::vector<int64_t> o = unravel(i, os);
        int64_t c = o[a];
        size_t k = 0;
        while (c >= xs[k].shape()[a]) c -= xs[k++].shape()[a];
        o[a] = c;
        std::memcpy(static_cast<char*>(exp.data()) + i * es, static_cast<const char*>(xs[k].data()) + ravel(o, xs[k].shape()) * es, es);
      }
      expect_same(run1("Concat", {{"axis", axis}}, 13, xs), exp, "axis " + std::to_string(axis));
    }
}

TEST(Split, AttributeInputAndNumOutputs) {
  const Tensor x = random_tensor(DType::Float16, {4, 7}, 20);
  auto part = [&](int64_t begin, int64_t len) {
    return gather_ref(x, {4, len}, [&](const std::vector<int64_t>& o) { return ravel({o[0], o[1] + begin}, x.shape()); });
  };
  auto outs = run_op("Split", {{"axis", int64_t{-1}}, {"split", std::vector<int64_t>{2, 5}}}, 11, {x}, {}, 2);
  expect_same(outs[0], part(0, 2));
  expect_same(outs[1], part(2, 5));
  outs = run_op("Split", {{"axis", int64_t{1}}}, 13, {x, i64({3, 0, 4})}, {1}, 3);
  expect_same(outs[0], part(0, 3));
  EXPECT_EQ(outs[1].shape(), (Shape{4, 0}));
  expect_same(outs[2], part(3, 4));
  // Opset 18: uneven split by num_outputs: ceil(7/3) = 3, 3, 1.
  outs = run_op("Split", {{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}}, 18, {x}, {}, 3);
  expect_same(outs[0], part(0, 3));
  expect_same(outs[1], part(3, 3));
  expect_same(outs[2], part(6, 1));
  // Equal split along axis 0 (default).
  outs = run_op("Split", {}, 13, {x}, {}, 2);
  expect_same(outs[1], gather_ref(x, {2, 7}, [&](const std::vector<int64_t>& o) { return ravel({o[0] + 2, o[1]}, x.shape()); }));
}

// Reference Slice: the index list along one axis, walking from start by step. Negative stepping
// clamps start into [0, dim-1] as the ONNX spec (and onnxruntime) do, unlike numpy, which leaves a
// start below zero empty.
std::vector<int64_t> slice_indices(int64_t dim, int64_t start, int64_t end, int64_t step) {
  std::vector<int64_t> v;
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    for (int64_t i = std::max<int64_t>(start, 0); i < std::min(end, dim); i += step) v.push_back(i);
  } else {
    for (int64_t i = std::clamp<int64_t>(start, 0, dim - 1); i > std::max<int64_t>(end, -1); i += step) v.push_back(i);
  }
  return v;
}

TEST(Slice, RandomStartsEndsNegativeSteps) {
  std::mt19937 rng(30);
  const Shape s = {5, 6, 7};
  uint32_t seed = 100;
  for (int trial = 0; trial < 60; ++trial) {
    const DType dt = kMoveTypes[static_cast<size_t>(trial) % kMoveTypes.size()];
    const Tensor x = random_tensor(dt, s, seed++);
    std::vector<int64_t> starts, ends, axes, steps;
    std::vector<std::vector<int64_t>> idx = {{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6}};
    for (int64_t a = 0; a < 3; ++a) {
      if (rng() % 3 == 0) continue;
      const int64_t dim = s[static_cast<size_t>(a)];
      const int64_t st = std::uniform_int_distribution<int64_t>(-10, 10)(rng), en = std::uniform_int_distribution<int64_t>(-10, 10)(rng);
      int64_t step = std::uniform_int_distribution<int64_t>(-3, 3)(rng);
      if (step == 0) step = 1;
      starts.push_back(st);
      ends.push_back(rng() % 5 == 0 ? (step > 0 ? INT64_MAX : INT64_MIN) : en);
      axes.push_back(rng() % 2 ? a - 3 : a);
      steps.push_back(step);
      idx[static_cast<size_t>(a)] = slice_indices(dim, st, ends.back(), step);
    }
    if (starts.empty()) continue;
    const Shape os = {static_cast<int64_t>(idx[0].size()), static_cast<int64_t>(idx[1].size()), static_cast<int64_t>(idx[2].size())};
    const Tensor exp = gather_ref(x, os, [&](const std::vector<int64_t>& o) {
      return ravel({idx[0][static_cast<size_t>(o[0])], idx[1][static_cast<size_t>(o[1])], idx[2][static_cast<size_t>(o[2])]}, s);
    });
    const Tensor got = run1("Slice", {}, 13, {x, i64(starts), i64(ends), i64(axes), i64(steps)}, {1, 2, 3, 4});
    expect_same(got, exp, "trial " + std::to_string(trial));
  }
  // Opset 1-9: attributes, no steps.
  const Tensor x = random_tensor(DType::Float32, s, 5);
  const Tensor got = run1("Slice", {{"starts", std::vector<int64_t>{1, -3}}, {"ends", std::vector<int64_t>{100, -1}}, {"axes", std::vector<int64_t>{0, 2}}}, 9, {x});
  expect_same(got, gather_ref(x, {4, 6, 2}, [&](const std::vector<int64_t>& o) { return ravel({o[0] + 1, o[1], o[2] + 4}, s); }));
}

// Outputs of 256 KiB and more are written with streaming stores (src/cpu/stream_store.hpp): whole
// 64-byte lines streamed, the partial lines at each row's ends stored normally. Rows starting at
// every alignment (odd starts and lengths, 1-, 2-, 4- and 8-byte elements), a copy split over
// 1 MiB chunks (Reshape of 5 MB), and Concat blocks, against the gather reference bit for bit.
TEST(Slice, LargeOutputsStreamedAtEveryAlignment) {
  const Shape s = {3, 97, 1013};
  uint32_t seed = 900;
  for (DType dt : {DType::UInt8, DType::Float16, DType::Float32, DType::Int64}) {
    const Tensor x = random_tensor(dt, s, seed++);
    for (int64_t start : {0, 1, 3, 5, 17}) {
      const int64_t end = 1013 - (start % 7);
      const Shape os = {3, 97, end - start};
      const Tensor exp = gather_ref(x, os, [&](const std::vector<int64_t>& o) { return ravel({o[0], o[1], o[2] + start}, s); });
      const Tensor got = run1("Slice", {}, 13, {x, i64({start}), i64({end}), i64({2})}, {1, 2, 3});
      expect_same(got, exp, std::string(dtype_name(dt)) + " start " + std::to_string(start));
    }
  }
  const Tensor big = random_tensor(DType::Float32, {5, 257, 1013}, 77);
  const Tensor r = run1("Reshape", {}, 13, {big, i64({-1, 1013})}, {1});
  ASSERT_EQ(r.shape(), (Shape{5 * 257, 1013}));
  ASSERT_EQ(std::memcmp(r.data(), big.data(), big.nbytes()), 0);
  const Tensor a = random_tensor(DType::Float32, {2, 301, 263}, 78), b = random_tensor(DType::Float32, {2, 301, 517}, 79);
  const Tensor c = run1("Concat", {{"axis", int64_t{2}}}, 13, {a, b});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 301; ++j) {
      const float* row = c.data_as<float>() + (i * 301 + j) * 780;
      ASSERT_EQ(std::memcmp(row, a.data_as<float>() + (i * 301 + j) * 263, 263 * 4), 0) << i << " " << j;
      ASSERT_EQ(std::memcmp(row + 263, b.data_as<float>() + (i * 301 + j) * 517, 517 * 4), 0) << i << " " << j;
    }
}

TEST(Gather, AxesNegativeIndicesInt32) {
  const Tensor x = random_tensor(DType::Float16, {4, 5, 3}, 40);
  for (int64_t axis : {0, 1, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    const int64_t dim = x.shape()[a];
    Tensor idx(DType::Int32, {2, 2});
    const std::vector<int32_t> iv = {0, -1, static_cast<int32_t>(dim - 2), 1};
    std::memcpy(idx.data(), iv.data(), 16);
    Shape os(x.shape().begin(), x.shape().begin() + static_cast<int64_t>(a));
    os.push_back(2);
    os.push_back(2);
    os.insert(os.end(), x.shape().begin() + static_cast<int64_t>(a) + 1, x.shape().end());
    const Tensor exp = gather_ref(x, os, [&](const std::vector<int64_t>& o) {
      std::vector<int64_t> in(o.begin(), o.begin() + static_cast<int64_t>(a));
      int64_t v = iv[static_cast<size_t>(o[a] * 2 + o[a + 1])];
      in.push_back(v < 0 ? v + dim : v);
      in.insert(in.end(), o.begin() + static_cast<int64_t>(a) + 2, o.end());
      return ravel(in, x.shape());
    });
    expect_same(run1("Gather", {{"axis", axis}}, 13, {x, idx}), exp, "axis " + std::to_string(axis));
  }
  // Scalar index drops the axis.
  Tensor y = run1("Gather", {{"axis", int64_t{1}}}, 13, {x, Tensor::from_i64({}, {-2})});
  EXPECT_EQ(y.shape(), (Shape{4, 3}));
  try {
    run1("Gather", {}, 13, {x, i64({4})});
    ADD_FAILURE() << "out-of-range index accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
  }
}

TEST(Gather, ElementsAndScatterND) {
  const Tensor x = random_tensor(DType::Int64, {3, 4}, 41);
  const Tensor idx = Tensor::from_i64({2, 4}, {0, -1, 2, 1, 1, 0, -3, 2});
  const Tensor y = run1("GatherElements", {{"axis", int64_t{0}}}, 13, {x, idx});
  const Tensor exp = gather_ref(x, {2, 4}, [&](const std::vector<int64_t>& o) {
    int64_t v = idx.get_i64(o[0] * 4 + o[1]);
    return ravel({v < 0 ? v + 3 : v, o[1]}, x.shape());
  });
  expect_same(y, exp);
  const Tensor idx1 = Tensor::from_i64({3, 2}, {3, 0, -1, 1, 2, 2});
  const Tensor exp1 = gather_ref(x, {3, 2}, [&](const std::vector<int64_t>& o) {
    int64_t v = idx1.get_i64(o[0] * 2 + o[1]);
    return ravel({o[0], v < 0 ? v + 4 : v}, x.shape());
  });
  expect_same(run1("GatherElements", {{"axis", int64_t{-1}}}, 13, {x, idx1}), exp1);

  // ScatterND: rows 2 and 0 replaced; with reduction add, accumulated.
  const Tensor data = random_tensor(DType::Float32, {3, 4}, 42);
  const Tensor upd = random_tensor(DType::Float32, {2, 4}, 43);
  const Tensor sidx = Tensor::from_i64({2, 1}, {2, -3});
  Tensor got = run1("ScatterND", {}, 16, {data, sidx, upd});
  std::vector<double> e(12), e_add(12);
  for (int64_t i = 0; i < 12; ++i) e[static_cast<size_t>(i)] = e_add[static_cast<size_t>(i)] = data.get_f64(i);
  for (int64_t j = 0; j < 4; ++j) {
    e[static_cast<size_t>(8 + j)] = upd.get_f64(j);
    e[static_cast<size_t>(j)] = upd.get_f64(4 + j);
    e_add[static_cast<size_t>(8 + j)] += upd.get_f64(j);
    e_add[static_cast<size_t>(j)] += upd.get_f64(4 + j);
  }
  expect_close(got, e, 0, 0);
  expect_close(run1("ScatterND", {{"reduction", std::string("add")}}, 16, {data, sidx, upd}), e_add, 1e-6, 1e-6);
}

TEST(Expand, BroadcastsBothWays) {
  for (DType dt : kMoveTypes) {
    const Tensor x = random_tensor(dt, {3, 1}, 50);
    const Tensor y = run1("Expand", {}, 13, {x, i64({2, 1, 4})}, {1});
    EXPECT_EQ(y.shape(), (Shape{2, 3, 4}));
    expect_same(y, gather_ref(x, {2, 3, 4}, [&](const std::vector<int64_t>& o) { return o[1]; }));
  }
  const Tensor big = random_tensor(DType::Float32, {1, 64, 1, 1}, 51);
  const Tensor y = run1("Expand", {}, 13, {big, i64({4, 64, 32, 32})}, {1});
  expect_same(y, gather_ref(big, {4, 64, 32, 32}, [&](const std::vector<int64_t>& o) { return o[1]; }));
  EXPECT_THROW(run1("Expand", {}, 13, {big, i64({3, 1, 1})}, {1}), Error);
}

TEST(Tile, Repeats) {
  const Tensor x = random_tensor(DType::UInt8, {2, 3, 1}, 60);
  const Tensor y = run1("Tile", {}, 13, {x, i64({3, 1, 4})}, {1});
  expect_same(y, gather_ref(x, {6, 3, 4}, [&](const std::vector<int64_t>& o) { return ravel({o[0] % 2, o[1], 0}, x.shape()); }));
}

// Reference Pad source index for one axis: reflect by bouncing off the ends until inside.
int64_t pad_src(int64_t o, int64_t begin, int64_t n, const std::string& mode) {
  int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

TEST(Pad, ConstantReflectEdgeWithCrops) {
  std::mt19937 rng(70);
  uint32_t seed = 200;
  for (const char* mode : {"constant", "reflect", "edge"})
    for (int trial = 0; trial < 12; ++trial) {
      const DType dt = kMoveTypes[static_cast<size_t>(trial) % kMoveTypes.size()];
      const Shape s = {2, 4, 5};
      const Tensor x = random_tensor(dt, s, seed++);
      std::vector<int64_t> pads(6);
      const bool reflect = std::string(mode) == "reflect";
      for (auto& p : pads) p = std::uniform_int_distribution<int64_t>(std::string(mode) == "constant" ? -1 : 0, reflect ? 3 : 4)(rng);
      Shape os(3);
      for (size_t d = 0; d < 3; ++d) os[d] = s[d] + pads[d] + pads[d + 3];
      const Tensor value = random_tensor(dt, {}, seed++);
      Tensor exp(dt, os);
      const size_t es = dtype_size(dt);
      for (int64_t i = 0; i < exp.numel(); ++i) {
        const auto o = unravel(i, os);
        std::vector<int64_t> in(3);
        bool fill = false;
        for (size_t d = 0; d < 3; ++d) {
          in[d] = pad_src(o[d], pads[d], s[d], mode);
          fill = fill || in[d] < 0;
        }
        std::memcpy(static_cast<char*>(exp.data()) + i * es,
                    fill ? value.data() : static_cast<const void*>(static_cast<const char*>(x.data()) + ravel(in, s) * es), es);
      }
      expect_same(run1("Pad", {{"mode", std::string(mode)}}, 13, {x, i64(pads), value}, {1}), exp,
                  std::string(mode) + " pads " + shape_str(pads));
    }
  // Opset 2: pads and value attributes; opset 18: axes input.
  const Tensor x = random_tensor(DType::Float32, {2, 3}, 300);
  Tensor y = run1("Pad", {{"pads", std::vector<int64_t>{0, 1, 0, 2}}, {"value", 1.5f}}, 2, {x});
  std::vector<double> e;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = -1; c < 5; ++c) e.push_back(c >= 0 && c < 3 ? x.get_f64(r * 3 + c) : 1.5);
  expect_close(y, e, 0, 0);
  y = run1("Pad", {{"mode", std::string("edge")}}, 18, {x, i64({1, 2}), Tensor(), i64({-1})}, {1, 3});
  e.clear();
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = -1; c < 5; ++c) e.push_back(x.get_f64(r * 3 + std::clamp<int64_t>(c, 0, 2)));
  expect_close(y, e, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Resize reference, following onnx/backend/test/case/node/resize.py: per axis, the original
// coordinate, the n nearest indices of the edge-padded axis, and their coefficients.
struct RefOpts {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double a = -0.75;
  bool exclude = false;
  double extrap = 0;
};

// The original coordinate is computed in float32, as onnxruntime does (the python reference uses
// float64; the two differ only where a coordinate is an exact .5 or integer in real arithmetic).
// pytorch_half_pixel with one output element maps to 0 as the spec says (the python reference
// says -0.5).
std::vector<std::pair<int64_t, double>> ref_taps(int64_t xi, double scale_d, int64_t in, int64_t out_len,
                                                 double roi0, double roi1, const RefOpts& o, bool& outside) {
  const float scale = static_cast<float>(scale_d), x = static_cast<float>(xi), nf = static_cast<float>(in);
  const float out_w = scale * nf;
  const float r0 = static_cast<float>(roi0), r1 = static_cast<float>(roi1);
  float xo;
  if (o.coord == "align_corners") xo = out_w == 1 ? 0 : x * (nf - 1) / (out_w - 1);
  else if (o.coord == "asymmetric") xo = x / scale;
  else if (o.coord == "tf_crop_and_resize") {
    xo = out_w == 1 ? (r1 - r0) * (nf - 1) / 2 : x * (r1 - r0) * (nf - 1) / (out_w - 1);
    xo += r0 * (nf - 1);
    if (xo < 0 || xo > nf - 1) outside = true;
  } else if (o.coord == "pytorch_half_pixel") xo = out_len == 1 ? 0.f : (x + 0.5f) / scale - 0.5f;
  else if (o.coord == "tf_half_pixel_for_nn") xo = (x + 0.5f) / scale;
  else xo = (x + 0.5f) / scale - 0.5f;
  const double ratio = xo == std::floor(xo) ? 1.0 : static_cast<double>(xo - std::floor(xo));
  std::vector<double> c;
  if (o.mode == "nearest") {
    if (ratio == 1.0) c = {0, 1};
    else if (o.nearest == "round_prefer_floor") c = {double(ratio <= 0.5), double(ratio > 0.5)};
    else if (o.nearest == "round_prefer_ceil") c = {double(ratio < 0.5), double(ratio >= 0.5)};
    else if (o.nearest == "floor") c = {1, 0};
    else c = {0, 1};
  } else if (o.mode == "linear") {
    c = {1 - ratio, ratio};
  } else {
    const double A = o.a, r = ratio;
    c = {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
         ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
         ((A * ((1 - r) + 1) - 5 * A) * ((1 - r) + 1) + 8 * A) * ((1 - r) + 1) - 4 * A};
  }
  const int64_t n = static_cast<int64_t>(c.size()), pad = (n + 1) / 2, len = in + 2 * pad;
  const double xp = static_cast<double>(xo) + static_cast<double>(pad);
  std::vector<int64_t> cand(static_cast<size_t>(len));
  std::iota(cand.begin(), cand.end(), 0);
  std::stable_sort(cand.begin(), cand.end(), [&](int64_t p, int64_t q) { return std::fabs(xp - p) < std::fabs(xp - q); });
  cand.resize(static_cast<size_t>(n));
  std::sort(cand.begin(), cand.end());
  std::vector<std::pair<int64_t, double>> taps;
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = cand[static_cast<size_t>(k)] - pad;
    double w = c[static_cast<size_t>(k)];
    if (o.exclude && (i < 0 || i >= in)) w = 0;
    sum += w;
    taps.push_back({std::clamp<int64_t>(i, 0, in - 1), w});
  }
  if (o.exclude)
    for (auto& t : taps) t.second /= sum;
  return taps;
}

std::vector<double> ref_resize(const Tensor& x, const Shape& out, const std::vector<double>& scales,
                               const std::vector<double>& roi, const RefOpts& o) {
  const Shape& in = x.shape();
  const size_t r = in.size();
  std::vector<double> res(static_cast<size_t>(numel(out)));
  for (int64_t e = 0; e < numel(out); ++e) {
    const auto oi = unravel(e, out);
    std::vector<std::vector<std::pair<int64_t, double>>> taps(r);
    bool outside = false;
    for (size_t d = 0; d < r; ++d)
      // An axis that is not resized is left as it is (onnxruntime; the python reference would shift
      // it by half a pixel under tf_half_pixel_for_nn).
      taps[d] = scales[d] == 1.0 && out[d] == in[d] && roi.empty() ? std::vector<std::pair<int64_t, double>>{{oi[d], 1.0}} : ref_taps(oi[d], scales[d], in[d], out[d], roi.empty() ? 0 : roi[d], roi.empty() ? 1 : roi[d + r], o, outside);
    if (outside) {
      res[static_cast<size_t>(e)] = o.extrap;
      continue;
    }
    // Tensor product of the per-axis taps.
    double acc = 0;
    std::vector<size_t> k(r, 0);
    while (true) {
      double w = 1;
      std::vector<int64_t> src(r);
      for (size_t d = 0; d < r; ++d) {
        w *= taps[d][k[d]].second;
        src[d] = taps[d][k[d]].first;
      }
      acc += w * x.get_f64(ravel(src, in));
      size_t d = r;
      while (d > 0 && ++k[d - 1] == taps[d - 1].size()) k[--d] = 0;
      if (d == 0) break;
    }
    res[static_cast<size_t>(e)] = acc;
  }
  return res;
}

TEST(Resize, ModesAgainstOnnxReferenceFormula) {
  const Tensor x = random_tensor(DType::Float32, {1, 2, 5, 7}, 80);
  struct Case {
    RefOpts o;
    std::vector<float> scales;
  };
  std::vector<Case> cases;
  for (const char* coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"})
    for (const char* nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"})
      for (auto sc : {std::vector<float>{1, 1, 2.f, 3.f}, std::vector<float>{1, 1, 0.6f, 0.5f}, std::vector<float>{1, 1, 1.5f, 0.8f}})
        cases.push_back({RefOpts{"nearest", coord, nm}, sc});
  for (const char* mode : {"linear", "cubic"})
    for (const char* coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"})
      for (auto sc : {std::vector<float>{1, 1, 2.f, 1.7f}, std::vector<float>{1, 1, 0.6f, 0.5f}, std::vector<float>{1, 1, 0.2f, 0.3f}})
        for (bool excl : {false, true})
          cases.push_back({RefOpts{mode, coord, "round_prefer_floor", -0.5, excl}, sc});
  for (const Case& c : cases) {
    Shape out = x.shape();
    std::vector<double> sd;
    for (size_t d = 0; d < 4; ++d) {
      out[d] = static_cast<int64_t>(std::floor(static_cast<float>(x.shape()[d]) * c.scales[d]));
      sd.push_back(c.scales[d]);
    }
    std::map<std::string, AttrValue> attrs = {{"mode", c.o.mode}, {"coordinate_transformation_mode", c.o.coord},
                                              {"nearest_mode", c.o.nearest}, {"cubic_coeff_a", static_cast<float>(c.o.a)},
                                              {"exclude_outside", int64_t{c.o.exclude}}};
    const Tensor y = run1("Resize", attrs, 13, {x, Tensor(), f32(c.scales)}, {2});
    ASSERT_EQ(y.shape(), out);
    const std::string what = c.o.mode + "/" + c.o.coord + "/" + c.o.nearest + (c.o.exclude ? "/exclude" : "") +
                             " scales " + std::to_string(c.scales[2]) + "x" + std::to_string(c.scales[3]);
    expect_close(y, ref_resize(x, out, sd, {}, c.o), c.o.mode == "nearest" ? 0 : 1e-5, c.o.mode == "nearest" ? 0 : 1e-5, what);
  }
}

TEST(Resize, SizesCropAndResizeAxesAndUpsample) {
  const Tensor x = random_tensor(DType::Float32, {1, 1, 6, 4}, 81);
  // Sizes: scale = out/in.
  Tensor y = run1("Resize", {{"mode", std::string("linear")}}, 13, {x, Tensor(), Tensor(), i64({1, 1, 9, 3})}, {3});
  expect_close(y, ref_resize(x, {1, 1, 9, 3}, {1, 1, 9.0 / 6, 3.0 / 4}, {}, RefOpts{"linear"}), 1e-5, 1e-5, "sizes");
  // tf_crop_and_resize with extrapolation.
  const std::vector<float> roi = {0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.4f};
  RefOpts o{"linear", "tf_crop_and_resize"};
  o.extrap = 7;
  y = run1("Resize", {{"mode", std::string("linear")}, {"coordinate_transformation_mode", o.coord}, {"extrapolation_value", 7.f}},
           13, {x, f32(roi), Tensor(), i64({1, 1, 5, 5})}, {1, 3});
  expect_close(y, ref_resize(x, {1, 1, 5, 5}, {1, 1, 5.0 / 6, 5.0 / 4}, std::vector<double>(roi.begin(), roi.end()), o), 1e-5, 1e-5, "crop");
  // Opset 18 axes: only the last two dims listed.
  y = run1("Resize", {{"mode", std::string("cubic")}, {"axes", std::vector<int64_t>{-1, 2}}}, 18, {x, Tensor(), f32({2.f, 0.5f})}, {2});
  expect_close(y, ref_resize(x, {1, 1, 3, 8}, {1, 1, 0.5, 2}, {}, RefOpts{"cubic"}), 1e-5, 1e-5, "axes");
  // Upsample (opset 9, scales input) and Resize-10: asymmetric, nearest picks floor when upsampling.
  y = run1("Upsample", {{"mode", std::string("nearest")}}, 9, {x, f32({1, 1, 2, 3})}, {1});
  expect_same(y, gather_ref(x, {1, 1, 12, 12}, [&](const std::vector<int64_t>& i) { return ravel({0, 0, i[2] / 2, i[3] / 3}, x.shape()); }));
  y = run1("Upsample", {{"mode", std::string("linear")}, {"scales", std::vector<float>{1, 1, 2, 2}}}, 7, {x});
  expect_close(y, ref_resize(x, {1, 1, 12, 8}, {1, 1, 2, 2}, {}, RefOpts{"linear", "asymmetric"}), 1e-5, 1e-5, "upsample-7");
  // float16 goes through the backend's float32 wrapper and comes back as float16.
  const Tensor h = random_tensor(DType::Float16, {1, 1, 6, 4}, 82);
  y = run1("Resize", {{"mode", std::string("linear")}}, 13, {h, Tensor(), f32({1, 1, 2, 2})}, {2});
  EXPECT_EQ(y.dtype(), DType::Float16);
  expect_close(y, ref_resize(h, {1, 1, 12, 8}, {1, 1, 2, 2}, {}, RefOpts{"linear"}), 2e-3, 2e-3, "fp16");
  // Nearest works on integer tensors too (byte gathers); linear on them is refused.
  const Tensor xi = random_tensor(DType::Int64, {1, 2, 5, 7}, 83);
  y = run1("Resize", {{"mode", std::string("nearest")}}, 13, {xi, Tensor(), f32({1, 1, 1.5f, 0.5f})}, {2});
  const auto refs = ref_resize(xi, {1, 2, 7, 3}, {1, 1, 1.5, 0.5}, {}, RefOpts{"nearest"});
  ASSERT_EQ(y.dtype(), DType::Int64);
  for (int64_t k = 0; k < y.numel(); ++k) {
    // The reference's single nonzero tap picks the element; compare exactly through int64.
    ASSERT_EQ(y.data_as<int64_t>()[k], static_cast<int64_t>(std::llround(refs[static_cast<size_t>(k)]))) << k;
  }
  EXPECT_THROW(run1("Resize", {{"mode", std::string("linear")}}, 13, {xi, Tensor(), f32({1, 1, 2, 2})}, {2}), Error);
  // antialias is refused with a reason, not silently ignored.
  EXPECT_THROW(run1("Resize", {{"mode", std::string("linear")}, {"antialias", int64_t{1}}}, 18, {x, Tensor(), f32({1, 1, 0.5f, 0.5f})}, {2}), Error);
}

// ---------------------------------------------------------------------------------------------
TEST(Cast, PairsTruncationAndBool) {
  const Tensor x = Tensor::from_f32({6}, {-2.7f, -0.5f, 0.f, 0.5f, 3.9f, 100.2f});
  expect_close(run1("Cast", {{"to", int64_t{7}}}, 13, {x}), {-2, 0, 0, 0, 3, 100}, 0, 0, "float→int64");
  expect_close(run1("Cast", {{"to", int64_t{3}}}, 13, {x}), {-2, 0, 0, 0, 3, 100}, 0, 0, "float→int8");
  expect_close(run1("Cast", {{"to", int64_t{9}}}, 13, {x}), {1, 1, 0, 1, 1, 1}, 0, 0, "float→bool");
  // Out of range: x86 conversion semantics (as numpy and onnxruntime): int32 saturates to
  // INT32_MIN, narrower types wrap the int32 value.
  const Tensor big = Tensor::from_f32({4}, {1e10f, 300.f, -1.f, -129.f});
  expect_close(run1("Cast", {{"to", int64_t{6}}}, 13, {big}), {-2147483648.0, 300, -1, -129}, 0, 0, "float→int32");
  expect_close(run1("Cast", {{"to", int64_t{3}}}, 13, {big}), {0, 44, -1, 127}, 0, 0, "float→int8 wraps");
  expect_close(run1("Cast", {{"to", int64_t{2}}}, 13, {big}), {0, 44, 255, 127}, 0, 0, "float→uint8 wraps");
  const Tensor h = run1("Cast", {{"to", int64_t{10}}}, 13, {x});
  EXPECT_EQ(h.dtype(), DType::Float16);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(h.data_as<uint16_t>()[i], float_to_half(x.data_as<float>()[i]));
  // Every pair among these dtypes on values representable in all of them (0..100).
  const std::vector<std::pair<DType, int64_t>> types = {
      {DType::Float32, 1}, {DType::UInt8, 2}, {DType::Int8, 3}, {DType::Int16, 5}, {DType::Int32, 6}, {DType::Int64, 7},
      {DType::Bool, 9}, {DType::Float16, 10}, {DType::Float64, 11}, {DType::UInt32, 12}, {DType::UInt64, 13}, {DType::BFloat16, 16}};
  std::vector<float> vals = {0, 1, 2, 7, 42, 100};
  for (auto [src, sc] : types)
    for (auto [dst, dc] : types) {
      std::vector<float> sv = vals;
      if (src == DType::Bool) sv = {0, 1, 1, 0, 1, 0};
      const Tensor in = Tensor::from_f32({6}, sv).cast(src);
      const Tensor out = run1("Cast", {{"to", dc}}, 13, {in});
      ASSERT_EQ(out.dtype(), dst);
      std::vector<double> exp;
      for (float v : sv) exp.push_back(dst == DType::Bool ? (v != 0) : v);
      expect_close(out, exp, 0, 0, std::string(dtype_name(src)) + "→" + std::string(dtype_name(dst)));
    }
  // CastLike takes the dtype of its second input.
  EXPECT_EQ(run1("CastLike", {}, 15, {x, Tensor(DType::Int32, {})}).dtype(), DType::Int32);
}

TEST(Constant, ValuesShapeSizeRange) {
  Tensor t = Tensor::from_i64({2, 2}, {1, 2, 3, 4});
  expect_same(run1("Constant", {{"value", t}}, 13, {}), t);
  expect_close(run1("Constant", {{"value_floats", std::vector<float>{1.5f, 2.5f}}}, 13, {}), {1.5, 2.5}, 0, 0);
  EXPECT_EQ(run1("Constant", {{"value_int", int64_t{3}}}, 13, {}).shape(), Shape{});
  Tensor c = run1("ConstantOfShape", {{"value", Tensor::from_i64({1}, {9})}}, 13, {i64({2, 3})}, {0});
  EXPECT_EQ(c.dtype(), DType::Int64);
  expect_close(c, std::vector<double>(6, 9), 0, 0);
  EXPECT_EQ(run1("ConstantOfShape", {}, 13, {i64({0})}, {0}).shape(), (Shape{0}));
  const Tensor x(DType::Float16, {2, 3, 4, 5});
  expect_close(run1("Shape", {}, 13, {x}), {2, 3, 4, 5}, 0, 0);
  expect_close(run1("Shape", {{"start", int64_t{-3}}, {"end", int64_t{-1}}}, 15, {x}), {3, 4}, 0, 0);
  expect_close(run1("Shape", {{"start", int64_t{-10}}, {"end", int64_t{10}}}, 15, {x}), {2, 3, 4, 5}, 0, 0);
  expect_close(run1("Size", {}, 13, {x}), {120}, 0, 0);
  Tensor r = run1("Range", {}, 13, {Tensor::from_i64({}, {10}), Tensor::from_i64({}, {1}), Tensor::from_i64({}, {-3})}, {0, 1, 2});
  EXPECT_EQ(r.dtype(), DType::Int64);
  expect_close(r, {10, 7, 4}, 0, 0);
  r = run1("Range", {}, 13, {Tensor::scalar_f32(0.5f), Tensor::scalar_f32(2.f), Tensor::scalar_f32(0.4f)}, {0, 1, 2});
  expect_close(r, {0.5, 0.9, 1.3, 1.7}, 1e-6, 1e-6);
  // Identity and inference Dropout copy; the mask is all true.
  const Tensor d = random_tensor(DType::Float16, {3, 4}, 90);
  auto outs = run_op("Dropout", {}, 13, {d}, {}, 2);
  expect_same(outs[0], d);
  EXPECT_EQ(outs[1].dtype(), DType::Bool);
  expect_close(outs[1], std::vector<double>(12, 1), 0, 0);
  expect_same(run1("Identity", {}, 13, {d}), d);
}

TEST(DepthToSpace, ModesAndSpaceToDepth) {
  const int64_t N = 2, C = 8, H = 3, W = 2, b = 2;
  const Tensor x = random_tensor(DType::Float16, {N, C, H, W}, 95);
  const Shape os = {N, C / 4, H * b, W * b};
  const Tensor dcr = gather_ref(x, os, [&](const std::vector<int64_t>& o) {
    const int64_t bh = o[2] % b, bw = o[3] % b;
    return ravel({o[0], (bh * b + bw) * (C / 4) + o[1], o[2] / b, o[3] / b}, x.shape());
  });
  const Tensor crd = gather_ref(x, os, [&](const std::vector<int64_t>& o) {
    const int64_t bh = o[2] % b, bw = o[3] % b;
    return ravel({o[0], o[1] * b * b + bh * b + bw, o[2] / b, o[3] / b}, x.shape());
  });
  expect_same(run1("DepthToSpace", {{"blocksize", b}}, 13, {x}), dcr, "DCR");
  expect_same(run1("DepthToSpace", {{"blocksize", b}, {"mode", std::string("CRD")}}, 13, {x}), crd, "CRD");
  // SpaceToDepth is the inverse of DCR DepthToSpace.
  expect_same(run1("SpaceToDepth", {{"blocksize", b}}, 13, {dcr}), x, "SpaceToDepth");
}

TEST(Trilu, UpperLowerWithK) {
  const Tensor x = random_tensor(DType::Int64, {2, 4, 5}, 96);
  for (int64_t upper : {0, 1})
    for (int64_t k : {-5, -1, 0, 2, 7}) {
      std::vector<double> e;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const auto o = unravel(i, x.shape());
        const bool keep = upper ? o[2] - o[1] >= k : o[2] - o[1] <= k;
        e.push_back(keep ? x.get_f64(i) : 0);
      }
      expect_close(run1("Trilu", {{"upper", upper}}, 14, {x, Tensor::from_i64({}, {k})}), e, 0, 0,
                   "upper " + std::to_string(upper) + " k " + std::to_string(k));
    }
}

// ---------------------------------------------------------------------------------------------
void expect_einsum(const std::string& eq, const std::vector<Tensor>& ins, const Shape& out_shape,
                   const std::function<void(std::vector<double>&, std::vector<double>&)>& ref) {
  std::vector<double> exp(static_cast<size_t>(numel(out_shape)), 0.0), mag(exp.size(), 0.0);
  ref(exp, mag);
  const Tensor y = run1("Einsum", {{"equation", eq}}, 12, ins);
  ASSERT_EQ(y.shape(), out_shape) << eq;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double tol = 1e-4 * mag[static_cast<size_t>(i)] + 1e-6;
    if (!(std::fabs(y.get_f64(i) - exp[static_cast<size_t>(i)]) <= tol)) {
      ADD_FAILURE() << eq << " element " << i << ": got " << y.get_f64(i) << ", expected " << exp[static_cast<size_t>(i)];
      return;
    }
  }
}

TEST(Einsum, AttentionMatmulTransposeDiagonal) {
  const int64_t B = 2, Hh = 3, I = 5, J = 4, D = 6;
  const Tensor q = random_tensor(DType::Float32, {B, Hh, I, D}, 101), k = random_tensor(DType::Float32, {B, Hh, J, D}, 102);
  expect_einsum("bhid,bhjd->bhij", {q, k}, {B, Hh, I, J}, [&](auto& e, auto& m) {
    for (int64_t b = 0; b < B; ++b) for (int64_t h = 0; h < Hh; ++h) for (int64_t i = 0; i < I; ++i) for (int64_t j = 0; j < J; ++j)
      for (int64_t d = 0; d < D; ++d) {
        const double p = q.get_f64(((b * Hh + h) * I + i) * D + d) * k.get_f64(((b * Hh + h) * J + j) * D + d);
        e[static_cast<size_t>(((b * Hh + h) * I + i) * J + j)] += p;
        m[static_cast<size_t>(((b * Hh + h) * I + i) * J + j)] += std::fabs(p);
      }
  });
  const Tensor a = random_tensor(DType::Float32, {B, Hh, I, J}, 103), v = random_tensor(DType::Float32, {B, Hh, J, D}, 104);
  expect_einsum("bhij,bhjd->bhid", {a, v}, {B, Hh, I, D}, [&](auto& e, auto& m) {
    for (int64_t b = 0; b < B; ++b) for (int64_t h = 0; h < Hh; ++h) for (int64_t i = 0; i < I; ++i) for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < J; ++j) {
        const double p = a.get_f64(((b * Hh + h) * I + i) * J + j) * v.get_f64(((b * Hh + h) * J + j) * D + d);
        e[static_cast<size_t>(((b * Hh + h) * I + i) * D + d)] += p;
        m[static_cast<size_t>(((b * Hh + h) * I + i) * D + d)] += std::fabs(p);
      }
  });
  const Tensor x = random_tensor(DType::Float32, {B, I, J}, 105), y = random_tensor(DType::Float32, {B, J, D}, 106);
  auto bmm = [&](auto& e, auto& m) {
    for (int64_t b = 0; b < B; ++b) for (int64_t i = 0; i < I; ++i) for (int64_t kk = 0; kk < D; ++kk)
      for (int64_t j = 0; j < J; ++j) {
        const double p = x.get_f64((b * I + i) * J + j) * y.get_f64((b * J + j) * D + kk);
        e[static_cast<size_t>((b * I + i) * D + kk)] += p;
        m[static_cast<size_t>((b * I + i) * D + kk)] += std::fabs(p);
      }
  };
  expect_einsum("bij,bjk->bik", {x, y}, {B, I, D}, bmm);
  expect_einsum("...ij,...jk", {x, y}, {B, I, D}, bmm);  // implicit output, ellipsis
  // Broadcast ellipsis: [I, J] against [B, J, D].
  const Tensor x2 = random_tensor(DType::Float32, {I, J}, 107);
  expect_einsum("...ij,...jk->...ik", {x2, y}, {B, I, D}, [&](auto& e, auto& m) {
    for (int64_t b = 0; b < B; ++b) for (int64_t i = 0; i < I; ++i) for (int64_t kk = 0; kk < D; ++kk)
      for (int64_t j = 0; j < J; ++j) {
        const double p = x2.get_f64(i * J + j) * y.get_f64((b * J + j) * D + kk);
        e[static_cast<size_t>((b * I + i) * D + kk)] += p;
        m[static_cast<size_t>((b * I + i) * D + kk)] += std::fabs(p);
      }
  });
  const Tensor t = random_tensor(DType::Float32, {I, J}, 108);
  expect_einsum("ij->ji", {t}, {J, I}, [&](auto& e, auto& m) {
    for (int64_t i = 0; i < I; ++i) for (int64_t j = 0; j < J; ++j) {
      e[static_cast<size_t>(j * I + i)] = t.get_f64(i * J + j);
      m[static_cast<size_t>(j * I + i)] = std::fabs(t.get_f64(i * J + j));
    }
  });
  expect_einsum("ij->i", {t}, {I}, [&](auto& e, auto& m) {
    for (int64_t i = 0; i < I; ++i) for (int64_t j = 0; j < J; ++j) {
      e[static_cast<size_t>(i)] += t.get_f64(i * J + j);
      m[static_cast<size_t>(i)] += std::fabs(t.get_f64(i * J + j));
    }
  });
  const Tensor sq = random_tensor(DType::Float32, {B, I, I}, 109);
  expect_einsum("bii->bi", {sq}, {B, I}, [&](auto& e, auto& m) {
    for (int64_t b = 0; b < B; ++b) for (int64_t i = 0; i < I; ++i) {
      e[static_cast<size_t>(b * I + i)] = sq.get_f64((b * I + i) * I + i);
      m[static_cast<size_t>(b * I + i)] = std::fabs(e[static_cast<size_t>(b * I + i)]);
    }
  });
  expect_einsum("bii", {sq}, {B}, [&](auto& e, auto& m) {  // implicit: trace per batch
    for (int64_t b = 0; b < B; ++b) for (int64_t i = 0; i < I; ++i) {
      e[static_cast<size_t>(b)] += sq.get_f64((b * I + i) * I + i);
      m[static_cast<size_t>(b)] += std::fabs(sq.get_f64((b * I + i) * I + i));
    }
  });
  const Tensor u = random_tensor(DType::Float32, {I}, 110), w = random_tensor(DType::Float32, {I}, 111);
  expect_einsum("i,i", {u, w}, {}, [&](auto& e, auto& m) {
    for (int64_t i = 0; i < I; ++i) {
      e[0] += u.get_f64(i) * w.get_f64(i);
      m[0] += std::fabs(u.get_f64(i) * w.get_f64(i));
    }
  });
  EXPECT_THROW(run1("Einsum", {{"equation", std::string("ij,jk->ik")}}, 12, {t, t}), Error);
}

// ---------------------------------------------------------------------------------------------
TEST(Misc, OneHotTopKCumSum) {
  const Tensor idx = Tensor::from_i64({2, 2}, {0, -1, 3, 7});
  const Tensor vals = Tensor::from_f32({2}, {-1.f, 5.f});
  for (int64_t axis : {-1, 0, 1}) {
    const Tensor y = run1("OneHot", {{"axis", axis}}, 11, {idx, Tensor::from_i64({}, {4}), vals}, {1});
    Shape os = {2, 2};
    const size_t a = static_cast<size_t>(axis < 0 ? 2 : axis);
    os.insert(os.begin() + static_cast<int64_t>(a), 4);
    ASSERT_EQ(y.shape(), os);
    std::vector<double> e;
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto o = unravel(i, os);
      const int64_t d = o[a];
      o.erase(o.begin() + static_cast<int64_t>(a));
      int64_t v = idx.get_i64(o[0] * 2 + o[1]);
      if (v < 0) v += 4;
      e.push_back(v == d ? 5 : -1);
    }
    expect_close(y, e, 0, 0, "onehot axis " + std::to_string(axis));
  }

  const Tensor x = Tensor::from_f32({2, 5}, {3, 1, 3, 9, -2, 0, 0, 5, -1, 5});
  auto outs = run_op("TopK", {{"axis", int64_t{-1}}}, 11, {x, i64({3})}, {1}, 2);
  expect_close(outs[0], {9, 3, 3, 5, 5, 0}, 0, 0, "topk values");
  expect_close(outs[1], {3, 0, 2, 2, 4, 0}, 0, 0, "topk indices (ties keep the lower index first)");
  outs = run_op("TopK", {{"axis", int64_t{0}}, {"largest", int64_t{0}}}, 11, {x, i64({1})}, {1}, 2);
  expect_close(outs[0], {0, 0, 3, -1, -2}, 0, 0, "topk smallest");
  expect_close(outs[1], {1, 1, 0, 1, 0}, 0, 0);

  const Tensor c = Tensor::from_i64({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_close(run1("CumSum", {}, 14, {c, Tensor::from_i64({}, {1})}), {1, 3, 6, 4, 9, 15}, 0, 0);
  expect_close(run1("CumSum", {{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}}, 14, {c, Tensor::from_i64({}, {-1})}),
               {5, 3, 0, 11, 6, 0}, 0, 0);
  const Tensor ch = Tensor::from_f32({2, 3}, {1, 2, 3, 4, 5, 6}).cast(DType::Float16);
  const Tensor got = run1("CumSum", {}, 14, {ch, Tensor::from_i64({}, {0})});
  EXPECT_EQ(got.dtype(), DType::Float16);
  expect_close(got, {1, 2, 3, 5, 7, 9}, 0, 0);
}

TEST(Misc, Float16StaysFloat16ThroughMovement) {
  const Tensor x = random_tensor(DType::Float16, {2, 3, 4}, 120);
  const Tensor r = run1("Reshape", {}, 13, {x, i64({4, 6})}, {1});
  const Tensor t = run1("Transpose", {}, 13, {r});
  const Tensor c = run1("Concat", {{"axis", int64_t{0}}}, 13, {t, t});
  const Tensor s = run1("Slice", {}, 13, {c, i64({6}), i64({12})}, {1, 2});
  EXPECT_EQ(s.dtype(), DType::Float16);
  expect_same(s, t);
}

TEST(Misc, GatherNDScatterElementsEyeLike) {
  // GatherND with batch_dims=1: out[b, t, :] = data[b, idx[b, t, 0], :].
  const Tensor x = random_tensor(DType::Float16, {2, 4, 3}, 130);
  const Tensor idx = Tensor::from_i64({2, 2, 1}, {3, -4, 1, 2});
  const Tensor y = run1("GatherND", {{"batch_dims", int64_t{1}}}, 13, {x, idx});
  expect_same(y, gather_ref(x, {2, 2, 3}, [&](const std::vector<int64_t>& o) {
    int64_t v = idx.get_i64(o[0] * 2 + o[1]);
    return ravel({o[0], v < 0 ? v + 4 : v, o[2]}, x.shape());
  }));
  // Full-depth tuples pick single elements.
  const Tensor idx2 = Tensor::from_i64({2, 3}, {1, 2, 0, 0, -1, 2});
  expect_same(run1("GatherND", {}, 13, {x, idx2}),
              gather_ref(x, {2}, [&](const std::vector<int64_t>& o) { return o[0] == 0 ? ravel({1, 2, 0}, x.shape()) : ravel({0, 3, 2}, x.shape()); }));

  // ScatterElements along axis 1 with add: duplicates accumulate.
  const Tensor data = Tensor::from_i64({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor sidx = Tensor::from_i64({2, 2}, {2, 2, 0, -1});
  const Tensor upd = Tensor::from_i64({2, 2}, {10, 20, 30, 40});
  expect_close(run1("ScatterElements", {{"axis", int64_t{1}}}, 13, {data, sidx, upd}), {1, 2, 20, 30, 5, 40}, 0, 0);
  expect_close(run1("ScatterElements", {{"axis", int64_t{1}}, {"reduction", std::string("add")}}, 16, {data, sidx, upd}),
               {1, 2, 33, 34, 5, 46}, 0, 0);

  Tensor e = run1("EyeLike", {{"k", int64_t{1}}, {"dtype", int64_t{7}}}, 13, {Tensor(DType::Float32, {3, 4})});
  EXPECT_EQ(e.dtype(), DType::Int64);
  expect_close(e, {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, 0, 0);
}

TEST(Misc, ReverseSequenceUniqueCompress) {
  const Tensor x = Tensor::from_f32({3, 2}, {0, 1, 2, 3, 4, 5});  // [time, batch]
  expect_close(run1("ReverseSequence", {{"time_axis", int64_t{0}}, {"batch_axis", int64_t{1}}}, 10, {x, i64({3, 2})}),
               {4, 3, 2, 1, 0, 5}, 0, 0);

  const Tensor u = Tensor::from_f32({6}, {2, 1, 1, 3, 4, 3});
  auto outs = run_op("Unique", {{"sorted", int64_t{1}}}, 11, {u}, {0}, 4);
  expect_close(outs[0], {1, 2, 3, 4}, 0, 0, "Y");
  expect_close(outs[1], {1, 0, 3, 4}, 0, 0, "indices");
  expect_close(outs[2], {1, 0, 0, 2, 3, 2}, 0, 0, "inverse");
  expect_close(outs[3], {2, 1, 2, 1}, 0, 0, "counts");
  outs = run_op("Unique", {{"sorted", int64_t{0}}}, 11, {u}, {0}, 4);
  expect_close(outs[0], {2, 1, 3, 4}, 0, 0, "Y unsorted");
  expect_close(outs[2], {0, 1, 1, 2, 3, 2}, 0, 0, "inverse unsorted");
  // Unique rows.
  const Tensor m = Tensor::from_i64({3, 2}, {5, 1, 0, 2, 5, 1});
  outs = run_op("Unique", {{"axis", int64_t{0}}}, 11, {m}, {0}, 4);
  expect_close(outs[0], {0, 2, 5, 1}, 0, 0, "rows");
  expect_close(outs[3], {1, 2}, 0, 0, "row counts");
  // A non-constant input cannot be planned: its output shape depends on its values.
  EXPECT_THROW(run_op("Unique", {}, 11, {u}, {}, 4), Error);

  const Tensor c = Tensor::from_f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor cond = Tensor::from_i64({3}, {0, 1, 1}).cast(DType::Bool);
  expect_close(run1("Compress", {{"axis", int64_t{1}}}, 11, {c, cond}, {1}), {2, 3, 5, 6}, 0, 0);
  expect_close(run1("Compress", {}, 11, {c, cond}, {1}), {2, 3}, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// onnxruntime cross-check.
struct OrtInput {
  std::string name;
  Tensor t;
  bool initializer;
};
using OrtAttr = std::pair<std::string, std::variant<int64_t, float, std::string>>;

int onnx_elem_type(DType d) {
  switch (d) {
    case DType::Float32: return onnx::TensorProto::FLOAT;
    case DType::Int64: return onnx::TensorProto::INT64;
    default: ADD_FAILURE() << "onnx_elem_type: add " << dtype_name(d); return 0;
  }
}

// Returns "" when netlens and onnxruntime agree, else the first difference.
std::string ort_compare(const std::string& dir, const std::string& op, int64_t opset, const std::vector<OrtAttr>& attrs,
                        const std::vector<OrtInput>& ins, size_t n_out = 1) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("single_" + op);
  auto* node = g->add_node();
  node->set_op_type(op);
  std::map<std::string, Tensor> feeds;
  for (const OrtInput& in : ins) {
    node->add_input(in.name);
    if (in.name.empty()) continue;
    if (in.initializer) {
      auto* tp = g->add_initializer();
      tp->set_name(in.name);
      tp->set_data_type(onnx_elem_type(in.t.dtype()));
      for (int64_t d : in.t.shape()) tp->add_dims(d);
      tp->set_raw_data(std::string(static_cast<const char*>(in.t.data()), in.t.nbytes()));
    } else {
      auto* vi = g->add_input();
      vi->set_name(in.name);
      auto* tt = vi->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(onnx_elem_type(in.t.dtype()));
      for (int64_t d : in.t.shape()) tt->mutable_shape()->add_dim()->set_dim_value(d);
      feeds[in.name] = in.t;
    }
  }
  for (size_t o = 0; o < n_out; ++o) {
    node->add_output("y" + std::to_string(o));
    g->add_output()->set_name("y" + std::to_string(o));
  }
  for (const auto& [k, v] : attrs) {
    auto* a = node->add_attribute();
    a->set_name(k);
    if (auto* i = std::get_if<int64_t>(&v)) { a->set_type(onnx::AttributeProto::INT); a->set_i(*i); }
    else if (auto* f = std::get_if<float>(&v)) { a->set_type(onnx::AttributeProto::FLOAT); a->set_f(*f); }
    else { a->set_type(onnx::AttributeProto::STRING); a->set_s(std::get<std::string>(v)); }
  }
  std::filesystem::create_directories(dir);
  std::string bytes;
  m.SerializeToString(&bytes);
  std::ofstream(dir + "/model.onnx", std::ios::binary) << bytes;
  std::string cmd = "node '" NETLENS_SOURCE_DIR "/scripts/ort/run.js' '" + dir + "/model.onnx' '" + dir + "/ort'";
  for (const auto& [k, v] : feeds) {
    write_npy(dir + "/" + k + ".npy", v);
    cmd += " --input " + k + "='" + dir + "/" + k + ".npy'";
  }
  cmd += " > '" + dir + "/ort.log' 2>&1";
  if (std::system(cmd.c_str()) != 0) return "onnxruntime failed (see " + dir + "/ort.log)";

  Graph graph = load_onnx_bytes(bytes, "", op + " model");
  auto backend = make_cpu_backend();
  Session session(std::move(graph), {backend.get()});
  session.run(feeds);
  for (size_t o = 0; o < n_out; ++o) {
    const Tensor got = session.activations().fetch("y" + std::to_string(o));
    const Tensor ref = read_npy(dir + "/ort/y" + std::to_string(o) + ".npy");
    if (got.shape() != ref.shape()) return "output " + std::to_string(o) + " shape " + shape_str(got.shape()) + ", onnxruntime " + shape_str(ref.shape());
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double a = got.get_f64(i), b = ref.get_f64(i);
      if (!(std::fabs(a - b) <= 1e-5 + 1e-5 * std::fabs(b)))
        return "output " + std::to_string(o) + " element " + std::to_string(i) + ": " + std::to_string(a) + ", onnxruntime " + std::to_string(b);
    }
  }
  return "";
}

TEST(OrtCrossCheck, ResizeSliceCastEinsumTopK) {
  const std::string cache = std::getenv("NETLENS_CACHE_DIR") ? std::getenv("NETLENS_CACHE_DIR") : NETLENS_CACHE_DIR;
  if (!std::filesystem::exists(cache + "/ort/node_modules/onnxruntime-node") || std::system("node --version > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "node or onnxruntime-node missing (run scripts/fetch-models.sh)";
  const std::string root = (std::filesystem::temp_directory_path() / ("netlens_tensor_ort_" + std::to_string(::getpid()))).string();
  const Tensor x = random_tensor(DType::Float32, {1, 2, 5, 7}, 500);
  auto scales = [](float h, float w) { return Tensor::from_f32({4}, {1, 1, h, w}); };
  struct Case {
    std::string label, op;
    int64_t opset;
    std::vector<OrtAttr> attrs;
    std::vector<OrtInput> ins;
    size_t n_out = 1;
  };
  std::vector<Case> cases;
  for (float s : {0.6f, 0.4f, 2.5f, 3.f})
    for (const char* mode : {"nearest", "linear"}) {
      cases.push_back({std::string("Resize-10 ") + mode, "Resize", 10, {{"mode", std::string(mode)}}, {{"x", x, false}, {"s", scales(s, s), true}}});
      if (s > 1) cases.push_back({std::string("Upsample-9 ") + mode, "Upsample", 9, {{"mode", std::string(mode)}}, {{"x", x, false}, {"s", scales(s, s), true}}});
    }
  const std::vector<std::tuple<std::string, std::string, std::string, float, int64_t>> r13 = {
      {"nearest", "tf_half_pixel_for_nn", "round_prefer_ceil", 0.6f, 0}, {"nearest", "tf_half_pixel_for_nn", "floor", 1.7f, 0},
      {"nearest", "half_pixel", "round_prefer_floor", 0.6f, 0},          {"nearest", "asymmetric", "ceil", 1.7f, 0},
      {"linear", "half_pixel", "", 0.6f, 0},                              {"linear", "pytorch_half_pixel", "", 0.2f, 0},
      {"cubic", "pytorch_half_pixel", "", 0.2f, 0},                       {"cubic", "half_pixel", "", 1.7f, 1},
      {"cubic", "asymmetric", "", 0.6f, 0},                               {"linear", "align_corners", "", 2.f, 0}};
  for (const auto& [mode, coord, nearest, s, excl] : r13) {
    std::vector<OrtAttr> a = {{"mode", mode}, {"coordinate_transformation_mode", coord}, {"exclude_outside", excl}};
    if (!nearest.empty()) a.push_back({"nearest_mode", nearest});
    cases.push_back({"Resize-13 " + mode + " " + coord + " " + nearest, "Resize", 13, a, {{"x", x, false}, {"", Tensor(), false}, {"s", scales(s, s), true}}});
  }
  const Tensor sx = random_tensor(DType::Float32, {5, 6}, 501);
  for (auto [st, en, step] : std::vector<std::array<int64_t, 3>>{{-10, -20, -1}, {-7, 0, -2}, {10, -10, -3}, {-100, 100, 4}})
    cases.push_back({"Slice", "Slice", 13, {}, {{"x", sx, false}, {"a", i64({st}), true}, {"b", i64({en}), true}, {"c", i64({1}), true}, {"d", i64({step}), true}}});
  for (const char* mode : {"reflect", "edge"})
    cases.push_back({std::string("Pad ") + mode, "Pad", 13, {{"mode", std::string(mode)}}, {{"x", sx, false}, {"p", i64({2, 3, 1, 4}), true}}});
  const Tensor cx = Tensor::from_f32({8}, {-2.7f, 300.f, -300.f, 1e10f, -1e10f, 127.5f, 255.9f, -0.9f});
  for (int64_t to : {2, 3, 6, 7, 9}) cases.push_back({"Cast to " + std::to_string(to), "Cast", 13, {{"to", to}}, {{"x", cx, false}}});
  cases.push_back({"Einsum", "Einsum", 12, {{"equation", std::string("bhid,bhjd->bhij")}},
                   {{"q", random_tensor(DType::Float32, {2, 3, 4, 5}, 502), false}, {"k", random_tensor(DType::Float32, {2, 3, 6, 5}, 503), false}}});
  cases.push_back({"TopK ties", "TopK", 11, {}, {{"x", Tensor::from_f32({2, 5}, {3, 1, 3, 9, -2, 0, 0, 5, -1, 5}), false}, {"k", i64({3}), true}}, 2});
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string diff = ort_compare(root + "/" + std::to_string(i), c.op, c.opset, c.attrs, c.ins, c.n_out);
    EXPECT_EQ(diff, "") << c.label << " (model and data kept in " << root << "/" << i << ")";
  }
  if (!HasFailure()) std::filesystem::remove_all(root);
}

// ---------------------------------------------------------------------------------------------
// Robustness: random shapes, attributes and constant inputs (many of them invalid) for every op of
// the family. Each node either runs or throws netlens::Error; never another exception, never a
// crash (run under NETLENS_SANITIZE=ON to catch out-of-bounds accesses too).
TEST(Robustness, RandomNodesRunOrThrowNetlensError) {
  // NETLENS_ROBUST_ITERS / NETLENS_ROBUST_SEED run it longer or differently (e.g. under ASan).
  const int iters = std::getenv("NETLENS_ROBUST_ITERS") ? std::atoi(std::getenv("NETLENS_ROBUST_ITERS")) : 1500;
  std::mt19937 rng(std::getenv("NETLENS_ROBUST_SEED") ? static_cast<uint32_t>(std::atoi(std::getenv("NETLENS_ROBUST_SEED"))) : 2024u);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  auto rand_shape = [&](int64_t max_rank) {
    Shape s(static_cast<size_t>(pick(0, max_rank)));
    for (auto& d : s) d = pick(0, 4);
    return s;
  };
  auto rand_ints = [&](int64_t n) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (auto& x : v) {
      const int64_t r = pick(0, 20);
      x = r == 0 ? INT64_MIN : r == 1 ? INT64_MAX : pick(-6, 6);
    }
    return i64(v);
  };
  const std::vector<std::string> ops = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Gather",
                                        "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Expand", "Tile", "Pad",
                                        "Resize", "DepthToSpace", "SpaceToDepth", "Trilu", "CumSum", "TopK", "OneHot", "Range",
                                        "ConstantOfShape", "Einsum", "Cast", "Flatten", "Shape", "Unique", "Compress", "EyeLike"};
  const std::vector<std::string> equations = {"ij,jk->ik", "bij,bjk->bik", "ii->i", "i,i", "...ij->...ji", "ij->", "a,b->ab", "iij"};
  int ran = 0, refused = 0;
  for (int iter = 0; iter < iters; ++iter) {
    const std::string op = ops[static_cast<size_t>(iter) % ops.size()];
    const DType xdt = iter % 5 == 3 ? DType::Int64 : iter % 5 == 4 ? DType::Float16 : DType::Float32;
    const Tensor x = random_tensor(xdt, rand_shape(4), static_cast<uint32_t>(iter));
    std::map<std::string, AttrValue> attrs;
    std::vector<Tensor> ins = {x};
    std::set<size_t> consts;
    size_t n_out = 1;
    const int64_t axis = pick(-5, 5);
    if (pick(0, 3)) attrs["axis"] = axis;
    if (op == "Reshape" || op == "Expand" || op == "Tile" || op == "Squeeze" || op == "Unsqueeze") {
      ins.push_back(rand_ints(pick(0, 4)));
      consts = {1};
    } else if (op == "Transpose") {
      std::vector<int64_t> perm(static_cast<size_t>(x.rank()));
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      if (!perm.empty() && pick(0, 3) == 0) perm[0] = pick(-6, 6);
      attrs["perm"] = perm;
    } else if (op == "Concat") {
      for (int k = 0; k < pick(0, 2); ++k) ins.push_back(pick(0, 1) ? x : random_tensor(DType::Float32, rand_shape(4), 7));
    } else if (op == "Split") {
      n_out = static_cast<size_t>(pick(1, 3));
      if (pick(0, 1)) { ins.push_back(rand_ints(static_cast<int64_t>(n_out))); consts = {1}; }
    } else if (op == "Slice") {
      const int64_t n = pick(0, 3);
      for (int k = 0; k < 4; ++k) ins.push_back(rand_ints(k < 2 ? n : pick(0, 3)));
      consts = {1, 2, 3, 4};
    } else if (op == "Gather" || op == "GatherElements" || op == "GatherND") {
      Tensor idx = rand_ints(0);
      Shape is = rand_shape(3);
      idx = Tensor(DType::Int64, is);
      for (int64_t k = 0; k < idx.numel(); ++k) idx.data_as<int64_t>()[k] = pick(-5, 5);
      ins.push_back(idx);
    } else if (op == "ScatterND" || op == "ScatterElements") {
      Tensor idx(DType::Int64, rand_shape(3));
      for (int64_t k = 0; k < idx.numel(); ++k) idx.data_as<int64_t>()[k] = pick(-5, 5);
      ins.push_back(idx);
      ins.push_back(random_tensor(DType::Float32, pick(0, 1) ? idx.shape() : rand_shape(3), 9));
      if (pick(0, 1)) attrs["reduction"] = std::string(pick(0, 1) ? "add" : "max");
    } else if (op == "Pad") {
      ins.push_back(rand_ints(pick(0, 1) ? 2 * x.rank() : pick(0, 6)));
      ins.push_back(Tensor::scalar_f32(2.f));
      consts = {1};
      const char* modes[] = {"constant", "reflect", "edge", "wrap", "bogus"};
      attrs["mode"] = std::string(modes[pick(0, 4)]);
    } else if (op == "Resize") {
      ins.push_back(Tensor());
      const int64_t n = pick(0, 1) ? x.rank() : pick(0, 4);
      if (pick(0, 1)) {
        std::vector<float> sc;
        const float opts[] = {0.5f, 1.f, 1.5f, 2.f, 0.3f, 0.f, -1.f};
        for (int64_t k = 0; k < n; ++k) sc.push_back(opts[pick(0, 6)]);
        ins.push_back(f32(sc));
        consts = {2};
      } else {
        ins.push_back(Tensor());
        std::vector<int64_t> sz;
        for (int64_t k = 0; k < n; ++k) sz.push_back(pick(-1, 5));
        ins.push_back(i64(sz));
        consts = {3};
      }
      const char* modes[] = {"nearest", "linear", "cubic"};
      const char* coords[] = {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel", "tf_half_pixel_for_nn"};
      attrs["mode"] = std::string(modes[pick(0, 2)]);
      attrs["coordinate_transformation_mode"] = std::string(coords[pick(0, 4)]);
      attrs["exclude_outside"] = pick(0, 1);
    } else if (op == "DepthToSpace" || op == "SpaceToDepth") {
      attrs["blocksize"] = pick(-1, 3);
    } else if (op == "Trilu" || op == "CumSum" || op == "TopK") {
      ins.push_back(pick(0, 3) ? Tensor::from_i64({}, {pick(-6, 6)}) : rand_ints(pick(0, 2)));
      consts = {1};
      n_out = op == "TopK" ? 2 : 1;
    } else if (op == "OneHot") {
      ins = {Tensor::from_i64({3}, {pick(-5, 5), pick(-5, 5), 0}), Tensor::from_i64({}, {pick(-2, 5)}), f32({0, 1})};
      consts = {1};
    } else if (op == "Range") {
      ins = {Tensor::from_i64({}, {pick(-5, 5)}), Tensor::from_i64({}, {pick(-5, 5)}), Tensor::from_i64({}, {pick(-2, 2)})};
      consts = {0, 1, 2};
    } else if (op == "ConstantOfShape") {
      ins = {rand_ints(pick(0, 3))};
      for (int64_t k = 0; k < ins[0].numel(); ++k) ins[0].data_as<int64_t>()[k] = pick(-1, 4);
      consts = {0};
    } else if (op == "Einsum") {
      attrs["equation"] = equations[static_cast<size_t>(pick(0, static_cast<int64_t>(equations.size()) - 1))];
      if (pick(0, 1)) ins.push_back(random_tensor(DType::Float32, rand_shape(3), 11));
    } else if (op == "Cast") {
      attrs["to"] = pick(0, 17);
    } else if (op == "Unique") {
      consts = {0};
      n_out = 4;
    } else if (op == "Compress") {
      ins.push_back(Tensor(DType::Bool, {pick(0, 5)}));
      consts = {1};
    }
    if (op == "Compress" && ins[1].numel() == 0) ins[1] = Tensor(DType::Bool, {0});
    try {
      run_op(op, attrs, 13, ins, consts, n_out);
      ++ran;
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << op << ": non-netlens exception " << e.what();
    }
  }
  // Both outcomes must occur, or the generator is not exercising anything.
  EXPECT_GT(ran, iters / 8);
  EXPECT_GT(refused, iters / 8);
}

}  // namespace
