// Internal helpers of the CPU "nn" family (Conv, ConvTranspose, pools, Gemm, MatMul, norms):
// the shared oneDNN engine/stream, plain memory descriptors, per-thread scratch buffers, and the
// plan/check entry points that ops_nn.cpp registers.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/runtime.hpp"
#include "netlens/runtime/shape_util.hpp"

// The library is built for baseline x86-64; hot plain-C++ loops of this family are also compiled
// for AVX-512 and AVX2+FMA and picked at load time. Not under ThreadSanitizer: the clones' ifunc
// resolvers run during relocation, before the TSan runtime exists, and crash there.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define NETLENS_NN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NETLENS_NN_CLONES
#endif

namespace netlens::cpu {
class Chain;
}

namespace netlens::cpu::nn {

// y[i] = x[i] * a + b
void affine_row(const float* x, float* y, int64_t n, float a, float b);
// Sum of x[0..n) accumulated in double.
double sum_row(const float* x, int64_t n);
// Mean and 1/sqrt(var + eps) of x[0..n), two-pass in double.
void row_stats(const float* x, int64_t n, double eps, double& mean, double& inv_std);

// One CPU engine for the process; one stream per thread (oneDNN CPU streams are cheap handles and
// a kernel always waits on its stream before returning, so nothing is in flight across kernels).
dnnl::engine& dnnl_engine();
dnnl::stream& dnnl_stream();

dnnl::memory::dims to_dims(const Shape& s);
// Row-major float32 descriptor of `s` (what the activation store holds).
dnnl::memory::desc plain_desc(const Shape& s);

// Per-thread scratch buffer `slot` (0..3) of at least `bytes`, 64-byte aligned, reused by every
// kernel of the thread: blocked-layout copies of activations and per-run weight reorders.
void* scratch(int slot, size_t bytes);
// Frees the calling thread's scratch buffers (release_cpu_thread_scratch, netlens/cpu.hpp).
void release_scratch();

// oneDNN scratchpads. This oneDNN (Debian's 2.6) gives every primitive its own library-managed
// scratchpad, allocated at creation and held as long as the primitive: summed over a model's
// convs and pools that was 1.45 GB for ISNet at 1024x1024 (Winograd's transformed tiles) next to
// 1.6 GB of activations. Forward primitives are therefore created with user_scratchpad() and given
// one per-thread buffer at execute (with_scratchpad), so a run holds the largest one, not the sum.
dnnl::primitive_attr user_scratchpad(dnnl::primitive_attr attr = {});
// The scratchpad `prim` wants (empty when none).
dnnl::memory::desc scratchpad_desc(const dnnl::primitive& prim);
// Adds DNNL_ARG_SCRATCHPAD for `d` (the per-thread scratchpad buffer) unless d is empty.
void with_scratchpad(std::unordered_map<int, dnnl::memory>& args, const dnnl::memory::desc& d);

// Host value of constant input i, or nullptr.
inline const Tensor* const_input(const NodeContext& ctx, size_t i) {
  return i < ctx.const_inputs.size() ? ctx.const_inputs[i] : nullptr;
}
inline bool has_input(const NodeContext& ctx, size_t i) {
  return i < ctx.inputs.size() && ctx.inputs[i].dtype != DType::Undefined && ctx.node.has_input(i);
}

// Throws Error{Unsupported} naming the node for a oneDNN failure at plan time.
[[noreturn]] void rethrow_dnnl(const NodeContext& ctx, const dnnl::error& e, const char* what);
// Float32 view of an input expected to be float32 (the backend converts other float types).
void require_f32(const NodeContext& ctx, size_t input);

// Layout policy for convolutions: oneDNN's blocked kernels win on spatial/grouped kernels even
// with the reorders in and out of plain NCHW (2-8x on depthwise), while plain GEMM wins on dense
// 1x1 convs over large images (measured per layer on ResNet-50 and PP-OCRv4 det, AVX-512).
// NETLENS_CONV_LAYOUT=plain|blocked overrides for measurement.
enum class ConvLayout { Plain, Blocked };
std::optional<ConvLayout> forced_conv_layout();
ConvLayout conv_layout(bool pointwise_dense);
// Winograd for 3x3 stride-1 convs; NETLENS_CONV_WINOGRAD=0 turns it off (direct kernels only).
bool winograd_enabled();

std::unique_ptr<Kernel> plan_conv(const NodeContext& ctx);
// The same with a fused chain (netlens/cpu/fused_chain.hpp) the kernel executes; nullptr for none.
std::unique_ptr<Kernel> plan_conv_chained(const NodeContext& ctx, std::shared_ptr<Chain> chain);
std::unique_ptr<Kernel> plan_conv_transpose(const NodeContext& ctx);
// Depthwise 2-D conv (x 4-D NCHW, group == C == OC, weights [C][1][kh][kw], bias optional) on plain
// NCHW through a 16-channel blocked copy per work item (nn_depthwise.cpp); `chain` as plan_conv_chained.
std::unique_ptr<Kernel> make_depthwise_conv2d(const Shape& x, const Shape& y, const SpatialGeometry& g,
                                              std::shared_ptr<Chain> chain);
std::unique_ptr<Kernel> plan_max_pool(const NodeContext& ctx);
std::unique_ptr<Kernel> plan_average_pool(const NodeContext& ctx);
std::unique_ptr<Kernel> plan_gemm(const NodeContext& ctx);
std::unique_ptr<Kernel> plan_matmul(const NodeContext& ctx);
// The same executing a fused chain after the product (a transformer's bias Add, GELU, residual Add).
std::unique_ptr<Kernel> plan_matmul_chained(const NodeContext& ctx, std::shared_ptr<Chain> chain);

}  // namespace netlens::cpu::nn
