// The harness's machinery: case builders, the backends under test, guarded runs, comparisons.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>

#include "conformance.hpp"
#include "netlens/runtime/shape_util.hpp"
#ifdef NETLENS_CONFORMANCE_CUDA
#include "netlens/cuda.hpp"
#endif

namespace netlens::conformance {

namespace {
constexpr size_t kGuard = 512;  // a multiple of 256: the output view stays as aligned as allocate()'s
constexpr uint8_t kPoison = 0xA5;

std::mt19937& rng() {
  static std::mt19937 g(1234);
  return g;
}

struct Guarded {
  DeviceBuffer buf;
  size_t bytes = 0;
  void* view() const { return static_cast<uint8_t*>(buf.get()) + kGuard; }
};

// A buffer of `bytes` with kGuard poisoned bytes on each side; the middle filled from `fill`
// (poison when null).
Guarded guarded_alloc(Backend& b, size_t bytes, const void* fill) {
  Guarded g{b.allocate(bytes + 2 * kGuard), bytes};
  std::vector<uint8_t> host(bytes + 2 * kGuard, kPoison);
  if (fill && bytes) std::memcpy(host.data() + kGuard, fill, bytes);
  b.copy_from_host(g.buf.get(), host.data(), host.size());
  return g;
}

// Copies the middle back into `out` and returns a problem when a guard byte changed.
std::string guarded_read(Backend& b, const Guarded& g, void* out, const std::string& what) {
  std::vector<uint8_t> host(g.bytes + 2 * kGuard);
  b.copy_to_host(host.data(), g.buf.get(), host.size());
  if (out && g.bytes) std::memcpy(out, host.data() + kGuard, g.bytes);
  for (size_t k = 0; k < kGuard; ++k) {
    if (host[kGuard - 1 - k] != kPoison)
      return what + ": written " + std::to_string(k + 1) + " byte(s) before its start (guard overrun on " + b.name() + ")";
    if (host[kGuard + g.bytes + k] != kPoison)
      return what + ": written " + std::to_string(k) + " byte(s) past its end (guard overrun on " + b.name() + ")";
  }
  return "";
}

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
void time_it(Backend& b, Timing* t, F&& once) {
  if (!t || t->reps <= 0) return;
  once();  // warm-up
  b.synchronize();
  const double start = now_us();
  for (int r = 0; r < t->reps; ++r) {
    const double t0 = now_us();
    once();
    b.synchronize();
    t->us.push_back(now_us() - t0);
    if (now_us() - start > 200e3 && r >= 4) break;  // big cases: enough samples for a median
  }
}
}  // namespace

// A backend that forwards everything to `inner` but differentiates nothing: the path of a device
// backend without backward kernels (Session::backward differentiates its nodes on the host).
class ForwardOnly final : public Backend {
 public:
  explicit ForwardOnly(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return "cpu-forward-only"; }
  DeviceKind device() const override { return inner_->device(); }
  std::optional<std::string> unsupported_reason(const NodeContext& ctx) const override { return inner_->unsupported_reason(ctx); }
  std::unique_ptr<Kernel> plan(const NodeContext& ctx) override { return inner_->plan(ctx); }
  size_t available_memory() const override { return inner_->available_memory(); }
  DeviceBuffer allocate(size_t bytes) override { return inner_->allocate(bytes); }
  void copy_from_host(void* d, const void* s, size_t n) override { inner_->copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { inner_->copy_to_host(d, s, n); }
  void synchronize() override { inner_->synchronize(); }

 private:
  std::unique_ptr<Backend> inner_;
};

// A CPU backend that calls itself a device (DeviceKind::Cuda): a Session gives it its own activation
// and gradient arenas and moves data through its copies and fill_zero, as for the CUDA backend, so
// the device-arena path of Session::backward runs for every case on machines without a GPU.
class HostAsDevice final : public Backend {
 public:
  explicit HostAsDevice(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return "cpu-as-device"; }
  DeviceKind device() const override { return DeviceKind::Cuda; }
  std::optional<std::string> unsupported_reason(const NodeContext& ctx) const override { return inner_->unsupported_reason(ctx); }
  std::unique_ptr<Kernel> plan(const NodeContext& ctx) override { return inner_->plan(ctx); }
  std::optional<std::string> backward_unsupported_reason(const NodeContext& ctx) const override {
    return inner_->backward_unsupported_reason(ctx);
  }
  std::unique_ptr<GradKernel> plan_backward(const NodeContext& ctx, const std::vector<bool>& need) override {
    return inner_->plan_backward(ctx, need);
  }
  size_t available_memory() const override { return inner_->available_memory(); }
  DeviceBuffer allocate(size_t bytes) override { return inner_->allocate(bytes); }
  void copy_from_host(void* d, const void* s, size_t n) override { inner_->copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { inner_->copy_to_host(d, s, n); }
  void fill_zero(void* d, size_t n) override {
    if (n) std::memset(d, 0, n);
  }
  void synchronize() override { inner_->synchronize(); }

 private:
  std::unique_ptr<Backend> inner_;
};

// ---- building cases -----------------------------------------------------------------------------
Tensor rand_f32(const Shape& s, float lo, float hi) {
  Tensor t(DType::Float32, s);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng());
  return t;
}
Tensor rand_i64(const Shape& s, int64_t lo, int64_t hi, bool nonzero) {
  Tensor t(DType::Int64, s);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = d(rng());
    if (nonzero && v == 0) v = 1;
    t.data_as<int64_t>()[i] = v;
  }
  return t;
}
Tensor rand_bool(const Shape& s) {
  Tensor t(DType::Bool, s);
  std::bernoulli_distribution d(0.5);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<uint8_t>()[i] = d(rng()) ? 1 : 0;
  return t;
}
Input var(Tensor t) { return Input{std::move(t), false}; }
Input cst(Tensor t) { return Input{std::move(t), true}; }
Input none() { return Input{}; }

OpCase make_case(const std::string& op, std::vector<Input> inputs, std::map<std::string, AttrValue> attrs, double tol,
                 int64_t opset, size_t n_out) {
  OpCase c;
  c.node.name = op + "_case";
  c.node.op_type = op;
  c.node.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i)
    c.node.inputs.push_back(inputs[i].value.defined() ? "in" + std::to_string(i) : "");
  for (size_t i = 0; i < n_out; ++i) c.node.outputs.push_back("out" + std::to_string(i));
  c.inputs = std::move(inputs);
  c.tol = tol;
  c.opset = opset;
  std::string shapes;
  for (const Input& i : c.inputs) {
    shapes += shapes.empty() ? "" : ",";
    if (!i.value.defined()) { shapes += "-"; continue; }
    shapes += shape_str(i.value.shape());
    if (i.value.dtype() != DType::Float32) shapes += ":" + std::string(dtype_name(i.value.dtype()));
  }
  c.label = op + "(" + shapes + ")";
  std::string attr;
  for (const auto& [k, v] : c.node.attrs) {
    std::string val;
    if (auto* i = std::get_if<int64_t>(&v)) val = std::to_string(*i);
    else if (auto* f = std::get_if<float>(&v)) val = std::to_string(*f).substr(0, 6);
    else if (auto* s = std::get_if<std::string>(&v)) val = *s;
    else if (auto* vi = std::get_if<std::vector<int64_t>>(&v)) {
      for (int64_t x : *vi) val += (val.empty() ? "" : ",") + std::to_string(x);
      val = "[" + val + "]";
    } else val = "…";
    attr += " " + k + "=" + val;
  }
  c.label += attr;
  if (opset != 17) c.label += " opset " + std::to_string(opset);
  return c;
}

