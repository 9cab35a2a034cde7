// The Renderer's public API and its initialisation; the rest of it is split by concern (see
// renderer_impl.hpp for the file map).
#include "netlens/render/renderer.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "netlens/render/code_builder.hpp"
#include "renderer_impl.hpp"

namespace netlens::render {

static_assert(gpu::kCodeMaxColor == viz::kCodeMaxColor && gpu::kCodeZero == viz::kCodeZero &&
                  gpu::kCodeNonFinite == viz::kCodeNonFinite && gpu::kCodeEmpty == viz::kCodeEmpty,
              "byte codes differ between shaders/shared/types.h and include/netlens/viz/colormap.hpp");
static_assert(gpu::kMaxPyramidLevels + 1 == viz::kMaxLevels, "pyramid depth differs between shaders and viz");

void Renderer::Impl::init() {
  const viz::Scene& scene = *borrowed;  // the scene borrowed now (constructor, update_values)
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
  // Room for every part, plus one tile per channel of the widest layer (an open layer: set_open_layer).
  size_t max_c = 1;
  for (const auto& l : scene.layout.layers) max_c = std::max(max_c, static_cast<size_t>(l.dims.C));
  slabs_buf = make_buffer(ctx, sizeof(glm::uvec2) * (codes.parts.size() + max_c), ssbo, kHost, true);
  cells_buf = make_buffer(ctx, sizeof(glm::uvec2) * static_cast<VkDeviceSize>(std::max<int64_t>(opts.cell_budget, 1)),
                          ssbo, kHost, true);

  font = upload_font(ctx);
  VkSamplerCreateInfo si{.sType = VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO, .magFilter = VK_FILTER_LINEAR,
                         .minFilter = VK_FILTER_LINEAR, .mipmapMode = VK_SAMPLER_MIPMAP_MODE_NEAREST,
                         .addressModeU = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE,
                         .addressModeV = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE,
                         .addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE, .maxLod = 0.0f};
  VK_CHECK(vkCreateSampler(dev, &si, nullptr, sampler.out(dev)));

  std::vector<VkBuffer> chunks;
  for (const GpuBuffer& b : chunk_bufs) chunks.push_back(b.buf);
  desc = make_descriptors(dev, SetBuffers{.frame = frame_buf.buf, .layers = layers_buf.buf, .parts = parts_buf.buf,
                                         .lut = lut_buf.buf, .regions = regions_buf.buf, .slabs = slabs_buf.buf,
                                         .cells = cells_buf.buf, .layer_regions = layer_regions_buf.buf,
                                         .font = font.view, .sampler = sampler, .chunks = chunks});
  targets = make_targets(ctx, opts.width, opts.height, samples);
  pipes = make_pipelines(dev, desc, samples);

  make_command_buffer(ctx, cmd_pool, cmd, fence);
}

Renderer::Renderer(Context& ctx, const viz::Scene& scene, RenderOptions opts)
    : impl_(std::make_unique<Impl>(ctx, scene, std::move(opts))) {
  impl_->init();
}
UploadStats Renderer::update_values(const viz::Scene& next) {
  const viz::Scene* before = impl_->borrowed;
  impl_->borrowed = &next;
  try {
    return impl_->values_changed();
  } catch (...) {
    impl_->borrowed = before;  // refused (another layout): the renderer keeps the scene it had
    throw;
  }
}

UploadStats Renderer::update_layers(const viz::Scene& next, std::span<const int> layers) {
  const viz::Scene* before = impl_->borrowed;
  impl_->borrowed = &next;
  try {
    return impl_->layers_changed(layers);
  } catch (...) {
    impl_->borrowed = before;
    throw;
  }
}

std::vector<viz::ColorScale> Renderer::update_values_from_device(const viz::Scene& next, CodeBuilder& builder,
                                                                 VkBuffer activations, const TimelinePoint* wait,
                                                                 const TimelinePoint* signal, UploadStats* stats) {
  const viz::Scene* before = impl_->borrowed;
  impl_->borrowed = &next;
  try {
    return impl_->codes_from_device(builder, activations, wait, signal, stats);
  } catch (...) {
    impl_->borrowed = before;
    throw;
  }
}

void Renderer::set_value_reader(ValueReader reader) { impl_->value_reader = std::move(reader); }

// A pick: the host value of the borrowed scene, unless the value reader supplies it (a layer whose
// values stayed on the device).
std::optional<viz::PickResult> Renderer::Impl::decode(uint32_t id_x, uint32_t id_y) const {
  const viz::Scene& scene = *borrowed;
  if (id_x == 0 || id_x > scene.layout.layers.size()) return std::nullopt;
  const int layer = static_cast<int>(id_x) - 1;
  if (value_reader) {
    if (auto v = value_reader(layer, id_y)) {
      if (static_cast<int64_t>(id_y) >= scene.layout.layers[static_cast<size_t>(layer)].dims.count) return std::nullopt;
      viz::PickResult p;
      const viz::LayerVolume& l = scene.layout.layers[static_cast<size_t>(layer)];
      p.layer = layer;
      p.tensor = l.tensor.name;
      p.flat = id_y;
      p.cell = viz::cell_of(l.dims, p.flat);
      p.index = viz::tensor_index(l, p.flat);
      p.value = *v;
      return p;
    }
  }
  return viz::decode_pick(scene, id_x, id_y);
}

void Renderer::set_subtitle(std::string text) { impl_->opts.subtitle = std::move(text); }
int Renderer::code_buffers() const { return static_cast<int>(impl_->chunk_bufs.size()); }
int Renderer::parts() const { return static_cast<int>(impl_->codes.parts.size()); }
Renderer::~Renderer() {
  if (impl_ && impl_->ctx.device()) vkDeviceWaitIdle(impl_->ctx.device());
}
void Renderer::set_selection(Selection s) { impl_->selection = std::move(s); }
void Renderer::set_overlay(OverlayFn fn) { impl_->overlay = std::move(fn); }
void Renderer::set_insets(int left, int right) {
  impl_->opts.inset_left = left;
  impl_->opts.inset_right = right;
}
void Renderer::set_open_layer(int layer, float t) {
  if (layer < -1 || layer >= static_cast<int>(impl_->borrowed->layout.layers.size()))
    throw Error(ErrorKind::Usage, "open layer: index " + std::to_string(layer) + " is not a layer of the scene");
  impl_->open_layer = layer;
  impl_->open_t = std::clamp(t, 0.0f, 1.0f);
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
  impl_->targets = make_targets(impl_->ctx, width, height, impl_->samples);
}

void Renderer::set_probe(std::optional<std::pair<int, int>> pixel) { impl_->probe_px = pixel; }

std::optional<viz::PickResult> Renderer::probe() const {
  return impl_->decode(impl_->probe_id.first, impl_->probe_id.second);
}

void Renderer::read_back_next_frame() { impl_->readback_once = true; }
const std::vector<uint8_t>& Renderer::rgba() const { return impl_->pixels; }

std::pair<uint32_t, uint32_t> Renderer::id_at(int x, int y) const {
  const auto& o = impl_->opts;
  if (!impl_->have_frame || x < 0 || y < 0 || x >= o.width || y >= o.height) return {0, 0};
  // The IDs may be at a reduced size (set_render_scale): the pixel the upscale shows at (x, y).
  const int ix = id_pixel(x, o.width, impl_->ids_w), iy = id_pixel(y, o.height, impl_->ids_h);
  size_t i = (static_cast<size_t>(iy) * static_cast<size_t>(impl_->ids_w) + static_cast<size_t>(ix)) * 2;
  return {impl_->ids[i], impl_->ids[i + 1]};
}

std::optional<viz::PickResult> Renderer::pick(int x, int y) const {
  auto [a, b] = id_at(x, y);
  return impl_->decode(a, b);
}

void Renderer::write_png(const std::string& path) const {
  if (!impl_->have_frame) throw Error(ErrorKind::Internal, "write_png: no frame rendered with readback");
  write_png_rgba(path, impl_->opts.width, impl_->opts.height, impl_->pixels.data());
}

}  // namespace netlens::render
