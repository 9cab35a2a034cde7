// Inside the Renderer (private to src/render): the Impl that owns its Vulkan objects, and the plain
// structs and free functions its files share. One file per concern:
//   renderer.cpp            the public Renderer API and initialisation (static scene buffers, font)
//   renderer_targets.cpp    frame targets (colour, IDs, depth, MSAA, read-back buffers), image helpers
//   renderer_pipelines.cpp  descriptor sets and graphics pipelines
//   renderer_codes.cpp      the scene's byte codes in storage-buffer chunks; in-place value updates
//   renderer_labels.cpp     2D overlay text (labels, legend, selection panel) and 3D lines
//   renderer_frame.cpp      one frame: instance lists from viz::plan_frame, upload, command recording
// What a frame draws (culling, level of detail, highlights) is decided in viz (frame_plan.hpp,
// selection.hpp); these files only turn it into GPU work.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <glm/mat4x4.hpp>
#include <glm/vec4.hpp>

#include "netlens/render/code_packing.hpp"
#include "netlens/viz/frame_plan.hpp"
#include "gpu_types.hpp"
#include "netlens/viz/labels.hpp"
#include "netlens/render/renderer.hpp"
#include "vk_buffer.hpp"

namespace netlens::render {

constexpr VkFormat kColorFormat = VK_FORMAT_R8G8B8A8_UNORM;
constexpr VkFormat kIdFormat = VK_FORMAT_R32G32_UINT;
constexpr VkFormat kDepthFormat = VK_FORMAT_D32_SFLOAT;

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// ---- renderer_targets.cpp
struct GpuImage {
  UniqueImage img;
  UniqueMemory mem;
  UniqueImageView view;
};
// A 2D image with one mip level and layer, device-local memory (any type if none), and a view.
GpuImage make_image(Context& ctx, uint32_t w, uint32_t h, VkFormat fmt, VkImageUsageFlags usage,
                    VkSampleCountFlagBits samples, VkImageAspectFlags aspect);
VkImageMemoryBarrier2 image_barrier(VkImage img, VkImageAspectFlags aspect, VkImageLayout from, VkImageLayout to,
                                    VkPipelineStageFlags2 src_stage, VkAccessFlags2 src_access,
                                    VkPipelineStageFlags2 dst_stage, VkAccessFlags2 dst_access);

// What a frame renders into: colour (kColorFormat) and IDs (kIdFormat) single-sampled (resolve
// targets, copied or blitted from), their multisampled twins when samples > 1 (else empty), depth,
// and host buffers for reading the colour, the IDs and one probed ID back.
struct FrameTargets {
  GpuImage color_ms, id_ms, depth, color, id;
  GpuBuffer color_rb, id_rb, probe_rb;
};
FrameTargets make_targets(Context& ctx, int width, int height, VkSampleCountFlagBits samples);
// renderer_frame.cpp: the ID image's pixel (of `ids` per side) under frame pixel x (of `full`).
int id_pixel(int x, int full, int ids);
// The label font atlas as a sampled R8 image (SHADER_READ_ONLY_OPTIMAL), uploaded and waited for.
GpuImage upload_font(Context& ctx);

// ---- renderer_pipelines.cpp
// The buffers and font bound in descriptor set 0 (every draw) and one code chunk per set 1.
struct SetBuffers {
  VkBuffer frame, layers, parts, lut, regions, slabs, cells, layer_regions;
  VkImageView font;
  VkSampler sampler;
  std::vector<VkBuffer> chunks;
};
struct Descriptors {
  UniqueSetLayout set_layout, codes_layout;
  UniqueDescriptorPool pool;
  VkDescriptorSet set = VK_NULL_HANDLE;       // set 0
  std::vector<VkDescriptorSet> chunk_sets;    // set 1, one per code chunk
};
Descriptors make_descriptors(VkDevice dev, const SetBuffers& b);

struct Pipelines {
  UniquePipelineLayout layout;  // set 0 + set 1 (codes)
  UniquePipeline bg, slab, cell, line, overlay_line, text;
  UniquePipeline text_full;  // text on the single-sample colour image alone (reduced draw scale)
};
Pipelines make_pipelines(VkDevice dev, const Descriptors& d, VkSampleCountFlagBits samples);

// ---- renderer_labels.cpp
// Text and 2D panels (screen pixels) for the overlay pass: layer labels placed nearest first and
// never overlapping (none over an open layer's grid but its own), the title, the legend and the
// selected-neuron panel.
void build_labels(std::vector<gpu::TextVertex>& text, const viz::Scene& scene, const RenderOptions& opts,
                  const Selection& selection, const glm::mat4& view_proj, const viz::Camera& cam,
                  const std::vector<int>& order, const viz::OpenLabels& open = {});
// World-space lines: connection bundles between visible layers, the receptive-field wireframes and
// cones, and the fan-out. Returns the index of the first line drawn without the depth test (the
// fan-out lies behind the selected layer's own slabs when that layer is seen from the front);
// SIZE_MAX when there is none.
size_t build_lines(std::vector<gpu::LineVertex>& lines, const viz::Layout& layout, const RenderOptions& opts,
                   const Selection& selection, const std::vector<uint8_t>& visible);

// ---- The Renderer's state; its member functions live in the files above by concern.
struct Renderer::Impl {
  Context& ctx;
  // The scene drawn, borrowed (Renderer::update_values re-points it); methods alias it as `scene`.
  const viz::Scene* borrowed;
  Renderer::ValueReader value_reader;  // Renderer::set_value_reader
  RenderOptions opts;
  VkSampleCountFlagBits samples = VK_SAMPLE_COUNT_1_BIT;
  float radius = 1.0f;

