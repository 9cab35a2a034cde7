// Reverse mode of the CPU tensor ops that select by index or value (helpers in grad_tensor.hpp):
// Gather, GatherElements, GatherND (scatter-add of the output gradient: duplicate indices
// accumulate), ScatterElements/Scatter/ScatterND (every reduction), Compress, ReverseSequence,
// Trilu, TopK, CumSum, OneHot, EyeLike.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "netlens/cpu/grad_tensor.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "tensor_util.hpp"

namespace netlens::cpu::grad {

namespace {

using tensor::read_ints;

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}
float* gin(const GradViews& v, size_t i) {
  return i < v.grad_inputs.size() ? static_cast<float*>(v.grad_inputs[i].data) : nullptr;
}
const float* gout(const GradViews& v, size_t k) {
  return k < v.grad_outputs.size() ? static_cast<const float*>(v.grad_outputs[k].data) : nullptr;
}
const float* fin(const GradViews& v, size_t i) { return static_cast<const float*>(v.inputs[i].data); }

std::unique_ptr<GradKernel> plan_gather(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(in.size()), ctx.node.describe());
  const int64_t outer = prod(in, 0, static_cast<size_t>(axis)), dim = in[static_cast<size_t>(axis)];
  const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size());
  const std::string desc = ctx.node.describe();
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    std::vector<int64_t> idx = read_ints(v.inputs[1]);
    normalise_indices(idx, dim, desc);
    const int64_t n = static_cast<int64_t>(idx.size());
    // Parallel over the outer index only: one index may repeat within a row of indices.
#pragma omp parallel for if (outer > 1 && outer * n * inner >= (1 << 16))
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t j = 0; j < n; ++j) {
        float* drow = d + (a * dim + idx[static_cast<size_t>(j)]) * inner;
        const float* grow = g + (a * n + j) * inner;
        for (int64_t e = 0; e < inner; ++e) drow[e] += grow[e];
      }
  });
}

// Offsets into data (shape ds) of every element of an index tensor (shape is) along `axis`
// (GatherElements / ScatterElements addressing).
std::vector<int64_t> element_targets(const std::vector<int64_t>& idx, const Shape& ds, const Shape& is, int64_t axis) {
  const int64_t r = static_cast<int64_t>(ds.size());
  const std::vector<int64_t> st = strides_of(ds);
  std::vector<int64_t> target(idx.size());
  for (size_t e = 0; e < idx.size(); ++e) {
    int64_t rem = static_cast<int64_t>(e), off = 0;
    for (int64_t a = r - 1; a >= 0; --a) {
      const int64_t c = rem % is[static_cast<size_t>(a)];
      rem /= is[static_cast<size_t>(a)];
      off += (a == axis ? idx[e] : c) * st[static_cast<size_t>(a)];
    }
    target[e] = off;
  }
  return target;
}

std::unique_ptr<GradKernel> plan_gather_elements(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape ds = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(ds.size()), ctx.node.describe());
  const std::string desc = ctx.node.describe();
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    std::vector<int64_t> idx = read_ints(v.inputs[1]);
    normalise_indices(idx, ds[static_cast<size_t>(axis)], desc);
    const std::vector<int64_t> target = element_targets(idx, ds, is, axis);
    for (size_t e = 0; e < target.size(); ++e) d[target[e]] += g[e];
  });
}

// Element offsets of the slices GatherND/ScatterND address: batch b, index tuple t → offset in data.
std::vector<int64_t> nd_offsets(const std::vector<int64_t>& idx, const Shape& ds, int64_t b, int64_t k, int64_t tuples,
                                const std::string& desc) {
  const int64_t batch = prod(ds, 0, static_cast<size_t>(b)), batch_stride = prod(ds, static_cast<size_t>(b), ds.size());
  const std::vector<int64_t> st = strides_of(ds);
  std::vector<int64_t> offs(static_cast<size_t>(batch * tuples));
  for (int64_t bt = 0; bt < batch; ++bt)
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = bt * batch_stride;
      for (int64_t j = 0; j < k; ++j) {
        int64_t v = idx[static_cast<size_t>((bt * tuples + t) * k + j)];
        const int64_t dim = ds[static_cast<size_t>(b + j)];
        if (v < -dim || v >= dim)
          throw Error(ErrorKind::Input, desc + ": index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
        if (v < 0) v += dim;
        off += v * st[static_cast<size_t>(b + j)];
      }
      offs[static_cast<size_t>(bt * tuples + t)] = off;
    }
  return offs;
}

