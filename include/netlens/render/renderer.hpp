// The offscreen renderer: draws a viz::Scene from a camera into a colour image and an ID buffer.
//
// Contract: the scene's codes are uploaded once (constructor), split over as many storage buffers
// as the device's limits require (one draw per buffer); each render() only uploads the
// camera, the selection and per-frame instance lists, so the frame cost follows what is on screen.
// Unfilled layers: a layer for which the scene holds neither codes (Scene::has_codes) nor host
// values (Scene::has_values; a progressive run's structure scene) has no codes written at all; its
// record is flagged (kLayerUnfilled) and it draws exactly as a layer of zeros (kCodeZero in its
// scale's zero colour, kCodeEmpty past a wrapped vector's end, at every pyramid level), picks with
// a NaN value. update_layers/update_values fill it once the scene has its values or codes.
//
// What a frame draws:
//  - far layers are drawn as slabs (one instanced box per channel, the fragment shader reads the
//    neuron's byte code, or the max/mean pyramid level matching the on-screen cell size);
//  - near layers (cells ≥ cell_min_px on screen) become individual lit cubes while they fit in
//    cell_budget, nearest first;
//  - connections are line bundles between volumes; labels and the legend are SDF text quads.
// After render(), the colour image (RGBA8, sRGB-encoded values) and the ID buffer (R32G32_UINT:
// layer + 1, neuron flat index; 0 = background) can be read back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlens/viz/camera.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/types.hpp"
#include "netlens/viz/picking.hpp"
#include "netlens/viz/receptive_field.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/viz/selection.hpp"

namespace netlens::render {

class CodeBuilder;

struct RenderOptions {
  int width = 1280, height = 720;
  int msaa = 4;                  // clamped to what the device supports
  bool lighting = true;
  bool grid_lines = true;
  bool labels = true;            // layer labels and the selected-neuron panel
  bool legend = true;
  bool connections = true;
  bool selection_lines = true;
  bool lod_max = true;           // pyramids aggregate by max |v| (else mean)
  int64_t cell_budget = 60000;   // individual cells drawn per frame at most (on-screen ones only)
  float cell_min_px = 10.0f;     // a layer turns into cells once its cells are this big on screen
  bool readback = true;          // copy colour and IDs to host memory after each frame
  std::string title;             // drawn top-left when not empty
  std::string subtitle;          // the line under the title; empty: "N layers, M activations"
  std::string value_name = "activation";  // what the cells show, named in the legend (ASCII: the label font's)
  // One colour scale for every layer (the difference and metric modes): the legend shows its range
  // [scale_lo, scale_hi] under value_name and this note, instead of the per-layer keys; non-finite
  // cells are called "no value" there. Empty: the per-layer legend.
  std::string scale_note;
  float scale_lo = 0.0f, scale_hi = 1.0f;
  bool scale_diverging = false;
  // Bars standing on the volumes (per-layer divergence or metric): one height in [0,1] per layout
  // layer, NaN for none; empty: no bars.
  std::vector<float> layer_bars;
  // Per layout layer, 1: its bar is drawn in kBarWarnColour, track included (so a bar of height 0
  // shows too), and a legend entry bottom right reads bar_warn_note (the gradient-flow strip's
  // vanishing/exploding layers). Empty or all 0: no warning colour, no entry.
  std::vector<uint8_t> layer_bar_warn;
  std::string bar_warn_note = "flagged";
  // Pixels covered by side panels drawn over the frame (the UI): the 2D overlays (title, legend,
  // selection panel, layer labels) stay between them.
  int inset_left = 0, inset_right = 0;
  // --text's tokens: a sequence tensor's token axis is labelled with them where they fit
  // (viz/token_labels.hpp; drawn with the layer labels). Empty: none.
  std::vector<std::string> tokens;
  // Largest code buffer to allocate, in bytes; 0 = what the device allows (maxStorageBufferRange,
  // maxMemoryAllocationSize, 1 GiB). Tests inject a small value to exercise the split cheaply.
  uint64_t max_buffer_bytes = 0;
};

// The warning colour of flagged per-layer bars (RenderOptions::layer_bar_warn): magenta, apart from
// the bars' orange and the colour maps' blues and reds.
inline constexpr float kBarWarnColour[4] = {1.0f, 0.30f, 0.85f, 1.0f};

// The selection lives in viz (selection.hpp: graph walking and highlight rules, tested without
// Vulkan); these names keep the render:: spelling its callers used working.
using viz::kMaxFanOutCells;
using viz::kMaxFanOutLines;
using viz::make_selection;

struct FrameStats {
  double cpu_ms = 0;      // culling, LOD choice, instance/label generation
  double submit_ms = 0;   // upload + record + GPU execution until the fence signals
  double total_ms = 0;
  uint32_t slab_instances = 0,  // layer boxes drawn as slab stacks
           cell_instances = 0, cell_layers = 0, draws = 0, labels = 0;
};


// A swapchain image to receive the frame (windowed use): after drawing, the colour image is blitted
// into `image` (left in PRESENT_SRC layout); the submission waits for `wait` (image acquired) and
// signals `signal` (ready to present). `image` must have the extent of the renderer's frame and a
// UNORM format (the colour values are already sRGB-encoded), with TRANSFER_DST usage.
struct PresentTarget {
  VkImage image = VK_NULL_HANDLE;
  VkSemaphore wait = VK_NULL_HANDLE, signal = VK_NULL_HANDLE;
};

// An overlay drawn over the finished frame (the UI panels): render() calls it once per frame after
// the scene pass, on its own thread, with the single-sample colour image in
// COLOR_ATTACHMENT_OPTIMAL (the scene's writes made visible to colour-attachment reads and writes);
// the overlay records into `cmd` (e.g. its own render pass with LOAD_OP_LOAD) and leaves the image
// in that layout. The ID buffer is not offered: picking sees through overlays, so the caller decides
// (e.g. ImGui's WantCaptureMouse) whether a click is the overlay's.
struct OverlayTarget {
  VkImage image = VK_NULL_HANDLE;
  VkImageView view = VK_NULL_HANDLE;
  VkFormat format = VK_FORMAT_UNDEFINED;
  VkExtent2D extent{};
};
using OverlayFn = std::function<void(VkCommandBuffer cmd, const OverlayTarget& target)>;

class Renderer {
 public:
  Renderer(Context& ctx, const viz::Scene& scene, RenderOptions opts);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  void set_selection(Selection s);
  // Installs (or, with an empty function, removes) the overlay drawn after every following frame.
  void set_overlay(OverlayFn fn);
  // RenderOptions::inset_left/right for the following frames (side panels shown or hidden, resized).
  void set_insets(int left, int right);
  // Opens layer `layer` (index in the scene's layout; -1: none) to openness t in [0, 1] for the
  // following frames (viz/open_layer.hpp): its channels are drawn as tiles of a grid, picked and
  // highlighted as the closed layer. t = 0 draws exactly the closed frame. Error{Usage} out of range.
  void set_open_layer(int layer, float t);
  const RenderOptions& options() const;
  int samples() const;

