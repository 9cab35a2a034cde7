#include "renderer.hpp"

#include "code_builder.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <map>
#include <set>

#include <glm/geometric.hpp>
#include <glm/trigonometric.hpp>
#include <glm/common.hpp>

#include "embedded_shaders.hpp"
#include "frame_plan.hpp"
#include "font.hpp"
#include "gpu_types.hpp"
#include "vk_buffer.hpp"

namespace netlens::render {

static_assert(gpu::kCodeMaxColor == viz::kCodeMaxColor && gpu::kCodeZero == viz::kCodeZero &&
                  gpu::kCodeNonFinite == viz::kCodeNonFinite && gpu::kCodeEmpty == viz::kCodeEmpty,
              "byte codes differ between shaders/shared/types.h and src/viz/colormap.hpp");
static_assert(gpu::kMaxPyramidLevels + 1 == viz::kMaxLevels, "pyramid depth differs between shaders and viz");

namespace {

constexpr VkFormat kColorFormat = VK_FORMAT_R8G8B8A8_UNORM;
constexpr VkFormat kIdFormat = VK_FORMAT_R32G32_UINT;
constexpr VkFormat kDepthFormat = VK_FORMAT_D32_SFLOAT;

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct GpuImage {
  UniqueImage img;
  UniqueMemory mem;
  UniqueImageView view;
};

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

UniqueShaderModule make_module(VkDevice dev, const char* name) {
  auto code = shaders::spirv(name);
  if (code.empty()) throw Error(ErrorKind::Internal, std::string("shader ") + name + " is not embedded");
  VkShaderModuleCreateInfo ci{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                              .codeSize = code.size() * sizeof(uint32_t), .pCode = code.data()};
  UniqueShaderModule m;
  VK_CHECK(vkCreateShaderModule(dev, &ci, nullptr, m.out(dev)));
  return m;
}

struct PipelineDesc {
  const char* vs;
  const char* fs;
  VkPrimitiveTopology topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
  std::vector<VkVertexInputAttributeDescription> attrs;
  uint32_t stride = 0;
  bool blend = false;
  bool depth_test = true;
  bool depth_write = true;
  bool write_id = true;
  VkCullModeFlags cull = VK_CULL_MODE_BACK_BIT;
};

}  // namespace

struct Renderer::Impl {
  Context& ctx;
  const viz::Scene& scene;
  RenderOptions opts;
  VkSampleCountFlagBits samples = VK_SAMPLE_COUNT_1_BIT;
  float radius = 1.0f;

  GpuBuffer layers_buf, parts_buf, lut_buf;
  // The scene's byte codes, split into parts (channel runs of a layer) packed into chunks of at
  // most chunk_limit bytes, one storage buffer and one descriptor set (set 1) per chunk.
  struct Part { uint32_t layer = 0, c0 = 0, c1 = 0, chunk = 0; };
  std::vector<Part> parts;
  std::vector<std::pair<uint32_t, uint32_t>> layer_parts;  // [first, end) into parts, per layer
  std::vector<GpuBuffer> chunk_bufs;
  std::vector<VkDescriptorSet> chunk_sets;
  uint64_t chunk_limit = 0;
  // Kept from upload_codes for in-place value updates (Renderer::values_changed): where each part's
  // codes sit in its chunk, the bytes per chunk, and the layout the buffers were sized for.
  struct CodePlan { uint64_t off0, off_max, bytes_max; };
  std::vector<CodePlan> code_plan;
  std::vector<uint64_t> chunk_used;
  std::vector<std::array<int64_t, 5>> layout_key;  // C, H, W, count, levels per layer
  std::vector<GpuBuffer> chunk_staging;            // host copies of the chunks, made on the first update
  GpuBuffer layers_staging;
  GpuBuffer frame_buf, regions_buf, layer_regions_buf, slabs_buf, cells_buf, lines_buf, text_buf;
  GpuBuffer color_rb, id_rb, probe_rb;
  std::optional<std::pair<int, int>> probe_px;
  std::pair<uint32_t, uint32_t> probe_id{0, 0};
  bool readback_once = false;
  GpuImage color_ms, id_ms, depth, color, id, font;
  UniqueSampler sampler;
  UniqueSetLayout set_layout, codes_layout;
  UniqueDescriptorPool desc_pool;
  VkDescriptorSet set = VK_NULL_HANDLE;
  UniquePipelineLayout pipe_layout;
  UniquePipeline bg_pipe, slab_pipe, cell_pipe, line_pipe, overlay_line_pipe, text_pipe;
  UniqueCommandPool cmd_pool;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  UniqueFence fence;

  Selection selection;
  OverlayFn overlay;
  std::vector<uint8_t> pixels;
  std::vector<uint32_t> ids;
  bool have_frame = false;

  // per-frame scratch
  viz::FramePlan plan;
  std::vector<glm::uvec2> slab_list, cell_list;
  std::vector<gpu::LineVertex> lines;
  // lines[overlay_first..] are drawn without the depth test: the fan-out lies behind the selected
  // layer's own slabs when that layer is looked at from the front (--view layer:NAME).
  size_t overlay_first = 0;
  std::vector<gpu::TextVertex> text;

  Impl(Context& c, const viz::Scene& s, RenderOptions o) : ctx(c), scene(s), opts(std::move(o)) {}

