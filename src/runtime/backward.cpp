// Session::backward: reverse mode over the last run.
//
// Where: a node is differentiated by the backend that ran it when that backend can
// (backward_unsupported_reason() nullopt and plan_backward() not refusing with Error{Unsupported});
// otherwise by the host backend, on host copies of its forward values, listed in
// BackwardReport::host_fallback_nodes with the reason and announced once per plan on stderr.
// Gradient arenas: one per backend (float32, one slot per float tensor). A tensor's gradient lives
// where its activation lives (its "home"), except that a backend which differentiates none of the
// pass's nodes keeps no gradients (they live on the host instead, so a device without backward
// kernels costs no round trips). A weight's gradient lives where the last node reading it (in
// graph order) is differentiated. Each arena is zeroed, seeded, then filled node by node in reverse
// topological order; each node's GradKernel adds into its inputs' slots, so a tensor read by
// several nodes sums their contributions without a separate accumulation pass.
// A node differentiated away from a gradient's home reads/updates it through a per-backend
// staging region ("mirror"): the output gradient is copied in; an input gradient's partial sum is
// copied in, the kernel adds to it, and it is copied back (a device→host or host→device copy of
// the partial sum, done in the order of the reverse walk, so the sum is the same as on one backend).
// Sizes of every arena are checked against the budget and each backend's free memory before any
// allocation.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "netlens/runtime.hpp"
#include "session_impl.hpp"

namespace netlens {

std::unique_ptr<GradKernel> Backend::plan_backward(const NodeContext& ctx, const std::vector<bool>&) {
  throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": " +
                                          backward_unsupported_reason(ctx).value_or("no backward pass on " + name()));
}

void Backend::fill_zero(void* dst, size_t bytes) {
  if (!bytes) return;
  if (device() == DeviceKind::Host) {
    std::memset(dst, 0, bytes);
    return;
  }
  const std::vector<std::byte> zeros(std::min<size_t>(bytes, size_t{16} << 20));
  for (size_t done = 0; done < bytes; done += zeros.size())
    copy_from_host(static_cast<std::byte*>(dst) + done, zeros.data(), std::min(zeros.size(), bytes - done));
}

namespace {

// "<reason> (<node>, <node>, <node> and N more)" groups, in graph order, for one-line messages.
std::string grouped(std::vector<std::pair<std::string, std::string>> items) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const auto& entry : items) {
    // Not a structured binding: clang 14 (the fuzz build's compiler) cannot capture one in a lambda.
    const std::string& why = entry.first;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == why; });
    if (g == groups.end()) groups.push_back({why, {entry.second}});
    else g->second.push_back(entry.second);
  }
  std::string msg;
  for (size_t k = 0; k < groups.size(); ++k) {
    const auto& [why, nodes] = groups[k];
    msg += (k ? "; " : "") + why + " (";
    for (size_t j = 0; j < nodes.size() && j < 3; ++j) msg += (j ? ", " : "") + nodes[j];
    if (nodes.size() > 3) msg += " and " + std::to_string(nodes.size() - 3) + " more";
    msg += ")";
  }
  return msg;
}

}  // namespace

