// Non-temporal copies for the CPU backend's outputs. Every activation is kept, so each op writes a
// tensor nobody wrote before in this run and that is not in any cache: a normal store first reads
// each line from memory (read for ownership), doubling the traffic. Streaming stores skip that read;
// the output goes to memory, which is where a kept tensor of this size ends up anyway.
// Measured (Intel SPR VM, session 10): copying a 605 KB tensor from cache into a cold destination,
// memcpy 61 us, streamed 27 us; ViT-B/16 has 61 such Reshape copies per run.
//
// Contract: stream_copy_bytes copies `bytes` from src to dst (not overlapping); whole 64-byte lines
// of dst are written with non-temporal stores, the partial lines at either end normally (a
// partly streamed line costs a read-modify-write of memory). One thread. The calling thread must
// execute stream_fence() after its last streamed copy and before the data is read by another thread
// or its op returns (OpenMP's barriers do not order non-temporal stores).
#pragma once

#include <cstddef>
#include <cstdint>

namespace netlens::cpu {

// Outputs from this size on are streamed (the chains' threshold too: fused_chain.cpp).
constexpr size_t kStreamBytes = size_t{256} << 10;

void stream_copy_bytes(void* dst, const void* src, size_t bytes);
void stream_fence();

// Kernels stream only into tensors they output. A caller that runs a kernel into a staging buffer it
// reads back at once (the float16 wrappers of cpu_backend.cpp, Einsum's operand copies) holds a
// StagingScope meanwhile: streams_outputs() is false on its thread (thread-local, so the chunked
// float16 wrapper holds one per thread of its parallel region). Streamed, ResNet-50 float16's Adds
// into the wrapper's scratch took 7.4 against 5.5 ms a run.
bool streams_outputs();
class StagingScope {
 public:
  StagingScope();
  ~StagingScope();
  StagingScope(const StagingScope&) = delete;
  StagingScope& operator=(const StagingScope&) = delete;

 private:
  bool prev_;
};

}  // namespace netlens::cpu
