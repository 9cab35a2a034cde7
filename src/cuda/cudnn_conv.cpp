#include "cudnn_conv.hpp"

#include <cstdio>
#include <cstdlib>
#include <set>

namespace netlens::cuda {
namespace {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
constexpr cudnnBackendAttributeName_t kOpGraphHandle = CUDNN_ATTR_OPERATIONGRAPH_HANDLE;
constexpr cudnnBackendAttributeName_t kPlanHandle = CUDNN_ATTR_EXECUTION_PLAN_HANDLE;
#pragma GCC diagnostic pop

constexpr int64_t kMaxWorkspace = int64_t{1} << 30;

// Owns one backend descriptor.
struct Desc {
  cudnnBackendDescriptor_t d = nullptr;
  Desc() = default;
  explicit Desc(cudnnBackendDescriptorType_t type) { CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d)); }
  ~Desc() {
    if (d) cudnnBackendDestroyDescriptor(d);
  }
  Desc(Desc&& o) noexcept : d(o.d) { o.d = nullptr; }
  Desc& operator=(Desc&& o) noexcept {
    std::swap(d, o.d);
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
};

Desc tensor_desc(int64_t uid, const Shape& dims, int64_t alignment, bool half) {
  Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const auto strides = strides_of(dims);
  const cudnnDataType_t dt = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  CUDNN_CHECK(cudnnBackendSetAttribute(t.d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
  CUDNN_CHECK(cudnnBackendSetAttribute(t.d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64,
                                       static_cast<int64_t>(dims.size()), dims.data()));
  CUDNN_CHECK(cudnnBackendSetAttribute(t.d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64,
                                       static_cast<int64_t>(strides.size()), strides.data()));
  CUDNN_CHECK(cudnnBackendSetAttribute(t.d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  CUDNN_CHECK(cudnnBackendSetAttribute(t.d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment));
  CUDNN_CHECK(cudnnBackendFinalize(t.d));
  return t;
}

bool has_note(const std::vector<cudnnBackendNumericalNote_t>& notes, cudnnBackendNumericalNote_t n) {
  for (auto x : notes)
    if (x == n) return true;
  return false;
}

bool debug() {
  static const bool on = std::getenv("NETLENS_CUDNN_DEBUG") != nullptr;
  return on;
}

}  // namespace

struct CudnnConv::Plan {
  // Everything the plan was built from stays alive with it (as cudnn_frontend does): finalized
  // descriptors may refer to the ones they were made from. `common` (tensors, conv, op, graph)
  // is shared by the candidate plans of one configuration.
  std::shared_ptr<std::vector<Desc>> common;
  std::vector<Desc> keep;
  Desc plan;
  int64_t workspace = 0;
  std::string info;
};

CudnnConv::CudnnConv(Context& ctx, ConvSpec spec) : ctx_(ctx), spec_(std::move(spec)) {
  aligned_ = plan_for(16);
  ctx_.reserve_workspace(static_cast<size_t>(aligned_->workspace));
}

CudnnConv::~CudnnConv() = default;

std::string CudnnConv::engine_info() const { return aligned_ ? aligned_->info : ""; }

std::shared_ptr<CudnnConv::Plan> CudnnConv::plan_for(int64_t alignment) {
  std::string key = spec_.backward_filter ? "bwdf" : spec_.backward_data ? "bwd" : "fwd";
  if (spec_.accumulate) key += "+acc";
  for (const auto* v : {&spec_.x, &spec_.w, &spec_.y, &spec_.pad_begin, &spec_.pad_end, &spec_.strides, &spec_.dilations}) {
    key += '|';
    for (int64_t d : *v) key += std::to_string(d) + ',';
  }
  key += "|a" + std::to_string(alignment) + (spec_.half ? "|f16" : "|f32");
  auto it = ctx_.conv_plans.find(key);
  if (it != ctx_.conv_plans.end()) return std::static_pointer_cast<Plan>(it->second);
  std::shared_ptr<Plan> p = build(alignment);
  ctx_.conv_plans[key] = p;
  return p;
}

std::shared_ptr<CudnnConv::Plan> CudnnConv::build(int64_t alignment) {
  const size_t nsp = spec_.x.size() - 2;
  const int64_t uid_x = 1, uid_w = 2, uid_y = 3;
  Desc x = tensor_desc(uid_x, spec_.x, alignment, spec_.half);
  Desc w = tensor_desc(uid_w, spec_.w, alignment, spec_.half);
  Desc y = tensor_desc(uid_y, spec_.y, alignment, spec_.half);

  Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const int64_t spatial = static_cast<int64_t>(nsp);
  const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, spatial,
                                       spec_.pad_begin.data()));
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, spatial,
                                       spec_.pad_end.data()));
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, spatial,
                                       spec_.dilations.data()));
  CUDNN_CHECK(cudnnBackendSetAttribute(conv.d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, spatial,
                                       spec_.strides.data()));
  CUDNN_CHECK(cudnnBackendFinalize(conv.d));

  const float alpha = 1.0f, beta = spec_.accumulate ? 1.0f : 0.0f;
  Desc op;
  if (spec_.backward_filter) {
    op = Desc(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR);
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
  } else if (!spec_.backward_data) {
    op = Desc(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
  } else {
    op = Desc(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv.d));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
    CUDNN_CHECK(cudnnBackendSetAttribute(op.d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
  }
  CUDNN_CHECK(cudnnBackendFinalize(op.d));

  Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  CUDNN_CHECK(cudnnBackendSetAttribute(graph.d, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op.d));
  CUDNN_CHECK(cudnnBackendSetAttribute(graph.d, kOpGraphHandle, CUDNN_TYPE_HANDLE, 1, &ctx_.cudnn));
  CUDNN_CHECK(cudnnBackendFinalize(graph.d));
  auto common = std::make_shared<std::vector<Desc>>();
  for (Desc* d : {&x, &w, &y, &conv, &op, &graph}) common->push_back(std::move(*d));
  const cudnnBackendDescriptor_t graph_d = common->back().d;
  // Candidates to autotune among (NETLENS_CUDNN_AUTOTUNE=0: take the heuristics' first).
  const char* tune_env = std::getenv("NETLENS_CUDNN_AUTOTUNE");
  const size_t max_candidates = (tune_env && std::string(tune_env) == "0") ? 1 : 8;
  std::vector<std::shared_ptr<Plan>> found;
  std::set<int64_t> seen;

  // Two passes over the heuristics' suggestions: first only engines with no risky numerical
  // note (and no runtime compilation), then allowing Winograd and runtime-compiled engines.
  std::string tried;
  for (int pass = 0; pass < 2; ++pass) {
    for (cudnnBackendHeurMode_t hmode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
      CUDNN_CHECK(cudnnBackendSetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                           1, &graph_d));
      CUDNN_CHECK(cudnnBackendSetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hmode));
      if (cudnnBackendFinalize(heur.d) != CUDNN_STATUS_SUCCESS) continue;
      int64_t count = 0;
      if (cudnnBackendGetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                   nullptr) != CUDNN_STATUS_SUCCESS || count <= 0)
        continue;
      std::vector<Desc> cfgs;
      std::vector<cudnnBackendDescriptor_t> raw;
      for (int64_t i = 0; i < count; ++i) {
        cfgs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        raw.push_back(cfgs.back().d);
      }
      int64_t got = 0;
      CUDNN_CHECK(cudnnBackendGetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                           &got, raw.data()));
      for (int64_t i = 0; i < got; ++i) {
        Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
        int64_t n = 0;
        if (cudnnBackendGetAttribute(cfgs[i].d, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n,
                                     &engine.d) != CUDNN_STATUS_SUCCESS)
          continue;
        std::vector<cudnnBackendNumericalNote_t> notes(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
        int64_t nn = 0;
        if (cudnnBackendGetAttribute(engine.d, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                     static_cast<int64_t>(notes.size()), &nn, notes.data()) != CUDNN_STATUS_SUCCESS)
          nn = 0;
        notes.resize(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(nn, CUDNN_NUMERICAL_NOTE_TYPE_COUNT))));
        std::vector<cudnnBackendBehaviorNote_t> bnotes(CUDNN_BEHAVIOR_NOTE_TYPE_COUNT);
        int64_t nb = 0;
        if (cudnnBackendGetAttribute(engine.d, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                     static_cast<int64_t>(bnotes.size()), &nb, bnotes.data()) != CUDNN_STATUS_SUCCESS)
          nb = 0;
        bnotes.resize(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(nb, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT))));
        int64_t gidx = -1, ng = 0;
        cudnnBackendGetAttribute(engine.d, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &ng, &gidx);

        // Tensor cores are what Tf32 and half data ask for (fp32 accumulation either way); the
        // other notes lose more than the chosen precision does, in every mode.
        const bool tensor_core_ok = spec_.half || ctx_.precision == Precision::Tf32;
        const bool precision_loss = (!tensor_core_ok && has_note(notes, CUDNN_NUMERICAL_NOTE_TENSOR_CORE)) ||
                                    has_note(notes, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) ||
                                    has_note(notes, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) ||
                                    has_note(notes, CUDNN_NUMERICAL_NOTE_FFT);
        bool runtime_compiled = false;
        for (auto b : bnotes)
          if (b == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) runtime_compiled = true;
        const bool winograd = has_note(notes, CUDNN_NUMERICAL_NOTE_WINOGRAD) ||
                              has_note(notes, CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4) ||
                              has_note(notes, CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6) ||
                              has_note(notes, CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13);
        if (precision_loss) continue;
        if (pass == 0 && (runtime_compiled || winograd)) continue;

        auto p = std::make_shared<Plan>();
        p->plan = Desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
        CUDNN_CHECK(cudnnBackendSetAttribute(p->plan.d, kPlanHandle, CUDNN_TYPE_HANDLE, 1, &ctx_.cudnn));
        CUDNN_CHECK(cudnnBackendSetAttribute(p->plan.d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i].d));
        if (cudnnBackendFinalize(p->plan.d) != CUDNN_STATUS_SUCCESS) {
          tried += " " + std::to_string(gidx) + "(finalize failed)";
          continue;
        }
        int64_t nw = 0;
        CUDNN_CHECK(cudnnBackendGetAttribute(p->plan.d, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                             &nw, &p->workspace));
        if (p->workspace > kMaxWorkspace) {
          tried += " " + std::to_string(gidx) + "(workspace)";
          continue;
        }
        if (seen.count(gidx)) continue;  // mode A and the fallback mode may propose the same engine
        seen.insert(gidx);
        p->common = common;
        for (Desc* d : {&cfgs[i], &engine}) p->keep.push_back(std::move(*d));
        p->info = "engine " + std::to_string(gidx) + (winograd ? " winograd" : "") +
                  (runtime_compiled ? " rtc" : "") + ", workspace " + std::to_string(p->workspace) + " B";
        found.push_back(p);
        if (found.size() >= max_candidates) break;
      }
      if (found.size() >= max_candidates) break;
    }
    if (!found.empty()) break;  // Winograd / runtime-compiled engines only when nothing else works
  }
  if (!found.empty()) {
    std::shared_ptr<Plan> best = found.size() == 1 ? found.front() : fastest(found);
    if (best) {
      if (debug()) std::fprintf(stderr, "netlens cudnn: %s: %s (of %zu)\n", spec_.where.c_str(), best->info.c_str(), found.size());
      return best;
    }
    tried += " (no candidate executed)";
  }
  const std::string what = spec_.half ? "float16 (float accumulation)"
                           : ctx_.precision == Precision::Tf32 ? "fp32/TF32" : "fp32 (TF32 off)";
  throw Error(ErrorKind::Unsupported, spec_.where + ": no cuDNN " + what + " engine accepts this convolution" +
                                          (tried.empty() ? std::string() : " (tried:" + tried + ")"));
}

