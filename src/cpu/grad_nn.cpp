// Reverse mode for the CPU backend's nn ops (CpuGrad contract in cpu_ops.hpp): the table. The
// kernels live in grad_conv.cpp (Conv, ConvTranspose: oneDNN backward primitives),
// grad_matmul.cpp (Gemm, MatMul: oneDNN sgemm), grad_pool.cpp (pools) and grad_norm.cpp
// (BatchNormalization, InstanceNormalization, LayerNormalization, LRN, LpNormalization).
// Every op register_nn_ops registers has an entry here (tests/grad/test_grad_nn.cpp checks it).
#include <cstdlib>

#include "grad_nn.hpp"

namespace netlens::cpu {

namespace nn {

namespace {
struct GradScratchSlot {
  void* p = nullptr;
  size_t size = 0;
  ~GradScratchSlot() { std::free(p); }
};
}  // namespace

void* grad_scratch(int slot, size_t bytes) {
  thread_local GradScratchSlot slots[8];
  GradScratchSlot& s = slots[slot];
  if (s.size < bytes) {
    std::free(s.p);
    const size_t n = (bytes + 63) / 64 * 64;
    s.p = std::aligned_alloc(64, std::max<size_t>(n, 64));
    if (!s.p) {
      s.size = 0;
      throw Error(ErrorKind::Memory, "out of host memory allocating " + std::to_string(bytes) + " gradient scratch bytes");
    }
    s.size = n;
  }
  return s.p;
}

}  // namespace nn

void register_nn_grads(CpuGradTable& t) {
  using namespace nn;
  t["Conv"] = CpuGrad{nullptr, plan_conv_grad};
  t["ConvTranspose"] = CpuGrad{nullptr, plan_conv_transpose_grad};
  t["Gemm"] = CpuGrad{nullptr, plan_gemm_grad};
  t["MatMul"] = CpuGrad{nullptr, plan_matmul_grad};
  t["MaxPool"] = CpuGrad{nullptr, plan_max_pool_grad};
  t["AveragePool"] = CpuGrad{nullptr, plan_average_pool_grad};
  t["GlobalAveragePool"] = CpuGrad{nullptr, [](const NodeContext& c, const Need& n) { return plan_global_pool_grad(c, n, false); }};
  t["GlobalMaxPool"] = CpuGrad{nullptr, [](const NodeContext& c, const Need& n) { return plan_global_pool_grad(c, n, true); }};
  t["BatchNormalization"] = CpuGrad{nullptr, plan_batchnorm_grad};
  t["InstanceNormalization"] = CpuGrad{nullptr, plan_instancenorm_grad};
  t["LayerNormalization"] = CpuGrad{nullptr, plan_layernorm_grad};
  t["LRN"] = CpuGrad{nullptr, plan_lrn_grad};
  t["LpNormalization"] = CpuGrad{nullptr, plan_lpnorm_grad};
}

}  // namespace netlens::cpu
