// CPU kernels of the "tensor" op family: data movement (Reshape..Tile), Pad, Cast, Constant*,
// Range, Trilu, OneHot, TopK, CumSum, ScatterND, NonZero. Resize/Upsample live in tensor_resize.cpp
// and Einsum in tensor_einsum.cpp.
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

namespace tensor {

namespace {

template <class T>
void copy_strided_elems(char* dst, const char* src, int64_t n, int64_t stride) {
  T* d = reinterpret_cast<T*>(dst);
  const T* s = reinterpret_cast<const T*>(src);
  if (stride == 0) {
    std::fill(d, d + n, *s);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i * stride];
  }
}

// strided_copy's transpose path. `s`/`st` are the simplified shape and source strides; dim `cj`
// (not the last) has source stride 1; the last dim has a larger source stride. Work is split over
// (the other outer dims) × (tiles of dim cj).
void tiled_copy(char* d, const char* sp, const Shape& s, const std::vector<int64_t>& st, int64_t cj, size_t es) {
  constexpr int64_t T = 32;
  const int64_t r = static_cast<int64_t>(s.size());
  const int64_t inner = s.back(), inner_st = st.back(), nj = s[static_cast<size_t>(cj)];
  const std::vector<int64_t> dst_st = strides_of(s);
  const int64_t dj = dst_st[static_cast<size_t>(cj)];
  std::vector<int64_t> rest;  // outer dims other than cj
  for (int64_t k = 0; k < r - 1; ++k)
    if (k != cj) rest.push_back(k);
  int64_t n_rest = 1;
  for (int64_t k : rest) n_rest *= s[static_cast<size_t>(k)];
  const int64_t jblocks = (nj + T - 1) / T;
  const int64_t tasks = n_rest * jblocks;
  with_elem_size(es, [&](auto tag) {
    using E = decltype(tag);
    E* dd = reinterpret_cast<E*>(d);
    const E* ss = reinterpret_cast<const E*>(sp);
#pragma omp parallel for if (numel(s) * static_cast<int64_t>(es) >= kParallelBytes)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t rem = task / jblocks, soff = 0, doff = 0;
      for (auto it = rest.rbegin(); it != rest.rend(); ++it) {
        const size_t k = static_cast<size_t>(*it);
        const int64_t c = rem % s[k];
        rem /= s[k];
        soff += c * st[k];
        doff += c * dst_st[k];
      }
      const int64_t j0 = (task % jblocks) * T, j1 = std::min(nj, j0 + T);
      for (int64_t i0 = 0; i0 < inner; i0 += T) {
        const int64_t i1 = std::min(inner, i0 + T);
        for (int64_t j = j0; j < j1; ++j) {
          E* drow = dd + doff + j * dj;
          const E* scol = ss + soff + j;
          for (int64_t i = i0; i < i1; ++i) drow[i] = scol[i * inner_st];
        }
      }
    }
  });
}

}  // namespace

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  if (bytes < static_cast<size_t>(4 * kParallelBytes)) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const int64_t chunk = 1 << 20;
  const int64_t n = static_cast<int64_t>((bytes + chunk - 1) / chunk);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const size_t off = static_cast<size_t>(i * chunk);
    std::memcpy(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off,
                std::min<size_t>(static_cast<size_t>(chunk), bytes - off));
  }
}