void CudnnConv::execute(const void* x, const void* w, void* y) {
  const auto addr_ok = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; };
  Plan* plan = aligned_.get();
  if (!addr_ok(x) || !addr_ok(w) || !addr_ok(y)) {
    if (!unaligned_) {
      unaligned_ = plan_for(4);
      ctx_.reserve_workspace(static_cast<size_t>(unaligned_->workspace));
    }
    plan = unaligned_.get();
  }
  CUDNN_CHECK(launch(*plan, x, w, y));
}

cudnnStatus_t CudnnConv::launch(const Plan& plan, const void* x, const void* w, void* y) {
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  void* ptrs[3] = {const_cast<void*>(x), const_cast<void*>(w), y};
  const int64_t uids[3] = {1, 2, 3};
  void* ws = ctx_.workspace;
  CUDNN_CHECK(cudnnBackendSetAttribute(pack.d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs));
  CUDNN_CHECK(cudnnBackendSetAttribute(pack.d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids));
  CUDNN_CHECK(cudnnBackendSetAttribute(pack.d, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
  CUDNN_CHECK(cudnnBackendFinalize(pack.d));
  return cudnnBackendExecute(ctx_.cudnn, plan.plan.d, pack.d);
}

// Times every candidate on scratch tensors (plan time, the stream is not being captured) and
// returns the fastest one that executes; null when none does.
std::shared_ptr<CudnnConv::Plan> CudnnConv::fastest(const std::vector<std::shared_ptr<Plan>>& found) {
  int64_t ws = 0;
  for (const auto& p : found) ws = std::max(ws, p->workspace);
  ctx_.reserve_workspace(static_cast<size_t>(ws));
  const size_t bx = static_cast<size_t>(numel(spec_.x)) * sizeof(float);
  const size_t bw = static_cast<size_t>(numel(spec_.w)) * sizeof(float);
  const size_t by = static_cast<size_t>(numel(spec_.y)) * sizeof(float);
  DeviceBuffer x = ctx_.alloc(bx), w = ctx_.alloc(bw), y = ctx_.alloc(by);
  CUDA_CHECK(cudaMemsetAsync(x.get(), 0, bx, ctx_.stream));
  CUDA_CHECK(cudaMemsetAsync(w.get(), 0, bw, ctx_.stream));
  CUDA_CHECK(cudaMemsetAsync(y.get(), 0, by, ctx_.stream));  // read when accumulating (beta = 1)
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  std::shared_ptr<Plan> best;
  float best_ms = 0;
  for (const auto& p : found) {
    if (launch(*p, x.get(), w.get(), y.get()) != CUDNN_STATUS_SUCCESS) continue;  // warm-up, and does it run?
    if (cudaStreamSynchronize(ctx_.stream) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    cudaEventRecord(e0, ctx_.stream);
    bool ok = true;
    for (int r = 0; r < 3 && ok; ++r) ok = launch(*p, x.get(), w.get(), y.get()) == CUDNN_STATUS_SUCCESS;
    cudaEventRecord(e1, ctx_.stream);
    float ms = 0;
    if (cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess) {
      cudaGetLastError();
      ok = false;
    }
    if (ok && (!best || ms < best_ms)) {
      best = p;
      best_ms = ms;
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  if (best) best->info += ", " + std::to_string(best_ms / 3) + " ms tuned";
  return best;
}

}  // namespace netlens::cuda
