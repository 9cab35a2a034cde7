// Conv and ConvTranspose through oneDNN. Everything is decided at plan time: the primitive, the
// activation layout (plain NCHW, or a blocked layout with reorders in and out), and, when W is a
// constant, the weights reordered once into the primitive's preferred format.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_map>

#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::nn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// A oneDNN forward primitive taking src/weights/(bias)/dst, wrapped so that callers see plain
// row-major float32 tensors. Reorders happen only where the primitive chose another layout.
class WrappedPrimitive : public Kernel {
 public:
  WrappedPrimitive(dnnl::primitive prim, memory::desc user_src, memory::desc prim_src, memory::desc user_w,
                   memory::desc prim_w, memory::desc bias, memory::desc user_dst, memory::desc prim_dst,
                   const Tensor* const_w)
      : prim_(std::move(prim)),
        user_src_(user_src), prim_src_(prim_src), user_w_(user_w), prim_w_(prim_w), bias_(bias),
        user_dst_(user_dst), prim_dst_(prim_dst) {
    auto& eng = dnnl_engine();
    if (prim_src_ != user_src_) src_in_ = dnnl::reorder(memory(user_src_, eng, DNNL_MEMORY_NONE), memory(prim_src_, eng, DNNL_MEMORY_NONE));
    if (prim_dst_ != user_dst_) dst_out_ = dnnl::reorder(memory(prim_dst_, eng, DNNL_MEMORY_NONE), memory(user_dst_, eng, DNNL_MEMORY_NONE));
    if (prim_w_ != user_w_) w_in_ = dnnl::reorder(memory(user_w_, eng, DNNL_MEMORY_NONE), memory(prim_w_, eng, DNNL_MEMORY_NONE));
    if (const_w) {
      // Pack constant weights once; the packed copy is owned by this kernel.
      packed_w_ = memory(prim_w_, eng);
      memory user(user_w_, eng, const_cast<void*>(const_w->data()));
      if (prim_w_ != user_w_) {
        w_in_.execute(dnnl_stream(), user, packed_w_);
      } else {
        std::memcpy(packed_w_.get_data_handle(), const_w->data(), user_w_.get_size());
      }
      dnnl_stream().wait();
      has_packed_w_ = true;
    }
  }

  // inputs: [src, weights, bias?]; outputs: [dst]
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    auto& eng = dnnl_engine();
    auto& s = dnnl_stream();
    memory usrc(user_src_, eng, in[0].data);
    memory psrc = usrc;
    if (prim_src_ != user_src_) {
      psrc = memory(prim_src_, eng, scratch(0, prim_src_.get_size()));
      src_in_.execute(s, usrc, psrc);
    }
    memory pw;
    if (has_packed_w_) {
      pw = packed_w_;
    } else {
      memory uw(user_w_, eng, in[1].data);
      pw = uw;
      if (prim_w_ != user_w_) {
        pw = memory(prim_w_, eng, scratch(2, prim_w_.get_size()));
        w_in_.execute(s, uw, pw);
      }
    }
    memory udst(user_dst_, eng, out[0].data);
    memory pdst = udst;
    if (prim_dst_ != user_dst_) pdst = memory(prim_dst_, eng, scratch(1, prim_dst_.get_size()));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, psrc}, {DNNL_ARG_WEIGHTS, pw}, {DNNL_ARG_DST, pdst}};
    if (in.size() > 2 && in[2].data && bias_.get_size() > 0) args.emplace(DNNL_ARG_BIAS, memory(bias_, eng, in[2].data));
    prim_.execute(s, args);
    if (prim_dst_ != user_dst_) dst_out_.execute(s, pdst, udst);
    s.wait();
  }

 private:
  dnnl::primitive prim_;
  memory::desc user_src_, prim_src_, user_w_, prim_w_, bias_, user_dst_, prim_dst_;
  dnnl::reorder src_in_, dst_out_, w_in_;
  memory packed_w_;
  bool has_packed_w_ = false;
};

std::unique_ptr<Kernel> noop_kernel() {
  return make_kernel([](std::span<const TensorView>, std::span<const TensorView>) {});
}

