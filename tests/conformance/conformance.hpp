// The backend conformance harness (in the spirit of ONNX Runtime's OpTester and ggml's
// test-backend-ops): one table of op cases, and for each case
//   (a) the CPU backend against an independent reference: ONNX's own expected outputs (the node
//       test data of libonnx-testdata) where the case comes from there;
//   (b) every other backend (CUDA in each precision mode, when a device is present) against the
//       CPU backend, forward and backward: a backend that can differentiate a node
//       (backward_unsupported_reason() == nullopt) has its GradKernel compared with the CPU's
//       automatically; one that cannot is checked through Session::backward, which differentiates
//       its nodes on host copies of its values;
//   (c) the CPU backward against central finite differences (tests/grad/grad_check.hpp);
//   (d) guard bytes around every output and every input-gradient buffer, on every backend (the
//       host backend included): a kernel that writes outside its output is reported with the byte
//       offset; inputs, forward values and output gradients must come back unchanged; backward
//       kernels must add into their input gradients (the GradKernel contract), never assign;
//   (e) a performance mode (NETLENS_CONFORMANCE_PERF=1): median and spread of each case per
//       backend, forward and backward, printed as a table; nothing is asserted on time.
// Kernels are planned and run directly through Backend::plan/plan_backward (the Session is used
// for (c) and for host-differentiated backends), so every case sees exactly one node.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

