// CPU kernels of the "tensor" op family that move data: Reshape..Tile, Concat, Split, Slice,
// Gather*, ScatterND, Expand, DepthToSpace/SpaceToDepth, Pad. The ops that make or compute values
// (Shape, Cast, Constant*, Range, Trilu, OneHot, TopK, CumSum, NonZero...) live in
// tensor_values.cpp, Resize/Upsample in tensor_resize.cpp, Einsum in tensor_einsum.cpp, the copy
// helpers they share in tensor_util.cpp.
//
// Ops that only move bytes are dtype_generic: they copy by element size, so float16/int64/bool
// tensors keep their dtype. Those that do arithmetic on a generic dtype (CumSum, TopK, ScatterND
// reductions, Range) dispatch on the native type and go through float32 for float16/bfloat16.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <omp.h>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/cpu/half_convert.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_util.hpp"

namespace netlens::cpu {


namespace {

using namespace tensor;
using Views = std::span<const TensorView>;


// Kernels that only reinterpret the shape: a copy (no-op when the session aliases the buffers).
std::unique_ptr<Kernel> plan_copy(const NodeContext&) {
  return make_kernel([](Views in, Views out) { parallel_memcpy(out[0].data, in[0].data, out[0].nbytes()); });
}

std::optional<std::string> check_not_string(const NodeContext& ctx) {
  for (const auto& t : ctx.inputs)
    if (t.dtype != DType::Undefined && dtype_size(t.dtype) == 0) return "dtype not supported";
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
std::unique_ptr<Kernel> plan_transpose(const NodeContext& ctx) {
  const std::vector<int64_t> st = transpose_strides(ctx);
  const Shape out = ctx.outputs[0].shape;
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  return make_kernel([=](Views i, Views o) { strided_copy(o[0].data, i[0].data, out, st, es); });
}

std::unique_ptr<Kernel> plan_concat(const NodeContext& ctx) {
  const Shape out = ctx.outputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 1), static_cast<int64_t>(out.size()), ctx.node.describe());
  const size_t es = dtype_size(ctx.outputs[0].dtype);
  const int64_t outer = prod(out, 0, static_cast<size_t>(axis));
  const int64_t inner = prod(out, static_cast<size_t>(axis) + 1, out.size()) * static_cast<int64_t>(es);
  std::vector<int64_t> block;  // bytes per outer index, per input
  for (const auto& t : ctx.inputs) block.push_back(t.shape[static_cast<size_t>(axis)] * inner);
  const int64_t row = std::accumulate(block.begin(), block.end(), int64_t{0});
  return make_kernel([=](Views in, Views o) {
    char* d = static_cast<char*>(o[0].data);
    if (outer == 1) {
      int64_t off = 0;
      for (size_t k = 0; k < in.size(); ++k) {
        parallel_memcpy(d + off, in[k].data, static_cast<size_t>(block[k]));
        off += block[k];
      }
      return;
    }
#pragma omp parallel for if (outer * row >= kParallelBytes)
    for (int64_t i = 0; i < outer; ++i) {
      int64_t off = i * row;
      for (size_t k = 0; k < in.size(); ++k) {
        if (block[k]) std::memcpy(d + off, static_cast<const char*>(in[k].data) + i * block[k], static_cast<size_t>(block[k]));
        off += block[k];
      }
    }
  });
}

std::unique_ptr<Kernel> plan_split(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(in.size()), ctx.node.describe());
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const int64_t outer = prod(in, 0, static_cast<size_t>(axis));
  const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size()) * static_cast<int64_t>(es);
  std::vector<int64_t> block;
  for (const auto& t : split_output_infos(ctx)) block.push_back(t.shape.empty() ? 0 : t.shape[static_cast<size_t>(axis)] * inner);
  const int64_t row = in[static_cast<size_t>(axis)] * inner;
  return make_kernel([=](Views i, Views out) {
    const char* s = static_cast<const char*>(i[0].data);
#pragma omp parallel for if (outer * row >= kParallelBytes)
    for (int64_t o = 0; o < outer; ++o) {
      int64_t off = o * row;
      for (size_t k = 0; k < out.size(); ++k) {
        if (out[k].data && block[k])
          std::memcpy(static_cast<char*>(out[k].data) + o * block[k], s + off, static_cast<size_t>(block[k]));
        off += block[k];
      }
    }
  });
}