void strided_copy(void* dst, const void* src, const Shape& shape, const std::vector<int64_t>& strides, size_t es) {
  // Drop size-1 dims and merge dims that are contiguous in the source as well (the destination is
  // always contiguous), so that the innermost run is as long as possible.
  Shape s;
  std::vector<int64_t> st;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    if (!s.empty() && st.back() == strides[i] * shape[i]) {
      s.back() *= shape[i];
      st.back() = strides[i];
    } else {
      s.push_back(shape[i]);
      st.push_back(strides[i]);
    }
  }
  char* d = static_cast<char*>(dst);
  const char* sp = static_cast<const char*>(src);
  if (s.empty()) {
    std::memcpy(d, sp, es);
    return;
  }
  const int64_t inner = s.back(), inner_st = st.back();
  const int64_t rows = numel(s) / inner;
  const int64_t outer_rank = static_cast<int64_t>(s.size()) - 1;
  const int64_t ies = static_cast<int64_t>(es);
  // A transpose-like copy (the innermost output dim is strided in the source while some outer dim
  // is contiguous there): copy in square tiles so both sides stay in cache.
  int64_t cj = -1;
  for (int64_t k = 0; k < outer_rank; ++k)
    if (st[static_cast<size_t>(k)] == 1) cj = k;
  if (inner_st != 1 && cj >= 0 && inner >= 16 && s[static_cast<size_t>(cj)] >= 16) {
    tiled_copy(d, sp, s, st, cj, es);
    return;
  }
  auto run_rows = [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(static_cast<size_t>(outer_rank), 0);
    int64_t off = 0, r = r0;
    for (int64_t k = outer_rank - 1; k >= 0; --k) {
      idx[static_cast<size_t>(k)] = r % s[static_cast<size_t>(k)];
      r /= s[static_cast<size_t>(k)];
      off += idx[static_cast<size_t>(k)] * st[static_cast<size_t>(k)];
    }
    with_elem_size(es, [&](auto tag) {
      using T = decltype(tag);
      for (int64_t row = r0; row < r1; ++row) {
        char* drow = d + row * inner * ies;
        const char* srow = sp + off * ies;
        if (inner_st == 1) std::memcpy(drow, srow, static_cast<size_t>(inner * ies));
        else copy_strided_elems<T>(drow, srow, inner, inner_st);
        for (int64_t k = outer_rank - 1; k >= 0; --k) {
          const size_t uk = static_cast<size_t>(k);
          off += st[uk];
          if (++idx[uk] < s[uk]) break;
          off -= st[uk] * s[uk];
          idx[uk] = 0;
        }
      }
    });
  };
  if (rows == 1 || rows * inner * ies < kParallelBytes) {
    run_rows(0, rows);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    if (r1 > r0) run_rows(r0, r1);
  }
}

std::vector<int64_t> read_ints(const TensorView& v) {
  const int64_t n = v.numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const bool ok = with_native(v.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(v.data);
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
  });
  if (!ok) throw Error(ErrorKind::Internal, "tensor ops: cannot read " + std::string(dtype_name(v.dtype)) + " as integers");
  return out;
}

void with_float32(std::span<const TensorView> in, std::span<const TensorView> out, const KernelFn& fn) {
  auto half = [](DType t) { return t == DType::Float16 || t == DType::BFloat16; };
  std::vector<Tensor> keep;
  keep.reserve(in.size() + out.size());
  std::vector<TensorView> vin(in.begin(), in.end()), vout(out.begin(), out.end());
  for (auto& v : vin) {
    if (!v.data || !half(v.dtype)) continue;
    keep.push_back(Tensor::view(v.dtype, v.shape, v.data).cast(DType::Float32));
    v = TensorView{DType::Float32, v.shape, keep.back().data()};
  }
  for (auto& v : vout) {
    if (!v.data || !half(v.dtype)) continue;
    keep.emplace_back(DType::Float32, v.shape);
    v = TensorView{DType::Float32, v.shape, keep.back().data()};
  }
  fn(vin, vout);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].data || !half(out[i].dtype)) continue;
    Tensor back = Tensor::view(DType::Float32, out[i].shape, vout[i].data).cast(out[i].dtype);
    std::memcpy(out[i].data, back.data(), back.nbytes());
  }
}

std::vector<int64_t> transpose_strides(const NodeContext& ctx) {
  const Shape& in = ctx.inputs[0].shape;
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  const std::vector<int64_t> ist = strides_of(in);
  std::vector<int64_t> st;
  for (int64_t p : perm) st.push_back(ist[static_cast<size_t>(normalize_axis(p, r, ctx.node.describe()))]);
  return st;
}

