// Frame targets and image helpers of the Renderer (see renderer_impl.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "netlens/render/font.hpp"
#include "renderer_impl.hpp"

namespace netlens::render {

GpuImage make_image(Context& ctx, uint32_t w, uint32_t h, VkFormat fmt, VkImageUsageFlags usage,
                    VkSampleCountFlagBits samples, VkImageAspectFlags aspect) {
  GpuImage im;
  VkDevice dev = ctx.device();
  VkImageCreateInfo ci{.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, .imageType = VK_IMAGE_TYPE_2D, .format = fmt,
                       .extent = {w, h, 1}, .mipLevels = 1, .arrayLayers = 1, .samples = samples,
                       .tiling = VK_IMAGE_TILING_OPTIMAL, .usage = usage, .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
                       .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
  VK_CHECK(vkCreateImage(dev, &ci, nullptr, im.img.out(dev)));
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(dev, im.img, &req);
  int type = ctx.memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (type < 0) type = ctx.memory_type(req.memoryTypeBits, 0);
  VkMemoryAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                          .memoryTypeIndex = static_cast<uint32_t>(type)};
  VK_CHECK(vkAllocateMemory(dev, &ai, nullptr, im.mem.out(dev)));
  VK_CHECK(vkBindImageMemory(dev, im.img, im.mem, 0));
  VkImageViewCreateInfo vi{.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO, .image = im.img,
                           .viewType = VK_IMAGE_VIEW_TYPE_2D, .format = fmt,
                           .subresourceRange = {aspect, 0, 1, 0, 1}};
  VK_CHECK(vkCreateImageView(dev, &vi, nullptr, im.view.out(dev)));
  return im;
}

VkImageMemoryBarrier2 image_barrier(VkImage img, VkImageAspectFlags aspect, VkImageLayout from, VkImageLayout to,
                                    VkPipelineStageFlags2 src_stage, VkAccessFlags2 src_access,
                                    VkPipelineStageFlags2 dst_stage, VkAccessFlags2 dst_access) {
  return VkImageMemoryBarrier2{.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER_2,
                               .srcStageMask = src_stage, .srcAccessMask = src_access,
                               .dstStageMask = dst_stage, .dstAccessMask = dst_access,
                               .oldLayout = from, .newLayout = to,
                               .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .image = img, .subresourceRange = {aspect, 0, 1, 0, 1}};
}

FrameTargets make_targets(Context& ctx, int width, int height, VkSampleCountFlagBits samples) {
  FrameTargets t;
  const uint32_t w = static_cast<uint32_t>(width), h = static_cast<uint32_t>(height);
  const VkImageUsageFlags att = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
  // TRANSFER_DST: receives the scene drawn at a reduced scale, scaled up (Renderer::set_render_scale).
  t.color = make_image(ctx, w, h, kColorFormat, att | VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT,
                       VK_SAMPLE_COUNT_1_BIT, VK_IMAGE_ASPECT_COLOR_BIT);
  t.id = make_image(ctx, w, h, kIdFormat, att | VK_IMAGE_USAGE_TRANSFER_SRC_BIT, VK_SAMPLE_COUNT_1_BIT,
                    VK_IMAGE_ASPECT_COLOR_BIT);
  if (samples != VK_SAMPLE_COUNT_1_BIT) {
    t.color_ms = make_image(ctx, w, h, kColorFormat, att | VK_IMAGE_USAGE_TRANSIENT_ATTACHMENT_BIT, samples,
                            VK_IMAGE_ASPECT_COLOR_BIT);
    t.id_ms = make_image(ctx, w, h, kIdFormat, att | VK_IMAGE_USAGE_TRANSIENT_ATTACHMENT_BIT, samples,
                         VK_IMAGE_ASPECT_COLOR_BIT);
  }
  t.depth = make_image(ctx, w, h, kDepthFormat, VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, samples,
                       VK_IMAGE_ASPECT_DEPTH_BIT);
  t.probe_rb = make_buffer(ctx, 16, VK_BUFFER_USAGE_TRANSFER_DST_BIT, kHost, true);
  t.color_rb = make_buffer(ctx, VkDeviceSize(w) * h * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                           kHost | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, true);
  t.id_rb = make_buffer(ctx, VkDeviceSize(w) * h * 8, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                        kHost | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, true);
  return t;
}

void Renderer::Impl::ensure_scale_targets() {
  // The reduced size; at least 16 px a side (the renderer's smallest frame).
  const int w = scale >= 1.0f ? opts.width : std::clamp(static_cast<int>(std::lround(float(opts.width) * scale)), 16, opts.width);
  const int h = scale >= 1.0f ? opts.height : std::clamp(static_cast<int>(std::lround(float(opts.height) * scale)), 16, opts.height);
  if (w == opts.width && h == opts.height) {
    lo = FrameTargets{};  // full size: the frame targets alone, exactly the unscaled path
    lo_w = lo_h = 0;
    return;
  }
  if (w == lo_w && h == lo_h) return;
  // No frame is in flight here (render() waits for its own), so the old images can go.
  lo = make_targets(ctx, w, h, samples);
  lo_w = w;
  lo_h = h;
}

void Renderer::set_render_scale(float s) { impl_->scale = std::isfinite(s) ? std::clamp(s, 0.25f, 1.0f) : 1.0f; }
float Renderer::render_scale() const { return impl_->scale; }

GpuImage upload_font(Context& ctx) {
  const FontAtlas& fa = font_atlas();
  GpuImage font = make_image(ctx, static_cast<uint32_t>(fa.width), static_cast<uint32_t>(fa.height), VK_FORMAT_R8_UNORM,
                             VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, VK_SAMPLE_COUNT_1_BIT,
                             VK_IMAGE_ASPECT_COLOR_BIT);
  {
    GpuBuffer st = make_buffer(ctx, static_cast<VkDeviceSize>(fa.width) * fa.height, VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                               kHost, true);
    std::memcpy(st.map, fa.pixels, static_cast<size_t>(fa.width) * static_cast<size_t>(fa.height));
    ctx.submit_now([&](VkCommandBuffer cb) {
      auto b0 = image_barrier(font.img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                              VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_PIPELINE_STAGE_2_NONE, 0,
                              VK_PIPELINE_STAGE_2_COPY_BIT, VK_ACCESS_2_TRANSFER_WRITE_BIT);
      VkDependencyInfo d0{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 1,
                          .pImageMemoryBarriers = &b0};
      vkCmdPipelineBarrier2(cb, &d0);
      VkBufferImageCopy c{.bufferOffset = 0, .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                          .imageExtent = {static_cast<uint32_t>(fa.width), static_cast<uint32_t>(fa.height), 1}};
      vkCmdCopyBufferToImage(cb, st.buf, font.img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &c);
      auto b1 = image_barrier(font.img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                              VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, VK_PIPELINE_STAGE_2_COPY_BIT,
                              VK_ACCESS_2_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_2_FRAGMENT_SHADER_BIT,
                              VK_ACCESS_2_SHADER_SAMPLED_READ_BIT);
      VkDependencyInfo d1{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 1,
                          .pImageMemoryBarriers = &b1};
      vkCmdPipelineBarrier2(cb, &d1);
    });
  }
  return font;
}

}  // namespace netlens::render