// ---- backends -----------------------------------------------------------------------------------
Backend& cpu_backend() {
  static std::unique_ptr<Backend> b = make_cpu_backend();
  return *b;
}

std::vector<BackendUnderTest>& other_backends() {
  static std::vector<BackendUnderTest> list = [] {
    std::vector<BackendUnderTest> l;
    static std::vector<std::unique_ptr<Backend>> owned;
    if (env_flag("NETLENS_CONFORMANCE_SELF_CHECK")) {
      owned.push_back(make_cpu_backend());
      l.push_back(BackendUnderTest{"cpu-self-check", owned.back().get(), "", {}, {}, {}, {}});
      owned.push_back(std::make_unique<ForwardOnly>(make_cpu_backend()));
      l.push_back(BackendUnderTest{"cpu-forward-only", owned.back().get(), "", {}, {}, {}, {}});
      owned.push_back(std::make_unique<HostAsDevice>(make_cpu_backend()));
      l.push_back(BackendUnderTest{"cpu-as-device", owned.back().get(), "", {}, {}, {}, {}});
    }
#ifdef NETLENS_CONFORMANCE_CUDA
    // Reduced-precision modes: Conv/ConvTranspose/Gemm/MatMul within 5e-3 relative L2 per op
    // (netlens/cuda.hpp); every other op computes in fp32 there too.
    const std::map<std::string, double> reduced = {{"Conv", 5e-3}, {"ConvTranspose", 5e-3}, {"Gemm", 5e-3}, {"MatMul", 5e-3}};
    for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Fp16}) {
      BackendUnderTest t;
      t.name = p == Precision::Fp32 ? "cuda" : std::string("cuda-") + precision_name(p);
      try {
        owned.push_back(make_cuda_backend(0, p));
        t.backend = owned.back().get();
      } catch (const Error& e) {
        t.unavailable = e.what();
      }
      if (p != Precision::Fp32) t.op_tol = reduced;
      l.push_back(std::move(t));
    }
    // The direct convolution kernels (the fallback when cuDNN has no engine): the convolutions again.
    BackendUnderTest direct = l[l.size() - 3];
    direct.name = "cuda-direct-conv";
    direct.only_ops = {"Conv", "ConvTranspose"};
    direct.before = [] { ::setenv("NETLENS_CUDA_DIRECT_CONV", "1", 1); };
    direct.after = [] { ::unsetenv("NETLENS_CUDA_DIRECT_CONV"); };
    l.push_back(std::move(direct));
