// CPU kernels for reductions (ReduceSum ... ReduceLogSumExp), ArgMax/ArgMin and the softmax family
// (Softmax, LogSoftmax, Hardmax).
//
// Float reductions accumulate in double, integer ones in 64 bits, then round to the tensor type.
// Float comparisons may raise FP exceptions; with GCC's default -ftrapping-math that stops it from
// turning `x < 0 ? 0 : x` style selects into vector blends, so most loops here would stay scalar.
// Nothing in netlens reads FP exception flags, and NaN/inf semantics are unchanged.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "elementwise_common.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "elementwise_dnnl.hpp"

namespace netlens::cpu::ew {

namespace {

// ---------------------------------------------------------------------------------------------
// Reduction geometry. After dropping size-1 dims and merging neighbouring dims that are both kept
// or both reduced, most reductions are [outer, K, inner] (K reduced); others use offset tables.
struct ReducePlan {
  bool copy = false;            // noop_with_empty_axes with no axes: output = input
  bool simple = false;          // [outer, K, inner] form
  int64_t outer = 1, k = 1, inner = 1;
  std::vector<int64_t> base;    // generic: input offset of each output element's first input
  std::vector<int64_t> roff;    // generic: offsets of the K reduced elements from that base
  int64_t out_count = 1;
};

ReducePlan make_reduce_plan(const Shape& in, const std::vector<int64_t>& axes, bool noop) {
  ReducePlan p;
  if (axes.empty() && noop) {
    p.copy = true;
    return p;
  }
  const size_t r = in.size();
  std::vector<bool> red(r, axes.empty());
  for (int64_t a : axes) red[static_cast<size_t>(a)] = true;
  p.out_count = 1;
  int64_t k = 1;
  for (size_t i = 0; i < r; ++i) (red[i] ? k : p.out_count) *= in[i];
  p.k = k;

  struct Group { int64_t size; bool reduced; };
  std::vector<Group> groups;
  for (size_t i = 0; i < r; ++i) {
    if (in[i] == 1) continue;
    if (!groups.empty() && groups.back().reduced == red[i]) groups.back().size *= in[i];
    else groups.push_back({in[i], red[i]});
  }
  // Patterns [], [K], [R], [K R], [R K], [K R K] (K kept, R reduced) are [outer, K, inner].
  size_t g = 0;
  int64_t outer = 1, kk = 1, inner = 1;
  if (g < groups.size() && !groups[g].reduced) outer = groups[g++].size;
  if (g < groups.size() && groups[g].reduced) kk = groups[g++].size;
  if (g < groups.size() && !groups[g].reduced) inner = groups[g++].size;
  if (g == groups.size()) {
    p.simple = true;
    p.outer = outer;
    p.inner = inner;
    p.k = kk;  // zero-sized dims were kept in the groups, so empty reductions fall out naturally
    return p;
  }
  // Generic: offsets of kept and reduced index spaces, separately.
  const std::vector<int64_t> st = strides_of(in);
  auto offsets = [&](bool reduced) {
    std::vector<int64_t> offs{0};
    for (size_t i = 0; i < r; ++i) {
      if (red[i] != reduced || in[i] == 1) continue;
      std::vector<int64_t> next;
      next.reserve(offs.size() * static_cast<size_t>(in[i]));
      for (int64_t o : offs)
        for (int64_t j = 0; j < in[i]; ++j) next.push_back(o + j * st[i]);
      offs.swap(next);
    }
    return offs;
  };
  p.base = offsets(false);
  p.roff = offsets(true);
  return p;
}

// Runs a reduction described by R over the plan: for output o, acc = R.init(o); for each reduced
// x: R.step(acc, x, o); out[o] = R.fin(acc, o).
template <class T, class R>
void run_reduce(const ReducePlan& p, const T* x, T* y, const R& red) {
  using A = typename R::Acc;
  if (p.simple) {
    const int64_t outer = p.outer, k = p.k, inner = p.inner;
    const bool par = outer * k * inner > kParallelMin;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (par && outer > 1)
      for (int64_t o = 0; o < outer; ++o) {
        // Four independent accumulators: a single chain is bound by the add latency.
        A acc[4] = {red.init(o), red.init(o), red.init(o), red.init(o)};
        const T* row = x + o * k;
        int64_t j = 0;
        for (; j + 4 <= k; j += 4)
          for (int u = 0; u < 4; ++u) red.step(acc[u], row[j + u], o);
        for (; j < k; ++j) red.step(acc[0], row[j], o);
        red.merge(acc[0], acc[1]);
        red.merge(acc[2], acc[3]);
        red.merge(acc[0], acc[2]);
        y[o] = red.fin(acc[0], o);
      }
      return;
    }
    // Reduce the middle dim: accumulate whole rows of `inner` so the inner loop is contiguous.
    constexpr int64_t kChunk = 1024;
    const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (par && outer * chunks > 1)
    for (int64_t task = 0; task < outer * chunks; ++task) {
      const int64_t o = task / chunks, j0 = (task % chunks) * kChunk, len = std::min(kChunk, inner - j0);
      A acc[kChunk];
      for (int64_t j = 0; j < len; ++j) acc[j] = red.init(o * inner + j0 + j);
      for (int64_t kk = 0; kk < k; ++kk) {
        const T* row = x + (o * k + kk) * inner + j0;
        for (int64_t j = 0; j < len; ++j) red.step(acc[j], row[j], o * inner + j0 + j);
      }
      for (int64_t j = 0; j < len; ++j) y[o * inner + j0 + j] = red.fin(acc[j], o * inner + j0 + j);
    }
    return;
  }
  const int64_t n = static_cast<int64_t>(p.base.size());
  const int64_t k = static_cast<int64_t>(p.roff.size());
  const int64_t* base = p.base.data();
  const int64_t* roff = p.roff.data();
#pragma omp parallel for schedule(static) if (n * k > kParallelMin && n > 1)
  for (int64_t o = 0; o < n; ++o) {
    A acc = red.init(o);
    const T* b = x + base[o];
    for (int64_t j = 0; j < k; ++j) red.step(acc, b[roff[j]], o);
    y[o] = red.fin(acc, o);
  }
}

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double,
                                 std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <class T> T from_acc(acc_t<T> a) { return static_cast<T>(a); }
template <class T> T from_double(double v) {
  if constexpr (std::is_floating_point_v<T>) return static_cast<T>(v);
  else {
    // Integer results of L2/LogSum/...: round and saturate instead of UB on out-of-range casts.
    if (std::isnan(v)) return T(0);
    const double r = std::nearbyint(v);
    if (r <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (r >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(r);
  }
}

enum class RKind { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

template <class T, RKind K>
struct Reducer {
  using Acc = acc_t<T>;
  int64_t count = 1;
  const T* shift = nullptr;  // LogSumExp: per-output max
  Acc init(int64_t) const {
    if constexpr (K == RKind::Max) {
      if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<double>::infinity();
      else return static_cast<Acc>(std::numeric_limits<T>::lowest());
    } else if constexpr (K == RKind::Min) {
      if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<double>::infinity();
      else return static_cast<Acc>(std::numeric_limits<T>::max());
    } else if constexpr (K == RKind::Prod) {
      return Acc(1);
    } else {
      return Acc(0);
    }
  }
  void step(Acc& a, T x, int64_t o) const {
    const Acc v = static_cast<Acc>(x);
    if constexpr (K == RKind::Sum || K == RKind::Mean || K == RKind::LogSum) a += v;
    else if constexpr (K == RKind::Max) {
      if constexpr (std::is_floating_point_v<T>) a = (v > a || std::isnan(v)) ? v : a;  // NaN sticks
      else a = v > a ? v : a;
    } else if constexpr (K == RKind::Min) {
      if constexpr (std::is_floating_point_v<T>) a = (v < a || std::isnan(v)) ? v : a;
      else a = v < a ? v : a;
    } else if constexpr (K == RKind::Prod) a *= v;
    else if constexpr (K == RKind::L1) {
      if constexpr (std::is_signed_v<Acc>) a += v < 0 ? -v : v;
      else if constexpr (std::is_floating_point_v<Acc>) a += std::fabs(v);
      else a += v;
    } else if constexpr (K == RKind::L2 || K == RKind::SumSquare) a += v * v;
    else if constexpr (K == RKind::LogSumExp) {
      const double s = static_cast<double>(shift[o]);
      a += static_cast<Acc>(std::exp(static_cast<double>(x) - (std::isfinite(s) ? s : 0.0)));
    }
  }
  // Combines two partial accumulators (the contiguous path keeps several to break the add chain).
  void merge(Acc& a, Acc b) const {
    if constexpr (K == RKind::Max) {
      if constexpr (std::is_floating_point_v<T>) a = (b > a || std::isnan(b)) ? b : a;
      else a = b > a ? b : a;
    } else if constexpr (K == RKind::Min) {
      if constexpr (std::is_floating_point_v<T>) a = (b < a || std::isnan(b)) ? b : a;
      else a = b < a ? b : a;
    } else if constexpr (K == RKind::Prod) {
      a *= b;
    } else {
      a += b;
    }
  }
  T fin(Acc a, int64_t o) const {
    if constexpr (K == RKind::Mean) {
      if constexpr (std::is_floating_point_v<T>) return static_cast<T>(a / static_cast<double>(count));
      else return count ? static_cast<T>(a / static_cast<Acc>(count)) : T(0);
    } else if constexpr (K == RKind::L2) {
      return from_double<T>(std::sqrt(static_cast<double>(a)));
    } else if constexpr (K == RKind::LogSum) {
      return from_double<T>(std::log(static_cast<double>(a)));
    } else if constexpr (K == RKind::LogSumExp) {
      const double s = static_cast<double>(shift[o]);
      return from_double<T>(std::log(static_cast<double>(a)) + (std::isfinite(s) ? s : 0.0));
    } else {
      return static_cast<T>(a);
    }
  }
};

template <class T, RKind K>
void reduce_typed(const ReducePlan& p, const TensorView& in, const TensorView& out) {
  const T* x = in_ptr<T>(in);
  T* y = out_ptr<T>(out);
  if (p.copy) {
    if (out.nbytes()) std::memcpy(y, x, out.nbytes());
    return;
  }
  if constexpr (K == RKind::LogSumExp) {
    // Two passes: the max of each output's set, then log(sum(exp(x - max))) + max.
    std::vector<T> mx(static_cast<size_t>(out.numel()));
    run_reduce(p, x, mx.data(), Reducer<T, RKind::Max>{});
    Reducer<T, K> r;
    r.shift = mx.data();
    run_reduce(p, x, y, r);
  } else {
    Reducer<T, K> r;
    r.count = p.simple ? p.k : static_cast<int64_t>(p.roff.size());
    run_reduce(p, x, y, r);
  }
}

// Axes as the shape function reads them (attribute before `input_opset`, constant input after).
std::vector<int64_t> reduce_axes(const NodeContext& ctx, int64_t input_opset, int64_t rank) {
  std::vector<int64_t> axes;
  if (ctx.opset >= input_opset) {
    if (ctx.inputs.size() > 1 && ctx.inputs[1].dtype != DType::Undefined) {
      const Tensor* t = ctx.const_inputs.size() > 1 ? ctx.const_inputs[1] : nullptr;
      if (!t)
        throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": axes must be a constant input");
      axes = t->to_i64_vector();
    }
  } else {
    axes = ctx.node.attr_ints("axes");
  }
  for (int64_t& a : axes) {
    if (a < -std::max<int64_t>(rank, 1) || a >= std::max<int64_t>(rank, 1))
      throw Error(ErrorKind::Model, ctx.node.describe() + ": axis " + std::to_string(a) + " out of range");
    if (a < 0) a += rank;
    a = std::min<int64_t>(a, std::max<int64_t>(rank - 1, 0));
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (rank == 0) axes.clear();  // a scalar reduces to itself
  return axes;
}

template <RKind K>
void add_reduce(CpuOpTable& t, const char* name, int64_t input_opset) {
  CpuOp op;
  op.check = check_dtype(kCommon);
  op.plan = [name, input_opset](const NodeContext& ctx) -> std::unique_ptr<Kernel> {
    const Shape& in_shape = ctx.inputs.at(0).shape;
    const int64_t rank = static_cast<int64_t>(in_shape.size());
    std::vector<int64_t> axes = reduce_axes(ctx, input_opset, rank);
    const bool noop = ctx.opset >= input_opset && ctx.node.attr_int("noop_with_empty_axes", 0) != 0;
    // A scalar input has nothing to reduce: every reduction is then the identity of its element
    // transformed once (Sum x, L2 |x|, LogSumExp x ...), which the general path computes.
    auto plan = std::make_shared<ReducePlan>(make_reduce_plan(in_shape, axes, noop && axes.empty()));
    return make_kernel([plan, name](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kCommon>(in[0].dtype, name, [&](auto tag) {
        using T = decltype(tag);
        reduce_typed<T, K>(*plan, in[0], out[0]);
      });
    });
  };
  t[name] = std::move(op);
}

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin over one axis, first (or last, with select_last_index) extreme wins.
template <class T, bool Max>
void arg_typed(const TensorView& in, const TensorView& out, int64_t axis, bool last) {
  const Shape& s = in.shape;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) inner *= s[i];
  const int64_t k = s[static_cast<size_t>(axis)];
  const T* x = in_ptr<T>(in);
  int64_t* y = out_ptr<int64_t>(out);
  auto better = [last](T v, T best) {
    if constexpr (Max) return last ? v >= best : v > best;
    else return last ? v <= best : v < best;
  };
#pragma omp parallel for schedule(static) if (outer * inner * k > kParallelMin)
  for (int64_t t = 0; t < outer * inner; ++t) {
    const int64_t o = t / inner, j = t % inner;
    const T* p = x + o * k * inner + j;
    int64_t bi = 0;
    if (k > 0) {
      T best = p[0];
      for (int64_t i = 1; i < k; ++i)
        if (better(p[i * inner], best)) best = p[i * inner], bi = i;
    }
    y[t] = bi;
  }
}

template <bool Max>
void add_arg(CpuOpTable& t, const char* name) {
  CpuOp op;
  op.check = check_dtype(kCommon);
  op.plan = [name](const NodeContext& ctx) -> std::unique_ptr<Kernel> {
    const int64_t rank = static_cast<int64_t>(ctx.inputs.at(0).shape.size());
    int64_t axis = ctx.node.attr_int("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) throw Error(ErrorKind::Model, ctx.node.describe() + ": axis out of range");
    const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
    return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
      dispatch<kCommon>(in[0].dtype, name, [&](auto tag) { arg_typed<decltype(tag), Max>(in[0], out[0], axis, last); });
    });
  };
  t[name] = std::move(op);
}

// ---------------------------------------------------------------------------------------------
// Softmax family over [outer, n, inner]. Before opset 13 the input is coerced to 2-D at `axis`
// (inner = 1, n = product of dims from axis on); from 13 on only dim `axis` is normalised.
enum class SKind { Softmax, LogSoftmax, Hardmax };

template <SKind K>
void softmax_rows(const float* x, float* y, int64_t n) {
  // One contiguous row.
  if (n == 0) return;
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  if constexpr (K == SKind::Hardmax) {
    int64_t bi = 0;
    for (int64_t i = 0; i < n; ++i)
      if (x[i] == m) { bi = i; break; }
    for (int64_t i = 0; i < n; ++i) y[i] = i == bi ? 1.f : 0.f;
  } else {
    double sum = 0.0;
    if constexpr (K == SKind::Softmax) {
      for (int64_t i = 0; i < n; ++i) {
        y[i] = std::exp(x[i] - m);
        sum += y[i];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < n; ++i) y[i] *= inv;
    } else {
      for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
      // (x - m) - log(sum), not x - (m + log(sum)): the latter loses log(sum) next to a large m.
      const float ls = static_cast<float>(std::log(sum));
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
    }
  }
}

template <SKind K>
void softmax_strided(const float* x, float* y, int64_t n, int64_t inner, std::vector<float>& m,
                     std::vector<double>& sum) {
  // One [n, inner] block normalised along n: vectorised across `inner`.
  m.assign(static_cast<size_t>(inner), -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const float v = x[i * inner + j];
      m[static_cast<size_t>(j)] = v > m[static_cast<size_t>(j)] || std::isnan(v) ? v : m[static_cast<size_t>(j)];
    }
  if constexpr (K == SKind::Hardmax) {
    std::vector<uint8_t> done(static_cast<size_t>(inner), 0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const bool hit = !done[static_cast<size_t>(j)] && x[i * inner + j] == m[static_cast<size_t>(j)];
        if (hit) done[static_cast<size_t>(j)] = 1;
        y[i * inner + j] = hit ? 1.f : 0.f;
      }
  } else {
    sum.assign(static_cast<size_t>(inner), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const float e = std::exp(x[i * inner + j] - m[static_cast<size_t>(j)]);
        if constexpr (K == SKind::Softmax) y[i * inner + j] = e;
        sum[static_cast<size_t>(j)] += e;
      }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        if constexpr (K == SKind::Softmax)
          y[i * inner + j] *= static_cast<float>(1.0 / sum[static_cast<size_t>(j)]);
        else
          y[i * inner + j] = (x[i * inner + j] - m[static_cast<size_t>(j)]) -
                             static_cast<float>(std::log(sum[static_cast<size_t>(j)]));
      }
  }
}

template <SKind K>
void add_softmax(CpuOpTable& t, const char* name) {
  CpuOp op;
  op.check = check_dtype(kFloat);
  op.plan = [name](const NodeContext& ctx) -> std::unique_ptr<Kernel> {
    const SoftmaxGeometry g = softmax_geometry(ctx.node, ctx.opset, ctx.inputs.at(0).shape);
    const int64_t outer = g.outer, n = g.len, inner = g.inner;
    // oneDNN only for the contiguous last-axis case: its strided-axis softmax is a slow
    // reference kernel (40x slower than softmax_strided below, measured).
    if constexpr (K != SKind::Hardmax) {
      if (FloatFn fn = inner == 1 ? dnnl_softmax(outer, n, inner, K == SKind::LogSoftmax) : FloatFn{}) {
        return make_kernel([fn, name](std::span<const TensorView> in, std::span<const TensorView> out) {
          if (in[0].dtype != DType::Float32) bad_dtype(in[0].dtype, name);
          fn(in_ptr<float>(in[0]), out_ptr<float>(out[0]));
        });
      }
    }
    return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> out) {
      if (in[0].dtype != DType::Float32) bad_dtype(in[0].dtype, name);
      const float* x = in_ptr<float>(in[0]);
      float* y = out_ptr<float>(out[0]);
      const bool par = outer * n * inner > kParallelMin && outer > 1;
      if (inner == 1) {
#pragma omp parallel for schedule(static) if (par)
        for (int64_t o = 0; o < outer; ++o) softmax_rows<K>(x + o * n, y + o * n, n);
      } else {
#pragma omp parallel if (par)
        {
          std::vector<float> m;
          std::vector<double> sum;
#pragma omp for schedule(static)
          for (int64_t o = 0; o < outer; ++o)
            softmax_strided<K>(x + o * n * inner, y + o * n * inner, n, inner, m, sum);
        }
      }
    });
  };
  t[name] = std::move(op);
}

}  // namespace

void register_reduce_ops(CpuOpTable& t) {
  add_reduce<RKind::Sum>(t, "ReduceSum", 13);
  add_reduce<RKind::Mean>(t, "ReduceMean", 18);
  add_reduce<RKind::Max>(t, "ReduceMax", 18);
  add_reduce<RKind::Min>(t, "ReduceMin", 18);
  add_reduce<RKind::Prod>(t, "ReduceProd", 18);
  add_reduce<RKind::L1>(t, "ReduceL1", 18);
  add_reduce<RKind::L2>(t, "ReduceL2", 18);
  add_reduce<RKind::SumSquare>(t, "ReduceSumSquare", 18);
  add_reduce<RKind::LogSum>(t, "ReduceLogSum", 18);
  add_reduce<RKind::LogSumExp>(t, "ReduceLogSumExp", 18);
  add_arg<true>(t, "ArgMax");
  add_arg<false>(t, "ArgMin");
  add_softmax<SKind::Softmax>(t, "Softmax");
  add_softmax<SKind::LogSoftmax>(t, "LogSoftmax");
  add_softmax<SKind::Hardmax>(t, "Hardmax");
}

}  // namespace netlens::cpu::ew
