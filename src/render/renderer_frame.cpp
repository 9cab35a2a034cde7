// One frame of the Renderer (see renderer_impl.hpp): instance lists from the viz frame plan, the
// per-frame uploads (frame record, highlight regions, instances, lines, text), the scene pass with its
// overlay, the read-back/probe/present copies, and the submission, waited for before returning.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include <glm/geometric.hpp>

#include "netlens/viz/open_layer.hpp"
#include "renderer_impl.hpp"

namespace netlens::render {

namespace {

constexpr VkPipelineStageFlags2 kColorStage = VK_PIPELINE_STAGE_2_COLOR_ATTACHMENT_OUTPUT_BIT;

// GpuRegion records of a highlight list (GpuRegion.lo.w: 0 = receptive field, 1 = fan-out,
// 2 = contributor) and each layer's (first, count) range into them.
void gpu_regions(const viz::HighlightList& hl, std::vector<gpu::GpuRegion>& regs, std::vector<glm::uvec2>& ranges) {
  regs.clear();
  regs.reserve(hl.regions.size());
  for (const viz::HighlightRegion& h : hl.regions) {
    const viz::VolumeRegion& r = h.region;
    const uint32_t kind = h.kind == viz::Highlight::FanOut ? 1u : h.kind == viz::Highlight::Contributor ? 2u : 0u;
    gpu::GpuRegion g{};
    g.head = glm::uvec4(static_cast<uint32_t>(h.layer), r.flat ? 1u : 0u, static_cast<uint32_t>(r.lo),
                        static_cast<uint32_t>(r.hi));
    g.lo = glm::uvec4(static_cast<uint32_t>(r.c0), static_cast<uint32_t>(r.y0), static_cast<uint32_t>(r.x0), kind);
    g.hi = glm::uvec4(static_cast<uint32_t>(r.c1), static_cast<uint32_t>(r.y1), static_cast<uint32_t>(r.x1), 0u);
    regs.push_back(g);
  }
  ranges.resize(hl.ranges.size());
  for (size_t i = 0; i < hl.ranges.size(); ++i) ranges[i] = glm::uvec2(hl.ranges[i].first, hl.ranges[i].second);
}

}  // namespace

// The pixel of an ID image `ids` pixels wide that a frame `full` pixels wide shows at frame pixel x:
// the one whose centre is nearest to x's centre (the upscale's sample point); x itself at full size.
int id_pixel(int x, int full, int ids) {
  return static_cast<int>((int64_t(2 * x + 1) * ids) / (int64_t(2) * full));
}

void Renderer::Impl::ensure_host_buffer(GpuBuffer& b, VkDeviceSize bytes, VkBufferUsageFlags usage) {
  if (b.buf.get() != VK_NULL_HANDLE && b.size >= bytes) return;
  b = make_buffer(ctx, std::max<VkDeviceSize>(bytes * 3 / 2, 4096), usage, kHost, true);
}

// What to draw: instance lists (cells and slabs, grouped by code chunk), lines and text.
void Renderer::Impl::build_instances(const viz::FrameView& fv, const viz::Camera& cam, FrameStats& st) {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  // Cull, then cells (near, large on screen, within budget) or slabs per layer: viz::plan_frame.
  viz::plan_frame(scene.layout, fv, viz::LodOptions{.cell_budget = opts.cell_budget, .cell_min_px = opts.cell_min_px},
                  plan);
  slab_list.clear();
  cell_list.clear();
  // An open layer (set_open_layer) is one tile per channel, drawn whether its closed box is in view
  // or not (its tiles reach far beyond it); its cells and stacked slabs are left out.
  const int open = open_t > 0.0f ? open_layer : -1;
  if (open >= 0)
    for (int64_t c = 0; c < scene.layout.layers[static_cast<size_t>(open)].dims.C; ++c)
      slab_list.emplace_back(codes.part_of(open, c), static_cast<uint32_t>(c + 1));
  for (const viz::DrawnCell& c : plan.cells)
    if (c.layer != open) cell_list.emplace_back(codes.part_of(c.layer, c.c), static_cast<uint32_t>(c.flat));
  st.cell_layers = static_cast<uint32_t>(plan.cell_layers);
  // Everything else: one box per layer, nearest first so early depth tests reject hidden pixels.
  for (int i : plan.order)
    if (!plan.as_cells[static_cast<size_t>(i)] && i != open)
      for (uint32_t p = codes.layer_parts[static_cast<size_t>(i)].first; p < codes.layer_parts[static_cast<size_t>(i)].second; ++p)
        slab_list.emplace_back(p, 0u);
  // One draw per code chunk: group instances by chunk (stable, so nearest-first holds within one).
  auto by_chunk = [&](const glm::uvec2& a, const glm::uvec2& b) { return codes.parts[a.x].chunk < codes.parts[b.x].chunk; };
  std::stable_sort(slab_list.begin(), slab_list.end(), by_chunk);
  std::stable_sort(cell_list.begin(), cell_list.end(), by_chunk);
  lines.clear();
  text.clear();
  overlay_first = build_lines(lines, scene.layout, opts, selection, plan.visible);
  const viz::OpenLabels ol{open, open_t};  // the open layer's grid stays free of other layers' labels
  if (cam.tile == glm::vec4(0.0f, 0.0f, 1.0f, 1.0f)) {
    build_labels(text, scene, opts, selection, fv.view_proj, cam, plan.order, ol);
  } else {
    // A tile of a larger frame (record --still): labels, title and legend are placed for the whole
    // frame (its size, projection and nearest-first order), then shifted into this tile, so the
    // stitched tiles show the picture one render of the full size would (clipping does the rest).
    viz::Camera full = cam;
    full.tile = glm::vec4(0.0f, 0.0f, 1.0f, 1.0f);
    RenderOptions fo = opts;
    fo.width = static_cast<int>(std::lround(float(opts.width) / cam.tile.z));
    fo.height = static_cast<int>(std::lround(float(opts.height) / cam.tile.w));
    const viz::FrameView ffv = viz::frame_view(full, fo.width, fo.height, radius);
    viz::FramePlan fplan;
    viz::plan_frame(scene.layout, ffv, viz::LodOptions{.cell_budget = 0, .cell_min_px = opts.cell_min_px}, fplan);
    const size_t first = text.size();
    build_labels(text, scene, fo, selection, ffv.view_proj, full, fplan.order, ol);
    const float ox = std::round(cam.tile.x * float(fo.width)), oy = std::round(cam.tile.y * float(fo.height));
    for (size_t k = first; k < text.size(); ++k) {
      text[k].pos[0] -= ox;
      text[k].pos[1] -= oy;
    }
  }
  st.slab_instances = static_cast<uint32_t>(slab_list.size());
  st.cell_instances = static_cast<uint32_t>(cell_list.size());
}

// The frame record and the lists, into the host-visible buffers the draws read.
void Renderer::Impl::upload_frame(const viz::FrameView& fv, const viz::Camera& cam) {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
  const auto& L = scene.layout.layers;
  gpu::GpuFrame fr{};
  fr.view_proj = fv.view_proj;
  fr.eye = glm::vec4(fv.eye, 1.0f);
  fr.light_dir = glm::vec4(glm::normalize(glm::vec3(-0.45f, 0.8f, 0.4f)), 0.0f);
  fr.viewport = glm::vec4(float(opts.width), float(opts.height), 1.0f / float(opts.width), 1.0f / float(opts.height));
  // Regions sorted by layer, with each layer's range, so a fragment tests only its own layer's.
  std::vector<gpu::GpuRegion> regs;
  std::vector<glm::uvec2> ranges;
  gpu_regions(viz::highlight_regions(selection, L.size(), gpu::kMaxRegions), regs, ranges);
  fr.flags = glm::uvec4((opts.lighting ? gpu::kFrameLighting : 0u) | (opts.lod_max ? gpu::kFrameLodMax : 0u) |
                            (opts.grid_lines ? gpu::kFrameGridLines : 0u),
                        static_cast<uint32_t>(regs.size()),
                        selection.layer >= 0 ? static_cast<uint32_t>(selection.layer + 1) : 0u,
                        static_cast<uint32_t>(selection.flat));
  fr.bg_top = glm::vec4(0.075f, 0.085f, 0.115f, 1.0f);
  fr.bg_bottom = glm::vec4(0.020f, 0.022f, 0.030f, 1.0f);
  fr.cell_scale = glm::vec4(0.86f, 1.0f, cam.cut ? cam.cut_x : 0.0f, cam.cut ? 1.0f : 0.0f);
  fr.tile = cam.tile;
  if (open_t > 0.0f && open_layer >= 0) {
    const viz::OpenGrid g = viz::open_grid(L[static_cast<size_t>(open_layer)]);
    const float s = viz::open_ease(open_t);
    fr.open = glm::uvec4(static_cast<uint32_t>(open_layer + 1), static_cast<uint32_t>(g.cols),
                         std::bit_cast<uint32_t>(s), std::bit_cast<uint32_t>(g.gap));
  }
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
}

// The scene pass (background, cells, slabs, lines, text) into the frame targets, then the overlay.
void Renderer::Impl::record_scene(FrameStats& st) {
  const bool ms = samples != VK_SAMPLE_COUNT_1_BIT;
  // At a reduced draw scale the scene goes into the reduced targets and is scaled up after.
  const bool lo_res = reduced();
  FrameTargets& t = lo_res ? lo : targets;
  const VkAccessFlags2 col_access = VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT | VK_ACCESS_2_COLOR_ATTACHMENT_READ_BIT;
  std::vector<VkImageMemoryBarrier2> pre;
  // The previous frame's copies/blits read color/id: wait for them before overwriting (write-after-read).
  for (VkImage img : {t.color.img.get(), t.id.img.get()})
    pre.push_back(image_barrier(img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                                VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, VK_PIPELINE_STAGE_2_ALL_TRANSFER_BIT, 0,
                                kColorStage, col_access));
  if (ms)
    for (VkImage img : {t.color_ms.img.get(), t.id_ms.img.get()})
      pre.push_back(image_barrier(img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                                  VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, kColorStage, 0, kColorStage, col_access));
  pre.push_back(image_barrier(t.depth.img, VK_IMAGE_ASPECT_DEPTH_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                              VK_IMAGE_LAYOUT_DEPTH_ATTACHMENT_OPTIMAL,
                              VK_PIPELINE_STAGE_2_LATE_FRAGMENT_TESTS_BIT, 0,
                              VK_PIPELINE_STAGE_2_EARLY_FRAGMENT_TESTS_BIT | VK_PIPELINE_STAGE_2_LATE_FRAGMENT_TESTS_BIT,
                              VK_ACCESS_2_DEPTH_STENCIL_ATTACHMENT_WRITE_BIT | VK_ACCESS_2_DEPTH_STENCIL_ATTACHMENT_READ_BIT));
  if (lo_res)  // the frame's colour image receives the upscale (after the previous frame's reads)
    pre.push_back(image_barrier(targets.color.img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_UNDEFINED,
                                VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_PIPELINE_STAGE_2_ALL_TRANSFER_BIT, 0,
                                VK_PIPELINE_STAGE_2_BLIT_BIT, VK_ACCESS_2_TRANSFER_WRITE_BIT));
  VkDependencyInfo dep{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO,
                       .imageMemoryBarrierCount = static_cast<uint32_t>(pre.size()), .pImageMemoryBarriers = pre.data()};
  vkCmdPipelineBarrier2(cmd, &dep);

  VkClearValue clear_color{.color = {{0, 0, 0, 1}}};
  VkClearValue clear_id{.color = {.uint32 = {0, 0, 0, 0}}};
  VkRenderingAttachmentInfo catt[2] = {
      {.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO, .imageView = ms ? t.color_ms.view.get() : t.color.view.get(),
       .imageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       .resolveMode = ms ? VK_RESOLVE_MODE_AVERAGE_BIT : VK_RESOLVE_MODE_NONE,
       .resolveImageView = ms ? t.color.view.get() : VK_NULL_HANDLE,
       .resolveImageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
       .storeOp = ms ? VK_ATTACHMENT_STORE_OP_DONT_CARE : VK_ATTACHMENT_STORE_OP_STORE, .clearValue = clear_color},
      {.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO, .imageView = ms ? t.id_ms.view.get() : t.id.view.get(),
       .imageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       // Integer IDs cannot be averaged: take sample 0.
       .resolveMode = ms ? VK_RESOLVE_MODE_SAMPLE_ZERO_BIT : VK_RESOLVE_MODE_NONE,
       .resolveImageView = ms ? t.id.view.get() : VK_NULL_HANDLE,
       .resolveImageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
       .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
       .storeOp = ms ? VK_ATTACHMENT_STORE_OP_DONT_CARE : VK_ATTACHMENT_STORE_OP_STORE, .clearValue = clear_id}};
  VkRenderingAttachmentInfo datt{.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO, .imageView = t.depth.view,
                                 .imageLayout = VK_IMAGE_LAYOUT_DEPTH_ATTACHMENT_OPTIMAL,
                                 .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR, .storeOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                 .clearValue = {.depthStencil = {1.0f, 0}}};
  const VkExtent2D ext{static_cast<uint32_t>(opts.width), static_cast<uint32_t>(opts.height)};
  const VkExtent2D sext = lo_res ? VkExtent2D{static_cast<uint32_t>(lo_w), static_cast<uint32_t>(lo_h)} : ext;
  VkRenderingInfo ri{.sType = VK_STRUCTURE_TYPE_RENDERING_INFO, .renderArea = {{0, 0}, sext}, .layerCount = 1,
                     .colorAttachmentCount = 2, .pColorAttachments = catt, .pDepthAttachment = &datt};
  vkCmdBeginRendering(cmd, &ri);
  VkViewport viewport{0, 0, float(sext.width), float(sext.height), 0.0f, 1.0f};
  VkRect2D scissor{{0, 0}, sext};
  vkCmdSetViewport(cmd, 0, 1, &viewport);
  vkCmdSetScissor(cmd, 0, 1, &scissor);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.layout, 0, 1, &desc.set, 0, nullptr);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.bg);
  vkCmdDraw(cmd, 3, 1, 0, 0);
  st.draws = 1;
  // Instanced boxes, one draw per chunk run: the chunk's code buffer is bound as set 1.
  auto draw_chunks = [&](VkPipeline pipe, const std::vector<glm::uvec2>& list) {
    if (list.empty()) return;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipe);
    for (size_t a = 0; a < list.size();) {
      const uint32_t chunk = codes.parts[list[a].x].chunk;
      size_t b = a;
      while (b < list.size() && codes.parts[list[b].x].chunk == chunk) ++b;
      vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.layout, gpu::kSetCodes, 1, &desc.chunk_sets[chunk],
                              0, nullptr);
      vkCmdDraw(cmd, 36, static_cast<uint32_t>(b - a), 0, static_cast<uint32_t>(a));
      ++st.draws;
      a = b;
    }
  };
  draw_chunks(pipes.cell, cell_list);
  draw_chunks(pipes.slab, slab_list);
  VkDeviceSize zero = 0;
  if (!lines.empty()) {
    VkBuffer b = lines_buf.buf;
    vkCmdBindVertexBuffers(cmd, 0, 1, &b, &zero);
    const size_t split = std::min(overlay_first, lines.size());
    if (split > 0) {
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.line);
      vkCmdDraw(cmd, static_cast<uint32_t>(split), 1, 0, 0);
      ++st.draws;
    }
    if (split < lines.size()) {
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.overlay_line);
      vkCmdDraw(cmd, static_cast<uint32_t>(lines.size() - split), 1, static_cast<uint32_t>(split), 0);
      ++st.draws;
    }
  }
  if (!text.empty() && !lo_res) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.text);
    VkBuffer b = text_buf.buf;
    vkCmdBindVertexBuffers(cmd, 0, 1, &b, &zero);
    vkCmdDraw(cmd, static_cast<uint32_t>(text.size()), 1, 0, 0);
    ++st.draws;
  }
  vkCmdEndRendering(cmd);
  if (lo_res) record_upscale(st);
  if (overlay) {
    // The scene's (resolved) colour writes before the overlay's loads and blends.
    VkMemoryBarrier2 ob{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2, .srcStageMask = kColorStage,
                        .srcAccessMask = VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT, .dstStageMask = kColorStage,
                        .dstAccessMask = col_access};
    VkDependencyInfo od{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .memoryBarrierCount = 1, .pMemoryBarriers = &ob};
    vkCmdPipelineBarrier2(cmd, &od);
    overlay(cmd, OverlayTarget{targets.color.img, targets.color.view, kColorFormat, ext});
  }
}

