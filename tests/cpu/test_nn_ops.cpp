// CPU "nn" ops (Conv, ConvTranspose, pools, Gemm, MatMul, normalisations, LRN, LpNormalization)
// against direct double-precision loops written here, on random inputs with odd sizes.
// Each node goes through the real path: the registered shape function, then the CPU op table's
// check/plan/run. Tolerance: relative L2 error <= 1e-5 for float32 results (max pooling exact).
// Longer than about 600 lines: each op's double-precision reference loop sits beside its cases, and
// the references share this file's tensor helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#include <filesystem>

#include "netlens/cpu/cpu_ops.hpp"
#include "cpu_reference.hpp"
#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "session_graph_util.hpp"

using namespace netlens;

namespace {

constexpr double kTol = 1e-5;

Tensor random_tensor(Shape s, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}

using netlens::cpu_test::rel_l2;

// One node through shape inference and the CPU op table.
struct Case {
  std::string op;
  int64_t opset = 17;
  std::map<std::string, AttrValue> attrs;
  std::vector<Tensor> inputs;  // an undefined Tensor = omitted optional input
  std::vector<bool> constant;  // per input; missing = not constant
  size_t num_outputs = 1;
};

struct Result {
  std::vector<Tensor> outputs;
  std::vector<TensorInfo> infos;
};

const cpu::CpuOpTable& table() {
  static const cpu::CpuOpTable t = [] {
    cpu::CpuOpTable x;
    cpu::register_nn_ops(x);
    return x;
  }();
  return t;
}

Node make_node(const Case& c) {
  Node node;
  node.name = "n";
  node.op_type = c.op;
  node.attrs = c.attrs;
  for (size_t i = 0; i < c.inputs.size(); ++i) node.inputs.push_back(c.inputs[i].defined() ? "in" + std::to_string(i) : "");
  for (size_t o = 0; o < c.num_outputs; ++o) node.outputs.push_back("out" + std::to_string(o));
  return node;
}

Result run_case(const Case& c) {
  const Node node = make_node(c);
  std::vector<TensorInfo> infos(c.inputs.size());
  std::vector<const TensorInfo*> iptr(c.inputs.size(), nullptr);
  std::vector<const Tensor*> cptr(c.inputs.size(), nullptr);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.inputs[i].defined()) continue;
    infos[i] = TensorInfo{c.inputs[i].dtype(), c.inputs[i].shape()};
    iptr[i] = &infos[i];
    if (i < c.constant.size() && c.constant[i]) cptr[i] = &c.inputs[i];
  }
  const InferFn* fn = OpRegistry::global().find(c.op);
  if (!fn) throw Error(ErrorKind::Internal, "no shape function for " + c.op);
  const std::vector<TensorInfo> outs = (*fn)(InferContext{node, c.opset, iptr, cptr});
  NodeContext nc{node, c.opset, infos, outs, cptr};
  const cpu::CpuOp& op = table().at(c.op);
  if (op.check)
    if (auto why = op.check(nc)) throw Error(ErrorKind::Unsupported, *why);
  auto kernel = op.plan(nc);
  Result r;
  r.infos = outs;
  std::vector<TensorView> in_v, out_v;
  for (const Tensor& t : c.inputs)
    in_v.push_back(t.defined() ? TensorView{t.dtype(), t.shape(), const_cast<void*>(t.data())} : TensorView{});
  for (const TensorInfo& info : outs) {
    r.outputs.emplace_back(info.dtype, info.shape);
    out_v.push_back(TensorView{info.dtype, info.shape, r.outputs.back().data()});
  }
  kernel->run(in_v, out_v);
  // A second run must give the same bytes (kernels reuse scratch and packed weights).
  std::vector<Tensor> first;
  for (const Tensor& t : r.outputs) first.push_back(t.clone());
  kernel->run(in_v, out_v);
  for (size_t i = 0; i < first.size(); ++i)
    EXPECT_EQ(0, std::memcmp(first[i].data(), r.outputs[i].data(), first[i].nbytes())) << "second run differs";
  return r;
}

// References: conv_ref, convtranspose_ref, pool_ref (cpu_reference.hpp, shared with tests/conformance).
using namespace netlens::cpuref;

Tensor maybe(bool present, const Tensor& t) { return present ? t : Tensor(); }

// ------------------------------------------------------------------------------------------------
struct ConvParam {
  Shape x, w;
  int64_t group;
  std::vector<int64_t> strides, dilations, pads;  // pads: begins then ends
  bool bias;
  bool const_w;
  std::string auto_pad = "NOTSET";
  bool give_kernel_shape = false;
};

void check_conv(const ConvParam& p, uint32_t seed) {
  const size_t r = p.x.size() - 2;
  const Tensor x = random_tensor(p.x, seed), w = random_tensor(p.w, seed + 1), b = random_tensor({p.w[0]}, seed + 2);
  Case c;
  c.op = "Conv";
  c.opset = 11;
  c.attrs["group"] = p.group;
  c.attrs["strides"] = p.strides;
  c.attrs["dilations"] = p.dilations;
  if (p.auto_pad == "NOTSET") c.attrs["pads"] = p.pads;
  else c.attrs["auto_pad"] = p.auto_pad;
  if (p.give_kernel_shape) c.attrs["kernel_shape"] = std::vector<int64_t>(p.w.begin() + 2, p.w.end());
  c.inputs = {x, w, maybe(p.bias, b)};
  c.constant = {false, p.const_w, p.const_w};
  // Expected geometry computed here, independently of shape_util.
  Geo g;
  Shape y{p.x[0], p.w[0]};
  for (size_t i = 0; i < r; ++i) {
    const int64_t k = p.w[i + 2], eff = (k - 1) * p.dilations[i] + 1, in = p.x[i + 2], s = p.strides[i];
    int64_t pb = 0, pe = 0;
    if (p.auto_pad == "NOTSET") {
      pb = p.pads[i];
      pe = p.pads[i + r];
    } else if (p.auto_pad != "VALID") {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
      pb = p.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    }
    g.k.push_back(k);
    g.s.push_back(s);
    g.d.push_back(p.dilations[i]);
    g.pb.push_back(pb);
    g.pe.push_back(pe);
    y.push_back((in + pb + pe - eff) / s + 1);
  }
  const Result res = run_case(c);
  ASSERT_EQ(res.infos[0].shape, y) << "x " << shape_str(p.x) << " w " << shape_str(p.w);
  const double err = rel_l2(res.outputs[0], conv_ref(x, w, p.bias ? &b : nullptr, p.group, g, y));
  EXPECT_LE(err, kTol) << "x " << shape_str(p.x) << " w " << shape_str(p.w) << " group " << p.group;
}

