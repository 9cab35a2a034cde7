// Reverse mode for the CPU backend's tensor ops (CpuGrad contract in cpu_ops.hpp, helpers in
// grad_tensor.hpp): data movement (Reshape..Tile, Concat, Split, Slice, Pad, DepthToSpace), Cast,
// Dropout. Every movement op is a strided copy forward, so its gradient is the adjoint strided
// add: the forward's own strides, with the roles of source and destination swapped.
// Index ops live in grad_tensor_index.cpp, Resize/Upsample/Einsum in grad_tensor_resize.cpp.
#include "netlens/cpu/grad_tensor.hpp"

#include <algorithm>
#include <numeric>

#include <omp.h>

#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_util.hpp"

namespace netlens::cpu {

namespace grad {

namespace {

// Below this many elements a loop runs on one thread.
constexpr int64_t kParallel = 1 << 16;

// Drops size-1 dims and merges dims that stay contiguous on the strided side too.
void simplify(const Shape& shape, const std::vector<int64_t>& strides, Shape& s, std::vector<int64_t>& st) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!s.empty() && st.back() == strides[i] * shape[i]) {
      s.back() *= shape[i];
      st.back() = strides[i];
    } else {
      s.push_back(shape[i]);
      st.push_back(strides[i]);
    }
  }
}

// Calls body(contiguous row start, strided row start, inner, inner stride) for rows [r0, r1).
template <class F>
void for_rows(const Shape& s, const std::vector<int64_t>& st, int64_t r0, int64_t r1, F&& body) {
  const int64_t outer_rank = static_cast<int64_t>(s.size()) - 1;
  const int64_t inner = s.back(), inner_st = st.back();
  std::vector<int64_t> idx(static_cast<size_t>(outer_rank), 0);
  int64_t off = 0, r = r0;
  for (int64_t k = outer_rank - 1; k >= 0; --k) {
    const size_t uk = static_cast<size_t>(k);
    idx[uk] = r % s[uk];
    r /= s[uk];
    off += idx[uk] * st[uk];
  }
  for (int64_t row = r0; row < r1; ++row) {
    body(row * inner, off, inner, inner_st);
    for (int64_t k = outer_rank - 1; k >= 0; --k) {
      const size_t uk = static_cast<size_t>(k);
      off += st[uk];
      if (++idx[uk] < s[uk]) break;
      off -= st[uk] * s[uk];
      idx[uk] = 0;
    }
  }
}

template <class F>
void run_rows(const Shape& s, const std::vector<int64_t>& st, bool parallel, F&& body) {
  const int64_t rows = numel(s) / s.back();
  if (!parallel || rows == 1 || numel(s) < kParallel) {
    for_rows(s, st, 0, rows, body);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    if (r1 > r0) for_rows(s, st, r0, r1, body);
  }
}

}  // namespace

void add_into(float* dst, const float* src, int64_t n) {
#pragma omp parallel for if (n >= kParallel)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void add_scatter(float* dst, const float* src, const Shape& shape, const std::vector<int64_t>& strides) {
  if (numel(shape) == 0) return;
  Shape s;
  std::vector<int64_t> st;
  simplify(shape, strides, s, st);
  if (s.empty()) {
    dst[0] += src[0];
    return;
  }
  // A zero stride sends several source elements to one destination: one thread then.
  const bool injective = std::find(st.begin(), st.end(), 0) == st.end();
  run_rows(s, st, injective, [&](int64_t c, int64_t o, int64_t n, int64_t is) {
    const float* a = src + c;
    float* b = dst + o;
    if (is == 1) {
      for (int64_t j = 0; j < n; ++j) b[j] += a[j];
    } else if (is == 0) {
      double acc = 0;
      for (int64_t j = 0; j < n; ++j) acc += a[j];
      b[0] += static_cast<float>(acc);
    } else {
      for (int64_t j = 0; j < n; ++j) b[j * is] += a[j];
    }
  });
}

void add_gather(float* dst, const float* src, const Shape& shape, const std::vector<int64_t>& strides) {
  if (numel(shape) == 0) return;
  Shape s;
  std::vector<int64_t> st;
  simplify(shape, strides, s, st);
  if (s.empty()) {
    dst[0] += src[0];
    return;
  }
  run_rows(s, st, true, [&](int64_t c, int64_t o, int64_t n, int64_t is) {
    float* a = dst + c;
    const float* b = src + o;
    for (int64_t j = 0; j < n; ++j) a[j] += b[j * is];
  });
}

