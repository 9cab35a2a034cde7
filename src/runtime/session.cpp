// Session: binds input shapes, infers every tensor, folds constants, assigns backends, lays out the
// activation arenas (every tensor kept, no reuse) and runs the nodes.
#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

#include "netlens/runtime.hpp"
#include "session_impl.hpp"

namespace netlens {

namespace {

using detail::align_up;
using detail::mib;

// acc += v, refusing a sum that wraps (thousands of 1 PiB tensors would otherwise wrap an arena
// size into a small one that the kernels then overrun).
void add_bytes(size_t& acc, size_t v) {
  if (__builtin_add_overflow(acc, v, &acc))
    throw Error(ErrorKind::Memory, "not enough memory: the plan's byte count overflows 64 bits");
}


// The largest tensor the planner accepts (1 PiB). Every shape that passes check_tensor_size has a
// product of its non-zero dims below this in bytes, so element and byte counts computed from it,
// sub-products included, cannot overflow 64 bits, whatever zero dims hide the size.
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 50;

// Error{Model} for a negative dim or a size that overflows, Error{Memory} for one no machine holds.
void check_tensor_size(const Shape& s, DType dt, const std::string& what) {
  uint64_t elems = 1, bytes = 0;
  for (int64_t d : s) {
    if (d < 0) throw Error(ErrorKind::Model, what + " has a negative dimension in shape " + shape_str(s));
    if (d > 0 && __builtin_mul_overflow(elems, static_cast<uint64_t>(d), &elems))
      throw Error(ErrorKind::Model, what + ": shape " + shape_str(s) + " overflows 64-bit element counts");
  }
  if (__builtin_mul_overflow(elems, std::max<uint64_t>(1, dtype_size(dt)), &bytes) || bytes > kMaxTensorBytes)
    throw Error(ErrorKind::Memory, what + " would have shape " + shape_str(s) + ", far more memory than any machine has");
}

std::string dims_str(const ValueInfo& v) {
  std::string s;
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += 'x';
    s += v.dims[i].fixed() ? std::to_string(v.dims[i].value) : (v.dims[i].param.empty() ? "?" : v.dims[i].param);
  }
  return v.dims.empty() ? "scalar" : s;
}

}  // namespace

Session::Session(Graph graph, std::vector<Backend*> backends, SessionOptions opts)
    : graph_(std::move(graph)), backends_(std::move(backends)), opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
  if (backends_.empty() || backends_.back()->device() != DeviceKind::Host)
    throw Error(ErrorKind::Internal, "Session needs a host backend last in its backend list");
}

Session::~Session() = default;

const TensorInfo& Session::info(const std::string& tensor) const {
  if (const PlannedTensor* t = store_.find(tensor)) return t->info;
  auto c = impl_->initializer_infos.find(tensor);  // initializers are not in the store's tensor list
  if (c != impl_->initializer_infos.end()) return c->second;
  throw Error(ErrorKind::Usage, "no tensor named '" + tensor + "' in the model");
}

void Session::prepare(const std::map<std::string, Shape>& shapes) {
  // The shape plan is kept when it was made for these shapes (plan_shapes() first, then prepare()
  // on the thread that will run the session: the window's progressive start).
  if (!impl_->plan || (shapes != impl_->plan->requested && shapes != impl_->bound_shapes)) plan_shapes(shapes);
  allocate_and_plan_kernels();
}

