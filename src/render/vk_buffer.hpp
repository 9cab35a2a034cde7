// Buffers with memory of their own, and the one-shot work every part of the renderer repeats:
// choosing a memory type, binding, mapping, filling a device-local buffer once, a command buffer
// with its own pool and fence. Used by the Renderer, CodeBuilder and the external-memory staging.
// Contract: every Vulkan failure throws Error{Device} (VK_CHECK); a GpuBuffer owns its buffer and
// memory (move-only, destroyed with it) and, when mapped, stays mapped for its lifetime. Threads:
// the calls that submit (upload_static) use Context::submit_now, so they run on the thread that
// owns the context's queue.
#pragma once

#include <span>

#include <vulkan/vulkan.h>

#include "netlens/render/context.hpp"
#include "netlens/render/vk_util.hpp"

namespace netlens::render {

// Host-visible and coherent: written or read through the mapping without flushes.
constexpr VkMemoryPropertyFlags kHost = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

struct GpuBuffer {
  UniqueBuffer buf;
  UniqueMemory mem;
  void* map = nullptr;    // the whole buffer, when made with map = true
  VkDeviceSize size = 0;  // the buffer's size: the bytes asked for, at least 16
};

// A buffer of max(size, 16) bytes bound to memory of the first type that has every property of
// choices[0], else of choices[1], and so on (a 0 entry takes any type); mapped when `map`.
// Error{Device} when no choice is available.
GpuBuffer make_buffer(Context& ctx, VkDeviceSize size, VkBufferUsageFlags usage,
                      std::span<const VkMemoryPropertyFlags> choices, bool map);
// Memory with every property of `want`, nothing else tried.
inline GpuBuffer make_buffer(Context& ctx, VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want,
                             bool map) {
  return make_buffer(ctx, size, usage, std::span<const VkMemoryPropertyFlags>(&want, 1), map);
}

// A read-only buffer filled once with `size` bytes of `data` (padded with zeros to whole 32-bit
// words, at least 16 bytes): device-local and mappable when the device has such memory (lavapipe,
// resizable BAR), else device-local filled through a staging buffer in chunks (usage gains
// TRANSFER_DST then). Returns when the data is on the device.
GpuBuffer upload_static(Context& ctx, const void* data, VkDeviceSize size, VkBufferUsageFlags usage);

// A primary command buffer that can be reset, from a new pool on the context's queue family, and
// an unsignalled fence for its submissions (the buffer is freed with the pool).
void make_command_buffer(Context& ctx, UniqueCommandPool& pool, VkCommandBuffer& cmd, UniqueFence& fence);

}  // namespace netlens::render
