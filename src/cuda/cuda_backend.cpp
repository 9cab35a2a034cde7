// The CUDA backend: device context, memory, the op table and CUDA-graph replay of whole runs.
#include "netlens/cuda.hpp"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_grad.hpp"
#include "cublas_lib.hpp"
#include "cuda_ops.hpp"

namespace netlens::cuda {

// ---- error reporting ------------------------------------------------------------------------------
void fail_cuda(cudaError_t e, const char* call, const char* file, int line) {
  const ErrorKind kind = e == cudaErrorMemoryAllocation ? ErrorKind::Memory : ErrorKind::Device;
  throw Error(kind, std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " +
                        call + " at " + file + ":" + std::to_string(line));
}
void fail_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  throw Error(ErrorKind::Device, std::string("cuDNN error ") + cudnnGetErrorString(s) + " in " + call + " at " +
                                     file + ":" + std::to_string(line));
}
static const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
void fail_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  throw Error(ErrorKind::Device, std::string("cuBLAS error ") + cublas_status_name(s) + " in " + call + " at " +
                                     file + ":" + std::to_string(line));
}

// ---- context -------------------------------------------------------------------------------------------
DeviceBuffer Context::alloc(size_t bytes) const {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : bytes);  // cudaMalloc aligns to >= 256 bytes
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) allocation error
    throw Error(ErrorKind::Memory, "CUDA backend: cannot allocate " + std::to_string(bytes) + " bytes of device memory (" +
                                       cudaGetErrorName(e) + ")");
  }
  return DeviceBuffer(p, [](void* q) { cudaFree(q); });
}

DeviceBuffer Context::upload(const void* data, size_t bytes) const {
  DeviceBuffer b = alloc(bytes);
  if (bytes) {
    CUDA_CHECK(cudaMemcpyAsync(b.get(), data, bytes, cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  return b;
}

void Context::reserve_workspace(size_t bytes) {
  if (bytes <= workspace_bytes) return;
  CUDA_CHECK(cudaStreamSynchronize(stream));
  if (workspace) CUDA_CHECK(cudaFree(workspace));
  workspace = nullptr;
  workspace_bytes = 0;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorKind::Memory, "CUDA backend: cannot allocate a " + std::to_string(bytes) + "-byte workspace (" +
                                       cudaGetErrorName(e) + ")");
  }
  workspace = p;
  workspace_bytes = bytes;
}

void Context::reserve_half_scratch(size_t bytes) {
  if (bytes <= half_scratch_bytes) return;
  CUDA_CHECK(cudaStreamSynchronize(stream));
  if (half_scratch) CUDA_CHECK(cudaFree(half_scratch));
  half_scratch = nullptr;
  half_scratch_bytes = 0;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorKind::Memory, "CUDA backend: cannot allocate a " + std::to_string(bytes) +
                                       "-byte float16 scratch buffer (" + cudaGetErrorName(e) + ")");
  }
  half_scratch = p;
  half_scratch_bytes = bytes;
}


kern::StridedMap contiguous_map(const Shape& s) {
  kern::StridedMap m;
  m.rank = static_cast<int>(s.size());
  const auto st = strides_of(s);
  for (int d = 0; d < m.rank; ++d) {
    m.dims[d] = s[d];
    m.strides[d] = st[d];
  }
  return m;
}

kern::StridedMap scalar_safe(kern::StridedMap m) {
  if (m.rank == 0) {
    m.rank = 1;
    m.dims[0] = 1;
    m.strides[0] = 0;
  }
  return m;
}

kern::StridedMap broadcast_map(const Shape& in, const Shape& out) {
  kern::StridedMap m;
  m.rank = static_cast<int>(out.size());
  std::vector<int64_t> st(out.size(), 0);
  const auto in_st = strides_of(in);
  const size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : in_st[i];
  for (int d = 0; d < m.rank; ++d) {
    m.dims[d] = out[d];
    m.strides[d] = st[d];
  }
  return m;
}

std::optional<std::string> require_dtype(const NodeContext& ctx, std::initializer_list<DType> allowed, size_t input) {
  if (input >= ctx.inputs.size()) return std::nullopt;
  const DType t = ctx.inputs[input].dtype;
  for (DType a : allowed)
    if (a == t) return std::nullopt;
  std::string names;
  for (DType a : allowed) names += (names.empty() ? "" : "/") + std::string(dtype_name(a));
  return "dtype " + std::string(dtype_name(t)) + " not supported (" + names + " only)";
}

