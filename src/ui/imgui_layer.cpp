#include "netlens/ui/imgui_layer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_vulkan.h>

namespace netlens::ui {

namespace {

const uint32_t kImageVert[] = {
#include "ui_image_vert.inc"
};
const uint32_t kImageFrag[] = {
#include "ui_image_frag.inc"
};

inline void destroy_render_pass(VkDevice d, VkRenderPass h, const VkAllocationCallbacks* a) { vkDestroyRenderPass(d, h, a); }
inline void destroy_framebuffer(VkDevice d, VkFramebuffer h, const VkAllocationCallbacks* a) { vkDestroyFramebuffer(d, h, a); }
using UniqueRenderPass = render::Unique<VkRenderPass, destroy_render_pass>;
using UniqueFramebuffer = render::Unique<VkFramebuffer, destroy_framebuffer>;

void check_vk(VkResult r) {
  if (r != VK_SUCCESS) render::vk_fail("ImGui Vulkan backend", __FILE__, __LINE__, r);
}

struct Push {
  float rect[4];
  float uv[4];
};

}  // namespace

float font_px_for_height(int height) {
  // 1080 px → 20 px: legible on a projected 1080p figure; never below 13 px (small windows).
  float px = std::round(float(height) / 54.0f);
  return std::clamp(px, 13.0f, 64.0f);
}

struct ImGuiLayer::Impl {
  render::Context& ctx;
  VkDevice dev;
  GLFWwindow* window;
  VkFormat format;
  UniqueRenderPass pass;
  render::UniqueDescriptorPool imgui_pool, tex_pool;
  render::UniqueSetLayout tex_layout;
  render::UniqueSampler sampler;
  render::UniquePipelineLayout pipe_layout;
  render::UniquePipeline pipe;
  UniqueFramebuffer fb;  // the last recorded frame's (its image may not outlive the next frame)
  bool backend_up = false, glfw_up = false;
  float built_px = 0;

  struct Tex {
    render::UniqueImage img;
    render::UniqueMemory mem;
    render::UniqueImageView view;
    VkDescriptorSet set = VK_NULL_HANDLE;
    int w = 0, h = 0;
    bool live = false;
  };
  std::vector<Tex> texs;

  struct ImageDraw {
    Impl* self;
    int tex;
    ImVec2 p0, p1, uv0, uv1;
  };
  std::deque<ImageDraw> draws;  // this frame's image items (stable addresses for the callbacks)
  VkCommandBuffer cur_cmd = VK_NULL_HANDLE;
  VkExtent2D cur_extent{};
  ImVec2 fb_scale{1, 1};

  Impl(render::Context& c, GLFWwindow* w, VkFormat f) : ctx(c), dev(c.device()), window(w), format(f) {}

