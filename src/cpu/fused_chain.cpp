// Fused elementwise chains (fused_chain.hpp): plan-time linking, the run-time address handshake and
// the one-pass step loop.
#if defined(__GNUC__) && !defined(__clang__)
// As in ops_elementwise.cpp: lets GCC vectorise the Clip/Relu selects (no code reads FP flags).
#pragma GCC optimize("no-trapping-math")
#endif
#include "netlens/cpu/fused_chain.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <cstdlib>
#include <string>

#include "elementwise_erf.hpp"
#include "elementwise_sigmoid.hpp"
#include "stream_store.hpp"

namespace netlens::cpu {

namespace {

using Op = ChainStep::Op;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define NETLENS_CHAIN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NETLENS_CHAIN_CLONES
#endif

// One step over m elements. x/y: operand arrays or nullptr for the scalars sa/sb.
NETLENS_CHAIN_CLONES
void step_block(const ChainStep& s, const float* x, float sa, const float* y, float sb, float* o, int64_t m) {
  switch (s.op) {
    case Op::Relu:
      // As the Relu kernel: x < 0 ? 0 : x (NaN stays NaN).
      for (int64_t i = 0; i < m; ++i) o[i] = x[i] < 0.f ? 0.f : x[i];
      return;
    case Op::Clip: {
      const float lo = s.lo, hi = s.hi;
      for (int64_t i = 0; i < m; ++i) {
        const float v = x[i] < lo ? lo : x[i];
        o[i] = v > hi ? hi : v;
      }
      return;
    }
    case Op::Sigmoid:
      // The Sigmoid kernel's own function (bits independent of the range split).
      ew::sigmoid_floats(x, o, m);
      return;
    case Op::Erf:
      ew::erf_floats(x, o, m);  // as the Erf kernel
      return;
    default: break;
  }
#define NETLENS_CHAIN_BINARY(EXPR)                                                  \
  if (x && y) {                                                                     \
    for (int64_t i = 0; i < m; ++i) { const float a = x[i], b = y[i]; o[i] = EXPR; } \
  } else if (x) {                                                                   \
    const float b = sb;                                                             \
    for (int64_t i = 0; i < m; ++i) { const float a = x[i]; o[i] = EXPR; }         \
  } else {                                                                          \
    const float a = sa;                                                             \
    for (int64_t i = 0; i < m; ++i) { const float b = y[i]; o[i] = EXPR; }         \
  }
  switch (s.op) {
    case Op::Add: NETLENS_CHAIN_BINARY(a + b) break;
    case Op::Sub: NETLENS_CHAIN_BINARY(a - b) break;
    case Op::Mul: NETLENS_CHAIN_BINARY(a * b) break;
    case Op::Div: NETLENS_CHAIN_BINARY(a / b) break;
    default: break;
  }
#undef NETLENS_CHAIN_BINARY
}

const void* in_data(std::span<const TensorView> in, int i) {
  return i >= 0 && static_cast<size_t>(i) < in.size() ? in[static_cast<size_t>(i)].data : nullptr;
}

std::atomic<uint64_t> g_taken{0};

// Deferred chain values (runtime.hpp): the step's output stops being stored; the store writes it
// with write_step when read.
std::function<void()> unstore(const std::shared_ptr<Chain>& chain, size_t step) {
  if (!chain->unstore_step(step)) return {};
  return [chain, step] { chain->write_step(step); };
}

bool reads_from(const Chain& chain, size_t step, size_t input, const Kernel& producer);

class ChainMember final : public Kernel {
 public:
  ChainMember(std::shared_ptr<Chain> chain, size_t step, std::unique_ptr<Kernel> inner)
      : chain_(std::move(chain)), step_(step), inner_(std::move(inner)) {}
  bool defer_output() override { return chain_->defer_step(step_); }
  bool reads_in_chain(size_t input, const Kernel& producer) const override { return reads_from(*chain_, step_, input, producer); }
  std::function<void()> defer_in_chain() override { return unstore(chain_, step_); }
  const Chain* chain() const { return chain_.get(); }
  size_t step() const { return step_; }
  void bind(std::span<const TensorView> in, std::span<const TensorView> out) override { chain_->record(step_, in, out); }
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    if (chain_->take(step_, in, out)) {
      g_taken.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    inner_->run(in, out);
    chain_->record(step_, in, out);
  }

