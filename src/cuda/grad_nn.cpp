// CUDA reverse mode of the nn family (cuda_grad.hpp contract):
// - ConvTranspose: the reverse pair (dX a forward convolution of dY, dW a backward-filter with the
//   roles swapped).
// - Conv: cuDNN backward-data for dX, backward-filter only when dW is wanted (weight gradients),
//   both with beta = 1 so cuDNN adds into the gradient; engines chosen and timed as the forward's
//   (cudnn_conv.cpp, same precision filter); groups and dilations included; dB a per-channel sum.
//   Asymmetric pads (the forward pads explicitly there) and convolutions no cuDNN engine accepts
//   are refused: the host differentiates them.
// - Gemm / MatMul: cuBLAS with swapped transposes and beta = 1 (dA = dY op(B)^T, dB = op(A)^T dY);
//   MatMul's broadcast batches accumulate by successive GEMMs on the one stream; Gemm's C by the
//   broadcast-reduction kernel.
// - BatchNormalization (inference): dX = dY · scale/sqrt(var+eps) per channel; parameter
//   gradients from per-channel sums (kernels/grad_nn.cu).
// - LayerNormalization: dX from per-row sums (statistics recomputed as the forward does), scale and
//   bias gradients as column sums.
// - MaxPool (first maximum, as the CPU), AveragePool, GlobalAveragePool, GlobalMaxPool.
#include <algorithm>
#include <cmath>

#include "cudnn_conv.hpp"
#include "cuda_grad.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cuda {
namespace {

bool has_input(const NodeContext& ctx, size_t i) { return i < ctx.inputs.size() && ctx.inputs[i].dtype != DType::Undefined; }
const Tensor* const_input(const NodeContext& ctx, size_t i) {
  return has_input(ctx, i) && i < ctx.const_inputs.size() ? ctx.const_inputs[i] : nullptr;
}
bool output_requested(const NodeContext& ctx, size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); }
int64_t spatial_of(const Shape& s) {
  int64_t n = 1;
  for (size_t d = 2; d < s.size(); ++d) n *= s[d];
  return n;
}

// ---- Conv ---------------------------------------------------------------------------------------------
class ConvGradKernel final : public GradKernel {
 public:
  ConvGradKernel(Context& c, const NodeContext& ctx, const Need& need) : c_(c) {
    const Shape& x = ctx.inputs[0].shape;
    const Shape& w = ctx.inputs[1].shape;
    const Shape& y = ctx.outputs[0].shape;
    const size_t n = x.size() - 2;
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    const SpatialGeometry g = conv_geometry(ctx.node, x, kernel);
    for (size_t i = 0; i < n; ++i)
      if (g.pad_begin[i] != g.pad_end[i]) refuse(ctx, "a convolution with asymmetric pads");
    ConvSpec base;
    base.where = ctx.node.describe() + " (backward)";
    base.strides = g.strides;
    base.dilations = g.dilations;
    base.pad_begin = g.pad_begin;
    base.pad_end = g.pad_end;
    base.accumulate = true;
    base.w = w;
    Shape xs = x, ys = y;
    if (n == 1) {  // cuDNN wants >= 2 spatial dims: append a size-1 dim (as the forward)
      for (Shape* s : {&xs, &ys, &base.w}) s->push_back(1);
      base.pad_begin.push_back(0);
      base.pad_end.push_back(0);
      base.strides.push_back(1);
      base.dilations.push_back(1);
    }
    if (wanted(need, 0)) {
      ConvSpec s = base;
      s.backward_data = true;  // "x" is dy, "y" is dx
      s.x = ys;
      s.y = xs;
      data_ = std::make_unique<CudnnConv>(c, s);
    }
    if (wanted(need, 1)) {
      ConvSpec s = base;
      s.backward_filter = true;  // "x" is x, "w" is dw, "y" is dy
      s.x = xs;
      s.y = ys;
      filter_ = std::make_unique<CudnnConv>(c, s);
    }
    want_b_ = wanted(need, 2) && has_input(ctx, 2);
    batch_ = y[0];
    channels_ = y[1];
    spatial_ = spatial_of(y);
  }

