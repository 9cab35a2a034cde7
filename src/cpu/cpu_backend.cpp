// The CPU backend core: op table lookup, the float16/bfloat16/float64 → float32 compute wrappers
// (whole tensors through a per-thread scratch; large float16 elementwise ops chunk by chunk), host memory.
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/cpu/fused_chain.hpp"
#include "netlens/cpu/half_convert.hpp"
#include "netlens/cpu.hpp"
#include "nn_common.hpp"
#include "sgemm_warmup.hpp"
#include "stream_store.hpp"

namespace netlens::cpu {

namespace {

bool needs_f32(DType t) { return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float64; }

void to_f32(const TensorView& src, float* dst) {
  const int64_t n = src.numel();
  switch (src.dtype) {
    case DType::Float16: half_to_float_n(static_cast<const uint16_t*>(src.data), dst, n); break;
    case DType::BFloat16: {
      const uint16_t* s = static_cast<const uint16_t*>(src.data);
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16_to_float(s[i]);
      break;
    }
    case DType::Float64: {
      const double* s = static_cast<const double*>(src.data);
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      break;
    }
    default: break;
  }
}

void from_f32(const float* src, const TensorView& dst) {
  const int64_t n = dst.numel();
  switch (dst.dtype) {
    case DType::Float16: float_to_half_n(src, static_cast<uint16_t*>(dst.data), n); break;
    case DType::BFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst.data);
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) d[i] = float_to_bfloat16(src[i]);
      break;
    }
    case DType::Float64: {
      double* d = static_cast<double*>(dst.data);
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) d[i] = src[i];
      break;
    }
    default: break;
  }
}

// The pages of [p, p + bytes) committed now by this thread (Backend::prefault). The arena is faulted
// in by the first run otherwise, from the kernels' parallel loops: two threads writing pieces of
// the same transparent huge page fault it concurrently, which stalled first runs on this 2-core VM
// (MobileNetV2, two threads: 60-90 ms in 6 of 10 first runs against 12-16 ms; 52 MiB written one
// huge page per thread took 5-7 ms, interleaved in 64 KiB pieces 45-73 ms).
void prefault_pages(void* p, size_t bytes) {
  constexpr uintptr_t kPage = 4096;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes + kPage - 1) & ~(kPage - 1);
  if (hi <= lo) return;
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14
#endif
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE) == 0 || errno != EINVAL) return;
  // An older kernel: a write per page, of the byte already there.
  for (uintptr_t a = std::max(lo, reinterpret_cast<uintptr_t>(p)); a < reinterpret_cast<uintptr_t>(p) + bytes; a = (a + kPage) & ~(kPage - 1)) {
    volatile char* c = reinterpret_cast<volatile char*>(a);
    *c = *c;
  }
}

// Float32 scratch of the wrappers below, shared by every wrapped kernel that runs on this thread.
// Each wrapper used to keep its own buffers for the session's life, i.e. a float32 copy of every
// converted activation: ResNet-50 in float16 peaked at 944 MiB of RSS against 654 MiB in float32.
// A graph's kernels run one after the other on the calling thread; a kernel that runs a subgraph
// (Loop, If, Scan) may re-enter a wrapper, so each nesting level has its own buffers (a deque:
// growing it never moves a level an outer call is using). Peak = the largest op's converted tensors.
class ScratchLease {
 public:
  ScratchLease() : level_(depth()++) {
    if (levels().size() <= level_) levels().resize(level_ + 1);
  }
  ~ScratchLease() { --depth(); }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  // Buffer i of this level, at least n floats (contents unspecified). Aligned and paged like the
  // activation arena (allocate() below), so that the float32 kernels see the same kind of memory
  // whether the model is float32 or float16.
  float* get(size_t i, int64_t n) {
    auto& bufs = levels()[level_];
    if (bufs.size() <= i) bufs.resize(i + 1);
    Buf& b = bufs[i];
    const size_t bytes = static_cast<size_t>(n) * sizeof(float);
    if (b.bytes < bytes) {
      constexpr size_t kHuge = size_t{2} << 20;
      const size_t align = bytes >= kHuge ? kHuge : 256;
      const size_t cap = (bytes + align - 1) / align * align;
      void* p = std::aligned_alloc(align, cap == 0 ? align : cap);
      if (!p) throw Error(ErrorKind::Memory, "out of host memory allocating " + std::to_string(bytes) + " bytes of float32 scratch");
      if (align == kHuge) {
        madvise(p, cap, MADV_HUGEPAGE);
        prefault_pages(p, cap);  // the wrapped kernel writes it from its parallel loops
      }
      b.p.reset(static_cast<float*>(p));
      b.bytes = cap;
    }
    return b.p.get();
  }

