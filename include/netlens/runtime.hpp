// netlens runtime: shape inference registry, the Backend interface, the execution plan, the
// ActivationStore and the Session that ties them together.
//
// Life of a model: Graph (onnx/) → Session::prepare(input infos): binds dynamic dims, infers every
// tensor's dtype+shape, folds constant subgraphs on the host backend, assigns each node to the
// first backend that supports it, lays out one activation arena per backend (every tensor kept)
// and checks the budget → Session::run(inputs) → activations() holds every tensor of the run.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"

namespace netlens {

struct TensorInfo {
  DType dtype = DType::Undefined;
  Shape shape;
  size_t nbytes() const { return static_cast<size_t>(numel(shape)) * dtype_size(dtype); }
  bool operator==(const TensorInfo&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Shape inference. One function per op type; it sees the node, the opset, every input's info
// (nullptr for an omitted optional input) and, where an input is a constant (initializer or
// folded), its value on the host. It returns one TensorInfo per node output ("" outputs included,
// their info is ignored). It throws Error{Model} (naming the node) for inconsistent shapes and
// Error{Unsupported} for attribute values the engine does not implement.
struct InferContext {
  const Node& node;
  int64_t opset;
  std::vector<const TensorInfo*> inputs;
  std::vector<const Tensor*> const_inputs;

  size_t num_inputs() const { return inputs.size(); }
  bool has(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const TensorInfo& in(size_t i) const;              // throws Error{Model} when missing
  const Tensor* constant(size_t i) const { return i < const_inputs.size() ? const_inputs[i] : nullptr; }
  const Tensor& require_constant(size_t i) const;    // throws Error{Unsupported} when not constant
  [[noreturn]] void fail(const std::string& msg) const;  // Error{Model} "<node describe>: msg"
};

using InferFn = std::function<std::vector<TensorInfo>(const InferContext&)>;

// Auxiliary outputs: tensors a node's kernel also writes besides its ONNX outputs, so that the
// store keeps intermediate state the op never exposes (an LSTM's cell state at every step). Given
// the node and its inferred outputs, returns (suffix, info) pairs; the session names each
// "<first output name>:<suffix>", keeps it in the store as produced by the node (node_outputs()
// lists it after the ONNX outputs) and appends its info to NodeContext::outputs and its view to
// the kernel's outputs, in order, after the node's own outputs. Not produced for folded nodes;
// never differentiated (backward sees only the ONNX outputs).
using AuxFn = std::function<std::vector<std::pair<std::string, TensorInfo>>(const InferContext&,
                                                                            const std::vector<TensorInfo>&)>;

// The key of an op in the registries (shape inference here, the CPU backend's op table): the op type
// for the default domain ("" or "ai.onnx"), "<domain>:<op_type>" for any other (com.microsoft's
// QLinearAdd is "com.microsoft:QLinearAdd"), so a custom-domain node finds only what was registered
// for its domain.
std::string op_key(const std::string& domain, const std::string& op_type);
bool is_default_domain(const std::string& domain);  // "" or "ai.onnx"

class OpRegistry {
 public:
  static const OpRegistry& global();
  void add(const std::string& op_type, InferFn fn);  // default domain
  void add(const std::string& domain, const std::string& op_type, InferFn fn);
  const InferFn* find(const std::string& op_type) const;  // default domain only
  const InferFn* find(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> op_types() const;
  void add_aux(const std::string& op_type, AuxFn fn);
  const AuxFn* find_aux(const std::string& op_type) const;  // nullptr for ops without aux outputs

 private:
  std::map<std::string, InferFn> fns_;
  std::map<std::string, AuxFn> aux_;
};

// ---------------------------------------------------------------------------------------------
// Backends.
enum class DeviceKind { Host, Cuda };

// A tensor in a backend's memory (host memory for Host backends, device memory for Cuda).
struct TensorView {
  DType dtype = DType::Undefined;
  Shape shape;
  void* data = nullptr;
  int64_t numel() const { return netlens::numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
};

// Everything a backend may look at when deciding and planning a node.
struct NodeContext {
  const Node& node;
  int64_t opset;
  std::vector<TensorInfo> inputs;             // dtype Undefined for omitted optional inputs
  std::vector<TensorInfo> outputs;
  std::vector<const Tensor*> const_inputs;    // host values of constant inputs, else nullptr
};

// A planned node: owns whatever the backend prepared (packed weights, primitives, descriptors).
// run() reads inputs and writes outputs, all in the backend's memory; views match the planned
// infos exactly. Omitted optional inputs/outputs have data == nullptr. On a Cuda backend run()
// enqueues on the backend's stream and returns without waiting.
//
// Deferred clamps (host backends). A Relu or Clip (constant bounds) output T = clamp(S) need not be
// written by the run when every node that reads T clamps S itself while reading it: the Session
// asks each reader can_read_clamped(i), then the producer defer_output(); when all agree it calls
// read_clamped(i, c) on the readers, runs them with S's view as input i, never runs the producer,
// and writes T on the first read of the store after each run (ActivationStore::fetch/device_view,
// and before backward()). T keeps its arena slot; every reader outside the run sees its values.
//
// Deferred chain values, likewise: a value of a fused elementwise chain (a backend's) that only
// later steps of the same chain read (hard-swish's Add, Clip and Mul, swish's Sigmoid, GELU's Div,
// Erf, Add and Mul, a residual sum before its ReLU) is computed in registers by the chain but not
// stored: the Session asks each reader reads_in_chain(i, producer), then the producer
// defer_in_chain(), which returns how to write the value from the chain's stored ones; the store
// calls that on the first read after each run. Its producer still runs (a step's kernel skips when
// the chain computed it; computing it unfused, it writes the value as before).
struct Clamp {
  float lo, hi;
  // The Clip kernel's expression; Relu (x < 0 ? 0 : x) is {0, +inf} bit for bit, NaN and -0 included.
  float operator()(float x) const {
    const float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  }
};
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(std::span<const TensorView> inputs, std::span<const TensorView> outputs) = 0;
  // Whether run() can read input i as clamp(values given): plan time, no commitment.
  virtual bool can_read_clamped(size_t input) const { return false; }
  // From now on input i arrives unclamped and run() applies c while reading it (only after
  // can_read_clamped(input) said yes).
  virtual void read_clamped(size_t input, Clamp c) {}
  // The producer of a deferrable clamp: whether run() may be skipped from now on (true commits: a
  // fused chain then no longer computes this step).
  virtual bool defer_output() { return false; }
  // Whether run() takes input i from `producer`'s fused chain rather than from memory.
  virtual bool reads_in_chain(size_t input, const Kernel& producer) const { return false; }
  // The producer of a deferrable chain value: stops storing output 0 where its chain runs fused and
  // returns what writes it from the chain's stored values (empty: not deferrable; nothing changed).
  virtual std::function<void()> defer_in_chain() { return {}; }
  // The views every run() of this kernel will get (the session's arena slots), given once after
  // planning: a fused chain's steps record their addresses here, so that the first run already
  // runs fused (runs unfused otherwise, and records them then). No effect on results.
  virtual void bind(std::span<const TensorView> inputs, std::span<const TensorView> outputs) {}
};

// A Kernel from a function, for ops that keep their prepared state in the closure (every backend).
using KernelFn = std::function<void(std::span<const TensorView>, std::span<const TensorView>)>;
std::unique_ptr<Kernel> make_kernel(KernelFn fn);

// Reverse mode for one node. Gradients are float32 whatever the forward dtype (an fp16 model's
// gradients keep their small values). The views:
// - inputs, outputs: the forward values of the last run, as Kernel::run saw them (dtype as
//   planned; constant inputs included; omitted optional ones with data == nullptr).
// - grad_outputs: dS/d(output k), float32, the output's shape; data == nullptr for outputs that
//   carry no gradient (non-float outputs such as indices, omitted outputs). Never read as "absent
//   means zero" by the runtime: a float output nothing flows into is a buffer of zeros.
// - grad_inputs: dS/d(input i), float32; data == nullptr where not wanted. Kernels ADD into these
//   (+=) and never read them: the runtime zeroes them once, a tensor read by several nodes sums
//   their contributions, and two slots may alias one buffer (Mul(x, x)).
// All views are in the backend's memory; on a Cuda backend run() enqueues on its stream.
struct GradViews {
  std::span<const TensorView> inputs, outputs, grad_outputs, grad_inputs;
};
class GradKernel {
 public:
  virtual ~GradKernel() = default;
  virtual void run(const GradViews& v) = 0;
};

// Memory owned by a backend. Freed by the deleter in the backend's own way.
using DeviceBuffer = std::unique_ptr<void, std::function<void(void*)>>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu", "cuda"
  virtual DeviceKind device() const = 0;
  // nullopt when the node can run here; otherwise a short reason ("op Foo not implemented",
  // "mode 'cubic' not supported").
  virtual std::optional<std::string> unsupported_reason(const NodeContext& ctx) const = 0;
  bool supports(const NodeContext& ctx) const { return !unsupported_reason(ctx).has_value(); }
  virtual std::unique_ptr<Kernel> plan(const NodeContext& ctx) = 0;
  // Reverse mode. nullopt when this backend can differentiate the node. Session::backward
  // differentiates a node on the backend that ran it when it can, else on the host backend from
  // host copies of its values (listed in BackwardReport::host_fallback_nodes).
  virtual std::optional<std::string> backward_unsupported_reason(const NodeContext& ctx) const {
    return "no backward pass on " + name() + " for " + ctx.node.op_type;
  }
  // need[i]: whether dS/d(input i) is wanted (false for non-float inputs, and for inputs that do
  // not depend on a graph input unless weight gradients were asked for). Throws Error{Unsupported}
  // when backward_unsupported_reason() would not be nullopt, and may throw it for a `need` it does
  // not implement (the Session then differentiates the node on the host).
  virtual std::unique_ptr<GradKernel> plan_backward(const NodeContext& ctx, const std::vector<bool>& need);

  // Memory. Bytes of free memory this backend can still allocate (for the planner's budget check).
  virtual size_t available_memory() const = 0;
  virtual DeviceBuffer allocate(size_t bytes) = 0;  // 256-byte aligned; throws Error{Memory}
  // Commits the pages of [data, data + bytes), memory from allocate() that nothing uses yet, so
  // that the first run does not fault them in from its kernels (host backends: in one thread now;
  // two threads faulting the same huge page stall each other). Contents stay unspecified. Default:
  // nothing (device memory is committed by allocate()).
  virtual void prefault(void* data, size_t bytes) {}
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;  // waits for all enqueued work
  // Zeroes `bytes` at dst (this backend's memory), ordered with its other work: the gradient
  // arenas before each backward pass. Default: memset for Host backends, copies of zeros otherwise.
  virtual void fill_zero(void* dst, size_t bytes);
  // Called around a whole run. `whole_graph` is true when every kernel of the run is on this
  // backend and the plan has not changed since the last run, so a recorded run (a CUDA graph) may
  // be replayed. Returning true means "I replay the recorded run in end_run(); do not call my
  // kernels this time". Inputs are already copied into the arena when begin_run is called.
  // plan() being called again invalidates any recording.
  virtual bool begin_run(bool whole_graph) { return false; }
  virtual void end_run() {}
};

// ---------------------------------------------------------------------------------------------
// Plan and activations.
struct PlannedTensor {
  std::string name;
  TensorInfo info;
  int producer = -1;        // node index, -1 for graph inputs and constants
  bool constant = false;    // initializer or folded
  int backend = -1;         // index into Session::backends(); where the tensor lives
  size_t offset = 0;        // byte offset in that backend's arena (non-constants)
};

struct PlanReport {
  size_t activation_bytes = 0;  // every non-constant tensor, all backends
  size_t weight_bytes = 0;      // constants uploaded to non-host backends + host constants
  std::map<std::string, size_t> bytes_per_backend;
  std::vector<std::string> fallback_nodes;  // nodes that run on a backend other than the first
  int folded_nodes = 0;
  // Outputs the run does not write (deferred clamps and chain values, see Kernel above): written on
  // the first read instead.
  std::vector<std::string> deferred_tensors;
};

// Every tensor of the last run, addressable by tensor name and by node.
class ActivationStore {
 public:
  const std::vector<PlannedTensor>& tensors() const { return tensors_; }
  const PlannedTensor* find(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // Host copy (a view for host-resident tensors; stays valid until the next run).
  Tensor fetch(const std::string& name) const;
  // The tensor in its backend's memory (device pointer for Cuda).
  TensorView device_view(const std::string& name) const;
  // Output tensor names of node i.
  const std::vector<std::string>& node_outputs(int node) const;
  // Whether a run that executed nodes [0, nodes_done) only (a cancelled one) has written `name`:
  // graph inputs and constants always, a node's output when its producer < nodes_done. False for
  // a name not in the store.
  bool computed_within(const std::string& name, size_t nodes_done) const;
  // Writes every deferred output of the last run (fetch/device_view write each on first read).
  // Threads: any, as fetch.
  void materialize_all() const;

 private:
  friend class Session;
  // A deferred output (Kernel above): `fill` writes its slot from the values the run stored.
  struct Deferred {
    std::function<void()> fill;
  };
  struct DeferredState;  // the per-run "written" marks, behind a mutex (fetch is const)
  void materialize(size_t tensor) const;
  void new_run() const;
  void reset_deferred();  // none deferred, fresh marks
  std::map<size_t, Deferred> deferred_;  // by index into tensors_
  std::shared_ptr<DeferredState> deferred_state_;
  std::vector<PlannedTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::vector<std::vector<std::string>> node_outputs_;
  std::vector<Backend*> backends_;
  std::vector<void*> arenas_;
  std::map<std::string, Tensor> constants_;  // host values of constants
};

struct SessionOptions {
  // Upper bound on activation + weight bytes; 0 = limited only by available memory.
  size_t max_memory = 0;
  // Called with (nodes done, nodes total) during run(); may be empty.
  std::function<void(size_t, size_t)> progress;
  // Time every node of each run (host clock; device backends are synchronised after each node, so
  // profiling changes what it measures on them). Results: Session::node_times_ms().
  bool profile = false;
  // Where a backend's activation arena lives: called once per backend with an arena at prepare();
  // an empty DeviceBuffer means "the backend's own allocate()". The interop module uses it to place
  // the CUDA backend's activations in Vulkan-exported memory, so the renderer reads them in place.
  // The buffer must be 256-byte aligned, in the backend's memory, and outlive the session's runs.
  std::function<DeviceBuffer(Backend&, size_t bytes)> arena_allocator;
};

// What Session::backward computes besides the gradients of activations.
struct GradientOptions {
  // Also dS/d(w) for every float constant w a differentiated node reads: initializers, Constant
  // nodes' values (how PaddlePaddle exports weights) and folded constants (a weight shared through
  // an Identity is differentiated under each name nodes read it by; the sum over its uses is the
  // gradient of the shared initializer). Costs memory the size of the weights and, for
  // convolutions, a backward-filter pass each.
  bool weights = false;
};

// How a backward pass went (Session::backward_report()).
struct BackwardReport {
  size_t gradient_bytes = 0;                 // the gradient arenas (all backends), every float tensor kept
  // Nodes differentiated on the host, not where they ran: "<node> (ran on <backend>: <why>)".
  std::vector<std::string> host_fallback_nodes;
  int differentiated_nodes = 0;              // nodes the gradient flowed back through
};

// Cancellation and per-node progress of one run (Session::run(inputs, control)).
// Threads: `cancel` may be set from any thread at any time; run() reads it before each node (a node
// already started finishes first). on_node runs on the thread that runs the session, after each
// executed node (folded nodes are skipped), with (node index, nodes total = graph().nodes.size());
// it may read the session's activations of nodes up to that index (host backends: in place; device
// backends: ActivationStore::fetch copies). A controlled run executes node by node: a device
// backend neither records nor replays a whole-graph run (a CUDA graph) for it.
struct RunControl {
  std::atomic<bool> cancel{false};
  std::function<void(size_t node, size_t total)> on_node;
};

// Thrown by Session::run when RunControl::cancel was set: the run stopped between two nodes. The
// session stays prepared and usable (run it again); its activations are those of a partial run and
// backward() refuses them until a run completes.
class Cancelled : public Error {
 public:
  explicit Cancelled(const std::string& what) : Error(ErrorKind::Usage, what) {}
};

class Session {
 public:
  // backends: in priority order; each node runs on the first that supports it. The last backend
  // must be a Host backend (constant folding runs there). Backends are borrowed, not owned.
  Session(Graph graph, std::vector<Backend*> backends, SessionOptions opts = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Graph& graph() const { return graph_; }
  const std::vector<Backend*>& backends() const { return backends_; }

  // Resolves every graph input's shape (from `shapes` where given, else the declared fixed dims;
  // a remaining symbolic dim is an Error{Input}), infers every tensor, folds constants, assigns
  // backends and checks memory. Throws Error{Unsupported} listing every unsupported node at once.
  void prepare(const std::map<std::string, Shape>& shapes = {});
  // The first half of prepare(), without allocating arenas or planning kernels: binds the input
  // shapes, infers every tensor, folds constants, assigns backends and checks memory (the same
  // errors as prepare()). Afterwards planned(), info(), report() and node_backend() answer and
  // activations() lists every tensor, with no values: what a layout needs (a structure frame in
  // milliseconds where kernel planning takes seconds). A later prepare() with the same shapes,
  // on any thread, keeps this plan and only allocates and plans the kernels.
  void plan_shapes(const std::map<std::string, Shape>& shapes = {});
  bool prepared() const { return prepared_; }
  const PlanReport& report() const { return report_; }
  const std::vector<PlannedTensor>& planned() const { return store_.tensors_; }
  const TensorInfo& info(const std::string& tensor) const;  // any tensor, initializers included
  int node_backend(size_t node) const { return node_backend_.at(node); }

  // Runs the graph. Inputs are host tensors whose dtype/shape must equal the prepared ones
  // (Error{Input} otherwise). Prepares first if needed, with the inputs' shapes.
  void run(const std::map<std::string, Tensor>& inputs);
  // The same with cancellation and per-node progress (RunControl); throws Cancelled when cancelled.
  void run(const std::map<std::string, Tensor>& inputs, RunControl& control);
  const ActivationStore& activations() const { return store_; }
  // Milliseconds per node of the last run (empty unless SessionOptions::profile; 0 for folded nodes).
  const std::vector<double>& node_times_ms() const { return node_ms_; }

  // Reverse mode over the last run. The scalar differentiated is S = Σ_t <seeds[t], t>: each seed
  // is dS/d(t) for a non-constant float tensor t of the run (float32, t's shape; a one-hot seed on
  // an output picks a logit). Computes dS/dx for every float non-constant tensor x (zeros where x
  // does not influence S), graph inputs included, and for float constants (weights) with opts.weights.
  // Before running it checks that every node S depends on can be differentiated (Error{Unsupported}
  // listing all that cannot, at once) and that the gradient arena fits the budget (Error{Memory}).
  // Each node is differentiated on the backend that ran it when that backend can, its gradients
  // kept there (one gradient arena per backend); otherwise on the host backend from host copies of
  // its values (listed in backward_report(), announced once per plan on stderr).
  // The gradients stay valid until the next run() or backward().
  void backward(const std::map<std::string, Tensor>& seeds, const GradientOptions& opts = {});
  // dS/dx by tensor name (the activation's name), in the memory of the backend that holds it
  // (fetch() copies to the host, as for activations); empty before backward().
  const ActivationStore& gradients() const { return grads_; }
  bool has_gradients() const { return !grads_.tensors().empty(); }
  const BackwardReport& backward_report() const { return backward_report_; }

 private:
  struct Impl;
  void run_impl(const std::map<std::string, Tensor>& inputs, RunControl* control);
  void allocate_and_plan_kernels();  // prepare()'s second half, from impl_->plan
  void plan_deferred_outputs();      // its next step (Clamp and deferred chain values above)
  void prefault_arenas(const std::vector<bool>& own);  // its last: Backend::prefault of what runs write
  std::vector<double> node_ms_;
  Graph graph_;
  std::vector<Backend*> backends_;
  SessionOptions opts_;
  bool prepared_ = false;
  PlanReport report_;
  ActivationStore store_;
  ActivationStore grads_;
  BackwardReport backward_report_;
  std::vector<int> node_backend_;
  std::unique_ptr<Impl> impl_;
};

// Multiply-adds ×2 of Conv/ConvTranspose/Gemm/MatMul/Einsum-free nodes (0 for other ops): the
// FLOP count people quote for a model.
double node_flops(const Node& node, const std::vector<TensorInfo>& inputs, const std::vector<TensorInfo>& outputs);

// Checks a whole graph against the registry and backends without input shapes: which op types have
// no shape function. Used by `info` to list unsupported ops before binding inputs.
std::vector<std::string> unknown_op_nodes(const Graph& g);

}  // namespace netlens