 private:
  std::shared_ptr<Chain> chain_;
  size_t step_;
  std::unique_ptr<Kernel> inner_;
};

class ChainExecutor final : public Kernel {
 public:
  ChainExecutor(std::shared_ptr<Chain> chain, std::unique_ptr<Kernel> inner)
      : chain_(std::move(chain)), inner_(std::move(inner)) {}
  // Its own op is step 0 (value 1).
  std::function<void()> defer_in_chain() override { return unstore(chain_, 0); }
  const Chain* chain() const { return chain_.get(); }
  void bind(std::span<const TensorView> in, std::span<const TensorView> out) override { chain_->record(0, in, out); }
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    chain_->record(0, in, out);
    const ChainStep& s = chain_->steps().front();
    const int hi = s.a_input >= 0 ? s.a_input : s.b_input;
    if (!chain_->ready(static_cast<const float*>(in_data(in, hi)))) {
      inner_->run(in, out);
      chain_->finish(false);
      return;
    }
    chain_->apply_all();
    chain_->finish(true);
  }

 private:
  std::shared_ptr<Chain> chain_;
  std::unique_ptr<Kernel> inner_;
};

// Whether `step` of `chain` reads the value that `producer` (a step kernel of the same chain) outputs.
bool reads_from(const Chain& chain, size_t step, size_t input, const Kernel& producer) {
  if (const auto* m = dynamic_cast<const ChainMember*>(&producer))
    return m->chain() == &chain && m->step() < step && chain.reads_value(step, input, static_cast<int>(m->step()) + 1);
  if (const auto* e = dynamic_cast<const ChainExecutor*>(&producer))
    return e->chain() == &chain && step > 0 && chain.reads_value(step, input, 1);
  return false;
}

}  // namespace


void apply_chain_steps(std::span<const ChainStep> steps, float* const* values, int64_t off, int64_t len, bool stream,
                       const float* const* externals, const float* head_src, uint32_t unstored) {
  // Blocks of 512 elements, of 128 for chains of 3 or more steps. Streamed: each step's block is
  // computed into a buffer on the stack (the later steps read it there), then streamed to its
  // tensor. A long chain's burst of stores (GELU's five outputs: 10 KiB a 512 block) stalled the
  // arithmetic; in 128 blocks the stores of one block overlap the next block's arithmetic
  // (ViT-B/16's 12 GELU chains, one thread: 13.2 -> 10.9 ms a run; 64: 14.3 ms). Conv chains of
  // one or two steps measured even or slightly better with 512 (MobileNetV2, ResNet-50).
  constexpr int64_t kBlock = 512;
  alignas(64) float tmp[Chain::kMaxSteps][kBlock];
  alignas(64) float rows[kBlock];  // a row operand over the block (a step has at most one)
  const size_t n = std::min(steps.size(), Chain::kMaxSteps);
  const int64_t block = n >= 3 ? 128 : kBlock;
  for (int64_t b = off; b < off + len; b += block) {
    const int64_t m = std::min(block, off + len - b);
    // The row operand's values at elements b .. b + m (the row repeated along the last axis).
    auto row = [&](const ChainStep::Operand& o) -> const float* {
      for (int64_t i = 0, c = b % o.row_len; i < m;) {
        const int64_t take = std::min(m - i, o.row_len - c);
        std::memcpy(rows + i, o.row + c, static_cast<size_t>(take) * sizeof(float));
        i += take;
        c = 0;
      }
      return rows;
    };
    if (!stream) {
      // Straight into the tensors (unstored values into the stack buffer); later steps read the
      // block back from L1.
      if (head_src) std::memcpy(values[0] + b, head_src + (b - off), static_cast<size_t>(m) * sizeof(float));
      auto at = [&](const ChainStep::Operand& o) -> const float* {
        if (o.ext >= 0) return externals[o.ext] + b;
        if (o.row) return row(o);
        if (o.value < 0) return nullptr;
        return o.value > 0 && (unstored >> (o.value - 1) & 1) ? tmp[o.value - 1] : values[o.value] + b;
      };
      for (size_t k = 0; k < n; ++k) {
        const ChainStep& s = steps[k];
        step_block(s, at(s.a), s.a.scalar, at(s.b), s.b.scalar, (unstored >> k & 1) ? tmp[k] : values[k + 1] + b, m);
      }
      continue;
    }
    auto operand = [&](const ChainStep::Operand& o) -> const float* {
      if (o.ext >= 0) return externals[o.ext] + b;
      if (o.row) return row(o);
      if (o.value == 0) return head_src ? head_src + (b - off) : values[0] + b;
      return o.value < 0 ? nullptr : tmp[o.value - 1];
    };
    for (size_t k = 0; k < n; ++k) {
      const ChainStep& s = steps[k];
      step_block(s, operand(s.a), s.a.scalar, operand(s.b), s.b.scalar, tmp[k], m);
    }
    // Non-temporal, whole lines only (stream_store.hpp): the pieces of rows and planes that tiles
    // and planes hand in start anywhere.
    const size_t bytes = static_cast<size_t>(m) * sizeof(float);
    if (head_src) stream_copy_bytes(values[0] + b, head_src + (b - off), bytes);
    for (size_t k = 0; k < n; ++k)
      if (!(unstored >> k & 1)) stream_copy_bytes(values[k + 1] + b, tmp[k], bytes);
  }
}