  void create_objects();
  void rebuild_font(float px, float global_scale);
  void draw_image(const ImageDraw& d, const ImVec4& clip);
  static void image_callback(const ImDrawList*, const ImDrawCmd* cmd) {
    const auto* d = static_cast<const ImageDraw*>(cmd->UserCallbackData);
    d->self->draw_image(*d, cmd->ClipRect);
  }
};

void ImGuiLayer::Impl::create_objects() {
  // The UI pass: the renderer's finished single-sample colour image, loaded (the scene stays
  // under the panels) and left in COLOR_ATTACHMENT_OPTIMAL as Renderer::set_overlay requires.
  VkAttachmentDescription att{.format = format, .samples = VK_SAMPLE_COUNT_1_BIT, .loadOp = VK_ATTACHMENT_LOAD_OP_LOAD,
                              .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
                              .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
                              .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                              .initialLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                              .finalLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription sub{.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS, .colorAttachmentCount = 1,
                           .pColorAttachments = &ref};
  VkSubpassDependency deps[2] = {
      {.srcSubpass = VK_SUBPASS_EXTERNAL, .dstSubpass = 0,
       .srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
       .dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
       .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_READ_BIT | VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT},
      {.srcSubpass = 0, .dstSubpass = VK_SUBPASS_EXTERNAL,
       .srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
       .dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
       .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_COLOR_ATTACHMENT_READ_BIT}};
  VkRenderPassCreateInfo rpi{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO, .attachmentCount = 1,
                             .pAttachments = &att, .subpassCount = 1, .pSubpasses = &sub, .dependencyCount = 2,
                             .pDependencies = deps};
  VK_CHECK(vkCreateRenderPass(dev, &rpi, nullptr, pass.out(dev)));

  // ImGui's own pool (its font set; reset whenever the font is rebuilt) and the textures' pool.
  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 8};
  VkDescriptorPoolCreateInfo pi{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 8,
                                .poolSizeCount = 1, .pPoolSizes = &ps};
  VK_CHECK(vkCreateDescriptorPool(dev, &pi, nullptr, imgui_pool.out(dev)));
  VkDescriptorPoolSize ts{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 512};
  VkDescriptorPoolCreateInfo tpi{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                 .flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT, .maxSets = 512,
                                 .poolSizeCount = 1, .pPoolSizes = &ts};
  VK_CHECK(vkCreateDescriptorPool(dev, &tpi, nullptr, tex_pool.out(dev)));

  // Magnified: nearest (a neuron is a crisp block). Minified (a 1024x1024 map in a 100 px tile):
  // trilinear over the mip chain, so the tile shows an average instead of aliasing.
  VkSamplerCreateInfo si{.sType = VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO, .magFilter = VK_FILTER_NEAREST,
                         .minFilter = VK_FILTER_LINEAR, .mipmapMode = VK_SAMPLER_MIPMAP_MODE_LINEAR,
                         .addressModeU = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE,
                         .addressModeV = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE,
                         .addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE, .maxLod = VK_LOD_CLAMP_NONE};
  VK_CHECK(vkCreateSampler(dev, &si, nullptr, sampler.out(dev)));
  VkDescriptorSetLayoutBinding b{.binding = 0, .descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER,
                                 .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_FRAGMENT_BIT};
  VkDescriptorSetLayoutCreateInfo li{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = 1,
                                     .pBindings = &b};
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &li, nullptr, tex_layout.out(dev)));
  VkPushConstantRange pr{VK_SHADER_STAGE_VERTEX_BIT, 0, sizeof(Push)};
  VkDescriptorSetLayout sl = tex_layout.get();
  VkPipelineLayoutCreateInfo pli{.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                 .pSetLayouts = &sl, .pushConstantRangeCount = 1, .pPushConstantRanges = &pr};
  VK_CHECK(vkCreatePipelineLayout(dev, &pli, nullptr, pipe_layout.out(dev)));

  render::UniqueShaderModule vs, fs;
  VkShaderModuleCreateInfo vmi{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = sizeof kImageVert,
                               .pCode = kImageVert};
  VK_CHECK(vkCreateShaderModule(dev, &vmi, nullptr, vs.out(dev)));
  VkShaderModuleCreateInfo fmi{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = sizeof kImageFrag,
                               .pCode = kImageFrag};
  VK_CHECK(vkCreateShaderModule(dev, &fmi, nullptr, fs.out(dev)));
  VkPipelineShaderStageCreateInfo stages[2] = {
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_VERTEX_BIT, .module = vs,
       .pName = "main"},
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_FRAGMENT_BIT, .module = fs,
       .pName = "main"}};
  VkPipelineVertexInputStateCreateInfo vi{.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
  VkPipelineInputAssemblyStateCreateInfo ia{.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
                                            .topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
  VkPipelineViewportStateCreateInfo vp{.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
                                       .viewportCount = 1, .scissorCount = 1};
  VkPipelineRasterizationStateCreateInfo rs{.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
                                            .polygonMode = VK_POLYGON_MODE_FILL, .cullMode = VK_CULL_MODE_NONE,
                                            .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE, .lineWidth = 1.0f};
  VkPipelineMultisampleStateCreateInfo ms{.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
                                          .rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
  // Straight alpha: the grid's gaps are transparent texels.
  VkPipelineColorBlendAttachmentState ba{.blendEnable = VK_TRUE, .srcColorBlendFactor = VK_BLEND_FACTOR_SRC_ALPHA,
                                         .dstColorBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA,
                                         .colorBlendOp = VK_BLEND_OP_ADD, .srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE,
                                         .dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA,
                                         .alphaBlendOp = VK_BLEND_OP_ADD, .colorWriteMask = 0xF};
  VkPipelineColorBlendStateCreateInfo cb{.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
                                         .attachmentCount = 1, .pAttachments = &ba};
  VkDynamicState dyn[2] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo ds{.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO,
                                      .dynamicStateCount = 2, .pDynamicStates = dyn};
  VkGraphicsPipelineCreateInfo gpi{.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO, .stageCount = 2,
                                   .pStages = stages, .pVertexInputState = &vi, .pInputAssemblyState = &ia,
                                   .pViewportState = &vp, .pRasterizationState = &rs, .pMultisampleState = &ms,
                                   .pColorBlendState = &cb, .pDynamicState = &ds, .layout = pipe_layout,
                                   .renderPass = pass, .subpass = 0};
  VK_CHECK(vkCreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &gpi, nullptr, pipe.out(dev)));
}

void ImGuiLayer::Impl::rebuild_font(float px, float global_scale) {
  ImGuiIO& io = ImGui::GetIO();
  if (backend_up) {
    VK_CHECK(vkDeviceWaitIdle(dev));
    ImGui_ImplVulkan_Shutdown();
    VK_CHECK(vkResetDescriptorPool(dev, imgui_pool, 0));
    backend_up = false;
  }
  io.Fonts->Clear();
  ImFontConfig cfg;
  cfg.OversampleH = 2;
  cfg.OversampleV = 1;
  if (!io.Fonts->AddFontFromFileTTF(NETLENS_UI_FONT, px, &cfg))
    throw Error(ErrorKind::Io, std::string("ui: cannot load the font '") + NETLENS_UI_FONT + "'");
  io.FontGlobalScale = global_scale;
  ImGui_ImplVulkan_InitInfo ii{};
  ii.Instance = ctx.instance();
  ii.PhysicalDevice = ctx.physical();
  ii.Device = dev;
  ii.QueueFamily = ctx.queue_family();
  ii.Queue = ctx.queue();
  ii.DescriptorPool = imgui_pool;
  ii.MinImageCount = 2;
  ii.ImageCount = 2;
  ii.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  ii.CheckVkResultFn = check_vk;
  if (!ImGui_ImplVulkan_Init(&ii, pass)) throw Error(ErrorKind::Device, "ui: ImGui's Vulkan backend failed to start");
  backend_up = true;
  ctx.submit_now([](VkCommandBuffer c) { ImGui_ImplVulkan_CreateFontsTexture(c); });
  ImGui_ImplVulkan_DestroyFontUploadObjects();
  built_px = px;
}

void ImGuiLayer::Impl::draw_image(const ImageDraw& d, const ImVec4& clip) {
  if (d.tex < 0 || d.tex >= static_cast<int>(texs.size()) || !texs[static_cast<size_t>(d.tex)].live) return;
  const float fw = float(cur_extent.width), fh = float(cur_extent.height);
  // Clip rectangle in framebuffer pixels (ImGui's display origin is 0,0 here).
  float x0 = std::clamp(clip.x * fb_scale.x, 0.0f, fw), y0 = std::clamp(clip.y * fb_scale.y, 0.0f, fh);
  float x1 = std::clamp(clip.z * fb_scale.x, 0.0f, fw), y1 = std::clamp(clip.w * fb_scale.y, 0.0f, fh);
  if (x1 <= x0 || y1 <= y0) return;
  VkCommandBuffer cmd = cur_cmd;
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe);
  VkDescriptorSet set = texs[static_cast<size_t>(d.tex)].set;
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe_layout, 0, 1, &set, 0, nullptr);
  VkViewport vp{0, 0, fw, fh, 0.0f, 1.0f};
  vkCmdSetViewport(cmd, 0, 1, &vp);
  VkRect2D sc{{static_cast<int32_t>(x0), static_cast<int32_t>(y0)},
              {static_cast<uint32_t>(x1 - float(int(x0))), static_cast<uint32_t>(y1 - float(int(y0)))}};
  vkCmdSetScissor(cmd, 0, 1, &sc);
  auto nx = [&](float x) { return x * fb_scale.x / fw * 2.0f - 1.0f; };
  auto ny = [&](float y) { return y * fb_scale.y / fh * 2.0f - 1.0f; };
  Push p{{nx(d.p0.x), ny(d.p0.y), nx(d.p1.x), ny(d.p1.y)}, {d.uv0.x, d.uv0.y, d.uv1.x, d.uv1.y}};
  vkCmdPushConstants(cmd, pipe_layout, VK_SHADER_STAGE_VERTEX_BIT, 0, sizeof p, &p);
  vkCmdDraw(cmd, 6, 1, 0, 0);
}

