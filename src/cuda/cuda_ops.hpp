// Internal interface of the CUDA backend: the device context shared by all kernels and an op
// table filled by one file per op family (ops_elementwise.cpp, ops_tensor.cpp, ops_nn.cpp).
//
// Contract for a CudaOp:
// - `check` returns a reason when this node cannot run here (dtype, attribute value, rank);
//   the backend has already checked that the op type is in the table and every rank is <= 8.
// - `plan` builds a Kernel. It may allocate device memory and upload constants (synchronously,
//   at plan time). Kernel::run only enqueues work on ctx.stream: no allocation, no host sync,
//   no host reads of device data (so a run can be captured into a CUDA graph).
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "check.hpp"
#include "kernels/launch.hpp"
#include "netlens/cuda.hpp"
#include "netlens/runtime.hpp"

namespace netlens::cuda {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  // Scratch shared by all kernels (they run one after another on `stream`): cuDNN workspaces.
  // Grown only at plan time; kernels read the pointer when they run.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // Numerics of Conv/Gemm/MatMul (netlens/cuda.hpp). Fixed for the backend's lifetime.
  Precision precision = Precision::Fp32;
  // Scratch for the float16 copies of an op's activations (Precision::Fp16), shared like
  // `workspace` and grown only at plan time.
  void* half_scratch = nullptr;
  size_t half_scratch_bytes = 0;
  // cuDNN execution plans by convolution configuration (cudnn_conv.cpp): identical convolutions
  // share one plan. Cleared before the cuDNN handle is destroyed.
  std::map<std::string, std::shared_ptr<void>> conv_plans;

  void* s() const { return stream; }  // the stream as launchers take it
  void reserve_workspace(size_t bytes);
  void reserve_half_scratch(size_t bytes);
  DeviceBuffer alloc(size_t bytes) const;           // cudaMalloc; throws Error{Memory}
  DeviceBuffer upload(const void* data, size_t bytes) const;  // synchronous copy, plan time only
  DeviceBuffer upload(const Tensor& t) const { return upload(t.data(), t.nbytes()); }
};

struct CudaOp {
  std::function<std::optional<std::string>(const NodeContext&)> check;
  std::function<std::unique_ptr<Kernel>(Context&, const NodeContext&)> plan;
};
using CudaOpTable = std::map<std::string, CudaOp>;

void register_elementwise_ops(CudaOpTable& t);  // unary, binary, Where, Cast, Softmax, reductions
void register_tensor_ops(CudaOpTable& t);       // copies, Transpose, Slice, Concat, Split, Gather, Pad, Expand, Tile, Resize
void register_nn_ops(CudaOpTable& t);           // Conv, ConvTranspose, Gemm, MatMul, norms, pools

using netlens::KernelFn;  // and make_kernel: the runtime's (runtime.hpp)
using netlens::make_kernel;

// Strided maps (kernels/index.hpp) for the common walks.
kern::StridedMap contiguous_map(const Shape& s);
// Walk over `out` reading an input of shape `in` broadcast to it (numpy rules).
kern::StridedMap broadcast_map(const Shape& in, const Shape& out);
// `m` safe for the kernels: a rank-0 map becomes one element of rank 1.
kern::StridedMap scalar_safe(kern::StridedMap m);
// Clip's bounds: attributes before opset 11, else the constant min/max inputs (element 0), ±inf
// when absent. The forward and backward kernels read them here, so both clip at the same values.
std::pair<float, float> clip_bounds(const NodeContext& ctx);

// Row-major Y[M,N] = alpha op(A) op(B) + beta Y through cuBLAS on ctx.stream (ops_nn.cpp): A stored
// [M,K] (ta: [K,M]), B stored [K,N] (tb: [N,K]), contiguous; `half`: float16 A and B with float
// accumulation, else float32 (TF32 only when the handle's math mode says so). batch > 1: strided
// batched with the given element strides. Used by the forward Gemm/MatMul and their backward.
void gemm_rowmajor(Context& c, bool half, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const void* a, const void* b, float beta, float* y, int batch = 1, int64_t stride_a = 0,
                   int64_t stride_b = 0, int64_t stride_y = 0);

// Reasons shared by the op checks ("float32 only, got float16").
std::optional<std::string> require_dtype(const NodeContext& ctx, std::initializer_list<DType> allowed,
                                         size_t input = 0);

}  // namespace netlens::cuda