void Session::plan_shapes(const std::map<std::string, Shape>& shapes) {
  prepared_ = false;
  *impl_ = Impl{};
  impl_->plan = std::make_unique<detail::ShapePlan>();
  detail::ShapePlan& P = *impl_->plan;
  P.requested = shapes;
  report_ = PlanReport{};
  store_ = ActivationStore{};
  grads_ = ActivationStore{};
  backward_report_ = BackwardReport{};
  node_backend_.assign(graph_.nodes.size(), -1);
  const int64_t opset = graph_.opset();
  const int host = static_cast<int>(backends_.size()) - 1;

  std::map<std::string, TensorInfo>& infos = P.infos;
  std::map<std::string, Tensor>& consts = store_.constants_;
  for (const auto& [name, t] : graph_.initializers) {
    consts[name] = t;
    infos[name] = TensorInfo{t.dtype(), t.shape()};
    impl_->initializer_infos[name] = infos[name];
  }

  // 1. Graph inputs.
  for (const auto& [name, s] : shapes)
    if (!graph_.find_input(name)) {
      std::string names;
      for (const auto& v : graph_.inputs) names += (names.empty() ? "" : ", ") + v.name;
      throw Error(ErrorKind::Input, "the model has no input named '" + name + "' (its inputs: " + names + ")");
    }
  for (const ValueInfo& v : graph_.inputs) {
    if (v.dtype == DType::Undefined)
      throw Error(ErrorKind::Unsupported, "input '" + v.name + "' has a data type netlens does not support");
    Shape s;
    auto it = shapes.find(v.name);
    if (it != shapes.end()) {
      s = it->second;
      if (v.has_shape) {
        bool ok = s.size() == v.dims.size();
        for (size_t d = 0; ok && d < s.size(); ++d)
          if (v.dims[d].fixed() && v.dims[d].value != s[d]) ok = false;
        if (!ok)
          throw Error(ErrorKind::Input, "input '" + v.name + "': the model expects shape " + dims_str(v) +
                                            ", got " + shape_str(s));
      }
    } else {
      if (!v.has_shape)
        throw Error(ErrorKind::Input, "input '" + v.name + "' declares no shape; give one (e.g. --input-shape " +
                                          v.name + "=1x3x224x224)");
      for (const Dim& d : v.dims) {
        if (!d.fixed())
          throw Error(ErrorKind::Input, "input '" + v.name + "' has dynamic shape " + dims_str(v) +
                                            "; give its size (e.g. --input-shape " + v.name + "=...)");
        s.push_back(d.value);
      }
    }
    for (int64_t d : s)
      if (d < 0) throw Error(ErrorKind::Input, "input '" + v.name + "': negative dimension in " + shape_str(s));
    check_tensor_size(s, v.dtype, "input '" + v.name + "'");
    infos[v.name] = TensorInfo{v.dtype, s};
    impl_->bound_shapes[v.name] = s;
  }

  // 2. Inference, folding and backend choice, node by node (nodes are topologically sorted).
  std::vector<std::string> unsupported;
  std::set<std::string> unknown;  // outputs of nodes we could not infer
  std::vector<bool>& folded = P.folded;
  folded.assign(graph_.nodes.size(), false);
  std::vector<std::vector<std::string>>& aux_outputs = P.aux_outputs;  // per node, after its outputs
  aux_outputs.resize(graph_.nodes.size());
  // Folding allocates at prepare time, so it answers to the same budget as the arenas: --max-memory
  // when given, and never more than the host's available memory (what step 5 checks arenas against).
  const size_t host_avail = backends_[static_cast<size_t>(host)]->available_memory();
  const size_t fold_budget = opts_.max_memory ? std::min(opts_.max_memory, host_avail) : host_avail;
  const std::string budget_what = opts_.max_memory && opts_.max_memory <= host_avail
                                      ? "the memory budget" : "the host's available memory";
  size_t folded_bytes = 0;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& n = graph_.nodes[i];
    auto mark_unknown = [&] {
      for (const auto& o : n.outputs)
        if (!o.empty()) unknown.insert(o);
    };
    auto note = [&](const std::string& why) {
      std::string what = (is_default_domain(n.domain) ? n.op_type : n.domain + "." + n.op_type) + " (node '" +
                         n.name + "', opset " + std::to_string(opset) + ")";
      if (!why.empty()) what += ": " + why;
      unsupported.push_back(what);
      mark_unknown();
    };
    const InferFn* fn = OpRegistry::global().find(n.domain, n.op_type);
    // Custom domains: only the ops registered for them (com.microsoft's QLinear elementwise ops).
    if (!fn && !is_default_domain(n.domain)) { note("custom domain"); continue; }
    bool blocked = false;
    std::vector<const TensorInfo*> in_ptrs;
    std::vector<const Tensor*> const_in;
    for (const std::string& name : n.inputs) {
      if (name.empty()) { in_ptrs.push_back(nullptr); const_in.push_back(nullptr); continue; }
      if (unknown.count(name)) { blocked = true; break; }
      auto it = infos.find(name);
      if (it == infos.end())
        throw Error(ErrorKind::Model, n.describe() + ": input '" + name + "' is not produced by any node");
      in_ptrs.push_back(&it->second);
      auto c = consts.find(name);
      const_in.push_back(c == consts.end() ? nullptr : &c->second);
    }
    if (!fn) { note(""); continue; }
    if (blocked) { mark_unknown(); continue; }

    std::vector<TensorInfo> outs;
    try {
      outs = (*fn)(InferContext{n, opset, in_ptrs, const_in});
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Unsupported) throw;
      note(e.what());
      continue;
    }
    if (outs.size() < n.outputs.size())
      for (size_t k = outs.size(); k < n.outputs.size(); ++k)
        if (!n.outputs[k].empty())
          throw Error(ErrorKind::Internal, n.describe() + ": shape inference gave no info for output " + std::to_string(k));
    outs.resize(n.outputs.size());
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k].empty()) continue;
      check_tensor_size(outs[k].shape, outs[k].dtype, n.describe() + ": output '" + n.outputs[k] + "'");
      infos[n.outputs[k]] = outs[k];
    }

    NodeContext ctx{n, opset, {}, outs, const_in};
    for (const TensorInfo* p : in_ptrs) ctx.inputs.push_back(p ? *p : TensorInfo{});

    // Shape and Size depend only on shapes: fold them whatever their input.
    bool all_const = true;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (!n.inputs[k].empty() && !const_in[k]) all_const = false;
    static const std::set<std::string> kNeverFold = {"RandomNormal", "RandomUniform", "RandomNormalLike",
                                                    "RandomUniformLike", "Multinomial", "Bernoulli"};
    if (n.op_type == "Shape" || n.op_type == "Size") {
      const Shape& s = in_ptrs.at(0)->shape;
      if (n.op_type == "Size") {
        consts[n.outputs[0]] = Tensor::from_i64({}, {numel(s)});
      } else {
        const int64_t r = static_cast<int64_t>(s.size());
        int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = std::clamp<int64_t>(start, 0, r);
        end = std::clamp<int64_t>(end, start, r);
        consts[n.outputs[0]] = Tensor::from_i64({end - start}, std::vector<int64_t>(s.begin() + start, s.begin() + end));
      }
      folded[i] = true;
    } else if (all_const && !kNeverFold.count(n.op_type) && backends_[static_cast<size_t>(host)]->supports(ctx)) {
      // Folded values are host memory too: check them against the budget before allocating, so a
      // hostile ConstantOfShape([2e9]) is refused here rather than by the allocator (or the OOM killer).
      size_t bytes = 0;
      for (size_t k2 = 0; k2 < outs.size(); ++k2)
        if (!n.outputs[k2].empty()) bytes += align_up(outs[k2].nbytes());  // each < 1 PiB: no overflow
      if (bytes > fold_budget || folded_bytes > fold_budget - bytes)
        throw Error(ErrorKind::Memory, n.describe() + ": folding it needs " + std::to_string(bytes) + " bytes (" +
                                           mib(bytes) + ")" +
                                           (folded_bytes ? " on top of " + mib(folded_bytes) + " already folded" : "") +
                                           ", over " + budget_what + " of " + mib(fold_budget));
      folded_bytes += bytes;
      std::unique_ptr<Kernel> k = backends_[static_cast<size_t>(host)]->plan(ctx);
      std::vector<TensorView> iv, ov;
      for (size_t k2 = 0; k2 < n.inputs.size(); ++k2)
        iv.push_back(const_in[k2] ? TensorView{const_in[k2]->dtype(), const_in[k2]->shape(),
                                               const_cast<void*>(const_in[k2]->data())}
                                  : TensorView{});
      std::vector<Tensor> results;
      for (size_t k2 = 0; k2 < outs.size(); ++k2) {
        results.emplace_back(outs[k2].dtype == DType::Undefined ? DType::UInt8 : outs[k2].dtype,
                             outs[k2].dtype == DType::Undefined ? Shape{0} : outs[k2].shape);
        ov.push_back(n.outputs[k2].empty() ? TensorView{}
                                           : TensorView{outs[k2].dtype, outs[k2].shape, results.back().data()});
      }
      k->run(iv, ov);
      for (size_t k2 = 0; k2 < outs.size(); ++k2)
        if (!n.outputs[k2].empty()) consts[n.outputs[k2]] = results[k2];
      folded[i] = true;
    }
    if (folded[i]) {
      ++report_.folded_nodes;
      continue;
    }

    int chosen = -1;
    std::string reason;
    for (size_t b = 0; b < backends_.size(); ++b) {
      std::optional<std::string> r = backends_[b]->unsupported_reason(ctx);
      if (!r) { chosen = static_cast<int>(b); break; }
      if (reason.empty()) reason = backends_[b]->name() + ": " + *r;
    }
    if (chosen < 0) { note(reason); continue; }
    node_backend_[i] = chosen;
    // Auxiliary outputs (OpRegistry::add_aux): kept state such as an LSTM's per-step cell states.
    if (const AuxFn* aux = OpRegistry::global().find_aux(n.op_type); aux && !n.outputs.empty() && !n.outputs[0].empty())
      for (auto& [suffix, info] : (*aux)(InferContext{n, opset, in_ptrs, const_in}, outs)) {
        const std::string name = n.outputs[0] + ":" + suffix;
        check_tensor_size(info.shape, info.dtype, n.describe() + ": output '" + name + "'");
        infos[name] = info;
        aux_outputs[i].push_back(name);
      }
    if (chosen != 0) report_.fallback_nodes.push_back(n.describe() + " → " + backends_[static_cast<size_t>(chosen)]->name());
  }
  if (!unsupported.empty()) {
    std::string msg = std::to_string(unsupported.size()) + " unsupported node" + (unsupported.size() > 1 ? "s" : "") + ": ";
    for (size_t k = 0; k < unsupported.size(); ++k) msg += (k ? "; " : "") + unsupported[k];
    throw Error(ErrorKind::Unsupported, msg);
  }

  // 3. The activation store: graph inputs, then node outputs in order.
  const size_t nb = backends_.size();
  std::vector<size_t>& arena_size = P.arena_size;
  arena_size.assign(nb, 0);
  // alias: a planned tensor whose bytes this one shares (see below), else nullptr.
  auto add_tensor = [&](const std::string& name, int producer, bool constant, int backend,
                        const PlannedTensor* alias = nullptr) {
    PlannedTensor t{name, infos.at(name), producer, constant, backend, 0};
    if (alias) {
      t.offset = alias->offset;
    } else if (!constant) {
      t.offset = arena_size[static_cast<size_t>(backend)];
      add_bytes(arena_size[static_cast<size_t>(backend)], align_up(t.info.nbytes()));
    }
    store_.index_[name] = store_.tensors_.size();
    store_.tensors_.push_back(std::move(t));
  };
  // Ops that only reinterpret a shape keep their output in their input's bytes, on a host backend:
  // the two tensors are the same bytes in the same order, both written once (the input by its
  // producer) and then only read, and the kernel's copy is a no-op when the views coincide
  // (ViT-B/16: 61 Reshapes, 36 MB copied a run). Not on a device backend (its copy would be a
  // same-address device copy).
  auto view_of = [&](size_t i) -> const PlannedTensor* {
    static const std::set<std::string> kViews{"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    const Node& n = graph_.nodes[i];
    if (folded[i] || !is_default_domain(n.domain) || !kViews.count(n.op_type) || n.outputs.size() != 1 ||
        n.inputs.empty() || n.inputs[0].empty() || !aux_outputs[i].empty())
      return nullptr;
    const PlannedTensor* in = store_.find(n.inputs[0]);
    const int b = node_backend_[i];
    if (!in || in->constant || in->backend != b || backends_[static_cast<size_t>(b)]->device() != DeviceKind::Host)
      return nullptr;
    const TensorInfo& out = infos.at(n.outputs[0]);
    return out.dtype == in->info.dtype && out.nbytes() == in->info.nbytes() ? in : nullptr;
  };
  // Graph inputs live where their first consumer runs (the primary backend when unused).
  for (const ValueInfo& v : graph_.inputs) {
    int b = 0;
    for (size_t i = 0; i < graph_.nodes.size() && b == 0; ++i)
      if (!folded[i] && std::count(graph_.nodes[i].inputs.begin(), graph_.nodes[i].inputs.end(), v.name))
        b = node_backend_[i];
    add_tensor(v.name, -1, false, b);
  }
  store_.node_outputs_.resize(graph_.nodes.size());
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    for (const std::string& o : graph_.nodes[i].outputs) {
      if (o.empty()) continue;
      store_.node_outputs_[i].push_back(o);
      if (store_.index_.count(o)) throw Error(ErrorKind::Model, "tensor '" + o + "' is produced twice");
      add_tensor(o, static_cast<int>(i), folded[i], folded[i] ? host : node_backend_[i], view_of(i));
    }
    for (const std::string& o : aux_outputs[i]) {
      if (store_.index_.count(o)) throw Error(ErrorKind::Model, "tensor '" + o + "' is produced twice");
      store_.node_outputs_[i].push_back(o);
      add_tensor(o, static_cast<int>(i), false, node_backend_[i]);
    }
  }

  // 4. Mirrors (a tensor read by a node on another backend) and constants on non-host backends.
  std::vector<std::map<std::string, size_t>>& mirror_offset = P.mirror_offset;
  mirror_offset.resize(nb);
  std::vector<size_t>& weight_size = P.weight_size;
  weight_size.assign(nb, 0);
  std::vector<std::map<std::string, size_t>>& weight_offset = P.weight_offset;
  weight_offset.resize(nb);
  std::set<int> used;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (folded[i]) continue;
    const int b = node_backend_[i];
    used.insert(b);
    for (const std::string& name : graph_.nodes[i].inputs) {
      if (name.empty()) continue;
      const bool is_const = consts.count(name) != 0;
      if (is_const) {
        if (backends_[static_cast<size_t>(b)]->device() != DeviceKind::Host && !weight_offset[b].count(name)) {
          weight_offset[b][name] = weight_size[b];
          add_bytes(weight_size[b], align_up(consts.at(name).nbytes()));
        }
        continue;
      }
      const PlannedTensor& t = *store_.find(name);
      if (t.backend != b && !mirror_offset[b].count(name)) {
        mirror_offset[b][name] = arena_size[b];
        add_bytes(arena_size[b], align_up(t.info.nbytes()));
      }
    }
  }
  for (const auto& t : store_.tensors_)
    if (!t.constant) used.insert(t.backend);

  // 5. Budget.
  size_t total = 0;
  for (size_t b = 0; b < nb; ++b) {
    size_t need = arena_size[b];
    add_bytes(need, weight_size[b]);
    report_.bytes_per_backend[backends_[b]->name()] = need;
    add_bytes(total, need);
    report_.weight_bytes += weight_size[b];
  }
  for (const auto& t : store_.tensors_) if (!t.constant) report_.activation_bytes += t.info.nbytes();
  for (const auto& [name, t] : graph_.initializers) report_.weight_bytes += t.nbytes();
  // The budget covers what prepare() allocates: arenas, device weights and the folded constants.
  add_bytes(total, folded_bytes);
  if (opts_.max_memory && total > opts_.max_memory)
    throw Error(ErrorKind::Memory, "not enough memory: keeping every activation needs " + mib(total) + " (activations " +
                                       mib(report_.activation_bytes) +
                                       (folded_bytes ? ", folded constants " + mib(folded_bytes) : std::string()) +
                                       "), over the memory budget of " + mib(opts_.max_memory));
  for (size_t b = 0; b < nb; ++b) {
    const size_t need = arena_size[b] + weight_size[b];
    const size_t avail = backends_[b]->available_memory();
    if (need > avail)
      throw Error(ErrorKind::Memory, "not enough memory: keeping every activation needs " + mib(need) + " on " + backends_[b]->name() +
                                         " but only " + mib(avail) + " is available");
  }

  impl_->single_backend = used.size() <= 1;
}