std::unique_ptr<GradKernel> plan_gather_nd(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape ds = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t b = ctx.node.attr_int("batch_dims", 0), k = is.back();
  const int64_t tuples = prod(is, static_cast<size_t>(b), is.size() - 1);
  const int64_t slice = prod(ds, static_cast<size_t>(b + k), ds.size());
  const std::string desc = ctx.node.describe();
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    const std::vector<int64_t> offs = nd_offsets(read_ints(v.inputs[1]), ds, b, k, tuples, desc);
    for (size_t u = 0; u < offs.size(); ++u)
      for (int64_t e = 0; e < slice; ++e) d[offs[u] + e] += g[static_cast<int64_t>(u) * slice + e];
  });
}

// Scatter with a reduction, as element pairs: update e (of `n_upd`, each `slice` elements long)
// lands on data offset target[e]. Gradients of data (input 0) and updates (input `ui`), written
// element by element in the forward's order:
//   none: the last update written to an element wins; earlier ones and the data element get 0.
//   add:  data and every update get the output gradient.
//   mul:  out = data·Πu; each factor gets g · (product of the other factors).
//   max/min: the factors equal to the result share g equally (as PyTorch's scatter_reduce amax).
void scatter_backward(const GradViews& v, size_t ui, const std::vector<int64_t>& target, int64_t slice,
                      const std::string& red) {
  const float* g = gout(v, 0);
  float* dd = gin(v, 0);
  float* du = gin(v, ui);
  if (!g || (!dd && !du)) return;
  const float* x = fin(v, 0);
  const float* u = fin(v, ui);
  const float* y = static_cast<const float*>(v.outputs[0].data);
  // (data offset, update element) pairs grouped by offset, each group in the forward's order.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(target.size() * static_cast<size_t>(slice));
  for (size_t e = 0; e < target.size(); ++e)
    for (int64_t s = 0; s < slice; ++s) pairs.emplace_back(target[e] + s, static_cast<int64_t>(e) * slice + s);
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
  std::vector<uint8_t> touched(dd ? static_cast<size_t>(v.grad_outputs[0].numel()) : 0, 0);
  std::vector<int64_t> ups;
  for (size_t i = 0; i < pairs.size();) {
    const int64_t p = pairs[i].first;
    ups.clear();
    for (; i < pairs.size() && pairs[i].first == p; ++i) ups.push_back(pairs[i].second);
    if (dd) touched[static_cast<size_t>(p)] = 1;
    const float gp = g[p];
    if (red == "none") {
      if (du) du[ups.back()] += gp;
    } else if (red == "add") {
      if (dd) dd[p] += gp;
      if (du)
        for (int64_t q : ups) du[q] += gp;
    } else if (red == "mul") {
      // Products of every factor but one, without dividing (a factor may be 0).
      std::vector<double> f{x[p]};
      for (int64_t q : ups) f.push_back(u[q]);
      std::vector<double> pre(f.size() + 1, 1.0), suf(f.size() + 1, 1.0);
      for (size_t j = 0; j < f.size(); ++j) pre[j + 1] = pre[j] * f[j];
      for (size_t j = f.size(); j-- > 0;) suf[j] = suf[j + 1] * f[j];
      if (dd) dd[p] += static_cast<float>(gp * suf[1]);
      if (du)
        for (size_t j = 0; j < ups.size(); ++j) du[ups[j]] += static_cast<float>(gp * pre[j + 1] * suf[j + 2]);
    } else {  // max, min
      int count = x[p] == y[p] ? 1 : 0;
      for (int64_t q : ups) count += u[q] == y[p];
      const float share = count ? gp / static_cast<float>(count) : 0.f;
      if (dd && x[p] == y[p]) dd[p] += share;
      if (du)
        for (int64_t q : ups)
          if (u[q] == y[p]) du[q] += share;
    }
  }
  if (dd)
    for (size_t p = 0; p < touched.size(); ++p)
      if (!touched[p]) dd[p] += g[p];
}

std::unique_ptr<GradKernel> plan_scatter_elements(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape ds = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(ds.size()), ctx.node.describe());
  const std::string red = ctx.node.attr_string("reduction", "none"), desc = ctx.node.describe();
  return make_grad_kernel([=](const GradViews& v) {
    std::vector<int64_t> idx = read_ints(v.inputs[1]);
    normalise_indices(idx, ds[static_cast<size_t>(axis)], desc);
    scatter_backward(v, 2, element_targets(idx, ds, is, axis), 1, red);
  });
}

std::unique_ptr<GradKernel> plan_scatter_nd(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape ds = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t k = is.back();
  const int64_t tuples = prod(is, 0, is.size() - 1);
  const int64_t slice = prod(ds, static_cast<size_t>(k), ds.size());
  const std::string red = ctx.node.attr_string("reduction", "none"), desc = ctx.node.describe();
  return make_grad_kernel([=](const GradViews& v) {
    scatter_backward(v, 2, nd_offsets(read_ints(v.inputs[1]), ds, 0, k, tuples, desc), slice, red);
  });
}

