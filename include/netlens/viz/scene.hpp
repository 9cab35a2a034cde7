// A laid-out network with its activations turned into what the renderer draws: per layer a colour
// scale and byte codes for level 0 and for the max/mean pyramids, all packed in three flat arrays.
// Contract: built once per input (values change → rebuild); the camera never changes it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
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
  // Same colour scales (everything but the thread count).
  bool same_scales(const SceneOptions& o) const {
    return lo_pct == o.lo_pct && hi_pct == o.hi_pct && global_scale == o.global_scale && max_samples == o.max_samples;
  }
};

struct SceneLayer {
  ColorScale scale;
  std::vector<float> values;  // the volume's d.count neurons (batch 0), float32
  uint64_t code0_offset = 0;  // byte offset into Scene::codes0
  int levels = 0;             // aggregated levels (≥ 1) available
  std::array<uint64_t, kMaxLevels> level_offset{};  // [k] for level k ≥ 1, into codes_max/codes_mean
};

struct Scene {
  Layout layout;
  std::vector<SceneLayer> layers;  // parallel to layout.layers
  std::vector<uint8_t> codes0, codes_max, codes_mean;
  SceneOptions options;  // what it was built with (a GPU-made scene: the defaults)
  int64_t neurons() const;  // total neurons shown
  float value(int layer, int64_t flat) const { return layers.at(layer).values.at(static_cast<size_t>(flat)); }
};

// The global scale of SceneOptions' rule over these layers' values (opts.global_scale ignored).
ColorScale global_scale(const std::vector<std::span<const float>>& layers, const SceneOptions& opts = {});

// fetch(name) returns the host tensor of a shown tensor (any float dtype; converted to float32).
// fetch is called on the calling thread only, layer after layer; the rest (copies, scales, codes,
// pyramids) runs on SceneOptions::threads threads, across layers and channel ranges within a layer.
// Callable from any thread; its worker threads are started and joined inside the call. Every
// fetched tensor is held until it is copied: where fetch copies (device backends) the peak is the
// shown activations twice.
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