 private:
  struct Free { void operator()(float* p) const { std::free(p); } };
  struct Buf {
    std::unique_ptr<float, Free> p;
    size_t bytes = 0;
  };
  static size_t& depth() { thread_local size_t d = 0; return d; }
  static std::deque<std::vector<Buf>>& levels() {
    thread_local std::deque<std::vector<Buf>> l;
    return l;
  }
  size_t level_;

 public:
  // Frees this thread's buffers unless a wrapper on it is running.
  static void release() {
    if (depth() == 0) levels().clear();
  }
};

// Runs a float32 kernel on non-float32 float tensors: converts those inputs into scratch buffers,
// runs, converts those outputs back. Other dtypes (integers, bool, float32) pass through untouched.
class Float32Wrapper final : public Kernel {
 public:
  Float32Wrapper(std::unique_ptr<Kernel> inner, std::vector<Tensor> converted_consts)
      : inner_(std::move(inner)), keep_(std::move(converted_consts)) {}
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    std::vector<TensorView> vin(in.begin(), in.end()), vout(out.begin(), out.end());
    ScratchLease scratch;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].data || !needs_f32(in[i].dtype)) continue;
      float* buf = scratch.get(i, in[i].numel());
      to_f32(in[i], buf);
      vin[i] = TensorView{DType::Float32, in[i].shape, buf};
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (!out[i].data || !needs_f32(out[i].dtype)) continue;
      vout[i] = TensorView{DType::Float32, out[i].shape, scratch.get(in.size() + i, out[i].numel())};
    }
    {
      const StagingScope staging;  // the outputs are read back just below (stream_store.hpp)
      inner_->run(vin, vout);
    }
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].data && needs_f32(out[i].dtype)) from_f32(static_cast<const float*>(vout[i].data), out[i]);
  }

 private:
  std::unique_ptr<Kernel> inner_;
  std::vector<Tensor> keep_;  // float32 copies of constant inputs the inner kernel may point at
};

// Runs a float32 backward kernel on non-float32 float forward values: converts those inputs and
// outputs into scratch buffers first (gradients are float32 already).
class GradFloat32Wrapper final : public GradKernel {
 public:
  GradFloat32Wrapper(std::unique_ptr<GradKernel> inner, std::vector<Tensor> converted_consts)
      : inner_(std::move(inner)), keep_(std::move(converted_consts)) {}
  void run(const GradViews& v) override {
    std::vector<TensorView> vin(v.inputs.begin(), v.inputs.end()), vout(v.outputs.begin(), v.outputs.end());
    ScratchLease scratch;
    auto convert = [&](TensorView& t, size_t slot) {
      if (!t.data || !needs_f32(t.dtype)) return;
      float* buf = scratch.get(slot, t.numel());
      to_f32(t, buf);
      t = TensorView{DType::Float32, t.shape, buf};
    };
    for (size_t i = 0; i < vin.size(); ++i) convert(vin[i], i);
    for (size_t i = 0; i < vout.size(); ++i) convert(vout[i], vin.size() + i);
    inner_->run(GradViews{vin, vout, v.grad_outputs, v.grad_inputs});
  }

 private:
  std::unique_ptr<GradKernel> inner_;
  std::vector<Tensor> keep_;
};

// Float16 elementwise ops (Add, Mul, Clip...) on large tensors, a chunk of each input at a time:
// converting whole tensors around them (the Float32Wrapper) tripled their memory traffic — PP-OCRv4
// det in float16 spent 2-3x the float32 time in Mul/Add/Clip/Div. Each OpenMP thread converts a
// 16K-element chunk of every input into its own cache-resident buffers, runs a float32 kernel
// planned for that chunk (one per thread: kernels keep state), and converts the chunk of output
// back. The results are those of the whole-tensor float32 kernel, element by element. Only for ops
// whose inputs all have the output's shape or a single element (broadcast scalars); the inner
// kernels run inside the parallel region, so their own OpenMP loops run on one thread.
class ChunkedHalfElementwise final : public Kernel {
 public:
  static constexpr int64_t kChunk = 65536;
  using Planner = std::function<std::unique_ptr<Kernel>(const NodeContext&)>;