void Session::backward(const std::map<std::string, Tensor>& seeds, const GradientOptions& gopts) {
  if (!prepared_ || !impl_->ran) throw Error(ErrorKind::Usage, "backward() needs a run() first: gradients are of a run's values");
  if (seeds.empty()) throw Error(ErrorKind::Usage, "backward() needs at least one seed (the gradient of the target)");
  grads_ = ActivationStore{};
  backward_report_ = BackwardReport{};
  store_.materialize_all();  // the backward kernels read deferred clamp outputs in their slots
  const int host = static_cast<int>(backends_.size()) - 1;
  const size_t nb = backends_.size();
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

  // 2. Who differentiates each active node: the backend that ran it when it can, else the host;
  // every node that nobody can differentiate, at once.
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
  std::vector<std::pair<std::string, std::string>> cannot;     // (reason, node), reverse graph order
  std::vector<std::pair<std::string, std::string>> new_fallback;  // planned onto the host this pass
  for (int i : active) {
    const size_t ui = static_cast<size_t>(i);
    const Node& n = graph_.nodes[ui];
    const int fwd = impl_->exec[ui].backend;
    std::vector<bool> need;
    for (const std::string& in : n.inputs) need.push_back(wants_grad(in));
    detail::GradExec& g = impl_->grad_exec[ui];
    const bool cached = g.kernel && g.need == need && (g.backend == fwd || g.backend == host);
    if (!cached) {
      g = detail::GradExec{nullptr, host, need, {}};
      const NodeContext ctx = context_of(ui);
      std::optional<std::string> why_device;
      if (fwd != host) {
        Backend& fb = *backends_[static_cast<size_t>(fwd)];
        why_device = fb.backward_unsupported_reason(ctx);
        if (!why_device) {
          try {
            g.kernel = fb.plan_backward(ctx, need);
            g.backend = fwd;
          } catch (const Error& e) {
            if (e.kind() != ErrorKind::Unsupported) throw;
            std::string w = e.what();  // without the "<node>: " prefix the list adds itself
            const std::string prefix = n.describe() + ": ";
            why_device = w.rfind(prefix, 0) == 0 ? w.substr(prefix.size()) : w;
          }
        }
      }
      if (g.backend == host) {
        if (auto why = backends_[static_cast<size_t>(host)]->backward_unsupported_reason(ctx)) {
          cannot.emplace_back(*why, "'" + n.name + "'");
          g = detail::GradExec{};
          continue;
        }
        if (fwd != host) {
          g.fallback_reason = *why_device;
          new_fallback.emplace_back(backends_[static_cast<size_t>(fwd)]->name() + ": " + *why_device, "'" + n.name + "'");
        }
      }
    }
    if (g.backend != fwd)
      backward_report_.host_fallback_nodes.push_back(n.describe() + " (ran on " + backends_[static_cast<size_t>(fwd)]->name() +
                                                     ": " + g.fallback_reason + ")");
  }
  if (!cannot.empty()) {
    // One line however many: nodes grouped by reason (in graph order), a few names per group.
    std::reverse(cannot.begin(), cannot.end());
    throw Error(ErrorKind::Unsupported, "cannot differentiate " + std::to_string(cannot.size()) + " node" +
                                            (cannot.size() > 1 ? "s" : "") + " the target depends on: " + grouped(cannot));
  }
  if (!new_fallback.empty()) {
    // Announced when planned (not on every pass of SmoothGrad or integrated gradients).
    std::reverse(new_fallback.begin(), new_fallback.end());
    std::fprintf(stderr, "netlens: backward: %zu node(s) differentiated on the %s from copies of their device values: %s\n",
                 new_fallback.size(), backends_[static_cast<size_t>(host)]->name().c_str(), grouped(new_fallback).c_str());
  }

  // 3. Gradient arenas. Homes: every float non-constant tensor (zeros where S does not depend on
  // it), plus the wanted weights; then each backend's staging region, sized for its largest node.
  std::vector<bool> differentiates(nb, false);
  differentiates[static_cast<size_t>(host)] = true;
  for (int i : active) differentiates[static_cast<size_t>(impl_->grad_exec[static_cast<size_t>(i)].backend)] = true;
  ActivationStore& gs = grads_;
  std::vector<size_t> home_bytes(nb, 0);
  auto add_bytes = [](size_t& total, size_t n) {
    if (__builtin_add_overflow(total, detail::align_up(n), &total))
      throw Error(ErrorKind::Memory, "not enough memory: the gradients' byte count overflows 64 bits");
  };
  auto add_grad = [&](const std::string& name, int producer, int backend) {
    const size_t b = static_cast<size_t>(differentiates[static_cast<size_t>(backend)] ? backend : host);
    PlannedTensor t{name, TensorInfo{DType::Float32, info_of(name).shape}, producer, false, static_cast<int>(b), home_bytes[b]};
    add_bytes(home_bytes[b], t.info.nbytes());
    gs.index_[name] = gs.tensors_.size();
    gs.tensors_.push_back(std::move(t));
  };
  for (const PlannedTensor& t : store_.tensors_)
    if (!t.constant && is_float(t.info.dtype)) add_grad(t.name, t.producer, t.backend);
  if (gopts.weights) {
    std::map<std::string, int> weight_home;  // the last reader in graph order = the first in `active`
    for (int i : active)
      for (const std::string& in : graph_.nodes[static_cast<size_t>(i)].inputs)
        if (!in.empty() && consts.count(in) && reached.count(in) && !weight_home.count(in))
          weight_home[in] = impl_->grad_exec[static_cast<size_t>(i)].backend;
    for (const auto& [name, b] : weight_home) add_grad(name, -1, b);
  }
  auto home_of = [&](const std::string& name) { return gs.find(name)->backend; };
  // Staging: per node, the gradients it touches whose home is another backend.
  std::vector<size_t> stage_bytes(nb, 0);
  for (int i : active) {
    const size_t ui = static_cast<size_t>(i);
    const Node& n = graph_.nodes[ui];
    const detail::GradExec& g = impl_->grad_exec[ui];
    std::set<std::string> seen;
    size_t bytes = 0;
    auto stage = [&](const std::string& name) {
      if (name.empty() || !gs.contains(name) || home_of(name) == g.backend || !seen.insert(name).second) return;
      add_bytes(bytes, gs.find(name)->info.nbytes());
    };
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (g.need[k]) stage(n.inputs[k]);
    for (const std::string& o : n.outputs)
      if (!o.empty() && is_float(info_of(o).dtype)) stage(o);
    stage_bytes[static_cast<size_t>(g.backend)] = std::max(stage_bytes[static_cast<size_t>(g.backend)], bytes);
  }
  std::vector<size_t> arena_bytes(nb, 0);
  size_t bytes = 0;
  for (size_t b = 0; b < nb; ++b) {
    arena_bytes[b] = home_bytes[b];
    if (stage_bytes[b] && __builtin_add_overflow(arena_bytes[b], stage_bytes[b], &arena_bytes[b]))
      throw Error(ErrorKind::Memory, "not enough memory: the gradients' byte count overflows 64 bits");
    if (__builtin_add_overflow(bytes, arena_bytes[b], &bytes))
      throw Error(ErrorKind::Memory, "not enough memory: the gradients' byte count overflows 64 bits");
  }
  size_t forward_bytes = 0;
  for (const auto& [b, n] : report_.bytes_per_backend) forward_bytes += n;
  // Nothing is allocated or kept when a check fails (has_gradients() stays false).
  auto no_memory = [&](const std::string& msg) {
    grads_ = ActivationStore{};
    throw Error(ErrorKind::Memory, msg);
  };
  if (opts_.max_memory && (bytes > opts_.max_memory || forward_bytes > opts_.max_memory - bytes))
    no_memory("not enough memory: the gradients need " + detail::mib(bytes) + " on top of the run's " +
                                       detail::mib(forward_bytes) + ", over the memory budget of " + detail::mib(opts_.max_memory));
  impl_->grad_arenas.resize(nb);
  impl_->grad_arena_bytes.resize(nb, 0);
  for (size_t b = 0; b < nb; ++b) {
    // An arena of the same size is reused (its memory is ours already): only a change is checked.
    if (arena_bytes[b] == impl_->grad_arena_bytes[b]) continue;
    const size_t held = impl_->grad_arena_bytes[b];
    const size_t avail = backends_[b]->available_memory();
    if (arena_bytes[b] > held && arena_bytes[b] - held > avail)
      no_memory("not enough memory: the gradients need " + detail::mib(arena_bytes[b]) + " on " +
                                         backends_[b]->name() + " but only " + detail::mib(avail + held) + " is available");
  }
  // Repeated passes over one plan (SmoothGrad, integrated gradients) reuse the arenas: same layout,
  // and host pages are already faulted in.
  for (size_t b = 0; b < nb; ++b) {
    if (impl_->grad_arena_bytes[b] == arena_bytes[b]) continue;
    impl_->grad_arenas[b].reset();
    impl_->grad_arena_bytes[b] = 0;
    if (arena_bytes[b]) impl_->grad_arenas[b] = backends_[b]->allocate(arena_bytes[b]);
    impl_->grad_arena_bytes[b] = arena_bytes[b];
  }
  gs.node_outputs_ = store_.node_outputs_;
  gs.backends_ = backends_;
  gs.arenas_.assign(nb, nullptr);
  for (size_t b = 0; b < nb; ++b) {
    gs.arenas_[b] = impl_->grad_arenas[b].get();
    if (home_bytes[b]) backends_[b]->fill_zero(gs.arenas_[b], home_bytes[b]);
  }
  backward_report_.gradient_bytes = bytes;
  auto grad_ptr = [&](const std::string& name) -> std::byte* {
    const PlannedTensor* t = gs.find(name);
    return t ? static_cast<std::byte*>(gs.arenas_[static_cast<size_t>(t->backend)]) + t->offset : nullptr;
  };
  // dst (on backend `to`) ← src (on backend `from`); one of them is the host.
  auto transfer = [&](int from, int to, void* dst, const void* src, size_t n) {
    if (!n) return;
    Backend& f = *backends_[static_cast<size_t>(from)];
    Backend& t = *backends_[static_cast<size_t>(to)];
    if (f.device() == DeviceKind::Host && t.device() == DeviceKind::Host) std::memcpy(dst, src, n);
    else if (f.device() == DeviceKind::Host) t.copy_from_host(dst, src, n);
    else if (t.device() == DeviceKind::Host) f.copy_to_host(dst, src, n);
    else throw Error(ErrorKind::Internal, "gradient copies between two device backends are not supported");
  };
  for (const auto& [name, seed] : seeds) {
    Tensor s32 = seed.dtype() == DType::Float32 ? seed : seed.cast(DType::Float32);
    if (s32.nbytes()) transfer(host, home_of(name), grad_ptr(name), s32.data(), s32.nbytes());  // 0 elements: no slot
  }

  // 4. Reverse order. A node differentiated on the host although it ran on a device gets host
  // copies of its forward values (constants are on the host already).
  for (int i : active) {
    const size_t ui = static_cast<size_t>(i);
    const Node& n = graph_.nodes[ui];
    detail::GradExec& g = impl_->grad_exec[ui];
    const int gb = g.backend;
    if (!g.kernel) g.kernel = backends_[static_cast<size_t>(gb)]->plan_backward(context_of(ui), g.need);
    const detail::NodeExec& ex = impl_->exec[ui];
    std::vector<TensorView> in = ex.in, out = ex.out;
    out.resize(n.outputs.size());  // auxiliary outputs (OpRegistry::add_aux) are not differentiated
    std::vector<Tensor> host_copies;
    if (gb != ex.backend) {
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
    // Gradient views on `gb`: in place where the gradient lives there, else a staging slot.
    struct Staged {
      std::string name;
      std::byte* slot;
      bool write_back;
    };
    std::vector<Staged> staged;
    size_t stage_at = home_bytes[static_cast<size_t>(gb)];
    auto view_of = [&](const std::string& name, bool is_input) -> void* {
      const int h = home_of(name);
      if (h == gb) return grad_ptr(name);
      for (Staged& s : staged)
        if (s.name == name) {
          s.write_back |= is_input;
          return s.slot;
        }
      std::byte* slot = static_cast<std::byte*>(gs.arenas_[static_cast<size_t>(gb)]) + stage_at;
      const size_t nbytes = gs.find(name)->info.nbytes();
      stage_at += detail::align_up(nbytes);
      transfer(h, gb, slot, grad_ptr(name), nbytes);  // the output gradient, or the partial sum so far
      staged.push_back({name, slot, is_input});
      return slot;
    };
    std::vector<TensorView> gin(n.inputs.size()), gout(n.outputs.size());
    for (size_t k = 0; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty() && is_float(info_of(n.outputs[k]).dtype))
        gout[k] = TensorView{DType::Float32, info_of(n.outputs[k]).shape, view_of(n.outputs[k], false)};
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (g.need[k]) gin[k] = TensorView{DType::Float32, info_of(n.inputs[k]).shape, view_of(n.inputs[k], true)};
    g.kernel->run(GradViews{in, out, gout, gin});
    for (const Staged& s : staged)
      if (s.write_back) transfer(gb, home_of(s.name), grad_ptr(s.name), s.slot, gs.find(s.name)->info.nbytes());
    ++backward_report_.differentiated_nodes;
  }
  for (Backend* b : backends_) b->synchronize();
}

}  // namespace netlens