TEST(Conv, Conv2dOddSizesStridesDilationsAsymmetricPads) {
  check_conv({{1, 3, 7, 9}, {5, 3, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 1);
  check_conv({{1, 3, 7, 9}, {5, 3, 3, 2}, 1, {2, 2}, {1, 1}, {0, 1, 2, 0}, true, true}, 2);
  check_conv({{2, 3, 11, 9}, {5, 3, 3, 3}, 1, {2, 1}, {2, 2}, {2, 1, 1, 2}, false, true}, 3);
  check_conv({{1, 5, 8, 7}, {7, 5, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, true, true}, 4);   // pointwise
  check_conv({{1, 5, 8, 7}, {7, 5, 1, 1}, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, true, false}, 5);  // strided 1x1
}

// Dense 3x3 stride-1 convs take oneDNN's Winograd path (when the CPU has one): same tolerance.
TEST(Conv, Dense3x3StrideOne) {
  check_conv({{1, 16, 14, 13}, {32, 16, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 6);
  check_conv({{2, 64, 9, 11}, {24, 64, 3, 3}, 1, {1, 1}, {1, 1}, {1, 0, 0, 1}, true, true}, 7);
  check_conv({{1, 96, 20, 20}, {24, 96, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, false}, 8);
  check_conv({{1, 256, 7, 7}, {256, 256, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 9);
}

TEST(Conv, GroupedAndDepthwise) {
  check_conv({{1, 6, 9, 7}, {9, 2, 3, 3}, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 10);      // groups 3
  check_conv({{1, 5, 9, 7}, {5, 1, 3, 3}, 5, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true}, 11);      // depthwise
  check_conv({{1, 5, 9, 7}, {10, 1, 5, 5}, 5, {1, 1}, {2, 2}, {4, 3, 4, 5}, false, true}, 12);    // multiplier 2
  check_conv({{2, 4, 10, 10}, {4, 2, 3, 3}, 2, {2, 1}, {1, 2}, {0, 2, 1, 1}, true, false}, 13);   // runtime W
}

// 2-D depthwise (group == channels, multiplier 1) runs on a direct kernel (nn_depthwise.cpp) unless
// NETLENS_CONV_LAYOUT forces oneDNN: odd sizes, strides, dilations, pads.
TEST(Conv, DepthwiseDirect) {
  check_conv({{1, 3, 9, 130}, {3, 1, 3, 3}, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 20);
  check_conv({{1, 2, 7, 150}, {2, 1, 5, 5}, 2, {2, 2}, {1, 2}, {2, 1, 2, 3}, true, false}, 21);
  check_conv({{2, 3, 5, 67}, {3, 1, 3, 3}, 3, {1, 1}, {2, 1}, {1, 2, 2, 0}, false, true}, 22);
  check_conv({{1, 7, 11, 13}, {7, 1, 3, 3}, 7, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 14);
  check_conv({{2, 6, 12, 9}, {6, 1, 5, 5}, 6, {1, 1}, {1, 1}, {2, 2, 2, 2}, false, true}, 15);
  check_conv({{1, 5, 13, 12}, {5, 1, 3, 3}, 5, {2, 2}, {2, 2}, {0, 3, 2, 1}, true, false}, 16);
  check_conv({{1, 4, 9, 10}, {4, 1, 3, 2}, 4, {3, 2}, {1, 3}, {2, 0, 1, 3}, true, true}, 17);
  check_conv({{1, 3, 4, 5}, {3, 1, 3, 3}, 3, {1, 1}, {1, 1}, {4, 4, 4, 4}, true, true}, 18);  // pads > kernel
  check_conv({{1, 3, 6, 6}, {3, 1, 2, 2}, 3, {1, 1}, {4, 4}, {0, 0, 0, 0}, false, true}, 19); // dilation > input/2
}

// The depthwise kernel works on 16 channels at a time in a blocked copy, in bands of about 1024
// output positions: full and partial channel groups, several bands with their halo rows (stride,
// dilation, pads), rows narrower than 16 positions, two images.
TEST(Conv, DepthwiseChannelGroupsAndBands) {
  check_conv({{1, 32, 14, 14}, {32, 1, 3, 3}, 32, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 40);
  check_conv({{2, 20, 37, 61}, {20, 1, 3, 3}, 20, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true}, 41);   // 16 + 4, 3 bands
  check_conv({{1, 48, 57, 45}, {48, 1, 5, 5}, 48, {2, 2}, {1, 1}, {2, 2, 2, 2}, true, false}, 42);  // stride 2, 5x5
  check_conv({{1, 17, 40, 70}, {17, 1, 3, 3}, 17, {1, 2}, {2, 1}, {0, 2, 3, 1}, false, true}, 43);  // dilated, asymmetric
  check_conv({{1, 16, 7, 7}, {16, 1, 3, 3}, 16, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true}, 44);     // 4x4 out
  check_conv({{1, 33, 3, 200}, {33, 1, 1, 7}, 33, {1, 3}, {1, 1}, {0, 3, 0, 3}, true, true}, 45);   // 1xk, wide
}

// Runs `cases` on each path of the depthwise kernel (the variables are read when a kernel is
// planned): the default (planar for stride-1 planes of 100 positions and more, its AVX-512 code on
// CPUs that have it), the planar path's portable code, and the blocked path for every case.
void check_depthwise_paths(const std::vector<ConvParam>& cases, uint32_t seed) {
  const std::pair<const char*, const char*> paths[] = {
      {nullptr, nullptr}, {"NETLENS_DW_GENERIC", "1"}, {"NETLENS_DW_PLANAR", "0"}};
  for (const auto& [var, value] : paths) {
    SCOPED_TRACE(var ? std::string(var) + "=" + value : std::string("default path"));
    if (var) setenv(var, value, 1);
    uint32_t s = seed;
    for (const ConvParam& p : cases) check_conv(p, s += 10);
    if (var) unsetenv(var);
  }
}

// Stride-1 "same" convs run on the flattened plane with per-vector column masks: a wrong mask
// mixes a neighbouring row into an edge column (relative error >> 1e-5). Rows of 7, 14, 15 and 17
// (vectors spanning rows, row ends inside vectors), left-only and right-only pads (tap columns
// -2..0 and 0..2), dilations, 1xk and kx1 kernels, a 1-wide plane, planes of several bands (2048
// positions) read in place between copied top and bottom vectors, partial channel groups of the
// blocked path, two images, with and without bias.
TEST(Conv, DepthwisePlanarEdgeMasks) {
  check_depthwise_paths(
      {
          {{2, 5, 16, 7}, {5, 1, 3, 3}, 5, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true},       // 7 wide
          {{1, 19, 14, 14}, {19, 1, 3, 3}, 19, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, true},  // 14, 16 + 3
          {{1, 3, 9, 15}, {3, 1, 5, 5}, 3, {1, 1}, {1, 1}, {2, 2, 2, 2}, true, true},       // 15, 5x5
          {{2, 3, 11, 17}, {3, 1, 3, 3}, 3, {1, 1}, {2, 2}, {2, 2, 2, 2}, true, false},     // 17, dilated
          {{1, 4, 12, 15}, {4, 1, 3, 3}, 4, {1, 1}, {1, 1}, {0, 2, 2, 0}, true, true},      // left pad only
          {{1, 4, 12, 17}, {4, 1, 3, 3}, 4, {1, 1}, {1, 1}, {1, 0, 1, 2}, true, true},      // right pad only
          {{1, 2, 70, 61}, {2, 1, 3, 3}, 2, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true},      // 3 bands
          {{2, 2, 50, 45}, {2, 1, 5, 5}, 2, {1, 1}, {2, 2}, {4, 4, 4, 4}, false, true},     // 5x5 dilated, bands
          {{1, 3, 12, 33}, {3, 1, 1, 7}, 3, {1, 1}, {1, 1}, {0, 3, 0, 3}, true, true},      // 1x7
          {{1, 2, 30, 9}, {2, 1, 3, 1}, 2, {1, 1}, {1, 1}, {1, 0, 1, 0}, true, true},       // 3x1
          {{1, 2, 150, 1}, {2, 1, 3, 1}, 2, {1, 1}, {1, 1}, {2, 0, 0, 0}, true, true},      // 1 wide
          {{1, 3, 10, 23}, {3, 1, 7, 7}, 3, {1, 1}, {1, 2}, {3, 6, 3, 6}, true, true},      // 7x7, dilation 2
          {{1, 20, 9, 9}, {20, 1, 3, 3}, 20, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true},     // 81 positions: small planes
      },
      60);
}

// Stride-2 convs with kernels up to 3 wide and output rows of 14 and more run on the planar rows
// on AVX-512 CPUs (blocked elsewhere, under NETLENS_DW_GENERIC=1, and for 5x5): masked loads of 32
// input columns split into the even and odd taps. Odd and even widths (outputs of 14, 15, 17, 18,
// 28, 40, 56 per row: partial last vectors, row ends spilling into the next row), 3x3/5x3/4x2/7x1
// and 5x5 (blocked) kernels, pads 0..3 on either side, row dilation, first rows whose taps start
// above the image, last rows whose taps end below it, bands of rows, two images.
TEST(Conv, DepthwiseStride2Rows) {
  check_depthwise_paths(
      {
          {{2, 5, 28, 28}, {5, 1, 3, 3}, 5, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true},      // 14 out
          {{1, 3, 30, 29}, {3, 1, 3, 3}, 3, {2, 2}, {1, 1}, {1, 1, 1, 1}, false, true},     // 15 out
          {{1, 4, 21, 35}, {4, 1, 5, 3}, 4, {2, 2}, {1, 1}, {2, 1, 2, 1}, true, true},      // 5x3, 18 out
          {{1, 4, 21, 35}, {4, 1, 5, 5}, 4, {2, 2}, {1, 1}, {2, 2, 2, 2}, true, true},      // 5x5: blocked
          {{1, 3, 16, 34}, {3, 1, 3, 3}, 3, {2, 2}, {1, 1}, {0, 0, 1, 1}, true, false},     // pads at the end
          {{1, 3, 16, 33}, {3, 1, 4, 2}, 3, {2, 2}, {1, 1}, {3, 1, 0, 0}, true, true},      // 4x2, pad 3 above
          {{1, 2, 130, 80}, {2, 1, 3, 3}, 2, {2, 2}, {2, 1}, {2, 1, 2, 1}, true, true},     // row dilation, bands
          {{1, 2, 20, 56}, {2, 1, 7, 1}, 2, {2, 2}, {1, 1}, {3, 0, 3, 0}, true, true},      // 7x1
          {{1, 17, 112, 112}, {17, 1, 3, 3}, 17, {2, 2}, {1, 1}, {0, 0, 1, 1}, true, true}, // 56 out, bands
      },
      90);
}

// Stride-2 convs with output rows of 4..8 run two output rows per vector on AVX-512 CPUs (blocked
// elsewhere and under NETLENS_DW_GENERIC=1): a wrong permute index or row mask mixes a neighbouring
// row or column in (relative error >> 1e-5). Odd output heights (the last vector half used), 3x3
// and 5x5 on 14-wide rows (5x5's last taps past the 16-column load), 7, 8 and 4 outputs a row,
// pads 0..2 on either side (no left pad: a last tap past the load would read the second row's
// first column), a 3x1 kernel, row dilation, two images, without bias.
TEST(Conv, DepthwiseStride2RowPairs) {
  check_depthwise_paths(
      {
          {{2, 20, 14, 14}, {20, 1, 3, 3}, 20, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true},   // 7x7 out
          {{1, 18, 14, 14}, {18, 1, 5, 5}, 18, {2, 2}, {1, 1}, {2, 2, 2, 2}, true, true},   // 5x5, 7x7 out
          {{1, 5, 15, 15}, {5, 1, 3, 3}, 5, {2, 2}, {1, 1}, {1, 1, 1, 1}, false, true},     // 8x8 out
          {{1, 3, 13, 14}, {3, 1, 3, 3}, 3, {2, 2}, {1, 1}, {0, 0, 1, 1}, true, true},      // pads at the end
          {{1, 3, 17, 9}, {3, 1, 5, 5}, 3, {2, 2}, {1, 1}, {2, 2, 1, 1}, true, false},      // 5x5, 4 out a row
          {{1, 4, 11, 13}, {4, 1, 3, 1}, 4, {2, 2}, {2, 1}, {2, 0, 2, 0}, true, true},      // 3x1, row dilation
          {{1, 3, 12, 14}, {3, 1, 3, 3}, 3, {2, 2}, {1, 1}, {0, 2, 0, 1}, true, true},      // left pad 2
          {{1, 3, 12, 16}, {3, 1, 3, 3}, 3, {2, 2}, {1, 1}, {1, 0, 1, 1}, true, true},      // no left pad, 8 out
      },
      120);
}

// Stride-1 planes under 100 positions run with masked loads per tap on AVX-512 CPUs, 16 planes per
// chain call: a wrong row or column mask reads a neighbouring row or plane (relative error >> 1e-5).
// 7x7 with 3x3, 5x5 (taps two rows and columns out), 1x7 and 7x1; dilation 2; asymmetric pads;
// 20 and 37 channels (groups of 16 planes with partial last groups), two images, without bias.
TEST(Conv, DepthwiseSmallPlanes) {
  check_depthwise_paths(
      {
          {{2, 20, 7, 7}, {20, 1, 3, 3}, 20, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true},    // 7x7
          {{1, 37, 7, 7}, {37, 1, 5, 5}, 37, {1, 1}, {1, 1}, {2, 2, 2, 2}, true, true},    // 5x5
          {{1, 5, 9, 8}, {5, 1, 3, 3}, 5, {1, 1}, {2, 2}, {2, 2, 2, 2}, false, true},      // dilated
          {{1, 6, 7, 9}, {6, 1, 1, 7}, 6, {1, 1}, {1, 1}, {0, 3, 0, 3}, true, true},       // 1x7
          {{1, 6, 9, 7}, {6, 1, 7, 1}, 6, {1, 1}, {1, 1}, {3, 0, 3, 0}, true, false},      // 7x1
          {{2, 3, 6, 8}, {3, 1, 3, 3}, 3, {1, 1}, {1, 1}, {0, 2, 2, 0}, true, true},       // pads on one side
      },
      150);
}

// Dense 1x1 convs with constant weights on 512 positions and more run as tiled sgemms
// (PointwiseConv); strided ones read a gathered copy of every sh-th row and sw-th column.
TEST(Conv, PointwiseStrided) {
  check_conv({{1, 40, 64, 60}, {48, 40, 1, 1}, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, true, true}, 50);     // 32x30 out
  check_conv({{2, 24, 60, 35}, {70, 24, 1, 1}, 1, {3, 1}, {1, 1}, {0, 0, 0, 0}, true, true}, 51);     // 20x35, 2 images
  check_conv({{1, 64, 85, 70}, {20, 64, 1, 1}, 1, {3, 2}, {1, 1}, {0, 0, 0, 0}, false, true}, 52);    // 29x35 out
  check_conv({{2, 16, 100, 81}, {300, 16, 1, 1}, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, true, true}, 54);   // 50x41, wide
}

TEST(Conv, AutoPadAndKernelShapeAttribute) {
  ConvParam p{{1, 3, 7, 9}, {4, 3, 3, 3}, 1, {2, 2}, {1, 1}, {}, true, true, "SAME_UPPER", true};
  check_conv(p, 20);
  p.auto_pad = "SAME_LOWER";
  check_conv(p, 21);
  p.auto_pad = "VALID";
  check_conv(p, 22);
  p.w = {4, 3, 4, 2};
  p.auto_pad = "SAME_LOWER";
  check_conv(p, 23);
}

TEST(Conv, OneAndThreeSpatialDims) {
  check_conv({{2, 3, 17}, {4, 3, 3}, 1, {2}, {2}, {1, 2}, true, true}, 30);
  check_conv({{1, 4, 13}, {4, 1, 5}, 4, {1}, {1}, {2, 2}, true, false}, 31);
  check_conv({{1, 3, 5, 6, 7}, {4, 3, 3, 3, 3}, 1, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 1, 1, 2}, true, true}, 32);
  check_conv({{1, 4, 5, 6, 7}, {4, 2, 2, 3, 1}, 2, {2, 1, 1}, {1, 1, 1}, {0, 1, 0, 1, 1, 0}, false, true}, 33);
}

TEST(Conv, RejectsInconsistentShapes) {
  Case c;
  c.op = "Conv";
  c.inputs = {random_tensor({1, 3, 5, 5}, 1), random_tensor({4, 2, 3, 3}, 2)};
  EXPECT_THROW(run_case(c), Error);
  c.inputs = {random_tensor({1, 3, 5, 5}, 1), random_tensor({4, 3, 3, 3}, 2)};
  c.attrs["kernel_shape"] = std::vector<int64_t>{2, 2};
  EXPECT_THROW(run_case(c), Error);
  c.attrs.clear();
  c.inputs = {random_tensor({1, 3, 2, 2}, 1), random_tensor({4, 3, 3, 3}, 2)};
  try {
    run_case(c);
    FAIL() << "expected an error for a kernel larger than the input";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Model);
    EXPECT_NE(std::string(e.what()).find("Conv node 'n'"), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------------------------------------------
struct ConvTParam {
  Shape x, w;
  int64_t group;
  std::vector<int64_t> strides, dilations, pads, output_padding;
  bool bias;
  bool const_w;
  std::vector<int64_t> output_shape = {};
  std::string auto_pad = "NOTSET";
};

void check_convtranspose(const ConvTParam& p, uint32_t seed) {
  const size_t r = p.x.size() - 2;
  const int64_t oc = p.w[1] * p.group;
  const Tensor x = random_tensor(p.x, seed), w = random_tensor(p.w, seed + 1), b = random_tensor({oc}, seed + 2);
  Case c;
  c.op = "ConvTranspose";
  c.opset = 11;
  c.attrs["group"] = p.group;
  c.attrs["strides"] = p.strides;
  c.attrs["dilations"] = p.dilations;
  if (!p.pads.empty()) c.attrs["pads"] = p.pads;
  if (!p.output_padding.empty()) c.attrs["output_padding"] = p.output_padding;
  if (!p.output_shape.empty()) c.attrs["output_shape"] = p.output_shape;
  if (p.auto_pad != "NOTSET") c.attrs["auto_pad"] = p.auto_pad;
  c.inputs = {x, w, maybe(p.bias, b)};
  c.constant = {false, p.const_w, p.const_w};
  Geo g;
  Shape y{p.x[0], oc};
  for (size_t i = 0; i < r; ++i) {
    const int64_t k = p.w[i + 2], eff = (k - 1) * p.dilations[i] + 1, in = p.x[i + 2], s = p.strides[i];
    const int64_t op = p.output_padding.empty() ? 0 : p.output_padding[i];
    const int64_t full = s * (in - 1) + op + eff;
    int64_t pb = p.pads.empty() ? 0 : p.pads[i], pe = p.pads.empty() ? 0 : p.pads[i + r];
    if (!p.output_shape.empty() || p.auto_pad != "NOTSET") {
      const int64_t target = p.output_shape.empty() ? in * s : p.output_shape[i];
      const int64_t total = full - target;
      pb = total < 0 ? 0 : (p.auto_pad == "SAME_LOWER" ? total - total / 2 : total / 2);
      pe = total - pb;
    }
    g.k.push_back(k);
    g.s.push_back(s);
    g.d.push_back(p.dilations[i]);
    g.pb.push_back(pb);
    g.pe.push_back(pe);
    y.push_back(full - pb - pe);
  }
  const Result res = run_case(c);
  ASSERT_EQ(res.infos[0].shape, y);
  const double err = rel_l2(res.outputs[0], convtranspose_ref(x, w, p.bias ? &b : nullptr, p.group, g, y));
  EXPECT_LE(err, kTol) << "x " << shape_str(p.x) << " w " << shape_str(p.w) << " group " << p.group;
}

TEST(ConvTranspose, StridesDilationsPadsGroups) {
  check_convtranspose({{1, 3, 7, 9}, {3, 5, 3, 3}, 1, {2, 2}, {1, 1}, {1, 0, 0, 1}, {}, true, true}, 40);
  check_convtranspose({{1, 4, 5, 6}, {4, 3, 3, 2}, 2, {2, 3}, {2, 1}, {1, 1, 2, 0}, {1, 2}, true, true}, 41);
  check_convtranspose({{2, 6, 5, 4}, {6, 1, 3, 3}, 6, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, false, true}, 42);
  check_convtranspose({{1, 3, 6, 5}, {3, 2, 2, 2}, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, {}, true, false}, 43);
}

// kernel == stride, no pads: the patch (GEMM + placement) path.
TEST(ConvTranspose, KernelEqualsStride) {
  check_convtranspose({{1, 24, 9, 11}, {24, 5, 2, 2}, 1, {2, 2}, {1, 1}, {}, {}, true, true}, 44);
  check_convtranspose({{2, 7, 5, 6}, {7, 1, 2, 2}, 1, {2, 2}, {1, 1}, {}, {}, true, false}, 45);
  check_convtranspose({{1, 3, 4, 5}, {3, 4, 3, 2}, 1, {3, 2}, {1, 1}, {0, 0, 0, 0}, {}, false, true}, 46);
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  // output_shape larger than the full result: trailing rows/cols get only the bias.
  check_convtranspose({{1, 2, 3, 3}, {2, 3, 3, 3}, 1, {3, 2}, {1, 1}, {}, {}, true, true, {10, 8}}, 50);
  check_convtranspose({{1, 2, 4, 5}, {2, 3, 3, 3}, 1, {2, 2}, {1, 1}, {}, {}, true, true, {7, 9}}, 51);
  check_convtranspose({{1, 2, 4, 5}, {2, 3, 3, 3}, 1, {2, 2}, {1, 1}, {}, {}, true, true, {}, "SAME_UPPER"}, 52);
  check_convtranspose({{1, 2, 4, 5}, {2, 3, 4, 3}, 1, {2, 3}, {1, 1}, {}, {}, false, true, {}, "SAME_LOWER"}, 53);
}

TEST(ConvTranspose, OneAndThreeSpatialDims) {
  check_convtranspose({{1, 3, 7}, {3, 2, 3}, 1, {2}, {1}, {1, 0}, {1}, true, true}, 60);
  check_convtranspose({{1, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, 1, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 0, 0, 1}, {}, true, true}, 61);
}

// ------------------------------------------------------------------------------------------------
struct PoolParam {
  Shape x;
  std::vector<int64_t> k, strides, dilations, pads;
  bool ceil = false;
  bool include_pad = false;
  std::string auto_pad = "NOTSET";
};

Geo pool_geo(const PoolParam& p, Shape& y) {
  const size_t r = p.x.size() - 2;
  Geo g;
  y = {p.x[0], p.x[1]};
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = p.dilations.empty() ? 1 : p.dilations[i], s = p.strides[i];
    const cpuref::PoolDim pd = cpuref::pool_dim(p.x[i + 2], p.k[i], s, d, p.pads.empty() ? 0 : p.pads[i],
                                                p.pads.empty() ? 0 : p.pads[i + r], p.ceil, p.auto_pad);
    const int64_t pb = pd.pad_begin, pe = pd.pad_end, out = pd.out;
    g.k.push_back(p.k[i]);
    g.s.push_back(s);
    g.d.push_back(d);
    g.pb.push_back(pb);
    g.pe.push_back(pe);
    y.push_back(out);
  }
  return g;
}

Case pool_case(const std::string& op, const PoolParam& p, const Tensor& x, int64_t opset) {
  Case c;
  c.op = op;
  c.opset = opset;
  c.attrs["kernel_shape"] = p.k;
  c.attrs["strides"] = p.strides;
  if (!p.dilations.empty()) c.attrs["dilations"] = p.dilations;
  if (!p.pads.empty()) c.attrs["pads"] = p.pads;
  if (p.auto_pad != "NOTSET") c.attrs["auto_pad"] = p.auto_pad;
  c.attrs["ceil_mode"] = int64_t{p.ceil};
  if (op == "AveragePool") c.attrs["count_include_pad"] = int64_t{p.include_pad};
  c.inputs = {x};
  return c;
}

void check_maxpool(const PoolParam& p, uint32_t seed, bool indices = false) {
  const Tensor x = random_tensor(p.x, seed);
  Case c = pool_case("MaxPool", p, x, 12);
  c.num_outputs = indices ? 2 : 1;
  Shape y;
  const Geo g = pool_geo(p, y);
  const Result res = run_case(c);
  ASSERT_EQ(res.infos[0].shape, y);
  std::vector<int64_t> arg;
  const std::vector<double> want = pool_ref(x, g, y, true, false, &arg);
  for (int64_t i = 0; i < res.outputs[0].numel(); ++i)
    ASSERT_EQ(res.outputs[0].get_f64(i), want[static_cast<size_t>(i)]) << "element " << i;
  if (indices) {
    ASSERT_EQ(res.outputs[1].dtype(), DType::Int64);
    for (int64_t i = 0; i < res.outputs[1].numel(); ++i)
      ASSERT_EQ(res.outputs[1].get_i64(i), arg[static_cast<size_t>(i)]) << "index " << i;
  }
}

void check_avgpool(const PoolParam& p, uint32_t seed, int64_t opset = 11) {
  const Tensor x = random_tensor(p.x, seed);
  const Case c = pool_case("AveragePool", p, x, opset);
  Shape y;
  const Geo g = pool_geo(p, y);
  const Result res = run_case(c);
  ASSERT_EQ(res.infos[0].shape, y);
  EXPECT_LE(rel_l2(res.outputs[0], pool_ref(x, g, y, false, p.include_pad)), kTol)
      << shape_str(p.x) << " include_pad " << p.include_pad << " ceil " << p.ceil;
}

TEST(Pool, MaxPoolVariants) {
  check_maxpool({{1, 3, 7, 9}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}}, 70);
  check_maxpool({{1, 3, 7, 9}, {3, 2}, {2, 2}, {}, {0, 1, 1, 0}, true}, 71);          // ceil_mode
  check_maxpool({{2, 5, 10, 11}, {2, 3}, {1, 2}, {2, 2}, {1, 0, 0, 1}}, 72);          // dilation
  check_maxpool({{1, 2, 8, 9}, {3, 3}, {2, 2}, {}, {}, false, false, "SAME_UPPER"}, 73);
  check_maxpool({{1, 2, 8, 9}, {3, 3}, {2, 2}, {}, {}, false, false, "SAME_LOWER"}, 74);
  check_maxpool({{1, 3, 13}, {4}, {3}, {}, {1, 2}, true}, 75);                         // 1-D
  check_maxpool({{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {}, {0, 1, 1, 1, 1, 0}}, 76);  // 3-D
}

TEST(Pool, MaxPoolIndices) {
  check_maxpool({{2, 3, 7, 9}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}}, 80, true);
  check_maxpool({{1, 2, 7, 8}, {2, 2}, {2, 2}, {}, {}, true}, 81, true);
}

TEST(Pool, MaxPoolIndicesColumnMajor) {
  const PoolParam p{{1, 2, 5, 4}, {2, 2}, {1, 1}, {}, {}};
  const Tensor x = random_tensor(p.x, 82);
  Case c = pool_case("MaxPool", p, x, 12);
  c.attrs["storage_order"] = int64_t{1};
  c.num_outputs = 2;
  Shape y;
  const Geo g = pool_geo(p, y);
  std::vector<int64_t> arg;
  pool_ref(x, g, y, true, false, &arg);
  const Result res = run_case(c);
  for (int64_t i = 0; i < res.outputs[1].numel(); ++i) {
    // Row-major flat index → (plane, h, w) → plane offset + w * H + h.
    const int64_t a = arg[static_cast<size_t>(i)], plane = a / 20, h = a % 20 / 4, w = a % 4;
    ASSERT_EQ(res.outputs[1].get_i64(i), plane * 20 + w * 5 + h);
  }
}

TEST(Pool, MaxPoolUInt8) {
  Tensor x(DType::UInt8, {1, 2, 5, 5});
  std::mt19937 rng(5);
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<uint8_t>()[i] = static_cast<uint8_t>(rng() % 256);
  const PoolParam p{{1, 2, 5, 5}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}};
  const Result res = run_case(pool_case("MaxPool", p, x, 12));
  ASSERT_EQ(res.outputs[0].dtype(), DType::UInt8);
  Shape y;
  const Geo g = pool_geo(p, y);
  const std::vector<double> want = pool_ref(x, g, y, true, false);
  for (int64_t i = 0; i < res.outputs[0].numel(); ++i) ASSERT_EQ(res.outputs[0].get_f64(i), want[static_cast<size_t>(i)]);
}

TEST(Pool, AveragePoolCountIncludePadBothModes) {
  for (bool inc : {false, true}) {
    check_avgpool({{1, 3, 7, 9}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, false, inc}, 90);
    check_avgpool({{1, 3, 7, 9}, {3, 2}, {2, 2}, {}, {0, 1, 1, 0}, true, inc}, 91);   // ceil_mode
    check_avgpool({{1, 3, 8, 8}, {3, 3}, {3, 3}, {}, {1, 1, 1, 1}, true, inc}, 92);   // ceil window overhang
    check_avgpool({{1, 2, 8, 9}, {3, 3}, {2, 2}, {}, {}, false, inc, "SAME_UPPER"}, 93);
    check_avgpool({{1, 2, 8, 9}, {2, 4}, {2, 3}, {}, {}, false, inc, "SAME_LOWER"}, 94);
    check_avgpool({{1, 3, 13}, {4}, {3}, {}, {1, 2}, true, inc}, 95);
    check_avgpool({{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {}, {0, 1, 1, 1, 1, 0}, false, inc}, 96);
    check_avgpool({{1, 2, 9, 10}, {2, 3}, {1, 2}, {2, 2}, {1, 1, 1, 1}, false, inc}, 97, 19);  // dilations
  }
}

TEST(Pool, GlobalPools) {
  const Tensor x = random_tensor({2, 5, 7, 3}, 100);
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    Case c;
    c.op = op;
    c.inputs = {x};
    const Result res = run_case(c);
    ASSERT_EQ(res.infos[0].shape, (Shape{2, 5, 1, 1}));
    std::vector<double> want(10);
    for (int64_t p = 0; p < 10; ++p) {
      double s = 0, m = -INFINITY;
      for (int64_t i = 0; i < 21; ++i) {
        s += x.get_f64(p * 21 + i);
        m = std::max(m, x.get_f64(p * 21 + i));
      }
      want[static_cast<size_t>(p)] = std::string(op) == "GlobalMaxPool" ? m : s / 21;
    }
    EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << op;
  }
}

// ------------------------------------------------------------------------------------------------
void check_gemm(int64_t m, int64_t k, int64_t n, bool ta, bool tb, float alpha, float beta, Shape cshape,
                bool const_b, bool const_c, uint32_t seed) {
  const Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, seed);
  const Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, seed + 1);
  const bool has_c = cshape != Shape{-1};
  const Tensor cc = has_c ? random_tensor(cshape, seed + 2) : Tensor();
  Case c;
  c.op = "Gemm";
  c.opset = 13;
  c.attrs["transA"] = int64_t{ta};
  c.attrs["transB"] = int64_t{tb};
  c.attrs["alpha"] = alpha;
  c.attrs["beta"] = beta;
  c.inputs = {a, b};
  if (has_c) c.inputs.push_back(cc);
  c.constant = {false, const_b, const_c};
  const Result res = run_case(c);
  ASSERT_EQ(res.infos[0].shape, (Shape{m, n}));
  std::vector<double> want(static_cast<size_t>(m * n));
  const std::vector<int64_t> cs = has_c ? broadcast_strides(cshape, {m, n}) : std::vector<int64_t>{0, 0};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t l = 0; l < k; ++l) s += a.get_f64(ta ? l * m + i : i * k + l) * b.get_f64(tb ? j * k + l : l * n + j);
      want[static_cast<size_t>(i * n + j)] = alpha * s + (has_c ? beta * cc.get_f64(i * cs[0] + j * cs[1]) : 0.0);
    }
  EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << m << "x" << k << "x" << n << " C " << shape_str(cshape);
}

TEST(Gemm, TransposesAlphaBetaAndBroadcastC) {
  check_gemm(5, 7, 9, false, false, 1.0f, 1.0f, {9}, true, true, 110);
  check_gemm(5, 7, 9, true, false, 0.5f, 2.0f, {5, 9}, false, false, 111);
  check_gemm(5, 7, 9, false, true, 1.0f, 0.25f, {1, 9}, true, false, 112);
  check_gemm(5, 7, 9, true, true, -1.5f, 1.0f, {5, 1}, true, true, 113);
  check_gemm(1, 33, 10, false, true, 1.0f, 1.0f, {10}, true, true, 114);  // a classifier head
  check_gemm(6, 4, 3, false, false, 1.0f, 1.0f, {}, false, true, 115);    // scalar C
  check_gemm(6, 4, 3, false, false, 2.0f, 1.0f, {-1}, false, false, 116); // no C
  check_gemm(6, 4, 3, false, false, 1.0f, 1.0f, {1}, true, false, 117);   // single-element vector C
  // At most 4 rows of A with a constant B: B read in place by sgemm (nn_matmul.cpp InPlaceGemm).
  check_gemm(1, 33, 10, true, false, 0.5f, 2.0f, {1, 10}, true, false, 118);
  check_gemm(3, 17, 8, false, false, 1.0f, 1.0f, {-1}, true, false, 119);
  check_gemm(4, 9, 5, true, true, -1.5f, 0.5f, {4, 1}, true, true, 120);
  check_gemm(2, 6, 3, false, true, 1.0f, 1.0f, {}, true, true, 121);
}

void check_matmul(Shape as, Shape bs, bool const_b, uint32_t seed) {
  const Tensor a = random_tensor(as, seed), b = random_tensor(bs, seed + 1);
  Case c;
  c.op = "MatMul";
  c.opset = 13;
  c.inputs = {a, b};
  c.constant = {false, const_b};
  const Result res = run_case(c);
  // numpy semantics, computed directly
  Shape a2 = as, b2 = bs;
  if (a2.size() == 1) a2.insert(a2.begin(), 1);
  if (b2.size() == 1) b2.push_back(1);
  const int64_t m = a2[a2.size() - 2], k = a2.back(), n = b2.back();
  const Shape ba(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "test");
  Shape y = batch;
  if (as.size() > 1) y.push_back(m);
  if (bs.size() > 1) y.push_back(n);
  ASSERT_EQ(res.infos[0].shape, y);
  const std::vector<int64_t> sa = broadcast_strides(ba, batch), sb = broadcast_strides(bb, batch);
  const std::vector<int64_t> st = strides_of(batch);
  std::vector<double> want;
  for (int64_t bi = 0; bi < numel(batch); ++bi) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      const int64_t idx = bi / st[d] % batch[d];
      oa += idx * sa[d];
      ob += idx * sb[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l) s += a.get_f64(oa * m * k + i * k + l) * b.get_f64(ob * k * n + l * n + j);
        want.push_back(s);
      }
  }
  EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << shape_str(as) << " x " << shape_str(bs);
}

TEST(MatMul, NumpySemantics) {
  check_matmul({5, 7}, {7, 3}, true, 120);
  check_matmul({2, 3, 5, 7}, {7, 9}, true, 121);     // batched A, shared constant B
  check_matmul({2, 3, 5, 7}, {7, 9}, false, 122);
  check_matmul({2, 1, 5, 7}, {3, 7, 4}, false, 123); // broadcasting on both sides
  check_matmul({3, 5, 7}, {1, 7, 4}, true, 124);
  check_matmul({7}, {7, 4}, false, 125);             // 1-D A
  check_matmul({3, 5, 7}, {7}, false, 126);          // 1-D B
  check_matmul({7}, {7}, false, 127);                // dot product → scalar
  check_matmul({4, 2, 3, 7}, {4, 2, 7, 5}, false, 128);
}

// ------------------------------------------------------------------------------------------------
TEST(Norm, BatchNormalizationInference) {
  for (int64_t opset : {7, 9, 15}) {
    const Tensor x = random_tensor({2, 5, 3, 7}, 130, -3, 3);
    const Tensor scale = random_tensor({5}, 131), bias = random_tensor({5}, 132), mean = random_tensor({5}, 133),
                 var = random_tensor({5}, 134, 0.1f, 2.0f);
    Case c;
    c.op = "BatchNormalization";
    c.opset = opset;
    c.attrs["epsilon"] = 1e-3f;
    c.inputs = {x, scale, bias, mean, var};
    c.constant = {false, true, true, true, true};
    const Result res = run_case(c);
    std::vector<double> want;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t ch = i / 21 % 5;
      want.push_back((x.get_f64(i) - mean.get_f64(ch)) / std::sqrt(var.get_f64(ch) + double(1e-3f)) * scale.get_f64(ch) +
                     bias.get_f64(ch));
    }
    EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << "opset " << opset;
  }
}

TEST(Norm, BatchNormalizationOpset7PerElement) {
  const Tensor x = random_tensor({2, 3, 2, 2}, 135);
  const Tensor scale = random_tensor({3, 2, 2}, 136), bias = random_tensor({3, 2, 2}, 137),
               mean = random_tensor({3, 2, 2}, 138), var = random_tensor({3, 2, 2}, 139, 0.1f, 2.0f);
  Case c;
  c.op = "BatchNormalization";
  c.opset = 7;
  c.attrs["spatial"] = int64_t{0};
  c.inputs = {x, scale, bias, mean, var};
  const Result res = run_case(c);
  std::vector<double> want;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t e = i % 12;
    want.push_back((x.get_f64(i) - mean.get_f64(e)) / std::sqrt(var.get_f64(e) + double(1e-5f)) * scale.get_f64(e) +
                   bias.get_f64(e));
  }
  EXPECT_LE(rel_l2(res.outputs[0], want), kTol);
}

TEST(Norm, BatchNormalizationTrainingModeIsUnsupported) {
  Case c;
  c.op = "BatchNormalization";
  c.opset = 15;
  c.attrs["training_mode"] = int64_t{1};
  c.inputs = {random_tensor({1, 2, 3}, 1), random_tensor({2}, 2), random_tensor({2}, 3), random_tensor({2}, 4),
              random_tensor({2}, 5, 0.5f, 1.0f)};
  c.num_outputs = 3;
  try {
    run_case(c);
    FAIL() << "training mode must be reported unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("training_mode"), std::string::npos);
  }
}

TEST(Norm, InstanceNormalization) {
  const Tensor x = random_tensor({2, 5, 7, 9}, 140, -2, 5);
  const Tensor scale = random_tensor({5}, 141), bias = random_tensor({5}, 142);
  Case c;
  c.op = "InstanceNormalization";
  c.opset = 6;
  c.attrs["epsilon"] = 1e-4f;
  c.inputs = {x, scale, bias};
  const Result res = run_case(c);
  std::vector<double> want(static_cast<size_t>(x.numel()));
  for (int64_t p = 0; p < 10; ++p) {
    double s = 0, v = 0;
    for (int64_t i = 0; i < 63; ++i) s += x.get_f64(p * 63 + i);
    const double mean = s / 63;
    for (int64_t i = 0; i < 63; ++i) v += (x.get_f64(p * 63 + i) - mean) * (x.get_f64(p * 63 + i) - mean);
    const double inv = 1 / std::sqrt(v / 63 + double(1e-4f));
    for (int64_t i = 0; i < 63; ++i)
      want[static_cast<size_t>(p * 63 + i)] = (x.get_f64(p * 63 + i) - mean) * inv * scale.get_f64(p % 5) + bias.get_f64(p % 5);
  }
  EXPECT_LE(rel_l2(res.outputs[0], want), kTol);
}

void check_layernorm(Shape xs, int64_t axis, Shape scale_shape, bool with_bias, uint32_t seed) {
  const Tensor x = random_tensor(xs, seed, -2, 4);
  const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(xs.size()) : axis;
  const Shape norm(xs.begin() + ax, xs.end());
  const Tensor scale = random_tensor(scale_shape, seed + 1), bias = random_tensor(scale_shape, seed + 2);
  Case c;
  c.op = "LayerNormalization";
  c.opset = 17;
  c.attrs["axis"] = axis;
  c.attrs["epsilon"] = 1e-3f;
  c.inputs = {x, scale, maybe(with_bias, bias)};
  c.num_outputs = 3;
  const Result res = run_case(c);
  const int64_t inner = numel(norm), outer = x.numel() / inner;
  Shape stat(xs.begin(), xs.begin() + ax);
  stat.resize(xs.size(), 1);
  ASSERT_EQ(res.infos[1].shape, stat);
  ASSERT_EQ(res.infos[2].shape, stat);
  const std::vector<int64_t> ss = broadcast_strides(scale_shape, norm), ns = strides_of(norm);
  std::vector<double> want, want_mean, want_inv;
  for (int64_t r = 0; r < outer; ++r) {
    double s = 0, v = 0;
    for (int64_t i = 0; i < inner; ++i) s += x.get_f64(r * inner + i);
    const double mean = s / static_cast<double>(inner);
    for (int64_t i = 0; i < inner; ++i) v += std::pow(x.get_f64(r * inner + i) - mean, 2);
    const double inv = 1 / std::sqrt(v / static_cast<double>(inner) + double(1e-3f));
    for (int64_t i = 0; i < inner; ++i) {
      int64_t off = 0;
      for (size_t d = 0; d < norm.size(); ++d) off += i / ns[d] % norm[d] * ss[d];
      want.push_back((x.get_f64(r * inner + i) - mean) * inv * scale.get_f64(off) + (with_bias ? bias.get_f64(off) : 0.0));
    }
    want_mean.push_back(mean);
    want_inv.push_back(inv);
  }
  EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << shape_str(xs) << " axis " << axis;
  EXPECT_LE(rel_l2(res.outputs[1], want_mean), kTol);
  EXPECT_LE(rel_l2(res.outputs[2], want_inv), kTol);
}

TEST(Norm, LayerNormalization) {
  check_layernorm({3, 5, 7}, -1, {7}, true, 150);
  check_layernorm({3, 5, 7}, 1, {5, 7}, true, 151);
  check_layernorm({2, 3, 5, 7}, -2, {1, 7}, false, 152);  // broadcast Scale, no B
  check_layernorm({4, 9}, 0, {4, 9}, true, 153);
}

TEST(Norm, LRN) {
  const Tensor x = random_tensor({2, 7, 3, 5}, 160);
  for (int64_t size : {3, 4}) {
    Case c;
    c.op = "LRN";
    c.opset = 13;
    c.attrs["size"] = size;
    c.attrs["alpha"] = 2e-3f;
    c.attrs["beta"] = 0.6f;
    c.attrs["bias"] = 1.5f;
    c.inputs = {x};
    const Result res = run_case(c);
    std::vector<double> want;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t ch = i / 15 % 7, n = i / 105, sp = i % 15;
      double s = 0;
      for (int64_t cc = ch - (size - 1) / 2; cc <= ch + (size - 1) - (size - 1) / 2; ++cc)
        if (cc >= 0 && cc < 7) s += std::pow(x.get_f64((n * 7 + cc) * 15 + sp), 2);
      want.push_back(x.get_f64(i) / std::pow(double(1.5f) + double(2e-3f) / size * s, double(0.6f)));
    }
    EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << "size " << size;
  }
}

TEST(Norm, LpNormalization) {
  const Tensor x = random_tensor({3, 4, 5}, 170);
  for (int64_t p : {1, 2})
    for (int64_t axis : {1, -1}) {
      Case c;
      c.op = "LpNormalization";
      c.opset = 1;
      c.attrs["p"] = p;
      c.attrs["axis"] = axis;
      c.inputs = {x};
      const Result res = run_case(c);
      const int64_t ax = axis < 0 ? 2 : axis;
      const Shape& s = x.shape();
      std::vector<double> want(static_cast<size_t>(x.numel()));
      const std::vector<int64_t> st = strides_of(s);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t base = i - (i / st[ax] % s[ax]) * st[ax];
        double nrm = 0;
        for (int64_t k = 0; k < s[ax]; ++k) {
          const double v = x.get_f64(base + k * st[ax]);
          nrm += p == 1 ? std::fabs(v) : v * v;
        }
        want[static_cast<size_t>(i)] = x.get_f64(i) / (p == 1 ? nrm : std::sqrt(nrm));
      }
      EXPECT_LE(rel_l2(res.outputs[0], want), kTol) << "p " << p << " axis " << axis;
    }
}