  void init();
  void create_targets();
  void create_pipelines();
  UniquePipeline make_pipeline(const PipelineDesc& d);
  FrameStats render(const viz::Camera& cam, const PresentTarget* present);
  void build_labels(const glm::mat4& vp, const viz::Camera& cam, const std::vector<int>& visible_sorted);
  void build_lines(const std::vector<uint8_t>& visible, const viz::Camera& cam);
  void add_text(float x, float baseline, float px, const std::string& s, glm::vec4 color);
  void add_panel(float x, float y, float w, float h, float r, glm::vec4 color);
  void add_bar(float x, float y, float w, float h, bool diverging);
  void ensure_host_buffer(GpuBuffer& b, VkDeviceSize bytes, VkBufferUsageFlags usage);
  void upload_codes();
  void fill_chunk(size_t k, uint8_t* bytes, gpu::GpuPart* gp) const;
  std::vector<gpu::GpuLayer> gpu_layers() const;
  std::vector<std::array<int64_t, 5>> current_layout_key() const;
  UploadStats values_changed();
  std::vector<viz::ColorScale> codes_from_device(CodeBuilder& b, VkBuffer acts, const Renderer::TimelinePoint* wait,
                                                 const Renderer::TimelinePoint* signal, UploadStats* stats);
  uint32_t part_of(int layer, int64_t c) const {
    auto [a, b] = layer_parts[static_cast<size_t>(layer)];
    for (uint32_t p = a; p < b; ++p)
      if (static_cast<uint32_t>(c) < parts[p].c1) return p;
    return b - 1;
  }
};

// Packs every layer's codes (level 0, max pyramid, mean pyramid) into chunks no larger than what
// one storage buffer may address (maxStorageBufferRange, maxMemoryAllocationSize, or the injected
// RenderOptions::max_buffer_bytes). A layer that does not fit in the rest of a chunk is split by
// channels; each part's data is contiguous, so one draw per chunk reaches all of its parts.
void Renderer::Impl::upload_codes() {
  VkPhysicalDeviceMaintenance3Properties m3{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
  vkGetPhysicalDeviceProperties2(ctx.physical(), &p2);
  uint64_t limit = std::min<uint64_t>(ctx.properties().limits.maxStorageBufferRange, m3.maxMemoryAllocationSize);
  limit = std::min<uint64_t>(limit, 1ull << 30);  // 32-bit byte offsets in the shaders, friendly allocations
  if (opts.max_buffer_bytes > 0) limit = std::min<uint64_t>(limit, opts.max_buffer_bytes);
  chunk_limit = limit & ~uint64_t(3);
  const auto& L = scene.layout.layers;
  // Plan: parts and their offsets (level 0 / max / mean) inside each chunk.
  auto& plan = code_plan;
  plan.clear();
  chunk_used.assign(1, 0);
  layout_key = current_layout_key();
  layer_parts.assign(L.size(), {0, 0});
  for (size_t i = 0; i < L.size(); ++i) {
    const auto& d = L[i].dims;
    const auto& sl = scene.layers[i];
    const uint64_t b0 = static_cast<uint64_t>(d.H * d.W);
    uint64_t bp = 0;  // pyramid bytes per channel (all levels)
    for (auto& lv : viz::pyramid_levels(d.H, d.W)) bp += static_cast<uint64_t>(lv.h * lv.w);
    if (static_cast<int>(viz::pyramid_levels(d.H, d.W).size()) != sl.levels)
      throw Error(ErrorKind::Internal, "render: pyramid levels of '" + L[i].tensor.name + "' disagree with the scene");
    const uint64_t per_c = b0 + 2 * bp;
    if (per_c > chunk_limit)
      throw Error(ErrorKind::Device, "layer '" + L[i].tensor.name + "': one " + std::to_string(d.H) + "x" +
                                         std::to_string(d.W) + " channel needs " + std::to_string(per_c >> 20) +
                                         " MiB of codes; device '" + ctx.device_name() + "' buffers hold " +
                                         std::to_string(chunk_limit >> 20) + " MiB");
    layer_parts[i].first = static_cast<uint32_t>(parts.size());
    int64_t c = 0;
    while (c < d.C) {
      uint64_t room = chunk_limit - chunk_used.back();
      int64_t n = std::min<int64_t>(d.C - c, static_cast<int64_t>(room / per_c));
      if (n == 0) {
        chunk_used.push_back(0);
        continue;
      }
      uint64_t at = chunk_used.back();
      parts.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(c), static_cast<uint32_t>(c + n),
                       static_cast<uint32_t>(chunk_used.size() - 1)});
      plan.push_back({at, at + static_cast<uint64_t>(n) * b0, static_cast<uint64_t>(n) * bp});
      chunk_used.back() += static_cast<uint64_t>(n) * per_c;
      c += n;
    }
    layer_parts[i].second = static_cast<uint32_t>(parts.size());
  }
  // Fill and upload each chunk; GPU part records. Chunks can be rewritten in place (TRANSFER_DST).
  std::vector<gpu::GpuPart> gp(std::max<size_t>(parts.size(), 1));
  for (size_t k = 0; k < chunk_used.size(); ++k) {
    std::vector<uint8_t> bytes(static_cast<size_t>(chunk_used[k]));
    fill_chunk(k, bytes.data(), gp.data());
    static const uint8_t zero[16] = {};
    const VkBufferUsageFlags use = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    chunk_bufs.push_back(bytes.empty() ? upload_static(ctx, zero, 16, use) : upload_static(ctx, bytes.data(), bytes.size(), use));
  }
  parts_buf = upload_static(ctx, gp.data(), gp.size() * sizeof(gpu::GpuPart), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
}

// Chunk k's bytes (chunk_used[k] of them) from the scene's current codes; with `gp`, the GPU part
// records of its parts too (layout only: they do not change with the values).
void Renderer::Impl::fill_chunk(size_t k, uint8_t* bytes, gpu::GpuPart* gp) const {
  const auto& L = scene.layout.layers;
  for (size_t pi = 0; pi < parts.size(); ++pi) {
    const Part& P = parts[pi];
    if (P.chunk != k) continue;
    const auto& d = L[P.layer].dims;
    const auto& sl = scene.layers[P.layer];
    const CodePlan& pl = code_plan[pi];
    const uint64_t nc = P.c1 - P.c0, b0 = static_cast<uint64_t>(d.H * d.W);
    std::memcpy(bytes + pl.off0, scene.codes0.data() + sl.code0_offset + P.c0 * b0, static_cast<size_t>(nc * b0));
    gpu::GpuPart g{};
    g.head = glm::uvec4(P.layer, P.c0, P.c1, P.chunk);
    g.offs = glm::uvec4(static_cast<uint32_t>(pl.off0), static_cast<uint32_t>(pl.bytes_max), 0u, 0u);
    uint64_t at = pl.off_max;
    auto levels = viz::pyramid_levels(d.H, d.W);
    for (int lv = 1; lv <= sl.levels; ++lv) {
      const uint64_t per = static_cast<uint64_t>(levels[static_cast<size_t>(lv - 1)].h * levels[static_cast<size_t>(lv - 1)].w);
      const uint64_t src = sl.level_offset[static_cast<size_t>(lv)] + P.c0 * per;
      std::memcpy(bytes + at, scene.codes_max.data() + src, static_cast<size_t>(nc * per));
      std::memcpy(bytes + at + pl.bytes_max, scene.codes_mean.data() + src, static_cast<size_t>(nc * per));
      g.level_offset[(lv - 1) / 4][(lv - 1) % 4] = static_cast<uint32_t>(at);
      at += nc * per;
    }
    if (gp) gp[pi] = g;
  }
}

std::vector<gpu::GpuLayer> Renderer::Impl::gpu_layers() const {
  const auto& L = scene.layout.layers;
  std::vector<gpu::GpuLayer> gl(std::max<size_t>(L.size(), 1));
  for (size_t i = 0; i < L.size(); ++i) {
    const auto& v = L[i];
    const auto& sl = scene.layers[i];
    gpu::GpuLayer& g = gl[i];
    g.origin_pitch = glm::vec4(v.origin, v.pitch);
    g.size_thick = glm::vec4(v.size, v.thickness);
    g.dims = glm::uvec4(v.dims.C, v.dims.H, v.dims.W, v.dims.count);
    g.info = glm::uvec4(0u, static_cast<uint32_t>(sl.levels),
                        (sl.scale.kind == viz::ColorMapKind::Diverging ? gpu::kLayerDiverging : 0u) |
                            (v.dims.grid ? gpu::kLayerGrid : 0u), 0u);
  }
  return gl;
}

std::vector<std::array<int64_t, 5>> Renderer::Impl::current_layout_key() const {
  std::vector<std::array<int64_t, 5>> key;
  for (size_t i = 0; i < scene.layout.layers.size(); ++i) {
    const auto& d = scene.layout.layers[i].dims;
    key.push_back({d.C, d.H, d.W, d.count, i < scene.layers.size() ? scene.layers[i].levels : -1});
  }
  return key;
}

// Buffer copies (in-place value updates) made visible to the draws' storage-buffer reads.
static void barrier_copies_to_shader_reads(VkCommandBuffer cb) {
  VkMemoryBarrier2 mb{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2, .srcStageMask = VK_PIPELINE_STAGE_2_COPY_BIT,
                      .srcAccessMask = VK_ACCESS_2_TRANSFER_WRITE_BIT,
                      .dstStageMask = VK_PIPELINE_STAGE_2_VERTEX_SHADER_BIT | VK_PIPELINE_STAGE_2_FRAGMENT_SHADER_BIT,
                      .dstAccessMask = VK_ACCESS_2_SHADER_STORAGE_READ_BIT};
  VkDependencyInfo d{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &mb};
  vkCmdPipelineBarrier2(cb, &d);
}

// The new values go through host staging buffers and one transfer submission on the renderer's
// queue, finished (fence) before this returns; its barrier makes the copies visible to the shader
// reads of every later submission. render() waits for each frame's own submission too, so no frame
// is in flight here: a frame shows the values before this call or after it, never a mix.
UploadStats Renderer::Impl::values_changed() {
  UploadStats us;
  auto t0 = Clock::now();
  if (current_layout_key() != layout_key || scene.codes0.size() + scene.codes_max.size() == 0 ||
      scene.layers.size() != scene.layout.layers.size())
    throw Error(ErrorKind::Internal, "render: values_changed needs a scene with the same layout (layer shapes) as before");
  if (chunk_staging.empty()) {
    for (size_t k = 0; k < chunk_bufs.size(); ++k)
      chunk_staging.push_back(make_buffer(ctx, chunk_bufs[k].size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true));
    layers_staging = make_buffer(ctx, layers_buf.size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true);
  }
  for (size_t k = 0; k < chunk_used.size(); ++k) {
    fill_chunk(k, static_cast<uint8_t*>(chunk_staging[k].map), nullptr);
    us.bytes += chunk_used[k];
  }
  const std::vector<gpu::GpuLayer> gl = gpu_layers();
  std::memcpy(layers_staging.map, gl.data(), gl.size() * sizeof(gpu::GpuLayer));
  us.bytes += gl.size() * sizeof(gpu::GpuLayer);
  us.pack_ms = ms_since(t0);
  auto t1 = Clock::now();
  ctx.submit_now([&](VkCommandBuffer cb) {
    for (size_t k = 0; k < chunk_used.size(); ++k) {
      if (chunk_used[k] == 0) continue;
      VkBufferCopy c{.srcOffset = 0, .dstOffset = 0, .size = chunk_used[k]};
      vkCmdCopyBuffer(cb, chunk_staging[k].buf, chunk_bufs[k].buf, 1, &c);
    }
    VkBufferCopy lc{.srcOffset = 0, .dstOffset = 0, .size = gl.size() * sizeof(gpu::GpuLayer)};
    vkCmdCopyBuffer(cb, layers_staging.buf, layers_buf.buf, 1, &lc);
    barrier_copies_to_shader_reads(cb);
  });
  us.copy_ms = ms_since(t1);
  us.total_ms = ms_since(t0);
  return us;
}

// Device-made codes: the builder's flat buffers have build_scene's layout; each part of a chunk
// takes its channel run of level 0 and of every pyramid level (max, then mean), as fill_chunk does
// from the host scene. One submission: [wait] → reductions → copies → barrier → [signal].
std::vector<viz::ColorScale> Renderer::Impl::codes_from_device(CodeBuilder& b, VkBuffer acts,
                                                               const Renderer::TimelinePoint* wait,
                                                               const Renderer::TimelinePoint* signal, UploadStats* stats) {
  auto t0 = Clock::now();
  const auto& L = scene.layout.layers;
  if (current_layout_key() != layout_key)
    throw Error(ErrorKind::Internal, "render: codes_from_device needs the layout the renderer was made with");
  std::vector<std::vector<VkBufferCopy>> c0(chunk_bufs.size()), cmax(chunk_bufs.size()), cmean(chunk_bufs.size());
  uint64_t bytes = 0;
  for (size_t pi = 0; pi < parts.size(); ++pi) {
    const Part& P = parts[pi];
    const auto& d = L[P.layer].dims;
    const CodePlan& pl = code_plan[pi];
    const uint64_t nc = P.c1 - P.c0, b0 = static_cast<uint64_t>(d.H * d.W);
    const int layer = static_cast<int>(P.layer);
    if (b.levels(layer) != scene.layers[P.layer].levels)
      throw Error(ErrorKind::Internal, "render: code builder and renderer disagree on pyramid depth");
    c0[P.chunk].push_back({b.code0_offset(layer) + P.c0 * b0, pl.off0, nc * b0});
    bytes += nc * b0;
    uint64_t at = pl.off_max;
    auto levels = viz::pyramid_levels(d.H, d.W);
    for (int lv = 1; lv <= b.levels(layer); ++lv) {
      const uint64_t per = static_cast<uint64_t>(levels[static_cast<size_t>(lv - 1)].h * levels[static_cast<size_t>(lv - 1)].w);
      const uint64_t src = b.level_offset(layer, lv) + P.c0 * per;
      cmax[P.chunk].push_back({src, at, nc * per});
      cmean[P.chunk].push_back({src, at + pl.bytes_max, nc * per});
      bytes += 2 * nc * per;
      at += nc * per;
    }
  }
  auto t1 = Clock::now();
  VkCommandBufferAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = cmd_pool,
                                 .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
  VkCommandBuffer cb;
  VK_CHECK(vkAllocateCommandBuffers(ctx.device(), &ai, &cb));
  VkCommandBufferBeginInfo bi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                              .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(cb, &bi));
  b.record(cb, acts);
  for (size_t k = 0; k < chunk_bufs.size(); ++k) {
    if (!c0[k].empty()) vkCmdCopyBuffer(cb, b.codes0(), chunk_bufs[k].buf, static_cast<uint32_t>(c0[k].size()), c0[k].data());
    if (!cmax[k].empty()) vkCmdCopyBuffer(cb, b.codes_max(), chunk_bufs[k].buf, static_cast<uint32_t>(cmax[k].size()), cmax[k].data());
    if (!cmean[k].empty()) vkCmdCopyBuffer(cb, b.codes_mean(), chunk_bufs[k].buf, static_cast<uint32_t>(cmean[k].size()), cmean[k].data());
  }
  barrier_copies_to_shader_reads(cb);
  VK_CHECK(vkEndCommandBuffer(cb));
  VkCommandBufferSubmitInfo cbi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_SUBMIT_INFO, .commandBuffer = cb};
  VkSemaphoreSubmitInfo wsi{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO,
                            .semaphore = wait ? wait->semaphore : VK_NULL_HANDLE, .value = wait ? wait->value : 0,
                            .stageMask = VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT};
  VkSemaphoreSubmitInfo ssi{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO,
                            .semaphore = signal ? signal->semaphore : VK_NULL_HANDLE, .value = signal ? signal->value : 0,
                            .stageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT};
  VkSubmitInfo2 si{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2,
                   .waitSemaphoreInfoCount = wait ? 1u : 0u, .pWaitSemaphoreInfos = wait ? &wsi : nullptr,
                   .commandBufferInfoCount = 1, .pCommandBufferInfos = &cbi,
                   .signalSemaphoreInfoCount = signal ? 1u : 0u, .pSignalSemaphoreInfos = signal ? &ssi : nullptr};
  VkFence f = fence.get();
  VK_CHECK(vkResetFences(ctx.device(), 1, &f));
  VK_CHECK(vkQueueSubmit2(ctx.queue(), 1, &si, f));
  VK_CHECK(vkWaitForFences(ctx.device(), 1, &f, VK_TRUE, UINT64_MAX));
  vkFreeCommandBuffers(ctx.device(), cmd_pool, 1, &cb);
  auto t2 = Clock::now();
  // The layer records carry the colour-map kind, which the GPU's scales decide.
  std::vector<viz::ColorScale> sc = b.scales();
  std::vector<gpu::GpuLayer> gl = gpu_layers();
  for (size_t i = 0; i < L.size() && i < sc.size(); ++i) {
    const uint32_t div = sc[i].kind == viz::ColorMapKind::Diverging ? gpu::kLayerDiverging : 0u;
    gl[i].info.z = (gl[i].info.z & ~gpu::kLayerDiverging) | div;
  }
  if (!layers_staging.buf) layers_staging = make_buffer(ctx, layers_buf.size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true);
  std::memcpy(layers_staging.map, gl.data(), gl.size() * sizeof(gpu::GpuLayer));
  ctx.submit_now([&](VkCommandBuffer cb2) {
    VkBufferCopy lc{.srcOffset = 0, .dstOffset = 0, .size = gl.size() * sizeof(gpu::GpuLayer)};
    vkCmdCopyBuffer(cb2, layers_staging.buf, layers_buf.buf, 1, &lc);
    barrier_copies_to_shader_reads(cb2);
  });
  if (stats) {
    stats->pack_ms = ms_since(t0) - ms_since(t1);
    stats->copy_ms = ms_since(t1);
    stats->total_ms = ms_since(t0);
    stats->bytes = bytes;
  }
  (void)t2;
  return sc;
}