void Session::allocate_and_plan_kernels() {
  // 6. Allocate, upload constants, plan kernels (from the shape plan; again after a previous prepare).
  prepared_ = false;
  detail::ShapePlan& P = *impl_->plan;
  const size_t nb = backends_.size();
  const int64_t opset = graph_.opset();
  const std::map<std::string, TensorInfo>& infos = P.infos;
  std::map<std::string, Tensor>& consts = store_.constants_;
  const std::vector<bool>& folded = P.folded;
  const std::vector<size_t>& arena_size = P.arena_size;
  const std::vector<size_t>& weight_size = P.weight_size;
  const std::vector<std::map<std::string, size_t>>& weight_offset = P.weight_offset;
  const std::vector<std::map<std::string, size_t>>& mirror_offset = P.mirror_offset;
  impl_->exec.clear();
  impl_->arenas.clear();
  impl_->weights.clear();
  impl_->const_ptr.clear();
  impl_->grad_exec.clear();  // backward plans point into the arenas made here
  impl_->grad_arenas.clear();
  impl_->grad_arena_bytes.clear();
  impl_->ran = false;
  grads_ = ActivationStore{};
  backward_report_ = BackwardReport{};
  impl_->arenas.resize(nb);
  impl_->weights.resize(nb);
  impl_->const_ptr.resize(nb);
  store_.backends_ = backends_;
  store_.arenas_.assign(nb, nullptr);
  std::vector<bool> own_arena(nb, false);  // from the backend's allocate(), not opts_.arena_allocator
  for (size_t b = 0; b < nb; ++b) {
    if (arena_size[b] && opts_.arena_allocator) impl_->arenas[b] = opts_.arena_allocator(*backends_[b], arena_size[b]);
    if (arena_size[b] && !impl_->arenas[b]) {
      impl_->arenas[b] = backends_[b]->allocate(arena_size[b]);
      own_arena[b] = true;
    }
    store_.arenas_[b] = impl_->arenas[b].get();
    // Every constant a device node reads gets a pointer into the weight buffer, 0-byte ones
    // included (an empty axes or roi input): when they are a backend's only constants the buffer
    // is one 256-byte block (allocate(0) may give no memory; a null view means "omitted input").
    if (!weight_offset[b].empty()) {
      impl_->weights[b] = backends_[b]->allocate(std::max<size_t>(weight_size[b], 256));
      for (const auto& [name, off] : weight_offset[b]) {
        void* dst = static_cast<std::byte*>(impl_->weights[b].get()) + off;
        backends_[b]->copy_from_host(dst, consts.at(name).data(), consts.at(name).nbytes());
        impl_->const_ptr[b][name] = dst;
      }
    }
  }
  auto arena_ptr = [&](size_t b, size_t off) -> void* {
    return static_cast<std::byte*>(impl_->arenas[b].get()) + off;
  };
  impl_->exec.resize(graph_.nodes.size());
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (folded[i]) continue;
    const Node& n = graph_.nodes[i];
    const size_t b = static_cast<size_t>(node_backend_[i]);
    detail::NodeExec& ex = impl_->exec[i];
    ex.backend = static_cast<int>(b);
    NodeContext ctx{n, opset, {}, {}, {}};
    for (const std::string& name : n.inputs) {
      if (name.empty()) {
        ctx.inputs.emplace_back();
        ctx.const_inputs.push_back(nullptr);
        ex.in.emplace_back();
        continue;
      }
      const TensorInfo& ti = infos.at(name);
      ctx.inputs.push_back(ti);
      auto c = consts.find(name);
      ctx.const_inputs.push_back(c == consts.end() ? nullptr : &c->second);
      void* ptr = nullptr;
      if (c != consts.end()) {
        ptr = backends_[b]->device() == DeviceKind::Host ? c->second.data() : impl_->const_ptr[b].at(name);
      } else {
        const PlannedTensor& t = *store_.find(name);
        if (static_cast<size_t>(t.backend) == b) {
          ptr = arena_ptr(b, t.offset);
        } else {
          ptr = arena_ptr(b, mirror_offset[b].at(name));
          ex.copies.push_back(detail::MirrorCopy{t.backend, static_cast<int>(b), arena_ptr(static_cast<size_t>(t.backend), t.offset),
                                         ptr, t.info.nbytes()});
        }
      }
      ex.in.push_back(TensorView{ti.dtype, ti.shape, ptr});
    }
    for (const std::string& name : n.outputs) {
      if (name.empty()) {
        ctx.outputs.emplace_back();
        ex.out.emplace_back();
        continue;
      }
      const PlannedTensor& t = *store_.find(name);
      ctx.outputs.push_back(t.info);
      ex.out.push_back(TensorView{t.info.dtype, t.info.shape, arena_ptr(b, t.offset)});
    }
    for (const std::string& name : P.aux_outputs[i]) {
      const PlannedTensor& t = *store_.find(name);
      ctx.outputs.push_back(t.info);
      ex.out.push_back(TensorView{t.info.dtype, t.info.shape, arena_ptr(b, t.offset)});
    }
    ex.kernel = backends_[b]->plan(ctx);
    ex.run_in = ex.in;
  }
  plan_deferred_outputs();
  // The views each kernel will run with (after plan_deferred_outputs: a deferred clamp's readers
  // read its input): fused chains run fused from the first run on (Kernel::bind). Unfused, a first
  // run wrote every chain value, the deferred ones too, from the parallel loops that fault their
  // pages in (PP-OCRv4 det, two threads: first run 180 -> 64-96 ms; docs/PERFORMANCE.md, "Session 14").
  for (detail::NodeExec& ex : impl_->exec)
    if (ex.kernel) ex.kernel->bind(ex.run_in, ex.out);
  prefault_arenas(own_arena);
  prepared_ = true;
}

