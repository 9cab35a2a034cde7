// Internal interface of the CPU backend: an op table filled by one file per op family.
//
// Contract for a CpuOp:
// - `check` (optional) returns a reason when this node cannot run (attribute value not
//   implemented); absent means always supported.
// - `plan` builds a Kernel for the node. Views passed to Kernel::run point into host memory.
// - Unless `dtype_generic`, the backend runs the kernel in float32: Float16/BFloat16/Float64
//   inputs, outputs and constant inputs are converted to/from Float32 around it (as onnxruntime's
//   CPU provider computes fp16). Ops that only move or compare bytes (Reshape, Concat, Gather,
//   Cast...) set dtype_generic and handle every dtype themselves.
// - Kernels are multi-threaded with OpenMP where the work is large enough.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "netlens/runtime.hpp"

namespace netlens::cpu {

struct CpuOp {
  std::function<std::optional<std::string>(const NodeContext&)> check;
  std::function<std::unique_ptr<Kernel>(const NodeContext&)> plan;
  bool dtype_generic = false;
};
using CpuOpTable = std::map<std::string, CpuOp>;

// One per family (each in its own ops_*.cpp).
void register_nn_ops(CpuOpTable& t);          // Conv, ConvTranspose, Gemm, MatMul, pools, norms
void register_elementwise_ops(CpuOpTable& t); // unary, binary, activations, compare, Where, softmax, reductions
void register_tensor_ops(CpuOpTable& t);      // Reshape..Einsum: data movement, Resize, Pad, Cast, Range...

// A Kernel from a lambda: the runtime's (runtime.hpp).
using netlens::KernelFn;
using netlens::make_kernel;

}  // namespace netlens::cpu
