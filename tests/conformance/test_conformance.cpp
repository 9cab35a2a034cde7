// The backend conformance harness's tests (conformance.hpp says what each check means):
//   CpuVsOnnx                 (a) CPU against ONNX's expected outputs, every single-node test
//   CpuGuardsAndGradContract  (d) guard bytes, unchanged inputs, add-into-gradients, every case
//   CpuBackwardFiniteDiff     (c) CPU backward against central differences, generated cases
//   Coverage                  every op of the CPU backend's table has cases (and an FD check)
//   OtherBackendsVsCpu        (b) every other backend against the CPU, forward and backward
// Environment:
//   NETLENS_CONFORMANCE_FILTER=<a,b,...>    only cases whose label or source contains one of
//                                           the substrings (-<a,b,...>: all cases but those)
//   NETLENS_CONFORMANCE_PERF=1              (e) time every case per backend, print a table
//   NETLENS_CONFORMANCE_PERF_REPS=<n>       timed runs per case (default 15)
//   NETLENS_CONFORMANCE_SELF_CHECK=1        a second CPU backend as "other backend" (harness
//                                           self-check on machines without a GPU)
//   NETLENS_CONFORMANCE_VERBOSE=1           one line per case
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <set>

#include "conformance.hpp"
#include "netlens/cpu/cpu_ops.hpp"
#include "grad_check.hpp"

