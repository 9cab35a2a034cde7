// The renderer's Vulkan-free vocabulary, for modules that hold a context or a renderer without
// drawing (app's View, live's uploaders, the CLI's `info --system`): device descriptions, update
// timings, the selection type and forward declarations. Nothing here includes vulkan.h, so these
// modules' public headers do not pass Vulkan types on (DESIGN.md: Vulkan types only in render, ui
// and interop). Code that calls the Context or Renderer includes context.hpp / renderer.hpp itself.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "netlens/viz/selection.hpp"

namespace netlens::render {

class Context;
struct ContextOptions;
class Renderer;

// What a device offers for sharing memory and semaphores with CUDA (POSIX file descriptors).
struct ExternalSupport {
  bool memory_fd = false;     // VK_KHR_external_memory_fd
  bool semaphore_fd = false;  // VK_KHR_external_semaphore_fd
  bool timeline = false;      // timelineSemaphore feature (Vulkan 1.2 core)
  bool timeline_fd = false;   // a timeline semaphore can be exported as an opaque fd
};

struct DeviceInfo {
  std::string name;
  std::string type;  // "discrete", "integrated", "virtual", "cpu", "other"
  uint32_t api_version = 0;
  bool usable = false;  // Vulkan 1.3 + dynamic rendering + synchronization2 + graphics queue
  std::array<uint8_t, 16> uuid{};  // VkPhysicalDeviceIDProperties::deviceUUID (CUDA's device UUID on NVIDIA)
  std::string driver;              // driverName + driverInfo ("NVIDIA 580.95.05", "llvmpipe Mesa 22.3.6")
  ExternalSupport external;
};
// Every Vulkan device (Error{Device} when there is no Vulkan driver at all).
std::vector<DeviceInfo> list_devices();
// (uuid_string, to print DeviceInfo::uuid, is in netlens/core.hpp.)

// Timing of an in-place value update (Renderer::values_changed).
struct UploadStats {
  double pack_ms = 0;   // host: codes and layer records written into the staging buffers
  double copy_ms = 0;   // staging → device buffers (one submission, waited for)
  double total_ms = 0;
  uint64_t bytes = 0;   // bytes copied
};

// The selection lives in viz (selection.hpp: graph walking and highlight rules, tested without
// Vulkan); this name keeps the render:: spelling its callers used working.
using Selection = viz::Selection;

}  // namespace netlens::render
