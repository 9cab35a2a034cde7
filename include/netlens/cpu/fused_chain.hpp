// Elementwise chains run in one pass while every intermediate is still written to the activation
// store: a convolution (or the first elementwise op) computes its output and, in the same loop,
// every scalar elementwise op that follows it (ReLU6's Clip, PP-OCR's decomposed hard-swish
// Add/Clip/Mul/Div, folded-BN Mul/Add by scalars, EfficientNet's swish Sigmoid then Mul, a
// transformer's GELU Div/Erf/Add/Mul/Mul), writing
// each op's output tensor once, while the values are still in cache. The later ops' kernels then find their outputs computed and return.
//
// Contract (all of it internal to the CPU backend):
// - Planning (CpuBackend::plan, nodes in graph order): a Conv output or the first fusable op's input
//   starts a Chain; a fusable op whose operands are values of one chain or scalar constants, with the
//   chain's full shape, becomes a step. Only float32 tensors; at most kMaxSteps steps. One operand
//   may instead be an external tensor (ResNet's residual Add: the skip branch) of the full shape,
//   if a node planned before the chain's executor produced it: nodes run in the order they are
//   planned, so the executor finds its value of this run in place.
// - Every step records the addresses of its tensors (record): when the session binds its kernels
//   to their arena slots after planning (Kernel::bind), else the first time it runs (unfused).
//   From then on the executor (the Conv kernel, or the elementwise op that started the chain)
//   computes the whole chain (ready/apply/finish) when the
//   recorded addresses form the chain (each operand of a step is the output another step recorded, or
//   the head), and each step's kernel skips exactly when the executor computed its output this run
//   with the addresses it sees now (take). Otherwise everything runs as separate ops. The results are
//   the separate ops' results, bit for bit: each step is the same float expression.
// - A session runs its kernels on one thread at a time; a chain belongs to one session's kernels
//   (addresses of two sessions' arenas never coincide while both exist), so nothing here is atomic.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::cpu {

struct ChainStep {
  // Sigmoid, Erf: the shared vectorised functions of the Sigmoid and Erf kernels
  // (src/cpu/elementwise_sigmoid.hpp, elementwise_erf.hpp).
  enum class Op { Add, Sub, Mul, Div, Clip, Relu, Sigmoid, Erf };
  Op op = Op::Relu;
  // Operands: a chain value (0 = head, k + 1 = output of step k), an external tensor (ext >= 0:
  // its index among the chain's externals), a constant row (row: row_len floats repeated along the
  // last axis, a MatMul's bias), or, with all of these unset, the scalar.
  struct Operand {
    int value = -1;
    float scalar = 0.f;
    int ext = -1;
    const float* row = nullptr;  // a constant of the session (outlives the chain's runs)
    int64_t row_len = 0;
  };
  Operand a, b;  // b unused by Clip, Relu, Sigmoid and Erf
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();  // Clip
  // Which kernel inputs carry chain values a and b (-1: a constant), for the address checks.
  int a_input = -1, b_input = -1;
};

// The steps over [off, off + len) of values[] (values[0] = head, values[k + 1] = step k's output),
// at most Chain::kMaxSteps of them; externals[e]: external operand e (whole tensors, indexed like
// the values). `stream`: write the outputs with non-temporal stores (large tensors). Exposed for
// tests; the same float expressions as the separate kernels of ops_elementwise.cpp.
// head_src (optional): the head's values over the range (head_src[i - off]), still in cache where
// the executor computed them: the steps read them there and the head is written to values[0] with
// the outputs (streamed too), so a large head is neither read back nor read for ownership.
// unstored: bit k set = step k's output is computed (later steps read it) but not written to values[k + 1]
// (a deferred chain value, runtime.hpp).
void apply_chain_steps(std::span<const ChainStep> steps, float* const* values, int64_t off, int64_t len,
                       bool stream = false, const float* const* externals = nullptr, const float* head_src = nullptr,
                       uint32_t unstored = 0);