void normalise_indices(std::vector<int64_t>& idx, int64_t dim, const std::string& node) {
  for (int64_t& v : idx) {
    if (v < -dim || v >= dim)
      throw Error(ErrorKind::Input, node + ": index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
    if (v < 0) v += dim;
  }
}

const std::map<std::string, std::string>& tensor_ops_without_gradient() {
  static const std::map<std::string, std::string> m = {
      {"Shape", "integer output"},
      {"Size", "integer output"},
      {"NonZero", "integer output"},
      {"Constant", "no inputs"},
      {"ConstantOfShape", "its only input is an integer shape"},
      {"Unique", "its input must be a constant, so the node is folded before any run"},
      {"Range", "its inputs must be constants (the output length depends on them), so the node is folded before any run"},
  };
  return m;
}

}  // namespace grad

namespace {

using namespace grad;

float* gin(const GradViews& v, size_t i) {
  return i < v.grad_inputs.size() ? static_cast<float*>(v.grad_inputs[i].data) : nullptr;
}
const float* gout(const GradViews& v, size_t k) {
  return k < v.grad_outputs.size() ? static_cast<const float*>(v.grad_outputs[k].data) : nullptr;
}

// Output 0 and input 0 hold the same elements in the same order (Reshape, Identity, Cast...).
CpuGrad pass_through() {
  return CpuGrad{nullptr, [](const NodeContext&, const std::vector<bool>&) {
                   return make_grad_kernel([](const GradViews& v) {
                     float* d = gin(v, 0);
                     const float* g = gout(v, 0);
                     if (d && g) add_into(d, g, v.grad_outputs[0].numel());
                   });
                 }};
}

// A forward strided copy out ← in (out contiguous of `shape`, in read at `strides` from element
// `offset`): its adjoint adds the output gradient back along the same strides.
std::unique_ptr<GradKernel> strided_adjoint(Shape shape, std::vector<int64_t> strides, int64_t offset = 0) {
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    const float* g = gout(v, 0);
    if (d && g) add_scatter(d + offset, g, shape, strides);
  });
}

std::unique_ptr<GradKernel> plan_transpose(const NodeContext& ctx, const std::vector<bool>&) {
  return strided_adjoint(ctx.outputs[0].shape, tensor::transpose_strides(ctx));
}

std::unique_ptr<GradKernel> plan_concat(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape out = ctx.outputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 1), static_cast<int64_t>(out.size()), ctx.node.describe());
  const std::vector<int64_t> ost = strides_of(out);
  std::vector<int64_t> offsets;  // element offset of each input's block in the output
  int64_t at = 0;
  for (const auto& t : ctx.inputs) {
    offsets.push_back(at * ost[static_cast<size_t>(axis)]);
    at += t.shape[static_cast<size_t>(axis)];
  }
  std::vector<Shape> shapes;
  for (const auto& t : ctx.inputs) shapes.push_back(t.shape);
  return make_grad_kernel([=](const GradViews& v) {
    const float* g = gout(v, 0);
    if (!g) return;
    for (size_t k = 0; k < shapes.size(); ++k)
      if (float* d = gin(v, k)) add_gather(d, g + offsets[k], shapes[k], ost);
  });
}

std::unique_ptr<GradKernel> plan_split(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(in.size()), ctx.node.describe());
  // Omitted outputs ("") still take their extent of the input (as in the forward).
  const std::vector<TensorInfo> outs = tensor::split_output_infos(ctx);
  const std::vector<int64_t> ist = strides_of(in);
  std::vector<int64_t> offsets;
  std::vector<Shape> shapes;
  int64_t at = 0;
  for (const auto& t : outs) {
    offsets.push_back(at * ist[static_cast<size_t>(axis)]);
    shapes.push_back(t.shape);
    at += t.shape.size() == in.size() ? t.shape[static_cast<size_t>(axis)] : 0;
  }
  return make_grad_kernel([=](const GradViews& v) {
    float* d = gin(v, 0);
    if (!d) return;
    for (size_t k = 0; k < shapes.size(); ++k)
      if (const float* g = gout(v, k)) add_scatter(d + offsets[k], g, shapes[k], ist);
  });
}

std::unique_ptr<GradKernel> plan_slice(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const auto p = tensor_params::slice_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  const std::vector<int64_t> ist = strides_of(in);
  std::vector<int64_t> st(in.size());
  int64_t off = 0;
  for (size_t d = 0; d < in.size(); ++d) {
    st[d] = ist[d] * p.step[d];
    off += p.start[d] * ist[d];
  }
  return strided_adjoint(p.out, st, off);
}

std::unique_ptr<GradKernel> plan_expand(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape out = ctx.outputs[0].shape;
  return strided_adjoint(out, broadcast_strides(ctx.inputs[0].shape, out));
}

std::unique_ptr<GradKernel> plan_tile(const NodeContext& ctx, const std::vector<bool>&) {
  const tensor::StridedView v = tensor::tile_view(ctx.inputs[0].shape, ctx.outputs[0].shape);
  return strided_adjoint(v.shape, v.strides);
}