void Session::prefault_arenas(const std::vector<bool>& own) {
  // 8. The arena bytes a run writes (every stored tensor and mirror, not the deferred ones, which
  // are written on their first read if ever), committed now by their backend (Backend::prefault):
  // the first run then does not fault them in from its parallel kernels.
  const detail::ShapePlan& P = *impl_->plan;
  for (size_t b = 0; b < backends_.size(); ++b) {
    if (!own[b] || !impl_->arenas[b]) continue;
    std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) byte offsets
    for (size_t i = 0; i < store_.tensors_.size(); ++i) {
      const PlannedTensor& t = store_.tensors_[i];
      if (!t.constant && static_cast<size_t>(t.backend) == b && !store_.deferred_.count(i))
        spans.emplace_back(t.offset, t.offset + t.info.nbytes());
    }
    for (const auto& [name, off] : P.mirror_offset[b]) spans.emplace_back(off, off + store_.find(name)->info.nbytes());
    std::sort(spans.begin(), spans.end());
    auto* base = static_cast<std::byte*>(impl_->arenas[b].get());
    for (size_t i = 0; i < spans.size();) {
      size_t end = spans[i].second, j = i + 1;
      for (; j < spans.size() && spans[j].first <= end; ++j) end = std::max(end, spans[j].second);
      if (end > spans[i].first) backends_[b]->prefault(base + spans[i].first, end - spans[i].first);
      i = j;
    }
  }
}

