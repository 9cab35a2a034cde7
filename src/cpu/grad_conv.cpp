// Backward of Conv and ConvTranspose through oneDNN's backward primitives
// (convolution_backward_data / _weights, deconvolution_backward_data / _weights), built at plan
// time with a forward_training hint. Layouts: blocked ("any") for spatial and grouped kernels as in
// the forward's policy (nn_common.hpp), plain for <= 4 input channels (the RGB stem); Winograd
// backward-data first for dense 3x3 stride 1 (the forward's Winograd cases); dense 1x1 stride-1
// convs skip oneDNN's conv and run as sgemms that add in place. oneDNN overwrites its outputs, so
// each gradient is computed into scratch and added into the runtime's buffer by a reorder carrying
// a sum post-op (one pass that also converts the layout).
// Bias: dB[oc] = sum of dY over batch and space, a direct loop. Backward-weights is built and run
// only when dW is wanted (weight gradients are off by default).
#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_map>

#include "grad_nn.hpp"
#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::nn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

memory::desc any_desc(const memory::dims& d) { return memory::desc(d, memory::data_type::f32, tag::any); }
memory::dims minus_one(const std::vector<int64_t>& v) {
  memory::dims d(v.begin(), v.end());
  for (auto& x : d) --x;
  return d;
}

// What the kernel needs from the op: problem descriptors and how to build the primitives.
struct ConvProblem {
  bool deconv = false;
  Shape x, y;
  memory::desc user_x, user_w, user_y;
  memory::desc w_any_dims;  // dims of W in oneDNN's order, format any
  memory::dims strides, dilates, pad_l, pad_r;
  bool blocked = true;
  bool winograd = false;   // 3x3 stride-1 dense: try oneDNN's Winograd backward-data first
  bool pointwise = false;  // dense 1x1, stride 1, no pads: plain GEMMs per image, no oneDNN conv
};

dnnl::reorder plain_reorder(const memory::desc& from, const memory::desc& to, bool accumulate) {
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  auto& eng = dnnl_engine();
  return dnnl::reorder(dnnl::reorder::primitive_desc(eng, from, eng, to, attr));
}

class ConvGradKernel final : public GradKernel {
 public:
  ConvGradKernel(const ConvProblem& p, bool want_x, bool want_w, bool want_b, const Tensor* const_w)
      : p_(p), want_x_(want_x), want_w_(want_w), want_b_(want_b) {
    if (numel(p.x) == 0 || numel(p.y) == 0 || p.pointwise) return;
    if (want_x) build_data(const_w);
    if (want_w) build_weights();
  }

  void run(const GradViews& v) override {
    const float* dy = grad_out(v, 0);
    if (!dy || numel(p_.x) == 0 || numel(p_.y) == 0) return;
    if (p_.pointwise) {
      run_pointwise(v, dy);
    } else {
      run_dnnl(v, dy);
    }
    if (float* db = want_b_ ? grad_in(v, 2) : nullptr) {
      const int64_t n = p_.y[0], oc = p_.y[1], sp = numel(p_.y) / (n * oc);
#pragma omp parallel for schedule(static) if (numel(p_.y) > 65536)
      for (int64_t c = 0; c < oc; ++c) {
        double acc = 0.0;
        for (int64_t b = 0; b < n; ++b) acc += sum_row(dy + (b * oc + c) * sp, sp);
        db[c] += static_cast<float>(acc);
      }
    }
  }

 private:
  // Dense 1x1 stride-1 conv per image: Y = W X with X as IC x HW and W as OC x IC, so
  // dX += W^T dY and dW += dY X^T, each one sgemm adding in place (beta = 1): no scratch, no
  // reorders (oneDNN's plain-layout backward for these took 3-4x the forward).
  void run_pointwise(const GradViews& v, const float* dy) {
    const int64_t n = p_.x[0], ic = p_.x[1], oc = p_.y[1], hw = numel(p_.x) / std::max<int64_t>(n * ic, 1);
    const float* w = static_cast<const float*>(v.inputs[1].data);
    const float* x = static_cast<const float*>(v.inputs[0].data);
    float* dx = want_x_ ? grad_in(v, 0) : nullptr;
    float* dw = want_w_ ? grad_in(v, 1) : nullptr;
    for (int64_t b = 0; b < n; ++b) {
      const float* dyb = dy + b * oc * hw;
      if (dx) sgemm_add('T', 'N', ic, hw, oc, w, ic, dyb, hw, dx + b * ic * hw, hw);
      if (dw) sgemm_add('N', 'T', oc, ic, hw, dyb, hw, x + b * ic * hw, hw, dw, ic);
    }
  }