#endif
    return l;
  }();
  return list;
}

// ---- running ------------------------------------------------------------------------------------
std::optional<Planned> plan_case(const OpCase& c, std::string* why) {
  Planned p;
  std::vector<const TensorInfo*> ptrs;
  for (const Input& i : c.inputs) {
    p.in.push_back(i.value.defined() ? TensorInfo{i.value.dtype(), i.value.shape()} : TensorInfo{});
    p.consts.push_back(i.value.defined() && i.constant ? &i.value : nullptr);
  }
  for (size_t i = 0; i < p.in.size(); ++i) ptrs.push_back(c.inputs[i].value.defined() ? &p.in[i] : nullptr);
  const InferFn* infer = OpRegistry::global().find(c.node.op_type);
  if (!infer) {
    *why = "no shape function for " + c.node.op_type;
    return std::nullopt;
  }
  try {
    p.out = (*infer)(InferContext{c.node, c.opset, ptrs, p.consts});
  } catch (const Error& e) {
    *why = std::string("shape inference: ") + e.what();
    return std::nullopt;
  }
  // One info per node output, as Session::prepare keeps them (a shape function may describe every
  // output the op can have, or leave out trailing ones the node omits).
  for (size_t k = p.out.size(); k < c.node.outputs.size(); ++k)
    if (!c.node.outputs[k].empty()) {
      *why = "shape inference gave no info for output " + std::to_string(k);
      return std::nullopt;
    }
  p.out.resize(c.node.outputs.size());
  return p;
}

ForwardRun run_forward(Backend& b, const OpCase& c, const Planned& p, Timing* timing) {
  ForwardRun r;
  try {
    const NodeContext ctx = context_of(c, p);
    std::vector<DeviceBuffer> in_bufs;
    std::vector<TensorView> in, out;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const Tensor& t = c.inputs[i].value;
      if (!t.defined()) { in.push_back(TensorView{}); continue; }
      in_bufs.push_back(b.allocate(std::max<size_t>(t.nbytes(), 1)));
      if (t.nbytes()) b.copy_from_host(in_bufs.back().get(), t.data(), t.nbytes());
      in.push_back(TensorView{t.dtype(), t.shape(), in_bufs.back().get()});
    }
    std::vector<Guarded> outs(p.out.size());
    for (size_t i = 0; i < p.out.size(); ++i) {
      if (c.node.outputs[i].empty()) { out.push_back(TensorView{}); continue; }
      outs[i] = guarded_alloc(b, p.out[i].nbytes(), nullptr);
      out.push_back(TensorView{p.out[i].dtype, p.out[i].shape, outs[i].view()});
    }
    std::unique_ptr<Kernel> k = b.plan(ctx);
    k->run(in, out);
    // Host backends: the second run must give the same bytes (kernels reuse scratch and packed
    // weights; a device may legitimately reorder atomics, so there only the values are compared).
    std::vector<std::vector<uint8_t>> first(p.out.size());
    if (b.device() == DeviceKind::Host)
      for (size_t i = 0; i < p.out.size(); ++i)
        if (out[i].data) first[i].assign(static_cast<uint8_t*>(out[i].data), static_cast<uint8_t*>(out[i].data) + out[i].nbytes());
    k->run(in, out);  // twice: a kernel must not depend on state a previous run left
    b.synchronize();
    std::string rerun;
    for (size_t i = 0; i < first.size(); ++i)
      if (!first[i].empty() && std::memcmp(first[i].data(), out[i].data, first[i].size()) != 0 && rerun.empty())
        rerun = "output " + std::to_string(i) + ": a second run of the same kernel gave other bytes";
    for (size_t i = 0; i < p.out.size(); ++i) {
      if (c.node.outputs[i].empty()) { r.outputs.emplace_back(); continue; }
      r.outputs.emplace_back(p.out[i].dtype, p.out[i].shape);
      const std::string g = guarded_read(b, outs[i], r.outputs.back().data(), "output " + std::to_string(i));
      if (!g.empty() && r.problem.empty()) r.problem = g;
    }
    size_t bi = 0;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const Tensor& t = c.inputs[i].value;
      if (!t.defined()) continue;
      std::vector<uint8_t> back(t.nbytes());
      if (t.nbytes()) b.copy_to_host(back.data(), in_bufs[bi].get(), t.nbytes());
      ++bi;
      if (t.nbytes() && std::memcmp(back.data(), t.data(), t.nbytes()) != 0 && r.problem.empty())
        r.problem = "input " + std::to_string(i) + " was modified by the kernel on " + b.name();
    }
    if (r.problem.empty()) r.problem = rerun;
    time_it(b, timing, [&] { k->run(in, out); });
  } catch (const std::exception& e) {
    r.problem = std::string("forward on ") + b.name() + " threw: " + e.what();
  }
  return r;
}