ImGuiLayer::ImGuiLayer(render::Context& ctx, int frame_height, GLFWwindow* window, VkFormat format)
    : impl_(std::make_unique<Impl>(ctx, window, format)) {
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // layout is computed, not remembered
  io.LogFilename = nullptr;
  impl_->create_objects();
  if (window) {
    ImGui_ImplGlfw_InitForVulkan(window, /*install_callbacks=*/true);
    impl_->glfw_up = true;
    int ww = 1, fw = 1;
    glfwGetWindowSize(window, &ww, nullptr);
    glfwGetFramebufferSize(window, &fw, nullptr);
    pixel_scale_ = ww > 0 ? float(fw) / float(ww) : 1.0f;
  }
  font_px_ = font_px_for_height(frame_height);
  impl_->rebuild_font(font_px_, 1.0f / pixel_scale_);
}

ImGuiLayer::~ImGuiLayer() {
  if (!impl_) return;
  vkDeviceWaitIdle(impl_->dev);
  for (auto& t : impl_->texs)
    if (t.live) vkFreeDescriptorSets(impl_->dev, impl_->tex_pool, 1, &t.set);
  impl_->texs.clear();
  if (impl_->backend_up) ImGui_ImplVulkan_Shutdown();
  if (impl_->glfw_up) ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
}