// ---- reverse mode ---------------------------------------------------------------------------------------
namespace {
class LambdaGradKernel final : public GradKernel {
 public:
  explicit LambdaGradKernel(GradFn fn) : fn_(std::move(fn)) {}
  void run(const GradViews& v) override { fn_(v); }

 private:
  GradFn fn_;
};
}  // namespace

std::unique_ptr<GradKernel> make_grad_kernel(GradFn fn) { return std::make_unique<LambdaGradKernel>(std::move(fn)); }

// ---- backend ------------------------------------------------------------------------------------------
namespace {

const CudaGradTable& grad_table() {
  static const CudaGradTable table = [] {
    CudaGradTable t;
    register_elementwise_grads(t);
    register_tensor_grads(t);
    register_nn_grads(t);
    return t;
  }();
  return table;
}

const CudaOpTable& op_table() {
  static const CudaOpTable table = [] {
    CudaOpTable t;
    register_elementwise_ops(t);
    register_tensor_ops(t);
    register_nn_ops(t);
    return t;
  }();
  return table;
}

class CudaBackend;

// Wraps every planned kernel so that the backend can record the calls of a whole-graph run and
// capture them into a CUDA graph afterwards.
class RecordingKernel final : public Kernel {
 public:
  RecordingKernel(CudaBackend* b, std::unique_ptr<Kernel> inner) : backend_(b), inner_(std::move(inner)) {}
  ~RecordingKernel() override;
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override;
  Kernel* inner() { return inner_.get(); }

 private:
  CudaBackend* backend_;
  std::unique_ptr<Kernel> inner_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, Precision precision) {
    ctx_.device = device;
    ctx_.precision = precision;
    CUDA_CHECK(cudaSetDevice(device));
    // A blocking stream: it orders with the legacy default stream, so a caller can bracket a run
    // with CUDA events recorded on stream 0 (the benchmark does) without reaching into the backend.
    CUDA_CHECK(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamDefault));
    CUBLAS_CHECK(cublas_lib().create(&ctx_.cublas));
    CUBLAS_CHECK(cublas_lib().set_stream(ctx_.cublas, ctx_.stream));
    // fp32 stays fp32: no TF32 tensor-op math (results must match the CPU reference); TF32 only
    // when asked for. (Fp16 passes its compute type to cublasGemmEx explicitly.)
    CUBLAS_CHECK(cublas_lib().set_math_mode(
        ctx_.cublas, precision == Precision::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    // A fixed cuBLAS workspace, so that cuBLAS never allocates while a run is being captured.
    cublas_ws_ = ctx_.alloc(kCublasWorkspace);
    CUBLAS_CHECK(cublas_lib().set_workspace(ctx_.cublas, cublas_ws_.get(), kCublasWorkspace));
    CUDNN_CHECK(cudnnCreate(&ctx_.cudnn));
    CUDNN_CHECK(cudnnSetStream(ctx_.cudnn, ctx_.stream));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    device_name_ = prop.name;
  }

  ~CudaBackend() override {
    drop_graph();
    if (ctx_.stream) cudaStreamSynchronize(ctx_.stream);
    ctx_.conv_plans.clear();
    if (ctx_.cudnn) cudnnDestroy(ctx_.cudnn);
    if (ctx_.cublas) cublas_lib().destroy(ctx_.cublas);
    cublas_ws_.reset();
    if (ctx_.workspace) cudaFree(ctx_.workspace);
    if (ctx_.half_scratch) cudaFree(ctx_.half_scratch);
    if (ctx_.stream) cudaStreamDestroy(ctx_.stream);
  }

  std::string name() const override { return "cuda"; }
  DeviceKind device() const override { return DeviceKind::Cuda; }

  std::optional<std::string> unsupported_reason(const NodeContext& ctx) const override {
    if (!ctx.node.domain.empty() && ctx.node.domain != "ai.onnx")
      return "domain '" + ctx.node.domain + "' not implemented";
    auto it = op_table().find(ctx.node.op_type);
    if (it == op_table().end()) return "op " + ctx.node.op_type + " not implemented";
    for (const auto* list : {&ctx.inputs, &ctx.outputs})
      for (const TensorInfo& t : *list)
        if (t.shape.size() > static_cast<size_t>(kern::kMaxRank))
          return "rank " + std::to_string(t.shape.size()) + " > " + std::to_string(kern::kMaxRank);
    if (it->second.check) return it->second.check(ctx);
    return std::nullopt;
  }

  std::unique_ptr<Kernel> plan(const NodeContext& ctx) override {
    drop_graph();  // a new plan invalidates any recording
    auto it = op_table().find(ctx.node.op_type);
    if (it == op_table().end())
      throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": not implemented by the CUDA backend");
    return std::make_unique<RecordingKernel>(this, it->second.plan(ctx_, ctx));
  }

