// The Vulkan instance and device. Contract: Context picks a Vulkan 1.3 device with dynamic
// rendering, synchronization2, independent blend and clip distances (a discrete GPU first, then integrated, virtual, CPU; or the
// device `gpu` names), prints the choice to stderr unless quiet, and with validation on installs
// a debug messenger that records every validation error (tests assert the count is zero).
// No device → Error{Device} with one line saying so.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "netlens/render/types.hpp"
#include "netlens/render/vk_util.hpp"

namespace netlens::render {

struct ContextOptions {
  int gpu = -1;             // index into list_devices(); -1 = automatic choice
  // VK_LAYER_KHRONOS_validation + debug messenger. true: required (Error{Device} if the layer is
  // not installed); false: off; unset: on in debug builds (!NDEBUG) when installed, else off.
  std::optional<bool> validation;
  bool quiet = false;       // do not print the chosen device
  // Windowed use: extra instance extensions (the surface ones GLFW names), VK_KHR_swapchain on the
  // device, and a check that the graphics queue family can present (devices failing it are skipped).
  std::vector<std::string> instance_extensions;
  bool swapchain = false;
  std::function<bool(VkInstance, VkPhysicalDevice, uint32_t family)> can_present;
  // CUDA interop: pick the device whose deviceUUID equals this one (Error{Device} when none does),
  // and enable VK_KHR_external_memory_fd, VK_KHR_external_semaphore_fd and timeline semaphores
  // where the device has them (Context::external() says which it got).
  std::optional<std::array<uint8_t, 16>> device_uuid;
  bool external_interop = false;
};


class Context {
 public:
  explicit Context(const ContextOptions& opts = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physical() const { return phys_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return family_; }
  const VkPhysicalDeviceProperties& properties() const { return props_; }
  const std::string& device_name() const { return name_; }
  int device_index() const { return index_; }
  bool validation() const { return validation_; }
  const std::array<uint8_t, 16>& uuid() const { return uuid_; }
  // What was enabled on this device (all false unless ContextOptions::external_interop).
  const ExternalSupport& external() const { return external_; }

  // Memory type with all `flags` among `bits`, or -1.
  int memory_type(uint32_t bits, VkMemoryPropertyFlags flags) const;
  // Highest sample count ≤ wanted that colour (UNORM and integer) and depth attachments all support.
  VkSampleCountFlagBits msaa_samples(int wanted) const;

  // Validation errors seen so far (the debug messenger's ERROR messages).
  size_t validation_error_count() const;
  std::vector<std::string> validation_errors() const;

  // Destroys the device and instance now (the destructor then does nothing) and returns the number
  // of validation errors seen, including objects the layer reports as leaked at vkDestroyDevice.
  // Everything created on this context must be destroyed before.
  size_t close();

  // Records and runs a one-shot command buffer, waiting for it.
  template <class F> void submit_now(F&& record);

 private:
  void destroy();
  void submit_and_wait(VkCommandBuffer cb);
  VkCommandBuffer begin_one_shot();

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice phys_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t family_ = 0;
  VkPhysicalDeviceProperties props_{};
  VkPhysicalDeviceMemoryProperties mem_{};
  std::string name_;
  int index_ = -1;
  bool validation_ = false;
  std::array<uint8_t, 16> uuid_{};
  ExternalSupport external_;
  VkCommandPool one_shot_pool_ = VK_NULL_HANDLE;

 public:  // for the debug callback
  mutable std::mutex errors_mutex_;
  std::vector<std::string> errors_;
};

template <class F> void Context::submit_now(F&& record) {
  VkCommandBuffer cb = begin_one_shot();
  record(cb);
  submit_and_wait(cb);
}

}  // namespace netlens::render