std::unique_ptr<GradKernel> plan_compress(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape xs = ctx.inputs[0].shape;
  const bool has_axis = ctx.node.has_attr("axis");
  const int64_t axis = has_axis ? normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(xs.size()), ctx.node.describe()) : 0;
  const int64_t outer = has_axis ? prod(xs, 0, static_cast<size_t>(axis)) : 1;
  const int64_t dim = has_axis ? xs[static_cast<size_t>(axis)] : numel(xs);
  const int64_t inner = has_axis ? prod(xs, static_cast<size_t>(axis) + 1, xs.size()) : 1;
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    const std::vector<int64_t> cond = read_ints(v.inputs[1]);
    int64_t kept = 0;
    for (int64_t c : cond) kept += c != 0;
    for (int64_t o = 0; o < outer; ++o) {
      int64_t w = 0;
      for (int64_t j = 0; j < std::min<int64_t>(dim, static_cast<int64_t>(cond.size())); ++j) {
        if (!cond[static_cast<size_t>(j)]) continue;
        const float* src = g + (o * kept + w++) * inner;
        float* dst = d + (o * dim + j) * inner;
        for (int64_t e = 0; e < inner; ++e) dst[e] += src[e];
      }
    }
  });
}

std::unique_ptr<GradKernel> plan_reverse_sequence(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape xs = ctx.inputs[0].shape;
  const int64_t ta = normalize_axis(ctx.node.attr_int("time_axis", 0), static_cast<int64_t>(xs.size()), ctx.node.describe());
  const int64_t T = xs[static_cast<size_t>(ta)], B = xs[static_cast<size_t>(1 - ta)];
  const int64_t inner = prod(xs, 2, xs.size());
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    const std::vector<int64_t> lens = read_ints(v.inputs[1]);
    auto at = [&](int64_t t, int64_t b) { return (ta == 0 ? t * B + b : b * T + t) * inner; };
    for (int64_t b = 0; b < B; ++b) {
      const int64_t L = std::clamp<int64_t>(lens[static_cast<size_t>(b)], 0, T);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t src_t = t < L ? L - 1 - t : t;  // output t read input src_t
        const float* gs = g + at(t, b);
        float* ds = d + at(src_t, b);
        for (int64_t e = 0; e < inner; ++e) ds[e] += gs[e];
      }
    }
  });
}

std::unique_ptr<GradKernel> plan_trilu(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  const int64_t M = in[in.size() - 2], N = in[in.size() - 1];
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    const int64_t k_raw = v.inputs.size() > 1 && v.inputs[1].data && v.inputs[1].numel() > 0 ? read_ints(v.inputs[1])[0] : 0;
    const int64_t k = std::clamp<int64_t>(k_raw, -(M + N + 1), M + N + 1);
    const int64_t batch = M * N != 0 ? v.grad_outputs[0].numel() / (M * N) : 0;
#pragma omp parallel for if (batch * M * N >= (1 << 16))
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t r = 0; r < M; ++r)
        for (int64_t j = 0; j < N; ++j) {
          const bool kept = upper ? j - r >= k : j - r <= k;  // the forward keeps these, zeroes the rest
          const int64_t e = (b * M + r) * N + j;
          if (kept) d[e] += g[e];
        }
  });
}

// TopK: the values' gradient goes to the selected positions, read from the indices output; when the
// model omits that output, the forward TopK kernel runs again with one to recover them (same ties).
std::unique_ptr<GradKernel> plan_top_k(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(in.size()), ctx.node.describe());
  const int64_t k = ctx.outputs[0].shape[static_cast<size_t>(axis)];
  const int64_t outer = prod(in, 0, static_cast<size_t>(axis)), dim = in[static_cast<size_t>(axis)];
  const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size());
  const std::string desc = ctx.node.describe();
  std::shared_ptr<Kernel> rerun;
  std::shared_ptr<Node> node;
  if (ctx.node.outputs.size() < 2 || ctx.node.outputs[1].empty()) {
    node = std::make_shared<Node>(ctx.node);
    node->outputs = {"values", "indices"};
    CpuOpTable table;
    register_tensor_ops(table);
    NodeContext sub{*node, ctx.opset, ctx.inputs, {ctx.outputs[0], TensorInfo{DType::Int64, ctx.outputs[0].shape}}, ctx.const_inputs};
    rerun = table.at("TopK").plan(sub);
  }
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    std::vector<int64_t> ind;
    if (rerun) {
      std::vector<float> values(static_cast<size_t>(v.outputs[0].numel()));
      ind.resize(values.size());
      const TensorView outs[2] = {{DType::Float32, v.outputs[0].shape, values.data()},
                                  {DType::Int64, v.outputs[0].shape, ind.data()}};
      rerun->run(std::span<const TensorView>(v.inputs.data(), v.inputs.size()), outs);
      (void)node;  // the planned kernel's context referred to it
    } else {
      ind = read_ints(v.outputs[1]);
    }
    normalise_indices(ind, dim, desc);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t b = 0; b < inner; ++b) {
          const int64_t o = (a * k + j) * inner + b;
          d[(a * dim + ind[static_cast<size_t>(o)]) * inner + b] += g[o];
        }
  });
}

