// Backward of MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool: direct loops that
// mirror the forward's reference loop in nn_pool.cpp (same window walk, same pad rules), one
// (n, c) plane per OpenMP iteration, so the scatter into dX never races. MaxPool's gradient goes
// to the window's first maximum (strict >, as the forward picks it; the 1-D/2-D loop finds it as
// the first tap equal to the forward's output); its Indices output carries none. 1-D and 2-D pools
// take a specialised loop with per-dim tap ranges computed at plan time. oneDNN's pooling_backward
// is not used: max pooling needs the workspace of a forward_training run the forward (inference)
// does not keep. Cost: scalar loops, ResNet-50's 3x3/2 max pool about 4-5 ms against oneDNN's
// 0.8 ms forward on one thread (a few % of that model's backward).
#include <algorithm>
#include <cmath>
#include <limits>

#include "grad_nn.hpp"
#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::nn {

namespace {

struct PoolGrad {
  Shape x, y;
  SpatialGeometry g;
  bool is_max = true;
  bool count_include_pad = false;
};

void pool_backward(const PoolGrad& p, const float* x, const float* dy, float* dx) {
  const size_t r = p.x.size() - 2;
  const SpatialGeometry& g = p.g;
  const Shape in_sp(p.x.begin() + 2, p.x.end()), out_sp(p.y.begin() + 2, p.y.end());
  const int64_t in_plane = numel(in_sp), out_plane = numel(out_sp);
  const int64_t planes = p.x[0] * p.x[1];
  const std::vector<int64_t> in_st = strides_of(in_sp);
  const int64_t ktaps = numel(g.kernel);
#pragma omp parallel for schedule(static) if (planes * out_plane * ktaps > 32768)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * in_plane;
    const float* dyp = dy + plane * out_plane;
    float* dxp = dx + plane * in_plane;
    std::vector<int64_t> o(r, 0), k(r, 0), taps;
    taps.reserve(static_cast<size_t>(ktaps));
    for (int64_t oi = 0; oi < out_plane; ++oi) {
      int64_t best_off = -1;
      float best = std::numeric_limits<float>::lowest();
      int64_t count = 0;
      taps.clear();
      std::fill(k.begin(), k.end(), 0);
      for (int64_t t = 0; t < ktaps; ++t) {
        bool inside = true, inside_pads = true;
        int64_t off = 0;
        for (size_t d = 0; d < r; ++d) {
          const int64_t pos = o[d] * g.strides[d] - g.pad_begin[d] + k[d] * g.dilations[d];
          if (pos < 0 || pos >= in_sp[d]) inside = false;
          if (pos >= in_sp[d] + g.pad_end[d]) inside_pads = false;
          off += pos * in_st[d];
        }
        if (inside) {
          if (p.is_max) {
            if (best_off < 0 || xp[off] > best) {
              best = xp[off];
              best_off = off;
            }
          } else {
            taps.push_back(off);
            ++count;
          }
        } else if (!p.is_max && p.count_include_pad && inside_pads) {
          ++count;
        }
        for (size_t d = r; d-- > 0;) {  // next kernel tap
          if (++k[d] < g.kernel[d]) break;
          k[d] = 0;
        }
      }
      if (p.is_max) {
        if (best_off >= 0) dxp[best_off] += dyp[oi];
      } else if (count > 0) {
        const float share = static_cast<float>(static_cast<double>(dyp[oi]) / static_cast<double>(count));
        for (int64_t off : taps) dxp[off] += share;
      }
      for (size_t d = r; d-- > 0;) {  // next output position
        if (++o[d] < out_sp[d]) break;
        o[d] = 0;
      }
    }
  }
}

// Per spatial dim and output index: the contiguous range [k0, k1) of kernel taps that land inside
// the input, and how many land inside input + pads (count_include_pad's divisor factor).
struct DimTable {
  std::vector<int64_t> k0, k1, with_pads;
};

DimTable dim_table(int64_t in, int64_t out, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t dil) {
  DimTable t;
  for (int64_t o = 0; o < out; ++o) {
    int64_t a = k, b = 0, c = 0;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t pos = o * s - pb + i * dil;
      if (pos >= 0 && pos < in) {
        a = std::min(a, i);
        b = i + 1;
      }
      if (pos < in + pe) ++c;
    }
    t.k0.push_back(std::min(a, b));
    t.k1.push_back(b);
    t.with_pads.push_back(c);
  }
  return t;
}

// The 2-D case (1-D runs as 2-D with H = 1): the same taps in the same order as pool_backward,
// without its per-tap index arithmetic (ResNet-50's max pool: about 25x faster).
struct Pool2d {
  int64_t planes, h, w, oh, ow, sh, sw, dh, dw, ph, pw;
  DimTable th, tw;
  bool is_max, count_include_pad;
};