std::unique_ptr<Kernel> plan_slice(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const auto p = tensor_params::slice_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  const std::vector<int64_t> ist = strides_of(in);
  std::vector<int64_t> st(in.size());
  int64_t off = 0;
  for (size_t d = 0; d < in.size(); ++d) {
    st[d] = ist[d] * p.step[d];
    off += p.start[d] * ist[d];
  }
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const Shape out = p.out;
  return make_kernel([=](Views i, Views o) {
    if (o[0].numel() == 0) return;
    strided_copy(o[0].data, static_cast<const char*>(i[0].data) + off * static_cast<int64_t>(es), out, st, es);
  });
}

std::optional<std::string> check_const_inputs(const NodeContext& ctx, std::initializer_list<size_t> which) {
  for (size_t i : which)
    if (ctx.node.has_input(i) && (i >= ctx.const_inputs.size() || !ctx.const_inputs[i]))
      return "input " + std::to_string(i) + " ('" + ctx.node.input(i) + "') must be a constant";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_expand(const NodeContext& ctx) {
  const Shape out = ctx.outputs[0].shape;
  const std::vector<int64_t> st = broadcast_strides(ctx.inputs[0].shape, out);
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  return make_kernel([=](Views i, Views o) { strided_copy(o[0].data, i[0].data, out, st, es); });
}

std::unique_ptr<Kernel> plan_tile(const NodeContext& ctx) {
  const StridedView v = tile_view(ctx.inputs[0].shape, ctx.outputs[0].shape);
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  return make_kernel([=](Views i, Views o) {
    if (o[0].numel()) strided_copy(o[0].data, i[0].data, v.shape, v.strides, es);
  });
}

std::unique_ptr<Kernel> plan_depth_space(const NodeContext& ctx) {
  const StridedView v = depth_space_view(ctx);
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  return make_kernel([=](Views i, Views o) {
    if (o[0].numel()) strided_copy(o[0].data, i[0].data, v.shape, v.strides, es);
  });
}

std::optional<std::string> check_depth_space(const NodeContext& ctx) {
  if (ctx.node.op_type == "DepthToSpace") {
    const std::string m = ctx.node.attr_string("mode", "DCR");
    if (m != "DCR" && m != "CRD") return "mode '" + m + "' not supported";
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
std::unique_ptr<Kernel> plan_gather(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(in.size()), ctx.node.describe());
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const int64_t outer = prod(in, 0, static_cast<size_t>(axis));
  const int64_t dim = in[static_cast<size_t>(axis)];
  const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size()) * static_cast<int64_t>(es);
  const std::string desc = ctx.node.describe();
  return make_kernel([=](Views i, Views o) {
    std::vector<int64_t> idx = read_ints(i[1]);
    for (int64_t& v : idx) {
      if (v < -dim || v >= dim)
        throw Error(ErrorKind::Input, desc + ": index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
      if (v < 0) v += dim;
    }
    const int64_t n = static_cast<int64_t>(idx.size());
    const char* s = static_cast<const char*>(i[0].data);
    char* d = static_cast<char*>(o[0].data);
    if (inner == 0) return;
#pragma omp parallel for if (outer * n * inner >= kParallelBytes)
    for (int64_t k = 0; k < outer * n; ++k) {
      const int64_t a = k / n, j = k % n;
      std::memcpy(d + k * inner, s + (a * dim + idx[static_cast<size_t>(j)]) * inner, static_cast<size_t>(inner));
    }
  });
}

// Per-element index arithmetic shared by GatherElements.
std::unique_ptr<Kernel> plan_gather_elements(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t r = static_cast<int64_t>(in.size());
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.node.describe());
  const std::vector<int64_t> dst = strides_of(in);
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const std::string desc = ctx.node.describe();
  return make_kernel([=](Views i, Views o) {
    std::vector<int64_t> idx = read_ints(i[1]);
    const int64_t dim = in[static_cast<size_t>(axis)];
    for (int64_t& v : idx) {
      if (v < -dim || v >= dim)
        throw Error(ErrorKind::Input, desc + ": index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
      if (v < 0) v += dim;
    }
    const int64_t n = static_cast<int64_t>(idx.size());
    with_elem_size(es, [&](auto tag) {
      using T = decltype(tag);
      const T* s = static_cast<const T*>(i[0].data);
      T* d = static_cast<T*>(o[0].data);
#pragma omp parallel for if (n * static_cast<int64_t>(es) >= kParallelBytes)
      for (int64_t k = 0; k < n; ++k) {
        int64_t rem = k, off = 0;
        for (int64_t a = r - 1; a >= 0; --a) {
          const int64_t c = rem % is[static_cast<size_t>(a)];
          rem /= is[static_cast<size_t>(a)];
          off += (a == axis ? idx[static_cast<size_t>(k)] : c) * dst[static_cast<size_t>(a)];
        }
        d[k] = s[off];
      }
    });
  });
}

std::optional<std::string> check_scatter_nd(const NodeContext& ctx) {
  const std::string red = ctx.node.attr_string("reduction", "none");
  if (red != "none" && red != "add" && red != "mul" && red != "max" && red != "min")
    return "reduction '" + red + "' not supported";
  if (red != "none" && (ctx.inputs[0].dtype == DType::Bool)) return "reduction on bool not supported";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_scatter_nd(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape, is = ctx.inputs[1].shape;
  const int64_t k = is.back();
  const int64_t slice = prod(in, static_cast<size_t>(k), in.size());
  const std::vector<int64_t> st = strides_of(in);
  const std::string red = ctx.node.attr_string("reduction", "none");
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  const std::string desc = ctx.node.describe();
  return make_kernel([=](Views i, Views o) {
    parallel_memcpy(o[0].data, i[0].data, o[0].nbytes());
    const std::vector<int64_t> idx = read_ints(i[1]);
    const int64_t n = k ? static_cast<int64_t>(idx.size()) / k : numel(Shape(is.begin(), is.end() - 1));
    std::vector<int64_t> offs(static_cast<size_t>(n));
    for (int64_t u = 0; u < n; ++u) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; ++j) {
        int64_t v = idx[static_cast<size_t>(u * k + j)];
        const int64_t dim = in[static_cast<size_t>(j)];
        if (v < -dim || v >= dim)
          throw Error(ErrorKind::Input, desc + ": index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
        if (v < 0) v += dim;
        off += v * st[static_cast<size_t>(j)];
      }
      offs[static_cast<size_t>(u)] = off;
    }
    if (red == "none") {
      char* d = static_cast<char*>(o[0].data);
      const char* s = static_cast<const char*>(i[2].data);
      const size_t bytes = static_cast<size_t>(slice) * es;
      for (int64_t u = 0; u < n; ++u) std::memcpy(d + offs[static_cast<size_t>(u)] * static_cast<int64_t>(es), s + u * static_cast<int64_t>(bytes), bytes);
      return;
    }
    with_float32(i, o, [&](Views fi, Views fo) {
      with_native(fo[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        T* d = static_cast<T*>(fo[0].data);
        const T* s = static_cast<const T*>(fi[2].data);
        for (int64_t u = 0; u < n; ++u) {
          T* dd = d + offs[static_cast<size_t>(u)];
          const T* ss = s + u * slice;
          for (int64_t e = 0; e < slice; ++e) {
            if (red == "add") dd[e] = static_cast<T>(dd[e] + ss[e]);
            else if (red == "mul") dd[e] = static_cast<T>(dd[e] * ss[e]);
            else if (red == "max") dd[e] = std::max(dd[e], ss[e]);
            else dd[e] = std::min(dd[e], ss[e]);
          }
        }
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
std::optional<std::string> check_pad(const NodeContext& ctx) {
  const std::string m = ctx.node.attr_string("mode", "constant");
  if (m != "constant" && m != "reflect" && m != "edge" && m != "wrap") return "mode '" + m + "' not supported";
  if (ctx.opset >= 11) return check_const_inputs(ctx, {1, 3});
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_pad(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const auto p = tensor_params::pad_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  const DType dt = ctx.inputs[0].dtype;
  const size_t es = dtype_size(dt);
  const size_t r = in.size();
  const std::vector<std::vector<int64_t>> map = pad_source_map(p, in);
  // The constant value's bytes: the `value` attribute before opset 11, input 2 after (read at run).
  Tensor attr_value = Tensor::scalar_f32(ctx.opset < 11 ? ctx.node.attr_float("value", 0.f) : 0.f).cast(dt);
  const bool value_input = ctx.opset >= 11 && ctx.node.has_input(2);
  const Shape out = p.out;
  return make_kernel([=](Views i, Views o) {
    if (o[0].numel() == 0) return;
    std::vector<std::byte> value(es);
    std::memcpy(value.data(), value_input && i[2].data && i[2].numel() ? i[2].data : attr_value.data(), es);
    if (r == 0) {
      std::memcpy(o[0].data, i[0].data, es);
      return;
    }
    const std::vector<int64_t> ist = strides_of(in);
    const int64_t inner = out[r - 1];
    const int64_t rows = o[0].numel() / inner;
    const std::vector<int64_t>& imap = map[r - 1];
    with_elem_size(es, [&](auto tag) {
      using T = decltype(tag);
      T v;
      std::memcpy(&v, value.data(), es);
      const T* s = static_cast<const T*>(i[0].data);
      T* d = static_cast<T*>(o[0].data);
#pragma omp parallel for if (o[0].numel() * static_cast<int64_t>(es) >= kParallelBytes)
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
        T* drow = d + row * inner;
        if (fill) {
          std::fill(drow, drow + inner, v);
          continue;
        }
        const T* srow = s + off;
        for (int64_t x = 0; x < inner; ++x) {
          const int64_t m = imap[static_cast<size_t>(x)];
          drow[x] = m < 0 ? v : srow[m];
        }
      }
    });
  });
}

}  // namespace

void register_tensor_ops(CpuOpTable& t) {
  auto generic = [](auto plan, decltype(CpuOp::check) check = nullptr) { return CpuOp{check, plan, true}; };
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
    t[op] = generic(plan_copy, check_not_string);
  t["Transpose"] = generic(plan_transpose);
  t["Concat"] = generic(plan_concat);
  t["Split"] = generic(plan_split);
  t["Slice"] = generic(plan_slice, [](const NodeContext& c) {
    return c.opset >= 10 ? check_const_inputs(c, {1, 2, 3, 4}) : std::nullopt;
  });
  t["Gather"] = generic(plan_gather);
  t["GatherElements"] = generic(plan_gather_elements);
  t["ScatterND"] = generic(plan_scatter_nd, check_scatter_nd);
  t["Expand"] = generic(plan_expand);
  t["Tile"] = generic(plan_tile);
  t["Pad"] = generic(plan_pad, check_pad);
  t["DepthToSpace"] = generic(plan_depth_space, check_depth_space);
  t["SpaceToDepth"] = generic(plan_depth_space);
  register_resize_ops(t);
  register_einsum_ops(t);
  register_extra_ops(t);
  register_value_ops(t);
}

}  // namespace netlens::cpu
