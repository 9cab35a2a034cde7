// cuBLAS through dlopen: the functions the backend calls, resolved when the first CUDA backend is
// made. Not linked, because libcublas needs libcublasLt, whose static initialisers touch about
// 200 MiB at process start: linked, every netlens process paid 70-130 ms and 216 MiB of RSS for
// it, CPU runs and `--help` included (docs/PERFORMANCE.md, "Session 14"). Types and constants
// still come from cublas_v2.h.
#pragma once

#include <cublas_v2.h>

namespace netlens::cuda {

struct CublasLib {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched = nullptr;
  // (Spelled out: cublas_api.h overloads these two with inline wrappers taking cudaDataType.)
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
  cublasStatus_t (*gemm_strided_batched_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                            const void*, const void*, cudaDataType, int, long long, const void*,
                                            cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                            long long, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
};

// The library built against, opened and resolved on the first call (thread-safe; a failed call
// is tried again by the next). Error{Device} naming the library and the loader's message when it,
// or one of the functions, cannot be found. The library stays loaded until the process exits.
const CublasLib& cublas_lib();

}  // namespace netlens::cuda
