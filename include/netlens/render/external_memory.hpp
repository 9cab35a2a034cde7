// Vulkan memory and semaphores that another API (CUDA, through src/interop/) can import as POSIX
// file descriptors. The Context must have been made with ContextOptions::external_interop, and the
// device must offer the extension in question (Context::external()); otherwise the constructors
// throw Error{Device} with one line naming what is missing.
//
// Ownership: each object owns its Vulkan handles and frees them in its destructor; everything that
// imported its memory (a CUDA mapping) must be released first. export_fd() returns a NEW descriptor
// each call, owned by the caller until an importer takes it (cudaImportExternalMemory does, on
// success; close it yourself on failure).
#pragma once

#include <cstdint>

#include "netlens/render/context.hpp"
#include "netlens/render/vk_util.hpp"

namespace netlens::render {

inline void destroy_semaphore(VkDevice d, VkSemaphore h, const VkAllocationCallbacks* a) { vkDestroySemaphore(d, h, a); }
using UniqueSemaphore = Unique<VkSemaphore, destroy_semaphore>;

// A device-local storage/transfer buffer in exportable memory (opaque fd).
class ExportableBuffer {
 public:
  ExportableBuffer(Context& ctx, VkDeviceSize bytes,
                   VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                              VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  VkBuffer buffer() const { return buffer_; }
  VkDeviceMemory memory() const { return memory_; }
  VkDeviceSize size() const { return size_; }                  // bytes asked for
  VkDeviceSize allocation_size() const { return alloc_size_; }  // bytes allocated (what an importer maps)
  bool dedicated() const { return dedicated_; }  // importers must then say so (cudaExternalMemoryDedicated)
  int export_fd() const;

 private:
  Context& ctx_;
  UniqueBuffer buffer_;
  UniqueMemory memory_;
  VkDeviceSize size_ = 0, alloc_size_ = 0;
  bool dedicated_ = false;
};

// A buffer bound to memory imported from an fd that an ExportableBuffer (of a compatible device)
// exported: the same bytes seen through a second allocation. Takes ownership of `fd` on success.
// Used by tests to check the export path on drivers without CUDA (lavapipe).
class ImportedBuffer {
 public:
  ImportedBuffer(Context& ctx, int fd, VkDeviceSize bytes, VkDeviceSize allocation_size, bool dedicated,
                 VkBufferUsageFlags usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  VkBuffer buffer() const { return buffer_; }

 private:
  UniqueBuffer buffer_;
  UniqueMemory memory_;
};

// An exportable semaphore: a timeline semaphore where the device can export one (CUDA then signals
// increasing values), else nothing: binary semaphores cannot express "the run with id N is done"
// to a renderer that keeps drawing the previous result, so they are not offered.
class ExportableTimeline {
 public:
  explicit ExportableTimeline(Context& ctx, uint64_t initial = 0);
  VkSemaphore semaphore() const { return sem_; }
  int export_fd() const;
  uint64_t value() const;                         // vkGetSemaphoreCounterValue
  bool wait(uint64_t value, uint64_t timeout_ns) const;  // host wait; false on timeout
  void signal(uint64_t value) const;              // host signal (tests)

 private:
  Context& ctx_;
  UniqueSemaphore sem_;
};

// Copies `bytes` from a device buffer to host memory through a staging buffer (waits).
void read_buffer(Context& ctx, VkBuffer src, VkDeviceSize offset, void* dst, VkDeviceSize bytes);
// Copies host memory into a device buffer through a staging buffer (waits).
void write_buffer(Context& ctx, VkBuffer dst, VkDeviceSize offset, const void* src, VkDeviceSize bytes);

}  // namespace netlens::render