std::vector<Tensor> seeds_for(const Planned& p, const OpCase& c) {
  std::vector<Tensor> s;
  std::mt19937 g(4321);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (size_t o = 0; o < p.out.size(); ++o) {
    if (c.node.outputs[o].empty() || !is_float(p.out[o].dtype)) { s.emplace_back(); continue; }
    Tensor t(DType::Float32, p.out[o].shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(g);
    s.push_back(std::move(t));
  }
  return s;
}

std::vector<bool> need_of(const Planned& p) {
  std::vector<bool> need;
  for (const TensorInfo& i : p.in) need.push_back(i.dtype != DType::Undefined && is_float(i.dtype));
  return need;
}

BackwardRun run_backward(Backend& b, const OpCase& c, const Planned& p, const std::vector<Tensor>& fwd_outputs,
                         const std::vector<Tensor>& seeds, Timing* timing) {
  BackwardRun r;
  auto fail = [&](const std::string& m) { if (r.problem.empty()) r.problem = m; };
  try {
    const NodeContext ctx = context_of(c, p);
    const std::vector<bool> need = need_of(p);
    // Forward values and output gradients in the backend's memory (checked unchanged afterwards).
    std::vector<std::pair<const Tensor*, DeviceBuffer>> ro;
    auto upload = [&](const Tensor& t) -> TensorView {
      if (!t.defined()) return TensorView{};
      ro.emplace_back(&t, b.allocate(std::max<size_t>(t.nbytes(), 1)));
      if (t.nbytes()) b.copy_from_host(ro.back().second.get(), t.data(), t.nbytes());
      return TensorView{t.dtype(), t.shape(), ro.back().second.get()};
    };
    std::vector<TensorView> in, out, gout, gin;
    for (const Input& i : c.inputs) in.push_back(upload(i.value));
    for (const Tensor& t : fwd_outputs) out.push_back(upload(t));
    for (const Tensor& t : seeds) gout.push_back(upload(t));
    std::unique_ptr<GradKernel> k = b.plan_backward(ctx, need);
    // Pass 1 from zeros, pass 2 from a prefill P: pass 2 − P must equal pass 1.
    std::vector<Tensor> prefill;
    std::mt19937 g(99);
    std::uniform_real_distribution<float> d(-3.0f, 3.0f);
    for (size_t pass = 0; pass < 2; ++pass) {
      std::vector<Guarded> bufs(c.inputs.size());
      gin.clear();
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        if (!need[i]) { gin.push_back(TensorView{}); continue; }
        Tensor init(DType::Float32, p.in[i].shape);
        if (pass == 0) std::memset(init.data(), 0, init.nbytes());
        else for (int64_t e = 0; e < init.numel(); ++e) init.data_as<float>()[e] = d(g);
        if (pass == 1) prefill.push_back(init.clone());
        bufs[i] = guarded_alloc(b, init.nbytes(), init.data());
        gin.push_back(TensorView{DType::Float32, p.in[i].shape, bufs[i].view()});
      }
      k->run(GradViews{in, out, gout, gin});
      b.synchronize();
      size_t pi = 0;
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        if (pass == 0) r.grads.emplace_back();
        if (!need[i]) continue;
        Tensor got(DType::Float32, p.in[i].shape);
        fail(guarded_read(b, bufs[i], got.data(), "gradient of input " + std::to_string(i)));
        if (pass == 0) { r.grads[i] = std::move(got); continue; }
        const Tensor& pre = prefill[pi++];
        for (int64_t e = 0; e < got.numel(); ++e) {
          const double first = r.grads[i].get_f64(e), added = got.get_f64(e) - pre.get_f64(e);
          if (std::isfinite(first) && std::abs(added - first) > 1e-5 * (std::abs(first) + std::abs(pre.get_f64(e))) + 1e-6) {
            fail("gradient of input " + std::to_string(i) + " element " + std::to_string(e) + ": from a prefill P the kernel gave " +
                 std::to_string(got.get_f64(e)) + ", P + its result from zeros is " + std::to_string(pre.get_f64(e) + first) +
                 " (kernels must add into input gradients, GradKernel contract)");
            break;
          }
        }
      }
    }
    for (auto& [t, buf] : ro) {
      std::vector<uint8_t> back(t->nbytes());
      if (t->nbytes()) b.copy_to_host(back.data(), buf.get(), t->nbytes());
      if (t->nbytes() && std::memcmp(back.data(), t->data(), t->nbytes()) != 0)
        fail("a forward value or output gradient was modified by the backward kernel on " + b.name());
    }
    if (timing && timing->reps > 0) {
      std::vector<Guarded> bufs(c.inputs.size());
      for (size_t i = 0; i < c.inputs.size(); ++i)
        if (need[i]) {
          bufs[i] = guarded_alloc(b, p.in[i].nbytes() / dtype_size(p.in[i].dtype) * 4, nullptr);
          gin[i].data = bufs[i].view();
        }
      time_it(b, timing, [&] { k->run(GradViews{in, out, gout, gin}); });
    }
  } catch (const std::exception& e) {
    fail(std::string("backward on ") + b.name() + " threw: " + e.what());
  }
  return r;
}