  void run(const GradViews& v) override {
    const float* dy = grad_out(v, 0);
    if (!dy) return;
    if (float* dx = data_ ? grad_in(v, 0) : nullptr) data_->execute(dy, fwd_in(v, 1), dx);
    // execute()'s pointers are (x, w, y) by role in the forward signature; backward filter writes
    // w (dw) and reads y (dy): cuDNN takes them as void* either way.
    if (float* dw = filter_ ? grad_in(v, 1) : nullptr) filter_->execute(fwd_in(v, 0), dw, const_cast<float*>(dy));
    if (float* db = want_b_ ? grad_in(v, 2) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_channel_dot_add(dy, nullptr, nullptr, nullptr, db, batch_, channels_, spatial_, c_.s()));
  }

 private:
  Context& c_;
  std::unique_ptr<CudnnConv> data_, filter_;
  bool want_b_ = false;
  int64_t batch_ = 0, channels_ = 0, spatial_ = 0;
};

std::optional<std::string> check_conv(const NodeContext& ctx) {
  const size_t rank = ctx.inputs[0].shape.size();
  if (rank < 3 || rank > 5) return "rank " + std::to_string(rank) + " convolution";
  if (ctx.inputs[1].shape.size() != rank) return std::string("weight rank mismatch");
  const int64_t group = ctx.node.attr_int("group", 1);
  if (group <= 0 || ctx.inputs[0].shape[1] % group != 0) return std::string("bad group count");
  for (const TensorInfo* t : {&ctx.inputs[0], &ctx.outputs[0]})
    if (numel(t->shape) == 0) return std::string("empty tensor");
  return std::nullopt;
}

// ConvTranspose y = convT(x, w), w [C, K/G, k...]: cuDNN's backward-data of a convolution whose
// filter is w. Its adjoint for x is that convolution's forward: dx = conv(dy, w) (C outputs, K/G
// inputs per group; output_padding only adds dy rows no tap reads back); for w the convolution's
// backward-filter with the roles swapped: dw = bwd_filter(X = dy, dY = x).
class ConvTransposeGradKernel final : public GradKernel {
 public:
  ConvTransposeGradKernel(Context& c, const NodeContext& ctx, const Need& need) : c_(c) {
    const Shape& x = ctx.inputs[0].shape;
    const Shape& w = ctx.inputs[1].shape;
    const Shape& y = ctx.outputs[0].shape;
    const size_t n = x.size() - 2;
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    const SpatialGeometry g = conv_geometry(ctx.node, x, kernel);  // the CUDA forward's reading
    for (size_t i = 0; i < n; ++i)
      if (g.pad_begin[i] != g.pad_end[i]) refuse(ctx, "a transposed convolution with asymmetric pads");
    ConvSpec base;
    base.where = ctx.node.describe() + " (backward)";
    base.strides = g.strides;
    base.dilations = g.dilations;
    base.pad_begin = g.pad_begin;
    base.pad_end = g.pad_end;
    base.accumulate = true;
    base.w = w;
    Shape xs = x, ys = y;
    if (n == 1) {
      for (Shape* sh : {&xs, &ys, &base.w}) sh->push_back(1);
      base.pad_begin.push_back(0);
      base.pad_end.push_back(0);
      base.strides.push_back(1);
      base.dilations.push_back(1);
    }
    if (wanted(need, 0)) {
      ConvSpec sp = base;  // forward: "x" is dy, "y" is dx
      sp.x = ys;
      sp.y = xs;
      data_ = std::make_unique<CudnnConv>(c, sp);
    }
    if (wanted(need, 1)) {
      ConvSpec sp = base;  // backward filter: "x" is dy, "w" is dw, "y" is x
      sp.backward_filter = true;
      sp.x = ys;
      sp.y = xs;
      filter_ = std::make_unique<CudnnConv>(c, sp);
    }
    want_b_ = wanted(need, 2) && has_input(ctx, 2);
    batch_ = y[0];
    channels_ = y[1];
    spatial_ = spatial_of(y);
  }

  void run(const GradViews& v) override {
    const float* dy = grad_out(v, 0);
    if (!dy) return;
    if (float* dx = data_ ? grad_in(v, 0) : nullptr) data_->execute(dy, fwd_in(v, 1), dx);
    if (float* dw = filter_ ? grad_in(v, 1) : nullptr) filter_->execute(dy, dw, const_cast<float*>(fwd_in(v, 0)));
    if (float* db = want_b_ ? grad_in(v, 2) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_channel_dot_add(dy, nullptr, nullptr, nullptr, db, batch_, channels_, spatial_, c_.s()));
  }

 private:
  Context& c_;
  std::unique_ptr<CudnnConv> data_, filter_;
  bool want_b_ = false;
  int64_t batch_ = 0, channels_ = 0, spatial_ = 0;
};