namespace netlens::conformance {

struct Input {
  Tensor value;  // undefined = omitted optional input
  bool constant = false;
};

struct OpCase {
  std::string label;   // "Conv(1x3x17x19,8x3x3x3,8) pads=[1,1,1,1]"
  std::string source;  // "generated/<family>" or "onnx/<test folder>"
  Node node;
  int64_t opset = 17;
  std::vector<Input> inputs;
  // Tolerance of other backends against the CPU: relative L2 per output (integer/bool outputs
  // exact; non-finite values must match in position and kind).
  double tol = 1e-5;
  // Independent reference (ONNX node data): expected outputs, compared as ONNX does
  // (|got − want| ≤ 1e-7 + 1e-3·|want|). Empty for generated cases.
  std::vector<Tensor> expected;
  // Or a direct double-precision reference of output 0 (tests/cpu/cpu_reference.hpp), given the
  // planned output shape: relative L2 <= 1e-5, or per element |got − ref| <= 1e-6 + ref_rtol·|ref|
  // when ref_rtol > 0.
  std::function<std::vector<double>(const OpCase&, const Shape&)> reference;
  double ref_rtol = 0;
  // Backends that must accept the case (the cases that tests/cuda/test_conformance.cpp asserted
  // the CUDA backend implements: "cuda"). Elsewhere a refusal is listed, not failed.
  std::vector<std::string> required_on;
  // Finite differences (c): on when the op has a CPU gradient and the inputs are float32. `kinks`:
  // input values where the op's derivative jumps (inputs are moved at least kKinkMargin away);
  // `distinct`: max-like ops whose gradient follows a comparison (inputs made tie-free).
  bool fd = true;
  std::string no_fd;          // why not, when fd is false
  std::vector<float> kinks;
  bool distinct = false;
  std::vector<bool> fd_skip;  // per input: not perturbed (Resize scales: they change the shape)
  float fd_min = -1e30f;      // inputs below are mirrored above it (ops steep or undefined near 0)
  int fd_min_input = -1;      // when >= 0, fd_min applies to that input only
  double fd_tol = 2e-3;       // GradChecker's tolerance
};

// ---- building cases -----------------------------------------------------------------------------
Tensor rand_f32(const Shape& s, float lo = -2.0f, float hi = 2.0f);
Tensor rand_i64(const Shape& s, int64_t lo, int64_t hi, bool nonzero = false);
Tensor rand_bool(const Shape& s);
Input var(Tensor t);
Input cst(Tensor t);
Input none();
OpCase make_case(const std::string& op, std::vector<Input> inputs, std::map<std::string, AttrValue> attrs = {},
                 double tol = 1e-5, int64_t opset = 17, size_t n_out = 1);

// Generated cases (cases_ported.cpp: what tests/cuda/test_conformance.cpp ran; cases_extra.cpp:
// the other CPU ops), every one tagged source "generated/<family>" and annotated for (c).
const std::vector<OpCase>& generated_cases();
std::vector<std::pair<std::string, std::vector<OpCase>>> ported_families();
std::vector<std::pair<std::string, std::vector<OpCase>>> extra_families();
std::vector<OpCase> conv_cases();         // also the precision checks' cases (tests/cuda)
std::vector<OpCase> gemm_matmul_cases();
std::vector<OpCase> resize_cases();       // also the host-side Resize arithmetic check (tests/cuda)
std::vector<OpCase> reference_cases();    // cases_reference.cpp: the unary ops of tests/cpu's table
void attach_reference(OpCase& c);         // Conv/ConvTranspose/pools: a double reference
// Single-node models of ONNX's node test suite whose op the CPU backend has (cases_onnx.cpp),
// with their expected outputs; `skipped` receives "test: why" for folders that cannot be a case.
const std::vector<OpCase>& onnx_cases(std::vector<std::string>* skipped);

// ---- backends under test ------------------------------------------------------------------------
struct BackendUnderTest {
  std::string name;        // "cuda", "cuda-tf32", ...
  Backend* backend = nullptr;  // null when unavailable
  std::string unavailable;     // why (e.g. "no usable CUDA device: cudaErrorNoDevice: ...")
  // Tolerance floor for some ops (reduced-precision modes: Conv/ConvTranspose/Gemm/MatMul).
  std::map<std::string, double> op_tol;
  std::vector<std::string> only_ops;  // when non-empty, the only ops run (the direct-conv mode)
  std::function<void()> before, after;  // around planning (environment switches)
};
Backend& cpu_backend();
// Every backend other than the CPU reference this build has (each CUDA precision mode and the
// direct-convolution mode); NETLENS_CONFORMANCE_SELF_CHECK=1 adds a second CPU backend, one
// without backward kernels (so both backward paths run) and one posing as a device (so the
// Session's device gradient arenas run), which proves the harness and the runtime's placement work
// on machines without a GPU and nothing about any GPU backend.
std::vector<BackendUnderTest>& other_backends();

// ---- running ------------------------------------------------------------------------------------
// Infers the outputs and builds the node context. nullopt and `why` when shape inference fails.
struct Planned {
  std::vector<TensorInfo> in, out;
  std::vector<const Tensor*> consts;
};
std::optional<Planned> plan_case(const OpCase& c, std::string* why);
inline NodeContext context_of(const OpCase& c, const Planned& p) { return NodeContext{c.node, c.opset, p.in, p.out, p.consts}; }

struct Timing {
  int reps = 0;  // 0 = do not time
  std::vector<double> us;
};

struct ForwardRun {
  std::vector<Tensor> outputs;  // host copies; undefined for omitted outputs
  std::string problem;          // guard overrun, modified input, exception; empty when fine
};
// Plans and runs the node twice on `b` (kernels must not depend on what a previous run left), with
// poisoned guard bytes around each output, then checks the guards and that the inputs are unchanged.
ForwardRun run_forward(Backend& b, const OpCase& c, const Planned& p, Timing* timing = nullptr);

struct BackwardRun {
  std::vector<Tensor> grads;  // per input, float32; undefined where no gradient was asked
  std::string problem;
};
// The output gradients every backward check uses: fixed random float32 per float output.
std::vector<Tensor> seeds_for(const Planned& p, const OpCase& c);
// Which input gradients are asked for: every defined float input (a Session with weights = true).
std::vector<bool> need_of(const Planned& p);
// plan_backward on `b`, fed the given forward values (the CPU's), with guard bytes around each
// input gradient. Runs twice: from zeroed gradients, then from prefilled ones, and checks that the
// second result is the first plus the prefill (kernels add, never assign).
BackwardRun run_backward(Backend& b, const OpCase& c, const Planned& p, const std::vector<Tensor>& fwd_outputs,
                         const std::vector<Tensor>& seeds, Timing* timing = nullptr);
// Forward and backward through a Session over `backends` (a single-node graph: variable inputs
// are graph inputs, constants initializers; weights = true). Gradients per input.
BackwardRun session_backward(const std::vector<Backend*>& backends, const OpCase& c, const Planned& p,
                             const std::vector<Tensor>& seeds, std::vector<std::string>* host_fallback = nullptr);

// ---- comparing ----------------------------------------------------------------------------------
struct Compare {
  double rel_l2 = 0;   // float outputs; 0 for exact ones
  double max_abs = 0;
  std::string problem; // empty when within tolerance
};
// Relative L2 (absolute when `want` is all zeros), non-finite values must agree; integer/bool exact.
Compare compare_l2(const Tensor& got, const Tensor& want, double tol);
// ONNX's rule (numpy.testing.assert_allclose(rtol=1e-3, atol=1e-7)); rel_l2 also reported.
// `worst_ratio`: max |got − want| / (atol + rtol·|want|) (≤ 1 passes).
Compare compare_onnx(const Tensor& got, const Tensor& want, double* worst_ratio);

// Inputs for the finite-difference check (kinks avoided, ties broken as the case asks).
std::vector<Tensor> fd_inputs(const OpCase& c);
constexpr float kKinkMargin = 0.05f;

bool env_flag(const char* name);
std::string env_str(const char* name);

}  // namespace netlens::conformance