memory::dims minus_one(const std::vector<int64_t>& v) {
  memory::dims d(v.begin(), v.end());
  for (auto& x : d) --x;
  return d;
}

memory::desc any_desc(const memory::dims& d) { return memory::desc(d, memory::data_type::f32, tag::any); }

// Depthwise 2-D conv (group == C_in == C_out) directly on NCHW. These layers are memory-bound;
// oneDNN's blocked kernel needs a reorder of the input and output around it (3x the traffic) and
// its plain-layout path is a slow im2col. One (n, c) plane per OpenMP iteration; each output row
// accumulates tap by tap over the valid output range, so the inner loop is a contiguous FMA for
// stride 1. The library is built for baseline x86-64, so the plane loop is compiled for AVX-512
// and AVX2+FMA too and picked at load time (target_clones).
struct DwGeometry {
  int64_t h, w, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
  const int64_t* lo;  // per kernel column: valid output column range [lo, hi)
  const int64_t* hi;
};

#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void depthwise_plane(const float* xs, const float* ws, float bias, float* ys, const DwGeometry& g) {
  for (int64_t r = 0; r < g.oh; ++r) {
    float* yr = ys + r * g.ow;
    for (int64_t q = 0; q < g.ow; ++q) yr[q] = bias;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = r * g.sh - g.ph + i * g.dh;
      if (ih < 0 || ih >= g.h) continue;
      const float* xr = xs + ih * g.w;
      for (int64_t j = 0; j < g.kw; ++j) {
        const float wv = ws[i * g.kw + j];
        const int64_t off = j * g.dw - g.pw, a = g.lo[j], b = g.hi[j];
        if (g.sw == 1) {
          const float* xo = xr + off;
#pragma omp simd
          for (int64_t q = a; q < b; ++q) yr[q] += wv * xo[q];
        } else {
          const int64_t sw = g.sw;
#pragma omp simd
          for (int64_t q = a; q < b; ++q) yr[q] += wv * xr[q * sw + off];
        }
      }
    }
  }
}

// 2-D ConvTranspose whose kernel equals its stride (no overlap; no pads, dilation or
// output_padding), the upsampling layers of detection heads. Each input pixel maps to its own
// kh x kw output patch, so the op is one GEMM, Z[oc*kh*kw + a*kw + b][p] = sum_ic W[ic][oc][a][b]
// X[ic][p], followed by placing Z's rows into the output with the bias (oneDNN's deconvolution
// spends about 2x longer on these, mostly in col2im).
#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void place_patches(const float* z, float bias, float* y, int64_t h, int64_t w, int64_t kh, int64_t kw) {
  // z holds kh*kw rows of h*w values for one output channel; y is that channel's (h*kh) x (w*kw).
  const int64_t hw = h * w, ow = w * kw;
  for (int64_t i = 0; i < h; ++i)
    for (int64_t a = 0; a < kh; ++a) {
      float* yr = y + (i * kh + a) * ow;
      for (int64_t b = 0; b < kw; ++b) {
        const float* zr = z + (a * kw + b) * hw + i * w;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) yr[j * kw + b] = zr[j] + bias;
      }
    }
}