  // ctx: the op as planned (float16 output); returns nullptr when the op does not qualify.
  static std::unique_ptr<Kernel> make(const NodeContext& ctx, const Planner& plan) {
    static const std::set<std::string> ops = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Relu", "Clip", "Sigmoid",
                                              "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "Neg", "Abs", "Sqrt",
                                              "Exp", "Erf", "Elu", "Softplus"};
    // NETLENS_FP16_CHUNKED=0: the whole-tensor wrapper instead (to measure the difference).
    static const bool on = [] {
      const char* v = std::getenv("NETLENS_FP16_CHUNKED");
      return !(v && std::string(v) == "0");
    }();
    if (!on || !ctx.node.domain.empty() || !ops.count(ctx.node.op_type) || ctx.outputs.size() != 1) return nullptr;
    const TensorInfo& y = ctx.outputs[0];
    const int64_t n = numel(y.shape);
    if (y.dtype != DType::Float16 || n < 4 * kChunk) return nullptr;
    auto self = std::unique_ptr<ChunkedHalfElementwise>(new ChunkedHalfElementwise());
    self->n_ = n;
    NodeContext c{ctx.node, ctx.opset, ctx.inputs, ctx.outputs, ctx.const_inputs};
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      TensorInfo& t = c.inputs[i];
      if (t.dtype == DType::Undefined) {
        self->kind_.push_back(Absent);
        continue;
      }
      if (t.dtype != DType::Float16 && t.dtype != DType::Float32) return nullptr;
      if (t.shape == y.shape) {
        self->kind_.push_back(t.dtype == DType::Float16 ? ChunkHalf : ChunkFloat);
      } else if (numel(t.shape) == 1) {
        self->kind_.push_back(Scalar);
        if (ctx.const_inputs[i]) {
          self->keep_.push_back(Tensor::from_f32({1}, {static_cast<float>(ctx.const_inputs[i]->get_f64(0))}));
          c.const_inputs[i] = &self->keep_.back();
        }
      } else {
        return nullptr;  // a real broadcast: the whole-tensor wrapper
      }
      t.dtype = DType::Float32;
    }
    c.outputs[0].dtype = DType::Float32;
    auto with_len = [&](int64_t len) {
      NodeContext k = c;
      for (size_t i = 0; i < k.inputs.size(); ++i)
        if (self->kind_[i] == Scalar) k.inputs[i].shape = {1};
        else if (self->kind_[i] != Absent) k.inputs[i].shape = {len};
      k.outputs[0].shape = {len};
      return plan(k);
    };
    const int threads = std::max(1, omp_get_max_threads());
    for (int t = 0; t < threads; ++t) self->full_.push_back(with_len(kChunk));
    if (n % kChunk) self->tail_ = with_len(n % kChunk);
    return self;
  }

  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    // Scalars once per run; chunked inputs per chunk below.
    std::vector<float> scalar_store(in.size());
    for (size_t i = 0; i < in.size(); ++i)
      if (kind_[i] == Scalar) {
        if (in[i].dtype == DType::Float16) half_to_float_n(static_cast<const uint16_t*>(in[i].data), &scalar_store[i], 1);
        else scalar_store[i] = *static_cast<const float*>(in[i].data);
      }
    const int64_t chunks = (n_ + kChunk - 1) / kChunk;
    const int threads = static_cast<int>(full_.size());
    std::exception_ptr error;
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const StagingScope staging;  // each chunk's output is converted from `bo` at once
      thread_local std::vector<float> buf;
      buf.resize(static_cast<size_t>(kChunk) * (in.size() + 1));
      std::vector<TensorView> vin(in.size()), vout(1);
#pragma omp for schedule(static)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t b = c * kChunk, len = std::min(kChunk, n_ - b);
        for (size_t i = 0; i < in.size(); ++i) {
          float* bi = buf.data() + i * kChunk;
          switch (kind_[i]) {
            case Absent: vin[i] = in[i]; break;
            case Scalar: vin[i] = TensorView{DType::Float32, {1}, &scalar_store[i]}; break;
            case ChunkFloat: vin[i] = TensorView{DType::Float32, {len}, static_cast<float*>(in[i].data) + b}; break;
            case ChunkHalf:
              half_to_float_n(static_cast<const uint16_t*>(in[i].data) + b, bi, len);
              vin[i] = TensorView{DType::Float32, {len}, bi};
              break;
          }
        }
        float* bo = buf.data() + in.size() * kChunk;
        vout[0] = TensorView{DType::Float32, {len}, bo};
        try {
          (len == kChunk ? full_[static_cast<size_t>(t)] : tail_)->run(vin, vout);
        } catch (...) {
#pragma omp critical(netlens_chunked_half_error)
          if (!error) error = std::current_exception();
        }
        float_to_half_n(bo, static_cast<uint16_t*>(out[0].data) + b, len);
      }
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  enum Kind { Absent, Scalar, ChunkFloat, ChunkHalf };
  ChunkedHalfElementwise() = default;
  int64_t n_ = 0;
  std::vector<Kind> kind_;
  std::deque<Tensor> keep_;  // float32 copies of constant scalars (stable addresses)
  std::vector<std::unique_ptr<Kernel>> full_;  // one per OpenMP thread
  std::unique_ptr<Kernel> tail_;
};