  // Reverse mode (cuda_grad.hpp): ops in the grad table, float32 values only (other float types are
  // differentiated by the CPU, which converts), ranks the kernels handle.
  std::optional<std::string> backward_unsupported_reason(const NodeContext& ctx) const override {
    if (!ctx.node.domain.empty() && ctx.node.domain != "ai.onnx") return "domain '" + ctx.node.domain + "' has no CUDA backward";
    auto it = grad_table().find(ctx.node.op_type);
    if (it == grad_table().end()) return "no CUDA backward for " + ctx.node.op_type;
    // Only nodes it can run (their forward checks hold for the backward too: Resize's modes...).
    if (auto r = unsupported_reason(ctx)) return "not run on CUDA: " + *r;
    for (const auto* list : {&ctx.inputs, &ctx.outputs})
      for (const TensorInfo& t : *list) {
        if (t.shape.size() > static_cast<size_t>(kern::kMaxRank))
          return "rank " + std::to_string(t.shape.size()) + " > " + std::to_string(kern::kMaxRank);
        if (is_float(t.dtype) && t.dtype != DType::Float32)
          return ctx.node.op_type + " on " + std::string(dtype_name(t.dtype)) + " values (CUDA backward: float32 only)";
      }
    if (it->second.check)
      if (auto r = it->second.check(ctx)) return ctx.node.op_type + ": " + *r;
    return std::nullopt;
  }

