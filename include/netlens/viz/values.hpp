// What the cells of the volumes show (the value mode): the activation, its gradient, or their
// product (the attribution of each neuron to the target: gradient × activation, the first-order
// contribution of a neuron's value to S); the difference between two runs (A/B: two models with the
// same graph, or one model on two inputs); or a per-layer metric (latency, FLOPs, parameters,
// memory, gradient norm, any {name: value} JSON: viz/metrics.hpp). Every mode goes through the same
// scene, colour scales (diverging for signed values, robust percentiles), level of detail and picking.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "netlens/viz/layout.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/runtime.hpp"

namespace netlens::viz {

enum class ValueMode { Activation, Gradient, Attribution, Difference, Metric };

// "activation" | "gradient" | "attribution"; Error{Usage} naming the flag otherwise. (Difference
// and Metric need a second run or a metric: their own flags choose them, --diff and --metric.)
ValueMode parse_value_mode(const std::string& text, const std::string& flag = "--values");
const char* value_mode_name(ValueMode m);

// What the Difference and Metric modes read besides the session (unused by the other modes).
struct ValueSources {
  // Difference: run B, borrowed like the session (call value_fetch's function while both keep their
  // run). Tensors are aligned by name; a shown tensor that B lacks or holds with another shape is
  // drawn as NaN (the legend's "no value" swatch).
  const Session* b = nullptr;
  bool relative = false;  // |a−b| / (|a| + 1e-6·max|a|) (difference_values) instead of |a−b|
  // Metric: one value per shown tensor (tensor name → value; viz::tensor_metric): every neuron of
  // the layer shows it; a layer without one shows NaN ("no value").
  std::map<std::string, double> metric;
  // Bars drawn beside the volumes: tensor name → a value ≥ 0 (the layer's divergence rel_l2_diff,
  // or its metric), scaled by the largest. Empty: no bars.
  std::map<std::string, double> layer_bars;
  std::string name;  // what the legend calls the values ("|a-b|", "latency ms"); "" = the mode's name
};

// The fetch function build_scene takes for a mode. Gradient and attribution read the session's
// gradients (Error{Usage} when it holds none: run Session::backward first); a tensor without a
// gradient (an integer one) is refused by build_scene like any non-float tensor. Difference needs
// `src.b` and Metric a non-empty `src.metric` (Error{Usage} otherwise). The returned function
// borrows `s` and `src` (and src.b): call it while they live and keep this run.
std::function<Tensor(const std::string&)> value_fetch(const Session& s, ValueMode m, const ValueSources& src = {});

// The colour scales a mode's scene is built with: Difference and Metric share one scale over every
// layer (global_scale), so colours compare across layers; Metric maps the full range (p0..p100), so
// the colour order of the layers is the order of their metric values. Other modes: `base` as is.
SceneOptions mode_scene_options(ValueMode m, SceneOptions base);
// The legend's name for the values: src.name when set, else value_mode_name(m).
std::string value_label(ValueMode m, const ValueSources& src);

// Element-wise |a−b|, or with `relative` |a−b| / (|a| + eps), eps = 1e-6·max|a| over the finite
// values of a (so exact zeros of A stay finite); float32 of a's shape; NaN where a or b is NaN/±Inf.
// Any float dtypes (float16 B converted exactly). Error{Input} naming `name` when the shapes differ
// or one is not a float tensor.
Tensor difference_values(const std::string& name, const Tensor& a, const Tensor& b, bool relative);

// Where the values are on a device instead (the CUDA interop path, where a Session's activation
// arena is a Vulkan-exported buffer that render::CodeBuilder reads in place): byte offsets of the
// layout's tensors in backend `backend`'s arena (the session's planned() slots). Error{Unsupported}
// naming the tensor when one lives on another backend (a fallback node's output), is a constant, or
// is not float32.
std::vector<uint64_t> arena_offsets(const Layout& layout, const std::vector<PlannedTensor>& planned, int backend);

}  // namespace netlens::viz
