#include "netlens/render/external_memory.hpp"

#include <unistd.h>

#include <cstring>

#include "vk_buffer.hpp"

namespace netlens::render {

namespace {

template <class Fn> Fn device_fn(const Context& ctx, const char* name) {
  auto f = reinterpret_cast<Fn>(vkGetDeviceProcAddr(ctx.device(), name));
  if (!f) throw Error(ErrorKind::Device, std::string("Vulkan device '") + ctx.device_name() + "' lacks " + name);
  return f;
}

void require(bool have, const Context& ctx, const char* what) {
  if (!have)
    throw Error(ErrorKind::Device, std::string("Vulkan device '") + ctx.device_name() + "' cannot share " + what +
                                       " with CUDA (extension missing or not enabled)");
}

// A host-visible staging buffer with its mapping.
struct Staging : GpuBuffer {
  Staging(Context& ctx, VkDeviceSize bytes, VkBufferUsageFlags usage)
      : GpuBuffer(make_buffer(ctx, bytes, usage, kHost, true)) {}
};

// A buffer whose memory is (or will be) shared through an opaque fd: both sides must say so.
void make_external_buffer(Context& ctx, VkDeviceSize bytes, VkBufferUsageFlags usage, UniqueBuffer& out) {
  require(ctx.external().memory_fd, ctx, "memory");
  VkExternalMemoryBufferCreateInfo ext{.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
                                       .handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  VkBufferCreateInfo bi{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .pNext = &ext, .size = bytes == 0 ? 256 : bytes,
                        .usage = usage, .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VK_CHECK(vkCreateBuffer(ctx.device(), &bi, nullptr, out.out(ctx.device())));
}

}  // namespace

ExportableBuffer::ExportableBuffer(Context& ctx, VkDeviceSize bytes, VkBufferUsageFlags usage) : ctx_(ctx), size_(bytes) {
  VkDevice dev = ctx.device();
  make_external_buffer(ctx, bytes, usage, buffer_);
  VkMemoryDedicatedRequirements dreq{.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
  VkMemoryRequirements2 req{.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2, .pNext = &dreq};
  VkBufferMemoryRequirementsInfo2 ri{.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2, .buffer = buffer_};
  vkGetBufferMemoryRequirements2(dev, &ri, &req);
  // Some drivers want exportable buffers in their own allocation; the importer must then know.
  dedicated_ = dreq.requiresDedicatedAllocation || dreq.prefersDedicatedAllocation;
  const int type = ctx.memory_type(req.memoryRequirements.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (type < 0) throw Error(ErrorKind::Device, "no device-local Vulkan memory type for an exportable buffer");
  VkMemoryDedicatedAllocateInfo dai{.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, .buffer = buffer_};
  VkExportMemoryAllocateInfo exp{.sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
                                 .pNext = dedicated_ ? &dai : nullptr,
                                 .handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  alloc_size_ = req.memoryRequirements.size;
  VkMemoryAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &exp, .allocationSize = alloc_size_,
                          .memoryTypeIndex = static_cast<uint32_t>(type)};
  VkResult r = vkAllocateMemory(dev, &ai, nullptr, memory_.out(dev));
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    throw Error(ErrorKind::Memory, "cannot allocate " + std::to_string(alloc_size_) + " bytes of exportable Vulkan memory");
  VK_CHECK(r);
  VK_CHECK(vkBindBufferMemory(dev, buffer_, memory_, 0));
}

int ExportableBuffer::export_fd() const {
  auto get_fd = device_fn<PFN_vkGetMemoryFdKHR>(ctx_, "vkGetMemoryFdKHR");
  VkMemoryGetFdInfoKHR gi{.sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, .memory = memory_,
                          .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  int fd = -1;
  VK_CHECK(get_fd(ctx_.device(), &gi, &fd));
  return fd;
}

ImportedBuffer::ImportedBuffer(Context& ctx, int fd, VkDeviceSize bytes, VkDeviceSize allocation_size, bool dedicated,
                               VkBufferUsageFlags usage) {
  VkDevice dev = ctx.device();
  make_external_buffer(ctx, bytes, usage, buffer_);
  auto props_fn = device_fn<PFN_vkGetMemoryFdPropertiesKHR>(ctx, "vkGetMemoryFdPropertiesKHR");
  VkMemoryFdPropertiesKHR fp{.sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR};
  VK_CHECK(props_fn(dev, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, fd, &fp));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buffer_, &req);
  const uint32_t bits = req.memoryTypeBits & (fp.memoryTypeBits ? fp.memoryTypeBits : ~0u);
  const int type = ctx.memory_type(bits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (type < 0) throw Error(ErrorKind::Device, "no Vulkan memory type can import this fd");
  VkMemoryDedicatedAllocateInfo dai{.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, .buffer = buffer_};
  VkImportMemoryFdInfoKHR imp{.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR, .pNext = dedicated ? &dai : nullptr,
                              .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, .fd = fd};
  VkMemoryAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &imp,
                          .allocationSize = allocation_size, .memoryTypeIndex = static_cast<uint32_t>(type)};
  VK_CHECK(vkAllocateMemory(dev, &ai, nullptr, memory_.out(dev)));  // owns fd from here
  VK_CHECK(vkBindBufferMemory(dev, buffer_, memory_, 0));
}

ExportableTimeline::ExportableTimeline(Context& ctx, uint64_t initial) : ctx_(ctx) {
  require(ctx.external().semaphore_fd, ctx, "semaphores");
  require(ctx.external().timeline && ctx.external().timeline_fd, ctx, "timeline semaphores");
  VkSemaphoreTypeCreateInfo type{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                 .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE, .initialValue = initial};
  VkExportSemaphoreCreateInfo exp{.sType = VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, .pNext = &type,
                                  .handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT};
  VkSemaphoreCreateInfo ci{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &exp};
  VK_CHECK(vkCreateSemaphore(ctx.device(), &ci, nullptr, sem_.out(ctx.device())));
}

int ExportableTimeline::export_fd() const {
  auto get_fd = device_fn<PFN_vkGetSemaphoreFdKHR>(ctx_, "vkGetSemaphoreFdKHR");
  VkSemaphoreGetFdInfoKHR gi{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR, .semaphore = sem_,
                             .handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT};
  int fd = -1;
  VK_CHECK(get_fd(ctx_.device(), &gi, &fd));
  return fd;
}

uint64_t ExportableTimeline::value() const {
  uint64_t v = 0;
  VK_CHECK(vkGetSemaphoreCounterValue(ctx_.device(), sem_, &v));
  return v;
}

bool ExportableTimeline::wait(uint64_t value, uint64_t timeout_ns) const {
  VkSemaphore s = sem_.get();
  VkSemaphoreWaitInfo wi{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, .semaphoreCount = 1, .pSemaphores = &s,
                         .pValues = &value};
  VkResult r = vkWaitSemaphores(ctx_.device(), &wi, timeout_ns);
  if (r == VK_TIMEOUT) return false;
  VK_CHECK(r);
  return true;
}

void ExportableTimeline::signal(uint64_t value) const {
  VkSemaphoreSignalInfo si{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, .semaphore = sem_, .value = value};
  VK_CHECK(vkSignalSemaphore(ctx_.device(), &si));
}

void read_buffer(Context& ctx, VkBuffer src, VkDeviceSize offset, void* dst, VkDeviceSize bytes) {
  if (bytes == 0) return;
  Staging st(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  ctx.submit_now([&](VkCommandBuffer cb) {
    VkBufferCopy r{.srcOffset = offset, .dstOffset = 0, .size = bytes};
    vkCmdCopyBuffer(cb, src, st.buf, 1, &r);
    VkMemoryBarrier2 mb{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2,
                        .srcStageMask = VK_PIPELINE_STAGE_2_TRANSFER_BIT, .srcAccessMask = VK_ACCESS_2_TRANSFER_WRITE_BIT,
                        .dstStageMask = VK_PIPELINE_STAGE_2_HOST_BIT, .dstAccessMask = VK_ACCESS_2_HOST_READ_BIT};
    VkDependencyInfo di{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &mb};
    vkCmdPipelineBarrier2(cb, &di);
  });
  std::memcpy(dst, st.map, bytes);
}

void write_buffer(Context& ctx, VkBuffer dst, VkDeviceSize offset, const void* src, VkDeviceSize bytes) {
  if (bytes == 0) return;
  Staging st(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  std::memcpy(st.map, src, bytes);
  ctx.submit_now([&](VkCommandBuffer cb) {
    VkBufferCopy r{.srcOffset = 0, .dstOffset = offset, .size = bytes};
    vkCmdCopyBuffer(cb, st.buf, dst, 1, &r);
  });
}

}  // namespace netlens::render