namespace {

// NETLENS_DEFER=0: the run writes every output it could defer (to measure, or to rule it out).
bool deferral_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NETLENS_DEFER");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

// The clamp node i computes, when it is a Relu or a Clip with constant float bounds on a float32
// tensor (opset 11+: bounds as inputs; Clip-6's attribute defaults are the float range, not
// infinities, so it is left to its kernel).
std::optional<Clamp> clamp_of(const Node& n, int64_t opset, const std::map<std::string, TensorInfo>& infos,
                              const std::map<std::string, Tensor>& consts) {
  if (!is_default_domain(n.domain) || n.outputs.size() != 1 || n.inputs.empty() || n.inputs[0].empty()) return std::nullopt;
  const TensorInfo& x = infos.at(n.inputs[0]);
  if (x.dtype != DType::Float32 || infos.at(n.outputs[0]).shape != x.shape) return std::nullopt;
  const float inf = std::numeric_limits<float>::infinity();
  if (n.op_type == "Relu") return Clamp{0.f, inf};
  if (n.op_type != "Clip" || opset < 11) return std::nullopt;
  Clamp c{-inf, inf};
  for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
    if (n.inputs[i].empty()) continue;
    auto k = consts.find(n.inputs[i]);
    if (k == consts.end() || k->second.dtype() != DType::Float32 || k->second.numel() != 1) return std::nullopt;
    (i == 1 ? c.lo : c.hi) = k->second.data_as<float>()[0];
  }
  return c;
}

}  // namespace