void Renderer::Impl::init() {
  if (opts.width < 16 || opts.height < 16 || opts.width > 8192 || opts.height > 8192)
    throw Error(ErrorKind::Usage, "render size " + std::to_string(opts.width) + "x" + std::to_string(opts.height) +
                                      " is out of range (16..8192 per side)");
  VkDevice dev = ctx.device();
  samples = ctx.msaa_samples(opts.msaa);
  radius = viz::scene_radius(scene.layout);
  const auto& L = scene.layout.layers;

  // Static scene data (the layer records carry the colour-map kind: rewritten by values_changed).
  std::vector<gpu::GpuLayer> gl = gpu_layers();
  const VkBufferUsageFlags ssbo = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  layers_buf = upload_static(ctx, gl.data(), gl.size() * sizeof(gpu::GpuLayer), ssbo | VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  upload_codes();
  std::vector<glm::vec4> lut(512);
  auto seq = viz::code_lut(viz::ColorMapKind::Sequential), div = viz::code_lut(viz::ColorMapKind::Diverging);
  for (int i = 0; i < 256; ++i) {
    lut[static_cast<size_t>(i)] = glm::vec4(seq[static_cast<size_t>(i)], 1.0f);
    lut[static_cast<size_t>(256 + i)] = glm::vec4(div[static_cast<size_t>(i)], 1.0f);
  }
  lut_buf = upload_static(ctx, lut.data(), lut.size() * sizeof(glm::vec4), ssbo);

  // Per-frame buffers (host-visible; fixed capacities for those bound in the descriptor set).
  frame_buf = make_buffer(ctx, sizeof(gpu::GpuFrame), VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT, kHost, true);
  regions_buf = make_buffer(ctx, sizeof(gpu::GpuRegion) * gpu::kMaxRegions, ssbo, kHost, true);
  layer_regions_buf = make_buffer(ctx, sizeof(glm::uvec2) * std::max<size_t>(L.size(), 1), ssbo, kHost, true);
  slabs_buf = make_buffer(ctx, sizeof(glm::uvec2) * std::max<size_t>(parts.size(), 1), ssbo, kHost, true);
  cells_buf = make_buffer(ctx, sizeof(glm::uvec2) * static_cast<VkDeviceSize>(std::max<int64_t>(opts.cell_budget, 1)),
                          ssbo, kHost, true);

  // Font atlas → sampled image.
  const FontAtlas& fa = font_atlas();
  font = make_image(ctx, static_cast<uint32_t>(fa.width), static_cast<uint32_t>(fa.height), VK_FORMAT_R8_UNORM,
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
  VkSamplerCreateInfo si{.sType = VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO, .magFilter = VK_FILTER_LINEAR,
                         .minFilter = VK_FILTER_LINEAR, .mipmapMode = VK_SAMPLER_MIPMAP_MODE_NEAREST,
                         .addressModeU = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE,
                         .addressModeV = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE,
                         .addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE, .maxLod = 0.0f};
  VK_CHECK(vkCreateSampler(dev, &si, nullptr, sampler.out(dev)));

  // Descriptor set 0 (shared by every pipeline).
  std::vector<VkDescriptorSetLayoutBinding> binds;
  auto add_bind = [&](uint32_t b, VkDescriptorType t) {
    binds.push_back({.binding = b, .descriptorType = t, .descriptorCount = 1,
                     .stageFlags = VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT});
  };
  const uint32_t storage_binds[] = {gpu::kBindLayers, gpu::kBindParts, gpu::kBindLayerRegions, gpu::kBindLut,
                                    gpu::kBindRegions, gpu::kBindSlabs, gpu::kBindCells};
  add_bind(gpu::kBindFrame, VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER);
  for (uint32_t b : storage_binds) add_bind(b, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER);
  add_bind(gpu::kBindFont, VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER);
  VkDescriptorSetLayoutCreateInfo li{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                     .bindingCount = static_cast<uint32_t>(binds.size()), .pBindings = binds.data()};
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &li, nullptr, set_layout.out(dev)));
  VkDescriptorSetLayoutBinding cbind{.binding = gpu::kBindCodes, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                     .descriptorCount = 1,
                                     .stageFlags = VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT};
  VkDescriptorSetLayoutCreateInfo cli{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                      .bindingCount = 1, .pBindings = &cbind};
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &cli, nullptr, codes_layout.out(dev)));
  const uint32_t nchunks = static_cast<uint32_t>(chunk_bufs.size());
  VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, 1},
                                  {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 7 + nchunks},
                                  {VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 1}};
  VkDescriptorPoolCreateInfo pi{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1 + nchunks,
                                .poolSizeCount = 3, .pPoolSizes = sizes};
  VK_CHECK(vkCreateDescriptorPool(dev, &pi, nullptr, desc_pool.out(dev)));
  VkDescriptorSetLayout sl = set_layout;
  VkDescriptorSetAllocateInfo ai{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = desc_pool,
                                 .descriptorSetCount = 1, .pSetLayouts = &sl};
  VK_CHECK(vkAllocateDescriptorSets(dev, &ai, &set));
  const GpuBuffer* bufs[] = {&frame_buf, &layers_buf, &parts_buf, &lut_buf, &regions_buf, &slabs_buf, &cells_buf,
                             &layer_regions_buf};
  const uint32_t bind_of[] = {gpu::kBindFrame, gpu::kBindLayers, gpu::kBindParts, gpu::kBindLut,
                              gpu::kBindRegions, gpu::kBindSlabs, gpu::kBindCells, gpu::kBindLayerRegions};
  constexpr uint32_t kSetBuffers = 8;
  std::vector<VkDescriptorBufferInfo> bis(kSetBuffers + nchunks);
  std::vector<VkWriteDescriptorSet> writes;
  for (uint32_t b = 0; b < kSetBuffers; ++b) {
    bis[b] = {bufs[b]->buf, 0, VK_WHOLE_SIZE};
    writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = bind_of[b],
                      .descriptorCount = 1,
                      .descriptorType = b == 0 ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                      .pBufferInfo = &bis[b]});
  }
  VkDescriptorImageInfo ii{sampler, font.view, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL};
  writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = gpu::kBindFont,
                    .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, .pImageInfo = &ii});
  chunk_sets.resize(nchunks);
  std::vector<VkDescriptorSetLayout> cls(nchunks, codes_layout.get());
  VkDescriptorSetAllocateInfo chunk_ai{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = desc_pool,
                                  .descriptorSetCount = nchunks, .pSetLayouts = cls.data()};
  VK_CHECK(vkAllocateDescriptorSets(dev, &chunk_ai, chunk_sets.data()));
  for (uint32_t k = 0; k < nchunks; ++k) {
    bis[kSetBuffers + k] = {chunk_bufs[k].buf, 0, VK_WHOLE_SIZE};
    writes.push_back({.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = chunk_sets[k],
                      .dstBinding = gpu::kBindCodes, .descriptorCount = 1,
                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bis[kSetBuffers + k]});
  }
  vkUpdateDescriptorSets(dev, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  create_targets();
  create_pipelines();

  make_command_buffer(ctx, cmd_pool, cmd, fence);
}

