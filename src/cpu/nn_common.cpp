#include "nn_common.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace netlens::cpu::nn {

dnnl::engine& dnnl_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream s(dnnl_engine());
  return s;
}

dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

dnnl::memory::desc plain_desc(const Shape& s) {
  return dnnl::memory::desc(to_dims(s), dnnl::memory::data_type::f32, to_dims(strides_of(s)));
}

namespace {
struct ScratchSlot {
  void* p = nullptr;
  size_t size = 0;
  ~ScratchSlot() { std::free(p); }
};

ScratchSlot* thread_slots() {
  thread_local ScratchSlot slots[5];  // 4: oneDNN scratchpads (with_scratchpad)
  return slots;
}
}  // namespace

void release_scratch() {
  for (int i = 0; i < 5; ++i) {
    ScratchSlot& s = thread_slots()[i];
    std::free(s.p);
    s.p = nullptr;
    s.size = 0;
  }
}

void* scratch(int slot, size_t bytes) {
  ScratchSlot& s = thread_slots()[slot];
  if (s.size < bytes) {
    std::free(s.p);
    const size_t n = (bytes + 63) / 64 * 64;
    s.p = std::aligned_alloc(64, n);
    if (!s.p) {
      s.size = 0;
      throw Error(ErrorKind::Memory, "out of host memory allocating " + std::to_string(bytes) + " scratch bytes");
    }
    s.size = n;
  }
  return s.p;
}

dnnl::primitive_attr user_scratchpad(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::memory::desc scratchpad_desc(const dnnl::primitive& prim) {
  const dnnl_memory_desc_t* md = dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  return md ? dnnl::memory::desc(*md) : dnnl::memory::desc();
}

void with_scratchpad(std::unordered_map<int, dnnl::memory>& args, const dnnl::memory::desc& d) {
  const size_t bytes = d.get_size();
  if (bytes > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(d, dnnl_engine(), scratch(4, bytes)));
}

void rethrow_dnnl(const NodeContext& ctx, const dnnl::error& e, const char* what) {
  throw Error(ErrorKind::Unsupported,
              ctx.node.describe() + ": oneDNN cannot build the " + what + " primitive (" + e.what() + ")");
}

void require_f32(const NodeContext& ctx, size_t input) {
  if (input < ctx.inputs.size() && ctx.inputs[input].dtype != DType::Float32 &&
      ctx.inputs[input].dtype != DType::Undefined)
    throw Error(ErrorKind::Internal, ctx.node.describe() + ": input " + std::to_string(input) + " is " +
                                         std::string(dtype_name(ctx.inputs[input].dtype)) +
                                         ", the CPU kernel expects float32");
}

std::optional<ConvLayout> forced_conv_layout() {
  static const std::optional<ConvLayout> forced = []() -> std::optional<ConvLayout> {
    const char* v = std::getenv("NETLENS_CONV_LAYOUT");
    const std::string_view s = v ? v : "";
    if (s == "plain") return ConvLayout::Plain;
    if (s == "blocked") return ConvLayout::Blocked;
    return std::nullopt;
  }();
  return forced;
}

ConvLayout conv_layout(bool pointwise_dense) {
  return forced_conv_layout().value_or(pointwise_dense ? ConvLayout::Plain : ConvLayout::Blocked);
}

bool winograd_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NETLENS_CONV_WINOGRAD");
    return !(v && std::string_view(v) == "0");
  }();
  return on;
}

NETLENS_NN_CLONES void affine_row(const float* x, float* y, int64_t n, float a, float b) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b;
}

// Four independent vectors of 8 double sums (the former `omp simd` reduction had one, waiting on
// the add's latency); lanes are added in a fixed order, so the result is deterministic.
typedef double SumD8 __attribute__((vector_size(64)));
typedef float SumF8 __attribute__((vector_size(32), aligned(4), may_alias));
NETLENS_NN_CLONES double sum_row(const float* x, int64_t n) {
  SumD8 a0{}, a1{}, a2{}, a3{};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // 2 KiB ahead: GlobalAveragePool's input is often still in memory (the producing conv streams
    // large outputs past the cache), and the hardware prefetcher stops at each 4 KiB page.
    __builtin_prefetch(x + i + 512);
    __builtin_prefetch(x + i + 528);
    a0 += __builtin_convertvector(*reinterpret_cast<const SumF8*>(x + i), SumD8);
    a1 += __builtin_convertvector(*reinterpret_cast<const SumF8*>(x + i + 8), SumD8);
    a2 += __builtin_convertvector(*reinterpret_cast<const SumF8*>(x + i + 16), SumD8);
    a3 += __builtin_convertvector(*reinterpret_cast<const SumF8*>(x + i + 24), SumD8);
  }
  for (; i + 8 <= n; i += 8) a0 += __builtin_convertvector(*reinterpret_cast<const SumF8*>(x + i), SumD8);
  const SumD8 a = (a0 + a1) + (a2 + a3);
  double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (; i < n; ++i) s += x[i];
  return s;
}

NETLENS_NN_CLONES void row_stats(const float* x, int64_t n, double eps, double& mean, double& inv_std) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const double m = n > 0 ? s / static_cast<double>(n) : 0.0;
  double v = 0.0;
#pragma omp simd reduction(+ : v)
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - m;
    v += d * d;
  }
  mean = m;
  inv_std = 1.0 / std::sqrt((n > 0 ? v / static_cast<double>(n) : 0.0) + eps);
}

}  // namespace netlens::cpu::nn