// ------------------------------------------------------------------------------------------------
// Bad models fail at shape inference with Error{Model} naming the node, never crash.
TEST(BadInput, EveryOpRejectsInconsistentShapesOrAttributes) {
  auto expect_model_error = [](Case c, const char* what) {
    try {
      run_case(c);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Model) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("node 'n'"), std::string::npos) << what << ": " << e.what();
    }
  };
  const Tensor x4 = random_tensor({1, 3, 5, 5}, 1);
  Case c;
  c.op = "Gemm";
  c.inputs = {random_tensor({3, 4}, 1), random_tensor({5, 6}, 2)};
  expect_model_error(c, "Gemm inner dims");
  c.inputs = {random_tensor({3, 4}, 1), random_tensor({4, 6}, 2), random_tensor({2, 6}, 3)};
  expect_model_error(c, "Gemm C not broadcastable");
  c = Case{};
  c.op = "MatMul";
  c.inputs = {random_tensor({2, 3, 4}, 1), random_tensor({3, 5, 6}, 2)};
  expect_model_error(c, "MatMul inner dims");
  c.inputs = {random_tensor({2, 3, 4}, 1), random_tensor({3, 4, 6}, 2)};
  expect_model_error(c, "MatMul batch broadcast");
  c = Case{};
  c.op = "MaxPool";
  c.inputs = {x4};
  expect_model_error(c, "MaxPool without kernel_shape");
  c.attrs["kernel_shape"] = std::vector<int64_t>{2, 2};
  c.attrs["strides"] = std::vector<int64_t>{0, 1};
  expect_model_error(c, "MaxPool zero stride");
  c.attrs["strides"] = std::vector<int64_t>{1, 1, 1};
  expect_model_error(c, "MaxPool strides rank");
  c = Case{};
  c.op = "AveragePool";
  c.attrs["kernel_shape"] = std::vector<int64_t>{7, 7};
  c.inputs = {x4};
  expect_model_error(c, "AveragePool kernel larger than input");
  c = Case{};
  c.op = "LayerNormalization";
  c.attrs["axis"] = int64_t{4};
  c.inputs = {x4, random_tensor({5}, 2)};
  expect_model_error(c, "LayerNormalization axis");
  c.attrs["axis"] = int64_t{-1};
  c.inputs = {x4, random_tensor({4}, 2)};
  expect_model_error(c, "LayerNormalization scale shape");
  c = Case{};
  c.op = "BatchNormalization";
  c.inputs = {x4, random_tensor({3}, 2), random_tensor({3}, 3), random_tensor({2}, 4), random_tensor({3}, 5)};
  expect_model_error(c, "BatchNormalization mean size");
  c = Case{};
  c.op = "ConvTranspose";
  c.attrs["pads"] = std::vector<int64_t>{3, 3, 3, 3};
  c.inputs = {random_tensor({1, 2, 2, 2}, 1), random_tensor({2, 2, 2, 2}, 2)};
  expect_model_error(c, "ConvTranspose empty output");
  c.attrs.clear();
  c.inputs = {random_tensor({1, 3, 2, 2}, 1), random_tensor({2, 2, 2, 2}, 2)};
  expect_model_error(c, "ConvTranspose channels");
  c = Case{};
  c.op = "Conv";
  c.attrs["group"] = int64_t{0};
  c.inputs = {x4, random_tensor({3, 3, 3, 3}, 2)};
  expect_model_error(c, "Conv group 0");
  c.attrs["group"] = int64_t{1};
  c.inputs = {x4, random_tensor({3, 3, 3, 3}, 2), random_tensor({4}, 3)};
  expect_model_error(c, "Conv bias size");
  c = Case{};
  c.op = "LRN";
  c.inputs = {x4};
  expect_model_error(c, "LRN without size");
}