StridedView tile_view(const Shape& in, const Shape& out) {
  const std::vector<int64_t> ist = strides_of(in);
  // Tile = broadcast of the input viewed as [1, d0, 1, d1, ...] to [r0, d0, r1, d1, ...].
  StridedView v;
  for (size_t d = 0; d < in.size(); ++d) {
    v.shape.push_back(in[d] ? out[d] / in[d] : 0);
    v.strides.push_back(0);
    v.shape.push_back(in[d]);
    v.strides.push_back(ist[d]);
  }
  return v;
}

StridedView depth_space_view(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t b = ctx.node.attr_int("blocksize", 1);
  const int64_t N = in[0], C = in[1], H = in[2], W = in[3];
  StridedView v;
  if (ctx.node.op_type == "DepthToSpace") {
    const int64_t c = C / (b * b);
    v.shape = {N, c, H, b, W, b};
    if (ctx.node.attr_string("mode", "DCR") == "CRD") {
      const auto s = strides_of({N, c, b, b, H, W});
      v.strides = {s[0], s[1], s[4], s[2], s[5], s[3]};
    } else {
      const auto s = strides_of({N, b, b, c, H, W});
      v.strides = {s[0], s[3], s[4], s[1], s[5], s[2]};
    }
  } else {
    const auto s = strides_of({N, C, H / b, b, W / b, b});
    v.shape = {N, b, b, C, H / b, W / b};
    v.strides = {s[0], s[3], s[5], s[1], s[2], s[4]};
  }
  return v;
}

std::vector<std::vector<int64_t>> pad_source_map(const tensor_params::PadParams& p, const Shape& in) {
  std::vector<std::vector<int64_t>> map(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t n = in[d];
    for (int64_t o = 0; o < p.out[d]; ++o) {
      int64_t i = o - p.begin[d];
      if (i < 0 || i >= n) {
        if (p.mode == "constant") i = -1;
        else if (p.mode == "edge") i = std::clamp<int64_t>(i, 0, n - 1);
        else if (p.mode == "wrap") i = ((i % n) + n) % n;
        else if (n == 1) i = 0;
        else {
          const int64_t period = 2 * (n - 1);
          i = ((i % period) + period) % period;
          if (i >= n) i = period - i;
        }
      }
      map[d].push_back(i);
    }
  }
  return map;
}

std::vector<TensorInfo> split_output_infos(const NodeContext& ctx) {
  bool omitted = false;
  for (size_t k = 0; k < ctx.outputs.size(); ++k) omitted = omitted || k >= ctx.node.outputs.size() || ctx.node.outputs[k].empty();
  if (!omitted) return ctx.outputs;
  const InferFn* infer = OpRegistry::global().find(ctx.node.op_type);
  if (!infer) throw Error(ErrorKind::Internal, ctx.node.describe() + ": no shape function");
  std::vector<const TensorInfo*> ins;
  for (const auto& t : ctx.inputs) ins.push_back(t.dtype == DType::Undefined ? nullptr : &t);
  return (*infer)(InferContext{ctx.node, ctx.opset, ins, ctx.const_inputs});
}

}  // namespace tensor

namespace {

using namespace tensor;
using Views = std::span<const TensorView>;

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

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

// ---------------------------------------------------------------------------------------------
std::unique_ptr<Kernel> plan_shape(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t r = static_cast<int64_t>(in.size());
  int64_t start = ctx.node.attr_int("start", 0);
  if (start < 0) start += r;
  start = std::clamp<int64_t>(start, 0, r);
  return make_kernel([=](Views, Views o) {
    int64_t* d = static_cast<int64_t*>(o[0].data);
    for (int64_t k = 0; k < o[0].numel(); ++k) d[k] = in[static_cast<size_t>(start + k)];
  });
}

std::unique_ptr<Kernel> plan_size(const NodeContext& ctx) {
  const int64_t n = numel(ctx.inputs[0].shape);
  return make_kernel([=](Views, Views o) { *static_cast<int64_t*>(o[0].data) = n; });
}

// Cast: every pair of numeric dtypes. Float → integer truncates toward zero; out-of-range values
// follow the x86 conversions that numpy and onnxruntime inherit from C: 32-bit and narrower
// targets go through int32 (NaN/inf/out of range → INT32_MIN, then wrap), uint32 and int64
// through int64 (→ INT64_MIN), uint64 through uint64 for values >= 2^63.
template <class D, class S> D cast_value(S v) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    if constexpr (std::is_same_v<D, uint64_t>) {
      if (v >= 9.2233720368547758e18 && v < 1.8446744073709552e19) return static_cast<uint64_t>(v);
    }
    if constexpr (sizeof(D) == 8 || std::is_same_v<D, uint32_t>) {
      const int64_t i = (v > -9.2233720368547758e18 && v < 9.2233720368547758e18) ? static_cast<int64_t>(v)
                                                                                  : std::numeric_limits<int64_t>::min();
      return static_cast<D>(i);
    } else {
      const int32_t i = (v > -2147483649.0 && v < 2147483648.0) ? static_cast<int32_t>(v)
                                                                : std::numeric_limits<int32_t>::min();
      return static_cast<D>(i);
    }
  } else {
    return static_cast<D>(v);
  }
}

