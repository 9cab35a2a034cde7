// Einsum on the CPU, in float32 (the backend converts float16/float64 around the kernel).
//
// Two paths. When there are two operands and every label is either batch (both inputs and the
// output), M (first input and output), N (second input and output) or K (both inputs, summed), the
// operands are packed into [batch, M, K] and [batch, K, N] with strided copies (a repeated label
// is a diagonal: its strides add up; a size-1 dim broadcasts with stride 0), multiplied, and the
// [batch, M, N] result is permuted into the output order. Everything else (one operand, traces,
// labels summed out of a single operand, three or more operands) takes the direct loop over
// output × contracted indices, accumulating in double.
#include <algorithm>
#include <optional>

#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_einsum.hpp"
#include "tensor_util.hpp"
#include "stream_store.hpp"

namespace netlens::cpu::tensor {

std::vector<int64_t> label_strides(const tensor_params::EinsumSpec& s, size_t k, const Shape& shape) {
  std::vector<int64_t> st(s.size.size(), 0);
  const std::vector<int64_t> ds = strides_of(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    const size_t l = static_cast<size_t>(s.inputs[k][d]);
    if (shape[d] != 1 || s.size[l] == 1) st[l] += ds[d];
  }
  return st;
}

namespace {

using Views = std::span<const TensorView>;

std::unique_ptr<Kernel> plan_einsum(const NodeContext& ctx) {
  std::vector<Shape> shapes;
  for (const auto& t : ctx.inputs) shapes.push_back(t.shape);
  const tensor_params::EinsumSpec s = tensor_params::einsum_spec(ctx.node, shapes);
  const size_t nl = s.size.size(), nops = shapes.size();
  std::vector<std::vector<int64_t>> st;
  for (size_t k = 0; k < nops; ++k) st.push_back(label_strides(s, k, shapes[k]));
  std::vector<std::vector<bool>> used(nops, std::vector<bool>(nl, false));
  for (size_t k = 0; k < nops; ++k)
    for (int l : s.inputs[k]) used[k][static_cast<size_t>(l)] = true;
  std::vector<bool> in_out(nl, false);
  for (int l : s.output) in_out[static_cast<size_t>(l)] = true;
  std::vector<int> contracted;
  for (size_t l = 0; l < nl; ++l) {
    bool any = false;
    for (size_t k = 0; k < nops; ++k) any = any || used[k][l];
    if (any && !in_out[l]) contracted.push_back(static_cast<int>(l));
  }
  const Shape out_shape = s.out;

  // Fast path classification.
  std::vector<int> batch, M, N, K;
  bool fast = nops == 2;
  if (fast) {
    for (size_t l = 0; l < nl; ++l) {
      const bool a = used[0][l], b = used[1][l], o = in_out[l];
      if (!a && !b) continue;
      if (a && b && o) batch.push_back(static_cast<int>(l));
      else if (a && !b && o) M.push_back(static_cast<int>(l));
      else if (b && !a && o) N.push_back(static_cast<int>(l));
      else if (a && b && !o) K.push_back(static_cast<int>(l));
      else fast = false;  // a label summed out of one operand only
    }
  }
  if (fast) {
    auto sizes_of = [&](const std::vector<int>& ls) {
      int64_t p = 1;
      for (int l : ls) p *= s.size[static_cast<size_t>(l)];
      return p;
    };
    const int64_t Bt = sizes_of(batch), Mm = sizes_of(M), Nn = sizes_of(N), Kk = sizes_of(K);
    Shape a_shape, b_shape;
    std::vector<int64_t> a_st, b_st;
    for (const auto* group : {&batch, &M, &K}) for (int l : *group) {
      a_shape.push_back(s.size[static_cast<size_t>(l)]);
      a_st.push_back(st[0][static_cast<size_t>(l)]);
    }
    for (const auto* group : {&batch, &K, &N}) for (int l : *group) {
      b_shape.push_back(s.size[static_cast<size_t>(l)]);
      b_st.push_back(st[1][static_cast<size_t>(l)]);
    }
    // Strides of each output label inside the [batch, M, N] product.
    std::vector<int64_t> c_label_st(nl, 0);
    {
      int64_t run = 1;
      std::vector<int> c_order;
      for (const auto* group : {&batch, &M, &N}) c_order.insert(c_order.end(), group->begin(), group->end());
      for (auto it = c_order.rbegin(); it != c_order.rend(); ++it) {
        c_label_st[static_cast<size_t>(*it)] = run;
        run *= s.size[static_cast<size_t>(*it)];
      }
    }
    std::vector<int64_t> out_st;
    for (int l : s.output) out_st.push_back(c_label_st[static_cast<size_t>(l)]);
    return make_kernel([=](Views in, Views out) {
      if (out[0].numel() == 0) return;
      std::vector<float> A(static_cast<size_t>(Bt * Mm * Kk)), B(static_cast<size_t>(Bt * Kk * Nn)),
          C(static_cast<size_t>(Bt * Mm * Nn), 0.f);
      {
        const StagingScope staging;  // operand copies, read at once below (stream_store.hpp)
        if (!A.empty()) strided_copy(A.data(), in[0].data, a_shape, a_st, 4);
        if (!B.empty()) strided_copy(B.data(), in[1].data, b_shape, b_st, 4);
      }
#pragma omp parallel for if (Bt * Mm * Nn * Kk >= 65536)
      for (int64_t bi = 0; bi < Bt * Mm; ++bi) {
        const int64_t b = bi / Mm;
        const float* a = A.data() + bi * Kk;
        const float* bb = B.data() + b * Kk * Nn;
        float* c = C.data() + bi * Nn;
        for (int64_t k = 0; k < Kk; ++k) {
          const float av = a[k];
          const float* brow = bb + k * Nn;
          for (int64_t j = 0; j < Nn; ++j) c[j] += av * brow[j];
        }
      }
      strided_copy(out[0].data, C.data(), out_shape, out_st, 4);
    });
  }

  // Direct loop.
  std::vector<int64_t> out_sizes, con_sizes;
  std::vector<std::vector<int64_t>> so(nops), sc(nops);
  for (int l : s.output) out_sizes.push_back(s.size[static_cast<size_t>(l)]);
  for (int l : contracted) con_sizes.push_back(s.size[static_cast<size_t>(l)]);
  for (size_t k = 0; k < nops; ++k) {
    for (int l : s.output) so[k].push_back(st[k][static_cast<size_t>(l)]);
    for (int l : contracted) sc[k].push_back(st[k][static_cast<size_t>(l)]);
  }
  const int64_t n_con = numel(con_sizes);
  return make_kernel([=](Views in, Views out) {
    float* d = static_cast<float*>(out[0].data);
    const int64_t n_out = out[0].numel();
    const int64_t ro = static_cast<int64_t>(out_sizes.size()), rc = static_cast<int64_t>(con_sizes.size());
#pragma omp parallel for if (n_out * n_con >= 65536)
    for (int64_t e = 0; e < n_out; ++e) {
      std::vector<int64_t> base(nops, 0), off(nops), idx(static_cast<size_t>(rc), 0);
      int64_t rem = e;
      for (int64_t a = ro - 1; a >= 0; --a) {
        const int64_t c = rem % out_sizes[static_cast<size_t>(a)];
        rem /= out_sizes[static_cast<size_t>(a)];
        for (size_t k = 0; k < nops; ++k) base[k] += c * so[k][static_cast<size_t>(a)];
      }
      off = base;
      double acc = 0;
      for (int64_t t = 0; t < n_con; ++t) {
        double p = 1;
        for (size_t k = 0; k < nops; ++k) p *= static_cast<const float*>(in[k].data)[off[k]];
        acc += p;
        for (int64_t a = rc - 1; a >= 0; --a) {
          const size_t ua = static_cast<size_t>(a);
          for (size_t k = 0; k < nops; ++k) off[k] += sc[k][ua];
          if (++idx[ua] < con_sizes[ua]) break;
          for (size_t k = 0; k < nops; ++k) off[k] -= sc[k][ua] * con_sizes[ua];
          idx[ua] = 0;
        }
      }
      d[e] = static_cast<float>(acc);
    }
  });
}

std::optional<std::string> check_einsum(const NodeContext& ctx) {
  for (const auto& t : ctx.inputs)
    if (t.dtype != DType::Float32) return "input dtype " + std::string(dtype_name(t.dtype)) + " not supported (float only)";
  return std::nullopt;
}

}  // namespace

void register_einsum_ops(CpuOpTable& t) { t["Einsum"] = CpuOp{check_einsum, plan_einsum, false}; }

}  // namespace netlens::cpu::tensor