// At a reduced draw scale: the reduced colour scaled up into the frame's colour image (linear
// filter; the values are sRGB-encoded, so the filter mixes encoded values), then the text at the full
// size over it. Leaves targets.color in COLOR_ATTACHMENT_OPTIMAL (as the unscaled pass does) and the
// reduced IDs in TRANSFER_SRC_OPTIMAL for the read-back and the probe.
void Renderer::Impl::record_upscale(FrameStats& st) {
  VkImageMemoryBarrier2 src[2] = {
      image_barrier(lo.color.img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                    VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kColorStage, VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT,
                    VK_PIPELINE_STAGE_2_BLIT_BIT, VK_ACCESS_2_TRANSFER_READ_BIT),
      image_barrier(lo.id.img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                    VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kColorStage, VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT,
                    VK_PIPELINE_STAGE_2_ALL_TRANSFER_BIT, VK_ACCESS_2_TRANSFER_READ_BIT)};
  VkDependencyInfo d0{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 2,
                      .pImageMemoryBarriers = src};
  vkCmdPipelineBarrier2(cmd, &d0);
  VkImageBlit b{.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                .srcOffsets = {{0, 0, 0}, {lo_w, lo_h, 1}},
                .dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                .dstOffsets = {{0, 0, 0}, {opts.width, opts.height, 1}}};
  vkCmdBlitImage(cmd, lo.color.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, targets.color.img,
                 VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &b, VK_FILTER_LINEAR);
  auto to_att = image_barrier(targets.color.img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                              VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, VK_PIPELINE_STAGE_2_BLIT_BIT,
                              VK_ACCESS_2_TRANSFER_WRITE_BIT, kColorStage,
                              VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT | VK_ACCESS_2_COLOR_ATTACHMENT_READ_BIT);
  VkDependencyInfo d1{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 1,
                      .pImageMemoryBarriers = &to_att};
  vkCmdPipelineBarrier2(cmd, &d1);
  if (text.empty()) return;
  const VkExtent2D ext{static_cast<uint32_t>(opts.width), static_cast<uint32_t>(opts.height)};
  VkRenderingAttachmentInfo catt{.sType = VK_STRUCTURE_TYPE_RENDERING_ATTACHMENT_INFO,
                                 .imageView = targets.color.view, .imageLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                                 .loadOp = VK_ATTACHMENT_LOAD_OP_LOAD, .storeOp = VK_ATTACHMENT_STORE_OP_STORE};
  VkRenderingInfo ri{.sType = VK_STRUCTURE_TYPE_RENDERING_INFO, .renderArea = {{0, 0}, ext}, .layerCount = 1,
                     .colorAttachmentCount = 1, .pColorAttachments = &catt};
  vkCmdBeginRendering(cmd, &ri);
  VkViewport viewport{0, 0, float(opts.width), float(opts.height), 0.0f, 1.0f};
  VkRect2D scissor{{0, 0}, ext};
  vkCmdSetViewport(cmd, 0, 1, &viewport);
  vkCmdSetScissor(cmd, 0, 1, &scissor);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.layout, 0, 1, &desc.set, 0, nullptr);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipes.text_full);
  VkBuffer tb = text_buf.buf;
  VkDeviceSize zero = 0;
  vkCmdBindVertexBuffers(cmd, 0, 1, &tb, &zero);
  vkCmdDraw(cmd, static_cast<uint32_t>(text.size()), 1, 0, 0);
  ++st.draws;
  vkCmdEndRendering(cmd);
}

