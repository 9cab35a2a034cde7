// MaxPool and AveragePool. 2-D float32 MaxPool without dilation or Indices runs on a direct kernel
// over plain NCHW rows (max_pool_2d below: oneDNN's pooling on plain NCHW took 0.55 ms for
// ResNet-50's 3x3/2 pool, 3x a direct loop). The other float32 pools go through oneDNN's pooling_v2
// (plain NCHW in and out); the cases oneDNN does not express run on a direct N-d loop: MaxPool's
// Indices output, int8/uint8 MaxPool, and AveragePool with count_include_pad=1 when ceil_mode
// extends windows past the explicit padding (ONNX then counts the explicit padding but not the
// extension).
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::nn {

namespace {

using dnnl::memory;

struct PoolParams {
  Shape x, y;
  PoolGeometry pg;
  bool is_max = true;
  bool count_include_pad = false;
  bool column_major_indices = false;  // MaxPool storage_order = 1
};

// Direct loop. One (n, c) plane per OpenMP iteration; window taps outside the input are skipped
// (max) or counted according to count_include_pad (average).
template <class T>
void pool_reference(const PoolParams& p, const T* x, T* y, int64_t* indices) {
  const size_t r = p.x.size() - 2;
  const SpatialGeometry& g = p.pg.g;
  const Shape in_sp(p.x.begin() + 2, p.x.end()), out_sp(p.y.begin() + 2, p.y.end());
  const int64_t in_plane = numel(in_sp), out_plane = numel(out_sp);
  const int64_t planes = p.x[0] * p.x[1];
  const std::vector<int64_t> in_st = strides_of(in_sp);
  std::vector<int64_t> cm_st(r, 1);  // column-major strides for Indices with storage_order=1
  for (size_t i = 1; i < r; ++i) cm_st[i] = cm_st[i - 1] * in_sp[i - 1];
  const int64_t ktaps = numel(g.kernel);
#pragma omp parallel for schedule(static) if (planes * out_plane * ktaps > 32768)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * in_plane;
    T* yp = y + plane * out_plane;
    std::vector<int64_t> o(r, 0), k(r, 0);
    for (int64_t oi = 0; oi < out_plane; ++oi) {
      // Decompose oi into the output multi-index.
      int64_t rem = oi;
      for (size_t d = r; d-- > 0;) {
        o[d] = rem % out_sp[d];
        rem /= out_sp[d];
      }
      double acc = 0.0;
      T best = std::numeric_limits<T>::lowest();
      int64_t best_idx = -1;
      int64_t count = 0;
      std::fill(k.begin(), k.end(), 0);
      for (int64_t t = 0; t < ktaps; ++t) {
        bool inside = true, inside_pads = true;
        int64_t off = 0, cm_off = 0;
        for (size_t d = 0; d < r; ++d) {
          const int64_t pos = o[d] * g.strides[d] - g.pad_begin[d] + k[d] * g.dilations[d];
          if (pos < 0 || pos >= in_sp[d]) inside = false;
          if (pos >= in_sp[d] + g.pad_end[d]) inside_pads = false;
          off += pos * in_st[d];
          cm_off += pos * cm_st[d];
        }
        if (inside) {
          const T v = xp[off];
          if (p.is_max) {
            if (best_idx < 0 || v > best) {
              best = v;
              best_idx = p.column_major_indices ? cm_off : off;
            }
          } else {
            acc += static_cast<double>(v);
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
        yp[oi] = best;
        if (indices) indices[plane * out_plane + oi] = best_idx < 0 ? -1 : plane * in_plane + best_idx;
      } else {
        yp[oi] = static_cast<T>(count > 0 ? acc / static_cast<double>(count) : 0.0);
      }
    }
  }
}

// 2-D MaxPool geometry for max_pool_2d: plane count, input h x w, output oh x ow, kernel, strides,
// leading pads (the trailing ones follow from the output size).
struct MaxPool2d {
  int64_t planes, h, w, oh, ow, kh, kw, sh, sw, pt, pl;
};

// One output row of one plane. `t` holds (ow - 1) * sw + kw floats: column c is the max over the
// window's input rows of input column c - pl, lowest() where that column or every row is padding.
// Then y[o] = max over k of t[o * sw + k]; strides 1 and 2 are written out so that the compiler
// vectorises the strided reads. Every max is `v > m ? v : m` from lowest(): a NaN tap is skipped
// and a window of only NaN or padding gives lowest(), as oneDNN's pooling did (ONNX's reference
// drops NaN as well). Max is exact, so the values equal any other order's; only the sign of a zero
// may differ between equal +0/-0 taps.
NETLENS_NN_CLONES void max_pool_2d_row(const float* xp, const MaxPool2d& g, int64_t oh, float* t, float* y) {
  const float lo = std::numeric_limits<float>::lowest();
  const int64_t wt = (g.ow - 1) * g.sw + g.kw;
  const int64_t c0 = std::min(g.pl, wt), c1 = std::max(c0, std::min(g.pl + g.w, wt));
  const int64_t r0 = std::max<int64_t>(oh * g.sh - g.pt, 0), r1 = std::min(oh * g.sh - g.pt + g.kh, g.h);
  for (int64_t c = 0; c < c0; ++c) t[c] = lo;
  for (int64_t c = c1; c < wt; ++c) t[c] = lo;
  float* tm = t + c0;
  const int64_t n = c1 - c0;
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) tm[c] = lo;
  // The rows output row oh + 2 adds, prefetched: the input is often still in memory (ResNet-50's
  // conv1 streams its 3.2 MB output past the cache) and the hardware prefetcher stops at each 4 KiB
  // page. Rows past the plane are the next plane's (or past the tensor: prefetches do not fault).
  const int64_t pf_end = (oh + 2) * g.sh - g.pt + g.kh;
  for (int64_t r = std::max<int64_t>(pf_end - g.sh, 0); r < pf_end; ++r)
    for (int64_t c = 0; c < g.w; c += 16) __builtin_prefetch(xp + r * g.w + c);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = xp + r * g.w + (c0 - g.pl);
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) tm[c] = xr[c] > tm[c] ? xr[c] : tm[c];
  }
  const int64_t ow = g.ow;
#pragma omp simd
  for (int64_t o = 0; o < ow; ++o) y[o] = t[o * g.sw];
  for (int64_t k = 1; k < g.kw; ++k) {
    const float* tk = t + k;
    if (g.sw == 1) {
#pragma omp simd
      for (int64_t o = 0; o < ow; ++o) y[o] = tk[o] > y[o] ? tk[o] : y[o];
    } else if (g.sw == 2) {
#pragma omp simd
      for (int64_t o = 0; o < ow; ++o) y[o] = tk[2 * o] > y[o] ? tk[2 * o] : y[o];
    } else {
      for (int64_t o = 0; o < ow; ++o) y[o] = tk[o * g.sw] > y[o] ? tk[o * g.sw] : y[o];
    }
  }
}