void Renderer::Impl::create_targets() {
  const uint32_t w = static_cast<uint32_t>(opts.width), h = static_cast<uint32_t>(opts.height);
  const VkImageUsageFlags att = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
  color = make_image(ctx, w, h, kColorFormat, att | VK_IMAGE_USAGE_TRANSFER_SRC_BIT, VK_SAMPLE_COUNT_1_BIT,
                     VK_IMAGE_ASPECT_COLOR_BIT);
  id = make_image(ctx, w, h, kIdFormat, att | VK_IMAGE_USAGE_TRANSFER_SRC_BIT, VK_SAMPLE_COUNT_1_BIT,
                  VK_IMAGE_ASPECT_COLOR_BIT);
  if (samples != VK_SAMPLE_COUNT_1_BIT) {
    color_ms = make_image(ctx, w, h, kColorFormat, att | VK_IMAGE_USAGE_TRANSIENT_ATTACHMENT_BIT, samples,
                          VK_IMAGE_ASPECT_COLOR_BIT);
    id_ms = make_image(ctx, w, h, kIdFormat, att | VK_IMAGE_USAGE_TRANSIENT_ATTACHMENT_BIT, samples,
                       VK_IMAGE_ASPECT_COLOR_BIT);
  }
  depth = make_image(ctx, w, h, kDepthFormat, VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, samples,
                     VK_IMAGE_ASPECT_DEPTH_BIT);
  probe_rb = make_buffer(ctx, 16, VK_BUFFER_USAGE_TRANSFER_DST_BIT, kHost, true);
  color_rb = make_buffer(ctx, VkDeviceSize(w) * h * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         kHost | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, true);
  id_rb = make_buffer(ctx, VkDeviceSize(w) * h * 8, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                      kHost | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, true);
}

UniquePipeline Renderer::Impl::make_pipeline(const PipelineDesc& d) {
  VkDevice dev = ctx.device();
  UniqueShaderModule vs = make_module(dev, d.vs), fs = make_module(dev, d.fs);
  VkPipelineShaderStageCreateInfo stages[2] = {
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_VERTEX_BIT,
       .module = vs, .pName = "main"},
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
       .module = fs, .pName = "main"}};
  VkVertexInputBindingDescription vb{.binding = 0, .stride = d.stride, .inputRate = VK_VERTEX_INPUT_RATE_VERTEX};
  VkPipelineVertexInputStateCreateInfo vi{.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO,
                                          .vertexBindingDescriptionCount = d.stride ? 1u : 0u,
                                          .pVertexBindingDescriptions = &vb,
                                          .vertexAttributeDescriptionCount = static_cast<uint32_t>(d.attrs.size()),
                                          .pVertexAttributeDescriptions = d.attrs.data()};
  VkPipelineInputAssemblyStateCreateInfo ia{.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
                                            .topology = d.topology};
  VkPipelineViewportStateCreateInfo vp{.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
                                       .viewportCount = 1, .scissorCount = 1};
  VkPipelineRasterizationStateCreateInfo rs{.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
                                            .polygonMode = VK_POLYGON_MODE_FILL, .cullMode = d.cull,
                                            .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE, .lineWidth = 1.0f};
  VkPipelineMultisampleStateCreateInfo ms{.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
                                          .rasterizationSamples = samples};
  VkPipelineDepthStencilStateCreateInfo ds{.sType = VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO,
                                           .depthTestEnable = d.depth_test, .depthWriteEnable = d.depth_write,
                                           .depthCompareOp = VK_COMPARE_OP_LESS};
  const VkColorComponentFlags rgba = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                                     VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
  VkPipelineColorBlendAttachmentState att[2] = {
      {.blendEnable = d.blend, .srcColorBlendFactor = VK_BLEND_FACTOR_SRC_ALPHA,
       .dstColorBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA, .colorBlendOp = VK_BLEND_OP_ADD,
       .srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE, .dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA,
       .alphaBlendOp = VK_BLEND_OP_ADD, .colorWriteMask = rgba},
      {.blendEnable = VK_FALSE,
       .colorWriteMask = d.write_id ? VkColorComponentFlags(VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT) : 0u}};
  VkPipelineColorBlendStateCreateInfo cb{.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
                                         .attachmentCount = 2, .pAttachments = att};
  VkDynamicState dyn[] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo dy{.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO,
                                      .dynamicStateCount = 2, .pDynamicStates = dyn};
  VkFormat formats[2] = {kColorFormat, kIdFormat};
  VkPipelineRenderingCreateInfo ri{.sType = VK_STRUCTURE_TYPE_PIPELINE_RENDERING_CREATE_INFO,
                                   .colorAttachmentCount = 2, .pColorAttachmentFormats = formats,
                                   .depthAttachmentFormat = kDepthFormat};
  VkGraphicsPipelineCreateInfo pci{.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO, .pNext = &ri,
                                   .stageCount = 2, .pStages = stages, .pVertexInputState = &vi,
                                   .pInputAssemblyState = &ia, .pViewportState = &vp, .pRasterizationState = &rs,
                                   .pMultisampleState = &ms, .pDepthStencilState = &ds, .pColorBlendState = &cb,
                                   .pDynamicState = &dy, .layout = pipe_layout};
  UniquePipeline p;
  VK_CHECK(vkCreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &pci, nullptr, p.out(dev)));
  return p;
}

void Renderer::Impl::create_pipelines() {
  VkDevice dev = ctx.device();
  VkDescriptorSetLayout sl[2] = {set_layout, codes_layout};
  VkPipelineLayoutCreateInfo li{.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 2,
                                .pSetLayouts = sl};
  VK_CHECK(vkCreatePipelineLayout(dev, &li, nullptr, pipe_layout.out(dev)));
  bg_pipe = make_pipeline({.vs = "background.vert", .fs = "background.frag", .depth_test = false,
                           .depth_write = false, .write_id = false, .cull = VK_CULL_MODE_NONE});
  slab_pipe = make_pipeline({.vs = "slab.vert", .fs = "slab.frag"});
  cell_pipe = make_pipeline({.vs = "cell.vert", .fs = "cell.frag"});
  line_pipe = make_pipeline({.vs = "line.vert", .fs = "line.frag", .topology = VK_PRIMITIVE_TOPOLOGY_LINE_LIST,
                             .attrs = {{0, 0, VK_FORMAT_R32G32B32_SFLOAT, 0}, {1, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 12}},
                             .stride = sizeof(gpu::LineVertex), .blend = true, .depth_write = false,
                             .write_id = false, .cull = VK_CULL_MODE_NONE});
  overlay_line_pipe = make_pipeline({.vs = "line.vert", .fs = "line.frag", .topology = VK_PRIMITIVE_TOPOLOGY_LINE_LIST,
                             .attrs = {{0, 0, VK_FORMAT_R32G32B32_SFLOAT, 0}, {1, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 12}},
                             .stride = sizeof(gpu::LineVertex), .blend = true, .depth_test = false,
                             .depth_write = false, .write_id = false, .cull = VK_CULL_MODE_NONE});
  text_pipe = make_pipeline({.vs = "text.vert", .fs = "text.frag",
                             .attrs = {{0, 0, VK_FORMAT_R32G32_SFLOAT, 0}, {1, 0, VK_FORMAT_R32G32_SFLOAT, 8},
                                       {2, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 16},
                                       {3, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 32}},
                             .stride = sizeof(gpu::TextVertex), .blend = true, .depth_test = false,
                             .depth_write = false, .write_id = false, .cull = VK_CULL_MODE_NONE});
}

void Renderer::Impl::ensure_host_buffer(GpuBuffer& b, VkDeviceSize bytes, VkBufferUsageFlags usage) {
  if (b.buf.get() != VK_NULL_HANDLE && b.size >= bytes) return;
  b = make_buffer(ctx, std::max<VkDeviceSize>(bytes * 3 / 2, 4096), usage, kHost, true);
}

// ------------------------------------------------------------------------------------------------
// Text and overlay quads.
void Renderer::Impl::add_text(float x, float baseline, float px, const std::string& s, glm::vec4 c) {
  const FontAtlas& fa = font_atlas();
  const float k = px / fa.em_px;
  for (char ch : s) {
    const FontGlyph& g = fa.glyph(ch);
    float w = float(g.x1 - g.x0) * k, h = float(g.y1 - g.y0) * k;
    if (w > 0 && h > 0) {
      float x0 = x + float(g.xoff) * k, y0 = baseline + float(g.yoff) * k;
      float u0 = float(g.x0) / float(fa.width), v0 = float(g.y0) / float(fa.height);
      float u1 = float(g.x1) / float(fa.width), v1 = float(g.y1) / float(fa.height);
      gpu::TextVertex q[4] = {{{x0, y0}, {u0, v0}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}},
                              {{x0 + w, y0}, {u1, v0}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}},
                              {{x0 + w, y0 + h}, {u1, v1}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}},
                              {{x0, y0 + h}, {u0, v1}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}}};
      for (int i : {0, 1, 2, 0, 2, 3}) text.push_back(q[i]);
    }
    x += g.advance * k;
  }
}

void Renderer::Impl::add_panel(float x, float y, float w, float h, float r, glm::vec4 c) {
  gpu::TextVertex q[4] = {{{x, y}, {0, 0}, {c.r, c.g, c.b, c.a}, {1, w, h, r}},
                          {{x + w, y}, {1, 0}, {c.r, c.g, c.b, c.a}, {1, w, h, r}},
                          {{x + w, y + h}, {1, 1}, {c.r, c.g, c.b, c.a}, {1, w, h, r}},
                          {{x, y + h}, {0, 1}, {c.r, c.g, c.b, c.a}, {1, w, h, r}}};
  for (int i : {0, 1, 2, 0, 2, 3}) text.push_back(q[i]);
}

void Renderer::Impl::add_bar(float x, float y, float w, float h, bool diverging) {
  float m = diverging ? 3.0f : 2.0f;
  gpu::TextVertex q[4] = {{{x, y}, {0, 0}, {1, 1, 1, 1}, {m, 0, 0, 0}},
                          {{x + w, y}, {1, 0}, {1, 1, 1, 1}, {m, 0, 0, 0}},
                          {{x + w, y + h}, {1, 1}, {1, 1, 1, 1}, {m, 0, 0, 0}},
                          {{x, y + h}, {0, 1}, {1, 1, 1, 1}, {m, 0, 0, 0}}};
  for (int i : {0, 1, 2, 0, 2, 3}) text.push_back(q[i]);
}