void chain_store_fence() { stream_fence(); }

NETLENS_CHAIN_CLONES
void clamp_floats(const float* x, float* y, int64_t n, Clamp c) {
  for (int64_t i = 0; i < n; ++i) y[i] = c(x[i]);
}

namespace {
bool stream_default(int64_t numel) {
  // NETLENS_CHAIN_STREAM=0|1 overrides (to measure). From 256 KiB on (PP-OCRv4 rec: 37-39 ms a run with normal stores, 29 ms streamed; MobileNetV2 no slower).
  static const int forced = [] {
    const char* v = std::getenv("NETLENS_CHAIN_STREAM");
    return v ? std::atoi(v) : -1;
  }();
  return forced >= 0 ? forced != 0 : numel * static_cast<int64_t>(sizeof(float)) >= (int64_t{256} << 10);
}
}  // namespace

Chain::Chain(bool head_is_executor_output, int64_t numel)
    : conv_(head_is_executor_output), stream_(stream_default(numel)), numel_(numel) {}

size_t Chain::add_step(const ChainStep& s) {
  steps_.push_back(s);
  seen_.emplace_back();
  fresh_.push_back(false);
  values_.assign(steps_.size() + 1, nullptr);
  return steps_.size() - 1;
}

void Chain::record(size_t k, std::span<const TensorView> in, std::span<const TensorView> out) {
  Seen& s = seen_.at(k);
  s.recorded = true;
  s.a = in_data(in, steps_[k].a_input);
  s.b = in_data(in, steps_[k].b_input);
  s.out = out.empty() ? nullptr : out[0].data;
}

bool Chain::defer_step(size_t k) {
  if (deferred_ || k + 1 != steps_.size() || k < first_member()) return false;
  if (steps_[k].op != Op::Clip && steps_[k].op != Op::Relu) return false;
  deferred_ = true;
  return true;
}

bool Chain::unstore_step(size_t k) {
  if (k >= live().size()) return false;
  unstored_ |= uint32_t{1} << k;
  return true;
}

bool Chain::reads_value(size_t step, size_t input, int v) const {
  if (step >= steps_.size()) return false;
  const ChainStep& s = steps_[step];
  return (s.a.value == v && s.a_input == static_cast<int>(input)) || (s.b.value == v && s.b_input == static_cast<int>(input));
}

