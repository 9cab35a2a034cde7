// Helpers shared by the elementwise backward kernels (grad_elementwise*.cpp): flat parallel loops
// over float32 views and the two shape movements of reverse mode for broadcasting ops:
// - unbroadcast_map / unbroadcast_add: dst (a broadcast operand's shape) += the sum over the dims
//   the operand was broadcast along of f(i) (a value per element of the broadcast result, computed
//   on the fly: the product g·b of Mul's gradient is never stored) or of a stored src;
// - ReduceGeom: for a reduction over `axes`, the input offsets of every output's reduced set, in
//   row-major order of the reduced dims (so "first" means the lowest flat index).
//
// Contract: views are float32 host views whose shapes passed shape inference. Every helper ADDS
// into its destination (the GradKernel contract) and never uses its value otherwise, so a
// destination may alias another kernel argument's gradient. Broadcast sums take float SIMD partial
// sums over blocks of at most 1024 elements and add the blocks in double (a gradient summed over a
// large activation keeps float32 accuracy). Closures passed to the loops should capture by value:
// each thread copies them, which is what lets GCC vectorise the loops.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include <omp.h>

#include "netlens/cpu/cpu_ops.hpp"
#include "elementwise_common.hpp"

namespace netlens::cpu::gew {

using ew::kParallelMin;

inline const float* fin(const TensorView& v) { return static_cast<const float*>(v.data); }
inline float* fout(const TensorView& v) { return static_cast<float*>(v.data); }

// Whether input i's gradient is wanted in this run (the slot exists and has memory).
inline bool wanted(const GradViews& v, size_t i) { return i < v.grad_inputs.size() && v.grad_inputs[i].data; }

// A CpuGrad::check that accepts only float32 on input `idx` (the backend already converted
// float16/bfloat16/float64): integer versions of these ops have integer outputs and no gradient.
inline std::optional<std::string> float_input(const NodeContext& ctx, size_t idx = 0) {
  if (idx < ctx.inputs.size() && ctx.inputs[idx].dtype != DType::Float32)
    return ctx.node.op_type + " on " + std::string(dtype_name(ctx.inputs[idx].dtype)) + " has no gradient";
  return std::nullopt;
}

// Dims of `full` (rank r) where the right-aligned `part` has size 1 (or no dim) and full > 1.
inline std::vector<bool> broadcast_dims(const Shape& full, const Shape& part) {
  const size_t r = full.size(), p = part.size();
  std::vector<bool> red(r, false);
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = i + p >= r ? part[i + p - r] : 1;
    red[i] = d == 1 && full[i] != 1;
  }
  return red;
}

// The geometry of summing a tensor of shape `full` over the dims flagged in `red` (size-1 dims
// ignored). The kept dims, in order, are the layout of the result. Neighbouring dims of the same
// kind are merged.
struct ReduceGeom {
  int64_t out_count = 1;          // elements of the result
  int64_t red_count = 1;          // elements summed into each
  bool trailing_reduced = false;  // the innermost (merged) dim is reduced: runs of `run` contiguous
  int64_t run = 1;                // length of the innermost merged dim
  std::vector<int64_t> base;      // input offset of each result element's first input (kept dims)
  std::vector<int64_t> roff;      // offsets of the reduced set from base (every reduced dim); see
                                  // all_offsets
  std::vector<int64_t> roff_outer;  // trailing_reduced: offsets of the runs (reduced dims but the last)

  // `all_offsets`: fill roff even when the innermost dim is reduced (the scans of ReduceMax/Min/
  // Prod walk it; unbroadcast_map walks runs instead, and roff would then be as long as the input).
  ReduceGeom(const Shape& full, const std::vector<bool>& red, bool all_offsets = false) {
    struct G { int64_t size, stride; bool reduced; };
    std::vector<G> groups;
    const std::vector<int64_t> st = strides_of(full);
    for (size_t i = 0; i < full.size(); ++i) {
      if (full[i] == 1) continue;
      if (!groups.empty() && groups.back().reduced == red[i]) {
        groups.back().size *= full[i];
        groups.back().stride = st[i];
      } else {
        groups.push_back({full[i], st[i], bool(red[i])});
      }
    }
    for (const G& g : groups) (g.reduced ? red_count : out_count) *= g.size;
    auto offsets = [&](bool reduced, size_t upto) {
      std::vector<int64_t> offs{0};
      for (size_t i = 0; i < upto; ++i) {
        const G& g = groups[i];
        if (g.reduced != reduced) continue;
        std::vector<int64_t> next;
        next.reserve(offs.size() * static_cast<size_t>(g.size));
        for (int64_t o : offs)
          for (int64_t j = 0; j < g.size; ++j) next.push_back(o + j * g.stride);
        offs.swap(next);
      }
      return offs;
    };
    if (!groups.empty()) {
      trailing_reduced = groups.back().reduced;
      run = groups.back().size;
    }
    base = offsets(false, groups.size());
    if (!trailing_reduced || all_offsets) roff = offsets(true, groups.size());
    if (trailing_reduced) roff_outer = offsets(true, groups.size() - 1);
  }
};