namespace {
std::string dims_text(const viz::LayerVolume& v) {
  const Shape& s = v.tensor.shape;
  std::string out;
  for (size_t i = (s.size() >= 2 && s[0] == 1) ? 1 : 0; i < s.size(); ++i) out += (out.empty() ? "" : "x") + std::to_string(s[i]);
  return out.empty() ? "scalar" : out;
}
std::string ellipsize(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }
// Exported tensor names are often paths ("/features/features.1/conv/conv.0/Conv_output_0"): keep
// the block and the last parts, which say where in the model and what op, and drop "_output_0".
std::string short_name(std::string s) {
  const std::string suffix = "_output_0";
  if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.resize(s.size() - suffix.size());
  std::vector<std::string> parts;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find('/', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) parts.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  // The first part is usually a container repeated in the second ("features/features.4").
  if (parts.size() >= 3) parts.erase(parts.begin());
  std::string out;
  if (parts.size() <= 3) {
    for (auto& p : parts) out += (out.empty() ? "" : "/") + p;
  } else {
    out = parts.front() + "/../" + parts[parts.size() - 2] + "/" + parts.back();
  }
  return out.empty() ? s : out;
}
}  // namespace

void Renderer::Impl::build_labels(const glm::mat4& vp, const viz::Camera& cam, const std::vector<int>& order) {
  const float W = float(opts.width), H = float(opts.height);
  const float ui = std::clamp(H / 1000.0f, 0.6f, 4.0f);
  const FontAtlas& fa = font_atlas();
  // Side panels drawn over the frame (RenderOptions::inset_*): 2D overlays live between them.
  const float L0 = float(std::max(opts.inset_left, 0)), R0 = W - float(std::max(opts.inset_right, 0));
  if (opts.labels) {
    const float p1 = 17.0f * ui, p2 = 14.0f * ui, pad = 7.0f * ui;
    std::vector<glm::vec4> placed;  // x0, y0, x1, y1
    // Reserve the title, legend and selection panels so labels never cover them.
    if (!opts.title.empty()) placed.emplace_back(L0, 0.0f, L0 + 560.0f * ui, 90.0f * ui);
    if (opts.legend) placed.emplace_back(L0, H - 260.0f * ui, L0 + 360.0f * ui, H);
    if (selection.layer >= 0) placed.emplace_back(R0 - 520.0f * ui, 0.0f, R0, 100.0f * ui);
    for (int li : order) {
      const auto& v = scene.layout.layers[static_cast<size_t>(li)];
      glm::vec3 anchor(v.center().x, v.max().y + 0.04f * v.size.y + 0.5f, v.center().z);
      auto p = viz::project_to_pixel(vp, anchor, opts.width, opts.height);
      if (!p) continue;
      if (cam.cut && v.max().x < cam.cut_x) continue;  // cut away
      std::string l1 = ellipsize(short_name(v.tensor.name), 34);
      std::string l2 = v.tensor.op + "  " + dims_text(v);
      float w = std::max(fa.text_width(l1, p1), fa.text_width(l2, p2)) + 2 * pad;
      float h = p1 + p2 + 2.2f * pad;
      float x0 = p->x - 0.5f * w, y0 = p->y - h - 6.0f * ui;
      if (p->x < L0 || p->x > R0 || y0 + h < 0 || y0 > H) continue;
      x0 = std::clamp(x0, L0 + 4.0f, std::max(L0 + 4.0f, R0 - w - 4.0f));  // keep labels of edge volumes readable
      bool overlap = false;
      for (const auto& r : placed)
        if (x0 < r.z + 14 * ui && x0 + w + 14 * ui > r.x && y0 < r.w + 10 * ui && y0 + h + 10 * ui > r.y) {
          overlap = true;  // generous spacing: fewer, readable labels rather than a wall of text
          break;
        }
      if (overlap) continue;
      placed.emplace_back(x0, y0, x0 + w, y0 + h);
      add_panel(x0, y0, w, h, 6.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.78f));
      add_panel(x0, y0 + h - 2.0f * ui, w, 2.0f * ui, 1.0f * ui, glm::vec4(0.35f, 0.75f, 1.0f, 0.55f));
      add_text(x0 + pad, y0 + pad + 0.8f * p1, p1, l1, glm::vec4(0.95f, 0.96f, 0.98f, 1.0f));
      add_text(x0 + pad, y0 + pad + p1 + 0.9f * p2 + 0.2f * pad, p2, l2, glm::vec4(0.62f, 0.70f, 0.80f, 1.0f));
      // A small tick from the label down to the volume.
      add_panel(p->x - 0.75f * ui, y0 + h, 1.5f * ui, 6.0f * ui, 0.5f, glm::vec4(0.35f, 0.75f, 1.0f, 0.55f));
    }
  }
  if (!opts.title.empty()) {
    float p = 26.0f * ui;
    add_text(L0 + 24.0f * ui, 24.0f * ui + p, p, opts.title, glm::vec4(0.96f, 0.97f, 1.0f, 1.0f));
    std::string sub = !opts.subtitle.empty() ? opts.subtitle
                                             : std::to_string(scene.layout.layers.size()) + " layers, " +
                                                   std::to_string(scene.neurons()) + " activations";
    add_text(L0 + 24.0f * ui, 24.0f * ui + p + 22.0f * ui, 15.0f * ui, sub, glm::vec4(0.6f, 0.68f, 0.78f, 1.0f));
  }
  if (opts.legend) {
    const float p = 13.0f * ui, bw = 200.0f * ui, bh = 10.0f * ui, pad = 12.0f * ui;
    const float pw = bw + 2 * pad + 90.0f * ui, ph = 4 * pad + 2 * (bh + 2.2f * p) + p + 1.8f * p;
    float x = L0 + 20.0f * ui, y = H - ph - 20.0f * ui;
    add_panel(x, y, pw, ph, 8.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.8f));
    float cy = y + pad;
    glm::vec4 tc(0.78f, 0.82f, 0.88f, 1.0f), dim(0.55f, 0.6f, 0.68f, 1.0f);
    add_text(x + pad, cy + p, p, opts.value_name + " >= 0", tc);
    cy += 1.3f * p;
    add_bar(x + pad, cy, bw, bh, false);
    add_text(x + pad, cy + bh + 1.1f * p, 0.9f * p, "0", dim);
    add_text(x + pad + bw - fa.text_width("p99", 0.9f * p), cy + bh + 1.1f * p, 0.9f * p, "p99", dim);
    cy += bh + 1.6f * p + pad * 0.5f;
    add_text(x + pad, cy + p, p, opts.value_name == "activation" ? std::string("signed") : "signed " + opts.value_name, tc);
    cy += 1.3f * p;
    add_bar(x + pad, cy, bw, bh, true);
    add_text(x + pad, cy + bh + 1.1f * p, 0.9f * p, "-p99", dim);
    add_text(x + pad + 0.5f * bw - fa.text_width("0", 0.9f * p) * 0.5f, cy + bh + 1.1f * p, 0.9f * p, "0", dim);
    add_text(x + pad + bw - fa.text_width("+p99", 0.9f * p), cy + bh + 1.1f * p, 0.9f * p, "+p99", dim);
    // Special values.
    float sx = x + pad + bw + 16.0f * ui, sy = y + pad + 1.3f * p;
    glm::vec3 z = viz::zero_color(viz::ColorMapKind::Sequential), nf = viz::non_finite_color();
    add_panel(sx, sy, bh * 1.4f, bh * 1.4f, 2.0f * ui, glm::vec4(z, 1.0f));
    add_text(sx + bh * 1.4f + 6.0f * ui, sy + bh * 1.3f, 0.9f * p, "= 0", dim);
    sy += 2.6f * p;
    add_panel(sx, sy, bh * 1.4f, bh * 1.4f, 2.0f * ui, glm::vec4(nf, 1.0f));
    add_text(sx + bh * 1.4f + 6.0f * ui, sy + bh * 1.3f, 0.9f * p, "NaN/Inf", dim);
    // Selection highlight colours (the tints of shaders/shared/common.glsl apply_highlight).
    {
      float ky = cy + bh + 1.6f * p + pad * 0.5f + 0.2f * p, kx = x + pad, s = bh * 1.4f;
      const std::pair<glm::vec3, const char*> keys[] = {{glm::vec3(1.0f), "selected"},
                                                        {glm::vec3(0.30f, 0.95f, 1.0f), "receptive field"},
                                                        {glm::vec3(1.0f, 0.55f, 0.10f), "fan-out"}};
      for (const auto& [col, name] : keys) {
        add_panel(kx, ky, s, s, 2.0f * ui, glm::vec4(col, 1.0f));
        add_text(kx + s + 5.0f * ui, ky + s * 0.95f, 0.9f * p, name, dim);
        kx += s + 5.0f * ui + fa.text_width(name, 0.9f * p) + 12.0f * ui;
      }
    }
    add_text(x + pad, y + ph - pad * 0.6f, 0.85f * p, "per-layer robust scale (p1-p99)", dim);
  }
  if (opts.labels && selection.layer >= 0 && selection.layer < static_cast<int>(scene.layout.layers.size())) {
    const auto& v = scene.layout.layers[static_cast<size_t>(selection.layer)];
    auto c = viz::cell_of(v.dims, selection.flat);
    float val = scene.value(selection.layer, selection.flat);
    std::string l1 = ellipsize(short_name(v.tensor.name), 40) + " [" + std::to_string(c.c) + ", " + std::to_string(c.y) + ", " +
                     std::to_string(c.x) + "]";
    char buf[64];
    std::snprintf(buf, sizeof buf, "value %.6g", double(val));
    std::string l2 = buf;
    std::string l3;  // the fan-out, when there is one
    if (!selection.fanout_count.empty()) {
      const auto& [fl, fn] = selection.fanout_count.front();
      l3 = "fan-out " + (fn >= 0 ? std::to_string(fn) : std::string("<box>")) + " in " +
           ellipsize(short_name(scene.layout.layers[static_cast<size_t>(fl)].tensor.name), 28);
      if (selection.fanout_count.size() > 1) l3 += " +" + std::to_string(selection.fanout_count.size() - 1) + " layers";
    }
    const float p = 16.0f * ui, pad = 10.0f * ui;
    float w = std::max({fa.text_width(l1, p), fa.text_width(l2, p), fa.text_width(l3, p)}) + 2 * pad,
          h = (l3.empty() ? 2.4f : 3.6f) * p + 2 * pad;
    float x = R0 - w - 20.0f * ui, y = 20.0f * ui;
    add_panel(x, y, w, h, 8.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.85f));
    add_panel(x, y, 3.0f * ui, h, 1.5f * ui, glm::vec4(0.30f, 0.95f, 1.0f, 0.9f));
    add_text(x + pad, y + pad + p, p, l1, glm::vec4(0.95f, 0.97f, 1.0f, 1.0f));
    add_text(x + pad, y + pad + 2.2f * p, p, l2, glm::vec4(0.30f, 0.95f, 1.0f, 1.0f));
    if (!l3.empty()) add_text(x + pad, y + pad + 3.4f * p, p, l3, glm::vec4(1.0f, 0.62f, 0.20f, 1.0f));
  }
  (void)cam;
}

