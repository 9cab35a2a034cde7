// The CUDA backend: cuDNN (convolutions), cuBLAS (Gemm/MatMul) and netlens' own kernels for the
// rest. Nodes it does not implement run on the next backend (the CPU) automatically.
// Numerics: float32 with TF32 off (cuBLAS default math, cuDNN engines without tensor-core/down-
// convert notes), so results match the CPU backend within 1e-5 relative L2 on fp32 models;
// float16 tensors are computed in float32 inside the kernels.
// Execution: one stream owned by the backend (a blocking stream: CUDA events recorded on the
// legacy default stream bracket its work). A whole-graph run is recorded into a CUDA graph and
// replayed on later runs of the same plan; planning again or destroying a planned kernel drops
// the recording. Replay assumes one Session at a time drives a CUDA backend: give sessions whose
// runs interleave a backend each (or set NETLENS_CUDA_GRAPHS=0).
#pragma once

#include <memory>

#include "netlens/runtime.hpp"

namespace netlens {

// Throws Error{Device} with one line "no usable CUDA device: <cudaGetErrorName>: <cudaGetErrorString>"
// when there is no driver, no device, or `device` is out of range. The binary starts (and this
// function fails cleanly) on machines without a CUDA driver.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace netlens
