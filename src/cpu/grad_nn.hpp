// Internal interface of the CPU backward kernels of the "nn" family (CpuGrad contract in
// cpu_ops.hpp): one plan function per op, grouped by file (grad_conv.cpp, grad_matmul.cpp,
// grad_pool.cpp, grad_norm.cpp); grad_nn.cpp registers them. Every kernel adds (+=) into the
// grad_inputs it was asked for (`need`) and computes nothing for the others.
#pragma once

#include <memory>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"

namespace netlens::cpu::nn {

using Need = std::vector<bool>;
inline bool wanted(const Need& need, size_t i) { return i < need.size() && need[i]; }
// The gradient slot i as float*, or nullptr when not wanted / absent.
inline float* grad_in(const GradViews& v, size_t i) {
  return i < v.grad_inputs.size() ? static_cast<float*>(v.grad_inputs[i].data) : nullptr;
}
inline const float* grad_out(const GradViews& v, size_t i) {
  return i < v.grad_outputs.size() ? static_cast<const float*>(v.grad_outputs[i].data) : nullptr;
}
inline const float* fwd_in(const GradViews& v, size_t i) {
  return i < v.inputs.size() ? static_cast<const float*>(v.inputs[i].data) : nullptr;
}

// Per-thread scratch buffer `slot` (0..7) of at least `bytes`, 64-byte aligned, shared by the
// backward kernels of the thread (blocked copies of dY, W, X and the primitives' outputs).
void* grad_scratch(int slot, size_t bytes);

std::unique_ptr<GradKernel> plan_conv_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_conv_transpose_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_gemm_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_matmul_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_max_pool_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_average_pool_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_global_pool_grad(const NodeContext& ctx, const Need& need, bool is_max);
std::unique_ptr<GradKernel> plan_batchnorm_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_instancenorm_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_layernorm_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_lrn_grad(const NodeContext& ctx, const Need& need);
std::unique_ptr<GradKernel> plan_lpnorm_grad(const NodeContext& ctx, const Need& need);

}  // namespace netlens::cpu::nn