void Renderer::Impl::build_lines(const std::vector<uint8_t>& visible, const viz::Camera& cam) {
  const auto& L = scene.layout.layers;
  overlay_first = SIZE_MAX;  // no overlay unless the fan-out adds some
  auto push = [&](glm::vec3 a, glm::vec3 b, glm::vec4 c) {
    lines.push_back({{a.x, a.y, a.z}, {c.r, c.g, c.b, c.a}});
    lines.push_back({{b.x, b.y, b.z}, {c.r, c.g, c.b, c.a}});
  };
  if (opts.connections) {
    const glm::vec4 col(0.45f, 0.60f, 0.85f, 0.30f);
    for (size_t i = 0; i < L.size(); ++i)
      for (int s : L[i].tensor.inputs) {
        if (s < 0 || !(visible[i] || visible[static_cast<size_t>(s)])) continue;
        const auto& a = L[static_cast<size_t>(s)];
        const auto& b = L[i];
        // A frustum from the source's back face to the destination's front face (4 edges + axis).
        for (int k = 0; k < 4; ++k) {
          float ya = (k & 1) ? a.max().y : a.origin.y, za = (k & 2) ? a.max().z : a.origin.z;
          float yb = (k & 1) ? b.max().y : b.origin.y, zb = (k & 2) ? b.max().z : b.origin.z;
          push({a.max().x, ya, za}, {b.origin.x, yb, zb}, col);
        }
        push({a.max().x, a.center().y, a.center().z}, {b.origin.x, b.center().y, b.center().z},
             glm::vec4(0.55f, 0.70f, 0.95f, 0.45f));
      }
  }
  if (opts.selection_lines && selection.layer >= 0) {
    // The receptive-field cone: from each highlighted region to the regions feeding it.
    std::vector<const viz::VolumeRegion*> reg(L.size(), nullptr);
    viz::VolumeRegion self;
    auto c = viz::cell_of(L[static_cast<size_t>(selection.layer)].dims, selection.flat);
    self.c0 = c.c; self.c1 = c.c + 1; self.y0 = c.y; self.y1 = c.y + 1; self.x0 = c.x; self.x1 = c.x + 1;
    for (const auto& [li, r] : selection.regions) reg[static_cast<size_t>(li)] = &r;
    reg[static_cast<size_t>(selection.layer)] = &self;
    auto box = [&](size_t li, const viz::VolumeRegion& r, bool front, glm::vec3 corners[4]) {
      const auto& v = L[li];
      int64_t c0 = r.c0, c1 = r.c1, y0 = r.y0, y1 = r.y1, x0 = r.x0, x1 = r.x1;
      if (r.flat) {  // grid: bounding rows of the flat range
        c0 = 0; c1 = 1; y0 = r.lo / v.dims.W; y1 = (r.hi - 1) / v.dims.W + 1; x0 = 0; x1 = v.dims.W;
        if (y1 - y0 == 1) { x0 = r.lo % v.dims.W; x1 = (r.hi - 1) % v.dims.W + 1; }
      }
      float x = front ? v.origin.x + float(c0) * v.pitch : v.origin.x + float(c1 - 1) * v.pitch + v.thickness;
      float ytop = v.max().y - float(y0) * v.cell, ybot = v.max().y - float(y1) * v.cell;
      float zl = v.origin.z + float(x0) * v.cell_z, zr = v.origin.z + float(x1) * v.cell_z;
      corners[0] = {x, ytop, zl}; corners[1] = {x, ytop, zr}; corners[2] = {x, ybot, zl}; corners[3] = {x, ybot, zr};
    };
    const glm::vec4 col(0.30f, 0.95f, 1.0f, 0.75f);
    // Wireframe of each highlighted region (a 3D box through the slabs it covers), so the
    // receptive field reads from any angle, not only where it touches a visible face.
    auto wire = [&](size_t li, const viz::VolumeRegion& r, glm::vec4 c) {
      glm::vec3 f[4], b[4];
      box(li, r, true, f);
      box(li, r, false, b);
      const auto& v = L[li];
      const float e = 0.15f * v.cell;  // a little outside the cells so the lines are not hidden
      for (glm::vec3* q : {f, b})
        for (int k = 0; k < 4; ++k) {
          q[k].y += (k < 2 ? e : -e);
          q[k].z += (k % 2 ? e : -e);
        }
      for (int k = 0; k < 4; ++k) { f[k].x -= e; b[k].x += e; }
      const int ring[4] = {0, 1, 3, 2};
      for (int k = 0; k < 4; ++k) {
        push(f[ring[k]], f[ring[(k + 1) % 4]], c);
        push(b[ring[k]], b[ring[(k + 1) % 4]], c);
        push(f[k], b[k], c);
      }
    };
    for (size_t i = 0; i < L.size(); ++i)
      if (reg[i]) wire(i, *reg[i], static_cast<int>(i) == selection.layer ? glm::vec4(1.0f, 1.0f, 1.0f, 0.95f)
                                                                          : glm::vec4(0.30f, 0.95f, 1.0f, 0.9f));
    for (size_t i = 0; i < L.size(); ++i) {
      if (!reg[i]) continue;
      for (int s : L[i].tensor.inputs) {
        if (s < 0 || !reg[static_cast<size_t>(s)]) continue;
        glm::vec3 a[4], b[4];
        box(static_cast<size_t>(s), *reg[static_cast<size_t>(s)], false, a);
        box(i, *reg[i], true, b);
        for (int k = 0; k < 4; ++k) push(a[k], b[k], col);
      }
    }
    // Fan-out: an orange wireframe per fan-out region and thin lines from the selected cell to each
    // fan-out cell (at most kMaxFanOutLines per layer), else to the front corners of the layer's
    // fan-out bounding box. A few hundred vertices at most, whatever the layer size.
    const glm::vec4 fo_col(1.0f, 0.55f, 0.10f, 0.9f), fo_line(1.0f, 0.62f, 0.20f, 0.7f);
    const glm::vec3 from = viz::neuron_center(L[static_cast<size_t>(selection.layer)], c.c, c.y, c.x);
    std::map<int, viz::VolumeRegion> fo_box;  // per layer, the bounding box of its fan-out regions
    for (const auto& [li, r] : selection.fanout) {
      if (li < 0 || static_cast<size_t>(li) >= L.size()) continue;
      viz::VolumeRegion b = r;
      if (r.flat) {  // grid rows spanned by the flat range
        const auto& d = L[static_cast<size_t>(li)].dims;
        b.flat = false; b.c0 = 0; b.c1 = 1; b.y0 = r.lo / d.W; b.y1 = (r.hi - 1) / d.W + 1; b.x0 = 0; b.x1 = d.W;
        if (b.y1 - b.y0 == 1) { b.x0 = r.lo % d.W; b.x1 = (r.hi - 1) % d.W + 1; }
      }
      auto [it, fresh] = fo_box.emplace(li, b);
      if (!fresh) {
        auto& m = it->second;
        m.c0 = std::min(m.c0, b.c0); m.c1 = std::max(m.c1, b.c1); m.y0 = std::min(m.y0, b.y0);
        m.y1 = std::max(m.y1, b.y1); m.x0 = std::min(m.x0, b.x0); m.x1 = std::max(m.x1, b.x1);
      }
    }
    overlay_first = lines.size();
    for (const auto& [li, b] : fo_box) wire(static_cast<size_t>(li), b, fo_col);
    std::set<int> with_cells;
    for (const auto& [li, f] : selection.fanout_cells) {
      if (li < 0 || static_cast<size_t>(li) >= L.size()) continue;
      const auto& v = L[static_cast<size_t>(li)];
      auto fc = viz::cell_of(v.dims, f);
      glm::vec3 to = viz::neuron_center(v, fc.c, fc.y, fc.x);
      to.x = v.origin.x + float(fc.c) * v.pitch;  // the cell's front face, where the line is seen to land
      push(from, to, fo_line);
      with_cells.insert(li);
    }
    for (const auto& [li, b] : fo_box) {
      if (with_cells.count(li)) continue;
      glm::vec3 q[4];
      box(static_cast<size_t>(li), b, true, q);
      for (const auto& p : q) push(from, p, fo_line);
    }
  }
}