// y[i] = c(x[i]) for i < n (the Clip kernel's expression, vectorised): kernels that read a deferred
// clamp's input (Kernel::read_clamped) clamp it with this while copying it into their buffers.
void clamp_floats(const float* x, float* y, int64_t n, Clamp c);
// Orders this thread's streamed stores before whatever it does next. Each thread that applied a chain
// calls it once after its last apply of a run, before the parallel region ends (a fence per apply
// waited for every piece to reach memory: MobileNetV2's fused pointwise convs took 2-3x longer).
void chain_store_fence();

class Chain {
 public:
  static constexpr size_t kMaxSteps = 16;
  // head_is_executor_output: the head is written by the executor (a Conv), so every step is a
  // skipping member; otherwise step 0 is the executor's own op and the head its input.
  // numel: elements of every value (large ones are written with non-temporal stores).
  Chain(bool head_is_executor_output, int64_t numel);

  // Plan time. `opened_at`: the planner's sequence number of the executor's node.
  size_t add_step(const ChainStep& s);
  int add_external() { ext_.push_back(nullptr); return static_cast<int>(ext_.size()) - 1; }
  void set_opened_at(uint64_t seq) { opened_at_ = seq; }
  uint64_t opened_at() const { return opened_at_; }
  const std::vector<ChainStep>& steps() const { return steps_; }
  size_t first_member() const { return conv_ ? 0 : 1; }
  // Plan time, after every step was added: the last step, a Clip or Relu member, is no longer
  // computed (its output is a deferred clamp, runtime.hpp); false for any other step.
  bool defer_step(size_t k);
  // Plan time: step k's output (value k + 1) is no longer stored where the chain runs fused (a
  // deferred chain value, runtime.hpp); false when k is not a computed step.
  bool unstore_step(size_t k);
  // Whether step `step` reads value v through its kernel input `input`.
  bool reads_value(size_t step, size_t input, int v) const;
  // Writes step k's output from the head and the externals the last fused run used (nothing when the
  // chain never ran fused: the step's kernel wrote it). One thread; not during a run of the chain.
  void write_step(size_t k) const;

  // Run time, executor. ready(): every step recorded, addresses consistent with `head`, and at least
  // one member to skip; then apply() ranges (thread-safe for disjoint ranges) and finish(true).
  bool ready(const float* head);
  void apply(int64_t off, int64_t len) const {
    apply_chain_steps(live(), values_.data(), off, len, stream_, ext_.data(), nullptr, unstored_);
  }
  // Also writes the head over the range from `head` (the executor's values in cache); for
  // executors that would otherwise store a large head with normal stores and read it back.
  void apply_from(const float* head, int64_t off, int64_t len) const {
    apply_chain_steps(live(), values_.data(), off, len, stream_, ext_.data(), head, unstored_);
  }
  // As apply_from, with normal stores even when the chain streams: for executors whose tensors are
  // small enough to stay in cache for the next node (streaming sends them to memory).
  void apply_from_cached(const float* head, int64_t off, int64_t len) const {
    apply_chain_steps(live(), values_.data(), off, len, false, ext_.data(), head, unstored_);
  }
  // apply() over the whole tensor [0, numel) in 16K-element pieces on the OpenMP threads (each
  // fences its streamed stores): for executors whose output is complete before the steps run.
  void apply_all() const;
  // Hints the external operands' values over [off, off + len) into the cache (software prefetch):
  // executors that apply the chain to short pieces of many rows (a tile's rows) read the externals
  // in as many separate streams, more than the hardware prefetcher follows; they call this a few
  // rows ahead. No effect on results.
  void prefetch_externals(int64_t off, int64_t len) const {
    for (const float* e : ext_)
      for (int64_t i = 0; i < len; i += 16) __builtin_prefetch(e + off + i, 0, 3);
  }
  // The outputs are written with non-temporal stores (large tensors): executors use apply_from.
  bool streams() const { return stream_; }
  bool has_externals() const { return !ext_.empty(); }
  // A chain a kernel can compute in its registers (the 1x1 kernel's PointwiseEpilogue): step 0 an
  // Add of the head and the one external operand (value 1), then at most a Relu or Clip of value 1
  // (value 2). Run time, after ready(): where to write each value (nullptr: not stored, i.e. an
  // unstored value 1, or no computed value 2), the skip tensor, and the clamp (Relu: {0, +inf});
  // nullopt for any other chain. The executor then calls finish() as after apply().
  struct Residual {
    const float* skip = nullptr;
    float* sum = nullptr;
    float* out = nullptr;
    Clamp clamp{0.f, 0.f};
  };
  std::optional<Residual> residual() const;
  void finish(bool fused);
  // Run time, step k's kernel: take() is true when the executor computed this step in this run with
  // these addresses (the kernel then returns); record() after running it unfused. A step that cannot
  // take its output un-takes every later one (they were computed from what this step saw).
  bool take(size_t k, std::span<const TensorView> in, std::span<const TensorView> out);
  void record(size_t k, std::span<const TensorView> in, std::span<const TensorView> out);

