// A window's swapchain. Contract: owns the VkSurfaceKHR it is given (destroyed with it, before the
// Context's instance goes); picks a UNORM format (the renderer's colour values are already
// sRGB-encoded and are blitted as they are), FIFO present mode with vsync, else MAILBOX or
// IMMEDIATE; images have TRANSFER_DST usage (the renderer blits into them). acquire()/present()
// report an out-of-date or resized surface instead of throwing; the caller calls recreate().
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

namespace netlens::render {

class Swapchain {
 public:
  Swapchain(Context& ctx, VkSurfaceKHR surface, int width, int height, bool vsync);
  ~Swapchain();
  Swapchain(const Swapchain&) = delete;
  Swapchain& operator=(const Swapchain&) = delete;

  // Rebuilds the swapchain for a new framebuffer size or vsync setting (waits for the device).
  void recreate(int width, int height, bool vsync);
  VkExtent2D extent() const { return extent_; }
  VkFormat format() const { return format_; }
  bool vsync() const { return vsync_; }
  VkPresentModeKHR present_mode() const { return mode_; }

  struct Frame {
    uint32_t index = 0;
    PresentTarget target;  // image + semaphores to pass to Renderer::render
  };
  // The next image, or nullopt when the swapchain must be recreated first.
  std::optional<Frame> acquire();
  // Presents a rendered frame; false when the swapchain should be recreated (out of date, suboptimal).
  bool present(const Frame& f);

 private:
  void create(int width, int height);
  void destroy_swapchain();

  Context& ctx_;
  VkSurfaceKHR surface_ = VK_NULL_HANDLE;
  VkSwapchainKHR swapchain_ = VK_NULL_HANDLE;
  VkFormat format_ = VK_FORMAT_UNDEFINED;
  VkPresentModeKHR mode_ = VK_PRESENT_MODE_FIFO_KHR;
  VkExtent2D extent_{0, 0};
  bool vsync_ = true;
  std::vector<VkImage> images_;
  // One "image acquired" semaphore per frame (render() waits on its fence, so one is reused safely
  // once that frame's submission is done) and one "rendered" semaphore per image: presentation may
  // still hold an image's semaphore until the image is acquired again.
  VkSemaphore acquired_ = VK_NULL_HANDLE;
  std::vector<VkSemaphore> rendered_;
};

}  // namespace netlens::render