std::unique_ptr<GradKernel> plan_depth_space(const NodeContext& ctx, const std::vector<bool>&) {
  const tensor::StridedView v = tensor::depth_space_view(ctx);
  return strided_adjoint(v.shape, v.strides);
}

// Pad: every output element is either an input element (interior, or a reflected/edge/wrapped
// copy: several outputs may read one input) or the constant value (constant mode).
std::unique_ptr<GradKernel> plan_pad(const NodeContext& ctx, const std::vector<bool>&) {
  const Shape in = ctx.inputs[0].shape;
  const auto p = tensor_params::pad_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  const size_t r = in.size();
  const std::vector<std::vector<int64_t>> map = tensor::pad_source_map(p, in);  // -1 = constant
  const Shape out = p.out;
  const bool value_input = ctx.opset >= 11 && ctx.node.has_input(2);
  return make_grad_kernel([=](const GradViews& v) {
    const float* g = gout(v, 0);
    float* dx = gin(v, 0);
    float* dv = value_input ? gin(v, 2) : nullptr;
    if (!g || (!dx && !dv) || numel(out) == 0) return;
    if (r == 0) {
      if (dx) dx[0] += g[0];
      return;
    }
    const std::vector<int64_t> ist = strides_of(in);
    const int64_t inner = out[r - 1], rows = numel(out) / inner;
    double constant_sum = 0;
    // Rows are independent only when no input row is read twice (constant mode, or padding only
    // along the last axis); otherwise one thread.
    bool rows_injective = true;
    for (size_t d = 0; d + 1 < r; ++d)
      if (p.mode != "constant" && (p.begin[d] > 0 || p.end[d] > 0)) rows_injective = false;
#pragma omp parallel for reduction(+ : constant_sum) if (rows_injective && numel(out) >= (1 << 16))
    for (int64_t row = 0; row < rows; ++row) {
      int64_t rem = row, off = 0;
      bool fill = false;
      for (int64_t a = static_cast<int64_t>(r) - 2; a >= 0; --a) {
        const size_t ua = static_cast<size_t>(a);
        const int64_t c = rem % out[ua];
        rem /= out[ua];
        const int64_t m = map[ua][static_cast<size_t>(c)];
        if (m < 0) fill = true;
        else off += m * ist[ua];
      }
      const float* grow = g + row * inner;
      if (fill) {
        for (int64_t x = 0; x < inner; ++x) constant_sum += grow[x];
        continue;
      }
      for (int64_t x = 0; x < inner; ++x) {
        const int64_t m = map[r - 1][static_cast<size_t>(x)];
        if (m < 0) constant_sum += grow[x];
        else if (dx) dx[off + m] += grow[x];
      }
    }
    if (dv && v.grad_inputs[2].numel() > 0) dv[0] += static_cast<float>(constant_sum);
  });
}

// Cast/CastLike: float → float passes the gradient (converted: gradients are float32); a cast to an
// integer type has a non-float output, so nothing flows into it; the CastLike target gives none.
CpuGrad cast_grad() {
  return CpuGrad{nullptr, [](const NodeContext& ctx, const std::vector<bool>&) {
                   const bool float_to_float = is_float(ctx.inputs[0].dtype) && is_float(ctx.outputs[0].dtype);
                   return make_grad_kernel([float_to_float](const GradViews& v) {
                     float* d = gin(v, 0);
                     const float* g = gout(v, 0);
                     if (float_to_float && d && g) add_into(d, g, v.grad_outputs[0].numel());
                   });
                 }};
}

}  // namespace

void register_tensor_grads(CpuGradTable& t) {
  // Dropout runs only as the identity (inference, or training with ratio 0: check_dropout refuses
  // the random cases), so its gradient passes through; the mask output is not float.
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}) t[op] = pass_through();
  t["Transpose"] = CpuGrad{nullptr, plan_transpose};
  t["Concat"] = CpuGrad{nullptr, plan_concat};
  t["Split"] = CpuGrad{nullptr, plan_split};
  t["Slice"] = CpuGrad{nullptr, plan_slice};
  t["Expand"] = CpuGrad{nullptr, plan_expand};
  t["Tile"] = CpuGrad{nullptr, plan_tile};
  t["Pad"] = CpuGrad{nullptr, plan_pad};
  t["DepthToSpace"] = CpuGrad{nullptr, plan_depth_space};
  t["SpaceToDepth"] = CpuGrad{nullptr, plan_depth_space};
  t["Cast"] = cast_grad();
  t["CastLike"] = cast_grad();
  grad::register_tensor_index_grads(t);
  grad::register_tensor_resize_grads(t);
}

}  // namespace netlens::cpu