void Session::plan_deferred_outputs() {
  // 7. Deferred outputs (runtime.hpp): on a host backend, a chain value that only later steps of its
  // chain read, and a Relu/Clip whose every reader clamps its input while reading it.
  store_.reset_deferred();
  report_.deferred_tensors.clear();
  if (!deferral_enabled()) return;
  const detail::ShapePlan& P = *impl_->plan;
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> readers;  // tensor -> (node, input)
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (!impl_->exec[i].kernel) continue;
    const auto& ins = graph_.nodes[i].inputs;
    for (size_t j = 0; j < ins.size(); ++j)
      if (!ins[j].empty()) readers[ins[j]].emplace_back(i, j);
  }
  std::set<std::string> outputs;
  for (const ValueInfo& v : graph_.outputs) outputs.insert(v.name);
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    detail::NodeExec& ex = impl_->exec[i];
    const Node& n = graph_.nodes[i];
    if (!ex.kernel || backends_[static_cast<size_t>(ex.backend)]->device() != DeviceKind::Host) continue;
    if (n.outputs.size() != 1 || n.outputs[0].empty() || outputs.count(n.outputs[0])) continue;
    const PlannedTensor* dst = store_.find(n.outputs[0]);
    auto r = readers.find(n.outputs[0]);
    if (!dst || dst->backend != ex.backend || r == readers.end()) continue;
    const size_t slot = static_cast<size_t>(dst - store_.tensors_.data());
    auto all_readers = [&](auto&& pred) {
      for (const auto& [node, input] : r->second) {
        const detail::NodeExec& re = impl_->exec[node];
        if (re.backend != ex.backend || !pred(*re.kernel, input)) return false;
      }
      return true;
    };
    // A chain value.
    if (all_readers([&](const Kernel& k, size_t input) { return k.reads_in_chain(input, *ex.kernel); })) {
      if (std::function<void()> fill = ex.kernel->defer_in_chain()) {
        store_.deferred_[slot] = ActivationStore::Deferred{std::move(fill)};
        report_.deferred_tensors.push_back(n.outputs[0]);
        continue;
      }
    }
    // A clamp.
    const auto clamp = clamp_of(n, graph_.opset(), P.infos, store_.constants_);
    if (!clamp || store_.constants_.count(n.inputs[0])) continue;
    const PlannedTensor* src = store_.find(n.inputs[0]);
    // (Its input must be stored: not a chain value deferred above.)
    if (!src || src->constant || src->backend != ex.backend || store_.deferred_.count(static_cast<size_t>(src - store_.tensors_.data())))
      continue;
    if (!all_readers([](const Kernel& k, size_t input) { return k.can_read_clamped(input); }) || !ex.kernel->defer_output())
      continue;
    for (const auto& [node, input] : r->second) {
      detail::NodeExec& re = impl_->exec[node];
      re.kernel->read_clamped(input, *clamp);
      re.run_in[input] = ex.in[0];  // the clamp's input, where the clamp read it
    }
    ex.deferred = true;
    const float* from = static_cast<const float*>(ex.in[0].data);
    float* to = static_cast<float*>(ex.out[0].data);
    const size_t count = static_cast<size_t>(numel(dst->info.shape));
    const Clamp c = *clamp;
    store_.deferred_[slot] = ActivationStore::Deferred{[from, to, count, c] { detail::clamp_into(from, to, count, c); }};
    report_.deferred_tensors.push_back(n.outputs[0]);
  }
}