// Colour and IDs to the read-back buffers, the probed ID, the blit into a swapchain image.
void Renderer::Impl::record_outputs(const PresentTarget* present, bool readback, bool probing) {
  const VkExtent2D ext{static_cast<uint32_t>(opts.width), static_cast<uint32_t>(opts.height)};
  const bool lo_res = reduced();
  const FrameTargets& t = lo_res ? lo : targets;  // the IDs' images (reduced at a reduced scale)
  const VkExtent2D iext = lo_res ? VkExtent2D{static_cast<uint32_t>(lo_w), static_cast<uint32_t>(lo_h)} : ext;
  if (readback || probing || present) {
    VkImageMemoryBarrier2 post[2];
    int n = 0;
    // At a reduced scale the reduced IDs are in TRANSFER_SRC_OPTIMAL already (record_upscale).
    for (VkImage img : {targets.color.img.get(), lo_res ? VK_NULL_HANDLE : targets.id.img.get()})
      if (img != VK_NULL_HANDLE)
        post[n++] = image_barrier(img, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                                VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, kColorStage,
                                VK_ACCESS_2_COLOR_ATTACHMENT_WRITE_BIT, VK_PIPELINE_STAGE_2_ALL_TRANSFER_BIT,
                                VK_ACCESS_2_TRANSFER_READ_BIT);
    VkDependencyInfo d2{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = static_cast<uint32_t>(n),
                        .pImageMemoryBarriers = post};
    vkCmdPipelineBarrier2(cmd, &d2);
  }
  if (readback) {
    VkBufferImageCopy c{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, .imageExtent = {ext.width, ext.height, 1}};
    vkCmdCopyImageToBuffer(cmd, targets.color.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, targets.color_rb.buf, 1, &c);
    VkBufferImageCopy ci{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, .imageExtent = {iext.width, iext.height, 1}};
    vkCmdCopyImageToBuffer(cmd, t.id.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, t.id_rb.buf, 1, &ci);
  }
  if (probing) {
    VkBufferImageCopy c{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                        .imageOffset = {id_pixel(probe_px->first, opts.width, lo_res ? lo_w : opts.width),
                                        id_pixel(probe_px->second, opts.height, lo_res ? lo_h : opts.height), 0},
                        .imageExtent = {1, 1, 1}};
    vkCmdCopyImageToBuffer(cmd, t.id.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, targets.probe_rb.buf, 1, &c);
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
    vkCmdBlitImage(cmd, targets.color.img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, present->image,
                   VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &b, VK_FILTER_NEAREST);
    auto to_present = image_barrier(present->image, VK_IMAGE_ASPECT_COLOR_BIT, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                                    VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, VK_PIPELINE_STAGE_2_BLIT_BIT,
                                    VK_ACCESS_2_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_2_NONE, 0);
    VkDependencyInfo d5{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO, .imageMemoryBarrierCount = 1,
                        .pImageMemoryBarriers = &to_present};
    vkCmdPipelineBarrier2(cmd, &d5);
  }
}