void cast_view(const TensorView& src, const TensorView& dst) {
  const int64_t n = src.numel();
  if (src.dtype == dst.dtype) {
    parallel_memcpy(dst.data, src.data, src.nbytes());
    return;
  }
  // float16 <-> float32 directly (F16C where present): the casts at a float16 model's inputs and
  // outputs, and the Cast chains mixed-precision exports put around ops.
  if (src.dtype == DType::Float16 && dst.dtype == DType::Float32) {
    half_to_float_n(static_cast<const uint16_t*>(src.data), static_cast<float*>(dst.data), n);
    return;
  }
  if (src.dtype == DType::Float32 && dst.dtype == DType::Float16) {
    float_to_half_n(static_cast<const float*>(src.data), static_cast<uint16_t*>(dst.data), n);
    return;
  }
  auto is_half = [](DType t) { return t == DType::Float16 || t == DType::BFloat16; };
  if (is_half(src.dtype)) {  // through float32
    Tensor f = Tensor::view(src.dtype, src.shape, src.data).cast(DType::Float32);
    cast_view(TensorView{DType::Float32, src.shape, f.data()}, dst);
    return;
  }
  if (is_half(dst.dtype)) {
    Tensor f(DType::Float32, dst.shape);
    cast_view(src, TensorView{DType::Float32, dst.shape, f.data()});
    Tensor h = f.cast(dst.dtype);
    std::memcpy(dst.data, h.data(), h.nbytes());
    return;
  }
  with_native(src.dtype, [&](auto stag) {
    using S = decltype(stag);
    const S* s = static_cast<const S*>(src.data);
    if (dst.dtype == DType::Bool) {
      uint8_t* d = static_cast<uint8_t*>(dst.data);
#pragma omp parallel for if (n >= kParallelBytes)
      for (int64_t k = 0; k < n; ++k) d[k] = s[k] != S(0) ? 1 : 0;
      return;
    }
    with_native(dst.dtype, [&](auto dtag) {
      using D = decltype(dtag);
      D* d = static_cast<D*>(dst.data);
      if (src.dtype == DType::Bool) {
#pragma omp parallel for if (n >= kParallelBytes)
        for (int64_t k = 0; k < n; ++k) d[k] = s[k] ? D(1) : D(0);
        return;
      }
#pragma omp parallel for if (n >= kParallelBytes)
      for (int64_t k = 0; k < n; ++k) d[k] = cast_value<D>(s[k]);
    });
  });
}

std::optional<std::string> check_cast(const NodeContext& ctx) {
  for (DType t : {ctx.inputs[0].dtype, ctx.outputs[0].dtype})
    if (dtype_size(t) == 0) return "dtype " + std::string(dtype_name(t)) + " not supported";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_cast(const NodeContext&) {
  return make_kernel([](Views i, Views o) { cast_view(i[0], o[0]); });
}

std::unique_ptr<Kernel> plan_constant(const NodeContext& ctx) {
  const Tensor v = tensor_params::constant_value(ctx.node);
  return make_kernel([v](Views, Views o) { std::memcpy(o[0].data, v.data(), v.nbytes()); });
}

// Fills `o` with one element's bytes.
void fill_bytes(const TensorView& o, const void* value) {
  const size_t es = dtype_size(o.dtype);
  const int64_t n = o.numel();
  with_elem_size(es, [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, value, es);
    T* d = static_cast<T*>(o.data);
#pragma omp parallel for if (n * static_cast<int64_t>(es) >= kParallelBytes)
    for (int64_t k = 0; k < n; ++k) d[k] = v;
  });
}