// ------------------------------------------------------------------------------------------------
FrameStats Renderer::Impl::render(const viz::Camera& cam, const PresentTarget* present) {
  FrameStats st;
  auto t0 = Clock::now();
  const auto& L = scene.layout.layers;
  const viz::FrameView fv = viz::frame_view(cam, opts.width, opts.height, radius);
  const glm::mat4& vp = fv.view_proj;
  const glm::vec3 eye = fv.eye;

  // Cull, then cells (near, large on screen, within budget) or slabs per layer: viz::plan_frame.
  viz::plan_frame(scene.layout, fv, viz::LodOptions{.cell_budget = opts.cell_budget, .cell_min_px = opts.cell_min_px},
                  plan);
  slab_list.clear();
  cell_list.clear();
  for (const viz::DrawnCell& c : plan.cells)
    cell_list.emplace_back(part_of(c.layer, c.c), static_cast<uint32_t>(c.flat));
  st.cell_layers = static_cast<uint32_t>(plan.cell_layers);
  // Everything else: one box per layer, nearest first so early depth tests reject hidden pixels.
  for (int i : plan.order)
    if (!plan.as_cells[static_cast<size_t>(i)])
      for (uint32_t p = layer_parts[static_cast<size_t>(i)].first; p < layer_parts[static_cast<size_t>(i)].second; ++p)
        slab_list.emplace_back(p, 0u);
  // One draw per code chunk: group instances by chunk (stable, so nearest-first holds within one).
  auto by_chunk = [&](const glm::uvec2& a, const glm::uvec2& b) { return parts[a.x].chunk < parts[b.x].chunk; };
  std::stable_sort(slab_list.begin(), slab_list.end(), by_chunk);
  std::stable_sort(cell_list.begin(), cell_list.end(), by_chunk);
  lines.clear();
  text.clear();
  build_lines(plan.visible, cam);
  build_labels(vp, cam, plan.order);
  st.slab_instances = static_cast<uint32_t>(slab_list.size());
  st.cell_instances = static_cast<uint32_t>(cell_list.size());

  // Upload per-frame data.
  gpu::GpuFrame fr{};
  fr.view_proj = vp;
  fr.eye = glm::vec4(eye, 1.0f);
  fr.light_dir = glm::vec4(glm::normalize(glm::vec3(-0.45f, 0.8f, 0.4f)), 0.0f);
  fr.viewport = glm::vec4(float(opts.width), float(opts.height), 1.0f / float(opts.width), 1.0f / float(opts.height));
  // Regions sorted by layer, with each layer's range, so a fragment tests only its own layer's.
  const viz::HighlightList hl = viz::highlight_regions(selection, L.size(), gpu::kMaxRegions);
  std::vector<gpu::GpuRegion> regs;
  regs.reserve(hl.regions.size());
  for (const viz::HighlightRegion& h : hl.regions) {
    const viz::VolumeRegion& r = h.region;
    // GpuRegion.lo.w: 0 = receptive field, 1 = fan-out, 2 = contributor.
    const uint32_t kind = h.kind == viz::Highlight::FanOut ? 1u : h.kind == viz::Highlight::Contributor ? 2u : 0u;
    gpu::GpuRegion g{};
    g.head = glm::uvec4(static_cast<uint32_t>(h.layer), r.flat ? 1u : 0u, static_cast<uint32_t>(r.lo), static_cast<uint32_t>(r.hi));
    g.lo = glm::uvec4(static_cast<uint32_t>(r.c0), static_cast<uint32_t>(r.y0), static_cast<uint32_t>(r.x0), kind);
    g.hi = glm::uvec4(static_cast<uint32_t>(r.c1), static_cast<uint32_t>(r.y1), static_cast<uint32_t>(r.x1), 0u);
    regs.push_back(g);
  }
  std::vector<glm::uvec2> ranges(L.size());
  for (size_t i = 0; i < L.size(); ++i) ranges[i] = glm::uvec2(hl.ranges[i].first, hl.ranges[i].second);
  fr.flags = glm::uvec4((opts.lighting ? gpu::kFrameLighting : 0u) | (opts.lod_max ? gpu::kFrameLodMax : 0u) |
                            (opts.grid_lines ? gpu::kFrameGridLines : 0u),
                        static_cast<uint32_t>(regs.size()),
                        selection.layer >= 0 ? static_cast<uint32_t>(selection.layer + 1) : 0u,
                        static_cast<uint32_t>(selection.flat));
  fr.bg_top = glm::vec4(0.075f, 0.085f, 0.115f, 1.0f);
  fr.bg_bottom = glm::vec4(0.020f, 0.022f, 0.030f, 1.0f);
  fr.cell_scale = glm::vec4(0.86f, 1.0f, cam.cut ? cam.cut_x : 0.0f, cam.cut ? 1.0f : 0.0f);
  std::memcpy(frame_buf.map, &fr, sizeof fr);
  if (!regs.empty()) {
    std::memcpy(regions_buf.map, regs.data(), regs.size() * sizeof(gpu::GpuRegion));
    std::memcpy(layer_regions_buf.map, ranges.data(), ranges.size() * sizeof(glm::uvec2));
  }
  if (!slab_list.empty()) std::memcpy(slabs_buf.map, slab_list.data(), slab_list.size() * sizeof(glm::uvec2));
  if (!cell_list.empty()) std::memcpy(cells_buf.map, cell_list.data(), cell_list.size() * sizeof(glm::uvec2));
  if (!lines.empty()) {
    ensure_host_buffer(lines_buf, lines.size() * sizeof(gpu::LineVertex), VK_BUFFER_USAGE_VERTEX_BUFFER_BIT);
    std::memcpy(lines_buf.map, lines.data(), lines.size() * sizeof(gpu::LineVertex));
  }
  if (!text.empty()) {
    ensure_host_buffer(text_buf, text.size() * sizeof(gpu::TextVertex), VK_BUFFER_USAGE_VERTEX_BUFFER_BIT);
    std::memcpy(text_buf.map, text.data(), text.size() * sizeof(gpu::TextVertex));
  }
  st.cpu_ms = ms_since(t0);

  // Record.
  auto t1 = Clock::now();
  VkDevice dev = ctx.device();
  VK_CHECK(vkResetCommandBuffer(cmd, 0));
  VkCommandBufferBeginInfo bi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                              .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
  const bool ms = samples != VK_SAMPLE_COUNT_1_BIT;
  const VkPipelineStageFlags2 col_stage = VK_PIPELINE_STAGE_2_COLOR_ATTACHMENT_OUTPUT_BIT;
  const VkAccessFlags2 col_access = VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT | VK_ACCESS_2_COLOR_ATTACHMENT_READ_BIT;
  std::vector<VkImageMemoryBarrier2> pre;
  // The previous frame's copies/blits read color/id: wait for them before overwriting (write-after-read).
  for (VkImage img : {color.img.get(), id.img.get()})
    pre.push_back(image_barrier(img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                                VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, VK_PIPELINE_STAGE_2_ALL_TRANSFER_BIT, 0,
                                col_stage, col_access));
  if (ms)
    for (VkImage img : {color_ms.img.get(), id_ms.img.get()})
      pre.push_back(image_barrier(img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                                  VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, col_stage, 0, col_stage, col_access));
  pre.push_back(image_barrier(depth.img, VK_IMAGE_ASPECT_DEPTH_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                              VK_IMAGE_LAYOUT_DEPTH_ATTACHMENT_OPTIMAL,
                              VK_PIPELINE_STAGE_2_LATE_FRAGMENT_TESTS_BIT, 0,
                              VK_PIPELINE_STAGE_2_EARLY_FRAGMENT_TESTS_BIT | VK_PIPELINE_STAGE_2_LATE_FRAGMENT_TESTS_BIT,
                              VK_ACCESS_2_DEPTH_STENCIL_ATTACHMENT_WRITE_BIT | VK_ACCESS_2_DEPTH_STENCIL_ATTACHMENT_READ_BIT));
  VkDependencyInfo dep{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO,
                       .imageMemoryBarrierCount = static_cast<uint32_t>(pre.size()), .pImageMemoryBarriers = pre.data()};
  vkCmdPipelineBarrier2(cmd, &dep);

  VkClearValue clear_color{.color = {{0, 0, 0, 1}}};
  VkClearValue clear_id{.color = {.uint32 = {0, 0, 0, 0}}};
  VkRenderingAttachmentInfo catt[2] = {
      {.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO, .imageView = ms ? color_ms.view.get() : color.view.get(),
       .imageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       .resolveMode = ms ? VK_RESOLVE_MODE_AVERAGE_BIT : VK_RESOLVE_MODE_NONE,
       .resolveImageView = ms ? color.view.get() : VK_NULL_HANDLE,
       .resolveImageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
       .storeOp = ms ? VK_ATTACHMENT_STORE_OP_DONT_CARE : VK_ATTACHMENT_STORE_OP_STORE, .clearValue = clear_color},
      {.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO, .imageView = ms ? id_ms.view.get() : id.view.get(),
       .imageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       // Integer IDs cannot be averaged: take sample 0.
       .resolveMode = ms ? VK_RESOLVE_MODE_SAMPLE_ZERO_BIT : VK_RESOLVE_MODE_NONE,
       .resolveImageView = ms ? id.view.get() : VK_NULL_HANDLE,
       .resolveImageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
       .storeOp = ms ? VK_ATTACHMENT_STORE_OP_DONT_CARE : VK_ATTACHMENT_STORE_OP_STORE, .clearValue = clear_id}};
  VkRenderingAttachmentInfo datt{.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO, .imageView = depth.view,
                                 .imageLayout = VK_IMAGE_LAYOUT_DEPTH_ATTACHMENT_OPTIMAL,
                                 .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR, .storeOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                 .clearValue = {.depthStencil = {1.0f, 0}}};
  const VkExtent2D ext{static_cast<uint32_t>(opts.width), static_cast<uint32_t>(opts.height)};
  VkRenderingInfo ri{.sType = VK_STRUCTURE_TYPE_RENDERING_INFO, .renderArea = {{0, 0}, ext}, .layerCount = 1,
                     .colorAttachmentCount = 2, .pColorAttachments = catt, .pDepthAttachment = &datt};
  vkCmdBeginRendering(cmd, &ri);
  VkViewport viewport{0, 0, float(opts.width), float(opts.height), 0.0f, 1.0f};
  VkRect2D scissor{{0, 0}, ext};
  vkCmdSetViewport(cmd, 0, 1, &viewport);
  vkCmdSetScissor(cmd, 0, 1, &scissor);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe_layout, 0, 1, &set, 0, nullptr);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, bg_pipe);
  vkCmdDraw(cmd, 3, 1, 0, 0);
  st.draws = 1;
  // Instanced boxes, one draw per chunk run: the chunk's code buffer is bound as set 1.
  auto draw_chunks = [&](VkPipeline pipe, const std::vector<glm::uvec2>& list) {
    if (list.empty()) return;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe);
    for (size_t a = 0; a < list.size();) {
      const uint32_t chunk = parts[list[a].x].chunk;
      size_t b = a;
      while (b < list.size() && parts[list[b].x].chunk == chunk) ++b;
      vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe_layout, gpu::kSetCodes, 1, &chunk_sets[chunk],
                              0, nullptr);
      vkCmdDraw(cmd, 36, static_cast<uint32_t>(b - a), 0, static_cast<uint32_t>(a));
      ++st.draws;
      a = b;
    }
  };
  draw_chunks(cell_pipe, cell_list);
  draw_chunks(slab_pipe, slab_list);
  VkDeviceSize zero = 0;
  if (!lines.empty()) {
    VkBuffer b = lines_buf.buf;
    vkCmdBindVertexBuffers(cmd, 0, 1, &b, &zero);
    const size_t split = std::min(overlay_first, lines.size());
    if (split > 0) {
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, line_pipe);
      vkCmdDraw(cmd, static_cast<uint32_t>(split), 1, 0, 0);
      ++st.draws;
    }
    if (split < lines.size()) {
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, overlay_line_pipe);
      vkCmdDraw(cmd, static_cast<uint32_t>(lines.size() - split), 1, static_cast<uint32_t>(split), 0);
      ++st.draws;
    }
  }
  if (!text.empty()) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, text_pipe);
    VkBuffer b = text_buf.buf;
    vkCmdBindVertexBuffers(cmd, 0, 1, &b, &zero);
    vkCmdDraw(cmd, static_cast<uint32_t>(text.size()), 1, 0, 0);
    ++st.draws;
  }
  vkCmdEndRendering(cmd);
  if (overlay) {
    // The scene's (resolved) colour writes before the overlay's loads and blends.
    VkMemoryBarrier2 ob{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2, .srcStageMask = col_stage,
                        .srcAccessMask = VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT, .dstStageMask = col_stage,
                        .dstAccessMask = col_access};
    VkDependencyInfo od{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &ob};
    vkCmdPipelineBarrier2(cmd, &od);
    overlay(cmd, OverlayTarget{color.img, color.view, kColorFormat, ext});
  }

  const bool readback = opts.readback || readback_once;
  const bool probing = probe_px && probe_px->first >= 0 && probe_px->second >= 0 && probe_px->first < opts.width &&
                       probe_px->second < opts.height;
  if (readback || probing || present) {
    VkImageMemoryBarrier2 post[2];
    int n = 0;
    for (VkImage img : {color.img.get(), id.img.get()})
      post[n++] = image_barrier(img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                                VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, col_stage,
                                VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT, VK_PIPELINE_STAGE_2_ALL_TRANSFER_BIT,
                                VK_ACCESS_2_TRANSFER_READ_BIT);
    VkDependencyInfo d2{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 2,
                        .pImageMemoryBarriers = post};
    vkCmdPipelineBarrier2(cmd, &d2);
  }
  if (readback) {
    VkBufferImageCopy c{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, .imageExtent = {ext.width, ext.height, 1}};
    vkCmdCopyImageToBuffer(cmd, color.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, color_rb.buf, 1, &c);
    vkCmdCopyImageToBuffer(cmd, id.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, id_rb.buf, 1, &c);
  }
  if (probing) {
    VkBufferImageCopy c{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                        .imageOffset = {probe_px->first, probe_px->second, 0}, .imageExtent = {1, 1, 1}};
    vkCmdCopyImageToBuffer(cmd, id.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, probe_rb.buf, 1, &c);
  }
  if (readback || probing) {
    VkMemoryBarrier2 hb{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2, .srcStageMask = VK_PIPELINE_STAGE_2_COPY_BIT,
                        .srcAccessMask = VK_ACCESS_2_TRANSFER_WRITE_BIT, .dstStageMask = VK_PIPELINE_STAGE_2_HOST_BIT,
                        .dstAccessMask = VK_ACCESS_2_HOST_READ_BIT};
    VkDependencyInfo d3{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &hb};
    vkCmdPipelineBarrier2(cmd, &d3);
  }
  if (present) {
    // Blit (not copy): converts RGBA to the swapchain's channel order (BGRA on most surfaces).
    // The acquire semaphore is waited on at the blit stage, which this barrier chains to.
    auto to_dst = image_barrier(present->image, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                                VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_PIPELINE_STAGE_2_BLIT_BIT, 0,
                                VK_PIPELINE_STAGE_2_BLIT_BIT, VK_ACCESS_2_TRANSFER_WRITE_BIT);
    VkDependencyInfo d4{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 1,
                        .pImageMemoryBarriers = &to_dst};
    vkCmdPipelineBarrier2(cmd, &d4);
    VkImageBlit b{.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                  .srcOffsets = {{0, 0, 0}, {opts.width, opts.height, 1}},
                  .dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                  .dstOffsets = {{0, 0, 0}, {opts.width, opts.height, 1}}};
    vkCmdBlitImage(cmd, color.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, present->image,
                   VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &b, VK_FILTER_NEAREST);
    auto to_present = image_barrier(present->image, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                                    VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, VK_PIPELINE_STAGE_2_BLIT_BIT,
                                    VK_ACCESS_2_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_2_NONE, 0);
    VkDependencyInfo d5{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 1,
                        .pImageMemoryBarriers = &to_present};
    vkCmdPipelineBarrier2(cmd, &d5);
  }
  VK_CHECK(vkEndCommandBuffer(cmd));
  VkCommandBufferSubmitInfo cbi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_SUBMIT_INFO, .commandBuffer = cmd};
  VkSemaphoreSubmitInfo wait{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO,
                             .semaphore = present ? present->wait : VK_NULL_HANDLE,
                             .stageMask = VK_PIPELINE_STAGE_2_BLIT_BIT};
  VkSemaphoreSubmitInfo signal{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO,
                               .semaphore = present ? present->signal : VK_NULL_HANDLE,
                               .stageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT};
  const bool use_wait = present && present->wait, use_signal = present && present->signal;
  VkSubmitInfo2 si{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2,
                   .waitSemaphoreInfoCount = use_wait ? 1u : 0u, .pWaitSemaphoreInfos = use_wait ? &wait : nullptr,
                   .commandBufferInfoCount = 1, .pCommandBufferInfos = &cbi,
                   .signalSemaphoreInfoCount = use_signal ? 1u : 0u,
                   .pSignalSemaphoreInfos = use_signal ? &signal : nullptr};
  VkFence f = fence.get();
  VK_CHECK(vkResetFences(dev, 1, &f));
  VK_CHECK(vkQueueSubmit2(ctx.queue(), 1, &si, f));
  VK_CHECK(vkWaitForFences(dev, 1, &f, VK_TRUE, UINT64_MAX));
  if (readback) {
    // Cached memory may need invalidation when it is not coherent; ours is requested coherent.
    pixels.resize(static_cast<size_t>(opts.width) * static_cast<size_t>(opts.height) * 4);
    std::memcpy(pixels.data(), color_rb.map, pixels.size());
    ids.resize(static_cast<size_t>(opts.width) * static_cast<size_t>(opts.height) * 2);
    std::memcpy(ids.data(), id_rb.map, ids.size() * sizeof(uint32_t));
    have_frame = true;
    readback_once = false;
  }
  probe_id = {0, 0};
  if (probing) {
    uint32_t v[2];
    std::memcpy(v, probe_rb.map, sizeof v);
    probe_id = {v[0], v[1]};
  }
  st.submit_ms = ms_since(t1);
  st.total_ms = ms_since(t0);
  return st;
}