// dst (shape `part`, broadcastable to `full`) += Σ over the broadcast dims of f(i, k): i is the
// flat index in `full`, k the index in `part` that i maps to. f should capture by value.
template <class F>
void unbroadcast_map(const Shape& full, float* dst, const Shape& part, const F& f) {
  const int64_t n = numel(full);
  if (n == 0) return;
  if (numel(part) == n) {
#pragma omp parallel if (n > kParallelMin)
    {
      const F fl = f;
#pragma omp for simd schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] += fl(i, i);
    }
    return;
  }
  const ReduceGeom g(full, broadcast_dims(full, part));
  const int64_t outs = g.out_count;
  const bool par = n > kParallelMin;
  if (g.trailing_reduced) {
    // Each result element sums runs of g.run contiguous values: parallel over result elements.
    const int64_t runs = static_cast<int64_t>(g.roff_outer.size()), len = g.run;
    const int64_t* base = g.base.data();
    const int64_t* ro = g.roff_outer.data();
    if (par && outs < 2 * omp_get_max_threads()) {
      // Few results (a scalar, two channels): split each one's sum across the threads instead.
      constexpr int64_t kBlock = 1024;
      const int64_t blocks = (len + kBlock - 1) / kBlock;
      for (int64_t o = 0; o < outs; ++o) {
        double acc = 0;
#pragma omp parallel
        {
          const F fl = f;
#pragma omp for reduction(+ : acc) schedule(static)
          for (int64_t t = 0; t < runs * blocks; ++t) {
            const int64_t p = base[o] + ro[t / blocks];
            const int64_t j0 = (t % blocks) * kBlock, j1 = std::min(len, j0 + kBlock);
            float sum = 0.f;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = j0; j < j1; ++j) sum += fl(p + j, o);
            acc += sum;
          }
        }
        dst[o] += static_cast<float>(acc);
      }
      return;
    }
#pragma omp parallel if (par && outs > 1)
    {
      const F fl = f;
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outs; ++o) {
        double acc = 0;
        for (int64_t r = 0; r < runs; ++r) {
          const int64_t p = base[o] + ro[r];
          // Float SIMD partial sums over blocks of 1024, blocks summed in double.
          for (int64_t j0 = 0; j0 < len; j0 += 1024) {
            const int64_t j1 = std::min(len, j0 + 1024);
            float s = 0.f;
#pragma omp simd reduction(+ : s)
            for (int64_t j = j0; j < j1; ++j) s += fl(p + j, o);
            acc += s;
          }
        }
        dst[o] += static_cast<float>(acc);
      }
    }
    return;
  }
  // The innermost dim is kept: result rows of g.run contiguous values, each the sum of red_count
  // input rows. Parallel over (row, column chunk).
  const int64_t len = g.run, rows = outs / len;
  const int64_t k = g.red_count;
  constexpr int64_t kChunk = 512;
  const int64_t chunks = (len + kChunk - 1) / kChunk;
  const int64_t* roff = g.roff.data();
  const int64_t* base = g.base.data();
#pragma omp parallel if (par && rows * chunks > 1)
  {
    const F fl = f;
    double acc[kChunk];
#pragma omp for schedule(static)
    for (int64_t task = 0; task < rows * chunks; ++task) {
      const int64_t row = task / chunks, j0 = (task % chunks) * kChunk, m = std::min(kChunk, len - j0);
      const int64_t k0 = row * len + j0;
      for (int64_t j = 0; j < m; ++j) acc[j] = 0;
      const int64_t b = base[k0];
      for (int64_t r = 0; r < k; ++r) {
        const int64_t p = b + roff[r];
        for (int64_t j = 0; j < m; ++j) acc[j] += fl(p + j, k0 + j);
      }
      float* d = dst + k0;
      for (int64_t j = 0; j < m; ++j) d[j] += static_cast<float>(acc[j]);
    }
  }
}