  FrameStats render(const viz::Camera& cam, const PresentTarget* present = nullptr);

  // New frame size (window resize): recreates the targets. Error{Usage} outside 16..8192.
  void resize(int width, int height);
  // Draw resolution of the 3D scene (dynamic resolution under load, e.g. while a model runs): at
  // s < 1 the scene pass (background, cells, slabs, lines) draws into targets of round(s·width) x
  // round(s·height) pixels and is scaled up (linear filter) into the frame's colour image, then the
  // text (labels, legend, panels) is drawn over it at the full size, then the overlay. IDs stay at
  // the reduced size: id_at(), pick() and the probe map a frame pixel to the reduced pixel whose
  // centre is nearest (what the upscale shows there). s is clamped to [0.25, 1]; s = 1 (the default)
  // draws exactly as without this call, byte for byte. Takes effect from the next frame; the reduced
  // targets are made when the reduced size changes (keep the set of scales small).
  void set_render_scale(float s);
  float render_scale() const;
  // Reads the ID at pixel (x, y) back after every following frame (a window's hover/click probe:
  // 8 bytes instead of the whole ID buffer); nullopt stops it. probe() is the last frame's result.
  void set_probe(std::optional<std::pair<int, int>> pixel);
  std::optional<viz::PickResult> probe() const;
  // The next frame is read back (colour and IDs) even when options().readback is off.
  void read_back_next_frame();