void Chain::apply_all() const {
  constexpr int64_t kChunk = 16384;
  const int64_t n = numel_, chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel if (chunks > 1)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < chunks; ++i) apply(i * kChunk, std::min(kChunk, n - i * kChunk));
    chain_store_fence();
  }
}

void Chain::write_step(size_t k) const {
  if (!has_values_ || k >= live().size()) return;
  const uint32_t all = live().size() >= 32 ? ~uint32_t{0} : (uint32_t{1} << live().size()) - 1;
  apply_chain_steps(live(), values_.data(), 0, numel_, false, ext_.data(), nullptr, all & ~(uint32_t{1} << k));
}

bool Chain::ready(const float* head) {
  const size_t n = live().size();
  if (n < first_member() + 1 || !head) return false;
  values_[0] = const_cast<float*>(head);
  for (size_t k = 0; k < n; ++k) {
    const Seen& s = seen_[k];
    if (!s.recorded || !s.out) return false;
    const ChainStep& st = steps_[k];
    if (st.a.value >= 0 && s.a != values_[static_cast<size_t>(st.a.value)]) return false;
    if (st.b.value >= 0 && s.b != values_[static_cast<size_t>(st.b.value)]) return false;
    // External operands: where the step saw them (the arena does not move between runs; take()
    // checks it again).
    for (const auto* o : {&st.a, &st.b}) {
      if (o->ext < 0) continue;
      const void* at = o == &st.a ? s.a : s.b;
      if (!at) return false;
      ext_[static_cast<size_t>(o->ext)] = static_cast<const float*>(at);
    }
    values_[k + 1] = static_cast<float*>(s.out);
  }
  has_values_ = true;
  return true;
}

std::optional<Chain::Residual> Chain::residual() const {
  const std::span<const ChainStep> st = live();
  if (!conv_ || !has_values_ || st.empty() || st.size() > 2 || ext_.size() != 1) return std::nullopt;
  const ChainStep& add = st[0];
  const bool head_and_ext = (add.a.value == 0 && add.b.ext == 0) || (add.b.value == 0 && add.a.ext == 0);
  if (add.op != ChainStep::Op::Add || !head_and_ext) return std::nullopt;
  Residual r;
  r.skip = ext_[0];
  r.sum = (unstored_ & 1) ? nullptr : values_[1];
  if (st.size() == 2) {
    const ChainStep& c = st[1];
    if (c.a.value != 1 || (unstored_ >> 1 & 1)) return std::nullopt;
    if (c.op == ChainStep::Op::Relu) {
      r.clamp = {0.f, std::numeric_limits<float>::infinity()};
    } else if (c.op == ChainStep::Op::Clip) {
      r.clamp = {c.lo, c.hi};
    } else {
      return std::nullopt;
    }
    r.out = values_[2];
  }
  if (!r.sum && !r.out) return std::nullopt;
  return r;
}

void Chain::finish(bool fused) {
  for (size_t k = first_member(); k < live().size(); ++k) fresh_[k] = fused;
}

bool Chain::take(size_t k, std::span<const TensorView> in, std::span<const TensorView> out) {
  if (!fresh_.at(k)) return false;
  fresh_[k] = false;
  const Seen& s = seen_[k];
  const bool same = s.recorded && !out.empty() && out[0].data == s.out && in_data(in, steps_[k].a_input) == s.a &&
                    in_data(in, steps_[k].b_input) == s.b;
  if (!same) {
    // Every later step now runs on its own and reads its operands from memory: write the values
    // this fused run did not store.
    std::fill(fresh_.begin(), fresh_.end(), false);
    for (size_t j = 0; j < live().size(); ++j)
      if (unstored_ >> j & 1) write_step(j);
  }
  return same;
}

uint64_t chain_steps_taken() { return g_taken.load(std::memory_order_relaxed); }

std::unique_ptr<Kernel> chain_member(std::shared_ptr<Chain> chain, size_t step, std::unique_ptr<Kernel> inner) {
  return std::make_unique<ChainMember>(std::move(chain), step, std::move(inner));
}