std::unique_ptr<Kernel> plan_constant_of_shape(const NodeContext& ctx) {
  const Tensor* attr = ctx.node.attr_tensor("value");
  const Tensor v = attr ? attr->clone() : Tensor::scalar_f32(0.f);
  return make_kernel([v](Views, Views o) {
    if (o[0].numel()) fill_bytes(o[0], v.data());
  });
}

std::unique_ptr<Kernel> plan_range(const NodeContext&) {
  return make_kernel([](Views i, Views o) {
    with_float32(i, o, [](Views fi, Views fo) {
      with_native(fo[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        const T start = *static_cast<const T*>(fi[0].data), delta = *static_cast<const T*>(fi[2].data);
        T* d = static_cast<T*>(fo[0].data);
        for (int64_t k = 0; k < fo[0].numel(); ++k) d[k] = static_cast<T>(start + static_cast<T>(k) * delta);
      });
    });
  });
}

std::optional<std::string> check_dropout(const NodeContext& ctx) {
  if (ctx.opset < 12 || !ctx.node.has_input(2)) return std::nullopt;
  const Tensor* mode = ctx.const_inputs.size() > 2 ? ctx.const_inputs[2] : nullptr;
  if (!mode) return "training_mode is not a constant (training-mode Dropout is random, not reproducible)";
  if (mode->numel() != 1 || mode->get_f64(0) == 0.0) return std::nullopt;
  const Tensor* ratio = ctx.node.has_input(1) && ctx.const_inputs.size() > 1 ? ctx.const_inputs[1] : nullptr;
  if (ctx.node.has_input(1) && (!ratio || ratio->numel() != 1 || ratio->get_f64(0) != 0.0))
    return "training-mode Dropout with a non-zero ratio is random (not reproducible)";
  if (!ctx.node.has_input(1)) return "training-mode Dropout with the default ratio 0.5 is random (not reproducible)";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_dropout(const NodeContext& ctx) {
  const DType mask_dt = ctx.outputs.size() > 1 ? ctx.outputs[1].dtype : DType::Bool;
  const Tensor one = Tensor::scalar_f32(1.f).cast(mask_dt == DType::Undefined ? DType::Bool : mask_dt);
  return make_kernel([one](Views i, Views o) {
    parallel_memcpy(o[0].data, i[0].data, o[0].nbytes());
    if (o.size() > 1 && o[1].data && o[1].numel()) fill_bytes(o[1], one.data());
  });
}

std::unique_ptr<Kernel> plan_trilu(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  const int64_t M = in[in.size() - 2], N = in[in.size() - 1];
  const size_t es = dtype_size(ctx.inputs[0].dtype);
  return make_kernel([=](Views i, Views o) {
    const int64_t k_raw = i.size() > 1 && i[1].data && i[1].numel() > 0 ? read_ints(i[1])[0] : 0;
    const int64_t k = std::clamp<int64_t>(k_raw, -(M + N + 1), M + N + 1);  // no overflow in r + k
    parallel_memcpy(o[0].data, i[0].data, o[0].nbytes());
    const int64_t batch = (M * N) != 0 ? o[0].numel() / (M * N) : 0;
    char* d = static_cast<char*>(o[0].data);
#pragma omp parallel for if (o[0].nbytes() >= static_cast<size_t>(kParallelBytes))
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t r = 0; r < M; ++r) {
        char* row = d + ((b * M + r) * N) * static_cast<int64_t>(es);
        // Keep j - r >= k (upper) or j - r <= k (lower); zero the rest.
        if (upper) {
          const int64_t z = std::clamp<int64_t>(r + k, 0, N);
          std::memset(row, 0, static_cast<size_t>(z) * es);
        } else {
          const int64_t keep = std::clamp<int64_t>(r + k + 1, 0, N);
          std::memset(row + keep * static_cast<int64_t>(es), 0, static_cast<size_t>(N - keep) * es);
        }
      }
    }
  });
}