void Session::run(const std::map<std::string, Tensor>& inputs) { run_impl(inputs, nullptr); }
void Session::run(const std::map<std::string, Tensor>& inputs, RunControl& control) { run_impl(inputs, &control); }

void Session::run_impl(const std::map<std::string, Tensor>& inputs, RunControl* control) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : inputs) {
    const ValueInfo* v = graph_.find_input(name);
    if (!v) {
      std::string names;
      for (const auto& gi : graph_.inputs) names += (names.empty() ? "" : ", ") + gi.name;
      throw Error(ErrorKind::Input, "the model has no input named '" + name + "' (its inputs: " + names + ")");
    }
    if (t.dtype() != v->dtype)
      throw Error(ErrorKind::Input, "input '" + name + "': the model expects " + std::string(dtype_name(v->dtype)) +
                                        ", got " + std::string(dtype_name(t.dtype())));
    shapes[name] = t.shape();
  }
  for (const ValueInfo& v : graph_.inputs)
    if (!inputs.count(v.name)) throw Error(ErrorKind::Input, "input '" + v.name + "' was not given");
  if (!prepared_ || shapes != impl_->bound_shapes) prepare(shapes);
  grads_ = ActivationStore{};  // gradients belong to the run they were computed from
  backward_report_ = BackwardReport{};
  impl_->ran = false;
  store_.new_run();  // deferred outputs are this run's to write again

  for (const auto& [name, t] : inputs) {
    const PlannedTensor& p = *store_.find(name);
    backends_[static_cast<size_t>(p.backend)]->copy_from_host(
        static_cast<std::byte*>(store_.arenas_[static_cast<size_t>(p.backend)]) + p.offset, t.data(), t.nbytes());
  }
  std::vector<bool> replay(backends_.size(), false), active(backends_.size(), false);
  for (const detail::NodeExec& ex : impl_->exec)
    if (ex.kernel) active[static_cast<size_t>(ex.backend)] = true;
  for (size_t b = 0; b < backends_.size(); ++b)
    // A profiled run times each node, so no backend may replay a recorded run (its kernels would
    // not be called and every node would time as 0).
    // A controlled run reports and may stop after every node, so it is never replayed (nor recorded).
    if (active[b]) replay[b] = backends_[b]->begin_run(impl_->single_backend && !opts_.profile && !control);
  const size_t total = graph_.nodes.size();
  if (opts_.profile) node_ms_.assign(total, 0.0);
  for (size_t i = 0; i < total; ++i) {
    detail::NodeExec& ex = impl_->exec[i];
    if (!ex.kernel || replay[static_cast<size_t>(ex.backend)]) continue;
    if (control && control->cancel.load(std::memory_order_relaxed)) {
      // Nothing was recorded (see above): ending the run and draining the backends leaves the
      // session as a prepared one whose last run did not complete.
      for (size_t b = 0; b < backends_.size(); ++b)
        if (active[b]) backends_[b]->end_run();
      for (Backend* b : backends_) b->synchronize();
      throw Cancelled("run cancelled before node " + std::to_string(i) + " of " + std::to_string(total) + " (" +
                      graph_.nodes[i].describe() + ")");
    }
    for (const detail::MirrorCopy& c : ex.copies) {
      Backend& src = *backends_[static_cast<size_t>(c.src_backend)];
      Backend& dst = *backends_[static_cast<size_t>(c.dst_backend)];
      if (src.device() == DeviceKind::Host) {
        dst.copy_from_host(c.dst, c.src, c.bytes);
      } else if (dst.device() == DeviceKind::Host) {
        src.copy_to_host(c.dst, c.src, c.bytes);
      } else {
        throw Error(ErrorKind::Internal, "copies between two device backends are not supported");
      }
    }
    if (ex.deferred) {
      // A deferred clamp is not run; it is done as far as progress and on_node are concerned (its
      // output reads as this run's from here on).
    } else if (opts_.profile) {
      const auto t0 = std::chrono::steady_clock::now();
      ex.kernel->run(ex.run_in, ex.out);
      backends_[static_cast<size_t>(ex.backend)]->synchronize();
      node_ms_[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    } else {
      ex.kernel->run(ex.run_in, ex.out);
    }
    if (opts_.progress) opts_.progress(i + 1, total);
    if (control && control->on_node) control->on_node(i, total);
  }
  for (size_t b = 0; b < backends_.size(); ++b)
    if (active[b]) backends_[b]->end_run();
  for (Backend* b : backends_) b->synchronize();
  impl_->ran = true;
}