class CpuBackend final : public Backend {
 public:
  // NETLENS_FUSE=0: no fused chains in any backend of the process (to measure the difference, or
  // to rule fusion out), as CpuBackendOptions::fuse = false does for one.
  explicit CpuBackend(const CpuBackendOptions& opts) : fuse_(opts.fuse && fusion_from_env()) {
    register_nn_ops(table_);
    register_elementwise_ops(table_);
    register_tensor_ops(table_);
    register_rnn_ops(table_);
    register_quant_ops(table_);
    register_quant_ms_ops(table_);
    register_nn_grads(grads_);
    register_elementwise_grads(grads_);
    register_tensor_grads(grads_);
  }
  ~CpuBackend() override { finish_sgemm_warmup(); }

  std::optional<std::string> backward_unsupported_reason(const NodeContext& ctx) const override {
    auto it = grads_.find(op_key(ctx.node.domain, ctx.node.op_type));
    if (it == grads_.end()) return "no gradient for " + ctx.node.op_type + " on the CPU";
    if (!it->second.check) return std::nullopt;
    std::vector<Tensor> keep;
    return it->second.check(any_converted(ctx) ? converted(ctx, keep) : ctx);
  }

  std::unique_ptr<GradKernel> plan_backward(const NodeContext& ctx, const std::vector<bool>& need) override {
    if (auto why = backward_unsupported_reason(ctx)) throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": " + *why);
    const CpuGrad& g = grads_.at(op_key(ctx.node.domain, ctx.node.op_type));
    if (!any_converted(ctx)) return g.plan(ctx, need);
    std::vector<Tensor> keep;
    NodeContext f32 = converted(ctx, keep);
    std::unique_ptr<GradKernel> inner = g.plan(f32, need);
    return std::make_unique<GradFloat32Wrapper>(std::move(inner), std::move(keep));
  }
  std::string name() const override { return "cpu"; }
  DeviceKind device() const override { return DeviceKind::Host; }

  std::optional<std::string> unsupported_reason(const NodeContext& ctx) const override {
    auto it = table_.find(op_key(ctx.node.domain, ctx.node.op_type));
    if (it == table_.end()) return "op " + ctx.node.op_type + " is not implemented on the CPU";
    if (!it->second.check) return std::nullopt;
    if (it->second.dtype_generic || !any_converted(ctx)) return it->second.check(ctx);
    std::vector<Tensor> keep;
    NodeContext f32 = converted(ctx, keep);
    return it->second.check(f32);
  }

  std::unique_ptr<Kernel> plan(const NodeContext& ctx) override {
    auto it = table_.find(op_key(ctx.node.domain, ctx.node.op_type));
    if (it == table_.end()) throw Error(ErrorKind::Unsupported, "op " + ctx.node.op_type + " is not implemented on the CPU");
    if (fuse_ && !any_converted(ctx)) {
      // Float32 nodes: convolutions and the scalar elementwise ops after them run as fused chains
      // (fused_chain.hpp). Nodes are planned in graph order; planning an earlier node again means
      // another prepare (or constant folding before it): the open chains are forgotten.
      std::lock_guard<std::mutex> lock(chain_mutex_);
      const Node* node = &ctx.node;
      if (!last_planned_ || !std::less<const Node*>()(last_planned_, node)) chains_.reset();
      last_planned_ = node;
      chains_.note_node(ctx);
      if (is_default_domain(ctx.node.domain) && ctx.node.op_type == "Conv") return nn::plan_conv_chained(ctx, chains_.conv_chain(ctx));
      if (is_default_domain(ctx.node.domain) && ctx.node.op_type == "MatMul")
        return nn::plan_matmul_chained(ctx, chains_.conv_chain(ctx));
      if (auto k = chains_.plan_step(ctx, [&](const NodeContext& c) { return it->second.plan(c); })) return k;
    }
    if (it->second.dtype_generic || !any_converted(ctx)) return it->second.plan(ctx);
    if (auto k = ChunkedHalfElementwise::make(ctx, [&](const NodeContext& c) { return it->second.plan(c); })) return k;
    std::vector<Tensor> keep;
    NodeContext f32 = converted(ctx, keep);
    std::unique_ptr<Kernel> inner = it->second.plan(f32);
    // Convolution kernels copy (pack) constant weights while planning and at run time read only the
    // views the wrapper converts, so the float32 copies need not outlive planning (ISNet float16:
    // 176 MB of them).
    if (is_default_domain(ctx.node.domain) && (ctx.node.op_type == "Conv" || ctx.node.op_type == "ConvTranspose"))
      keep.clear();
    return std::make_unique<Float32Wrapper>(std::move(inner), std::move(keep));
  }

  size_t available_memory() const override {
    std::ifstream f("/proc/meminfo");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("MemAvailable:", 0) == 0) {
        std::istringstream is(line.substr(13));
        size_t kb = 0;
        is >> kb;
        return kb * 1024;
      }
    }
    return SIZE_MAX;
  }
  DeviceBuffer allocate(size_t bytes) override {
    // Arenas hold every activation of a run (hundreds of MB): back large ones with transparent huge
    // pages, so that streaming through them is not dominated by TLB misses.
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t align = bytes >= kHuge ? kHuge : 256;
    const size_t n = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, n == 0 ? align : n);
    if (!p) throw Error(ErrorKind::Memory, "out of host memory allocating " + std::to_string(bytes) + " bytes");
    if (align == kHuge) madvise(p, n, MADV_HUGEPAGE);  // advisory: ignored where THP is off
    return DeviceBuffer(p, [](void* q) { std::free(q); });
  }
  void prefault(void* data, size_t bytes) override { prefault_pages(data, bytes); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override { if (bytes) std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { if (bytes) std::memcpy(dst, src, bytes); }
  void synchronize() override {}

 private:
  static bool any_converted(const NodeContext& ctx) {
    for (const auto& t : ctx.inputs) if (needs_f32(t.dtype)) return true;
    for (const auto& t : ctx.outputs) if (needs_f32(t.dtype)) return true;
    return false;
  }
  static NodeContext converted(const NodeContext& ctx, std::vector<Tensor>& keep) {
    NodeContext c{ctx.node, ctx.opset, ctx.inputs, ctx.outputs, ctx.const_inputs};
    keep.reserve(ctx.inputs.size());
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (!needs_f32(c.inputs[i].dtype)) continue;
      c.inputs[i].dtype = DType::Float32;
      if (c.const_inputs[i]) {
        const Tensor& w = *c.const_inputs[i];
        if (w.dtype() == DType::Float16) {  // weights: F16C (core's scalar cast took ~0.15 s on ResNet-50's)
          Tensor f(DType::Float32, w.shape());
          half_to_float_n(static_cast<const uint16_t*>(w.data()), f.data_as<float>(), w.numel());
          keep.push_back(std::move(f));
        } else {
          keep.push_back(w.cast(DType::Float32));
        }
        c.const_inputs[i] = &keep.back();
      }
    }
    for (auto& t : c.outputs)
      if (needs_f32(t.dtype)) t.dtype = DType::Float32;
    return c;
  }

  CpuOpTable table_;
  CpuGradTable grads_;
  std::mutex chain_mutex_;  // sessions on other threads may plan on this backend too
  static bool fusion_from_env() {
    const char* v = std::getenv("NETLENS_FUSE");
    return !(v && std::string(v) == "0");
  }
  const bool fuse_;
  ChainPlanner chains_;
  const Node* last_planned_ = nullptr;
};

class LambdaGradKernel final : public GradKernel {
 public:
  explicit LambdaGradKernel(GradFn fn) : fn_(std::move(fn)) {}
  void run(const GradViews& v) override { fn_(v); }

 private:
  GradFn fn_;
};

}  // namespace

std::unique_ptr<GradKernel> make_grad_kernel(GradFn fn) { return std::make_unique<LambdaGradKernel>(std::move(fn)); }

}  // namespace netlens::cpu

namespace netlens {
void release_cpu_thread_scratch() {
  cpu::nn::release_scratch();
  cpu::ScratchLease::release();
}

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& opts) { return std::make_unique<cpu::CpuBackend>(opts); }
}  // namespace netlens