  static void sgemm_add(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                        int64_t ldb, float* c, int64_t ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    if (dnnl::sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, ldc) != dnnl::status::success)
      throw Error(ErrorKind::Internal, "oneDNN sgemm failed in a Conv backward");
  }

  void run_dnnl(const GradViews& v, const float* dy) {
    auto& eng = dnnl_engine();
    auto& s = dnnl_stream();
    memory udy(p_.user_y, eng, const_cast<float*>(dy));
    memory dy_data;  // dY in the data primitive's layout, reused by the weights primitive if equal
    if (has_data_ && grad_in(v, 0)) {
      dy_data = udy;
      if (d_dy_ != p_.user_y) {
        dy_data = memory(d_dy_, eng, grad_scratch(0, d_dy_.get_size()));
        d_dy_in_.execute(s, udy, dy_data);
      }
      memory pw;
      if (has_packed_w_) {
        pw = packed_w_;
      } else {
        memory uw(p_.user_w, eng, const_cast<void*>(v.inputs[1].data));
        pw = uw;
        if (d_w_ != p_.user_w) {
          pw = memory(d_w_, eng, grad_scratch(1, d_w_.get_size()));
          d_w_in_.execute(s, uw, pw);
        }
      }
      memory pdx(d_dx_, eng, grad_scratch(2, d_dx_.get_size()));
      data_prim_.execute(s, {{DNNL_ARG_DIFF_DST, dy_data}, {DNNL_ARG_WEIGHTS, pw}, {DNNL_ARG_DIFF_SRC, pdx}});
      memory udx(p_.user_x, eng, grad_in(v, 0));
      d_dx_out_.execute(s, pdx, udx);
    }
    if (has_weights_ && grad_in(v, 1)) {
      memory ux(p_.user_x, eng, const_cast<void*>(v.inputs[0].data));
      memory px = ux;
      if (w_x_ != p_.user_x) {
        px = memory(w_x_, eng, grad_scratch(3, w_x_.get_size()));
        w_x_in_.execute(s, ux, px);
      }
      memory pdy = udy;
      if (dy_data && w_dy_ == d_dy_) {
        pdy = dy_data;
      } else if (w_dy_ != p_.user_y) {
        pdy = memory(w_dy_, eng, grad_scratch(4, w_dy_.get_size()));
        w_dy_in_.execute(s, udy, pdy);
      }
      memory pdw(w_dw_, eng, grad_scratch(5, w_dw_.get_size()));
      weights_prim_.execute(s, {{DNNL_ARG_SRC, px}, {DNNL_ARG_DIFF_DST, pdy}, {DNNL_ARG_DIFF_WEIGHTS, pdw}});
      memory udw(p_.user_w, eng, grad_in(v, 1));
      w_dw_out_.execute(s, pdw, udw);
    }
    s.wait();
  }

  // The forward_training descriptor oneDNN wants as the hint of a backward primitive.
  template <class Fwd>
  typename Fwd::primitive_desc hint(dnnl::algorithm alg, const memory::desc& src, const memory::desc& w,
                                    const memory::desc& dst) const {
    typename Fwd::desc d(dnnl::prop_kind::forward_training, alg, src, w, dst, p_.strides, p_.dilates, p_.pad_l, p_.pad_r);
    return typename Fwd::primitive_desc(d, dnnl_engine());
  }

  std::pair<memory::desc, memory::desc> act_descs(bool blocked) const {
    return blocked ? std::pair{any_desc(p_.user_x.dims()), any_desc(p_.user_y.dims())} : std::pair{p_.user_x, p_.user_y};
  }

  template <class Fwd, class Bwd>
  void build_data_with(dnnl::algorithm alg, bool blocked) {
    const auto [xd, yd] = act_descs(blocked);
    const auto fwd = hint<Fwd>(alg, xd, p_.w_any_dims, yd);
    typename Bwd::desc d(alg, xd, p_.w_any_dims, yd, p_.strides, p_.dilates, p_.pad_l, p_.pad_r);
    typename Bwd::primitive_desc pd(d, dnnl_engine(), fwd);
    data_prim_ = Bwd(pd);
    d_dx_ = pd.diff_src_desc();
    d_w_ = pd.weights_desc();
    d_dy_ = pd.diff_dst_desc();
  }

  template <class Fwd, class Bwd>
  void build_weights_with(dnnl::algorithm alg, bool blocked) {
    const auto [xd, yd] = act_descs(blocked);
    const auto fwd = hint<Fwd>(alg, xd, p_.w_any_dims, yd);
    typename Bwd::desc d(alg, xd, p_.w_any_dims, yd, p_.strides, p_.dilates, p_.pad_l, p_.pad_r);
    typename Bwd::primitive_desc pd(d, dnnl_engine(), fwd);
    weights_prim_ = Bwd(pd);
    w_x_ = pd.src_desc();
    w_dw_ = pd.diff_weights_desc();
    w_dy_ = pd.diff_dst_desc();
  }

  // Blocked first when the policy says so, plain when oneDNN has no blocked kernel for it.
  template <class F>
  void with_fallback(F&& build) {
    if (p_.blocked) {
      try {
        build(true);
        return;
      } catch (const dnnl::error&) {
      }
    }
    build(false);
  }

  void build_data(const Tensor* const_w) {
    bool built = false;
    if (p_.winograd) {
      try {
        build_data_with<dnnl::convolution_forward, dnnl::convolution_backward_data>(dnnl::algorithm::convolution_winograd, true);
        built = true;
      } catch (const dnnl::error&) {
        // No Winograd backward for this ISA or shape: the direct kernels.
      }
    }
    if (!built) with_fallback([&](bool blocked) {
      if (p_.deconv)
        build_data_with<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data>(dnnl::algorithm::deconvolution_direct, blocked);
      else
        build_data_with<dnnl::convolution_forward, dnnl::convolution_backward_data>(dnnl::algorithm::convolution_direct, blocked);
    });
    if (d_dy_ != p_.user_y) d_dy_in_ = plain_reorder(p_.user_y, d_dy_, false);
    if (d_w_ != p_.user_w) d_w_in_ = plain_reorder(p_.user_w, d_w_, false);
    d_dx_out_ = plain_reorder(d_dx_, p_.user_x, true);
    if (const_w) {
      // Constant weights: packed once for every backward run.
      auto& eng = dnnl_engine();
      packed_w_ = memory(d_w_, eng);
      memory user(p_.user_w, eng, const_cast<void*>(const_w->data()));
      plain_reorder(p_.user_w, d_w_, false).execute(dnnl_stream(), user, packed_w_);
      dnnl_stream().wait();
      has_packed_w_ = true;
    }
    has_data_ = true;
  }

  void build_weights() {
    with_fallback([&](bool blocked) {
      if (p_.deconv)
        build_weights_with<dnnl::deconvolution_forward, dnnl::deconvolution_backward_weights>(
            dnnl::algorithm::deconvolution_direct, blocked);
      else
        build_weights_with<dnnl::convolution_forward, dnnl::convolution_backward_weights>(dnnl::algorithm::convolution_direct,
                                                                                           blocked);
    });
    if (w_x_ != p_.user_x) w_x_in_ = plain_reorder(p_.user_x, w_x_, false);
    if (w_dy_ != p_.user_y) w_dy_in_ = plain_reorder(p_.user_y, w_dy_, false);
    w_dw_out_ = plain_reorder(w_dw_, p_.user_w, true);
    has_weights_ = true;
  }

  ConvProblem p_;
  bool want_x_ = false, want_w_ = false, want_b_ = false;
  bool has_data_ = false, has_weights_ = false, has_packed_w_ = false;
  dnnl::primitive data_prim_, weights_prim_;
  memory::desc d_dx_, d_w_, d_dy_, w_x_, w_dw_, w_dy_;
  dnnl::reorder d_dy_in_, d_w_in_, d_dx_out_, w_x_in_, w_dy_in_, w_dw_out_;
  memory packed_w_;
};