std::unique_ptr<Kernel> plan_one_hot(const NodeContext& ctx) {
  const Shape out = ctx.outputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(out.size()), ctx.node.describe());
  const int64_t depth = out[static_cast<size_t>(axis)];
  const int64_t outer = prod(out, 0, static_cast<size_t>(axis));
  const int64_t inner = prod(out, static_cast<size_t>(axis) + 1, out.size());
  const size_t es = dtype_size(ctx.outputs[0].dtype);
  return make_kernel([=](Views i, Views o) {
    // Indices may be any numeric type; float indices are truncated.
    std::vector<int64_t> idx(static_cast<size_t>(i[0].numel()));
    Tensor iv = Tensor::view(i[0].dtype, i[0].shape, i[0].data);
    for (int64_t k = 0; k < i[0].numel(); ++k) idx[static_cast<size_t>(k)] = iv.get_i64(k);
    const char* vals = static_cast<const char*>(i[2].data);
    fill_bytes(o[0], vals);
    char* d = static_cast<char*>(o[0].data);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        int64_t v = idx[static_cast<size_t>(a * inner + b)];
        if (v < 0) v += depth;
        if (v < 0 || v >= depth) continue;
        std::memcpy(d + ((a * depth + v) * inner + b) * static_cast<int64_t>(es), vals + es, es);
      }
  });
}

std::unique_ptr<Kernel> plan_top_k(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(in.size()), ctx.node.describe());
  const bool largest = ctx.node.attr_int("largest", 1) != 0;
  const int64_t k = ctx.outputs[0].shape[static_cast<size_t>(axis)];
  const int64_t outer = prod(in, 0, static_cast<size_t>(axis)), dim = in[static_cast<size_t>(axis)];
  const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size());
  return make_kernel([=](Views vi, Views vo) {
    with_float32(vi, vo, [&](Views i, Views o) {
      with_native(i[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* s = static_cast<const T*>(i[0].data);
        T* val = static_cast<T*>(o[0].data);
        int64_t* ind = static_cast<int64_t*>(o[1].data);
        // A local copy: clang (14) refuses the OpenMP region's nested lambda naming plan_top_k's
        // `largest` through the kernel's capture ("reference to local variable ... in enclosing
        // function"), which broke the fuzz build.
        const bool want_largest = largest;
#pragma omp parallel for if (outer * inner * dim >= 65536)
        for (int64_t ab = 0; ab < outer * inner; ++ab) {
          const int64_t a = ab / inner, b = ab % inner;
          std::vector<int64_t> order(static_cast<size_t>(dim));
          std::iota(order.begin(), order.end(), 0);
          auto at = [&](int64_t j) { return s[(a * dim + j) * inner + b]; };
          // Ties keep the lower index first (ONNX); NaN counts as the largest value.
          auto before = [&](int64_t x, int64_t y) {
            const T vx = at(x), vy = at(y);
            if constexpr (std::is_floating_point_v<T>) {
              if (std::isnan(vx) || std::isnan(vy)) {
                if (std::isnan(vx) && std::isnan(vy)) return x < y;
                return want_largest ? static_cast<bool>(std::isnan(vx)) : static_cast<bool>(std::isnan(vy));
              }
            }
            if (vx != vy) return want_largest ? vx > vy : vx < vy;
            return x < y;
          };
          std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
          for (int64_t j = 0; j < k; ++j) {
            val[(a * k + j) * inner + b] = at(order[static_cast<size_t>(j)]);
            if (ind) ind[(a * k + j) * inner + b] = order[static_cast<size_t>(j)];
          }
        }
      });
    });
  });
}