  std::unique_ptr<GradKernel> plan_backward(const NodeContext& ctx, const std::vector<bool>& need) override {
    if (auto why = backward_unsupported_reason(ctx)) throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": " + *why);
    // Planning may grow the shared workspace or scratch (cuDNN backward engines): a recorded forward
    // graph would still read the freed buffers, so it is dropped (re-recorded on a later run).
    const void* ws = ctx_.workspace;
    const void* hs = ctx_.half_scratch;
    auto moved = [&] { return ctx_.workspace != ws || ctx_.half_scratch != hs; };
    try {
      std::unique_ptr<GradKernel> k = grad_table().at(ctx.node.op_type).plan(ctx_, ctx, need);
      if (moved()) drop_graph();
      return k;
    } catch (...) {
      if (moved()) drop_graph();
      throw;
    }
  }

  void fill_zero(void* dst, size_t bytes) override {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, ctx_.stream));
  }

  size_t available_memory() const override {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    // Keep a margin for cuDNN/cuBLAS internals and the CUDA context.
    const size_t margin = size_t{256} << 20;
    return free_b > margin ? free_b - margin : 0;
  }

  DeviceBuffer allocate(size_t bytes) override { return ctx_.alloc(bytes); }
  cudaStream_t stream() const { return ctx_.stream; }

  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx_.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));  // `src` may be freed when we return
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx_.stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
  }
  void synchronize() override { CUDA_CHECK(cudaStreamSynchronize(ctx_.stream)); }

  bool begin_run(bool whole_graph) override {
    recording_ = false;
    replaying_ = false;
    if (!whole_graph || graph_failed_ || !graphs_enabled_) return false;
    if (exec_) {
      replaying_ = true;
      return true;
    }
    record_.clear();
    recording_ = true;  // this run executes eagerly; end_run() captures the recorded calls
    return false;
  }

  void end_run() override {
    if (replaying_) {
      replaying_ = false;
      CUDA_CHECK(cudaGraphLaunch(exec_, ctx_.stream));
      return;
    }
    if (!recording_) return;
    recording_ = false;
    capture();
  }

  void record(Kernel* k, std::span<const TensorView> in, std::span<const TensorView> out) {
    if (!recording_) return;
    record_.push_back({k, {in.begin(), in.end()}, {out.begin(), out.end()}});
  }

  // A planned kernel is being destroyed (its Session went away): a graph that calls it is stale.
  void forget(Kernel* k) {
    if (captured_.count(k) || recording_) drop_graph();
  }

 private:
  static constexpr size_t kCublasWorkspace = size_t{32} << 20;

  struct Call {
    Kernel* kernel;
    std::vector<TensorView> in, out;
  };

  void drop_graph() {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
    captured_.clear();
    graph_failed_ = false;
    recording_ = replaying_ = false;
    record_.clear();
  }

  // Captures the recorded calls (already executed eagerly) into a graph. Any failure disables
  // replay for this plan: the run still happened eagerly, so nothing is lost but speed.
  void capture() {
    CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));  // surface errors of the eager run first
    cudaGraph_t graph = nullptr;
    bool capturing = false;
    try {
      CUDA_CHECK(cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal));
      capturing = true;
      for (Call& c : record_) c.kernel->run(c.in, c.out);
      capturing = false;
      CUDA_CHECK(cudaStreamEndCapture(ctx_.stream, &graph));
      CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0));
      cudaGraphDestroy(graph);
      for (const Call& c : record_) captured_.insert(c.kernel);
    } catch (const Error& e) {
      if (capturing) {
        cudaGraph_t g = nullptr;
        cudaStreamEndCapture(ctx_.stream, &g);
        if (g) cudaGraphDestroy(g);
      }
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();
      exec_ = nullptr;
      graph_failed_ = true;
      std::fprintf(stderr, "netlens: CUDA graph capture failed, runs stay eager: %s\n", e.what());
    }
    record_.clear();
  }

  Context ctx_;
  DeviceBuffer cublas_ws_;
  std::string device_name_;
  bool recording_ = false, replaying_ = false, graph_failed_ = false;
  // NETLENS_CUDA_GRAPHS=0 turns replay off (every run eager), e.g. to profile single kernels.
  bool graphs_enabled_ = [] {
    const char* v = std::getenv("NETLENS_CUDA_GRAPHS");
    return !(v && std::string(v) == "0");
  }();
  std::vector<Call> record_;
  std::set<Kernel*> captured_;  // inner kernels the instantiated graph calls
  cudaGraphExec_t exec_ = nullptr;
};

RecordingKernel::~RecordingKernel() { backend_->forget(inner_.get()); }

void RecordingKernel::run(std::span<const TensorView> in, std::span<const TensorView> out) {
  backend_->record(inner_.get(), in, out);
  inner_->run(in, out);
}

}  // namespace
}  // namespace netlens::cuda

namespace netlens {

CudaDeviceInfo cuda_device_info(int device) {
  CudaDeviceInfo d;
  d.device = device;
  cudaDriverGetVersion(&d.driver_version);  // 0 without a driver; never fails otherwise
  cudaRuntimeGetVersion(&d.runtime_version);
  cudaError_t e = cudaGetDeviceCount(&d.count);
  if (e != cudaSuccess) d.count = 0;
  if (e == cudaSuccess && d.count == 0) e = cudaErrorNoDevice;
  if (e == cudaSuccess && (device < 0 || device >= d.count)) e = cudaErrorInvalidDevice;
  cudaDeviceProp prop{};
  if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) {
    cudaGetLastError();
    d.error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return d;
  }
  d.usable = true;
  d.name = prop.name;
  std::memcpy(d.uuid.data(), prop.uuid.bytes, d.uuid.size());
  d.total_memory = prop.totalGlobalMem;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  return d;
}

void* cuda_backend_stream(Backend& b) {
  auto* c = dynamic_cast<cuda::CudaBackend*>(&b);
  if (!c) throw Error(ErrorKind::Internal, "cuda_backend_stream: backend '" + b.name() + "' is not a CUDA backend");
  return c->stream();
}

std::unique_ptr<Backend> make_cuda_backend(int device, Precision precision) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaSuccess && count == 0) e = cudaErrorNoDevice;
  if (e == cudaSuccess && (device < 0 || device >= count)) e = cudaErrorInvalidDevice;
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorKind::Device,
                std::string("no usable CUDA device: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  return std::make_unique<cuda::CudaBackend>(device, precision);
}

}  // namespace netlens