void ImGuiLayer::begin_frame(int width, int height, double dt) {
  ImGuiIO& io = ImGui::GetIO();
  if (impl_->window) {
    int ww = 1, fw = 1;
    glfwGetWindowSize(impl_->window, &ww, nullptr);
    glfwGetFramebufferSize(impl_->window, &fw, nullptr);
    if (ww > 0 && fw > 0) pixel_scale_ = float(fw) / float(ww);
  }
  const float px = font_px_for_height(height);
  if (px != impl_->built_px || std::fabs(io.FontGlobalScale - 1.0f / pixel_scale_) > 1e-6f) {
    font_px_ = px;
    impl_->rebuild_font(px, 1.0f / pixel_scale_);
  }
  impl_->draws.clear();
  ImGui_ImplVulkan_NewFrame();
  if (impl_->window) {
    ImGui_ImplGlfw_NewFrame();
  } else {
    io.DisplaySize = ImVec2(float(width), float(height));
    io.DisplayFramebufferScale = ImVec2(1.0f, 1.0f);
    io.DeltaTime = static_cast<float>(std::max(dt, 1e-4));
    io.MousePos = mouse_;
    io.MouseDown[0] = mouse_down_;
  }
  impl_->fb_scale = io.DisplayFramebufferScale;
  ImGui::NewFrame();
}

void ImGuiLayer::end_frame() { ImGui::Render(); }

void ImGuiLayer::set_mouse(ImVec2 pos, bool left_down) {
  mouse_ = pos;
  mouse_down_ = left_down;
}

render::OverlayFn ImGuiLayer::overlay() {
  return [this](VkCommandBuffer cmd, const render::OverlayTarget& t) { record(cmd, t); };
}

void ImGuiLayer::record(VkCommandBuffer cmd, const render::OverlayTarget& t) {
  ImDrawData* dd = ImGui::GetDrawData();
  if (!dd || !dd->Valid || dd->CmdListsCount == 0) return;
  // The previous frame's framebuffer is done (render() waited for it); its view may be gone.
  VkImageView view = t.view;
  VkFramebufferCreateInfo fi{.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO, .renderPass = impl_->pass,
                             .attachmentCount = 1, .pAttachments = &view, .width = t.extent.width,
                             .height = t.extent.height, .layers = 1};
  VK_CHECK(vkCreateFramebuffer(impl_->dev, &fi, nullptr, impl_->fb.out(impl_->dev)));
  VkRenderPassBeginInfo bi{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO, .renderPass = impl_->pass,
                           .framebuffer = impl_->fb, .renderArea = {{0, 0}, t.extent}};
  vkCmdBeginRenderPass(cmd, &bi, VK_SUBPASS_CONTENTS_INLINE);
  impl_->cur_cmd = cmd;
  impl_->cur_extent = t.extent;
  ImGui_ImplVulkan_RenderDrawData(dd, cmd);
  impl_->cur_cmd = VK_NULL_HANDLE;
  vkCmdEndRenderPass(cmd);
}

