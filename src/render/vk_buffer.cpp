#include "vk_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace netlens::render {

GpuBuffer make_buffer(Context& ctx, VkDeviceSize size, VkBufferUsageFlags usage,
                      std::span<const VkMemoryPropertyFlags> choices, bool map) {
  GpuBuffer b;
  b.size = std::max<VkDeviceSize>(size, 16);
  VkDevice dev = ctx.device();
  VkBufferCreateInfo bi{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = b.size, .usage = usage,
                        .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VK_CHECK(vkCreateBuffer(dev, &bi, nullptr, b.buf.out(dev)));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, b.buf, &req);
  int type = -1;
  for (VkMemoryPropertyFlags want : choices)
    if ((type = ctx.memory_type(req.memoryTypeBits, want)) >= 0) break;
  if (type < 0)
    throw Error(ErrorKind::Device, "no Vulkan memory type with the required properties for a buffer of " +
                                       std::to_string(b.size) + " bytes");
  VkMemoryAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                          .memoryTypeIndex = static_cast<uint32_t>(type)};
  VK_CHECK(vkAllocateMemory(dev, &ai, nullptr, b.mem.out(dev)));
  VK_CHECK(vkBindBufferMemory(dev, b.buf, b.mem, 0));
  if (map) VK_CHECK(vkMapMemory(dev, b.mem, 0, VK_WHOLE_SIZE, 0, &b.map));
  return b;
}

GpuBuffer upload_static(Context& ctx, const void* data, VkDeviceSize size, VkBufferUsageFlags usage) {
  const VkDeviceSize raw = size;  // bytes of data; the buffer is padded to whole 32-bit words
  size = std::max<VkDeviceSize>((size + 3) & ~VkDeviceSize(3), 16);
  try {
    GpuBuffer b = make_buffer(ctx, size, usage, kHost | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, true);
    std::memcpy(b.map, data, static_cast<size_t>(raw));
    std::memset(static_cast<uint8_t*>(b.map) + raw, 0, static_cast<size_t>(size - raw));
    return b;
  } catch (const Error&) {
    // fall through to staging
  }
  GpuBuffer b = make_buffer(ctx, size, usage | VK_BUFFER_USAGE_TRANSFER_DST_BIT, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, false);
  const VkDeviceSize chunk = std::min<VkDeviceSize>(size, 64ull << 20);
  GpuBuffer st = make_buffer(ctx, chunk, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true);
  for (VkDeviceSize off = 0; off < size; off += chunk) {
    VkDeviceSize n = std::min(chunk, size - off);
    std::memset(st.map, 0, static_cast<size_t>(n));
    if (off < raw)  // the padding past the data stays zero
      std::memcpy(st.map, static_cast<const uint8_t*>(data) + off, static_cast<size_t>(std::min(n, raw - off)));
    ctx.submit_now([&](VkCommandBuffer cb) {
      VkBufferCopy c{.srcOffset = 0, .dstOffset = off, .size = n};
      vkCmdCopyBuffer(cb, st.buf, b.buf, 1, &c);
    });
  }
  return b;
}

void make_command_buffer(Context& ctx, UniqueCommandPool& pool, VkCommandBuffer& cmd, UniqueFence& fence) {
  VkDevice dev = ctx.device();
  VkCommandPoolCreateInfo cpi{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                              .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                              .queueFamilyIndex = ctx.queue_family()};
  VK_CHECK(vkCreateCommandPool(dev, &cpi, nullptr, pool.out(dev)));
  VkCommandBufferAllocateInfo cai{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = pool,
                                  .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
  VK_CHECK(vkAllocateCommandBuffers(dev, &cai, &cmd));
  VkFenceCreateInfo fi{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VK_CHECK(vkCreateFence(dev, &fi, nullptr, fence.out(dev)));
}

}  // namespace netlens::render