// Output rows of all planes split evenly over the threads (ResNet-50's 64 planes x 56 rows);
// each thread has its own row buffer.
void max_pool_2d(const MaxPool2d& g, const float* x, float* y) {
  const int64_t rows = g.planes * g.oh;
  const int64_t wt = (g.ow - 1) * g.sw + g.kw;
#pragma omp parallel if (rows * g.ow * g.kh * g.kw > 32768)
  {
    std::vector<float> t(static_cast<size_t>(wt));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t plane = i / g.oh, oh = i % g.oh;
      max_pool_2d_row(x + plane * g.h * g.w, g, oh, t.data(), y + i * g.ow);
    }
  }
}

class DnnlPool : public Kernel {
 public:
  DnnlPool(dnnl::pooling_v2_forward::primitive_desc pd, memory::desc src, memory::desc dst)
      : prim_(pd), src_(src), dst_(dst), sp_(pd.scratchpad_desc()) {}
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    auto& eng = dnnl_engine();
    auto& s = dnnl_stream();
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(src_, eng, in[0].data)},
                                         {DNNL_ARG_DST, memory(dst_, eng, out[0].data)}};
    with_scratchpad(args, sp_);
    prim_.execute(s, args);
    s.wait();
  }

 private:
  dnnl::pooling_v2_forward prim_;
  memory::desc src_, dst_, sp_;  // sp_: user scratchpad (nn_common.hpp: 211 MB over ISNet's pools when per primitive)
};

