// CPU kernels of the "tensor" op family that make or compute values rather than move them: Shape,
// Size, Cast/CastLike, Constant, ConstantOfShape, Range, Dropout (inference: a copy and an all-true
// mask), Trilu, OneHot, TopK, CumSum, NonZero. Registered by register_tensor_ops (ops_tensor.cpp).
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
#include "stream_store.hpp"

namespace netlens::cpu {

namespace {

using namespace tensor;
using Views = std::span<const TensorView>;

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
    {
      const StagingScope staging;  // f is read back at once (stream_store.hpp)
      cast_view(src, TensorView{DType::Float32, dst.shape, f.data()});
    }
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

void tensor::register_value_ops(CpuOpTable& t) {
  auto generic = [](auto plan, decltype(CpuOp::check) check = nullptr) { return CpuOp{check, plan, true}; };
  t["Shape"] = generic(plan_shape);
  t["Size"] = generic(plan_size);
  t["Cast"] = generic(plan_cast, check_cast);
  t["CastLike"] = generic(plan_cast, check_cast);
  t["Constant"] = generic(plan_constant);
  t["ConstantOfShape"] = generic(plan_constant_of_shape);
  t["Range"] = generic(plan_range, check_numeric);
  t["Dropout"] = generic(plan_dropout, check_dropout);
  t["Trilu"] = generic(plan_trilu);
  t["OneHot"] = generic(plan_one_hot);
  t["TopK"] = generic(plan_top_k, check_numeric);
  t["CumSum"] = generic(plan_cumsum, check_numeric);
  t["NonZero"] = generic(plan_non_zero, check_non_zero);
}

}  // namespace netlens::cpu