// ------------------------------------------------------------------------------------------------
Renderer::Renderer(Context& ctx, const viz::Scene& scene, RenderOptions opts)
    : impl_(std::make_unique<Impl>(ctx, scene, std::move(opts))) {
  impl_->init();
}
UploadStats Renderer::values_changed() { return impl_->values_changed(); }

std::vector<viz::ColorScale> Renderer::codes_from_device(CodeBuilder& builder, VkBuffer activations,
                                                         const TimelinePoint* wait, const TimelinePoint* signal,
                                                         UploadStats* stats) {
  return impl_->codes_from_device(builder, activations, wait, signal, stats);
}
void Renderer::set_subtitle(std::string text) { impl_->opts.subtitle = std::move(text); }
int Renderer::code_buffers() const { return static_cast<int>(impl_->chunk_bufs.size()); }
int Renderer::parts() const { return static_cast<int>(impl_->parts.size()); }
Renderer::~Renderer() {
  if (impl_ && impl_->ctx.device()) vkDeviceWaitIdle(impl_->ctx.device());
}
void Renderer::set_selection(Selection s) { impl_->selection = std::move(s); }
void Renderer::set_overlay(OverlayFn fn) { impl_->overlay = std::move(fn); }
void Renderer::set_insets(int left, int right) {
  impl_->opts.inset_left = left;
  impl_->opts.inset_right = right;
}
const RenderOptions& Renderer::options() const { return impl_->opts; }
int Renderer::samples() const { return static_cast<int>(impl_->samples); }
FrameStats Renderer::render(const viz::Camera& cam, const PresentTarget* present) {
  return impl_->render(cam, present);
}

void Renderer::resize(int width, int height) {
  if (width < 16 || height < 16 || width > 8192 || height > 8192)
    throw Error(ErrorKind::Usage, "render size " + std::to_string(width) + "x" + std::to_string(height) +
                                      " is out of range (16..8192 per side)");
  if (width == impl_->opts.width && height == impl_->opts.height) return;
  VK_CHECK(vkDeviceWaitIdle(impl_->ctx.device()));
  impl_->opts.width = width;
  impl_->opts.height = height;
  impl_->have_frame = false;
  impl_->create_targets();
}

void Renderer::set_probe(std::optional<std::pair<int, int>> pixel) { impl_->probe_px = pixel; }

std::optional<viz::PickResult> Renderer::probe() const {
  return viz::decode_pick(impl_->scene, impl_->probe_id.first, impl_->probe_id.second);
}

void Renderer::read_back_next_frame() { impl_->readback_once = true; }
const std::vector<uint8_t>& Renderer::rgba() const { return impl_->pixels; }

std::pair<uint32_t, uint32_t> Renderer::id_at(int x, int y) const {
  const auto& o = impl_->opts;
  if (!impl_->have_frame || x < 0 || y < 0 || x >= o.width || y >= o.height) return {0, 0};
  size_t i = (static_cast<size_t>(y) * static_cast<size_t>(o.width) + static_cast<size_t>(x)) * 2;
  return {impl_->ids[i], impl_->ids[i + 1]};
}

std::optional<viz::PickResult> Renderer::pick(int x, int y) const {
  auto [a, b] = id_at(x, y);
  return viz::decode_pick(impl_->scene, a, b);
}

void Renderer::write_png(const std::string& path) const {
  if (!impl_->have_frame) throw Error(ErrorKind::Internal, "write_png: no frame rendered with readback");
  write_png_rgba(path, impl_->opts.width, impl_->opts.height, impl_->pixels.data());
}

}  // namespace netlens::render
