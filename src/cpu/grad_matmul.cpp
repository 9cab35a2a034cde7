// Backward of Gemm and MatMul: every product is one dnnl::sgemm (row-major, beta = 1, so it adds
// into the gradient as the GradKernel contract asks; oneDNN's sgemm is the JIT/OpenMP GEMM the
// matmul primitive uses). Transposes become sgemm's trans flags, never copies.
#include <algorithm>

#include "grad_nn.hpp"
#include "nn_common.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cpu::nn {

namespace {

// C[M x N] += alpha * op(A) op(B), row-major with leading dims lda/ldb/ldc.
void gemm_add(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  const dnnl::status st = dnnl::sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, std::max<int64_t>(lda, 1), b,
                                      std::max<int64_t>(ldb, 1), 1.0f, c, std::max<int64_t>(ldc, 1));
  if (st != dnnl::status::success) throw Error(ErrorKind::Internal, "oneDNN sgemm failed in a MatMul/Gemm backward");
}

}  // namespace

// Y = alpha op(A) op(B) + beta C. With dY (m x n):
//   d op(A) = alpha dY op(B)^T,  d op(B) = alpha op(A)^T dY,  dC = beta * (dY summed over C's broadcast dims).
// A stored transposed (transA) gets (d op(A))^T = alpha op(B) dY^T, likewise B.
std::unique_ptr<GradKernel> plan_gemm_grad(const NodeContext& ctx, const Need& need) {
  const Shape a = ctx.inputs[0].shape, b = ctx.inputs[1].shape;
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
  const float alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
  const bool want_c = wanted(need, 2) && has_input(ctx, 2);
  const Shape c_shape = want_c ? ctx.inputs[2].shape : Shape{};
  const std::vector<int64_t> cs = want_c ? broadcast_strides(c_shape, Shape{m, n}) : std::vector<int64_t>{};
  const bool want_a = wanted(need, 0), want_b = wanted(need, 1);
  // Stored column counts (leading dims).
  const int64_t lda = a[1], ldb = b[1];
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    if (!dy) return;
    const float *ap = fwd_in(v, 0), *bp = fwd_in(v, 1);
    if (float* da = want_a ? grad_in(v, 0) : nullptr) {
      if (!ta)  // dA (m x k) += alpha dY op(B)^T; op(B)^T is B^T (B stored k x n) or B (stored n x k)
        gemm_add(false, !tb, m, k, n, alpha, dy, n, bp, ldb, da, k);
      else  // dA (k x m) += alpha op(B) dY^T
        gemm_add(tb, true, k, m, n, alpha, bp, ldb, dy, n, da, m);
    }
    if (float* db = want_b ? grad_in(v, 1) : nullptr) {
      if (!tb)  // dB (k x n) += alpha op(A)^T dY
        gemm_add(!ta, false, k, n, m, alpha, ap, lda, dy, n, db, n);
      else  // dB (n x k) += alpha dY^T op(A)
        gemm_add(true, ta, n, k, m, alpha, dy, n, ap, lda, db, k);
    }
    if (float* dc = want_c ? grad_in(v, 2) : nullptr) {
      if (beta == 0.0f) return;
      // C has rank <= 2 and few elements to reduce into: serial, no races on broadcast dims.
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) dc[i * cs[0] + j * cs[1]] += beta * dy[i * n + j];
    }
  });
}

// Y = A @ B with numpy broadcasting over the batch dims and 1-D operands promoted (A: [k] -> [1, k],
// B: [k] -> [k, 1]; the promoted shapes have the same memory). Per output batch:
//   dA_b += dY_b B_b^T,  dB_b += A_b^T dY_b,
// summed over the batches a broadcast operand is shared by (sequential sgemm calls with beta = 1).
std::unique_ptr<GradKernel> plan_matmul_grad(const NodeContext& ctx, const Need& need) {
  Shape a = ctx.inputs[0].shape, b = ctx.inputs[1].shape;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  const bool want_a = wanted(need, 0), want_b = wanted(need, 1);
  if (b.size() == 2) {
    // Every batch of A multiplies the same B: one product over all rows of A.
    const int64_t rows = k > 0 ? numel(a) / k : 0;  // k == 0: no products, nothing to add
    return make_grad_kernel([=](const GradViews& v) {
      const float* dy = grad_out(v, 0);
      if (!dy) return;
      if (float* da = want_a ? grad_in(v, 0) : nullptr) gemm_add(false, true, rows, k, n, 1.0f, dy, n, fwd_in(v, 1), n, da, k);
      if (float* db = want_b ? grad_in(v, 1) : nullptr) gemm_add(true, false, k, n, rows, 1.0f, fwd_in(v, 0), k, dy, n, db, n);
    });
  }
  const size_t r = std::max(a.size(), b.size());
  a.insert(a.begin(), r - a.size(), 1);
  b.insert(b.begin(), r - b.size(), 1);
  const Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape cb(r - 2);
  for (size_t i = 0; i + 2 < r; ++i) cb[i] = std::max(a[i], b[i]);
  const std::vector<int64_t> as = broadcast_strides(ab, cb), bs = broadcast_strides(bb, cb);
  const int64_t batches = numel(cb);
  return make_grad_kernel([=](const GradViews& v) {
    const float* dy = grad_out(v, 0);
    if (!dy) return;
    const float *ap = fwd_in(v, 0), *bp = fwd_in(v, 1);
    float* da = want_a ? grad_in(v, 0) : nullptr;
    float* db = want_b ? grad_in(v, 1) : nullptr;
    const std::vector<int64_t> cst = strides_of(cb);
    for (int64_t t = 0; t < batches; ++t) {
      int64_t ia = 0, ib = 0;
      for (size_t d = 0; d < cb.size(); ++d) {
        const int64_t idx = (t / cst[d]) % cb[d];
        ia += idx * as[d];
        ib += idx * bs[d];
      }
      const float* dyt = dy + t * m * n;
      if (da) gemm_add(false, true, m, k, n, 1.0f, dyt, n, bp + ib * k * n, n, da + ia * m * k, k);
      if (db) gemm_add(true, false, k, n, m, 1.0f, ap + ia * m * k, k, dyt, n, db + ib * k * n, n);
    }
  });
}

}  // namespace netlens::cpu::nn