class PatchConvTranspose2d : public Kernel {
 public:
  PatchConvTranspose2d(const Shape& x, const Shape& w)
      : n_(x[0]), ic_(x[1]), h_(x[2]), w_(x[3]), oc_(w[1]), kh_(w[2]), kw_(w[3]) {
    const int64_t m = oc_ * kh_ * kw_;
    // src: W viewed as (oc*kh*kw) x ic, i.e. ONNX's [ic][oc*kh*kw] read transposed.
    src_ = memory::desc({m, ic_}, memory::data_type::f32, memory::dims{1, m});
    wei_ = plain_desc({ic_, h_ * w_});
    dst_ = plain_desc({m, h_ * w_});
    prim_ = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_, wei_, dst_), dnnl_engine()));
  }

  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    auto& eng = dnnl_engine();
    auto& s = dnnl_stream();
    const float* bp = in.size() > 2 ? static_cast<const float*>(in[2].data) : nullptr;
    const int64_t kk = kh_ * kw_, hw = h_ * w_;
    float* z = static_cast<float*>(scratch(1, dst_.get_size()));
    for (int64_t b = 0; b < n_; ++b) {
      const float* xb = static_cast<const float*>(in[0].data) + b * ic_ * hw;
      float* yb = static_cast<float*>(out[0].data) + b * oc_ * kk * hw;
      prim_.execute(s, {{DNNL_ARG_SRC, memory(src_, eng, in[1].data)},
                        {DNNL_ARG_WEIGHTS, memory(wei_, eng, const_cast<float*>(xb))},
                        {DNNL_ARG_DST, memory(dst_, eng, z)}});
      s.wait();
      const int64_t oc = oc_, h = h_, w = w_, kh = kh_, kw = kw_;
#pragma omp parallel for schedule(static) if (oc * kk * hw > 65536)
      for (int64_t c = 0; c < oc; ++c) place_patches(z + c * kk * hw, bp ? bp[c] : 0.0f, yb + c * kk * hw, h, w, kh, kw);
    }
  }

 private:
  int64_t n_, ic_, h_, w_, oc_, kh_, kw_;
  memory::desc src_, wei_, dst_;
  dnnl::matmul prim_;
};

class DepthwiseConv2d : public Kernel {
 public:
  DepthwiseConv2d(const Shape& x, const Shape& y, const SpatialGeometry& g) : x_(x) {
    g_ = DwGeometry{x[2], x[3], y[2], y[3], g.kernel[0], g.kernel[1], g.strides[0], g.strides[1],
                    g.dilations[0], g.dilations[1], g.pad_begin[0], g.pad_begin[1], nullptr, nullptr};
    // Valid output columns for each kernel column: 0 <= ow*sw - pw + k*dw < w.
    for (int64_t k = 0; k < g_.kw; ++k) {
      const int64_t off = k * g_.dw - g_.pw;
      const int64_t a = std::min(off >= 0 ? 0 : (-off + g_.sw - 1) / g_.sw, g_.ow);
      const int64_t b = g_.w - 1 - off < 0 ? 0 : (g_.w - 1 - off) / g_.sw + 1;
      lo_.push_back(a);
      hi_.push_back(std::clamp(b, a, g_.ow));
    }
    g_.lo = lo_.data();
    g_.hi = hi_.data();
  }

  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* xp = static_cast<const float*>(in[0].data);
    const float* wp = static_cast<const float*>(in[1].data);
    const float* bp = in.size() > 2 ? static_cast<const float*>(in[2].data) : nullptr;
    float* yp = static_cast<float*>(out[0].data);
    const int64_t c = x_[1], planes = x_[0] * c;
    const int64_t in_plane = g_.h * g_.w, out_plane = g_.oh * g_.ow, taps = g_.kh * g_.kw;
    const DwGeometry& g = g_;
#pragma omp parallel for schedule(static) if (planes * out_plane * taps > 65536)
    for (int64_t p = 0; p < planes; ++p) {
      const int64_t ch = p % c;
      depthwise_plane(xp + p * in_plane, wp + ch * taps, bp ? bp[ch] : 0.0f, yp + p * out_plane, g);
    }
  }

 private:
  Shape x_;
  DwGeometry g_;
  std::vector<int64_t> lo_, hi_;
};

}  // namespace