int ImGuiLayer::upload_texture(int w, int h, const std::vector<uint8_t>& rgba, int replace) {
  if (w <= 0 || h <= 0 || rgba.size() != size_t(w) * size_t(h) * 4)
    throw Error(ErrorKind::Internal, "ui: texture data does not match " + std::to_string(w) + "x" + std::to_string(h));
  auto& I = *impl_;
  render::Context& ctx = I.ctx;
  if (replace >= 0) free_texture(replace);
  int id = replace;
  if (id < 0) {
    for (size_t i = 0; i < I.texs.size() && id < 0; ++i)
      if (!I.texs[i].live) id = static_cast<int>(i);
    if (id < 0) {
      I.texs.emplace_back();
      id = static_cast<int>(I.texs.size() - 1);
    }
  }
  Impl::Tex& t = I.texs[static_cast<size_t>(id)];
  // A mip chain made by linear blits, where the format allows them.
  VkFormatProperties fp;
  vkGetPhysicalDeviceFormatProperties(ctx.physical(), VK_FORMAT_R8G8B8A8_UNORM, &fp);
  const VkFormatFeatureFlags need = VK_FORMAT_FEATURE_BLIT_SRC_BIT | VK_FORMAT_FEATURE_BLIT_DST_BIT |
                                    VK_FORMAT_FEATURE_SAMPLED_IMAGE_FILTER_LINEAR_BIT;
  uint32_t levels = 1;
  if ((fp.optimalTilingFeatures & need) == need)
    while ((std::max(w, h) >> levels) > 0) ++levels;
  VkImageCreateInfo ci{.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, .imageType = VK_IMAGE_TYPE_2D,
                       .format = VK_FORMAT_R8G8B8A8_UNORM, .extent = {uint32_t(w), uint32_t(h), 1}, .mipLevels = levels,
                       .arrayLayers = 1, .samples = VK_SAMPLE_COUNT_1_BIT, .tiling = VK_IMAGE_TILING_OPTIMAL,
                       .usage = VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT |
                                VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                       .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
  VK_CHECK(vkCreateImage(I.dev, &ci, nullptr, t.img.out(I.dev)));
  VkMemoryRequirements mr;
  vkGetImageMemoryRequirements(I.dev, t.img, &mr);
  int mt = ctx.memory_type(mr.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (mt < 0) mt = ctx.memory_type(mr.memoryTypeBits, 0);
  VkMemoryAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = mr.size,
                          .memoryTypeIndex = uint32_t(mt)};
  VK_CHECK(vkAllocateMemory(I.dev, &ai, nullptr, t.mem.out(I.dev)));
  VK_CHECK(vkBindImageMemory(I.dev, t.img, t.mem, 0));
  VkImageViewCreateInfo vi{.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO, .image = t.img,
                           .viewType = VK_IMAGE_VIEW_TYPE_2D, .format = VK_FORMAT_R8G8B8A8_UNORM,
                           .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, levels, 0, 1}};
  VK_CHECK(vkCreateImageView(I.dev, &vi, nullptr, t.view.out(I.dev)));

  // Staging buffer (host-visible, coherent), freed after the one-shot copy.
  render::UniqueBuffer sb;
  render::UniqueMemory sm;
  VkBufferCreateInfo bci{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = rgba.size(),
                         .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT};
  VK_CHECK(vkCreateBuffer(I.dev, &bci, nullptr, sb.out(I.dev)));
  vkGetBufferMemoryRequirements(I.dev, sb, &mr);
  mt = ctx.memory_type(mr.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  if (mt < 0) throw Error(ErrorKind::Device, "ui: no host-visible coherent memory for a texture upload");
  VkMemoryAllocateInfo sai{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = mr.size,
                           .memoryTypeIndex = uint32_t(mt)};
  VK_CHECK(vkAllocateMemory(I.dev, &sai, nullptr, sm.out(I.dev)));
  VK_CHECK(vkBindBufferMemory(I.dev, sb, sm, 0));
  void* map = nullptr;
  VK_CHECK(vkMapMemory(I.dev, sm, 0, VK_WHOLE_SIZE, 0, &map));
  std::memcpy(map, rgba.data(), rgba.size());
  vkUnmapMemory(I.dev, sm);
  VkImage img = t.img;
  VkBuffer buf = sb;
  ctx.submit_now([&](VkCommandBuffer c) {
    auto barrier = [&](uint32_t level, uint32_t count, VkImageLayout from, VkImageLayout to, VkAccessFlags src_access,
                       VkAccessFlags dst_access, VkPipelineStageFlags src, VkPipelineStageFlags dst) {
      VkImageMemoryBarrier b{.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER, .srcAccessMask = src_access,
                             .dstAccessMask = dst_access, .oldLayout = from, .newLayout = to,
                             .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                             .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED, .image = img,
                             .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, level, count, 0, 1}};
      vkCmdPipelineBarrier(c, src, dst, 0, 0, nullptr, 0, nullptr, 1, &b);
    };
    const VkPipelineStageFlags xfer = VK_PIPELINE_STAGE_TRANSFER_BIT, frag = VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT;
    barrier(0, levels, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0, VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, xfer);
    VkBufferImageCopy r{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                        .imageExtent = {uint32_t(w), uint32_t(h), 1}};
    vkCmdCopyBufferToImage(c, buf, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &r);
    // Level k from level k-1 (2x2 box filter by a linear blit); each source level then goes to
    // shader reads.
    int32_t lw = w, lh = h;
    for (uint32_t k = 1; k < levels; ++k) {
      barrier(k - 1, 1, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
              VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT, xfer, xfer);
      const int32_t nw = std::max(lw / 2, 1), nh = std::max(lh / 2, 1);
      VkImageBlit b{.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, k - 1, 0, 1},
                    .srcOffsets = {{0, 0, 0}, {lw, lh, 1}},
                    .dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, k, 0, 1},
                    .dstOffsets = {{0, 0, 0}, {nw, nh, 1}}};
      vkCmdBlitImage(c, img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &b,
                     VK_FILTER_LINEAR);
      barrier(k - 1, 1, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL,
              VK_ACCESS_TRANSFER_READ_BIT, VK_ACCESS_SHADER_READ_BIT, xfer, frag);
      lw = nw;
      lh = nh;
    }
    barrier(levels - 1, 1, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL,
            VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_SHADER_READ_BIT, xfer, frag);
  });

  VkDescriptorSetLayout sl = I.tex_layout;
  VkDescriptorSetAllocateInfo dai{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = I.tex_pool,
                                  .descriptorSetCount = 1, .pSetLayouts = &sl};
  VK_CHECK(vkAllocateDescriptorSets(I.dev, &dai, &t.set));
  VkDescriptorImageInfo dii{I.sampler, t.view, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL};
  VkWriteDescriptorSet wr{.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = t.set, .dstBinding = 0,
                          .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER,
                          .pImageInfo = &dii};
  vkUpdateDescriptorSets(I.dev, 1, &wr, 0, nullptr);
  t.w = w;
  t.h = h;
  t.live = true;
  return id;
}

