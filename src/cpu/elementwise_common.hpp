// Helpers shared by the elementwise CPU kernels (ops_elementwise.cpp, elementwise_reduce.cpp):
// dtype dispatch, flat parallel loops and the broadcast iterator.
//
// Contract: every helper works on host TensorViews whose shapes already passed shape inference
// (broadcast-compatible, dtypes as planned). Nothing here allocates per element.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <omp.h>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/runtime.hpp"
#include "stream_store.hpp"

namespace netlens::cpu::ew {

// Below this many elements a kernel runs single-threaded: thread start-up would cost more.
constexpr int64_t kParallelMin = 32768;

template <class T> const T* in_ptr(const TensorView& v) { return static_cast<const T*>(v.data); }
template <class T> T* out_ptr(const TensorView& v) { return static_cast<T*>(v.data); }

// ---------------------------------------------------------------------------------------------
// Dtype dispatch: calls f(T{}) with the C++ type of `t`. Bool is uint8_t (0/1).
enum TypeSet : unsigned {
  kFloat = 1u,          // float32 (the backend converts float16/bfloat16/float64 around us)
  kInt32_64 = 2u,       // int32, int64
  kSmallInt = 4u,       // int8, uint8
  kOtherInt = 8u,       // int16, uint16, uint32, uint64
  kBool = 16u,
  kNumeric = kFloat | kInt32_64 | kSmallInt | kOtherInt,
  kCommon = kFloat | kInt32_64 | kSmallInt,  // reductions, ArgMax
};

inline bool in_set(DType t, unsigned set) {
  switch (t) {
    case DType::Float32: case DType::Float16: case DType::BFloat16: case DType::Float64: return set & kFloat;
    case DType::Int32: case DType::Int64: return set & kInt32_64;
    case DType::Int8: case DType::UInt8: return set & kSmallInt;
    case DType::Int16: case DType::UInt16: case DType::UInt32: case DType::UInt64: return set & kOtherInt;
    case DType::Bool: return set & kBool;
    default: return false;
  }
}

[[noreturn]] inline void bad_dtype(DType t, const char* op) {
  throw Error(ErrorKind::Internal, std::string(op) + ": CPU kernel called with unplanned dtype " +
                                       std::string(dtype_name(t)));
}

template <unsigned Set, class F>
void dispatch(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: if constexpr (Set & kFloat) { f(float{}); return; } break;
    case DType::Int32: if constexpr (Set & kInt32_64) { f(int32_t{}); return; } break;
    case DType::Int64: if constexpr (Set & kInt32_64) { f(int64_t{}); return; } break;
    case DType::Int8: if constexpr (Set & kSmallInt) { f(int8_t{}); return; } break;
    case DType::UInt8: if constexpr (Set & kSmallInt) { f(uint8_t{}); return; } break;
    case DType::Int16: if constexpr (Set & kOtherInt) { f(int16_t{}); return; } break;
    case DType::UInt16: if constexpr (Set & kOtherInt) { f(uint16_t{}); return; } break;
    case DType::UInt32: if constexpr (Set & kOtherInt) { f(uint32_t{}); return; } break;
    case DType::UInt64: if constexpr (Set & kOtherInt) { f(uint64_t{}); return; } break;
    case DType::Bool: if constexpr (Set & kBool) { f(uint8_t{}); return; } break;
    default: break;
  }
  bad_dtype(t, op);
}

// A CpuOp::check accepting only dtypes of `set` on input `idx`.
inline std::function<std::optional<std::string>(const NodeContext&)> check_dtype(unsigned set, size_t idx = 0) {
  return [set, idx](const NodeContext& ctx) -> std::optional<std::string> {
    if (idx >= ctx.inputs.size()) return std::nullopt;
    const DType t = ctx.inputs[idx].dtype;
    if (in_set(t, set)) return std::nullopt;
    return ctx.node.op_type + " on " + std::string(dtype_name(t)) + " is not implemented on the CPU";
  };
}

// ---------------------------------------------------------------------------------------------
// Flat loops.
template <class TI, class TO, class F>
void unary_flat(const TensorView& x, const TensorView& y, F f) {
  const TI* a = in_ptr<TI>(x);
  TO* o = out_ptr<TO>(y);
  const int64_t n = y.numel();
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
}