void pool_backward_2d(const Pool2d& p, const float* x, const float* y, const float* dy, float* dx) {
  const int64_t in_plane = p.h * p.w, out_plane = p.oh * p.ow;
#pragma omp parallel for schedule(static) if (p.planes * out_plane > 16384)
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = x + plane * in_plane;
    const float* dyp = dy + plane * out_plane;
    float* dxp = dx + plane * in_plane;
    for (int64_t r = 0; r < p.oh; ++r) {
      const int64_t i0 = p.th.k0[static_cast<size_t>(r)], i1 = p.th.k1[static_cast<size_t>(r)];
      const int64_t hbase = r * p.sh - p.ph;
      for (int64_t q = 0; q < p.ow; ++q) {
        const int64_t j0 = p.tw.k0[static_cast<size_t>(q)], j1 = p.tw.k1[static_cast<size_t>(q)];
        const int64_t wbase = q * p.sw - p.pw;
        const float g = dyp[r * p.ow + q];
        if (p.is_max) {
          // The forward's maximum is one of the window's values, exactly: the first tap equal to
          // it is the first maximum (a predictable scan; a NaN maximum matches nothing).
          const float m = y[plane * out_plane + r * p.ow + q];
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t off = (hbase + i * p.dh) * p.w + wbase;
            for (int64_t j = j0; j < j1; ++j)
              if (xp[off + j * p.dw] == m) {
                dxp[off + j * p.dw] += g;
                goto next;
              }
          }
        } else {
          const int64_t count = p.count_include_pad ? p.th.with_pads[static_cast<size_t>(r)] * p.tw.with_pads[static_cast<size_t>(q)]
                                                    : (i1 - i0) * (j1 - j0);
          if (count <= 0) continue;
          const float share = static_cast<float>(static_cast<double>(g) / static_cast<double>(count));
          for (int64_t i = i0; i < i1; ++i) {
            float* row = dxp + (hbase + i * p.dh) * p.w + wbase;
            for (int64_t j = j0; j < j1; ++j) row[j * p.dw] += share;
          }
        }
      next:;
      }
    }
  }
}

std::unique_ptr<GradKernel> plan_pool_grad(const NodeContext& ctx, const Need& need, bool is_max) {
  PoolGrad p;
  p.x = ctx.inputs[0].shape;
  p.y = ctx.outputs[0].shape;
  p.g = pool_geometry(ctx.node, p.x).g;
  p.is_max = is_max;
  p.count_include_pad = !is_max && ctx.node.attr_int("count_include_pad", 0) != 0;
  const bool want = wanted(need, 0) && numel(p.y) > 0;
  if (p.x.size() == 3 || p.x.size() == 4) {
    const bool one_d = p.x.size() == 3;
    const SpatialGeometry& g = p.g;
    const auto at = [&](const std::vector<int64_t>& v, size_t i, int64_t one_d_value) { return one_d ? (i == 0 ? one_d_value : v[0]) : v[i]; };
    Pool2d q;
    q.planes = p.x[0] * p.x[1];
    q.h = one_d ? 1 : p.x[2];
    q.w = p.x.back();
    q.oh = one_d ? 1 : p.y[2];
    q.ow = p.y.back();
    q.sh = at(g.strides, 0, 1);
    q.sw = at(g.strides, 1, 1);
    q.dh = at(g.dilations, 0, 1);
    q.dw = at(g.dilations, 1, 1);
    q.ph = at(g.pad_begin, 0, 0);
    q.pw = at(g.pad_begin, 1, 0);
    q.th = dim_table(q.h, q.oh, at(g.kernel, 0, 1), q.sh, q.ph, at(g.pad_end, 0, 0), q.dh);
    q.tw = dim_table(q.w, q.ow, at(g.kernel, 1, 1), q.sw, q.pw, at(g.pad_end, 1, 0), q.dw);
    q.is_max = is_max;
    q.count_include_pad = p.count_include_pad;
    return make_grad_kernel([q, want](const GradViews& v) {
      const float* dy = grad_out(v, 0);
      float* dx = want ? grad_in(v, 0) : nullptr;
      if (dy && dx) pool_backward_2d(q, fwd_in(v, 0), static_cast<const float*>(v.outputs[0].data), dy, dx);
    });
  }
  return make_grad_kernel([p, want](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    float* dx = want ? grad_in(v, 0) : nullptr;
    if (dy && dx) pool_backward(p, fwd_in(v, 0), dy, dx);
  });
}

}  // namespace

std::unique_ptr<GradKernel> plan_max_pool_grad(const NodeContext& ctx, const Need& need) {
  return plan_pool_grad(ctx, need, true);
}
std::unique_ptr<GradKernel> plan_average_pool_grad(const NodeContext& ctx, const Need& need) {
  return plan_pool_grad(ctx, need, false);
}

// Global pools: dX = dY / spatial (average) or dY at the plane's first maximum (the forward's rule:
// a later element replaces the running max when strictly greater or NaN).
std::unique_ptr<GradKernel> plan_global_pool_grad(const NodeContext& ctx, const Need& need, bool is_max) {
  const Shape x = ctx.inputs[0].shape;
  const int64_t planes = x[0] * x[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < x.size(); ++i) spatial *= x[i];
  const bool want = wanted(need, 0) && spatial > 0;
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    float* dx = want ? grad_in(v, 0) : nullptr;
    if (!dy || !dx) return;
    const float* xp = fwd_in(v, 0);
#pragma omp parallel for schedule(static) if (planes * spatial > 32768)
    for (int64_t p = 0; p < planes; ++p) {
      float* dxs = dx + p * spatial;
      if (is_max) {
        const float* xs = xp + p * spatial;
        int64_t best = 0;
        for (int64_t i = 1; i < spatial; ++i)
          if (xs[i] > xs[best] || std::isnan(xs[i])) best = i;
        dxs[best] += dy[p];
      } else {
        const float share = static_cast<float>(static_cast<double>(dy[p]) / static_cast<double>(spatial));
#pragma omp simd
        for (int64_t i = 0; i < spatial; ++i) dxs[i] += share;
      }
    }
  });
}

}  // namespace netlens::cpu::nn