// ---------------------------------------------------------------------------------------------
const PlannedTensor* ActivationStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor ActivationStore::fetch(const std::string& name) const {
  auto c = constants_.find(name);
  if (c != constants_.end()) return c->second;
  const PlannedTensor* t = find(name);
  if (!t) throw Error(ErrorKind::Usage, "no tensor named '" + name + "' in the model");
  Backend& b = *backends_.at(static_cast<size_t>(t->backend));
  void* src = static_cast<std::byte*>(arenas_.at(static_cast<size_t>(t->backend))) + t->offset;
  if (!deferred_.empty()) materialize(static_cast<size_t>(t - tensors_.data()));
  if (b.device() == DeviceKind::Host) return Tensor::view(t->info.dtype, t->info.shape, src);
  Tensor out(t->info.dtype, t->info.shape);
  b.copy_to_host(out.data(), src, out.nbytes());
  return out;
}

TensorView ActivationStore::device_view(const std::string& name) const {
  const PlannedTensor* t = find(name);
  if (!t) throw Error(ErrorKind::Usage, "no tensor named '" + name + "' in the model");
  if (t->constant) {
    const Tensor& c = constants_.at(name);
    return TensorView{c.dtype(), c.shape(), const_cast<void*>(c.data())};
  }
  if (!deferred_.empty()) materialize(static_cast<size_t>(t - tensors_.data()));
  return TensorView{t->info.dtype, t->info.shape,
                    static_cast<std::byte*>(arenas_.at(static_cast<size_t>(t->backend))) + t->offset};
}

const std::vector<std::string>& ActivationStore::node_outputs(int node) const {
  return node_outputs_.at(static_cast<size_t>(node));
}

bool ActivationStore::computed_within(const std::string& name, size_t nodes_done) const {
  const PlannedTensor* t = find(name);
  if (!t) return false;
  return t->constant || t->producer < 0 || static_cast<size_t>(t->producer) < nodes_done;
}

}  // namespace netlens
