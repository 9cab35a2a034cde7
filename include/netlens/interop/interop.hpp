// CUDA ↔ Vulkan: the one module that sees both. Memory and semaphores are created on the Vulkan
// side (exportable, opaque POSIX fds; see render/external_memory.hpp) and imported into CUDA, so
// that the CUDA backend writes activations straight into buffers the renderer reads, and signals a
// timeline semaphore the renderer's submission waits on — no trip through host memory and no
// device-wide waits.
//
// Contracts:
// - The render::Context must be on the same GPU as the CUDA device: make it with
//   interop_context_options(cuda_device_info(dev)), which asks for the device whose deviceUUID
//   equals CUDA's UUID and for the external memory/semaphore extensions.
// - SharedBuffer / SharedTimeline own both sides; destroy them before the Context. The CUDA
//   mapping is released before the Vulkan memory is freed.
// - Every failure is Error{Device} with one line naming the CUDA or Vulkan call; the caller falls
//   back to the staging path (see live/data_path.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "netlens/render/context.hpp"
#include "netlens/render/external_memory.hpp"
#include "netlens/cuda.hpp"
#include "netlens/runtime.hpp"

namespace netlens::interop {

// Context options for a renderer that shares memory with CUDA device `cuda`.
render::ContextOptions interop_context_options(const CudaDeviceInfo& cuda, render::ContextOptions base = {});

// A device-local Vulkan buffer whose memory is also mapped into CUDA's address space.
class SharedBuffer {
 public:
  SharedBuffer(render::Context& ctx, size_t bytes, int cuda_device);
  ~SharedBuffer();
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;
  void* cuda_ptr() const { return cuda_ptr_; }   // device pointer, valid in CUDA device `cuda_device`
  VkBuffer buffer() const { return vk_.buffer(); }
  size_t size() const { return bytes_; }

 private:
  render::ExportableBuffer vk_;
  size_t bytes_;
  void* ext_mem_ = nullptr;  // cudaExternalMemory_t
  void* cuda_ptr_ = nullptr;
};

// A Vulkan timeline semaphore CUDA can signal and wait on, in stream order.
class SharedTimeline {
 public:
  explicit SharedTimeline(render::Context& ctx);
  ~SharedTimeline();
  SharedTimeline(const SharedTimeline&) = delete;
  SharedTimeline& operator=(const SharedTimeline&) = delete;
  VkSemaphore semaphore() const { return vk_.semaphore(); }
  const render::ExportableTimeline& vk() const { return vk_; }
  // Enqueue on `stream` (a cudaStream_t): the semaphore reaches `value` once the stream's earlier
  // work is done / the stream waits until the semaphore reaches `value`.
  void cuda_signal(void* stream, uint64_t value);
  void cuda_wait(void* stream, uint64_t value);

 private:
  render::ExportableTimeline vk_;
  void* ext_sem_ = nullptr;  // cudaExternalSemaphore_t
};

// SessionOptions::arena_allocator that places every CUDA backend's activation arena in a
// SharedBuffer (appended to `*arenas`, which must outlive the session) and leaves other backends to
// their own allocate().
std::function<DeviceBuffer(Backend&, size_t)> shared_arena_allocator(render::Context& ctx, int cuda_device,
                                                                       std::vector<std::shared_ptr<SharedBuffer>>* arenas);

}  // namespace netlens::interop