std::unique_ptr<Kernel> plan_conv(const NodeContext& ctx) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) require_f32(ctx, i);
  const Shape& x = ctx.inputs[0].shape;
  const Shape& w = ctx.inputs[1].shape;
  const Shape& y = ctx.outputs[0].shape;
  if (numel(y) == 0) return noop_kernel();
  const int64_t group = ctx.node.attr_int("group", 1);
  const std::vector<int64_t> kernel = conv_kernel_shape(ctx.node, w);
  const SpatialGeometry g = conv_geometry(ctx.node, x, kernel);
  // The direct depthwise kernel wins on wide rows (PP-OCR det's 80..320-wide stages: 1.5-2.6x);
  // on narrow rows its per-row overhead dominates and oneDNN's blocked kernel is faster.
  if (x.size() == 4 && group > 1 && group == x[1] && w[0] == group && y[3] >= 64 && !forced_conv_layout())
    return std::make_unique<DepthwiseConv2d>(x, y, g);
  // ONNX W is [OC][IC/g][k...] = [g][OC/g][IC/g][k...]: plain strides over oneDNN's grouped dims.
  Shape wd = w;
  if (group > 1) {
    wd[0] = w[0] / group;
    wd.insert(wd.begin(), group);
  }
  const bool has_bias = has_input(ctx, 2);
  const memory::desc user_src = plain_desc(x), user_dst = plain_desc(y), user_w = plain_desc(wd);
  const memory::desc bias = has_bias ? plain_desc({w[0]}) : memory::desc();
  // A dense 1x1 conv on plain NCHW is a GEMM over the spatial positions; that beats the blocked
  // kernels plus their reorders unless the spatial extent is tiny (measured: ResNet-50's 7x7 stage
  // prefers blocked, its 14x14 and larger stages plain).
  const int64_t out_spatial = numel(y) / (y[0] * y[1]);
  const bool pointwise = group == 1 && out_spatial > 100 &&
                         std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; }) &&
                         std::all_of(g.pad_begin.begin(), g.pad_begin.end(), [](int64_t p) { return p == 0; }) &&
                         std::all_of(g.pad_end.begin(), g.pad_end.end(), [](int64_t p) { return p == 0; });
  // With very few input channels (an RGB stem) oneDNN has a direct kernel reading plain NCHW into
  // a blocked output, which saves the input reorder (ResNet-50 conv1: 1.12 vs 1.31 ms).
  const bool plain_src_ok = x[1] <= 4;
  // Dense 3x3 stride-1 2-D convs: oneDNN's Winograd kernels take about half the time of the
  // direct ones (ResNet-50 stages, PP-OCR's 96->24 heads).
  // Only with constant weights: their transform into the Winograd domain is slow, done once at
  // prepare time — and not on outputs smaller than 14x14, where it does not pay: on ResNet-50's
  // 512-channel 7x7 stage the transform took 140-150 ms per layer at prepare (oneDNN's
  // wino_reorder; most of the model's 0.5 s prepare) to save 0.1 ms per run (5.35 vs 5.59 ms for
  // the stage's 3x3 convs); the 14x14 stage saves 3 ms per run for 33 ms per layer.
  const bool winograd = winograd_enabled() && const_input(ctx, 1) && group == 1 && kernel == std::vector<int64_t>{3, 3} &&
                        g.strides == std::vector<int64_t>{1, 1} && g.dilations == std::vector<int64_t>{1, 1} &&
                        out_spatial >= 14 * 14;
  auto build = [&](bool blocked, bool wino) {
    const memory::desc src = blocked && !plain_src_ok ? any_desc(to_dims(x)) : user_src;
    const memory::desc dst = blocked ? any_desc(to_dims(y)) : user_dst;
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                      wino ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct,
                                      src, any_desc(to_dims(wd)), bias, dst, to_dims(g.strides), minus_one(g.dilations),
                                      to_dims(g.pad_begin), to_dims(g.pad_end));
    return dnnl::convolution_forward::primitive_desc(d, dnnl_engine());
  };
  try {
    dnnl::convolution_forward::primitive_desc pd;
    if (conv_layout(pointwise) == ConvLayout::Blocked) {
      bool built = false;
      if (winograd) {
        try {
          pd = build(true, true);
          built = true;
        } catch (const dnnl::error&) {
          // No Winograd kernel for this ISA or shape: the direct one below.
        }
      }
      if (!built) {
        try {
          pd = build(true, false);
        } catch (const dnnl::error&) {
          pd = build(false, false);
        }
      }
    } else {
      pd = build(false, false);
    }
    return std::make_unique<WrappedPrimitive>(dnnl::convolution_forward(pd), user_src, pd.src_desc(), user_w,
                                              pd.weights_desc(), bias, user_dst, pd.dst_desc(), const_input(ctx, 1));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "convolution");
  }
}