 private:
  struct Seen {
    bool recorded = false;
    const void* a = nullptr;
    const void* b = nullptr;
    void* out = nullptr;
  };
  // The steps computed: all but a deferred last one.
  std::span<const ChainStep> live() const { return std::span(steps_).first(steps_.size() - (deferred_ ? 1 : 0)); }
  bool conv_;
  bool stream_;
  int64_t numel_;
  bool deferred_ = false;
  uint32_t unstored_ = 0;     // unstore_step
  bool has_values_ = false;   // values_ and ext_ hold a fused run's addresses
  std::vector<ChainStep> steps_;
  std::vector<Seen> seen_;
  std::vector<float*> values_;  // head, then each step's output (valid while ready)
  std::vector<const float*> ext_;  // external operands (valid while ready)
  uint64_t opened_at_ = 0;
  std::vector<bool> fresh_;     // step computed by the executor in this run, not yet taken
};

// Steps whose kernels found their output computed by the executor, since the process started
// (all chains; for tests and measurements).
uint64_t chain_steps_taken();

// A step's kernel: skips when the executor computed it, else runs `inner` and records.
std::unique_ptr<Kernel> chain_member(std::shared_ptr<Chain> chain, size_t step, std::unique_ptr<Kernel> inner);
// The kernel of step 0 of a chain without a Conv: computes every step when ready, else `inner`.
std::unique_ptr<Kernel> chain_executor(std::shared_ptr<Chain> chain, std::unique_ptr<Kernel> inner);

// Plan-time bookkeeping of the backend: which tensors are values of which open chain.
class ChainPlanner {
 public:
  // Called for every float32 node the backend plans, in graph order. For a Conv: returns the chain
  // its kernel should execute (or nullptr) via conv_chain(). For a fusable op: wraps the kernel.
  std::shared_ptr<Chain> conv_chain(const NodeContext& ctx);
  // Returns the kernel to use for a fusable elementwise node (inner planned by `plan`), or nullptr
  // when the node is not fusable.
  std::unique_ptr<Kernel> plan_step(const NodeContext& ctx, const std::function<std::unique_ptr<Kernel>(const NodeContext&)>& plan);
  // Every node the backend plans, in graph order, before conv_chain/plan_step: numbers it and notes
  // which tensors it produces (external operands must come from nodes planned before the executor).
  void note_node(const NodeContext& ctx);
  // Forget every open chain (a new graph is being planned).
  void reset() {
    values_.clear();
    produced_at_.clear();
  }

 private:
  struct Value {
    std::shared_ptr<Chain> chain;
    int index;
    Shape shape;
  };
  std::map<std::string, Value> values_;
  std::map<std::string, uint64_t> produced_at_;
  uint64_t seq_ = 0;
};

}  // namespace netlens::cpu