BackwardRun session_backward(const std::vector<Backend*>& backends, const OpCase& c, const Planned& p,
                             const std::vector<Tensor>& seeds, std::vector<std::string>* host_fallback) {
  BackwardRun r;
  try {
    Graph g;
    g.opsets[""] = c.opset;
    Node n = c.node;
    std::map<std::string, Tensor> feeds;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      if (c.inputs[i].constant) {
        g.initializers[n.inputs[i]] = c.inputs[i].value;
      } else {
        ValueInfo v{n.inputs[i], c.inputs[i].value.dtype(), {}, true};
        for (int64_t d : c.inputs[i].value.shape()) v.dims.push_back(Dim{d, ""});
        g.inputs.push_back(v);
        feeds[n.inputs[i]] = c.inputs[i].value;
      }
    }
    g.nodes.push_back(n);
    Session s(std::move(g), backends);
    s.run(feeds);
    std::map<std::string, Tensor> seed_map;
    for (size_t o = 0; o < seeds.size(); ++o)
      if (seeds[o].defined()) seed_map[c.node.outputs[o]] = seeds[o];
    s.backward(seed_map, GradientOptions{true});
    if (host_fallback) *host_fallback = s.backward_report().host_fallback_nodes;
    const std::vector<bool> need = need_of(p);
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      r.grads.emplace_back();
      if (need[i] && s.gradients().contains(c.node.inputs[i])) r.grads[i] = s.gradients().fetch(c.node.inputs[i]).clone();
    }
  } catch (const std::exception& e) {
    r.problem = std::string("Session backward threw: ") + e.what();
  }
  return r;
}