bool all_zero(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 0; });
}

}  // namespace

std::unique_ptr<GradKernel> plan_conv_grad(const NodeContext& ctx, const Need& need) {
  const Shape& x = ctx.inputs[0].shape;
  const Shape& w = ctx.inputs[1].shape;
  const int64_t group = ctx.node.attr_int("group", 1);
  const std::vector<int64_t> kernel = conv_kernel_shape(ctx.node, w);
  const SpatialGeometry g = conv_geometry(ctx.node, x, kernel);
  Shape wd = w;  // ONNX [OC][IC/g][k...] = oneDNN's [g][OC/g][IC/g][k...] with plain strides
  if (group > 1) {
    wd[0] = w[0] / group;
    wd.insert(wd.begin(), group);
  }
  ConvProblem p;
  p.x = x;
  p.y = ctx.outputs[0].shape;
  p.user_x = plain_desc(x);
  p.user_y = plain_desc(p.y);
  p.user_w = plain_desc(wd);
  p.w_any_dims = any_desc(to_dims(wd));
  p.strides = to_dims(g.strides);
  p.dilates = minus_one(g.dilations);
  p.pad_l = to_dims(g.pad_begin);
  p.pad_r = to_dims(g.pad_end);
  const int64_t out_spatial = numel(p.y) / std::max<int64_t>(p.y[0] * p.y[1], 1);
  const bool pointwise = group == 1 && out_spatial > 100 &&
                         std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; }) &&
                         all_zero(g.pad_begin) && all_zero(g.pad_end);
  // With very few input channels (an RGB stem) the blocked kernels pad the channels to 16; the
  // plain GEMM-based backward is about 2x faster there (ResNet-50 conv1: 4.9 vs 9.1 ms, 1 thread).
  p.blocked = conv_layout(pointwise) == ConvLayout::Blocked && (x[1] > 4 || forced_conv_layout());
  p.winograd = winograd_enabled() && group == 1 && kernel == std::vector<int64_t>{3, 3} &&
               g.strides == std::vector<int64_t>{1, 1} && g.dilations == std::vector<int64_t>{1, 1};
  p.pointwise = group == 1 && !forced_conv_layout() && std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; }) &&
                std::all_of(g.strides.begin(), g.strides.end(), [](int64_t s) { return s == 1; }) && all_zero(g.pad_begin) &&
                all_zero(g.pad_end);
  try {
    return std::make_unique<ConvGradKernel>(p, wanted(need, 0), wanted(need, 1), wanted(need, 2) && has_input(ctx, 2),
                                            const_input(ctx, 1));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "convolution backward");
  }
}