// CumSum's adjoint is the cumulative sum in the other direction, with the same exclusivity.
std::unique_ptr<GradKernel> plan_cumsum(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const bool exclusive = ctx.node.attr_int("exclusive", 0) != 0, reverse = ctx.node.attr_int("reverse", 0) != 0;
  const std::string desc = ctx.node.describe();
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    if (v.inputs[1].numel() != 1) throw Error(ErrorKind::Model, desc + ": axis must be a single value");
    const int64_t axis = normalize_axis(read_ints(v.inputs[1])[0], static_cast<int64_t>(in.size()), desc);
    const int64_t outer = prod(in, 0, static_cast<size_t>(axis)), dim = in[static_cast<size_t>(axis)];
    const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size());
#pragma omp parallel for if (outer * inner * dim >= (1 << 16))
    for (int64_t ab = 0; ab < outer * inner; ++ab) {
      const int64_t a = ab / inner, b = ab % inner;
      double acc = 0;
      for (int64_t t = 0; t < dim; ++t) {
        const int64_t j = reverse ? t : dim - 1 - t;  // walk opposite to the forward
        const int64_t off = (a * dim + j) * inner + b;
        if (exclusive) {
          d[off] += static_cast<float>(acc);
          acc += g[off];
        } else {
          acc += g[off];
          d[off] += static_cast<float>(acc);
        }
      }
    }
  });
}

// OneHot's values input [off, on]: `on` gets the gradient of the hot cells, `off` of the rest.
std::unique_ptr<GradKernel> plan_one_hot(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape out = ctx.outputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(out.size()), ctx.node.describe());
  const int64_t depth = out[static_cast<size_t>(axis)];
  const int64_t outer = prod(out, 0, static_cast<size_t>(axis)), inner = prod(out, static_cast<size_t>(axis) + 1, out.size());
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 2);
    const float* g = gout(v, 0);
    if (!d || !g) return;
    const Tensor iv = Tensor::view(v.inputs[0].dtype, v.inputs[0].shape, v.inputs[0].data);
    double total = 0, hot = 0;
    for (int64_t e = 0; e < v.grad_outputs[0].numel(); ++e) total += g[e];
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        int64_t x = iv.get_i64(a * inner + b);  // as the forward: float indices truncate
        if (x < 0) x += depth;
        if (x >= 0 && x < depth) hot += g[(a * depth + x) * inner + b];
      }
    d[0] += static_cast<float>(total - hot);
    d[1] += static_cast<float>(hot);
  });
}

}  // namespace

void register_tensor_index_grads(CpuGradTable& t) {
  t["Gather"] = CpuGrad{nullptr, plan_gather};
  t["GatherElements"] = CpuGrad{nullptr, plan_gather_elements};
  t["GatherND"] = CpuGrad{nullptr, plan_gather_nd};
  t["ScatterElements"] = CpuGrad{nullptr, plan_scatter_elements};
  t["Scatter"] = CpuGrad{nullptr, plan_scatter_elements};
  t["ScatterND"] = CpuGrad{nullptr, plan_scatter_nd};
  t["Compress"] = CpuGrad{nullptr, plan_compress};
  t["ReverseSequence"] = CpuGrad{nullptr, plan_reverse_sequence};
  t["Trilu"] = CpuGrad{nullptr, plan_trilu};
  t["TopK"] = CpuGrad{nullptr, plan_top_k};
  t["CumSum"] = CpuGrad{nullptr, plan_cumsum};
  t["OneHot"] = CpuGrad{nullptr, plan_one_hot};
  // EyeLike's output depends only on its input's shape: nothing flows back.
  t["EyeLike"] = CpuGrad{nullptr, [](const NodeContext&, const std::vector<bool>&) {
                           return make_grad_kernel([](const GradViews&) {});
                         }};
}

}  // namespace netlens::cpu::grad
