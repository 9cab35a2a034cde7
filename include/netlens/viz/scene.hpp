// A laid-out network with its activations turned into what the renderer draws: per layer a colour
// scale and byte codes for level 0 and for the max/mean pyramids, all packed in three flat arrays.
// Contract: built once per input (values change → rebuild); the camera never changes it.
//
// Memory per shown activation (issue 13): a copying scene (the default) holds 4 bytes of float32
// values + 1 byte of level-0 code + 2·p bytes of max/mean pyramid codes (p = pyramid cells per
// level-0 cell: ~1/3 for square maps, ≤ 1 for a 1-wide one), ~5.7 B; the renderer's GPU chunks
// another 1 + 2p. A borrowing scene (SceneOptions::borrow_values) holds neither values nor codes:
// 0 B per activation beyond the fetched tensors (for activations, views of the session's store),
// plus the GPU chunks' 1 + 2p (~1.7 B, host memory on lavapipe). A structure scene
// (app::structure_scene: a progressive run's first frame) holds neither values nor codes for any
// layer, 0 B per neuron: the renderer draws such "unfilled" layers in the zero colour without
// writing their codes; layers patched in later carry host values (app::patch_scene).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "netlens/viz/colormap.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/viz/lod.hpp"

namespace netlens::viz {

// How the colour scales are chosen, and how many threads build the scene.
//  - Per layer (default): layer i's scale is robust_scale(values_i, lo_pct, hi_pct, max_samples).
//  - Global: one scale for every layer, by the same rule over the union of the layers' samples:
//    scale_from_sample(concatenation, in layer order, of scale_sample(values_i, max_samples), with
//    `negative` set if any layer's is), so diverging as soon as one layer is signed; a big layer
//    weighs at most max_samples samples.
// The defaults are the renderer's scale; CodeBuilder (GPU) supports only per-layer scales with
// integer percentiles. The threads never change a byte of the result.
struct SceneOptions {
  float lo_pct = 1.0f, hi_pct = 99.0f;  // percentile range (robust_scale's)
  bool global_scale = false;
  size_t max_samples = 1u << 20;        // per layer
  int threads = 0;                      // 0: one per hardware thread; n: at most n
  // Where the values stay. false: each layer holds a float32 copy (SceneLayer::values) and the scene
  // every code, independent of the fetched tensors afterwards (what the live path needs: its session
  // runs the next input meanwhile). true: each layer keeps the fetched tensor itself
  // (SceneLayer::source: for activations a view of the session's store, nothing copied) and the
  // scene holds no codes: write_codes makes them from the values where they are needed (the
  // renderer, chunk by chunk as it uploads). The fetched tensors must not change while the scene
  // lives (the session is not run again). The codes are the same bytes either way.
  bool borrow_values = false;
  // Same colour scales (everything but the thread count).
  bool same_scales(const SceneOptions& o) const {
    return lo_pct == o.lo_pct && hi_pct == o.hi_pct && global_scale == o.global_scale && max_samples == o.max_samples;
  }
};

struct Scene;

struct SceneLayer {
  ColorScale scale;
  std::vector<float> values;  // copying scenes: the volume's d.count neurons (batch 0), float32
  // Borrowing scenes (values empty): the fetched tensor, float32, float16 or bfloat16; its first
  // d.count elements are batch 0, zeros past its end. Read it through Scene::value / floats.
  Tensor source;
  uint64_t code0_offset = 0;  // byte offset into Scene::codes0
  int levels = 0;             // aggregated levels (≥ 1) available
  std::array<uint64_t, kMaxLevels> level_offset{};  // [k] for level k ≥ 1, into codes_max/codes_mean
  // A scene without codes (a progressive run's structure scene): this layer's codes made elsewhere,
  // as a one-layer scene with codes for exactly this layer (app::patch_scene of a piece built on the
  // run's thread). write_codes copies them instead of making them from the values (the same bytes:
  // the piece was built from these values with this scale). Null otherwise; dropped once uploaded.
  std::shared_ptr<const Scene> codes;
};

struct Scene {
  Layout layout;
  std::vector<SceneLayer> layers;  // parallel to layout.layers
  std::vector<uint8_t> codes0, codes_max, codes_mean;  // empty in a borrowing scene (has_codes)
  SceneOptions options;  // what it was built with (a GPU-made scene: the defaults)
  int64_t neurons() const;  // total neurons shown
  bool has_codes() const { return !codes0.empty() || !codes_max.empty(); }
  // Neuron `flat` of layer `layer` as float32, from the copy or the source (std::out_of_range
  // outside [0, d.count) or for a layer index out of range).
  float value(int layer, int64_t flat) const;
  // Whether layer `layer` has host values (a copy or a source); a GPU-made scene has none.
  bool has_values(int layer) const;
  // The layer's d.count values as float32: the copy itself, a float32 source in place, else
  // converted into `scratch` (resized). Error{Internal} without host values.
  std::span<const float> floats(int layer, std::vector<float>& scratch) const;
  // Bytes of copied values and codes the scene holds (sources not counted: for activations they are
  // views of the session's store; a difference or metric mode's fetch makes them for the scene).
  uint64_t host_bytes() const;
};

// The global scale of SceneOptions' rule over these layers' values (opts.global_scale ignored).
ColorScale global_scale(const std::vector<std::span<const float>>& layers, const SceneOptions& opts = {});
// The same rules over a scene's host values (copied or borrowed), by opts (its scales ignored):
// layer_scale is robust_scale(values_i, opts.lo_pct, opts.hi_pct, opts.max_samples). A layer without
// host values (a GPU-made scene) samples nothing, as robust_scale of no values.
ColorScale layer_scale(const Scene& s, int layer, const SceneOptions& opts);
ColorScale global_scale(const Scene& s, const SceneOptions& opts);

// Where write_codes puts the codes of channels [c0, c1) of a layer: level 0's (c1-c0)·H·W bytes at
// level0, level k's (c1-c0)·h_k·w_k max and mean codes at max[k] and mean[k] (k = 1..levels; [0]
// unused), each channel-major as in the scene's flat arrays.
struct CodeTarget {
  int layer = 0;
  int64_t c0 = 0, c1 = 0;
  uint8_t* level0 = nullptr;
  std::array<uint8_t*, kMaxLevels> max{}, mean{};
};
// Writes the targets' codes with the scene's scales: copied from the scene's codes when it has them,
// else made from its host values (the bytes build_scene_from_values makes); without codes, every
// target's layer must have host values (the renderer leaves an unfilled layer out). Targets are split by
// channel runs over `threads` threads (0: one per hardware thread); scratch is per task, about
// 2^16 neurons (at least one channel) converted to float32 plus the pyramid's next level.
void write_codes(const Scene& s, std::span<const CodeTarget> targets, int threads = 0);

// The same layout and values with opts' scales and codes (opts.borrow_values is the scene's own).
Scene rebuild_scene(Scene s, const SceneOptions& opts);

// fetch(name) returns the host tensor of a shown tensor (any float dtype; converted to float32).
// fetch is called on the calling thread only, layer after layer; the rest (copies, scales, codes,
// pyramids) runs on SceneOptions::threads threads, across layers and channel ranges within a layer.
// Callable from any thread; its worker threads are started and joined inside the call. Every
// fetched tensor is held until it is copied: where fetch copies (device backends) the peak is the
// shown activations twice. With opts.borrow_values the fetched tensors are kept as the layers'
// sources (float64 ones converted to float32) and only the scales are computed.
Scene build_scene(Layout layout, const std::function<Tensor(const std::string&)>& fetch,
                  const SceneOptions& opts = {});
// What build_scene reads: per layer the d.count values of batch 0 as float32 (zero-padded), fetched
// on the calling thread, converted on opts' threads. Error{Input} for a non-float tensor.
std::vector<std::vector<float>> layer_values(const Layout& layout, const std::function<Tensor(const std::string&)>& fetch,
                                             const SceneOptions& opts = {});
// Same, from values already in memory (moved in), one vector per layer of d.count floats.
Scene build_scene_from_values(Layout layout, std::vector<std::vector<float>> values, const SceneOptions& opts = {});

// A synthetic chain network (tensor i feeds i+1) with the given shapes and deterministic
// pseudo-random activations: ReLU-like (≥ 0, ~40% exact zeros) for odd layers, signed otherwise.
std::vector<VizTensor> synthetic_tensors(const std::vector<Shape>& shapes);
Scene synthetic_scene(const std::vector<Shape>& shapes, uint32_t seed = 1);
// A VGG-like stack of conv/pool shapes with about `neurons` activations in total.
std::vector<Shape> synthetic_vgg_shapes(int64_t neurons);
// VGG-16's activation shapes at 224×224 (15.2M neurons): input, 13 conv+ReLU, 5 pools, 3 FC.
std::vector<Shape> vgg16_shapes();

}  // namespace netlens::viz
