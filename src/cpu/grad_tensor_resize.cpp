// Reverse mode of Resize/Upsample and Einsum on the CPU (helpers in grad_tensor.hpp).
//
// Resize: the forward is one weighted 1-D gather per resized axis (tensor_resize.cpp), with the
// source indices and weights of tensor_resize.hpp's axis_map. The gradient applies the adjoint of
// each pass, grad_src[o, idx[x,t], j] += w[x,t] · grad_dst[o, x, j], from the very same AxisMaps, so
// every mode (nearest with each rounding, linear, cubic with exclude_outside) and every coordinate
// transform the forward supports is covered by construction; outputs outside a tf_crop_and_resize
// ROI are the constant extrapolation_value and give nothing. roi and scales get no gradient
// (fixed hyperparameters, as in PyTorch).
//
// Einsum: dS/d(operand k) at an element = Σ over every other label value of
// grad_out · Π_{j≠k} operand_j, i.e. the einsum of the output gradient with the other operands
// onto operand k's labels. Where that is itself a valid Einsum (no repeated or broadcast label in
// operand k, none of its labels summed out of it alone), the forward Einsum kernel computes it;
// otherwise a direct contraction over the forward's label strides (tensor_einsum.hpp), where a
// repeated label (diagonal) or a broadcast size-1 dim of operand k accumulates correctly because
// its strides are the forward's.
#include <algorithm>
#include <memory>

#include "netlens/cpu/grad_tensor.hpp"
#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_einsum.hpp"
#include "tensor_resize.hpp"
#include "tensor_util.hpp"

