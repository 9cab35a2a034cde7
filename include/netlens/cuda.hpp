// The CUDA backend: cuDNN (convolutions), cuBLAS (Gemm/MatMul) and netlens' own kernels for the
// rest. Nodes it does not implement run on the next backend (the CPU) automatically.
// Numerics (Precision, chosen per backend; activations are float32 in the store in every mode, so
// everything downstream of a node, the statistics and the renderer are the same):
// - Fp32 (default): TF32 off (cuBLAS default math, cuDNN engines without tensor-core/down-convert
//   notes), so results match the CPU backend within 1e-5 relative L2 per op and 1e-4 per tensor on
//   the sample models.
// - Tf32: cuBLAS CUBLAS_TF32_TENSOR_OP_MATH for Gemm/MatMul, cuDNN engines with the TENSOR_CORE
//   note allowed for convolutions (10-bit mantissa inputs, fp32 accumulation). Tolerance against
//   the CPU: relative L2 <= 3e-2 per tensor on the sample models (measured worst on an H200:
//   1.5e-2) and <= 5e-3 per op.
// - Fp16: Gemm/MatMul (cublasGemmEx, half A/B, float C, CUBLAS_COMPUTE_32F) read float16 copies
//   of their inputs: constant weights converted once at plan time, activations by a small cast
//   kernel before the op. Convolutions stay float32 unless NETLENS_CUDA_FP16_CONV=1 (then dense
//   convolutions run on cuDNN with half x/w/y and float compute): on an H200 that path was right
//   on ResNet-50, VGG-16, PP-OCR and every conformance case but wrong on MobileNetV2's 960-channel
//   7x7 layers, cause not yet found. Every other op stays float32. Tolerance against the CPU:
//   relative L2 <= 6e-2 per tensor on the sample models (measured worst: 3.2e-2) and <= 5e-3 per
//   op.
// Float16 model tensors are computed in float32 inside the kernels in every mode.
// Execution: one stream owned by the backend (a blocking stream: CUDA events recorded on the
// legacy default stream bracket its work). A whole-graph run is recorded into a CUDA graph and
// replayed on later runs of the same plan; planning again or destroying a planned kernel drops
// the recording. Replay assumes one Session at a time drives a CUDA backend: give sessions whose
// runs interleave a backend each (or set NETLENS_CUDA_GRAPHS=0).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "netlens/runtime.hpp"

namespace netlens {

enum class Precision { Fp32, Tf32, Fp16 };
// "fp32" / "tf32" / "fp16"; parse_precision returns nullopt for anything else. Defined inline so
// that builds without CUDA (the CLI's flag parsing) have them too.
inline const char* precision_name(Precision p) {
  return p == Precision::Tf32 ? "tf32" : p == Precision::Fp16 ? "fp16" : "fp32";
}
inline std::optional<Precision> parse_precision(std::string_view s) {
  if (s == "fp32") return Precision::Fp32;
  if (s == "tf32") return Precision::Tf32;
  if (s == "fp16") return Precision::Fp16;
  return std::nullopt;
}

// Throws Error{Device} with one line "no usable CUDA device: <cudaGetErrorName>: <cudaGetErrorString>"
// when there is no driver, no device, or `device` is out of range. The binary starts (and this
// function fails cleanly) on machines without a CUDA driver.
// `precision`: see Numerics above.
std::unique_ptr<Backend> make_cuda_backend(int device = 0, Precision precision = Precision::Fp32);

// What `netlens info --system` and the interop device match need to know of a CUDA device. Never
// throws: without a driver or device, usable is false and error says why (cudaGetErrorName: text).
struct CudaDeviceInfo {
  bool usable = false;
  std::string error;
  int device = 0, count = 0;
  std::string name;
  std::array<uint8_t, 16> uuid{};  // equals the Vulkan deviceUUID of the same GPU
  int driver_version = 0, runtime_version = 0;  // 13000 = 13.0
  size_t total_memory = 0;
  int cc_major = 0, cc_minor = 0;
};
CudaDeviceInfo cuda_device_info(int device = 0);

// The stream a CUDA backend enqueues its work on (a cudaStream_t, typed void* so that this header
// stays free of CUDA's). Error{Internal} when `b` is not a CUDA backend.
void* cuda_backend_stream(Backend& b);

}  // namespace netlens