std::optional<std::string> check_conv_transpose(const NodeContext& ctx) {
  if (auto r = check_conv(ctx)) return r;
  if (ctx.node.has_attr("output_shape")) return std::string("output_shape attribute");
  const std::string ap = ctx.node.attr_string("auto_pad", "NOTSET");
  if (ap != "NOTSET" && ap != "VALID") return "auto_pad " + ap;
  return std::nullopt;
}

// ---- Gemm / MatMul ------------------------------------------------------------------------------------
std::optional<std::string> check_dims_int(const NodeContext& ctx) {
  for (const TensorInfo& t : ctx.inputs)
    for (int64_t d : t.shape)
      if (d > (int64_t{1} << 30)) return std::string("dimension too large for cuBLAS");
  for (const TensorInfo& t : ctx.inputs)
    if (t.dtype != DType::Undefined && numel(t.shape) >= (int64_t{1} << 31)) return std::string("matrix too large for cuBLAS");
  return std::nullopt;
}

// Y = alpha op(A) op(B) + beta C (the CPU's formulas, grad_matmul.cpp):
//   !transA: dA += alpha dY op(B)^T     transA: dA += alpha op(B) dY^T
//   !transB: dB += alpha op(A)^T dY     transB: dB += alpha dY^T op(A)
//   dC += beta Σ over C's broadcast dims of dY.
std::unique_ptr<GradKernel> gemm_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape a = ctx.inputs[0].shape, b = ctx.inputs[1].shape;
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
  const float alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
  const bool want_a = wanted(need, 0), want_b = wanted(need, 1);
  const bool want_c = wanted(need, 2) && has_input(ctx, 2) && beta != 0.0f;
  const BroadcastGrad cm = want_c ? broadcast_grad_maps(ctx.inputs[2].shape, Shape{}, Shape{m, n}) : BroadcastGrad{};
  return make_grad_kernel([&c, ta, tb, m, n, k, alpha, beta, want_a, want_b, want_c, cm](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    if (!dy || m == 0 || n == 0) return;
    const float *ap = fwd_in(v, 0), *bp = fwd_in(v, 1);
    if (float* da = want_a ? grad_in(v, 0) : nullptr; da && k > 0) {
      if (!ta) gemm_rowmajor(c, false, false, !tb, m, k, n, alpha, dy, bp, 1.0f, da);
      else gemm_rowmajor(c, false, tb, true, k, m, n, alpha, bp, dy, 1.0f, da);
    }
    if (float* db = want_b ? grad_in(v, 1) : nullptr; db && k > 0) {
      if (!tb) gemm_rowmajor(c, false, !ta, false, k, n, m, alpha, ap, dy, 1.0f, db);
      else gemm_rowmajor(c, false, true, ta, n, k, m, alpha, dy, ap, 1.0f, db);
    }
    if (float* dc = want_c ? grad_in(v, 2) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_binary_grad(kern::BinaryGrad::G, beta, dy, nullptr, nullptr, dc, cm.kept_g, cm.kept_other,
                                               cm.red_g, cm.red_other, cm.n_out, cm.n_red, c.s()));
  });
}

