// Gemm and MatMul through oneDNN's matmul primitive. A constant B is reordered once into the
// primitive's preferred layout. Gemm's transA/transB become strides of the descriptors, alpha the
// output scale; beta*C is the primitive's bias when C is a row vector and alpha is 1, else it is
// added after the product (a broadcast add, negligible next to the product).
#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "netlens/cpu/fused_chain.hpp"
#include "nn_common.hpp"
#include "sgemm_warmup.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cpu::nn {

namespace {

using dnnl::memory;

struct MatMulSetup {
  memory::desc a, b_user, c;     // c: the destination
  memory::desc bias;             // empty when unused
  const Tensor* const_b = nullptr;
  float alpha = 1.0f;
  // Gemm's C: how it enters.
  enum class CMode { None, BiasDirect, BiasScaled, PostAdd } c_mode = CMode::None;
  float beta = 1.0f;
  const Tensor* const_c = nullptr;
  Shape c_shape, y_shape;  // for PostAdd
  bool zero_k = false;     // K == 0: the product is all zeros
};

class DnnlMatMul : public Kernel {
 public:
  explicit DnnlMatMul(MatMulSetup st, std::shared_ptr<Chain> chain = nullptr) : st_(std::move(st)), chain_(std::move(chain)) {
    if (st_.zero_k) return;
    auto& eng = dnnl_engine();
    dnnl::primitive_attr attr = user_scratchpad();
    if (st_.alpha != 1.0f) attr.set_output_scales(0, {st_.alpha});
    const memory::desc b_any = st_.const_b ? memory::desc(st_.b_user.dims(), memory::data_type::f32, memory::format_tag::any)
                                           : st_.b_user;
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(st_.a, b_any, st_.bias, st_.c), attr, eng);
    prim_ = dnnl::matmul(pd);
    start_sgemm_warmup_for(pd.get());
    sp_ = pd.scratchpad_desc();
    b_prim_ = pd.weights_desc();
    if (st_.const_b) {
      packed_b_ = memory(b_prim_, eng);
      memory user(st_.b_user, eng, const_cast<void*>(st_.const_b->data()));
      dnnl::reorder(user, packed_b_).execute(dnnl_stream(), user, packed_b_);
      dnnl_stream().wait();
    } else if (b_prim_ != st_.b_user) {
      b_in_ = dnnl::reorder(memory(st_.b_user, eng, DNNL_MEMORY_NONE), memory(b_prim_, eng, DNNL_MEMORY_NONE));
    }
    if ((st_.c_mode == MatMulSetup::CMode::BiasScaled || st_.c_mode == MatMulSetup::CMode::BiasDirect) && st_.const_c) {
      // Prepared once: beta * C.
      bias_const_ = memory(st_.bias, eng);
      float* d = static_cast<float*>(bias_const_.get_data_handle());
      const float* c = st_.const_c->data_as<float>();
      for (int64_t i = 0; i < st_.const_c->numel(); ++i) d[i] = st_.beta * c[i];
      has_bias_const_ = true;
    }
  }