// dst (shape `part`, broadcastable to `full`) += Σ src over the broadcast dims. src has `full`.
inline void unbroadcast_add(const float* src, const Shape& full, float* dst, const Shape& part) {
  unbroadcast_map(full, dst, part, [src](int64_t i, int64_t) { return src[i]; });
}

// gx[i] += f(i) over n elements, in parallel when large. Each thread works on its own copy of f
// (f should capture by value): the loop then vectorises, loads through captured references and
// a shared closure keep GCC from it, and a scalar select on random signs mispredicts (Relu's
// backward ran 15x slower than this).
template <class F>
void add_flat(float* gx, int64_t n, const F& f) {
#pragma omp parallel if (n > kParallelMin)
  {
    const F fl = f;
    float* const out = gx;
#pragma omp for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] += fl(i);
  }
}

// f(o, a_o, b_o) for every element o of the broadcast shape O, a_o and b_o being a and b (shapes
// A and B, broadcastable to O) at o. Parallel when large; f must write only at index o.
template <class F>
void each2(const float* a, const Shape& A, const float* b, const Shape& B, const Shape& O, const F& f) {
  const int64_t n = numel(O), na = numel(A), nb = numel(B);
  if (n == 0) return;
  if ((na == n || na == 1) && (nb == n || nb == 1)) {
    // Flat: each operand full or a scalar; a per-thread copy of f so that the loop vectorises.
    const int64_t sa = na == n ? 1 : 0, sb = nb == n ? 1 : 0;
#pragma omp parallel if (n > kParallelMin)
    {
      const F fl = f;
      if (sa && sb) {
#pragma omp for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) fl(i, a[i], b[i]);
      } else if (sa) {
        const float s = b[0];
#pragma omp for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) fl(i, a[i], s);
      } else if (sb) {
        const float s = a[0];
#pragma omp for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) fl(i, s, b[i]);
      } else {
        const float s = a[0], t = b[0];
#pragma omp for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) fl(i, s, t);
      }
    }
    return;
  }
  ew::Bcast<2> bc(O, {&A, &B});
  bc.for_rows([&](const std::array<int64_t, 2>& off, int64_t oo, int64_t len, const std::array<int64_t, 2>& s) {
    const float* x = a + off[0];
    const float* y = b + off[1];
    if (s[0] == 1 && s[1] == 0) {
      const float v = y[0];
      for (int64_t i = 0; i < len; ++i) f(oo + i, x[i], v);
    } else if (s[0] == 0 && s[1] == 1) {
      const float v = x[0];
      for (int64_t i = 0; i < len; ++i) f(oo + i, v, y[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) f(oo + i, x[i * s[0]], y[i * s[1]]);
    }
  });
}

// f(o, a_o) for every element o of O (a broadcast to O).
template <class F>
void each1(const float* a, const Shape& A, const Shape& O, const F& f) {
  const int64_t n = numel(O);
  if (n == 0) return;
  if (numel(A) == n) {
#pragma omp parallel if (n > kParallelMin)
    {
      const F fl = f;
#pragma omp for simd schedule(static)
      for (int64_t i = 0; i < n; ++i) fl(i, a[i]);
    }
    return;
  }
  ew::Bcast<1> bc(O, {&A});
  bc.for_rows([&](const std::array<int64_t, 1>& off, int64_t oo, int64_t len, const std::array<int64_t, 1>& s) {
    const float* x = a + off[0];
    for (int64_t i = 0; i < len; ++i) f(oo + i, x[i * s[0]]);
  });
}

// gk (shape K, broadcastable to O) += Σ over the broadcast dims of c(o), where fill(float* dst)
// does dst[o] += c(o) for every element o of O. Without broadcasting fill adds into gk directly;
// otherwise into a zeroed scratch buffer of O's size, summed into gk after.
template <class Fill>
void add_unbroadcast(float* gk, const Shape& K, const Shape& O, Fill fill) {
  const int64_t n = numel(O);
  if (numel(K) == n) {
    fill(gk);
    return;
  }
  std::vector<float> tmp(static_cast<size_t>(n), 0.f);
  fill(tmp.data());
  unbroadcast_add(tmp.data(), O, gk, K);
}

// The register functions of the other elementwise grad files.
void register_binary_grads(CpuGradTable& t);  // grad_elementwise_binary.cpp
void register_reduce_grads(CpuGradTable& t);  // grad_elementwise_reduce.cpp

}  // namespace netlens::cpu::gew