// Y = A @ B (numpy broadcasting, 1-D operands promoted: same memory). Per output batch i:
//   dA_i += dY_i B_i^T, dB_i += A_i^T dY_i; operands shared by several batches (broadcast) sum them
//   through successive GEMMs with beta = 1 (one stream: ordered).
std::unique_ptr<GradKernel> matmul_grad(Context& c, const NodeContext& ctx, const Need& need) {
  Shape a = ctx.inputs[0].shape, b = ctx.inputs[1].shape;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  const bool want_a = wanted(need, 0), want_b = wanted(need, 1);
  if (b.size() == 2) {
    // Every batch of A multiplies the same B: one product over all rows of A.
    const int64_t rows = k > 0 ? numel(a) / k : 0;
    return make_grad_kernel([&c, rows, k, n, want_a, want_b](const GradViews& v) {
      const float* dy = grad_out(v, 0);
      if (!dy || rows == 0 || k == 0 || n == 0) return;
      if (float* da = want_a ? grad_in(v, 0) : nullptr) gemm_rowmajor(c, false, false, true, rows, k, n, 1.0f, dy, fwd_in(v, 1), 1.0f, da);
      if (float* db = want_b ? grad_in(v, 1) : nullptr) gemm_rowmajor(c, false, true, false, k, n, rows, 1.0f, fwd_in(v, 0), dy, 1.0f, db);
    });
  }
  const Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  const Shape bo = broadcast_shapes(ba, bb, ctx.node.describe());
  const int64_t nbatch = numel(bo);
  kern::StridedMap ma = broadcast_map(ba, bo), mb = broadcast_map(bb, bo);
  for (int d = 0; d < ma.rank; ++d) {
    ma.strides[d] *= m * k;
    mb.strides[d] *= k * n;
  }
  std::vector<int64_t> off_a(static_cast<size_t>(nbatch)), off_b(static_cast<size_t>(nbatch));
  for (int64_t i = 0; i < nbatch; ++i) {
    off_a[static_cast<size_t>(i)] = bo.empty() ? 0 : kern::strided_offset(ma, i);
    off_b[static_cast<size_t>(i)] = bo.empty() ? 0 : kern::strided_offset(mb, i);
  }
  // No broadcast (each batch its own A_i and B_i, contiguous): one strided-batched GEMM per operand.
  bool plain = nbatch > 1 && nbatch < (int64_t{1} << 30);
  for (int64_t i = 0; i < nbatch && plain; ++i)
    plain = off_a[static_cast<size_t>(i)] == i * m * k && off_b[static_cast<size_t>(i)] == i * k * n;
  return make_grad_kernel([&c, m, k, n, nbatch, plain, off_a, off_b, want_a, want_b](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    if (!dy || nbatch == 0 || m == 0 || n == 0 || k == 0) return;
    const float *ap = fwd_in(v, 0), *bp = fwd_in(v, 1);
    float* da = want_a ? grad_in(v, 0) : nullptr;
    float* db = want_b ? grad_in(v, 1) : nullptr;
    if (plain) {
      const int nb = static_cast<int>(nbatch);
      if (da) gemm_rowmajor(c, false, false, true, m, k, n, 1.0f, dy, bp, 1.0f, da, nb, m * n, k * n, m * k);
      if (db) gemm_rowmajor(c, false, true, false, k, n, m, 1.0f, ap, dy, 1.0f, db, nb, m * k, m * n, k * n);
      return;
    }
    for (int64_t i = 0; i < nbatch; ++i) {
      const size_t ui = static_cast<size_t>(i);
      const float* dyi = dy + i * m * n;
      if (da) gemm_rowmajor(c, false, false, true, m, k, n, 1.0f, dyi, bp + off_b[ui], 1.0f, da + off_a[ui]);
      if (db) gemm_rowmajor(c, false, true, false, k, n, m, 1.0f, ap + off_a[ui], dyi, 1.0f, db + off_b[ui]);
    }
  });
}

// ---- BatchNormalization (inference) --------------------------------------------------------------------
// y = (x − mean)·a + B, a = scale/sqrt(var+eps) per channel:
//   dX = dY·a, dScale = Σ dY (x−mean)/sqrt(var+eps), dB = Σ dY, dMean = −a Σ dY,
//   dVar = −½ scale (var+eps)^(−3/2) Σ dY (x−mean).
std::unique_ptr<GradKernel> batchnorm_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& x = ctx.inputs[0].shape;
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const auto scale = ctx.const_inputs[1]->to_f32_vector(), mean = ctx.const_inputs[3]->to_f32_vector();
  const auto var = ctx.const_inputs[4]->to_f32_vector();
  const int64_t ch = x[1];
  if (static_cast<int64_t>(scale.size()) != ch || mean.size() != scale.size() || var.size() != scale.size())
    throw Error(ErrorKind::Model, ctx.node.describe() + ": parameter sizes do not match " + std::to_string(ch) + " channels");
  std::vector<float> a(ch), istd(ch), neg_a(ch), dvar(ch);
  for (int64_t i = 0; i < ch; ++i) {
    const double is = 1.0 / std::sqrt(static_cast<double>(var[i]) + eps);
    istd[i] = static_cast<float>(is);
    a[i] = static_cast<float>(scale[i] * is);
    neg_a[i] = -a[i];
    dvar[i] = static_cast<float>(-0.5 * scale[i] * is * is * is);
  }
  auto up = [&](const std::vector<float>& v) { return std::make_shared<DeviceBuffer>(c.upload(v.data(), v.size() * sizeof(float))); };
  struct Params {
    std::shared_ptr<DeviceBuffer> a, istd, neg_a, dvar, mean;
  } p{up(a), up(istd), up(neg_a), up(dvar), up(mean)};
  bool want[5];
  for (size_t i = 0; i < 5; ++i) want[i] = wanted(need, i);
  const int64_t nb = x[0], inner = spatial_of(x);
  return make_grad_kernel([&c, p, want0 = want[0], want1 = want[1], want2 = want[2], want3 = want[3], want4 = want[4], nb, ch,
                           inner](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    if (!dy) return;
    auto f = [](const std::shared_ptr<DeviceBuffer>& b) { return static_cast<const float*>(b->get()); };
    const float* xp = fwd_in(v, 0);
    if (float* dx = want0 ? grad_in(v, 0) : nullptr) NL_LAUNCH_CHECK(kern::launch_channel_scale_add(dy, f(p.a), dx, nb, ch, inner, c.s()));
    if (float* d = want1 ? grad_in(v, 1) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_channel_dot_add(dy, xp, f(p.mean), f(p.istd), d, nb, ch, inner, c.s()));
    if (float* d = want2 ? grad_in(v, 2) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_channel_dot_add(dy, nullptr, nullptr, nullptr, d, nb, ch, inner, c.s()));
    if (float* d = want3 ? grad_in(v, 3) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_channel_dot_add(dy, nullptr, nullptr, f(p.neg_a), d, nb, ch, inner, c.s()));
    if (float* d = want4 ? grad_in(v, 4) : nullptr)
      NL_LAUNCH_CHECK(kern::launch_channel_dot_add(dy, xp, f(p.mean), f(p.dvar), d, nb, ch, inner, c.s()));
  });
}