  // inputs: [A, B, C?]; outputs: [Y]
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    float* y = static_cast<float*>(out[0].data);
    const float* cdata = in.size() > 2 ? static_cast<const float*>(in[2].data) : nullptr;
    if (st_.zero_k) {
      std::memset(y, 0, out[0].nbytes());
    } else {
      auto& eng = dnnl_engine();
      auto& s = dnnl_stream();
      memory pb;
      if (st_.const_b) {
        pb = packed_b_;
      } else {
        memory ub(st_.b_user, eng, in[1].data);
        pb = ub;
        if (b_prim_ != st_.b_user) {
          pb = memory(b_prim_, eng, scratch(2, b_prim_.get_size()));
          b_in_.execute(s, ub, pb);
        }
      }
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory(st_.a, eng, in[0].data)}, {DNNL_ARG_WEIGHTS, pb}, {DNNL_ARG_DST, memory(st_.c, eng, y)}};
      if (has_bias_const_) {
        args.emplace(DNNL_ARG_BIAS, bias_const_);
      } else if (st_.c_mode == MatMulSetup::CMode::BiasDirect) {
        args.emplace(DNNL_ARG_BIAS, memory(st_.bias, eng, const_cast<float*>(cdata)));
      } else if (st_.c_mode == MatMulSetup::CMode::BiasScaled) {
        float* b = static_cast<float*>(scratch(3, st_.bias.get_size()));
        const int64_t n = static_cast<int64_t>(st_.bias.get_size() / sizeof(float));
        for (int64_t i = 0; i < n; ++i) b[i] = st_.beta * cdata[i];
        args.emplace(DNNL_ARG_BIAS, memory(st_.bias, eng, b));
      }
      with_scratchpad(args, sp_);
      prim_.execute(s, args);
      s.wait();
    }
    if (st_.c_mode == MatMulSetup::CMode::PostAdd) {
      // y[m, n] += beta * C[broadcast(m, n)]; C has rank <= 2.
      const int64_t m = st_.y_shape[0], n = st_.y_shape[1];
      const std::vector<int64_t> cs = broadcast_strides(st_.c_shape, st_.y_shape);
      const float beta = st_.beta;
#pragma omp parallel for schedule(static) if (m * n > 65536)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) y[i * n + j] += beta * cdata[i * cs[0] + j * cs[1]];
    }
    if (chain_) {
      // The steps after the product (a bias Add, GELU, a residual Add) over the output in pieces
      // that stay in L1 between steps, the output read back once from cache.
      const bool fused = chain_->ready(y);
      if (fused) chain_->apply_all();
      chain_->finish(fused);
    }
  }

 private:
  MatMulSetup st_;
  std::shared_ptr<Chain> chain_;
  dnnl::matmul prim_;
  memory::desc b_prim_, sp_;
  dnnl::reorder b_in_;
  memory packed_b_, bias_const_;
  bool has_bias_const_ = false;
};

// Gemm with a constant B and at most kInPlaceRows rows of A (a classifier's fc layers at batch 1):
// B is read in place by oneDNN's sgemm instead of being packed into a copy. The product is one pass
// over B, bound by reading it; the packed copy doubled the weights held (VGG-16's three fc layers:
// 471 MiB) and saved nothing measurable (fc6's 25088x4096 product, transB: sgemm in place 34-36 ms,
// packed matmul 34-39 ms, the matmul primitive on the plain B 44-48 ms; 2 cores, load 5.5).
// Y = alpha op(A) op(B) + beta C: the broadcast beta C is written first, sgemm accumulates on it.
constexpr int64_t kInPlaceRows = 4;

class InPlaceGemm : public Kernel {
 public:
  InPlaceGemm(int64_t m, int64_t n, int64_t k, bool ta, bool tb, float alpha, std::optional<Shape> c_shape, float beta)
      : m_(m), n_(n), k_(k), ta_(ta), tb_(tb), alpha_(alpha), beta_(beta), c_shape_(std::move(c_shape)) {}

  // inputs: [A, B, C?]; outputs: [Y]
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    float* y = static_cast<float*>(out[0].data);
    const bool with_c = c_shape_ && in.size() > 2 && in[2].data;
    if (with_c) {
      const float* c = static_cast<const float*>(in[2].data);
      const std::vector<int64_t> cs = broadcast_strides(*c_shape_, {m_, n_});
      for (int64_t i = 0; i < m_; ++i)
        for (int64_t j = 0; j < n_; ++j) y[i * n_ + j] = beta_ * c[i * cs[0] + j * cs[1]];
    } else {
      std::memset(y, 0, out[0].nbytes());
    }
    if (k_ == 0) return;
    const dnnl_status_t st =
        dnnl_sgemm(ta_ ? 'T' : 'N', tb_ ? 'T' : 'N', m_, n_, k_, alpha_, static_cast<const float*>(in[0].data),
                   ta_ ? m_ : k_, static_cast<const float*>(in[1].data), tb_ ? k_ : n_, with_c ? 1.f : 0.f, y, n_);
    if (st != dnnl_success) throw Error(ErrorKind::Internal, "oneDNN sgemm failed in a Gemm");
  }

 private:
  int64_t m_, n_, k_;
  bool ta_, tb_;
  float alpha_, beta_;
  std::optional<Shape> c_shape_;  // none: no C (or beta 0)
};