  GpuBuffer layers_buf, parts_buf, lut_buf;
  // The scene's byte codes, split into parts (channel runs of a layer) packed into chunks, one
  // storage buffer and one descriptor set (set 1) per chunk; the packing is kept for in-place value
  // updates (Renderer::values_changed), with the layout the buffers were sized for.
  CodePacking codes;
  std::vector<GpuBuffer> chunk_bufs;
  std::vector<std::array<int64_t, 5>> layout_key;  // C, H, W, count, levels per layer
  std::vector<GpuBuffer> chunk_staging;            // host copies of the chunks, made on the first update
  GpuBuffer layers_staging;
  GpuBuffer patch_staging;                         // update_layers: the changed layers' bytes only
  GpuBuffer frame_buf, regions_buf, layer_regions_buf, slabs_buf, cells_buf, lines_buf, text_buf;
  std::optional<std::pair<int, int>> probe_px;
  std::pair<uint32_t, uint32_t> probe_id{0, 0};
  bool readback_once = false;
  FrameTargets targets;
  // Renderer::set_render_scale: below 1 the scene pass draws into `lo` (lo_w x lo_h, made when that
  // size changes), the IDs read back and probed come from it; ids_w/ids_h: the size of `ids`.
  float scale = 1.0f;
  FrameTargets lo;
  int lo_w = 0, lo_h = 0, ids_w = 0, ids_h = 0;
  bool reduced() const { return lo_w > 0 && (lo_w != opts.width || lo_h != opts.height); }
  void ensure_scale_targets();                           // renderer_targets.cpp
  void record_upscale(FrameStats& st);                   // renderer_frame.cpp
  GpuImage font;
  UniqueSampler sampler;
  Descriptors desc;
  Pipelines pipes;
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
  int open_layer = -1;   // set_open_layer: drawn as one tile per channel while open_t > 0
  float open_t = 0.0f;
  std::vector<glm::uvec2> slab_list, cell_list;
  std::vector<gpu::LineVertex> lines;
  size_t overlay_first = 0;  // lines[overlay_first..] are drawn without the depth test (build_lines)
  std::vector<gpu::TextVertex> text;

  Impl(Context& c, const viz::Scene& s, RenderOptions o) : ctx(c), borrowed(&s), opts(std::move(o)) {}
  std::optional<viz::PickResult> decode(uint32_t id_x, uint32_t id_y) const;  // renderer.cpp

  void init();                                           // renderer.cpp
  // renderer_codes.cpp
  void upload_codes();
  void fill_chunk(size_t k, uint8_t* bytes, gpu::GpuPart* gp) const;
  std::vector<gpu::GpuLayer> gpu_layers() const;
  std::vector<std::array<int64_t, 5>> current_layout_key() const;
  UploadStats values_changed();
  UploadStats layers_changed(std::span<const int> layers);
  std::vector<viz::ColorScale> codes_from_device(CodeBuilder& b, VkBuffer acts, const Renderer::TimelinePoint* wait,
                                                 const Renderer::TimelinePoint* signal, UploadStats* stats);
  // renderer_frame.cpp
  FrameStats render(const viz::Camera& cam, const PresentTarget* present);
  void build_instances(const viz::FrameView& fv, const viz::Camera& cam, FrameStats& st);
  void upload_frame(const viz::FrameView& fv, const viz::Camera& cam);
  void record_scene(FrameStats& st);
  void record_outputs(const PresentTarget* present, bool readback, bool probing);
  void submit_frame(const PresentTarget* present);
  void ensure_host_buffer(GpuBuffer& b, VkDeviceSize bytes, VkBufferUsageFlags usage);
};

}  // namespace netlens::render