std::unique_ptr<Kernel> chain_executor(std::shared_ptr<Chain> chain, std::unique_ptr<Kernel> inner) {
  return std::make_unique<ChainExecutor>(std::move(chain), std::move(inner));
}

// ---------------------------------------------------------------------------------------------
// Planning.

namespace {

bool all_f32(const NodeContext& ctx) {
  for (const auto& t : ctx.inputs)
    if (t.dtype != DType::Float32 && t.dtype != DType::Undefined) return false;
  for (const auto& t : ctx.outputs)
    if (t.dtype != DType::Float32) return false;
  return true;
}

// The scalar value of a constant one-element float32 input.
std::optional<float> const_scalar(const NodeContext& ctx, size_t i) {
  if (i >= ctx.const_inputs.size() || !ctx.const_inputs[i]) return std::nullopt;
  const Tensor& t = *ctx.const_inputs[i];
  if (t.dtype() != DType::Float32 || t.numel() != 1) return std::nullopt;
  return t.data_as<float>()[0];
}

// A constant float32 input of `shape.back()` values that broadcasts along the last axis of `shape`
// (every other dim 1; at least two elements: one is a scalar).
bool const_row(const NodeContext& ctx, size_t i, const Shape& shape) {
  if (i >= ctx.const_inputs.size() || !ctx.const_inputs[i] || shape.empty()) return false;
  const Tensor& t = *ctx.const_inputs[i];
  if (t.dtype() != DType::Float32 || t.numel() < 2 || t.numel() != shape.back() || t.shape().size() > shape.size()) return false;
  for (size_t d = 0; d + 1 < t.shape().size(); ++d)
    if (t.shape()[d] != 1) return false;
  return !t.shape().empty() && t.shape().back() == shape.back();
}

}  // namespace

std::shared_ptr<Chain> ChainPlanner::conv_chain(const NodeContext& ctx) {
  if (!all_f32(ctx) || ctx.outputs.size() != 1 || ctx.node.outputs.empty() ||
      (!ctx.const_inputs.empty() && ctx.const_inputs[0]))
    return nullptr;
  auto chain = std::make_shared<Chain>(true, numel(ctx.outputs[0].shape));
  chain->set_opened_at(seq_);
  values_[ctx.node.outputs[0]] = Value{chain, 0, ctx.outputs[0].shape};
  return chain;
}

void ChainPlanner::note_node(const NodeContext& ctx) {
  ++seq_;
  for (const auto& o : ctx.node.outputs)
    if (!o.empty()) produced_at_[o] = seq_;
}

