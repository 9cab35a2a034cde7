// Resize (opsets 10-19) and Upsample (7, 9) on the CPU, in float32 (the backend converts float16/
// float64 around the kernel).
//
// Nearest, linear and cubic interpolation are separable, so an N-d resize is done as one 1-D pass
// per resized axis: for every output coordinate along the axis we precompute the source indices
// and weights (the ONNX reference's coordinate transform, edge-clamped neighbours, cubic
// exclude_outside renormalisation), then every pass is a weighted gather that vectorises over the
// inner dims. tf_crop_and_resize marks outside coordinates, whose outputs are extrapolation_value.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <optional>

#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_resize.hpp"
#include "tensor_util.hpp"

namespace netlens::cpu::tensor {

namespace {

using Views = std::span<const TensorView>;

std::array<double, 4> cubic_coeffs(double t, double A) {
  auto near = [&](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };        // |x| <= 1
  auto far = [&](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };    // 1 < |x| < 2
  return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

}  // namespace

AxisMap axis_map(const tensor_params::ResizeParams& p, size_t d, int64_t n, int64_t m) {
  AxisMap a;
  a.in = n;
  a.out = m;
  a.taps = p.mode == "nearest" ? 1 : p.mode == "linear" ? 2 : 4;
  a.idx.resize(static_cast<size_t>(m * a.taps));
  a.w.resize(static_cast<size_t>(m * a.taps));
  a.outside.assign(static_cast<size_t>(m), 0);
  if (n == 0) {  // nothing to read: the pass fills zeros
    std::fill(a.idx.begin(), a.idx.end(), 0);
    return a;
  }
  // An axis that is not resized stays as it is, whatever the coordinate transform (as in
  // onnxruntime: tf_half_pixel_for_nn would otherwise shift it by half a pixel).
  if (n == m && p.scale[d] == 1.0 && (p.coord != "tf_crop_and_resize" || (p.roi_start[d] == 0.0 && p.roi_end[d] == 1.0))) {
    a.identity = true;
    return a;
  }
  // Coordinates in float32, as onnxruntime computes them: borderline nearest roundings (an exact
  // .5 or integer in real arithmetic, e.g. 1.5 / 0.6f) then agree with it.
  const float s = static_cast<float>(p.scale[d]);
  const float L = static_cast<float>(p.length[d]);  // the reference's "output_width"
  const float rs = static_cast<float>(p.roi_start[d]), re = static_cast<float>(p.roi_end[d]);
  const float nf = static_cast<float>(n);
  for (int64_t x = 0; x < m; ++x) {
    const float xr = static_cast<float>(x);
    float xo;
    if (p.coord == "half_pixel") xo = (xr + 0.5f) / s - 0.5f;
    // The spec's "length_resized > 1 ? ... : 0" (onnxruntime agrees; the ONNX python reference
    // uses -0.5, which only differs for cubic).
    else if (p.coord == "pytorch_half_pixel") xo = m > 1 ? (xr + 0.5f) / s - 0.5f : 0.f;
    // align_corners divides by (scale * in - 1) as the ONNX reference and test data do;
    // onnxruntime (and PyTorch) use the integer output length instead. The two agree whenever
    // scale * in is an integer (always with `sizes`); they differ for e.g. 0.6 on 4 (ONNX issue 2462).
    else if (p.coord == "align_corners") xo = L == 1.f ? 0.f : xr * (nf - 1) / (L - 1.f);
    else if (p.coord == "asymmetric") xo = xr / s;
    else if (p.coord == "tf_half_pixel_for_nn") xo = (xr + 0.5f) / s;
    else {  // tf_crop_and_resize
      xo = L == 1.f ? (re - rs) * (nf - 1) / 2.f : xr * (re - rs) * (nf - 1) / (L - 1.f);
      xo += rs * (nf - 1);
      if (xo < 0.f || xo > nf - 1) a.outside[static_cast<size_t>(x)] = 1;
    }
    auto clampi = [&](int64_t i) { return std::clamp<int64_t>(i, 0, n - 1); };
    int64_t* ix = &a.idx[static_cast<size_t>(x * a.taps)];
    float* wx = &a.w[static_cast<size_t>(x * a.taps)];
    if (p.mode == "nearest") {
      float r;
      const float fl = std::floor(xo), frac = xo - fl;
      if (p.nearest_mode == "simple") r = s < 1.f ? std::ceil(xo) : fl;
      else if (p.nearest_mode == "floor") r = fl;
      else if (p.nearest_mode == "ceil") r = std::ceil(xo);
      else if (p.nearest_mode == "round_prefer_ceil") r = frac == 0.5f ? fl + 1 : std::round(xo);
      else r = frac == 0.5f ? fl : std::round(xo);  // round_prefer_floor
      ix[0] = clampi(static_cast<int64_t>(r));
      wx[0] = 1.f;
    } else if (p.mode == "linear") {
      const float fl = std::floor(xo), t = xo - fl;
      const int64_t i0 = static_cast<int64_t>(fl);
      ix[0] = clampi(i0);
      ix[1] = clampi(i0 + 1);
      wx[0] = 1.f - t;
      wx[1] = t;
    } else {
      const float fl = std::floor(xo);
      const double t = xo - fl;
      const int64_t i0 = static_cast<int64_t>(fl);
      std::array<double, 4> c = cubic_coeffs(t, p.cubic_a);
      if (p.exclude_outside) {
        double sum = 0;
        for (int k = 0; k < 4; ++k) {
          const int64_t i = i0 - 1 + k;
          if (i < 0 || i >= n) c[static_cast<size_t>(k)] = 0;
          sum += c[static_cast<size_t>(k)];
        }
        for (double& v : c) v = sum != 0 ? v / sum : 0;
      }
      for (int k = 0; k < 4; ++k) {
        ix[k] = clampi(i0 - 1 + k);
        wx[k] = static_cast<float>(c[static_cast<size_t>(k)]);
      }
    }
  }
  // An axis that maps every output index onto itself with weight 1 needs no pass.
  if (n == m) {
    a.identity = true;
    for (int64_t x = 0; x < m && a.identity; ++x) {
      if (a.outside[static_cast<size_t>(x)]) a.identity = false;
      for (int64_t t = 0; t < a.taps; ++t) {
        const float w = a.w[static_cast<size_t>(x * a.taps + t)];
        const int64_t i = a.idx[static_cast<size_t>(x * a.taps + t)];
        if (w != 0.f && (i != x || w != 1.f)) a.identity = false;
      }
    }
  }
  return a;
}

namespace {

// One 1-D pass along an axis: dst[o, x, j] = Σ_t w[x,t] · src[o, idx[x,t], j].
void resize_pass(const float* src, float* dst, int64_t outer, int64_t inner, const AxisMap& a, float extrap) {
  const int64_t n = a.in, m = a.out, taps = a.taps;
  if (inner == 1) {  // the last axis: one tight loop per row
#pragma omp parallel for if (outer * m >= 32768)
    for (int64_t o = 0; o < outer; ++o) {
      const float* s = src + o * n;
      float* d = dst + o * m;
      const int64_t* ix = a.idx.data();
      const float* wx = a.w.data();
      if (taps == 1) {
        for (int64_t x = 0; x < m; ++x) d[x] = s[ix[x]];
      } else if (taps == 2) {
        for (int64_t x = 0; x < m; ++x) d[x] = wx[2 * x] * s[ix[2 * x]] + wx[2 * x + 1] * s[ix[2 * x + 1]];
      } else {
        for (int64_t x = 0; x < m; ++x) {
          float acc = 0.f;
          for (int64_t t = 0; t < taps; ++t) acc += wx[x * taps + t] * s[ix[x * taps + t]];
          d[x] = acc;
        }
      }
      for (int64_t x = 0; x < m; ++x)
        if (a.outside[static_cast<size_t>(x)]) d[x] = extrap;
    }
    return;
  }
#pragma omp parallel for if (outer * m * inner >= 32768)
  for (int64_t ox = 0; ox < outer * m; ++ox) {
    const int64_t o = ox / m, x = ox % m;
    float* d = dst + ox * inner;
    if (a.outside[static_cast<size_t>(x)]) {
      std::fill(d, d + inner, extrap);
      continue;
    }
    const int64_t* ix = &a.idx[static_cast<size_t>(x * taps)];
    const float* wx = &a.w[static_cast<size_t>(x * taps)];
    const float* s0 = src + (o * n + ix[0]) * inner;
    const float w0 = wx[0];
    for (int64_t j = 0; j < inner; ++j) d[j] = w0 * s0[j];
    for (int64_t t = 1; t < taps; ++t) {
      const float* st = src + (o * n + ix[t]) * inner;
      const float wt = wx[t];
      for (int64_t j = 0; j < inner; ++j) d[j] += wt * st[j];
    }
  }
}

// Nearest resize of any dtype (integer tensors reach this kernel unconverted): every output
// element is one input element, so rows are gathered by element size through the axis maps.
void resize_nearest_bytes(const TensorView& in, const TensorView& out, const std::vector<AxisMap>& maps, const Tensor& extrap) {
  const Shape& is = in.shape;
  const Shape& os = out.shape;
  const size_t r = os.size();
  const size_t es = dtype_size(in.dtype);
  std::vector<std::vector<int64_t>> src(r);  // per axis: source index of each output index, -1 = outside
  for (size_t d = 0; d < r; ++d)
    for (int64_t x = 0; x < os[d]; ++x)
      src[d].push_back(maps[d].identity ? x : maps[d].outside[static_cast<size_t>(x)] ? -1 : maps[d].idx[static_cast<size_t>(x)]);
  const std::vector<int64_t> ist = strides_of(is);
  const int64_t inner = r ? os[r - 1] : 1, rows = out.numel() / std::max<int64_t>(inner, 1);
  with_elem_size(es, [&](auto tag) {
    using T = decltype(tag);
    T ev;
    std::memcpy(&ev, extrap.data(), es);
    const T* s = static_cast<const T*>(in.data);
    T* d = static_cast<T*>(out.data);
    if (r == 0) {
      d[0] = s[0];
      return;
    }
#pragma omp parallel for if (out.numel() >= 65536)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t rem = row, off = 0;
      bool outside = false;
      for (int64_t a = static_cast<int64_t>(r) - 2; a >= 0; --a) {
        const size_t ua = static_cast<size_t>(a);
        const int64_t m = src[ua][static_cast<size_t>(rem % os[ua])];
        rem /= os[ua];
        if (m < 0) outside = true;
        else off += m * ist[ua];
      }
      T* drow = d + row * inner;
      for (int64_t x = 0; x < inner; ++x) {
        const int64_t m = src[r - 1][static_cast<size_t>(x)];
        drow[x] = outside || m < 0 ? ev : s[off + m];
      }
    }
  });
}

std::optional<std::string> check_resize(const NodeContext& ctx) {
  const Node& n = ctx.node;
  const bool legacy = n.op_type == "Upsample" || ctx.opset < 11;
  std::string mode = n.attr_string("mode", "nearest");
  const DType dt = ctx.inputs[0].dtype;
  if (dt != DType::Float32 && (mode != "nearest" || dtype_size(dt) == 0))
    return "mode '" + mode + "' on " + std::string(dtype_name(dt)) + " not supported (float only; nearest takes any type)";
  if (mode != "nearest" && mode != "linear" && mode != "cubic" && mode != "bilinear" && mode != "trilinear")
    return "mode '" + mode + "' not supported";
  if (legacy && mode == "cubic") return "mode 'cubic' does not exist before opset 11";
  if (!legacy) {
    const std::string c = n.attr_string("coordinate_transformation_mode", "half_pixel");
    if (c != "half_pixel" && c != "pytorch_half_pixel" && c != "align_corners" && c != "asymmetric" &&
        c != "tf_half_pixel_for_nn" && c != "tf_crop_and_resize")
      return "coordinate_transformation_mode '" + c + "' not supported";
    const std::string nm = n.attr_string("nearest_mode", "round_prefer_floor");
    if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
      return "nearest_mode '" + nm + "' not supported";
    if (n.attr_int("antialias", 0) != 0) return "antialias=1 not supported";
  }
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    if (n.has_input(i) && (i >= ctx.const_inputs.size() || !ctx.const_inputs[i]) &&
        !(i == 1 && !legacy && n.attr_string("coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize"))
      return "input " + std::to_string(i) + " ('" + n.input(i) + "') must be a constant";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_resize(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const auto p = tensor_params::resize_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  std::vector<AxisMap> maps;
  for (size_t d = 0; d < in.size(); ++d) {
    maps.push_back(axis_map(p, d, in[d], p.out[d]));
  }
  // Order: shrinking axes first, so later passes touch fewer elements.
  std::vector<size_t> order;
  for (size_t d = 0; d < in.size(); ++d)
    if (!maps[d].identity) order.push_back(d);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return static_cast<double>(maps[a].out) / std::max<int64_t>(1, maps[a].in) <
           static_cast<double>(maps[b].out) / std::max<int64_t>(1, maps[b].in);
  });
  const float extrap = p.extrapolation;
  if (ctx.inputs[0].dtype != DType::Float32) {
    const Tensor ev = Tensor::scalar_f32(extrap).cast(ctx.inputs[0].dtype);
    return make_kernel([=](Views i, Views o) {
      if (o[0].numel() == 0) return;
      if (i[0].numel() == 0) std::memset(o[0].data, 0, o[0].nbytes());  // nothing to pick from
      else resize_nearest_bytes(i[0], o[0], maps, ev);
    });
  }
  return make_kernel([=](Views i, Views o) {
    if (o[0].numel() == 0) return;
    if (order.empty()) {
      parallel_memcpy(o[0].data, i[0].data, o[0].nbytes());
      return;
    }
    Shape cur = in;
    std::vector<float> bufs[2];
    const float* src = static_cast<const float*>(i[0].data);
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t d = order[k];
      Shape next = cur;
      next[d] = maps[d].out;
      float* dst;
      if (k + 1 == order.size()) {
        dst = static_cast<float*>(o[0].data);
      } else {
        bufs[k % 2].resize(static_cast<size_t>(numel(next)));
        dst = bufs[k % 2].data();
      }
      int64_t outer = 1, inner = 1;
      for (size_t a = 0; a < d; ++a) outer *= cur[a];
      for (size_t a = d + 1; a < cur.size(); ++a) inner *= cur[a];
      if (numel(cur) == 0) {
        std::fill(dst, dst + numel(next), 0.f);
      } else {
        resize_pass(src, dst, outer, inner, maps[d], extrap);
      }
      src = dst;
      cur = next;
    }
  });
}

}  // namespace

void register_resize_ops(CpuOpTable& t) {
  t["Resize"] = CpuOp{check_resize, plan_resize, false};
  t["Upsample"] = CpuOp{check_resize, plan_resize, false};
}

}  // namespace netlens::cpu::tensor