// ---------------------------------------------------------------------------------------------
// Broadcast iteration over up to 3 inputs. Dims of size 1 are dropped and neighbouring dims whose
// strides are contiguous for every input are merged, so e.g. NCHW + C11 becomes [N, C, HW] with a
// scalar inner stride for the bias, and the innermost loop is as long as possible.
template <int N>
struct Bcast {
  std::vector<int64_t> dims;                 // coalesced output dims, at least one
  std::vector<std::array<int64_t, N>> st;    // per dim, element stride of each input (0 = broadcast)
  int64_t total = 0;

  Bcast(const Shape& out, const std::array<const Shape*, N>& ins) {
    total = numel(out);
    const size_t r = out.size();
    std::array<std::vector<int64_t>, N> full;
    for (int k = 0; k < N; ++k) {
      const Shape& s = *ins[static_cast<size_t>(k)];
      assert(s.size() <= r);
      full[static_cast<size_t>(k)].assign(r, 0);
      const std::vector<int64_t> ss = strides_of(s);
      for (size_t i = 0; i < s.size(); ++i)
        full[static_cast<size_t>(k)][r - s.size() + i] = s[i] == 1 ? 0 : ss[i];
    }
    for (size_t i = 0; i < r; ++i) {
      if (out[i] == 1) continue;
      std::array<int64_t, N> s{};
      for (int k = 0; k < N; ++k) s[static_cast<size_t>(k)] = full[static_cast<size_t>(k)][i];
      if (!dims.empty()) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (st.back()[static_cast<size_t>(k)] != s[static_cast<size_t>(k)] * out[i]) merge = false;
        if (merge) {
          dims.back() *= out[i];
          st.back() = s;
          continue;
        }
      }
      dims.push_back(out[i]);
      st.push_back(s);
    }
    if (dims.empty()) {
      dims.push_back(1);
      st.push_back({});
    }
  }

  // Calls body(offsets of each input, output offset, inner length, inner strides) once per row
  // (all dims but the last), rows split across threads when the work is large. `fence`: each
  // thread calls stream_fence() after its last row (bodies that stream their stores).
  template <class Body>
  void for_rows(Body body, bool fence = false) const {
    if (total == 0) return;
    const size_t r = dims.size();
    const int64_t inner = dims.back();
    const int64_t rows = total / inner;
    const std::array<int64_t, N> ist = st.back();
    auto run_range = [&](int64_t r0, int64_t r1) {
      std::vector<int64_t> idx(r, 0);
      std::array<int64_t, N> off{};
      int64_t rem = r0;
      for (size_t d = r - 1; d-- > 0;) {
        idx[d] = rem % dims[d];
        rem /= dims[d];
        for (int k = 0; k < N; ++k) off[static_cast<size_t>(k)] += idx[d] * st[d][static_cast<size_t>(k)];
      }
      for (int64_t row = r0; row < r1; ++row) {
        body(off, row * inner, inner, ist);
        for (size_t d = r - 1; d-- > 0;) {  // increment the row index with carry
          for (int k = 0; k < N; ++k) off[static_cast<size_t>(k)] += st[d][static_cast<size_t>(k)];
          if (++idx[d] < dims[d]) break;
          for (int k = 0; k < N; ++k) off[static_cast<size_t>(k)] -= dims[d] * st[d][static_cast<size_t>(k)];
          idx[d] = 0;
        }
      }
      if (fence) stream_fence();
    };
    if (total <= kParallelMin) {
      run_range(0, rows);
      return;
    }
    if (rows == 1) {  // one long row (coalesced to 1-D): split the row itself
#pragma omp parallel
      {
        const int nt = omp_get_num_threads();
        const int t = omp_get_thread_num();
        const int64_t i0 = inner * t / nt, i1 = inner * (t + 1) / nt;
        std::array<int64_t, N> off{};
        for (int k = 0; k < N; ++k) off[static_cast<size_t>(k)] = i0 * ist[static_cast<size_t>(k)];
        if (i0 < i1) body(off, i0, i1 - i0, ist);
        if (fence) stream_fence();
      }
      return;
    }
#pragma omp parallel
    {
      const int nt = omp_get_num_threads();
      const int t = omp_get_thread_num();
      const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
      if (r0 < r1) run_range(r0, r1);
    }
  }

};

