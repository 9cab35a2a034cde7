// Convolutions through the cuDNN 9 backend (graph) API: one operation graph per configuration,
// engines from heuristics (mode A, then fallback), filtered by ctx.precision: Fp32 keeps fp32
// exact-ish (no tensor-core/TF32, no down-conversion, no reduced-precision reduction, no FFT);
// Tf32 and half tensors allow the tensor-core note (fp32 accumulation: reduced-precision reduction,
// down-conversion and FFT stay out); Winograd and runtime-compiled engines only when nothing else
// finalizes; up to 8 candidates are timed once at plan time and
// the fastest that executes wins (NETLENS_CUDNN_AUTOTUNE=0: the heuristics' first).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda_ops.hpp"

namespace netlens::cuda {

struct ConvSpec {
  bool backward_data = false;  // false: y = conv(x, w); true: dx = conv_bwd_data(dy, w) (ConvTranspose)
  // dw = conv_bwd_filter(x, dy) (Conv's weight gradient): "x" is x, "w" is dw (written), "y" is dy.
  bool backward_filter = false;
  bool accumulate = false;  // beta = 1: the result is added to what the written buffer holds (reverse mode)
  // Forward: x [N,C,s...], w [K,C/G,k...], y [N,K,o...]. Backward data: "x" is dy [N,K,o...] and
  // "y" is dx [N,C,s...] (same w). 1-D convolutions are given as 2-D with a trailing size-1 dim.
  Shape x, w, y;
  std::vector<int64_t> pad_begin, pad_end, strides, dilations;
  std::string where;  // node description for errors
  bool half = false;  // x, w, y are float16 (compute type stays float); else float32
};

class CudnnConv {
 public:
  CudnnConv(Context& ctx, ConvSpec spec);  // builds the 16-byte-aligned plan; throws Error{Unsupported|Device}
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
  // Enqueues the convolution on ctx.stream (pointers in the order x, w, y whatever is written:
  // y for forward and backward data, w for backward filter). Builds (once) a 4-byte-aligned plan when a pointer is
  // not 16-byte aligned; that can only happen on an eager run, never during graph capture.
  void execute(const void* x, const void* w, void* y);
  std::string engine_info() const;

 private:
  struct Plan;
  std::shared_ptr<Plan> plan_for(int64_t alignment);  // from ctx.conv_plans, else build()
  std::shared_ptr<Plan> build(int64_t alignment);
  std::shared_ptr<Plan> fastest(const std::vector<std::shared_ptr<Plan>>& found);
  cudnnStatus_t launch(const Plan& plan, const void* x, const void* w, void* y);
  Context& ctx_;
  ConvSpec spec_;
  std::shared_ptr<Plan> aligned_, unaligned_;
};

}  // namespace netlens::cuda
