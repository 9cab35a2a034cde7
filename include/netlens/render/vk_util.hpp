// Vulkan helpers: VK_CHECK, result names, RAII handles. Contract: every Vulkan call that returns a
// VkResult goes through VK_CHECK, which throws Error{Device} with the call, file:line and the
// VkResult name. Handles are move-only and destroy themselves.
#pragma once

#include <string>
#include <utility>

#include <vulkan/vulkan.h>

#include "netlens/core.hpp"

namespace netlens::render {

const char* vk_result_name(VkResult r);
[[noreturn]] void vk_fail(const char* call, const char* file, int line, VkResult r);

#define VK_CHECK(call)                                                              \
  do {                                                                              \
    VkResult vk_check_result_ = (call);                                             \
    if (vk_check_result_ != VK_SUCCESS) ::netlens::render::vk_fail(#call, __FILE__, __LINE__, vk_check_result_); \
  } while (0)

// A device-owned handle destroyed with vkDestroyX(device, handle, nullptr).
template <class T, void (*Destroy)(VkDevice, T, const VkAllocationCallbacks*)>
class Unique {
 public:
  Unique() = default;
  Unique(VkDevice d, T h) : dev_(d), h_(h) {}
  Unique(Unique&& o) noexcept : dev_(o.dev_), h_(std::exchange(o.h_, VK_NULL_HANDLE)) {}
  Unique& operator=(Unique&& o) noexcept {
    if (this != &o) {
      reset();
      dev_ = o.dev_;
      h_ = std::exchange(o.h_, VK_NULL_HANDLE);
    }
    return *this;
  }
  Unique(const Unique&) = delete;
  Unique& operator=(const Unique&) = delete;
  ~Unique() { reset(); }
  void reset() {
    if (h_ != VK_NULL_HANDLE) Destroy(dev_, h_, nullptr);
    h_ = VK_NULL_HANDLE;
  }
  T get() const { return h_; }
  operator T() const { return h_; }
  T* out(VkDevice d) { reset(); dev_ = d; return &h_; }

 private:
  VkDevice dev_ = VK_NULL_HANDLE;
  T h_ = VK_NULL_HANDLE;
};

inline void destroy_buffer(VkDevice d, VkBuffer h, const VkAllocationCallbacks* a) { vkDestroyBuffer(d, h, a); }
inline void free_memory(VkDevice d, VkDeviceMemory h, const VkAllocationCallbacks* a) { vkFreeMemory(d, h, a); }
inline void destroy_image(VkDevice d, VkImage h, const VkAllocationCallbacks* a) { vkDestroyImage(d, h, a); }
inline void destroy_view(VkDevice d, VkImageView h, const VkAllocationCallbacks* a) { vkDestroyImageView(d, h, a); }
inline void destroy_sampler(VkDevice d, VkSampler h, const VkAllocationCallbacks* a) { vkDestroySampler(d, h, a); }
inline void destroy_pipeline(VkDevice d, VkPipeline h, const VkAllocationCallbacks* a) { vkDestroyPipeline(d, h, a); }
inline void destroy_layout(VkDevice d, VkPipelineLayout h, const VkAllocationCallbacks* a) { vkDestroyPipelineLayout(d, h, a); }
inline void destroy_set_layout(VkDevice d, VkDescriptorSetLayout h, const VkAllocationCallbacks* a) { vkDestroyDescriptorSetLayout(d, h, a); }
inline void destroy_pool(VkDevice d, VkDescriptorPool h, const VkAllocationCallbacks* a) { vkDestroyDescriptorPool(d, h, a); }
inline void destroy_cmd_pool(VkDevice d, VkCommandPool h, const VkAllocationCallbacks* a) { vkDestroyCommandPool(d, h, a); }
inline void destroy_fence(VkDevice d, VkFence h, const VkAllocationCallbacks* a) { vkDestroyFence(d, h, a); }
inline void destroy_module(VkDevice d, VkShaderModule h, const VkAllocationCallbacks* a) { vkDestroyShaderModule(d, h, a); }

using UniqueBuffer = Unique<VkBuffer, destroy_buffer>;
using UniqueMemory = Unique<VkDeviceMemory, free_memory>;
using UniqueImage = Unique<VkImage, destroy_image>;
using UniqueImageView = Unique<VkImageView, destroy_view>;
using UniqueSampler = Unique<VkSampler, destroy_sampler>;
using UniquePipeline = Unique<VkPipeline, destroy_pipeline>;
using UniquePipelineLayout = Unique<VkPipelineLayout, destroy_layout>;
using UniqueSetLayout = Unique<VkDescriptorSetLayout, destroy_set_layout>;
using UniqueDescriptorPool = Unique<VkDescriptorPool, destroy_pool>;
using UniqueCommandPool = Unique<VkCommandPool, destroy_cmd_pool>;
using UniqueFence = Unique<VkFence, destroy_fence>;
using UniqueShaderModule = Unique<VkShaderModule, destroy_module>;

}  // namespace netlens::render