memory::desc strided_2d(int64_t rows, int64_t cols, bool transposed) {
  // A logical rows x cols matrix stored row-major as cols x rows when transposed.
  return memory::desc({rows, cols}, memory::data_type::f32,
                      transposed ? memory::dims{1, rows} : memory::dims{cols, 1});
}

}  // namespace

std::unique_ptr<Kernel> plan_gemm(const NodeContext& ctx) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) require_f32(ctx, i);
  const Shape& a = ctx.inputs[0].shape;
  const Shape& b = ctx.inputs[1].shape;
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
  MatMulSetup st;
  st.y_shape = {m, n};
  if (m == 0 || n == 0) return make_kernel([](std::span<const TensorView>, std::span<const TensorView>) {});
  st.a = strided_2d(m, k, ta);
  st.b_user = strided_2d(k, n, tb);
  st.c = plain_desc({m, n});
  st.const_b = const_input(ctx, 1);
  st.alpha = ctx.node.attr_float("alpha", 1.0f);
  st.beta = ctx.node.attr_float("beta", 1.0f);
  st.zero_k = k == 0;
  if (has_input(ctx, 2) && st.beta != 0.0f) {
    st.c_shape = ctx.inputs[2].shape;
    st.const_c = const_input(ctx, 2);
    const bool row = numel(st.c_shape) == n && (st.c_shape.size() == 1 || (st.c_shape.size() == 2 && st.c_shape[0] == 1));
    if (row && st.alpha == 1.0f && !st.zero_k) {
      st.bias = plain_desc({1, n});
      st.c_mode = st.beta == 1.0f && !st.const_c ? MatMulSetup::CMode::BiasDirect : MatMulSetup::CMode::BiasScaled;
    } else {
      st.c_mode = MatMulSetup::CMode::PostAdd;
    }
  }
  if (st.const_b && m <= kInPlaceRows) {
    // No start_sgemm_warmup() here: at batch 1 this is a matrix-vector product, whose own set-up
    // is small (2-3 ms); the full set-up started here (the last node planned) would land in the
    // first run (MobileNetV2's first run 22-26 -> 42-45 ms).
    const bool with_c = st.c_mode != MatMulSetup::CMode::None;
    return std::make_unique<InPlaceGemm>(m, n, k, ta, tb, st.alpha, with_c ? std::optional<Shape>(st.c_shape) : std::nullopt,
                                         st.beta);
  }
  try {
    return std::make_unique<DnnlMatMul>(std::move(st));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "matmul (Gemm)");
  }
}

std::unique_ptr<Kernel> plan_matmul(const NodeContext& ctx) { return plan_matmul_chained(ctx, nullptr); }

std::unique_ptr<Kernel> plan_matmul_chained(const NodeContext& ctx, std::shared_ptr<Chain> chain) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) require_f32(ctx, i);
  Shape a = ctx.inputs[0].shape, b = ctx.inputs[1].shape;
  const Shape& y = ctx.outputs[0].shape;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  MatMulSetup st;
  st.const_b = const_input(ctx, 1);
  st.zero_k = k == 0;
  if (numel(y) == 0) return make_kernel([](std::span<const TensorView>, std::span<const TensorView>) {});
  if (b.size() == 2) {
    // Every batch of A multiplies the same B: one 2-D product over all rows of A.
    const int64_t rows = numel(a) / k;
    st.a = plain_desc({rows, k});
    st.b_user = plain_desc({k, n});
    st.c = plain_desc({rows, n});
  } else {
    const size_t r = std::max(a.size(), b.size());
    a.insert(a.begin(), r - a.size(), 1);
    b.insert(b.begin(), r - b.size(), 1);
    Shape c(r);
    for (size_t i = 0; i + 2 < r; ++i) c[i] = std::max(a[i], b[i]);
    c[r - 2] = m;
    c[r - 1] = n;
    if (r > DNNL_MAX_NDIMS)
      throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": rank " + std::to_string(r) + " MatMul exceeds oneDNN's " +
                                              std::to_string(DNNL_MAX_NDIMS) + " dims");
    st.a = plain_desc(a);
    st.b_user = plain_desc(b);
    st.c = plain_desc(c);
  }
  try {
    return std::make_unique<DnnlMatMul>(std::move(st), std::move(chain));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "matmul");
  }
}

}  // namespace netlens::cpu::nn