  // ---- New values (a live result, the same layout in another value mode) ---------------------------
  // Ownership: the renderer never owns a scene; it borrows one, the scene given to the constructor
  // until an update_values call names another (possibly the same object). It reads the borrowed
  // scene's codes, pyramids and colour scales only inside the constructor and these calls (into its
  // GPU buffers), and its layout, scales and host values while making a frame (labels, legend, the
  // selected neuron's value) and in pick()/probe(). So the owner keeps the borrowed scene alive and
  // unchanged from one of these calls to the next (or to the renderer's end): new values reach the
  // renderer through these calls only, never by writing into the scene it draws.
  // When: between two frames, on the thread that calls render() (render() waits for its own frame,
  // so none is in flight then). Each call has finished on the GPU when it returns, with a barrier
  // before any later shader read: every frame shows one result entirely, before the call or after it.
  //
  // Host values: `next` (same layout: layer shapes and pyramid depths, else Error{Internal} and the
  // renderer keeps the scene it had) becomes the borrowed scene; its codes, pyramids and colour scales
  // are copied into the existing buffers (no pipeline, descriptor or buffer is recreated) through
  // host staging buffers made on the first call. Layers of `next` with neither codes nor host values
  // are drawn unfilled.
  UploadStats update_values(const viz::Scene& next);
  // Some layers' new values (a progressive run patching in the layers it has computed): `next` (same
  // layout, as update_values; else Error{Internal} and the renderer keeps the scene it had) becomes
  // the borrowed scene, and only the listed layers (indices into its layout; repeats allowed, none:
  // nothing is copied) are rewritten on the GPU: their code ranges in the chunks (level 0 and both
  // pyramids, every part of a split layer) and their layer records (the colour-map kind). Every
  // other layer's bytes on the GPU are left as they are, so the owner promises that `next` differs
  // from the scene the renderer last read only in the listed layers (their values, codes, scales);
  // the result is then exactly what update_values(next) gives (same frames, byte for byte). A
  // listed layer with neither codes in `next` nor host values is drawn unfilled (only its record is
  // uploaded); an index out of range is Error{Usage}. Same timing as update_values: between two frames on the render thread, no frame
  // in flight, finished on the GPU when it returns. UploadStats::bytes counts the listed layers'
  // codes and records only; their staging buffer is sized to them (grown and kept across calls).
  UploadStats update_layers(const viz::Scene& next, std::span<const int> layers);
  // Codes made on the GPU (no host copy of the activations): one submission that waits for `wait` (a
  // timeline semaphore value, e.g. CUDA's "run N is done"; may be null), runs `builder` over
  // `activations` (see code_builder.hpp: its layout must be this renderer's), copies the codes into
  // this renderer's buffers and rewrites the layer records from the GPU's colour scales, then signals
  // `signal` (e.g. "activations of run N consumed: the next run may overwrite them"; may be null).
  // `next` (same layout) becomes the borrowed scene; its codes are not read. Returns the GPU's scales:
  // the one change the owner makes to `next` after this call, before the next frame (legends and
  // panels read them there). `next` need not hold host values for every layer (a zero-copy path keeps
  // only those it shows in 2D): pick() and probe() ask the value reader for the others.
  struct TimelinePoint { VkSemaphore semaphore = VK_NULL_HANDLE; uint64_t value = 0; };
  std::vector<viz::ColorScale> update_values_from_device(const viz::Scene& next, CodeBuilder& builder, VkBuffer activations,
                                                         const TimelinePoint* wait = nullptr,
                                                         const TimelinePoint* signal = nullptr,
                                                         UploadStats* stats = nullptr);
  // Where pick() and probe() take a neuron's value: `reader(layer, flat)` returns it (a zero-copy
  // owner reads the one value from the device) or nullopt for the borrowed scene's host value, which
  // must then exist. Empty (the default): always the host value. Called on the render thread.
  using ValueReader = std::function<std::optional<float>(int layer, int64_t flat)>;
  void set_value_reader(ValueReader reader);
  // The line under the title from the next frame on (live statistics); empty restores the default.
  void set_subtitle(std::string text);

  // How the scene's codes were split: storage buffers (chunks) and parts (channel runs of a layer;
  // a layer is split only when it does not fit in the rest of a chunk).
  int code_buffers() const;
  int parts() const;

  // After render() with readback: the frame's pixels (width·height·4, row-major, top row first).
  const std::vector<uint8_t>& rgba() const;
  // ID at pixel (x, y): (layer + 1, flat index), (0, 0) for background/out of range.
  std::pair<uint32_t, uint32_t> id_at(int x, int y) const;
  std::optional<viz::PickResult> pick(int x, int y) const;
  void write_png(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes RGBA8 pixels as PNG; Error{Io} on failure.
void write_png_rgba(const std::string& path, int w, int h, const uint8_t* rgba);

}  // namespace netlens::render