// One submission (waiting for the swapchain image, signalling its presentation), finished on return.
void Renderer::Impl::submit_frame(const PresentTarget* present) {
  VkDevice dev = ctx.device();
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
}

FrameStats Renderer::Impl::render(const viz::Camera& cam, const PresentTarget* present) {
  FrameStats st;
  auto t0 = Clock::now();
  ensure_scale_targets();
  const viz::FrameView fv = viz::frame_view(cam, opts.width, opts.height, radius);
  build_instances(fv, cam, st);
  upload_frame(fv, cam);
  st.cpu_ms = ms_since(t0);

  auto t1 = Clock::now();
  const bool readback = opts.readback || readback_once;
  const bool probing = probe_px && probe_px->first >= 0 && probe_px->second >= 0 && probe_px->first < opts.width &&
                       probe_px->second < opts.height;
  VK_CHECK(vkResetCommandBuffer(cmd, 0));
  VkCommandBufferBeginInfo bi{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                              .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
  record_scene(st);
  record_outputs(present, readback, probing);
  VK_CHECK(vkEndCommandBuffer(cmd));
  submit_frame(present);
  if (readback) {
    // Cached memory may need invalidation when it is not coherent; ours is requested coherent.
    pixels.resize(static_cast<size_t>(opts.width) * static_cast<size_t>(opts.height) * 4);
    std::memcpy(pixels.data(), targets.color_rb.map, pixels.size());
    const bool lo_res = reduced();
    ids_w = lo_res ? lo_w : opts.width;
    ids_h = lo_res ? lo_h : opts.height;
    ids.resize(static_cast<size_t>(ids_w) * static_cast<size_t>(ids_h) * 2);
    std::memcpy(ids.data(), (lo_res ? lo : targets).id_rb.map, ids.size() * sizeof(uint32_t));
    have_frame = true;
    readback_once = false;
  }
  probe_id = {0, 0};
  if (probing) {
    uint32_t v[2];
    std::memcpy(v, targets.probe_rb.map, sizeof v);
    probe_id = {v[0], v[1]};
  }
  st.submit_ms = ms_since(t1);
  st.total_ms = ms_since(t0);
  return st;
}

}  // namespace netlens::render
