// Internal interface of the CUDA backend's reverse mode: a table of backward ops filled by one file
// per op family (grad_elementwise.cpp, grad_tensor.cpp, grad_nn.cpp), consulted by
// CudaBackend::backward_unsupported_reason / plan_backward (cuda_backend.cpp).
//
// Contract for a CudaGradOp (on top of GradKernel's in netlens/runtime.hpp):
// - `check` returns a reason when this node cannot be differentiated here; the backend has already
//   checked that the op is in the table, every rank is <= kern::kMaxRank and every float input and
//   output is float32 (other float types are differentiated by the CPU backend, which converts).
// - `plan` builds the GradKernel for the wanted input gradients (`need`). It may refuse a `need`
//   it does not implement (a BatchNormalization's running-mean gradient...) by throwing
//   Error{Unsupported}: Session::backward then differentiates that node on the host, with a
//   warning. It may allocate and upload at plan time; GradKernel::run only enqueues work on
//   ctx.stream (no allocation, no host sync, no host reads of device data) and ADDS into the
//   grad_inputs it was asked for.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cuda_ops.hpp"
#include "netlens/cuda/grad_maps.hpp"
#include "kernels/grad_launch.hpp"

namespace netlens::cuda {

using Need = std::vector<bool>;

struct CudaGradOp {
  std::function<std::optional<std::string>(const NodeContext&)> check;
  std::function<std::unique_ptr<GradKernel>(Context&, const NodeContext&, const Need&)> plan;
};
using CudaGradTable = std::map<std::string, CudaGradOp>;

void register_elementwise_grads(CudaGradTable& t);  // Relu..Clip, Add/Sub/Mul/Div/PRelu, Softmax, LogSoftmax
void register_tensor_grads(CudaGradTable& t);       // Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout, Transpose, Concat, Resize
void register_nn_grads(CudaGradTable& t);           // Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, pools

// A GradKernel from a function (the closure keeps what plan prepared).
using GradFn = std::function<void(const GradViews&)>;
std::unique_ptr<GradKernel> make_grad_kernel(GradFn fn);

// Views as float pointers; null when absent or not wanted.
inline float* grad_in(const GradViews& v, size_t i) {
  return i < v.grad_inputs.size() ? static_cast<float*>(v.grad_inputs[i].data) : nullptr;
}
inline const float* grad_out(const GradViews& v, size_t i) {
  return i < v.grad_outputs.size() ? static_cast<const float*>(v.grad_outputs[i].data) : nullptr;
}
inline const float* fwd_in(const GradViews& v, size_t i) {
  return i < v.inputs.size() ? static_cast<const float*>(v.inputs[i].data) : nullptr;
}
inline const float* fwd_out(const GradViews& v, size_t i) {
  return i < v.outputs.size() ? static_cast<const float*>(v.outputs[i].data) : nullptr;
}
inline bool wanted(const Need& need, size_t i) { return i < need.size() && need[i]; }

// [[noreturn]] Error{Unsupported} "<node>: <what> (differentiated on the host)".
[[noreturn]] void refuse(const NodeContext& ctx, const std::string& what);

}  // namespace netlens::cuda