// ---- comparing ----------------------------------------------------------------------------------
Compare compare_l2(const Tensor& got, const Tensor& want, double tol) {
  Compare r;
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) {
    r.problem = "dtype/shape mismatch: " + std::string(dtype_name(got.dtype())) + " " + shape_str(got.shape()) + " vs " +
                std::string(dtype_name(want.dtype())) + " " + shape_str(want.shape());
    return r;
  }
  const int64_t n = want.numel();
  if (!is_float(want.dtype())) {
    if (n && std::memcmp(got.data(), want.data(), want.nbytes()) != 0)
      for (int64_t i = 0; i < n; ++i)
        if (got.get_i64(i) != want.get_i64(i)) {
          r.problem = "element " + std::to_string(i) + ": " + std::to_string(got.get_i64(i)) + " != " + std::to_string(want.get_i64(i));
          break;
        }
    return r;
  }
  double err = 0, ref = 0;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double a = got.get_f64(i), b = want.get_f64(i);
    if (!std::isfinite(a) || !std::isfinite(b)) {
      if (!((std::isnan(a) && std::isnan(b)) || a == b)) {
        ++bad;
        if (first < 0) first = i;
      }
      continue;
    }
    err += (a - b) * (a - b);
    ref += b * b;
    r.max_abs = std::max(r.max_abs, std::abs(a - b));
  }
  r.rel_l2 = ref > 0 ? std::sqrt(err / ref) : std::sqrt(err);
  if (bad)
    r.problem = std::to_string(bad) + " non-finite mismatch(es), first at " + std::to_string(first) + ": got " +
                std::to_string(got.get_f64(first)) + ", want " + std::to_string(want.get_f64(first));
  else if (!(r.rel_l2 <= tol))
    r.problem = "relative L2 error " + std::to_string(r.rel_l2) + " > " + std::to_string(tol);
  return r;
}

Compare compare_onnx(const Tensor& got, const Tensor& want, double* worst_ratio) {
  constexpr double rtol = 1e-3, atol = 1e-7;
  Compare r;
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) return compare_l2(got, want, 0);
  if (!is_float(want.dtype())) return compare_l2(got, want, 0);
  r = compare_l2(got, want, 1e300);
  r.problem.clear();
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got.get_f64(i), e = want.get_f64(i);
    bool ok;
    if (std::isnan(e)) ok = std::isnan(g);
    else if (std::isinf(e)) ok = g == e;
    else {
      ok = std::isfinite(g) && std::abs(g - e) <= atol + rtol * std::abs(e);
      if (worst_ratio && std::isfinite(g)) *worst_ratio = std::max(*worst_ratio, std::abs(g - e) / (atol + rtol * std::abs(e)));
    }
    if (!ok) {
      r.problem = "element " + std::to_string(i) + ": got " + std::to_string(g) + ", expected " + std::to_string(e) +
                  " (rtol 1e-3, atol 1e-7)";
      break;
    }
  }
  return r;
}

// ---- finite-difference inputs -------------------------------------------------------------------
std::vector<Tensor> fd_inputs(const OpCase& c) {
  std::vector<Tensor> in;
  for (const Input& i : c.inputs) in.push_back(i.value.defined() ? i.value.clone() : Tensor());
  auto varied = [&](size_t i) {
    return in[i].defined() && in[i].dtype() == DType::Float32 && !(i < c.fd_skip.size() && c.fd_skip[i]);
  };
  if (c.distinct) {
    // One pool of evenly spaced values over the inputs' range, dealt out at random: no two values
    // (within an input or across inputs that meet after broadcasting) are closer than the spacing.
    float lo = 1e30f, hi = -1e30f;
    int64_t n = 0;
    for (size_t i = 0; i < in.size(); ++i)
      if (varied(i)) {
        for (int64_t e = 0; e < in[i].numel(); ++e) { lo = std::min(lo, in[i].data_as<float>()[e]); hi = std::max(hi, in[i].data_as<float>()[e]); }
        n += in[i].numel();
      }
    std::vector<float> pool(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) pool[static_cast<size_t>(k)] = lo + (hi - lo) * (static_cast<float>(k) + 0.5f) / static_cast<float>(n);
    std::shuffle(pool.begin(), pool.end(), std::mt19937(17));
    size_t k = 0;
    for (size_t i = 0; i < in.size(); ++i)
      if (varied(i))
        for (int64_t e = 0; e < in[i].numel(); ++e) in[i].data_as<float>()[e] = pool[k++];
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (!varied(i)) continue;
    for (int64_t e = 0; e < in[i].numel(); ++e) {
      float& v = in[i].data_as<float>()[e];
      if (v < c.fd_min && (c.fd_min_input < 0 || c.fd_min_input == static_cast<int>(i))) v = c.fd_min + std::min(c.fd_min - v, 2.0f);
      for (float kink : c.kinks)
        if (std::abs(v - kink) < kKinkMargin) v = kink + (v >= kink ? kKinkMargin : -kKinkMargin) * 1.5f;
    }
  }
  return in;
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}
std::string env_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace netlens::conformance