std::unique_ptr<Kernel> plan_conv_transpose(const NodeContext& ctx) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) require_f32(ctx, i);
  const Shape& x = ctx.inputs[0].shape;
  const Shape& w = ctx.inputs[1].shape;
  const Shape& y = ctx.outputs[0].shape;
  if (numel(y) == 0) return noop_kernel();
  const ConvTransposeGeometry g = convtranspose_geometry(ctx.node, x, w);
  const size_t n = g.kernel.size();
  const auto zeros = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 0; });
  };
  if (n == 2 && g.group == 1 && g.kernel == g.strides && zeros(g.pad_begin) && zeros(g.pad_end) &&
      zeros(g.output_padding) && g.dilations == std::vector<int64_t>{1, 1} && !forced_conv_layout()) {
    try {
      return std::make_unique<PatchConvTranspose2d>(x, w);
    } catch (const dnnl::error&) {
      // Fall through to oneDNN's deconvolution.
    }
  }
  const int64_t group = g.group, ic = w[0], ocg = w[1];
  const int64_t ksize = std::accumulate(g.kernel.begin(), g.kernel.end(), int64_t{1}, std::multiplies<>());
  // oneDNN wants [g][OC/g][IC/g][k...]; ONNX stores [g][IC/g][OC/g][k...]: describe it by strides.
  memory::dims wd, ws;
  if (group > 1) {
    wd = {group, ocg, ic / group};
    ws = {(ic / group) * ocg * ksize, ksize, ocg * ksize};
  } else {
    wd = {ocg, ic};
    ws = {ksize, ocg * ksize};
  }
  const std::vector<int64_t> kst = strides_of(g.kernel);
  for (size_t i = 0; i < n; ++i) {
    wd.push_back(g.kernel[i]);
    ws.push_back(kst[i]);
  }
  const memory::desc user_w(wd, memory::data_type::f32, ws);
  const bool has_bias = has_input(ctx, 2);
  const memory::desc user_src = plain_desc(x), user_dst = plain_desc(y);
  const memory::desc bias = has_bias ? plain_desc({g.out_channels}) : memory::desc();
  // With pad_r = pad_end - output_padding, oneDNN's consistency rule
  // (dst - eff + pad_l + pad_r) / stride + 1 == src holds exactly; a negative pad_r (output_shape
  // larger than the full result) yields trailing outputs that receive only the bias.
  memory::dims pr(n);
  for (size_t i = 0; i < n; ++i) pr[i] = g.pad_end[i] - g.output_padding[i];
  auto build = [&](bool blocked) {
    const memory::desc src = blocked ? any_desc(to_dims(x)) : user_src;
    const memory::desc dst = blocked ? any_desc(to_dims(y)) : user_dst;
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                        src, any_desc(wd), bias, dst, to_dims(g.strides), minus_one(g.dilations),
                                        to_dims(g.pad_begin), pr);
    return dnnl::deconvolution_forward::primitive_desc(d, dnnl_engine());
  };
  try {
    dnnl::deconvolution_forward::primitive_desc pd;
    // Unlike Conv, plain layout wins for the transposed convs measured (PP-OCR's 2x2 stride-2
    // upsamplers: oneDNN's blocked kernel is 1-6x slower there), so blocked only when forced.
    if (forced_conv_layout().value_or(ConvLayout::Plain) == ConvLayout::Blocked) {
      try {
        pd = build(true);
      } catch (const dnnl::error&) {
        pd = build(false);
      }
    } else {
      pd = build(false);
    }
    return std::make_unique<WrappedPrimitive>(dnnl::deconvolution_forward(pd), user_src, pd.src_desc(), user_w,
                                              pd.weights_desc(), bias, user_dst, pd.dst_desc(), const_input(ctx, 1));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "deconvolution");
  }
}

}  // namespace netlens::cpu::nn