void ImGuiLayer::free_texture(int id) {
  auto& I = *impl_;
  if (id < 0 || id >= static_cast<int>(I.texs.size()) || !I.texs[static_cast<size_t>(id)].live) return;
  Impl::Tex& t = I.texs[static_cast<size_t>(id)];
  // Frames are waited for by render(), but a swapchain present may still be queued: be safe.
  VK_CHECK(vkQueueWaitIdle(I.ctx.queue()));
  VK_CHECK(vkFreeDescriptorSets(I.dev, I.tex_pool, 1, &t.set));
  t.set = VK_NULL_HANDLE;
  t.view.reset();
  t.img.reset();
  t.mem.reset();
  t.live = false;
}

ImVec2 ImGuiLayer::texture_size(int id) const {
  if (id < 0 || id >= static_cast<int>(impl_->texs.size())) return {0, 0};
  const auto& t = impl_->texs[static_cast<size_t>(id)];
  return ImVec2(float(t.w), float(t.h));
}

void ImGuiLayer::add_image(ImDrawList* dl, int id, ImVec2 p0, ImVec2 p1, ImVec2 uv0, ImVec2 uv1) {
  impl_->draws.push_back(Impl::ImageDraw{impl_.get(), id, p0, p1, uv0, uv1});
  dl->AddCallback(&Impl::image_callback, &impl_->draws.back());
  // The backend rebinds its pipeline, font set and push constants for what follows.
  dl->AddCallback(ImDrawCallback_ResetRenderState, nullptr);
}

void ImGuiLayer::image(int id, ImVec2 size, ImVec2 uv0, ImVec2 uv1) {
  ImVec2 p = ImGui::GetCursorScreenPos();
  ImGui::Dummy(size);
  add_image(ImGui::GetWindowDrawList(), id, p, ImVec2(p.x + size.x, p.y + size.y), uv0, uv1);
}

bool ImGuiLayer::wants_mouse() const { return ImGui::GetIO().WantCaptureMouse; }
bool ImGuiLayer::wants_keyboard() const { return ImGui::GetIO().WantCaptureKeyboard; }

}  // namespace netlens::ui
