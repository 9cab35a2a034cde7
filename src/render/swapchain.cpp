#include "netlens/render/swapchain.hpp"

#include <algorithm>
#include <cstdio>

namespace netlens::render {

Swapchain::Swapchain(Context& ctx, VkSurfaceKHR surface, int width, int height, bool vsync)
    : ctx_(ctx), surface_(surface), vsync_(vsync) {
  VkBool32 ok = VK_FALSE;
  vkGetPhysicalDeviceSurfaceSupportKHR(ctx.physical(), ctx.queue_family(), surface_, &ok);
  if (!ok) {
    vkDestroySurfaceKHR(ctx_.instance(), surface_, nullptr);
    throw Error(ErrorKind::Device, "Vulkan device '" + ctx.device_name() + "' cannot present to this window");
  }
  try {
    create(width, height);
  } catch (...) {
    destroy_swapchain();
    vkDestroySurfaceKHR(ctx_.instance(), surface_, nullptr);
    throw;
  }
}

Swapchain::~Swapchain() {
  if (ctx_.device()) vkDeviceWaitIdle(ctx_.device());
  destroy_swapchain();
  if (surface_) vkDestroySurfaceKHR(ctx_.instance(), surface_, nullptr);
}

void Swapchain::destroy_swapchain() {
  VkDevice dev = ctx_.device();
  for (VkSemaphore s : rendered_) vkDestroySemaphore(dev, s, nullptr);
  rendered_.clear();
  if (acquired_) vkDestroySemaphore(dev, acquired_, nullptr);
  acquired_ = VK_NULL_HANDLE;
  if (swapchain_) vkDestroySwapchainKHR(dev, swapchain_, nullptr);
  swapchain_ = VK_NULL_HANDLE;
  images_.clear();
}

void Swapchain::recreate(int width, int height, bool vsync) {
  VK_CHECK(vkDeviceWaitIdle(ctx_.device()));
  vsync_ = vsync;
  destroy_swapchain();
  create(width, height);
}

void Swapchain::create(int width, int height) {
  VkPhysicalDevice phys = ctx_.physical();
  VkDevice dev = ctx_.device();
  VkSurfaceCapabilitiesKHR caps;
  VK_CHECK(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(phys, surface_, &caps));
  if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT))
    throw Error(ErrorKind::Device, "the window's surface does not accept transfer writes (needed to show frames)");
  uint32_t n = 0;
  VK_CHECK(vkGetPhysicalDeviceSurfaceFormatsKHR(phys, surface_, &n, nullptr));
  std::vector<VkSurfaceFormatKHR> formats(n);
  VK_CHECK(vkGetPhysicalDeviceSurfaceFormatsKHR(phys, surface_, &n, formats.data()));
  if (formats.empty()) throw Error(ErrorKind::Device, "the window's surface offers no image format");
  VkSurfaceFormatKHR fmt = formats[0];
  for (const auto& f : formats)
    if ((f.format == VK_FORMAT_B8G8R8A8_UNORM || f.format == VK_FORMAT_R8G8B8A8_UNORM) &&
        f.colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR) {
      fmt = f;
      break;
    }
  format_ = fmt.format;
  VK_CHECK(vkGetPhysicalDeviceSurfacePresentModesKHR(phys, surface_, &n, nullptr));
  std::vector<VkPresentModeKHR> modes(n);
  VK_CHECK(vkGetPhysicalDeviceSurfacePresentModesKHR(phys, surface_, &n, modes.data()));
  auto has = [&](VkPresentModeKHR m) { return std::find(modes.begin(), modes.end(), m) != modes.end(); };
  mode_ = VK_PRESENT_MODE_FIFO_KHR;  // always supported
  if (!vsync_) {
    if (has(VK_PRESENT_MODE_MAILBOX_KHR)) mode_ = VK_PRESENT_MODE_MAILBOX_KHR;
    else if (has(VK_PRESENT_MODE_IMMEDIATE_KHR)) mode_ = VK_PRESENT_MODE_IMMEDIATE_KHR;
  }
  if (caps.currentExtent.width != UINT32_MAX) {
    extent_ = caps.currentExtent;
  } else {
    extent_.width = std::clamp(static_cast<uint32_t>(std::max(width, 1)), caps.minImageExtent.width, caps.maxImageExtent.width);
    extent_.height = std::clamp(static_cast<uint32_t>(std::max(height, 1)), caps.minImageExtent.height, caps.maxImageExtent.height);
  }
  uint32_t count = std::max(caps.minImageCount + 1, 2u);
  if (caps.maxImageCount > 0) count = std::min(count, caps.maxImageCount);
  VkSwapchainCreateInfoKHR ci{.sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR, .surface = surface_,
                              .minImageCount = count, .imageFormat = fmt.format, .imageColorSpace = fmt.colorSpace,
                              .imageExtent = extent_, .imageArrayLayers = 1,
                              .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT,
                              .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE, .preTransform = caps.currentTransform,
                              .compositeAlpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR, .presentMode = mode_,
                              .clipped = VK_TRUE};
  if (!(caps.supportedCompositeAlpha & VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR))
    ci.compositeAlpha = static_cast<VkCompositeAlphaFlagBitsKHR>(caps.supportedCompositeAlpha & -caps.supportedCompositeAlpha);
  if (extent_.width == 0 || extent_.height == 0) return;  // minimised: no swapchain until restored
  VK_CHECK(vkCreateSwapchainKHR(dev, &ci, nullptr, &swapchain_));
  VK_CHECK(vkGetSwapchainImagesKHR(dev, swapchain_, &n, nullptr));
  images_.resize(n);
  VK_CHECK(vkGetSwapchainImagesKHR(dev, swapchain_, &n, images_.data()));
  VkSemaphoreCreateInfo si{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  VK_CHECK(vkCreateSemaphore(dev, &si, nullptr, &acquired_));
  rendered_.resize(n, VK_NULL_HANDLE);
  for (auto& s : rendered_) VK_CHECK(vkCreateSemaphore(dev, &si, nullptr, &s));
}

std::optional<Swapchain::Frame> Swapchain::acquire() {
  if (!swapchain_) return std::nullopt;
  uint32_t index = 0;
  VkResult r = vkAcquireNextImageKHR(ctx_.device(), swapchain_, UINT64_MAX, acquired_, VK_NULL_HANDLE, &index);
  if (r == VK_ERROR_OUT_OF_DATE_KHR) return std::nullopt;
  if (r != VK_SUCCESS && r != VK_SUBOPTIMAL_KHR) VK_CHECK(r);
  // Suboptimal still delivered an image (and signals the semaphore): use it, recreate after.
  return Frame{index, PresentTarget{images_[index], acquired_, rendered_[index]}};
}

bool Swapchain::present(const Frame& f) {
  VkSemaphore wait = f.target.signal;
  VkPresentInfoKHR pi{.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR, .waitSemaphoreCount = 1, .pWaitSemaphores = &wait,
                      .swapchainCount = 1, .pSwapchains = &swapchain_, .pImageIndices = &f.index};
  VkResult r = vkQueuePresentKHR(ctx_.queue(), &pi);
  if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) return false;
  VK_CHECK(r);
  return true;
}

}  // namespace netlens::render
