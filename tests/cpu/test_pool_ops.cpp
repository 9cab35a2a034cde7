// Pooling kernels (src/cpu/nn_pool.cpp, GlobalAveragePool's sum_row) against direct double-precision
// loops written here: odd sizes (7, 13, 14, 57, 112), pads, strides 1/2/3, ceil_mode, auto_pad,
// batch 2 and several channels, so that every edge of the vectorised rows is hit.
// MaxPool: exact (max is exact); NaN taps are skipped and a window of only NaN or padding gives
// float's lowest(), as oneDNN's pooling did; -inf taps are ordinary values (a window of -inf only
// gives lowest() too, the running max starting there). Outputs compared with == (so +0 == -0).
// Average pools: each element within 1e-6 relative (plus 1e-9 absolute) of the double reference; the
// kernels sum in double, so the float result is off by its rounding only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include "cpu_reference.hpp"
#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/runtime.hpp"
#include "netlens/runtime/shape_util.hpp"

using namespace netlens;

namespace {

const cpu::CpuOpTable& table() {
  static const cpu::CpuOpTable t = [] {
    cpu::CpuOpTable x;
    cpu::register_nn_ops(x);
    return x;
  }();
  return t;
}

// One node through its shape function and the CPU op table; run twice (the second run must give
// the same bytes).
std::vector<Tensor> run_node(const std::string& op, const std::map<std::string, AttrValue>& attrs, const Tensor& x,
                             size_t num_outputs = 1, int64_t opset = 19) {
  Node node;
  node.name = "n";
  node.op_type = op;
  node.attrs = attrs;
  node.inputs = {"x"};
  for (size_t o = 0; o < num_outputs; ++o) node.outputs.push_back("y" + std::to_string(o));
  const std::vector<TensorInfo> infos{TensorInfo{x.dtype(), x.shape()}};
  std::vector<const TensorInfo*> iptr{&infos[0]};
  std::vector<const Tensor*> cptr{nullptr};
  const InferFn* fn = OpRegistry::global().find(op);
  EXPECT_NE(fn, nullptr);
  const std::vector<TensorInfo> outs = (*fn)(InferContext{node, opset, iptr, cptr});
  NodeContext nc{node, opset, infos, outs, cptr};
  const cpu::CpuOp& cop = table().at(op);
  if (cop.check) {
    EXPECT_FALSE(cop.check(nc).has_value());
  }
  auto kernel = cop.plan(nc);
  std::vector<Tensor> y;
  std::vector<TensorView> in_v{TensorView{x.dtype(), x.shape(), const_cast<void*>(x.data())}}, out_v;
  for (const TensorInfo& info : outs) {
    y.emplace_back(info.dtype, info.shape);
    out_v.push_back(TensorView{info.dtype, info.shape, y.back().data()});
  }
  kernel->run(in_v, out_v);
  std::vector<Tensor> first;
  for (const Tensor& t : y) first.push_back(t.clone());
  kernel->run(in_v, out_v);
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_EQ(0, std::memcmp(first[i].data(), y[i].data(), y[i].nbytes())) << "second run differs";
  return y;
}

Tensor random_tensor(const Shape& s, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::Float32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}

// 2-D pooling parameters and their ONNX output geometry.
struct Pool2d {
  Shape x;  // N, C, H, W
  std::vector<int64_t> k, s, pads;  // pads: top, left, bottom, right
  bool ceil = false;
  std::string auto_pad = "NOTSET";
  bool include_pad = false;
  std::vector<int64_t> dil = {1, 1};
};

struct Geom {
  int64_t oh, ow, pt, pl, pb, pr;
};

Geom geometry(const Pool2d& p) {
  Geom g{};
  int64_t* outs[2] = {&g.oh, &g.ow};
  int64_t* pbeg[2] = {&g.pt, &g.pl};
  int64_t* pend[2] = {&g.pb, &g.pr};
  for (int i = 0; i < 2; ++i) {
    const cpuref::PoolDim d = cpuref::pool_dim(p.x[2 + i], p.k[i], p.s[i], p.dil[i], p.pads.empty() ? 0 : p.pads[i],
                                               p.pads.empty() ? 0 : p.pads[i + 2], p.ceil, p.auto_pad);
    *outs[i] = d.out;
    *pbeg[i] = d.pad_begin;
    *pend[i] = d.pad_end;
  }
  return g;
}

std::map<std::string, AttrValue> attrs_of(const Pool2d& p, bool avg) {
  std::map<std::string, AttrValue> a;
  a["kernel_shape"] = p.k;
  a["strides"] = p.s;
  if (!p.pads.empty()) a["pads"] = p.pads;
  if (p.auto_pad != "NOTSET") a["auto_pad"] = p.auto_pad;
  if (p.dil != std::vector<int64_t>{1, 1}) a["dilations"] = p.dil;
  a["ceil_mode"] = int64_t{p.ceil};
  if (avg) a["count_include_pad"] = int64_t{p.include_pad};
  return a;
}

// Max over the window's in-bounds, non-NaN taps from lowest(), row-major (also the argmax, -1 when
// none); average over in-bounds taps divided by their count, or by the taps inside the explicit
// padding (not ceil_mode's extension) with count_include_pad.
void pool_ref(const Pool2d& p, const Tensor& x, bool is_max, std::vector<double>& y, std::vector<int64_t>* arg) {
  const Geom g = geometry(p);
  const int64_t planes = p.x[0] * p.x[1], h = p.x[2], w = p.x[3];
  y.assign(static_cast<size_t>(planes * g.oh * g.ow), 0.0);
  if (arg) arg->assign(y.size(), -1);
  const float* xp = x.data_as<float>();
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        double best = std::numeric_limits<float>::lowest(), sum = 0;
        int64_t best_at = -1, count = 0;
        for (int64_t ky = 0; ky < p.k[0]; ++ky)
          for (int64_t kx = 0; kx < p.k[1]; ++kx) {
            const int64_t iy = oy * p.s[0] - g.pt + ky * p.dil[0], ix = ox * p.s[1] - g.pl + kx * p.dil[1];
            const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            if (!inside) {
              if (p.include_pad && iy >= -g.pt && iy < h + g.pb && ix >= -g.pl && ix < w + g.pr) ++count;
              continue;
            }
            const double v = xp[(pl * h + iy) * w + ix];
            ++count;
            sum += v;
            if (v > best) {
              best = v;
              best_at = (pl * h + iy) * w + ix;
            }
          }
        const size_t o = static_cast<size_t>((pl * g.oh + oy) * g.ow + ox);
        y[o] = is_max ? best : sum / static_cast<double>(count);
        if (arg) (*arg)[o] = best_at;
      }
}