std::optional<std::string> check_numeric(const NodeContext& ctx) {
  const DType t = ctx.inputs[0].dtype;
  if (t == DType::Bool || dtype_size(t) == 0) return "dtype " + std::string(dtype_name(t)) + " not supported";
  return std::nullopt;
}

std::unique_ptr<Kernel> plan_cumsum(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const bool exclusive = ctx.node.attr_int("exclusive", 0) != 0, reverse = ctx.node.attr_int("reverse", 0) != 0;
  const std::string desc = ctx.node.describe();
  return make_kernel([=](Views vi, Views vo) {
    if (vi[1].numel() != 1) throw Error(ErrorKind::Model, desc + ": axis must be a single value");
    const int64_t axis = normalize_axis(read_ints(vi[1])[0], static_cast<int64_t>(in.size()), desc);
    const int64_t outer = prod(in, 0, static_cast<size_t>(axis)), dim = in[static_cast<size_t>(axis)];
    const int64_t inner = prod(in, static_cast<size_t>(axis) + 1, in.size());
    with_float32(vi, vo, [&](Views i, Views o) {
      with_native(i[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        // Accumulate floats in double, integers in their own type.
        using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
        const T* s = static_cast<const T*>(i[0].data);
        T* d = static_cast<T*>(o[0].data);
#pragma omp parallel for if (outer * inner * dim >= 65536)
        for (int64_t ab = 0; ab < outer * inner; ++ab) {
          const int64_t a = ab / inner, b = ab % inner;
          Acc acc = 0;
          for (int64_t t = 0; t < dim; ++t) {
            const int64_t j = reverse ? dim - 1 - t : t;
            const int64_t off = (a * dim + j) * inner + b;
            if (exclusive) {
              d[off] = static_cast<T>(acc);
              acc = static_cast<Acc>(acc + s[off]);
            } else {
              acc = static_cast<Acc>(acc + s[off]);
              d[off] = static_cast<T>(acc);
            }
          }
        }
      });
    });
  });
}

std::unique_ptr<Kernel> plan_non_zero(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  return make_kernel([=](Views i, Views o) {
    const Tensor t = Tensor::view(i[0].dtype, in, i[0].data);
    const int64_t r = static_cast<int64_t>(in.size()), nnz = o[0].shape[1];
    int64_t* d = static_cast<int64_t*>(o[0].data);
    int64_t col = 0;
    for (int64_t e = 0; e < t.numel() && col < nnz; ++e) {
      if (t.get_f64(e) == 0.0) continue;
      int64_t rem = e;
      for (int64_t a = r - 1; a >= 0; --a) {
        d[a * nnz + col] = rem % in[static_cast<size_t>(a)];
        rem /= in[static_cast<size_t>(a)];
      }
      ++col;
    }
  });
}

std::optional<std::string> check_non_zero(const NodeContext& ctx) {
  if (!ctx.const_inputs.empty() && ctx.const_inputs[0]) return std::nullopt;
  return "NonZero has a data-dependent output shape; only a constant input is supported";
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
  t["Shape"] = generic(plan_shape);
  t["Size"] = generic(plan_size);
  t["Cast"] = generic(plan_cast, check_cast);
  t["CastLike"] = generic(plan_cast, check_cast);
  t["Constant"] = generic(plan_constant);
  t["ConstantOfShape"] = generic(plan_constant_of_shape);
  t["Range"] = generic(plan_range, check_numeric);
  t["Dropout"] = generic(plan_dropout, check_dropout);
  t["DepthToSpace"] = generic(plan_depth_space, check_depth_space);
  t["SpaceToDepth"] = generic(plan_depth_space);
  t["Trilu"] = generic(plan_trilu);
  t["OneHot"] = generic(plan_one_hot);
  t["TopK"] = generic(plan_top_k, check_numeric);
  t["CumSum"] = generic(plan_cumsum, check_numeric);
  t["NonZero"] = generic(plan_non_zero, check_non_zero);
  register_resize_ops(t);
  register_einsum_ops(t);
  register_extra_ops(t);
}

}  // namespace netlens::cpu
