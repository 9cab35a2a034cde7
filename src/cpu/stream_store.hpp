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

}  // namespace netlens::cpu