namespace netlens::conformance {
namespace {

bool selected(const OpCase& c) {
  static const std::string f = env_str("NETLENS_CONFORMANCE_FILTER");
  if (f.empty()) return true;
  const bool exclude = f[0] == '-';
  bool match = false;
  for (size_t pos = exclude ? 1 : 0; pos <= f.size();) {  // comma-separated substrings
    const size_t end = std::min(f.find(',', pos), f.size());
    const std::string key = f.substr(pos, end - pos);
    match = match || (!key.empty() && (c.label.find(key) != std::string::npos || c.source.find(key) != std::string::npos));
    pos = end + 1;
  }
  return match != exclude;
}
bool verbose() { return env_flag("NETLENS_CONFORMANCE_VERBOSE"); }

Timing* timing_slot(const std::string& backend, const std::string& what, const OpCase& c);

// Worst values per category and family, printed at the end of each test.
struct Worst {
  std::map<std::string, std::pair<double, std::string>> by_key;  // key → (value, case label)
  void add(const std::string& key, double v, const std::string& label) {
    auto& w = by_key[key];
    if (v > w.first || w.second.empty()) w = {v, label};
  }
  void print(const char* title) const {
    std::printf("[conformance] %s\n", title);
    for (const auto& [k, v] : by_key) std::printf("  %-44s %10.3g  (%s)\n", k.c_str(), v.first, v.second.c_str());
  }
};

std::string family(const OpCase& c) { return c.source.rfind("onnx/", 0) == 0 ? "onnx" : c.source; }

std::vector<const OpCase*> all_cases() {
  std::vector<const OpCase*> v;
  for (const OpCase& c : generated_cases()) if (selected(c)) v.push_back(&c);
  for (const OpCase& c : onnx_cases(nullptr)) if (selected(c)) v.push_back(&c);
  return v;
}

const cpu::CpuGradTable& grad_table() {
  static const cpu::CpuGradTable t = [] {
    cpu::CpuGradTable g;
    cpu::register_nn_grads(g);
    cpu::register_elementwise_grads(g);
    cpu::register_tensor_grads(g);
    return g;
  }();
  return t;
}

bool has_float_output(const Planned& p, const OpCase& c) {
  for (size_t o = 0; o < p.out.size(); ++o)
    if (!c.node.outputs[o].empty() && is_float(p.out[o].dtype)) return true;
  return false;
}
bool differentiable(const OpCase& c, const Planned& p) {
  if (!has_float_output(p, c)) return false;
  const std::vector<bool> need = need_of(p);
  if (std::find(need.begin(), need.end(), true) == need.end()) return false;
  return !cpu_backend().backward_unsupported_reason(context_of(c, p)).has_value();
}

// ---- (a) ------------------------------------------------------------------------------------------
TEST(Conformance, CpuVsOnnx) {
  std::vector<std::string> skipped;
  const std::vector<OpCase>& cases = onnx_cases(&skipped);
  ASSERT_GT(cases.size(), 500u) << "ONNX node test data not found under " << NETLENS_ONNX_TESTDATA
                                << " (install libonnx-testdata)";
  Worst worst;
  int checked = 0;
  for (const OpCase& c : cases) {
    if (!selected(c)) continue;
    SCOPED_TRACE(c.label);
    std::string why;
    auto p = plan_case(c, &why);
    ASSERT_TRUE(p) << why;
    ForwardRun r = run_forward(cpu_backend(), c, *p, timing_slot("cpu", "forward", c));
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    if (!r.problem.empty()) continue;
    for (size_t o = 0; o < c.expected.size(); ++o) {
      if (!c.expected[o].defined()) continue;
      double ratio = 0;
      const Compare cmp = compare_onnx(r.outputs[o], c.expected[o], &ratio);
      EXPECT_TRUE(cmp.problem.empty()) << "output " << o << ": " << cmp.problem;
      worst.add("tolerance used |d|/(1e-7+1e-3|want|)", ratio, c.label);
      if (is_float(c.expected[o].dtype())) worst.add("relative L2 (" + std::string(dtype_name(c.expected[o].dtype())) + ")", cmp.rel_l2, c.label);
      ++checked;
    }
    if (verbose()) std::printf("  [onnx] %s\n", c.label.c_str());
  }
  std::printf("[conformance] (a) CPU vs ONNX expected outputs: %d outputs of %zu single-node tests; %zu folders not a case\n",
              checked, cases.size(), skipped.size());
  worst.print("(a) worst errors");
  if (verbose())
    for (const std::string& s : skipped) std::printf("  not a case: %s\n", s.c_str());
}

// (a) for generated cases: the direct double-precision references of tests/cpu.
TEST(Conformance, CpuVsDoubleReference) {
  Worst worst;
  int checked = 0;
  for (const OpCase& c : generated_cases()) {
    if (!c.reference || !selected(c)) continue;
    SCOPED_TRACE(c.label + " (" + c.source + ")");
    std::string why;
    auto p = plan_case(c, &why);
    EXPECT_TRUE(p) << why;
    if (!p) continue;
    const ForwardRun r = run_forward(cpu_backend(), c, *p);
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    if (!r.problem.empty()) continue;
    const std::vector<double> want = c.reference(c, p->out[0].shape);
    const Tensor& got = r.outputs[0];
    ASSERT_EQ(static_cast<size_t>(got.numel()), want.size());
    double num = 0, den = 0, ratio = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double g = got.get_f64(static_cast<int64_t>(i)), e = want[i];
      if (!std::isfinite(e)) {
        EXPECT_TRUE(std::isnan(e) ? std::isnan(g) : g == e) << "element " << i << ": got " << g << ", want " << e;
        continue;
      }
      num += (g - e) * (g - e);
      den += e * e;
      if (c.ref_rtol > 0) ratio = std::max(ratio, std::abs(g - e) / (1e-6 + c.ref_rtol * std::abs(e)));
    }
    const double rel = std::sqrt(num / std::max(den, 1e-300));
    if (c.ref_rtol > 0) {
      EXPECT_LE(ratio, 1.0) << "worst element off by " << ratio << "x the tolerance 1e-6 + " << c.ref_rtol << "|ref|";
      worst.add(c.node.op_type + " (elementwise, tolerance used)", ratio, c.label);
    } else {
      EXPECT_LE(rel, 1e-5) << "relative L2 error against the double reference";
      worst.add(c.node.op_type + " (relative L2)", rel, c.label);
    }
    ++checked;
  }
  EXPECT_GT(checked, 80);
  std::printf("[conformance] (a) CPU vs direct double-precision references (tests/cpu/cpu_reference.hpp): %d cases\n", checked);
  worst.print("(a) worst errors against double references");
}

// ---- (d) ------------------------------------------------------------------------------------------
TEST(Conformance, CpuGuardsAndGradContract) {
  int fwd = 0, bwd = 0;
  for (const OpCase* cp : all_cases()) {
    const OpCase& c = *cp;
    SCOPED_TRACE(c.label + " (" + c.source + ")");
    std::string why;
    auto p = plan_case(c, &why);
    EXPECT_TRUE(p) << why;
    if (!p) continue;
    const auto refused = cpu_backend().unsupported_reason(context_of(c, *p));
    EXPECT_FALSE(refused.has_value()) << "the CPU backend refuses the case: " << *refused;
    if (refused) continue;
    const bool onnx = c.source.rfind("onnx/", 0) == 0;
    ForwardRun r = run_forward(cpu_backend(), c, *p, onnx ? nullptr : timing_slot("cpu", "forward", c));
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    ++fwd;
    if (!r.problem.empty() || !differentiable(c, *p)) continue;
    BackwardRun b = run_backward(cpu_backend(), c, *p, r.outputs, seeds_for(*p, c), timing_slot("cpu", "backward", c));
    EXPECT_TRUE(b.problem.empty()) << b.problem;
    ++bwd;
  }
  std::printf("[conformance] (d) guards on the CPU: %d forward and %d backward kernels, %zu guard bytes each side\n", fwd, bwd,
              size_t{512});
}

// ---- (c) ------------------------------------------------------------------------------------------
// Whether a generated case gets a finite-difference check; `why` says why not (empty when the op
// has no CPU gradient or nothing to differentiate: then there is nothing to check).
bool fd_eligible(const OpCase& c, std::string* why) {
  why->clear();
  std::string w;
  auto p = plan_case(c, &w);
  if (!p || !differentiable(c, *p)) return false;
  if (!c.fd) { *why = c.no_fd; return false; }
  int64_t elems = 0;
  for (size_t o = 0; o < p->out.size(); ++o)
    if (is_float(p->out[o].dtype) && p->out[o].dtype != DType::Float32) { *why = "float16/float64 output"; return false; }
  for (const Input& i : c.inputs) elems += i.value.defined() ? i.value.numel() : 0;
  if (elems > 100000) { *why = "over 1e5 input elements (smaller cases of the op are checked)"; return false; }
  bool varied = false;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    varied = varied || (c.inputs[i].value.defined() && c.inputs[i].value.dtype() == DType::Float32 &&
                        !(i < c.fd_skip.size() && c.fd_skip[i]));
  if (!varied) { *why = "no float32 input to perturb"; return false; }
  return true;
}

TEST(Conformance, CpuBackwardFiniteDiff) {
  Worst worst;
  int checked = 0;
  std::map<std::string, int> not_checked;
  for (const OpCase& c : generated_cases()) {
    if (!selected(c)) continue;
    std::string why;
    if (!fd_eligible(c, &why)) {
      if (!why.empty()) ++not_checked[c.node.op_type + ": " + why];
      continue;
    }
    SCOPED_TRACE(c.label + " (" + c.source + ")");
    gradtest::GradCase g;
    g.op = c.node.op_type;
    g.opset = c.opset;
    g.attrs = c.node.attrs;
    g.inputs = fd_inputs(c);
    for (const Input& i : c.inputs) g.constant.push_back(i.constant);
    g.num_outputs = c.node.outputs.size();
    g.weights = true;
    g.tol = c.fd_tol;
    g.skip = c.fd_skip;
    g.skip.resize(c.inputs.size(), false);
    try {
      gradtest::GradChecker checker(g);
      checker.check();
      worst.add(c.source, checker.worst_error(), c.label);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "finite-difference check threw: " << e.what();
    }
    ++checked;
    if (verbose()) std::printf("  [fd] %s\n", c.label.c_str());
  }
  std::printf("[conformance] (c) CPU backward vs central differences: %d cases (GradChecker; tolerance 2e-3, 1e-2 for "
              "Sqrt/Log/Reciprocal/Div/Pow, 2e-2 over 500 input elements)\n", checked);
  worst.print("(c) worst errors per family (relative L2 per element, or |g.v - fd|/(|fd|+|g.v|) per direction)");
  for (const auto& [why, n] : not_checked) std::printf("  not finite-differenced: %d x %s\n", n, why.c_str());
}

// ---- coverage -------------------------------------------------------------------------------------
TEST(Conformance, Coverage) {
  cpu::CpuOpTable ops;
  cpu::register_nn_ops(ops);
  cpu::register_elementwise_ops(ops);
  cpu::register_tensor_ops(ops);
  std::map<std::string, int> gen, onnx, fd;
  std::map<std::string, std::string> no_fd_why;
  for (const OpCase& c : generated_cases()) {
    ++gen[c.node.op_type];
    std::string why;
    if (fd_eligible(c, &why)) ++fd[c.node.op_type];
    else if (!why.empty()) no_fd_why[c.node.op_type] = why;
  }
  for (const OpCase& c : onnx_cases(nullptr)) ++onnx[c.node.op_type];
  // Ops with a gradient and no finite-difference case, each for a stated reason.
  const std::map<std::string, std::string> allowed = {
      {"Mod", "jumps wherever x crosses a multiple of y"},
      {"Constant", "no inputs"},
      {"ConstantOfShape", "its input is a shape"},
      {"Range", "its inputs are constants that decide the output length"},
      {"Unique", "its input must be a constant"},
  };
  std::printf("[conformance] coverage of the CPU backend's %zu ops (generated cases, ONNX cases, finite differences)\n", ops.size());
  int without_fd = 0;
  for (const auto& [op, unused] : ops) {
    const bool grad = grad_table().count(op) != 0;
    std::string note = !grad ? "no gradient kernel" : fd[op] ? "fd " + std::to_string(fd[op]) : "no fd: ";
    if (grad && !fd[op]) note += allowed.count(op) ? allowed.at(op) : no_fd_why[op];
    std::printf("  %-22s gen %3d  onnx %3d  %s\n", op.c_str(), gen[op], onnx[op], note.c_str());
    EXPECT_GT(gen[op] + onnx[op], 0) << op << " has no conformance case";
    if (grad && !fd[op] && !allowed.count(op)) {
      ADD_FAILURE() << op << " has a CPU gradient but no finite-difference case in the harness (" << no_fd_why[op] << ")";
      ++without_fd;
    }
  }
  for (const auto& [op, unused] : grad_table())
    EXPECT_TRUE(ops.count(op)) << op << " has a gradient kernel but no forward kernel";
}

// ---- (b) ------------------------------------------------------------------------------------------
TEST(Conformance, OtherBackendsVsCpu) {
  std::vector<BackendUnderTest*> present;
  std::string missing;
  for (BackendUnderTest& b : other_backends()) {
    if (b.backend) present.push_back(&b);
    else missing += (missing.empty() ? "" : "; ") + b.name + ": " + b.unavailable;
  }
  if (present.empty()) {
    if (other_backends().empty())
      GTEST_SKIP() << "no GPU backend in this build (no CUDA toolkit): only the CPU is checked";
    GTEST_SKIP() << "no GPU: " << missing;
  }
  if (!missing.empty()) std::printf("[conformance] not checked: %s\n", missing.c_str());
  const std::vector<const OpCase*> cases = all_cases();
  for (BackendUnderTest* bt : present) {
    Backend& b = *bt->backend;
    Worst worst;
    int accepted = 0, refused = 0, native_bwd = 0, host_bwd = 0;
    std::map<std::string, int> refusals;
    for (const OpCase* cp : cases) {
      const OpCase& c = *cp;
      if (!bt->only_ops.empty() &&
          std::find(bt->only_ops.begin(), bt->only_ops.end(), c.node.op_type) == bt->only_ops.end())
        continue;
      SCOPED_TRACE(bt->name + ": " + c.label + " (" + c.source + ")");
      std::string why;
      auto p = plan_case(c, &why);
      EXPECT_TRUE(p) << why;
      if (!p) continue;
      const NodeContext ctx = context_of(c, *p);
      if (cpu_backend().unsupported_reason(ctx)) continue;
      if (auto r = b.unsupported_reason(ctx)) {
        const bool required = std::find(c.required_on.begin(), c.required_on.end(), "cuda") != c.required_on.end() &&
                              bt->name.rfind("cuda", 0) == 0;
        EXPECT_FALSE(required) << bt->name << " refuses a case it must implement: " << *r;
        ++refused;
        ++refusals[c.node.op_type];
        continue;
      }
      ++accepted;
      if (verbose()) std::printf("  [%s] %s (%s)\n", bt->name.c_str(), c.label.c_str(), c.source.c_str()), std::fflush(stdout);
      double tol = c.tol;
      if (auto it = bt->op_tol.find(c.node.op_type); it != bt->op_tol.end()) tol = std::max(tol, it->second);
      ForwardRun want = run_forward(cpu_backend(), c, *p);
      ASSERT_TRUE(want.problem.empty()) << want.problem;
      if (bt->before) bt->before();
      ForwardRun got = run_forward(b, c, *p, timing_slot(bt->name, "forward", c));
      if (bt->after) bt->after();
      EXPECT_TRUE(got.problem.empty()) << got.problem;
      if (!got.problem.empty()) continue;
      for (size_t o = 0; o < want.outputs.size(); ++o) {
        if (!want.outputs[o].defined()) continue;
        const Compare cmp = compare_l2(got.outputs[o], want.outputs[o], tol);
        EXPECT_TRUE(cmp.problem.empty()) << "output " << o << ": " << cmp.problem;
        worst.add("forward " + family(c), cmp.rel_l2, c.label);
      }
      if (!differentiable(c, *p)) continue;
      const std::vector<Tensor> seeds = seeds_for(*p, c);
      // Backward kernels on the same forward values: 1e-5 relative L2 in fp32 (TF32 off: the two
      // differ in summation order only), ten times the op's tolerance in the reduced-precision modes.
      // Through a Session the backend's own forward values feed the gradient: 1e-4 (a forward
      // difference of 1e-6 can be amplified by the op's derivative).
      const bool reduced = bt->op_tol.count(c.node.op_type) != 0;
      const double ktol = reduced ? std::max(tol * 10, 1e-4) : std::max(tol, 1e-5);
      const double gtol = std::max(tol * 10, 1e-4);
      auto compare_grads = [&](const BackwardRun& g, const BackwardRun& ref, const std::string& how, double limit) {
        EXPECT_TRUE(g.problem.empty()) << how << ": " << g.problem;
        if (!g.problem.empty() || !ref.problem.empty()) return;
        for (size_t i = 0; i < ref.grads.size() && i < g.grads.size(); ++i) {
          if (!ref.grads[i].defined()) continue;
          if (!g.grads[i].defined()) { ADD_FAILURE() << how << ": no gradient for input " << i; continue; }
          const Compare cmp = compare_l2(g.grads[i], ref.grads[i], limit);
          EXPECT_TRUE(cmp.problem.empty()) << how << ", gradient of input " << i << ": " << cmp.problem;
          worst.add(how + " " + family(c), cmp.rel_l2, c.label);
        }
      };
      if (!b.backward_unsupported_reason(ctx)) {
        // The backend differentiates the node itself: its GradKernel against the CPU's, on the same
        // forward values, with the same guards and add-into contract.
        const BackwardRun ref = run_backward(cpu_backend(), c, *p, want.outputs, seeds);
        compare_grads(run_backward(b, c, *p, want.outputs, seeds, timing_slot(bt->name, "backward", c)), ref, "backward kernel",
                      ktol);
        ++native_bwd;
        // And through a Session: the gradients in this backend's arena, nothing differentiated on
        // the host (a node whose inputs are all constants is folded: nothing to differentiate).
        if (std::any_of(c.inputs.begin(), c.inputs.end(), [](const Input& i) { return i.value.defined() && !i.constant; })) {
          std::vector<std::string> fallback;
          const BackwardRun sref = session_backward({&cpu_backend()}, c, *p, seeds);
          if (bt->before) bt->before();
          const BackwardRun sg = session_backward({&b, &cpu_backend()}, c, *p, seeds, &fallback);
          if (bt->after) bt->after();
          if (sref.problem.empty()) compare_grads(sg, sref, "session backward (device arena)", gtol);
          EXPECT_TRUE(fallback.empty()) << "differentiated on the host: " << (fallback.empty() ? "" : fallback[0]);
        }
      } else {
        // Differentiated on the host from this backend's forward values (Session::backward). A node
        // whose inputs are all constants is folded before any run: nothing to differentiate.
        if (std::none_of(c.inputs.begin(), c.inputs.end(), [](const Input& i) { return i.value.defined() && !i.constant; }))
          continue;
        std::vector<std::string> fallback;
        const BackwardRun ref = session_backward({&cpu_backend()}, c, *p, seeds);
        EXPECT_TRUE(ref.problem.empty()) << ref.problem;
        if (!ref.problem.empty()) continue;
        if (bt->before) bt->before();
        const BackwardRun g = session_backward({&b, &cpu_backend()}, c, *p, seeds, &fallback);
        if (bt->after) bt->after();
        compare_grads(g, ref, "session backward", gtol);
        EXPECT_EQ(fallback.size(), 1u) << "the node should be listed as differentiated on the host";
        ++host_bwd;
      }
    }
    std::printf("[conformance] (b) %s vs CPU: %d cases run, %d refused (they fall back to the CPU in a Session); backward: %d "
                "by its own kernels, %d on the host from its forward values\n",
                bt->name.c_str(), accepted, refused, native_bwd, host_bwd);
    std::string r;
    for (const auto& [op, n] : refusals) r += " " + op + "(" + std::to_string(n) + ")";
    if (!r.empty()) std::printf("  refused:%s\n", r.c_str());
    worst.print(("(b) " + bt->name + " worst relative L2").c_str());
  }
}

// ---- the harness's own checks can fail ------------------------------------------------------------
// A CPU backend whose kernels misbehave in one chosen way: each fault must be reported.
class FaultyBackend final : public Backend {
 public:
  enum class Fault { PastEnd, BeforeStart, ModifiesInput, AssignsGradient, WrongValue, Stateful };
  explicit FaultyBackend(Fault f) : fault_(f) {}
  std::string name() const override { return "faulty"; }
  DeviceKind device() const override { return DeviceKind::Host; }
  std::optional<std::string> unsupported_reason(const NodeContext& ctx) const override { return cpu_backend().unsupported_reason(ctx); }
  std::optional<std::string> backward_unsupported_reason(const NodeContext& ctx) const override {
    return cpu_backend().backward_unsupported_reason(ctx);
  }
  std::unique_ptr<Kernel> plan(const NodeContext& ctx) override {
    std::shared_ptr<Kernel> k = cpu_backend().plan(ctx);
    auto runs = std::make_shared<int>(0);
    return make_kernel([k, f = fault_, runs](std::span<const TensorView> in, std::span<const TensorView> out) {
      k->run(in, out);
      if (f == Fault::Stateful && (*runs)++ > 0) static_cast<float*>(out[0].data)[0] += 1.0f;
      auto* o = static_cast<uint8_t*>(out[0].data);
      if (f == Fault::PastEnd) o[out[0].nbytes() + 3] = 0;
      if (f == Fault::BeforeStart) o[-1] = 0;
      if (f == Fault::ModifiesInput) static_cast<float*>(in[0].data)[0] += 1;
      if (f == Fault::WrongValue) static_cast<float*>(out[0].data)[1] += 0.5f;
    });
  }
  std::unique_ptr<GradKernel> plan_backward(const NodeContext& ctx, const std::vector<bool>& need) override {
    std::shared_ptr<GradKernel> k = cpu_backend().plan_backward(ctx, need);
    return cpu::make_grad_kernel([k, f = fault_](const GradViews& v) {
      if (f == Fault::AssignsGradient)
        for (const TensorView& g : v.grad_inputs)
          if (g.data) std::fill_n(static_cast<float*>(g.data), g.numel(), 0.0f);
      k->run(v);
    });
  }
  size_t available_memory() const override { return cpu_backend().available_memory(); }
  DeviceBuffer allocate(size_t bytes) override { return cpu_backend().allocate(bytes); }
  void copy_from_host(void* d, const void* s, size_t n) override { cpu_backend().copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { cpu_backend().copy_to_host(d, s, n); }
  void synchronize() override {}

 private:
  Fault fault_;
};

TEST(Conformance, HarnessReportsFaults) {
  using F = FaultyBackend::Fault;
  const OpCase c = make_case("Tanh", {var(rand_f32({3, 5}))});
  std::string why;
  const auto p = plan_case(c, &why);
  ASSERT_TRUE(p) << why;
  const ForwardRun ref = run_forward(cpu_backend(), c, *p);
  ASSERT_TRUE(ref.problem.empty()) << ref.problem;
  auto forward_problem = [&](F f) {
    FaultyBackend b(f);
    return run_forward(b, c, *p).problem;
  };
  EXPECT_NE(forward_problem(F::PastEnd).find("past its end"), std::string::npos);
  EXPECT_NE(forward_problem(F::BeforeStart).find("before its start"), std::string::npos);
  EXPECT_NE(forward_problem(F::ModifiesInput).find("input 0 was modified"), std::string::npos);
  EXPECT_NE(forward_problem(F::Stateful).find("second run"), std::string::npos);
  {
    FaultyBackend b(F::WrongValue);
    const ForwardRun r = run_forward(b, c, *p);
    ASSERT_TRUE(r.problem.empty()) << r.problem;
    EXPECT_FALSE(compare_l2(r.outputs[0], ref.outputs[0], 1e-5).problem.empty());
    double ratio = 0;
    EXPECT_FALSE(compare_onnx(r.outputs[0], ref.outputs[0], &ratio).problem.empty());
    EXPECT_GT(ratio, 1.0);
  }
  FaultyBackend assigns(F::AssignsGradient);
  const BackwardRun b = run_backward(assigns, c, *p, ref.outputs, seeds_for(*p, c));
  EXPECT_NE(b.problem.find("must add into input gradients"), std::string::npos) << b.problem;
  const BackwardRun good = run_backward(cpu_backend(), c, *p, ref.outputs, seeds_for(*p, c));
  EXPECT_TRUE(good.problem.empty()) << good.problem;
}

// ---- (e) ------------------------------------------------------------------------------------------
struct PerfRow {
  std::string label, backend, what;
  Timing t;
};
std::deque<PerfRow>& perf_rows() {  // a deque: Timing pointers handed out stay valid
  static std::deque<PerfRow> rows;
  return rows;
}
Timing* timing_slot(const std::string& backend, const std::string& what, const OpCase& c) {
  static const bool on = env_flag("NETLENS_CONFORMANCE_PERF");
  if (!on) return nullptr;
  static const int reps = env_str("NETLENS_CONFORMANCE_PERF_REPS").empty() ? 15 : std::max(1, std::stoi(env_str("NETLENS_CONFORMANCE_PERF_REPS")));
  static std::set<std::string> seen;
  if (!seen.insert(c.label + "\x1f" + c.source + "\x1f" + backend + "\x1f" + what).second) return nullptr;  // timed once
  perf_rows().push_back(PerfRow{c.label, backend, what, Timing{reps, {}}});
  return &perf_rows().back().t;
}

// Prints the table after all tests (median and spread = p10..p90 over the timed runs, microseconds).
class PerfTable : public ::testing::Environment {
 public:
  void TearDown() override {
    if (perf_rows().empty()) return;
    std::map<std::string, std::map<std::string, std::string>> table;  // label → column → cell
    std::set<std::string> cols;
    for (PerfRow& r : perf_rows()) {
      if (r.t.us.empty()) continue;
      std::vector<double>& v = r.t.us;
      std::sort(v.begin(), v.end());
      auto at = [&](double q) { return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)]; };
      char cell[64];
      std::snprintf(cell, sizeof cell, "%9.1f [%.1f..%.1f]", at(0.5), at(0.1), at(0.9));
      const std::string col = r.backend + " " + r.what;
      table[r.label][col] = cell;
      cols.insert(col);
    }
    std::printf("\n[conformance] (e) performance: median [p10..p90] microseconds per kernel run (no assertions)\n");
    std::printf("%-70s", "case");
    for (const std::string& c : cols) std::printf(" | %-28s", c.c_str());
    std::printf("\n");
    for (const auto& [label, cells] : table) {
      std::printf("%-70.70s", label.c_str());
      for (const std::string& c : cols) std::printf(" | %-28s", cells.count(c) ? cells.at(c).c_str() : "-");
      std::printf("\n");
    }
  }
};
const auto* const kPerfEnv = ::testing::AddGlobalTestEnvironment(new PerfTable);

}  // namespace
}  // namespace netlens::conformance