// NaN at every 7th element, -inf at every 11th, +inf at every 97th, and plane 1 of each batch
// entirely NaN in its top-left 5x5 corner (windows there hold only NaN).
void add_specials(Tensor& x) {
  float* p = x.data_as<float>();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (i % 7 == 3) p[i] = nan;
    if (i % 11 == 5) p[i] = -inf;
    if (i % 97 == 50) p[i] = inf;
  }
  const Shape& s = x.shape();
  if (s[1] < 2) return;
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t r = 0; r < std::min<int64_t>(5, s[2]); ++r)
      for (int64_t c = 0; c < std::min<int64_t>(5, s[3]); ++c) p[((n * s[1] + 1) * s[2] + r) * s[3] + c] = nan;
}

void check_max(const Pool2d& p, uint32_t seed, bool specials, bool indices = false) {
  SCOPED_TRACE(::testing::Message() << "MaxPool x " << shape_str(p.x) << " k " << p.k[0] << "x" << p.k[1] << " s "
                                    << p.s[0] << "," << p.s[1] << " ceil " << p.ceil << " auto_pad " << p.auto_pad
                                    << " specials " << specials);
  Tensor x = random_tensor(p.x, seed);
  if (specials) add_specials(x);
  const Geom g = geometry(p);
  const std::vector<Tensor> y = run_node("MaxPool", attrs_of(p, false), x, indices ? 2 : 1, 12);
  ASSERT_EQ(y[0].shape(), (Shape{p.x[0], p.x[1], g.oh, g.ow}));
  std::vector<double> want;
  std::vector<int64_t> arg;
  pool_ref(p, x, true, want, indices ? &arg : nullptr);
  const float* got = y[0].data_as<float>();
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(static_cast<double>(got[i]), want[i]) << "element " << i;
  if (indices && !specials) {  // Indices: first maximum in row-major order (no NaN here)
    for (size_t i = 0; i < arg.size(); ++i) ASSERT_EQ(y[1].get_i64(static_cast<int64_t>(i)), arg[i]) << "index " << i;
  }
}

