// Session::backward: reverse mode over the last run. Gradients live in one host arena (float32, one
// slot per float tensor, laid out like the activations), zeroed, seeded, then filled node by node in
// reverse topological order; each node's GradKernel adds into its inputs' slots, so a tensor read by
// several nodes sums their contributions without a separate accumulation pass.
#include <algorithm>
#include <cstring>
#include <set>

#include "netlens/runtime.hpp"
#include "session_impl.hpp"

namespace netlens {

std::unique_ptr<GradKernel> Backend::plan_backward(const NodeContext& ctx, const std::vector<bool>&) {
  throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": " +
                                          backward_unsupported_reason(ctx).value_or("no backward pass on " + name()));
}

void Session::backward(const std::map<std::string, Tensor>& seeds, const GradientOptions& gopts) {
  if (!prepared_ || !impl_->ran) throw Error(ErrorKind::Usage, "backward() needs a run() first: gradients are of a run's values");
  if (seeds.empty()) throw Error(ErrorKind::Usage, "backward() needs at least one seed (the gradient of the target)");
  grads_ = ActivationStore{};
  backward_report_ = BackwardReport{};
  const int host = static_cast<int>(backends_.size()) - 1;
  const int64_t opset = graph_.opset();
  const std::map<std::string, Tensor>& consts = store_.constants_;

  for (const auto& [name, seed] : seeds) {
    const PlannedTensor* t = store_.find(name);
    if (!t || t->constant || consts.count(name))
      throw Error(ErrorKind::Usage, "cannot differentiate with respect to '" + name + "': " +
                                        (t || consts.count(name) ? "it is a constant of the model" : "no such tensor in the run"));
    if (!is_float(t->info.dtype))
      throw Error(ErrorKind::Usage, "cannot differentiate with respect to '" + name + "': it is " +
                                        std::string(dtype_name(t->info.dtype)) + ", not a float tensor");
    if (seed.shape() != t->info.shape || !is_float(seed.dtype()))
      throw Error(ErrorKind::Usage, "the gradient seed for '" + name + "' must be a float tensor of shape " +
                                        shape_str(t->info.shape) + ", got " + std::string(dtype_name(seed.dtype())) + " " +
                                        shape_str(seed.shape()));
  }

  // 1. Which tensors the target depends on (reached), walking the nodes backwards from the seeds.
  auto info_of = [&](const std::string& name) -> const TensorInfo& { return info(name); };
  auto wants_grad = [&](const std::string& name) {
    if (name.empty() || !is_float(info_of(name).dtype)) return false;
    if (!consts.count(name)) return true;
    return gopts.weights;  // a weight: an initializer, a Constant node's value or a folded one
  };
  std::set<std::string> reached;
  for (const auto& [name, seed] : seeds) reached.insert(name);
  std::vector<int> active;  // nodes in reverse order
  for (size_t i = graph_.nodes.size(); i-- > 0;) {
    if (!impl_->exec[i].kernel) continue;  // folded: constant
    const Node& n = graph_.nodes[i];
    bool hit = false;
    for (const std::string& o : n.outputs)
      if (!o.empty() && reached.count(o) && is_float(info_of(o).dtype)) hit = true;
    if (!hit) continue;
    bool any_need = false;
    for (const std::string& in : n.inputs)
      if (wants_grad(in)) { reached.insert(in); any_need = true; }
    if (any_need) active.push_back(static_cast<int>(i));
  }

  // 2. Who differentiates each active node; every node that cannot be differentiated, at once.
  auto context_of = [&](size_t i) {
    const Node& n = graph_.nodes[i];
    NodeContext ctx{n, opset, {}, {}, {}};
    for (const std::string& name : n.inputs) {
      ctx.inputs.push_back(name.empty() ? TensorInfo{} : info_of(name));
      auto c = consts.find(name);
      ctx.const_inputs.push_back(name.empty() || c == consts.end() ? nullptr : &c->second);
    }
    for (const std::string& name : n.outputs) ctx.outputs.push_back(name.empty() ? TensorInfo{} : info_of(name));
    return ctx;
  };
  impl_->grad_exec.resize(graph_.nodes.size());
  std::vector<std::pair<std::string, std::string>> cannot;  // (reason, node), reverse graph order
  for (int i : active) {
    const size_t ui = static_cast<size_t>(i);
    NodeContext ctx = context_of(ui);
    // The gradient arena is host memory, so the host backend differentiates every node; nodes that
    // ran on a device are differentiated on host copies of their values (reported).
    const int fwd = impl_->exec[ui].backend;
    const int b = host;
    std::optional<std::string> why = backends_[static_cast<size_t>(host)]->backward_unsupported_reason(ctx);
    if (!why && fwd != host)
      backward_report_.host_fallback_nodes.push_back(graph_.nodes[ui].describe() + " (ran on " +
                                                     backends_[static_cast<size_t>(fwd)]->name() + ")");
    if (why) { cannot.emplace_back(*why, "'" + graph_.nodes[ui].name + "'"); continue; }
    std::vector<bool> need;
    for (const std::string& in : graph_.nodes[ui].inputs) need.push_back(wants_grad(in));
    detail::GradExec& g = impl_->grad_exec[ui];
    if (!g.kernel || g.backend != b || g.need != need) g = detail::GradExec{nullptr, b, need};
  }
  if (!cannot.empty()) {
    // One line however many: nodes grouped by reason (in graph order), a few names per group.
    std::reverse(cannot.begin(), cannot.end());
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    for (const auto& entry : cannot) {
      // Not a structured binding: clang 14 (the fuzz build's compiler) cannot capture one in a lambda.
      const std::string& why = entry.first;
      const std::string& node = entry.second;
      auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == why; });
      if (g == groups.end()) groups.push_back({why, {node}});
      else g->second.push_back(node);
    }
    std::string msg = "cannot differentiate " + std::to_string(cannot.size()) + " node" + (cannot.size() > 1 ? "s" : "") +
                      " the target depends on: ";
    for (size_t k = 0; k < groups.size(); ++k) {
      const auto& [why, nodes] = groups[k];
      msg += (k ? "; " : "") + why + " (";
      for (size_t j = 0; j < nodes.size() && j < 3; ++j) msg += (j ? ", " : "") + nodes[j];
      if (nodes.size() > 3) msg += " and " + std::to_string(nodes.size() - 3) + " more";
      msg += ")";
    }
    throw Error(ErrorKind::Unsupported, msg);
  }

  // 3. The gradient arena: every float non-constant tensor (zeros where S does not depend on it),
  // plus the wanted weights. Checked against the budget before allocating.
  ActivationStore& gs = grads_;
  size_t bytes = 0;
  auto add_grad = [&](const std::string& name, int producer) {
    PlannedTensor t{name, TensorInfo{DType::Float32, info_of(name).shape}, producer, false, host, bytes};
    if (__builtin_add_overflow(bytes, detail::align_up(t.info.nbytes()), &bytes))
      throw Error(ErrorKind::Memory, "not enough memory: the gradients' byte count overflows 64 bits");
    gs.index_[name] = gs.tensors_.size();
    gs.tensors_.push_back(std::move(t));
  };
  for (const PlannedTensor& t : store_.tensors_)
    if (!t.constant && is_float(t.info.dtype)) add_grad(t.name, t.producer);
  if (gopts.weights)
    for (const auto& name : reached)
      if (consts.count(name)) add_grad(name, -1);
  size_t forward_bytes = 0;
  for (const auto& [b, n] : report_.bytes_per_backend) forward_bytes += n;
  if (opts_.max_memory && (bytes > opts_.max_memory || forward_bytes > opts_.max_memory - bytes))
    throw Error(ErrorKind::Memory, "not enough memory: the gradients need " + detail::mib(bytes) + " on top of the run's " +
                                       detail::mib(forward_bytes) + ", over the memory budget of " + detail::mib(opts_.max_memory));
  Backend& hb = *backends_[static_cast<size_t>(host)];
  if (bytes != impl_->grad_arena_bytes && bytes > hb.available_memory())
    throw Error(ErrorKind::Memory, "not enough memory: the gradients need " + detail::mib(bytes) + " but only " +
                                       detail::mib(hb.available_memory()) + " is available");
  // Repeated passes over one plan (SmoothGrad, integrated gradients) reuse the arena: same layout,
  // and its pages are already faulted in.
  if (impl_->grad_arena_bytes != bytes) {
    impl_->grad_arena.reset();
    impl_->grad_arena = bytes ? hb.allocate(bytes) : DeviceBuffer{};
    impl_->grad_arena_bytes = bytes;
  }
  std::byte* arena = static_cast<std::byte*>(impl_->grad_arena.get());
  if (arena) std::memset(arena, 0, bytes);
  gs.node_outputs_ = store_.node_outputs_;
  gs.backends_ = backends_;
  gs.arenas_.assign(backends_.size(), nullptr);
  gs.arenas_[static_cast<size_t>(host)] = arena;
  backward_report_.gradient_bytes = bytes;
  auto grad_ptr = [&](const std::string& name) -> float* {
    const PlannedTensor* t = gs.find(name);
    return t ? reinterpret_cast<float*>(arena + t->offset) : nullptr;
  };
  for (const auto& [name, seed] : seeds) {
    Tensor s32 = seed.dtype() == DType::Float32 ? seed : seed.cast(DType::Float32);
    if (s32.nbytes()) std::memcpy(grad_ptr(name), s32.data(), s32.nbytes());  // a 0-element seed has no slot
  }

  // 4. Reverse order. A node differentiated on the host although it ran on a device gets host
  // copies of its forward values (constants are on the host already).
  for (int i : active) {
    const size_t ui = static_cast<size_t>(i);
    const Node& n = graph_.nodes[ui];
    detail::GradExec& g = impl_->grad_exec[ui];
    if (!g.kernel) g.kernel = backends_[static_cast<size_t>(g.backend)]->plan_backward(context_of(ui), g.need);
    const detail::NodeExec& ex = impl_->exec[ui];
    std::vector<TensorView> in = ex.in, out = ex.out;
    out.resize(n.outputs.size());  // auxiliary outputs (OpRegistry::add_aux) are not differentiated
    std::vector<Tensor> host_copies;
    if (g.backend != ex.backend) {
      Backend& fb = *backends_[static_cast<size_t>(ex.backend)];
      auto to_host = [&](TensorView& v, const std::string& name) {
        if (!v.data) return;
        auto c = consts.find(name);
        if (c != consts.end()) { v.data = const_cast<void*>(c->second.data()); return; }
        host_copies.emplace_back(v.dtype, v.shape);
        fb.copy_to_host(host_copies.back().data(), v.data, v.nbytes());
        v.data = host_copies.back().data();
      };
      host_copies.reserve(in.size() + out.size());
      for (size_t k = 0; k < in.size(); ++k) to_host(in[k], n.inputs[k]);
      for (size_t k = 0; k < out.size(); ++k) to_host(out[k], n.outputs[k]);
    }
    std::vector<TensorView> gin(n.inputs.size()), gout(n.outputs.size());
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (g.need[k]) gin[k] = TensorView{DType::Float32, info_of(n.inputs[k]).shape, grad_ptr(n.inputs[k])};
    for (size_t k = 0; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty() && is_float(info_of(n.outputs[k]).dtype))
        gout[k] = TensorView{DType::Float32, info_of(n.outputs[k]).shape, grad_ptr(n.outputs[k])};
    g.kernel->run(GradViews{in, out, gout, gin});
    ++backward_report_.differentiated_nodes;
  }
  for (Backend* b : backends_) b->synchronize();
}

}  // namespace netlens