// out[0, len) = value(i) computed in blocks on the stack, each streamed to `out` (stream_store.hpp):
// for outputs of kStreamBytes and more, which are cold (every activation is kept) and would
// otherwise be read before being written. The caller fences (stream_fence) once per thread.
template <class TO, class V>
void streamed_fill(TO* out, int64_t len, V value) {
  constexpr int64_t kBlock = 4096 / static_cast<int64_t>(sizeof(TO));
  alignas(64) TO buf[kBlock];
  for (int64_t i0 = 0; i0 < len; i0 += kBlock) {
    const int64_t m = std::min(kBlock, len - i0);
    for (int64_t i = 0; i < m; ++i) buf[i] = value(i0 + i);
    stream_copy_bytes(out + i0, buf, static_cast<size_t>(m) * sizeof(TO));
  }
}

// o = f(a, b) with multidirectional broadcasting; o's shape is the broadcast shape. `o` may alias
// `a` when a has o's shape (variadic ops accumulate in place). Outputs of kStreamBytes and more are
// streamed (streamed_fill).
template <class TA, class TB, class TO, class F>
void binary(const TensorView& a, const TensorView& b, const TensorView& o, F f) {
  const TA* pa = in_ptr<TA>(a);
  const TB* pb = in_ptr<TB>(b);
  TO* po = out_ptr<TO>(o);
  const int64_t n = o.numel(), na = a.numel(), nb = b.numel();
  const bool stream = static_cast<size_t>(n) * sizeof(TO) >= kStreamBytes && streams_outputs();
  if (stream && (na == n || na == 1) && (nb == n || nb == 1)) {
    // Flat: blocks of 16K elements over the threads.
    constexpr int64_t kChunk = 16384;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    const int64_t sa = na == n ? 1 : 0, sb = nb == n ? 1 : 0;
#pragma omp parallel if (n > kParallelMin)
    {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t i0 = c * kChunk;
        const TA* x = pa + i0 * sa;
        const TB* y = pb + i0 * sb;
        streamed_fill(po + i0, std::min(kChunk, n - i0), [&](int64_t i) { return f(x[i * sa], y[i * sb]); });
      }
      stream_fence();
    }
    return;
  }
  if (na == n && nb == n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  if (na == n && nb == 1) {
    const TB s = pb[0];
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], s);
    return;
  }
  if (na == 1 && nb == n) {
    const TA s = pa[0];
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = f(s, pb[i]);
    return;
  }
  Bcast<2> bc(o.shape, {&a.shape, &b.shape});
  bc.for_rows([&](const std::array<int64_t, 2>& off, int64_t oo, int64_t len, const std::array<int64_t, 2>& s) {
    const TA* x = pa + off[0];
    const TB* y = pb + off[1];
    TO* z = po + oo;
    // Streamed: rows along which both operands advance (a bias row added to each row of a matrix:
    // ViT-B/16's bias Adds 0.31 -> 0.26 ms for 197x3072, one thread). Planes times a per-plane
    // scalar (EfficientNet's squeeze-excitation Mul) were slower streamed: 14x14 planes 1.75x, the
    // larger ones no faster.
    if (stream && s[0] == 1 && s[1] == 1) {
      streamed_fill(z, len, [&](int64_t i) { return f(x[i], y[i]); });
    } else if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < len; ++i) z[i] = f(x[i], y[i]);
    } else if (s[0] == 1 && s[1] == 0) {
      const TB v = y[0];
      for (int64_t i = 0; i < len; ++i) z[i] = f(x[i], v);
    } else if (s[0] == 0 && s[1] == 1) {
      const TA v = x[0];
      for (int64_t i = 0; i < len; ++i) z[i] = f(v, y[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) z[i] = f(x[i * s[0]], y[i * s[1]]);
    }
  }, stream && bc.st.back()[0] == 1 && bc.st.back()[1] == 1);
}

// The reduction / softmax / ArgMax half of the family (elementwise_reduce.cpp).
void register_reduce_ops(CpuOpTable& t);

}  // namespace netlens::cpu::ew