std::unique_ptr<Kernel> plan_pool(const NodeContext& ctx, bool is_max) {
  PoolParams p;
  p.x = ctx.inputs[0].shape;
  p.y = ctx.outputs[0].shape;
  p.pg = pool_geometry(ctx.node, p.x);
  p.is_max = is_max;
  p.count_include_pad = !is_max && ctx.node.attr_int("count_include_pad", 0) != 0;
  p.column_major_indices = is_max && ctx.node.attr_int("storage_order", 0) != 0;
  const DType dt = ctx.inputs[0].dtype;
  const bool want_indices = is_max && ctx.outputs.size() > 1 && ctx.node.outputs.size() > 1 &&
                            !ctx.node.outputs[1].empty();
  if (numel(p.y) == 0) return make_kernel([](std::span<const TensorView>, std::span<const TensorView>) {});
  const size_t r = p.x.size() - 2;
  const SpatialGeometry& g = p.pg.g;
  if (is_max && dt == DType::Float32 && !want_indices && r == 2 && g.dilations[0] == 1 && g.dilations[1] == 1) {
    const MaxPool2d m{p.x[0] * p.x[1], p.x[2],      p.x[3],      p.y[2],        p.y[3],       g.kernel[0],
                      g.kernel[1],     g.strides[0], g.strides[1], g.pad_begin[0], g.pad_begin[1]};
    return make_kernel([m](std::span<const TensorView> in, std::span<const TensorView> out) {
      max_pool_2d(m, static_cast<const float*>(in[0].data), static_cast<float*>(out[0].data));
    });
  }

  // oneDNN checks (in + pad_l + pad_r - eff) / stride + 1 == out with floor division; with
  // ceil_mode the right pad is widened until that holds.
  memory::dims pr(r);
  bool widened = false;
  for (size_t i = 0; i < r; ++i) {
    const int64_t eff = g.dilations[i] * (g.kernel[i] - 1) + 1;
    const int64_t in = p.x[i + 2], out = p.y[i + 2];
    pr[i] = g.pad_end[i];
    if ((in + g.pad_begin[i] + pr[i] - eff) / g.strides[i] + 1 != out || in + g.pad_begin[i] + pr[i] - eff < 0) {
      pr[i] = (out - 1) * g.strides[i] + eff - in - g.pad_begin[i];
      widened = widened || pr[i] > g.pad_end[i];
    }
  }
  const bool use_dnnl = dt == DType::Float32 && !want_indices && !(p.count_include_pad && widened);
  if (use_dnnl) {
    const auto alg = is_max ? dnnl::algorithm::pooling_max
                     : p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                           : dnnl::algorithm::pooling_avg_exclude_padding;
    memory::dims dil(g.dilations.begin(), g.dilations.end());
    for (auto& d : dil) --d;
    const memory::desc src = plain_desc(p.x), dst = plain_desc(p.y);
    try {
      dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, dst, to_dims(g.strides),
                                       to_dims(g.kernel), dil, to_dims(g.pad_begin), pr);
      return std::make_unique<DnnlPool>(dnnl::pooling_v2_forward::primitive_desc(d, user_scratchpad(), dnnl_engine()), src, dst);
    } catch (const dnnl::error&) {
      // Geometry oneDNN rejects (e.g. padding wider than the kernel): the direct loop handles it.
    }
  }
  return make_kernel([p, dt, want_indices](std::span<const TensorView> in,
                                                        std::span<const TensorView> out) {
    int64_t* idx = want_indices && out.size() > 1 ? static_cast<int64_t*>(out[1].data) : nullptr;
    switch (dt) {
      case DType::Float32:
        pool_reference(p, static_cast<const float*>(in[0].data), static_cast<float*>(out[0].data), idx);
        break;
      case DType::Int8:
        pool_reference(p, static_cast<const int8_t*>(in[0].data), static_cast<int8_t*>(out[0].data), idx);
        break;
      case DType::UInt8:
        pool_reference(p, static_cast<const uint8_t*>(in[0].data), static_cast<uint8_t*>(out[0].data), idx);
        break;
      default:
        throw Error(ErrorKind::Internal, "pooling kernel planned for unsupported dtype");
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> plan_max_pool(const NodeContext& ctx) { return plan_pool(ctx, true); }
std::unique_ptr<Kernel> plan_average_pool(const NodeContext& ctx) { return plan_pool(ctx, false); }

}  // namespace netlens::cpu::nn