std::optional<std::string> check_batchnorm(const NodeContext& ctx) {
  if (ctx.inputs.size() < 5) return std::string("needs 5 inputs");
  for (size_t i = 1; i < 5; ++i)
    if (!const_input(ctx, i)) return std::string("scale/bias/mean/var must be constant");
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i)
    if (output_requested(ctx, i)) return std::string("training-mode outputs");
  if (ctx.node.attr_int("training_mode", 0) != 0) return std::string("training_mode");
  if (ctx.opset < 9 && ctx.node.attr_int("spatial", 1) == 0) return std::string("spatial=0 (opset < 9)");
  if (ctx.inputs[0].shape.size() < 2) return std::string("rank < 2");
  return std::nullopt;
}

// ---- LayerNormalization -------------------------------------------------------------------------------
// The forward's rows (axis onwards) and statistics; scale/bias of `cols` elements (the forward's check).
std::unique_ptr<GradKernel> layernorm_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& x = ctx.inputs[0].shape;
  const int64_t r = static_cast<int64_t>(x.size());
  const int64_t a = normalize_axis(ctx.node.attr_int("axis", -1), r, ctx.node.describe());
  int64_t rows = 1, cols = 1;
  for (int64_t d = 0; d < a; ++d) rows *= x[static_cast<size_t>(d)];
  for (int64_t d = a; d < r; ++d) cols *= x[static_cast<size_t>(d)];
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const bool want_x = wanted(need, 0), want_s = wanted(need, 1), want_b = wanted(need, 2) && has_input(ctx, 2);
  // Row statistics for the parameter gradients: plan-time scratch, written and read by each run.
  auto stats = std::make_shared<DeviceBuffer>(want_s || want_b ? c.alloc(static_cast<size_t>(rows) * 2 * sizeof(float))
                                                               : DeviceBuffer{});
  return make_grad_kernel([&c, rows, cols, eps, want_x, want_s, want_b, stats](const GradViews& v) {
    const float* g = grad_out(v, 0);
    if (!g) return;
    float* dx = want_x ? grad_in(v, 0) : nullptr;
    float* st = static_cast<float*>(stats->get());
    if (!dx && !st) return;
    NL_LAUNCH_CHECK(kern::launch_layernorm_grad(fwd_in(v, 0), fwd_in(v, 1), g, dx, st, rows, cols, eps, c.s()));
    if (st)
      NL_LAUNCH_CHECK(kern::launch_layernorm_param_grad(fwd_in(v, 0), g, st, want_s ? grad_in(v, 1) : nullptr,
                                                        want_b ? grad_in(v, 2) : nullptr, rows, cols, c.s()));
  });
}

// ---- pools ----------------------------------------------------------------------------------------------
std::optional<std::string> check_pool(const NodeContext& ctx) {
  const size_t rank = ctx.inputs[0].shape.size();
  if (rank < 3 || rank > 5) return "rank " + std::to_string(rank) + " pooling";
  if (output_requested(ctx, 1)) return std::string("MaxPool indices output");
  if (ctx.node.attr_ints("kernel_shape", {}).size() != rank - 2) return std::string("kernel_shape mismatch");
  return std::nullopt;
}