std::unique_ptr<Kernel> ChainPlanner::plan_step(const NodeContext& ctx,
                                                const std::function<std::unique_ptr<Kernel>(const NodeContext&)>& plan) {
  const std::string& op = ctx.node.op_type;
  static const std::map<std::string, Op> ops = {{"Add", Op::Add}, {"Sub", Op::Sub}, {"Mul", Op::Mul},
                                                {"Div", Op::Div}, {"Clip", Op::Clip}, {"Relu", Op::Relu},
                                                {"Sigmoid", Op::Sigmoid}, {"Erf", Op::Erf}};
  auto it = ops.find(op);
  if (it == ops.end() || !is_default_domain(ctx.node.domain) || ctx.outputs.size() != 1 ||
      ctx.node.outputs.empty() || ctx.node.outputs[0].empty() || !all_f32(ctx))
    return nullptr;
  const Shape& shape = ctx.outputs[0].shape;
  ChainStep s;
  s.op = it->second;
  const bool binary = s.op != Op::Clip && s.op != Op::Relu && s.op != Op::Sigmoid && s.op != Op::Erf;
  if (binary && (ctx.inputs.size() != 2 || ctx.opset < 7)) return nullptr;  // legacy broadcast: not here
  if (!binary) {
    if (ctx.inputs.empty()) return nullptr;
    if (s.op == Op::Clip) {
      if (ctx.opset < 11) {
        s.lo = ctx.node.attr_float("min", -std::numeric_limits<float>::infinity());
        s.hi = ctx.node.attr_float("max", std::numeric_limits<float>::infinity());
      } else {
        for (size_t i = 1; i < ctx.inputs.size() && i < 3; ++i) {
          if (ctx.inputs[i].dtype == DType::Undefined) continue;
          const auto v = const_scalar(ctx, i);
          if (!v) return nullptr;  // bounds computed at run time
          (i == 1 ? s.lo : s.hi) = *v;
        }
      }
    } else if (ctx.inputs.size() != 1) {
      return nullptr;
    }
  }
  // Operands: values of one chain (the latest opened among them), scalar constants, constant rows
  // (a binary op's bias along the last axis), and at most one other tensor: an external operand of
  // that chain, or the head of a new one.
  std::shared_ptr<Chain> chain;
  const size_t operands = binary ? 2 : 1;
  int row_input = -1;
  for (size_t i = 0; binary && i < operands; ++i)
    if (!const_scalar(ctx, i) && const_row(ctx, i, shape)) row_input = static_cast<int>(i);
  for (size_t i = 0; i < operands; ++i) {
    if (const_scalar(ctx, i) || static_cast<int>(i) == row_input) continue;
    if (ctx.const_inputs.at(i) || ctx.inputs[i].shape != shape) return nullptr;
    auto f = values_.find(ctx.node.inputs[i]);
    if (f != values_.end() && f->second.shape == shape && (!chain || f->second.chain->opened_at() > chain->opened_at()))
      chain = f->second.chain;
  }
  int head_input = -1;
  for (size_t i = 0; i < operands; ++i) {
    ChainStep::Operand& o = i == 0 ? s.a : s.b;
    if (auto v = const_scalar(ctx, i)) {
      o.scalar = *v;
      continue;
    }
    if (static_cast<int>(i) == row_input) {
      o.row = ctx.const_inputs[i]->data_as<float>();
      o.row_len = shape.back();
      continue;
    }
    auto f = values_.find(ctx.node.inputs[i]);
    if (chain && f != values_.end() && f->second.chain == chain && f->second.shape == shape) {
      o.value = f->second.index;
      (i == 0 ? s.a_input : s.b_input) = static_cast<int>(i);
      continue;
    }
    if (head_input >= 0) return nullptr;  // two tensors from outside the chain
    head_input = static_cast<int>(i);
  }
  if (chain && head_input >= 0) {
    // The other operand is an external tensor: only one produced by a node planned before the
    // chain's executor (so computed before it runs); graph inputs and other backends' tensors are not.
    auto p = produced_at_.find(ctx.node.inputs[static_cast<size_t>(head_input)]);
    if (p == produced_at_.end() || p->second >= chain->opened_at() || chain->steps().size() >= Chain::kMaxSteps)
      return nullptr;
    (head_input == 0 ? s.a : s.b).ext = chain->add_external();
    (head_input == 0 ? s.a_input : s.b_input) = head_input;
    head_input = -1;
  }
  if (chain) {
    if (chain->steps().size() >= Chain::kMaxSteps) return nullptr;
    const size_t k = chain->add_step(s);
    values_[ctx.node.outputs[0]] = Value{chain, static_cast<int>(k + 1), shape};
    return chain_member(chain, k, plan(ctx));
  }
  // A new chain headed by this op's one tensor input (the other operands are scalars).
  if (head_input < 0) return nullptr;
  ChainStep& h = s;
  (head_input == 0 ? h.a : h.b).value = 0;
  (head_input == 0 ? h.a_input : h.b_input) = head_input;
  auto fresh = std::make_shared<Chain>(false, numel(shape));
  fresh->set_opened_at(seq_);
  fresh->add_step(h);
  values_[ctx.node.inputs[static_cast<size_t>(head_input)]] = Value{fresh, 0, shape};
  values_[ctx.node.outputs[0]] = Value{fresh, 1, shape};
  return chain_executor(fresh, plan(ctx));
}

}  // namespace netlens::cpu
