// The scene's byte codes on the GPU (see renderer_impl.hpp): level 0 and the max/mean pyramids of
// every layer packed into storage-buffer chunks under the device's limits, the per-layer records, and
// the two in-place updates for a new input (host codes through staging, or codes made on the GPU).
#include <algorithm>
#include <cstring>
#include <string>

#include "netlens/render/code_builder.hpp"
#include "netlens/render/code_packing.hpp"
#include "renderer_impl.hpp"

namespace netlens::render {

// Whether the renderer writes layer i's codes from `scene` (its codes, or its host values through
// viz::write_codes). A layer it cannot is "unfilled": none of its codes are written, its record
// carries kLayerUnfilled and the shaders draw it as zeros. Which layers are unfilled follows the
// borrowed scene alone: update_layers' owner promises that unlisted layers did not change (so
// neither did whether they have values), update_values rewrites every layer, and codes_from_device,
// whose scene holds neither, writes every layer's codes and clears the flag in the records it uploads.
static bool fills(const viz::Scene& scene, size_t i) { return scene.has_codes() || scene.has_values(static_cast<int>(i)); }

uint64_t channel_code_bytes(const viz::VolumeDims& d) {
  uint64_t bp = 0;  // pyramid bytes per channel (all levels)
  for (auto& lv : viz::pyramid_levels(d.H, d.W)) bp += static_cast<uint64_t>(lv.h * lv.w);
  return static_cast<uint64_t>(d.H * d.W) + 2 * bp;
}

CodePacking pack_codes(const viz::Scene& scene, uint64_t limit, const std::string& device) {
  CodePacking pk;
  pk.chunk_limit = limit & ~uint64_t(3);
  const auto& L = scene.layout.layers;
  pk.chunk_used.assign(1, 0);
  pk.layer_parts.assign(L.size(), {0, 0});
  for (size_t i = 0; i < L.size(); ++i) {
    const auto& d = L[i].dims;
    const auto& sl = scene.layers[i];
    const uint64_t b0 = static_cast<uint64_t>(d.H * d.W);
    const uint64_t per_c = channel_code_bytes(d), bp = (per_c - b0) / 2;
    if (static_cast<int>(viz::pyramid_levels(d.H, d.W).size()) != sl.levels)
      throw Error(ErrorKind::Internal, "render: pyramid levels of '" + L[i].tensor.name + "' disagree with the scene");
    if (per_c > pk.chunk_limit)
      throw Error(ErrorKind::Device, "layer '" + L[i].tensor.name + "': one " + std::to_string(d.H) + "x" +
                                         std::to_string(d.W) + " channel needs " + std::to_string(per_c >> 20) +
                                         " MiB of codes; device '" + device + "' buffers hold " +
                                         std::to_string(pk.chunk_limit >> 20) + " MiB");
    pk.layer_parts[i].first = static_cast<uint32_t>(pk.parts.size());
    int64_t c = 0;
    while (c < d.C) {
      uint64_t room = pk.chunk_limit - pk.chunk_used.back();
      int64_t n = std::min<int64_t>(d.C - c, static_cast<int64_t>(room / per_c));
      if (n == 0) {
        pk.chunk_used.push_back(0);
        continue;
      }
      uint64_t at = pk.chunk_used.back();
      pk.parts.push_back({.layer = static_cast<uint32_t>(i), .c0 = static_cast<uint32_t>(c),
                          .c1 = static_cast<uint32_t>(c + n), .chunk = static_cast<uint32_t>(pk.chunk_used.size() - 1),
                          .off0 = at, .off_max = at + static_cast<uint64_t>(n) * b0,
                          .bytes_max = static_cast<uint64_t>(n) * bp});
      pk.chunk_used.back() += static_cast<uint64_t>(n) * per_c;
      c += n;
    }
    pk.layer_parts[i].second = static_cast<uint32_t>(pk.parts.size());
  }
  return pk;
}

// Packs every layer's codes (level 0, max pyramid, mean pyramid) into chunks no larger than what
// one storage buffer may address (maxStorageBufferRange, maxMemoryAllocationSize, or the injected
// RenderOptions::max_buffer_bytes). A layer that does not fit in the rest of a chunk is split by
// channels; each part's data is contiguous, so one draw per chunk reaches all of its parts.
void Renderer::Impl::upload_codes() {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  VkPhysicalDeviceMaintenance3Properties m3{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
  vkGetPhysicalDeviceProperties2(ctx.physical(), &p2);
  uint64_t limit = std::min<uint64_t>(ctx.properties().limits.maxStorageBufferRange, m3.maxMemoryAllocationSize);
  limit = std::min<uint64_t>(limit, 1ull << 30);  // 32-bit byte offsets in the shaders, friendly allocations
  if (opts.max_buffer_bytes > 0) limit = std::min<uint64_t>(limit, opts.max_buffer_bytes);
  layout_key = current_layout_key();
  codes = pack_codes(scene, limit, ctx.device_name());
  // Fill and upload each chunk; GPU part records. Chunks can be rewritten in place (TRANSFER_DST).
  std::vector<gpu::GpuPart> gp(std::max<size_t>(codes.parts.size(), 1));
  const VkBufferUsageFlags use = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  for (size_t k = 0; k < codes.chunk_used.size(); ++k) {
    const uint64_t used = codes.chunk_used[k];
    // Where the device has mappable device-local memory (lavapipe, resizable BAR) the codes are
    // written straight into the buffer: no host copy of a chunk (up to 1 GiB) next to it. Else, as
    // upload_static would, through a host vector and staging.
    const VkDeviceSize size = std::max<VkDeviceSize>((used + 3) & ~VkDeviceSize(3), 16);
    GpuBuffer b;
    try {
      b = make_buffer(ctx, size, use, kHost | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, true);
    } catch (const Error&) {
      b = {};
    }
    if (b.map) {
      fill_chunk(k, static_cast<uint8_t*>(b.map), gp.data());
      std::memset(static_cast<uint8_t*>(b.map) + used, 0, static_cast<size_t>(size - used));
      chunk_bufs.push_back(std::move(b));
      continue;
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(used));
    fill_chunk(k, bytes.data(), gp.data());
    static const uint8_t zero[16] = {};
    chunk_bufs.push_back(bytes.empty() ? upload_static(ctx, zero, 16, use) : upload_static(ctx, bytes.data(), bytes.size(), use));
  }
  parts_buf = upload_static(ctx, gp.data(), gp.size() * sizeof(gpu::GpuPart), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
}

// Where write_codes puts part P's codes when the part's bytes start at `at` (its level 0 there,
// then the max levels, then the mean levels, as in its chunk from off0 on).
static viz::CodeTarget part_target(const viz::Scene& scene, const CodePart& P, uint8_t* at) {
  const auto& d = scene.layout.layers[P.layer].dims;
  const uint64_t nc = P.c1 - P.c0;
  viz::CodeTarget t{.layer = static_cast<int>(P.layer), .c0 = P.c0, .c1 = P.c1, .level0 = at};
  uint64_t o = P.off_max - P.off0;
  auto levels = viz::pyramid_levels(d.H, d.W);
  for (int lv = 1; lv <= scene.layers[P.layer].levels; ++lv) {
    const uint64_t per = static_cast<uint64_t>(levels[static_cast<size_t>(lv - 1)].h * levels[static_cast<size_t>(lv - 1)].w);
    t.max[static_cast<size_t>(lv)] = at + o;
    t.mean[static_cast<size_t>(lv)] = at + o + P.bytes_max;
    o += nc * per;
  }
  return t;
}

// Bytes of part P in its chunk: level 0, the max levels and the mean levels, contiguous from off0.
static uint64_t part_bytes(const CodePart& P) { return P.off_max - P.off0 + 2 * P.bytes_max; }

// Chunk k's bytes (codes.chunk_used[k] of them) from the scene's current codes, or made from its
// values where it holds none (a borrowing scene: viz::write_codes, on the scene's threads); with
// `gp`, the GPU part records of its parts too (layout only: they do not change with the values).
// The parts of layers the scene cannot fill (neither codes nor host values) are not written.
void Renderer::Impl::fill_chunk(size_t k, uint8_t* bytes, gpu::GpuPart* gp) const {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  std::vector<viz::CodeTarget> targets;
  for (size_t pi = 0; pi < codes.parts.size(); ++pi) {
    const CodePart& P = codes.parts[pi];
    if (P.chunk != k) continue;
    const viz::CodeTarget t = part_target(scene, P, bytes + P.off0);
    // An unfilled layer's bytes are left as they are (never touched: on lavapipe untouched pages of
    // the chunk cost no memory); the shaders draw it from its record's kLayerUnfilled.
    if (fills(scene, P.layer)) targets.push_back(t);
    if (!gp) continue;
    gpu::GpuPart g{};
    g.head = glm::uvec4(P.layer, P.c0, P.c1, P.chunk);
    g.offs = glm::uvec4(static_cast<uint32_t>(P.off0), static_cast<uint32_t>(P.bytes_max), 0u, 0u);
    for (int lv = 1; lv <= scene.layers[P.layer].levels; ++lv)
      g.level_offset[(lv - 1) / 4][(lv - 1) % 4] = static_cast<uint32_t>(P.off0 + (t.max[static_cast<size_t>(lv)] - t.level0));
    gp[pi] = g;
  }
  viz::write_codes(scene, targets, scene.options.threads);
}

std::vector<gpu::GpuLayer> Renderer::Impl::gpu_layers() const {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
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
                            (v.dims.grid ? gpu::kLayerGrid : 0u) |
                            (fills(scene, i) ? 0u : gpu::kLayerUnfilled), 0u);
  }
  return gl;
}

std::vector<std::array<int64_t, 5>> Renderer::Impl::current_layout_key() const {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  std::vector<std::array<int64_t, 5>> key;
  for (size_t i = 0; i < scene.layout.layers.size(); ++i) {
    const auto& d = scene.layout.layers[i].dims;
    key.push_back({d.C, d.H, d.W, d.count, i < scene.layers.size() ? scene.layers[i].levels : -1});
  }
  return key;
}

// Buffer copies (in-place value updates) made visible to the draws' storage-buffer reads.
namespace {
void barrier_copies_to_shader_reads(VkCommandBuffer cb) {
  VkMemoryBarrier2 mb{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2, .srcStageMask = VK_PIPELINE_STAGE_2_COPY_BIT,
                      .srcAccessMask = VK_ACCESS_2_TRANSFER_WRITE_BIT,
                      .dstStageMask = VK_PIPELINE_STAGE_2_VERTEX_SHADER_BIT | VK_PIPELINE_STAGE_2_FRAGMENT_SHADER_BIT,
                      .dstAccessMask = VK_ACCESS_2_SHADER_STORAGE_READ_BIT};
  VkDependencyInfo d{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &mb};
  vkCmdPipelineBarrier2(cb, &d);
}
}  // namespace

// The new values go through host staging buffers and one transfer submission on the renderer's
// queue, finished (fence) before this returns; its barrier makes the copies visible to the shader
// reads of every later submission. render() waits for each frame's own submission too, so no frame
// is in flight here: a frame shows the values before this call or after it, never a mix.
UploadStats Renderer::Impl::values_changed() {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  UploadStats us;
  auto t0 = Clock::now();
  if (current_layout_key() != layout_key || scene.layers.size() != scene.layout.layers.size())
    throw Error(ErrorKind::Internal, "render: values_changed needs a scene with the same layout (layer shapes) as before");
  if (chunk_staging.empty()) {
    for (size_t k = 0; k < chunk_bufs.size(); ++k)
      chunk_staging.push_back(make_buffer(ctx, chunk_bufs[k].size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true));
    layers_staging = make_buffer(ctx, layers_buf.size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true);
  }
  for (size_t k = 0; k < codes.chunk_used.size(); ++k) {
    fill_chunk(k, static_cast<uint8_t*>(chunk_staging[k].map), nullptr);
    us.bytes += codes.chunk_used[k];
  }
  const std::vector<gpu::GpuLayer> gl = gpu_layers();
  std::memcpy(layers_staging.map, gl.data(), gl.size() * sizeof(gpu::GpuLayer));
  us.bytes += gl.size() * sizeof(gpu::GpuLayer);
  us.pack_ms = ms_since(t0);
  auto t1 = Clock::now();
  ctx.submit_now([&](VkCommandBuffer cb) {
    for (size_t k = 0; k < codes.chunk_used.size(); ++k) {
      if (codes.chunk_used[k] == 0) continue;
      VkBufferCopy c{.srcOffset = 0, .dstOffset = 0, .size = codes.chunk_used[k]};
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

// Some layers' new values: their parts' byte ranges and layer records only, packed back to back into
// one host staging buffer (grown as needed, kept; never the size of the whole scene) and copied to
// their places in one submission, finished (fence) before this returns, with the barrier
// values_changed uses. Parts of one layer may lie in several chunks (a split layer): one copy
// region each.
UploadStats Renderer::Impl::layers_changed(std::span<const int> which) {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (update_layers)
  UploadStats us;
  auto t0 = Clock::now();
  const auto& L = scene.layout.layers;
  if (current_layout_key() != layout_key || scene.layers.size() != L.size())
    throw Error(ErrorKind::Internal, "render: update_layers needs a scene with the same layout (layer shapes) as before");
  std::vector<int> ls(which.begin(), which.end());
  std::sort(ls.begin(), ls.end());
  ls.erase(std::unique(ls.begin(), ls.end()), ls.end());
  for (int i : ls) {
    if (i < 0 || static_cast<size_t>(i) >= L.size())
      throw Error(ErrorKind::Usage, "render: update_layers: layer " + std::to_string(i) + " is not in the scene (" +
                                        std::to_string(L.size()) + " layers)");
  }
  if (ls.empty()) return us;
  // A listed layer the scene cannot fill (neither codes nor host values) is drawn unfilled: only its
  // record is uploaded.
  // Staging: [parts' codes ...][records of the layers], records 16-byte aligned.
  uint64_t code_bytes = 0;
  for (int i : ls) {
    if (!fills(scene, static_cast<size_t>(i))) continue;
    for (uint32_t pi = codes.layer_parts[static_cast<size_t>(i)].first; pi < codes.layer_parts[static_cast<size_t>(i)].second; ++pi)
      code_bytes += part_bytes(codes.parts[pi]);
  }
  const uint64_t rec_at = (code_bytes + 15) & ~uint64_t(15);
  const uint64_t need = rec_at + ls.size() * sizeof(gpu::GpuLayer);
  if (patch_staging.size < need)
    patch_staging = make_buffer(ctx, std::max<VkDeviceSize>(need, patch_staging.size + patch_staging.size / 2),
                                VK_BUFFER_USAGE_TRANSFER_SRC_BIT, kHost, true);
  auto* base = static_cast<uint8_t*>(patch_staging.map);
  std::vector<viz::CodeTarget> targets;
  std::vector<std::vector<VkBufferCopy>> regions(chunk_bufs.size());
  uint64_t at = 0;
  for (int i : ls) {
    if (!fills(scene, static_cast<size_t>(i))) continue;
    for (uint32_t pi = codes.layer_parts[static_cast<size_t>(i)].first; pi < codes.layer_parts[static_cast<size_t>(i)].second; ++pi) {
      const CodePart& P = codes.parts[pi];
      targets.push_back(part_target(scene, P, base + at));
      regions[P.chunk].push_back({.srcOffset = at, .dstOffset = P.off0, .size = part_bytes(P)});
      at += part_bytes(P);
    }
  }
  viz::write_codes(scene, targets, scene.options.threads);
  const std::vector<gpu::GpuLayer> gl = gpu_layers();
  std::vector<VkBufferCopy> rec;
  for (size_t j = 0; j < ls.size(); ++j) {
    const uint64_t src = rec_at + j * sizeof(gpu::GpuLayer);
    std::memcpy(base + src, &gl[static_cast<size_t>(ls[j])], sizeof(gpu::GpuLayer));
    rec.push_back({.srcOffset = src, .dstOffset = static_cast<uint64_t>(ls[j]) * sizeof(gpu::GpuLayer), .size = sizeof(gpu::GpuLayer)});
  }
  us.bytes = code_bytes + ls.size() * sizeof(gpu::GpuLayer);
  us.pack_ms = ms_since(t0);
  auto t1 = Clock::now();
  ctx.submit_now([&](VkCommandBuffer cb) {
    for (size_t k = 0; k < regions.size(); ++k)
      if (!regions[k].empty())
        vkCmdCopyBuffer(cb, patch_staging.buf, chunk_bufs[k].buf, static_cast<uint32_t>(regions[k].size()), regions[k].data());
    vkCmdCopyBuffer(cb, patch_staging.buf, layers_buf.buf, static_cast<uint32_t>(rec.size()), rec.data());
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
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  auto t0 = Clock::now();
  const auto& L = scene.layout.layers;
  if (current_layout_key() != layout_key)
    throw Error(ErrorKind::Internal, "render: codes_from_device needs the layout the renderer was made with");
  std::vector<std::vector<VkBufferCopy>> c0(chunk_bufs.size()), cmax(chunk_bufs.size()), cmean(chunk_bufs.size());
  uint64_t bytes = 0;
  for (size_t pi = 0; pi < codes.parts.size(); ++pi) {
    const CodePart& P = codes.parts[pi];
    const auto& d = L[P.layer].dims;
    const CodePart& pl = P;
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
    // The builder wrote every layer's codes: none is unfilled, whatever `next` holds on the host.
    gl[i].info.z = (gl[i].info.z & ~(gpu::kLayerDiverging | gpu::kLayerUnfilled)) | div;
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

}  // namespace netlens::render