namespace netlens::cpu::grad {

namespace {

using tensor::AxisMap;

// dst[o, i, j] += Σ_{x,t: idx[x,t] = i} w[x,t] · src[o, x, j]; dst is [outer, a.in, inner], src
// [outer, a.out, inner]. Parallel over (o, block of j): every task writes its own elements.
void adjoint_pass(const float* src, float* dst, int64_t outer, int64_t inner, const AxisMap& a) {
  const int64_t n = a.in, m = a.out, taps = a.taps;
  constexpr int64_t B = 256;
  const int64_t jblocks = (inner + B - 1) / B;
#pragma omp parallel for if (outer * m * inner * taps >= (1 << 16))
  for (int64_t task = 0; task < outer * jblocks; ++task) {
    const int64_t o = task / jblocks, j0 = (task % jblocks) * B, j1 = std::min(inner, j0 + B);
    for (int64_t x = 0; x < m; ++x) {
      if (a.outside[static_cast<size_t>(x)]) continue;
      const float* s = src + (o * m + x) * inner;
      for (int64_t t = 0; t < taps; ++t) {
        const float w = a.w[static_cast<size_t>(x * taps + t)];
        if (w == 0.f) continue;
        float* d = dst + (o * n + a.idx[static_cast<size_t>(x * taps + t)]) * inner;
        for (int64_t j = j0; j < j1; ++j) d[j] += w * s[j];
      }
    }
  }
}

std::unique_ptr<GradKernel> plan_resize(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const auto p = tensor_params::resize_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  std::vector<AxisMap> maps;
  for (size_t d = 0; d < in.size(); ++d) maps.push_back(tensor::axis_map(p, d, in[d], p.out[d]));
  // Adjoint passes go from the output shape back to the input's; the most shrinking first (the
  // axes the forward enlarged most), so later passes touch fewer elements.
  std::vector<size_t> order;
  for (size_t d = 0; d < in.size(); ++d)
    if (!maps[d].identity) order.push_back(d);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return static_cast<double>(maps[a].in) / std::max<int64_t>(1, maps[a].out) <
           static_cast<double>(maps[b].in) / std::max<int64_t>(1, maps[b].out);
  });
  const Shape out = p.out;
  return make_grad_kernel([=](const GradViews& v) {
    float* dx = static_cast<float*>(v.grad_inputs[0].data);
    const float* g = static_cast<const float*>(v.grad_outputs[0].data);
    if (!dx || !g || numel(in) == 0 || numel(out) == 0) return;
    if (order.empty()) {
      add_into(dx, g, numel(out));
      return;
    }
    Shape cur = out;
    std::vector<float> bufs[2];
    const float* src = g;
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t d = order[k];
      Shape next = cur;
      next[d] = maps[d].in;
      float* dst;
      if (k + 1 == order.size()) {
        dst = dx;  // the adjoint pass adds, as the contract asks of the input gradient
      } else {
        bufs[k % 2].assign(static_cast<size_t>(numel(next)), 0.f);
        dst = bufs[k % 2].data();
      }
      int64_t outer = 1, inner = 1;
      for (size_t a = 0; a < d; ++a) outer *= cur[a];
      for (size_t a = d + 1; a < cur.size(); ++a) inner *= cur[a];
      adjoint_pass(src, dst, outer, inner, maps[d]);
      src = dst;
      cur = next;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// dS/d(operand k) as a forward Einsum "<output>,<others>-><operand k>" run by the forward kernel
// (its matrix-product path for two-operand equations), when that equation exists: operand k has no
// repeated label, broadcasts along none of its dims, and every label of it appears in the output
// or another operand. nullptr otherwise (then the direct contraction below).
std::unique_ptr<Kernel> forward_einsum_for(const NodeContext& ctx, const tensor_params::EinsumSpec& s, size_t k,
                                           std::shared_ptr<Node>& node_out) {
  const Shape& kshape = ctx.inputs[k].shape;
  std::vector<int> seen_elsewhere(s.size.size(), 0);
  for (int l : s.output) seen_elsewhere[static_cast<size_t>(l)] = 1;
  for (size_t j = 0; j < s.inputs.size(); ++j)
    if (j != k)
      for (int l : s.inputs[j]) seen_elsewhere[static_cast<size_t>(l)] = 1;
  std::vector<int> in_k(s.size.size(), 0);
  for (size_t d = 0; d < s.inputs[k].size(); ++d) {
    const size_t l = static_cast<size_t>(s.inputs[k][d]);
    if (in_k[l]++ || !seen_elsewhere[l] || kshape[d] != s.size[l]) return nullptr;
  }
  // Letters for the labels (ellipsis dims included), in order of first use.
  std::vector<char> letter(s.size.size(), 0);
  int next = 0;
  auto name = [&](int l) -> char {
    char& c = letter[static_cast<size_t>(l)];
    if (!c) {
      c = next < 26 ? static_cast<char>('a' + next) : static_cast<char>('A' + (next - 26));
      ++next;
    }
    return c;
  };
  std::string eq;
  for (int l : s.output) eq += name(l);
  std::vector<TensorInfo> ins{TensorInfo{DType::Float32, s.out}};
  for (size_t j = 0; j < s.inputs.size(); ++j) {
    if (j == k) continue;
    eq += ',';
    for (int l : s.inputs[j]) eq += name(l);
    ins.push_back(TensorInfo{DType::Float32, ctx.inputs[j].shape});
  }
  eq += "->";
  for (int l : s.inputs[k]) eq += name(l);
  if (next > 52) return nullptr;
  node_out = std::make_shared<Node>(ctx.node);
  node_out->attrs = {{"equation", eq}};
  node_out->inputs.assign(ins.size(), "x");
  node_out->outputs = {"y"};
  CpuOpTable table;
  tensor::register_einsum_ops(table);
  NodeContext sub{*node_out, ctx.opset, ins, {TensorInfo{DType::Float32, kshape}},
                  std::vector<const Tensor*>(ins.size(), nullptr)};
  return table.at("Einsum").plan(sub);
}

std::unique_ptr<GradKernel> plan_einsum(const NodeContext& ctx, const std::vector<bool>& need) {
  std::vector<Shape> shapes;
  for (const auto& t : ctx.inputs) shapes.push_back(t.shape);
  const tensor_params::EinsumSpec s = tensor_params::einsum_spec(ctx.node, shapes);
  const size_t nl = s.size.size(), nops = shapes.size();
  // Strides per label: row 0 the output gradient, row 1 + j operand j.
  std::vector<std::vector<int64_t>> st(nops + 1, std::vector<int64_t>(nl, 0));
  {
    const std::vector<int64_t> os = strides_of(s.out);
    for (size_t d = 0; d < s.output.size(); ++d) st[0][static_cast<size_t>(s.output[d])] = os[d];
  }
  for (size_t j = 0; j < nops; ++j) st[j + 1] = tensor::label_strides(s, j, shapes[j]);
  std::vector<bool> used(nl, false);
  for (const auto& labels : s.inputs)
    for (int l : labels) used[static_cast<size_t>(l)] = true;
  for (int l : s.output) used[static_cast<size_t>(l)] = true;

  struct Plan {
    std::vector<int64_t> own_size, rest_size;
    std::vector<std::vector<int64_t>> own_st, rest_st;  // [label][row] strides
  };
  std::vector<Plan> plans(nops);
  // Operands whose gradient the forward kernel computes (shared: the kernel is called from a
  // copyable closure), and the nodes their contexts refer to.
  std::vector<std::shared_ptr<Kernel>> via_forward(nops);
  std::vector<std::shared_ptr<Node>> nodes(nops);
  for (size_t k = 0; k < nops; ++k) {
    if (k >= need.size() || !need[k]) continue;
    if (numel(shapes[k]) > 0) via_forward[k] = forward_einsum_for(ctx, s, k, nodes[k]);
    if (via_forward[k]) continue;
    for (size_t l = 0; l < nl; ++l) {
      if (!used[l] || s.size[l] <= 1) continue;
      std::vector<int64_t> row;
      for (size_t r = 0; r <= nops; ++r) row.push_back(st[r][l]);
      // Labels that address distinct elements of operand k are the parallel outer loop; the
      // rest (labels it lacks, or broadcasts along) are summed.
      if (st[k + 1][l] != 0) {
        plans[k].own_size.push_back(s.size[l]);
        plans[k].own_st.push_back(row);
      } else {
        plans[k].rest_size.push_back(s.size[l]);
        plans[k].rest_st.push_back(row);
      }
    }
  }
  const bool empty = std::any_of(s.size.begin(), s.size.end(), [](int64_t v) { return v == 0; }) && numel(s.out) == 0;
  return make_grad_kernel([=](const GradViews& v) {
    const float* g = static_cast<const float*>(v.grad_outputs[0].data);
    if (!g || empty) return;
    for (size_t k = 0; k < nops; ++k) {
      float* d = k < v.grad_inputs.size() ? static_cast<float*>(v.grad_inputs[k].data) : nullptr;
      if (!d) continue;
      if (via_forward[k]) {
        std::vector<TensorView> ins{v.grad_outputs[0]};
        for (size_t j = 0; j < nops; ++j)
          if (j != k) ins.push_back(v.inputs[j]);
        std::vector<float> tmp(static_cast<size_t>(v.grad_inputs[k].numel()));
        const TensorView out{DType::Float32, v.grad_inputs[k].shape, tmp.data()};
        via_forward[k]->run(ins, std::span<const TensorView>(&out, 1));
        add_into(d, tmp.data(), v.grad_inputs[k].numel());
        continue;
      }
      const Plan& pl = plans[k];
      const int64_t n_own = numel(pl.own_size), n_rest = numel(pl.rest_size);
      const int64_t ro = static_cast<int64_t>(pl.own_size.size()), rr = static_cast<int64_t>(pl.rest_size.size());
      std::vector<const float*> ops(nops);
      for (size_t j = 0; j < nops; ++j) ops[j] = static_cast<const float*>(v.inputs[j].data);
#pragma omp parallel for if (n_own * n_rest >= (1 << 15))
      for (int64_t e = 0; e < n_own; ++e) {
        std::vector<int64_t> off(nops + 1, 0), idx(static_cast<size_t>(rr), 0);
        int64_t rem = e;
        for (int64_t a = ro - 1; a >= 0; --a) {
          const size_t ua = static_cast<size_t>(a);
          const int64_t c = rem % pl.own_size[ua];
          rem /= pl.own_size[ua];
          for (size_t r = 0; r <= nops; ++r) off[r] += c * pl.own_st[ua][r];
        }
        double acc = 0;
        for (int64_t t = 0; t < n_rest; ++t) {
          double prod = g[off[0]];
          for (size_t j = 0; j < nops; ++j)
            if (j != k) prod *= ops[j][off[j + 1]];
          acc += prod;
          for (int64_t a = rr - 1; a >= 0; --a) {
            const size_t ua = static_cast<size_t>(a);
            for (size_t r = 0; r <= nops; ++r) off[r] += pl.rest_st[ua][r];
            if (++idx[ua] < pl.rest_size[ua]) break;
            for (size_t r = 0; r <= nops; ++r) off[r] -= pl.rest_st[ua][r] * pl.rest_size[ua];
            idx[ua] = 0;
          }
        }
        d[off[k + 1]] += static_cast<float>(acc);
      }
    }
  });
}

}  // namespace

void register_tensor_resize_grads(CpuGradTable& t) {
  t["Resize"] = CpuGrad{nullptr, plan_resize};
  t["Upsample"] = CpuGrad{nullptr, plan_resize};
  t["Einsum"] = CpuGrad{nullptr, plan_einsum};
}

}  // namespace netlens::cpu::grad
