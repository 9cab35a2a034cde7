// More data-movement ops of the "tensor" family on the CPU, all dtype-generic: GatherND,
// ScatterElements/Scatter, EyeLike, ReverseSequence, Unique (constant input only) and Compress
// (constant condition only: both have value-dependent output shapes).
#include <algorithm>
#include <optional>

#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_util.hpp"

namespace netlens::cpu::tensor {

namespace {

using Views = std::span<const TensorView>;

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

[[noreturn]] void bad_index(const std::string& desc, int64_t v, int64_t dim) {
  throw Error(ErrorKind::Input, desc + ": index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
}

std::unique_ptr<Kernel> plan_gather_nd(const NodeContext& ctx) {
  const Shape ds = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t b = ctx.node.attr_int("batch_dims", 0);
  const int64_t k = is.back();
  const int64_t batch = prod(ds, 0, static_cast<size_t>(b));
  const int64_t tuples = prod(is, static_cast<size_t>(b), is.size() - 1);
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const int64_t slice = prod(ds, static_cast<size_t>(b + k), ds.size()) * static_cast<int64_t>(es);
  const int64_t batch_stride = prod(ds, static_cast<size_t>(b), ds.size());
  const std::vector<int64_t> st = strides_of(ds);
  const std::string desc = ctx.node.describe();
  return make_kernel([=](Views in, Views out) {
    const std::vector<int64_t> idx = read_ints(in[1]);
    const char* s = static_cast<const char*>(in[0].data);
    char* d = static_cast<char*>(out[0].data);
    for (int64_t bt = 0; bt < batch; ++bt)
      for (int64_t t = 0; t < tuples; ++t) {
        int64_t off = bt * batch_stride;
        for (int64_t j = 0; j < k; ++j) {
          int64_t v = idx[static_cast<size_t>((bt * tuples + t) * k + j)];
          const int64_t dim = ds[static_cast<size_t>(b + j)];
          if (v < -dim || v >= dim) bad_index(desc, v, dim);
          if (v < 0) v += dim;
          off += v * st[static_cast<size_t>(b + j)];
        }
        if (slice) std::memcpy(d + (bt * tuples + t) * slice, s + off * static_cast<int64_t>(es), static_cast<size_t>(slice));
      }
  });
}

std::optional<std::string> check_scatter_elements(const NodeContext& ctx) {
  const std::string red = ctx.node.attr_string("reduction", "none");
  if (red != "none" && red != "add" && red != "mul" && red != "max" && red != "min") return "reduction '" + red + "' not supported";
  if (red != "none" && ctx.inputs[0].dtype == DType::Bool) return "reduction on bool not supported";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_scatter_elements(const NodeContext& ctx) {
  const Shape ds = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t r = static_cast<int64_t>(ds.size());
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.node.describe());
  const std::string red = ctx.node.attr_string("reduction", "none");
  const std::vector<int64_t> st = strides_of(ds);
  const std::string desc = ctx.node.describe();
  return make_kernel([=](Views in, Views out) {
    parallel_memcpy(out[0].data, in[0].data, out[0].nbytes());
    const std::vector<int64_t> idx = read_ints(in[1]);
    const int64_t dim = ds[static_cast<size_t>(axis)];
    std::vector<int64_t> target(idx.size());
    for (size_t e = 0; e < idx.size(); ++e) {
      int64_t v = idx[e];
      if (v < -dim || v >= dim) bad_index(desc, v, dim);
      if (v < 0) v += dim;
      int64_t rem = static_cast<int64_t>(e), off = 0;
      for (int64_t a = r - 1; a >= 0; --a) {
        const int64_t c = rem % is[static_cast<size_t>(a)];
        rem /= is[static_cast<size_t>(a)];
        off += (a == axis ? v : c) * st[static_cast<size_t>(a)];
      }
      target[e] = off;
    }
    if (red == "none") {
      const size_t es = dtype_size(out[0].dtype);
      for (size_t e = 0; e < target.size(); ++e)
        std::memcpy(static_cast<char*>(out[0].data) + target[e] * static_cast<int64_t>(es),
                    static_cast<const char*>(in[2].data) + static_cast<int64_t>(e) * static_cast<int64_t>(es), es);
      return;
    }
    with_float32(in, out, [&](Views fi, Views fo) {
      with_native(fo[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        T* d = static_cast<T*>(fo[0].data);
        const T* u = static_cast<const T*>(fi[2].data);
        for (size_t e = 0; e < target.size(); ++e) {
          T& x = d[target[e]];
          if (red == "add") x = static_cast<T>(x + u[e]);
          else if (red == "mul") x = static_cast<T>(x * u[e]);
          else if (red == "max") x = std::max(x, u[e]);
          else x = std::min(x, u[e]);
        }
      });
    });
  });
}

std::unique_ptr<Kernel> plan_eye_like(const NodeContext& ctx) {
  const int64_t k = ctx.node.attr_int("k", 0);
  const DType dt = ctx.outputs[0].dtype;
  const Tensor one = Tensor::scalar_f32(1.f).cast(dt);
  return make_kernel([=](Views, Views out) {
    const int64_t rows = out[0].shape[0], cols = out[0].shape[1];
    const size_t es = dtype_size(dt);
    std::memset(out[0].data, 0, out[0].nbytes());
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t j = i + k;
      if (j >= 0 && j < cols) std::memcpy(static_cast<char*>(out[0].data) + (i * cols + j) * static_cast<int64_t>(es), one.data(), es);
    }
  });
}

std::unique_ptr<Kernel> plan_reverse_sequence(const NodeContext& ctx) {
  const Shape xs = ctx.inputs[0].shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  const int64_t ta = normalize_axis(ctx.node.attr_int("time_axis", 0), r, ctx.node.describe());
  const int64_t T = xs[static_cast<size_t>(ta)], B = xs[static_cast<size_t>(1 - ta)];
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const int64_t inner = prod(xs, 2, xs.size()) * static_cast<int64_t>(es);
  return make_kernel([=](Views in, Views out) {
    parallel_memcpy(out[0].data, in[0].data, out[0].nbytes());
    const std::vector<int64_t> lens = read_ints(in[1]);
    auto at = [&](int64_t t, int64_t b) { return (ta == 0 ? t * B + b : b * T + t) * inner; };
    for (int64_t b = 0; b < B; ++b) {
      const int64_t L = std::clamp<int64_t>(lens[static_cast<size_t>(b)], 0, T);
      for (int64_t t = 0; t < L; ++t)
        std::memcpy(static_cast<char*>(out[0].data) + at(t, b), static_cast<const char*>(in[0].data) + at(L - 1 - t, b),
                    static_cast<size_t>(inner));
    }
  });
}

std::optional<std::string> check_const0(const NodeContext& ctx) {
  if (!ctx.const_inputs.empty() && ctx.const_inputs[0]) return std::nullopt;
  return "Unique has data-dependent output shapes; only a constant input is supported";
}

std::unique_ptr<Kernel> plan_unique(const NodeContext& ctx) {
  if (ctx.const_inputs.empty() || !ctx.const_inputs[0]) throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": input must be constant");
  const auto u = std::make_shared<tensor_params::UniqueResult>(tensor_params::unique_values(ctx.node, *ctx.const_inputs[0]));
  return make_kernel([u](Views, Views out) {
    if (out.size() > 0 && out[0].data) std::memcpy(out[0].data, u->y.data(), u->y.nbytes());
    const std::vector<int64_t>* v[3] = {&u->indices, &u->inverse, &u->counts};
    for (size_t k = 1; k < out.size() && k < 4; ++k)
      if (out[k].data && !v[k - 1]->empty()) std::memcpy(out[k].data, v[k - 1]->data(), v[k - 1]->size() * 8);
  });
}

std::optional<std::string> check_compress(const NodeContext& ctx) {
  if (ctx.const_inputs.size() > 1 && ctx.const_inputs[1]) return std::nullopt;
  return "Compress has a data-dependent output shape; only a constant condition is supported";
}

std::unique_ptr<Kernel> plan_compress(const NodeContext& ctx) {
  const Shape xs = ctx.inputs[0].shape;
  const bool has_axis = ctx.node.has_attr("axis");
  const int64_t axis = has_axis ? normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(xs.size()), ctx.node.describe()) : 0;
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const int64_t outer = has_axis ? prod(xs, 0, static_cast<size_t>(axis)) : 1;
  const int64_t dim = has_axis ? xs[static_cast<size_t>(axis)] : numel(xs);
  const int64_t inner = (has_axis ? prod(xs, static_cast<size_t>(axis) + 1, xs.size()) : 1) * static_cast<int64_t>(es);
  return make_kernel([=](Views in, Views out) {
    const std::vector<int64_t> cond = read_ints(in[1]);
    const char* s = static_cast<const char*>(in[0].data);
    char* d = static_cast<char*>(out[0].data);
    int64_t kept = 0;
    for (int64_t v : cond) kept += v != 0;
    for (int64_t o = 0; o < outer; ++o) {
      int64_t w = 0;
      for (int64_t j = 0; j < std::min<int64_t>(dim, static_cast<int64_t>(cond.size())); ++j)
        if (cond[static_cast<size_t>(j)]) std::memcpy(d + (o * kept + w++) * inner, s + (o * dim + j) * inner, static_cast<size_t>(inner));
    }
  });
}

}  // namespace

void register_extra_ops(CpuOpTable& t) {
  t["GatherND"] = CpuOp{nullptr, plan_gather_nd, true};
  t["ScatterElements"] = CpuOp{check_scatter_elements, plan_scatter_elements, true};
  t["Scatter"] = CpuOp{check_scatter_elements, plan_scatter_elements, true};
  t["EyeLike"] = CpuOp{nullptr, plan_eye_like, true};
  t["ReverseSequence"] = CpuOp{nullptr, plan_reverse_sequence, true};
  t["Unique"] = CpuOp{check_const0, plan_unique, true};
  t["Compress"] = CpuOp{check_compress, plan_compress, true};
}

}  // namespace netlens::cpu::tensor
