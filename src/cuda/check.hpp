// Error checks for CUDA runtime, cuDNN and cuBLAS calls: each failure becomes Error{Device} with
// one line naming the call, file:line and the library's error name.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

#include "netlens/core.hpp"

namespace netlens::cuda {

[[noreturn]] void fail_cuda(cudaError_t e, const char* call, const char* file, int line);
[[noreturn]] void fail_cudnn(cudnnStatus_t s, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t s, const char* call, const char* file, int line);

}  // namespace netlens::cuda

#define CUDA_CHECK(call)                                                                   \
  do {                                                                                     \
    const cudaError_t nl_e_ = (call);                                                      \
    if (nl_e_ != cudaSuccess) ::netlens::cuda::fail_cuda(nl_e_, #call, __FILE__, __LINE__); \
  } while (0)
#define CUDNN_CHECK(call)                                                                          \
  do {                                                                                             \
    const cudnnStatus_t nl_s_ = (call);                                                            \
    if (nl_s_ != CUDNN_STATUS_SUCCESS) ::netlens::cuda::fail_cudnn(nl_s_, #call, __FILE__, __LINE__); \
  } while (0)
#define CUBLAS_CHECK(call)                                                                            \
  do {                                                                                                \
    const cublasStatus_t nl_s_ = (call);                                                              \
    if (nl_s_ != CUBLAS_STATUS_SUCCESS) ::netlens::cuda::fail_cublas(nl_s_, #call, __FILE__, __LINE__); \
  } while (0)
// Kernel launchers (kernels/launch.hpp) return the cudaError_t of the launch as int.
#define NL_LAUNCH_CHECK(call) CUDA_CHECK(static_cast<cudaError_t>(call))
