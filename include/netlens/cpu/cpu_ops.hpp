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
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::cpu {

struct CpuOp {
  std::function<std::optional<std::string>(const NodeContext&)> check;
  std::function<std::unique_ptr<Kernel>(const NodeContext&)> plan;
  bool dtype_generic = false;
};
using CpuOpTable = std::map<std::string, CpuOp>;  // keyed by op_key(domain, op_type) (runtime.hpp)

// One per family (each in its own ops_*.cpp).
void register_nn_ops(CpuOpTable& t);          // Conv, ConvTranspose, Gemm, MatMul, pools, norms
void register_elementwise_ops(CpuOpTable& t); // unary, binary, activations, compare, Where, softmax, reductions
void register_tensor_ops(CpuOpTable& t);      // Reshape..Einsum: data movement, Resize, Pad, Cast, Range...
void register_rnn_ops(CpuOpTable& t);         // LSTM, GRU, RNN (ops_rnn.cpp)
void register_quant_ops(CpuOpTable& t);       // ops_quant*.cpp: Quantize/DequantizeLinear, QLinearConv/MatMul, *Integer
void register_quant_ms_ops(CpuOpTable& t);    // ops_quant_ms.cpp: com.microsoft QLinearAdd/Mul/Sigmoid/LeakyRelu/...

// Reverse mode (the GradKernel contract in runtime.hpp: add into grad_inputs, never assign).
// `plan` sees the node with float32 infos and float32 forward views whatever the model's float
// dtype (the backend converts Float16/BFloat16/Float64 forward values around the kernel; gradients
// are float32 anyway), and which input gradients are wanted. `check` (optional) returns a reason
// when this node's attributes are not differentiable here. An op whose outputs are float but
// whose gradient is zero almost everywhere (Floor, Sign...) has a kernel that adds nothing; ops
// with only integer/bool outputs (Shape, ArgMax, Equal...) need no entry: nothing flows into them.
struct CpuGrad {
  std::function<std::optional<std::string>(const NodeContext&)> check;
  std::function<std::unique_ptr<GradKernel>(const NodeContext&, const std::vector<bool>& need)> plan;
};
using CpuGradTable = std::map<std::string, CpuGrad>;
using GradFn = std::function<void(const GradViews&)>;
std::unique_ptr<GradKernel> make_grad_kernel(GradFn fn);

void register_nn_grads(CpuGradTable& t);           // grad_nn.cpp
void register_elementwise_grads(CpuGradTable& t);  // grad_elementwise.cpp
void register_tensor_grads(CpuGradTable& t);       // grad_tensor.cpp

// A Kernel from a lambda: the runtime's (runtime.hpp).
using netlens::KernelFn;
using netlens::make_kernel;

}  // namespace netlens::cpu
