// The CPU backend: every op (the reference implementation), oneDNN for conv/matmul/pool.
#pragma once

#include <memory>

#include "netlens/runtime.hpp"

namespace netlens {

struct CpuBackendOptions {
  // Elementwise chains after convolutions, MatMuls and the first elementwise op run fused
  // (fused_chain.hpp). false: every op on its own, the reference the fusion tests compare with
  // (NETLENS_FUSE=0 does the same for a whole process).
  bool fuse = true;
};
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& opts = {});

// The CPU kernels keep per-thread scratch between runs (blocked-layout copies of activations,
// oneDNN scratchpads, float32 copies of a float16 model's tensors) so that a repeated run does
// not allocate again. This frees the calling thread's; a later run on it allocates afresh. For a
// caller whose run is over while it still holds the values (render: 530 MiB of ISNet fp16's
// scratch were held through drawing the frame, issue 13).
void release_cpu_thread_scratch();

}  // namespace netlens