void check_average(const Pool2d& p, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "AveragePool x " << shape_str(p.x) << " k " << p.k[0] << "x" << p.k[1]
                                    << " s " << p.s[0] << " ceil " << p.ceil << " include_pad " << p.include_pad);
  const Tensor x = random_tensor(p.x, seed, 0.5f, 2.0f);
  const Geom g = geometry(p);
  const std::vector<Tensor> y = run_node("AveragePool", attrs_of(p, true), x, 1, 19);
  ASSERT_EQ(y[0].shape(), (Shape{p.x[0], p.x[1], g.oh, g.ow}));
  std::vector<double> want;
  pool_ref(p, x, false, want, nullptr);
  const float* got = y[0].data_as<float>();
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-6 * std::abs(want[i]) + 1e-9) << "element " << i;
}

// The sizes of the brief and of the models (ResNet-50's 3x3/2 pad 1 on 112x112).
const int64_t kSizes[] = {7, 13, 14, 57, 112};

TEST(PoolOps, MaxPoolStridesPadsSizes) {
  uint32_t seed = 1;
  for (int64_t h : kSizes)
    for (int64_t s : {1, 2, 3}) {
      const int64_t w = h == 112 ? 57 : h + 3;  // non-square, odd and even widths
      check_max({{2, 3, h, w}, {3, 3}, {s, s}, {1, 1, 1, 1}}, seed++, false);
      check_max({{2, 3, h, w}, {3, 3}, {s, s}, {1, 1, 1, 1}}, seed++, true);
      check_max({{1, 2, h, w}, {2, 2}, {s, s}, {}}, seed++, true);
      check_max({{1, 2, h, w}, {3, 2}, {s, 1}, {0, 1, 2, 0}}, seed++, true);  // asymmetric pads
    }
  check_max({{1, 64, 112, 112}, {3, 3}, {2, 2}, {1, 1, 1, 1}}, 99, false);  // ResNet-50
  check_max({{2, 3, 57, 57}, {5, 5}, {3, 3}, {2, 2, 2, 2}}, 100, true);
  check_max({{2, 3, 14, 14}, {1, 1}, {2, 2}, {}}, 101, true);
  check_max({{2, 3, 13, 13}, {7, 7}, {1, 1}, {3, 3, 3, 3}}, 102, true);  // windows wider than a vector half
  check_max({{2, 17, 7, 40}, {2, 4}, {1, 4}, {1, 3, 1, 3}}, 103, true);  // stride 4 (general path)
}

