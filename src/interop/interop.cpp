#include "netlens/interop/interop.hpp"

#include <cuda_runtime_api.h>
#include <unistd.h>

#include <string>

namespace netlens::interop {

namespace {

void cuda_fail(cudaError_t e, const char* call) {
  cudaGetLastError();  // clear a non-sticky error so the caller can fall back and go on
  throw Error(ErrorKind::Device, std::string("CUDA interop: ") + call + " failed: " + cudaGetErrorName(e) + ": " +
                                     cudaGetErrorString(e));
}
#define INTEROP_CHECK(call)                       \
  do {                                            \
    cudaError_t e_ = (call);                      \
    if (e_ != cudaSuccess) cuda_fail(e_, #call);  \
  } while (0)

}  // namespace

render::ContextOptions interop_context_options(const CudaDeviceInfo& cuda, render::ContextOptions base) {
  if (!cuda.usable) throw Error(ErrorKind::Device, "CUDA interop: no usable CUDA device (" + cuda.error + ")");
  base.device_uuid = cuda.uuid;
  base.external_interop = true;
  base.gpu = -1;
  return base;
}

SharedBuffer::SharedBuffer(render::Context& ctx, size_t bytes, int cuda_device)
    : vk_(ctx, bytes), bytes_(bytes) {
  INTEROP_CHECK(cudaSetDevice(cuda_device));
  int fd = vk_.export_fd();
  cudaExternalMemoryHandleDesc desc{};
  desc.type = cudaExternalMemoryHandleTypeOpaqueFd;
  desc.handle.fd = fd;
  desc.size = vk_.allocation_size();
  desc.flags = vk_.dedicated() ? cudaExternalMemoryDedicated : 0;
  cudaExternalMemory_t mem = nullptr;
  cudaError_t e = cudaImportExternalMemory(&mem, &desc);
  if (e != cudaSuccess) {
    close(fd);  // CUDA owns the fd only when the import succeeds
    cuda_fail(e, "cudaImportExternalMemory");
  }
  ext_mem_ = mem;
  cudaExternalMemoryBufferDesc bd{};
  bd.offset = 0;
  bd.size = bytes == 0 ? 256 : bytes;
  void* p = nullptr;
  e = cudaExternalMemoryGetMappedBuffer(&p, mem, &bd);
  if (e != cudaSuccess) {
    cudaDestroyExternalMemory(mem);
    ext_mem_ = nullptr;
    cuda_fail(e, "cudaExternalMemoryGetMappedBuffer");
  }
  cuda_ptr_ = p;
}

SharedBuffer::~SharedBuffer() {
  // The mapping goes first (cudaFree of the mapped pointer), then the import, then (in vk_'s
  // destructor) the Vulkan memory. Work using the buffer must have finished: callers synchronise.
  if (cuda_ptr_) cudaFree(cuda_ptr_);
  if (ext_mem_) cudaDestroyExternalMemory(static_cast<cudaExternalMemory_t>(ext_mem_));
}

SharedTimeline::SharedTimeline(render::Context& ctx) : vk_(ctx, 0) {
  int fd = vk_.export_fd();
  cudaExternalSemaphoreHandleDesc desc{};
  desc.type = cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd;
  desc.handle.fd = fd;
  cudaExternalSemaphore_t sem = nullptr;
  cudaError_t e = cudaImportExternalSemaphore(&sem, &desc);
  if (e != cudaSuccess) {
    close(fd);
    cuda_fail(e, "cudaImportExternalSemaphore");
  }
  ext_sem_ = sem;
}

SharedTimeline::~SharedTimeline() {
  if (ext_sem_) cudaDestroyExternalSemaphore(static_cast<cudaExternalSemaphore_t>(ext_sem_));
}

void SharedTimeline::cuda_signal(void* stream, uint64_t value) {
  cudaExternalSemaphoreSignalParams p{};
  p.params.fence.value = value;
  auto sem = static_cast<cudaExternalSemaphore_t>(ext_sem_);
  INTEROP_CHECK(cudaSignalExternalSemaphoresAsync(&sem, &p, 1, static_cast<cudaStream_t>(stream)));
}

void SharedTimeline::cuda_wait(void* stream, uint64_t value) {
  cudaExternalSemaphoreWaitParams p{};
  p.params.fence.value = value;
  auto sem = static_cast<cudaExternalSemaphore_t>(ext_sem_);
  INTEROP_CHECK(cudaWaitExternalSemaphoresAsync(&sem, &p, 1, static_cast<cudaStream_t>(stream)));
}

std::function<DeviceBuffer(Backend&, size_t)> shared_arena_allocator(render::Context& ctx, int cuda_device,
                                                                       std::vector<std::shared_ptr<SharedBuffer>>* arenas) {
  return [&ctx, cuda_device, arenas](Backend& b, size_t bytes) -> DeviceBuffer {
    if (b.device() != DeviceKind::Cuda) return DeviceBuffer(nullptr, [](void*) {});
    auto shared = std::make_shared<SharedBuffer>(ctx, bytes, cuda_device);
    arenas->push_back(shared);
    // The session frees its arena through the deleter; the SharedBuffer lives on in `arenas` (the
    // renderer may still be reading the last result) and is released with it.
    return DeviceBuffer(shared->cuda_ptr(), [](void*) {});
  };
}

}  // namespace netlens::interop