std::unique_ptr<GradKernel> plan_conv_transpose_grad(const NodeContext& ctx, const Need& need) {
  const Shape& x = ctx.inputs[0].shape;
  const Shape& w = ctx.inputs[1].shape;
  const ConvTransposeGeometry g = convtranspose_geometry(ctx.node, x, w);
  const size_t r = g.kernel.size();
  const int64_t group = g.group, ic = w[0], ocg = w[1];
  const int64_t ksize = std::accumulate(g.kernel.begin(), g.kernel.end(), int64_t{1}, std::multiplies<>());
  // oneDNN wants [g][OC/g][IC/g][k...]; ONNX stores [g][IC/g][OC/g][k...]: described by strides
  // (as the forward in nn_conv.cpp does).
  memory::dims wd, ws;
  if (group > 1) {
    wd = {group, ocg, ic / group};
    ws = {(ic / group) * ocg * ksize, ksize, ocg * ksize};
  } else {
    wd = {ocg, ic};
    ws = {ksize, ocg * ksize};
  }
  const std::vector<int64_t> kst = strides_of(g.kernel);
  for (size_t i = 0; i < r; ++i) {
    wd.push_back(g.kernel[i]);
    ws.push_back(kst[i]);
  }
  ConvProblem p;
  p.deconv = true;
  p.x = x;
  p.y = ctx.outputs[0].shape;
  p.user_x = plain_desc(x);
  p.user_y = plain_desc(p.y);
  p.user_w = memory::desc(wd, memory::data_type::f32, ws);
  p.w_any_dims = any_desc(wd);
  p.strides = to_dims(g.strides);
  p.dilates = minus_one(g.dilations);
  p.pad_l = to_dims(g.pad_begin);
  p.pad_r.resize(r);
  for (size_t i = 0; i < r; ++i) p.pad_r[i] = g.pad_end[i] - g.output_padding[i];
  // The forward measured plain layouts faster for transposed convs; the same here unless forced.
  p.blocked = forced_conv_layout().value_or(ConvLayout::Plain) == ConvLayout::Blocked;
  try {
    return std::make_unique<ConvGradKernel>(p, wanted(need, 0), wanted(need, 1), wanted(need, 2) && has_input(ctx, 2),
                                            const_input(ctx, 1));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "deconvolution backward");
  }
}

}  // namespace netlens::cpu::nn