std::unique_ptr<GradKernel> pool_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& x = ctx.inputs[0].shape;
  const Shape& y = ctx.outputs[0].shape;
  const auto kernel = ctx.node.attr_ints("kernel_shape", {});
  const SpatialGeometry g = conv_geometry(ctx.node, x, kernel);  // as the CUDA forward reads it
  const size_t n = x.size() - 2, lead = 3 - n;
  kern::PoolGradGeom p;
  p.nc = x[0] * x[1];
  p.max = ctx.node.op_type == "MaxPool";
  p.count_include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  for (size_t i = 0; i < n; ++i) {
    p.in[lead + i] = x[i + 2];
    p.out[lead + i] = y[i + 2];
    p.k[lead + i] = g.kernel[i];
    p.s[lead + i] = g.strides[i];
    p.pb[lead + i] = g.pad_begin[i];
    p.pe[lead + i] = g.pad_end[i];
    p.d[lead + i] = g.dilations[i];
  }
  const bool want = wanted(need, 0);
  return make_grad_kernel([&c, p, want](const GradViews& v) {
    float* dx = want ? grad_in(v, 0) : nullptr;
    const float* g = grad_out(v, 0);
    if (dx && g) NL_LAUNCH_CHECK(kern::launch_pool_grad(fwd_in(v, 0), fwd_out(v, 0), g, dx, p, c.s()));
  });
}

std::unique_ptr<GradKernel> global_pool_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& x = ctx.inputs[0].shape;
  const int64_t planes = x[0] * x[1], spatial = spatial_of(x);
  const bool is_max = ctx.node.op_type == "GlobalMaxPool", want = wanted(need, 0);
  return make_grad_kernel([&c, planes, spatial, is_max, want](const GradViews& v) {
    float* dx = want ? grad_in(v, 0) : nullptr;
    const float* g = grad_out(v, 0);
    if (dx && g) NL_LAUNCH_CHECK(kern::launch_global_pool_grad(fwd_in(v, 0), g, dx, planes, spatial, is_max, c.s()));
  });
}

}  // namespace

void register_nn_grads(CudaGradTable& t) {
  t["Conv"] = CudaGradOp{check_conv, [](Context& c, const NodeContext& ctx, const Need& need) -> std::unique_ptr<GradKernel> {
                           return std::make_unique<ConvGradKernel>(c, ctx, need);
                         }};
  t["ConvTranspose"] = CudaGradOp{check_conv_transpose,
                                  [](Context& c, const NodeContext& ctx, const Need& need) -> std::unique_ptr<GradKernel> {
                                    return std::make_unique<ConvTransposeGradKernel>(c, ctx, need);
                                  }};
  t["Gemm"] = CudaGradOp{[](const NodeContext& ctx) -> std::optional<std::string> {
                           if (ctx.inputs[0].shape.size() != 2 || ctx.inputs[1].shape.size() != 2) return std::string("Gemm needs 2-D A and B");
                           if (has_input(ctx, 2) && ctx.inputs[2].shape.size() > 2) return std::string("C of rank > 2");
                           return check_dims_int(ctx);
                         },
                         gemm_grad};
  t["MatMul"] = CudaGradOp{[](const NodeContext& ctx) -> std::optional<std::string> {
                             if (ctx.inputs[0].shape.empty() || ctx.inputs[1].shape.empty()) return std::string("scalar MatMul");
                             return check_dims_int(ctx);
                           },
                           matmul_grad};
  t["BatchNormalization"] = CudaGradOp{check_batchnorm, batchnorm_grad};
  t["LayerNormalization"] = CudaGradOp{nullptr, layernorm_grad};  // the forward's check applies
  t["MaxPool"] = CudaGradOp{check_pool, pool_grad};
  t["AveragePool"] = CudaGradOp{check_pool, pool_grad};
  t["GlobalAveragePool"] = CudaGradOp{[](const NodeContext& ctx) -> std::optional<std::string> {
                                        if (ctx.inputs[0].shape.size() < 3) return std::string("rank < 3");
                                        return std::nullopt;
                                      },
                                      global_pool_grad};
  t["GlobalMaxPool"] = t["GlobalAveragePool"];
}

}  // namespace netlens::cuda