// ------------------------------------------------------------------------------------------------
// PyTorch's own results for its layers exported to ONNX (ONNX's pytorch-converted/-operator test
// data): whole models through the loader, Session and CPU backend. The weights there are
// initializers, so this covers the packed-constant-weight path. Tolerance: relative L2 <= 1e-5
// per output (PyTorch computed them in float32 with another summation order).
class PytorchConverted : public ::testing::TestWithParam<std::string> {};

TEST_P(PytorchConverted, MatchesPytorch) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(NETLENS_ONNX_TESTDATA) / GetParam();
  if (!fs::exists(dir / "model.onnx")) GTEST_SKIP() << dir << " not installed";
  Graph g = load_onnx((dir / "model.onnx").string());
  const fs::path data = dir / "test_data_set_0";
  std::map<std::string, Tensor> feed;
  std::map<std::string, Shape> shapes;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Tensor t = load_onnx_tensor((data / ("input_" + std::to_string(i) + ".pb")).string());
    shapes[g.inputs[i].name] = t.shape();
    feed[g.inputs[i].name] = t;
  }
  std::vector<std::string> outs;
  for (const auto& o : g.outputs) outs.push_back(o.name);
  auto backend = make_cpu_backend();
  Session session(std::move(g), {backend.get()});
  session.prepare(shapes);
  session.run(feed);
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor want = load_onnx_tensor((data / ("output_" + std::to_string(i) + ".pb")).string());
    const Tensor got = session.activations().fetch(outs[i]);
    ASSERT_EQ(got.shape(), want.shape()) << outs[i];
    std::vector<double> w(static_cast<size_t>(want.numel()));
    for (int64_t k = 0; k < want.numel(); ++k) w[static_cast<size_t>(k)] = want.get_f64(k);
    EXPECT_LE(rel_l2(got, w), kTol) << GetParam() << " output " << outs[i];
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layers, PytorchConverted,
    ::testing::Values("pytorch-converted/test_AvgPool1d", "pytorch-converted/test_AvgPool1d_stride",
                      "pytorch-converted/test_AvgPool2d", "pytorch-converted/test_AvgPool2d_stride",
                      "pytorch-converted/test_AvgPool3d", "pytorch-converted/test_AvgPool3d_stride",
                      "pytorch-converted/test_AvgPool3d_stride1_pad0_gpu_input",
                      "pytorch-converted/test_BatchNorm1d_3d_input_eval", "pytorch-converted/test_BatchNorm2d_eval",
                      "pytorch-converted/test_BatchNorm2d_momentum_eval", "pytorch-converted/test_BatchNorm3d_eval",
                      "pytorch-converted/test_BatchNorm3d_momentum_eval", "pytorch-converted/test_Conv1d",
                      "pytorch-converted/test_Conv1d_dilated", "pytorch-converted/test_Conv1d_groups",
                      "pytorch-converted/test_Conv1d_pad1", "pytorch-converted/test_Conv1d_pad1size1",
                      "pytorch-converted/test_Conv1d_pad2", "pytorch-converted/test_Conv1d_pad2size1",
                      "pytorch-converted/test_Conv1d_stride", "pytorch-converted/test_Conv2d",
                      "pytorch-converted/test_Conv2d_depthwise", "pytorch-converted/test_Conv2d_depthwise_padded",
                      "pytorch-converted/test_Conv2d_depthwise_strided",
                      "pytorch-converted/test_Conv2d_depthwise_with_multiplier", "pytorch-converted/test_Conv2d_dilated",
                      "pytorch-converted/test_Conv2d_groups", "pytorch-converted/test_Conv2d_groups_thnn",
                      "pytorch-converted/test_Conv2d_no_bias", "pytorch-converted/test_Conv2d_padding",
                      "pytorch-converted/test_Conv2d_strided", "pytorch-converted/test_Conv3d",
                      "pytorch-converted/test_Conv3d_dilated", "pytorch-converted/test_Conv3d_dilated_strided",
                      "pytorch-converted/test_Conv3d_groups", "pytorch-converted/test_Conv3d_no_bias",
                      "pytorch-converted/test_Conv3d_stride", "pytorch-converted/test_Conv3d_stride_padding",
                      "pytorch-converted/test_ConvTranspose2d", "pytorch-converted/test_ConvTranspose2d_no_bias",
                      "pytorch-converted/test_Linear", "pytorch-converted/test_Linear_no_bias",
                      "pytorch-converted/test_MaxPool1d", "pytorch-converted/test_MaxPool1d_stride",
                      "pytorch-converted/test_MaxPool1d_stride_padding_dilation", "pytorch-converted/test_MaxPool2d",
                      "pytorch-converted/test_MaxPool2d_stride_padding_dilation", "pytorch-converted/test_MaxPool3d",
                      "pytorch-converted/test_MaxPool3d_stride", "pytorch-converted/test_MaxPool3d_stride_padding",
                      "pytorch-operator/test_operator_addmm", "pytorch-operator/test_operator_conv",
                      "pytorch-operator/test_operator_convtranspose", "pytorch-operator/test_operator_maxpool",
                      "pytorch-operator/test_operator_mm"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      std::string n = info.param.substr(info.param.find('/') + 1);
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

}  // namespace