TEST(PoolOps, MaxPoolCeilModeAndAutoPad) {
  uint32_t seed = 200;
  for (int64_t h : kSizes)
    for (int64_t s : {2, 3}) {
      Pool2d p{{2, 3, h, h + 2}, {3, 3}, {s, s}, {}};
      p.ceil = true;
      check_max(p, seed++, true);
      p.pads = {1, 0, 1, 2};
      check_max(p, seed++, true);
      Pool2d q{{2, 3, h, h + 1}, {3, 2}, {s, s}, {}};
      q.auto_pad = "SAME_UPPER";
      check_max(q, seed++, true);
      q.auto_pad = "SAME_LOWER";
      check_max(q, seed++, true);
    }
}

TEST(PoolOps, MaxPoolSpecialValues) {
  // Every value NaN or -inf: all windows give lowest().
  Tensor x(DType::Float32, Shape{2, 3, 13, 14});
  float* p = x.data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    p[i] = i % 2 ? std::numeric_limits<float>::quiet_NaN() : -std::numeric_limits<float>::infinity();
  const Pool2d q{{2, 3, 13, 14}, {3, 3}, {2, 2}, {1, 1, 1, 1}};
  const std::vector<Tensor> y = run_node("MaxPool", attrs_of(q, false), x, 1, 12);
  for (int64_t i = 0; i < y[0].numel(); ++i) ASSERT_EQ(y[0].data_as<float>()[i], std::numeric_limits<float>::lowest());
  // +inf wins over everything, a lone finite value next to NaN is kept.
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = i % 3 ? std::numeric_limits<float>::quiet_NaN() : float(i % 5) - 2;
  p[40] = std::numeric_limits<float>::infinity();
  std::vector<double> want;
  pool_ref(q, x, true, want, nullptr);
  const std::vector<Tensor> y2 = run_node("MaxPool", attrs_of(q, false), x, 1, 12);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(static_cast<double>(y2[0].data_as<float>()[i]), want[i]) << i;
}

TEST(PoolOps, MaxPoolGeneralPath) {
  // Indices output and dilations keep the direct N-d loop / oneDNN.
  check_max({{2, 3, 13, 14}, {3, 3}, {2, 2}, {1, 1, 1, 1}}, 300, false, true);
  Pool2d d{{2, 3, 14, 13}, {3, 2}, {1, 2}, {2, 1, 2, 1}};
  d.dil = {2, 3};
  check_max(d, 301, true);
}

TEST(PoolOps, AveragePool) {
  uint32_t seed = 400;
  for (int64_t h : kSizes)
    for (bool inc : {false, true}) {
      Pool2d p{{2, 3, h, h + 1}, {3, 3}, {2, 2}, {1, 1, 1, 1}};
      p.include_pad = inc;
      check_average(p, seed++);
      p.ceil = true;
      p.s = {3, 3};
      check_average(p, seed++);
      Pool2d q{{2, 3, h, h}, {2, 3}, {1, 1}, {0, 1, 1, 0}};
      q.include_pad = inc;
      check_average(q, seed++);
    }
}

// GlobalAveragePool per plane in double; values around 100 so that a float sum would be off.
TEST(PoolOps, GlobalAveragePool) {
  const Shape shapes[] = {{2, 3, 57, 57}, {1, 1152, 7, 7}, {1, 32, 112, 112}, {2, 5, 13, 1}, {2, 3, 14, 13}, {1, 7, 1, 1}};
  uint32_t seed = 500;
  for (const Shape& s : shapes) {
    SCOPED_TRACE(shape_str(s));
    const Tensor x = random_tensor(s, seed++, 99.0f, 101.0f);
    const std::vector<Tensor> y = run_node("GlobalAveragePool", {}, x, 1, 17);
    const int64_t planes = s[0] * s[1], sp = s[2] * s[3];
    ASSERT_EQ(y[0].numel(), planes);
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0;
      for (int64_t i = 0; i < sp; ++i) sum += x.data_as<float>()[p * sp + i];
      const double want = sum / static_cast<double>(sp);
      ASSERT_NEAR(y[0].data_as<float>()[p], want, 1e-6 * std::abs(want) + 1e-9) << "plane " << p;
    }
  }
}

}  // namespace
