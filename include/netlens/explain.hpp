// netlens explain: why a model decided what it did, from the gradients of Session::backward.
//
// - Targets: which scalar S is differentiated (a class logit or probability, an output element, the
//   sum over a box of an output map, a decoded CTC character, the cross-entropy loss at a label),
//   parsed from text (parse_target), resolved against a run (resolve_target: fixes the class, step
//   or box, so SmoothGrad / integrated gradients / occlusion keep the same S on other inputs), and
//   turned into the seed map of Session::backward (Target::seed) plus a sentence (description).
// - Input attribution: saliency, gradient × input, SmoothGrad, integrated gradients (completeness
//   error reported), occlusion sensitivity (forward only), all as an H×W map of the model input.
// - Grad-CAM / Grad-CAM++ of a convolutional layer (N C H W) or of a transformer token layer
//   ([1, T, D] with T = h·w or 1 + h·w, the grid found from the model), upsampled to the input.
// - Channel importance (mean over space of gradient × activation) and gradient flow (per tensor,
//   from the output back to the input, vanishing / exploding steps flagged by a stated rule).
//
// No Vulkan, no ImGui: core + runtime (+ io for the image overlay). Threads: none of these functions
// may run concurrently on one Session (they run it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/runtime.hpp"

namespace netlens::explain {

// What a class / element target measures: the logit (the pre-Softmax / pre-Sigmoid value) or the
// probability (softmax taken by netlens over the class axis when the output is logits; an output
// that is already a Softmax or Sigmoid is differentiated as is).
enum class Score { Logit, Probability };

// A target as the user wrote it. Grammar (parse_target):
//   class:N | class:LABEL            class N of the first output (LABEL: a line of the label file)
//   loss:N | loss:LABEL              cross-entropy −log softmax(z)[N] of the first output
//   output:TENSOR[:i,j,...]          one element (flat or full index; "[c, y, x]" accepted); without
//                                    an index, the largest element
//   region:TENSOR:x0,y0,x1,y1[:C]    sum over the box x0 ≤ x < x1, y0 ≤ y < y1 of the map's last two
//                                    dims, every channel or channel C
//   ctc:TENSOR:T | ctc:T             the character read at time step T (its class's score there)
//   char:K | char:TENSOR:K           the K-th decoded character (0-based), at the step it was read
//   ctc | ctc:TENSOR                 every decoded character (the sum of their scores)
// TENSOR may itself contain ':' (the index/box is the last field). The default (empty text) is
// the top class of the first output; for a first output that is not a classifier see
// resolve_target. Malformed text is one Error{Usage} saying what was expected.
struct TargetSpec {
  enum class Kind { Default, Class, Loss, Output, Region, Ctc, CtcChar, CtcAll };
  Kind kind = Kind::Default;
  std::string text;            // as given
  std::string tensor;          // "" = the first graph output
  int64_t cls = -1;            // Class / Loss by index
  std::string label;           // Class / Loss by label
  std::vector<int64_t> index;  // Output: one value = flat index, else a full index; empty = argmax
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0, channel = -1;  // Region
  int64_t step = -1;           // Ctc
  int64_t char_index = -1;     // CtcChar
  Score score = Score::Logit;
};
TargetSpec parse_target(const std::string& text, Score score = Score::Logit);
Score parse_score(const std::string& text);  // "logit" | "prob" | "probability"; Error{Usage}

// A target fixed against one run. S = Σ_j w_j · f_j(t), t the values of `tensor`, where f is the
// identity, or per row along the class axis softmax / −log softmax / −log, or the sigmoid.
struct Target {
  enum class Transform { Identity, Softmax, Sigmoid, NegLogSoftmax, NegLog };
  TargetSpec spec;
  std::string output;        // the output (or tensor) the user named or the default picked
  std::string tensor;        // the tensor seeded: `output`, or the logits feeding its Softmax/Sigmoid
  Shape shape;               // tensor's shape
  Transform transform = Transform::Identity;
  int64_t axis_stride = 1, axis_len = 1;   // the class axis (rows of Softmax / NegLog*)
  std::vector<std::pair<int64_t, double>> weights;  // (flat index into tensor, w)
  int64_t cls = -1;          // the class (or CTC character class) targeted; -1 for elements/regions
  std::string description;   // one sentence: what S is

  double value(const Tensor& t) const;  // S from the tensor's values (any float dtype)
  Tensor seed(const Tensor& t) const;   // dS/dt, float32, t's shape
  double value(const Session& s) const;                      // S of the session's last run
  std::map<std::string, Tensor> seeds(const Session& s) const;  // for Session::backward
};

// Fixes a target against the session's last run (it must have run). `labels`: the label file's
// lines for class:LABEL and descriptions (a CTC dictionary for ctc targets: class i ≥ 1 is line
// i − 1, class lines + 1 a space). The default target: the top class of the first float output when
// it is a classifier ([N, C], [C], [N, C, 1, 1]); every decoded character when it is a CTC output
// ([N, T, C], T, C > 1); the whole map (region) when its last two dims are spatial; else its largest
// element. Batch item 0 throughout. Errors: Error{Usage} naming the tensor, class, label or box.
Target resolve_target(const Session& s, const TargetSpec& spec, const std::vector<std::string>& labels = {});

// A CTC greedy decoding (argmax per step, repeats collapsed, blank class 0 dropped), batch item 0.
struct CtcChar {
  int64_t cls = 0, first_step = 0, steps = 0;
};
std::vector<CtcChar> ctc_greedy(const Tensor& output);

// The top class of the first float output as the default target reads it, with its probability
// (softmax applied unless the row is already a distribution).
struct Prediction {
  std::string tensor;
  int64_t cls = -1;
  std::string label;
  double logit = 0, probability = 0;
  bool softmax_applied = false;
};
std::optional<Prediction> top_prediction(const Session& s, const std::vector<std::string>& labels = {});

// ---------------------------------------------------------------------------------------------
// The image input attributed: the first float rank-4 graph input.
struct InputLayout {
  std::string name;
  bool nhwc = false;
  int64_t channels = 0, height = 0, width = 0;
  int64_t offset(int64_t c, int64_t y, int64_t x) const {
    return nhwc ? (y * width + x) * channels + c : (c * height + y) * width + x;
  }
};
// Error{Usage} when the model has no rank-4 float input (N must be 1).
InputLayout input_layout(const Session& s);

// A map over the model input's pixels, row-major height × width.
struct Heatmap {
  int64_t height = 0, width = 0;
  std::vector<float> values;
  bool signed_values = false;  // gradient × input, IG, occlusion: signed; saliency, CAMs: ≥ 0
};

enum class Method { Saliency, GradXInput, SmoothGrad, IntegratedGradients, GradCam, GradCamPlusPlus, HiResCam, Occlusion };
// The methods that read a layer (Grad-CAM, Grad-CAM++, HiResCAM): --layer applies to them.
inline bool is_cam(Method m) { return m == Method::GradCam || m == Method::GradCamPlusPlus || m == Method::HiResCam; }
Method parse_method(const std::string& text);  // the CLI names; Error{Usage}
std::string method_name(Method m);
enum class IgRule { Midpoint, Trapezoid };

struct MethodOptions {
  Method method = Method::Saliency;
  int smoothgrad_samples = 25;
  double smoothgrad_sigma = -1;   // < 0: 0.15 × (max − min) of the input
  uint32_t seed = 1;              // SmoothGrad noise (mt19937, normal)
  int ig_steps = 32;
  IgRule ig_rule = IgRule::Midpoint;
  std::optional<Tensor> baseline; // IG baseline; default zeros in the model's input space
  int64_t patch = 0, stride = 0;  // occlusion; 0 = min(32, ⌈min(H, W) / 4⌉) and patch / 2
  float occlusion_value = 0;      // what occluded pixels are set to (model input space)
  std::string layer;              // Grad-CAM: tensor or node name; "" = default_cam_layer
};

// Occlusion's windows for an input (the defaults of MethodOptions made concrete): what explain()
// runs, so a caller can say how many forward runs it will take before starting them.
struct OcclusionGrid {
  int64_t patch = 0, stride = 0;
  std::vector<int64_t> ys, xs;  // window origins; the last of each reaches the border
  int64_t windows() const { return static_cast<int64_t>(ys.size() * xs.size()); }
};
OcclusionGrid occlusion_grid(const InputLayout& l, const MethodOptions& opts);

// How a Grad-CAM layer's values lie over the input.
struct LayerGrid {
  std::string tensor;
  bool tokens = false;       // [1, T, D] token layer (else N C H W)
  bool class_token = false;  // T = 1 + h·w: token 0 dropped
  int64_t channels = 0, h = 0, w = 0;
  int64_t patch = 0;         // tokens: the patch size the grid came from (input / grid)
  // Value of channel c at grid cell (y, x) in a tensor of this layer's shape.
  float at(const float* data, int64_t c, int64_t y, int64_t x) const;
};
// Error{Usage} naming the tensor when it is neither N C H W (N = 1, h·w > 1) nor a token layer whose
// grid can be found: T = h·w or 1 + h·w with h/w from the input size divided by the stride of the
// patch-embedding Conv (the first Conv reading the input whose stride equals its kernel), or from a
// rank-4 tensor of the model with h·w spatial cells.
LayerGrid layer_grid(const Session& s, const std::string& tensor_or_node);
// The last spatial layer the target depends on before the global pooling / classifier: the last
// tensor (in node order) that layer_grid accepts, with channels > 1 and a gradient that is non-zero
// somewhere on the grid (so the session must hold gradients). Error{Usage} when none.
std::string default_cam_layer(const Session& s);

struct ChannelScore {
  int64_t channel = 0;
  double importance = 0;  // mean over the grid of gradient × activation
  double weight = 0;      // the Grad-CAM weight (mean gradient) or Grad-CAM++ weight
};
// Channel importance for the target, best first (all channels).
std::vector<ChannelScore> channel_importance(const Session& s, const LayerGrid& g);

// Grad-CAM (weights: mean gradient per channel) or Grad-CAM++ (weights Σ relu(G)·α with
// α = G² / (2G² + Σ_grid(A)·G³), α = 0 where G = 0): cam = relu(Σ_c w_c A_c) on the grid, then
// bilinear (half-pixel, as PyTorch's align_corners=False) to out_h × out_w. `grid_cam` (optional)
// receives the h × w map before upsampling.
Heatmap grad_cam(const Session& s, const LayerGrid& g, bool plus_plus, int64_t out_h, int64_t out_w,
                 std::vector<float>* grid_cam = nullptr, std::vector<ChannelScore>* weights = nullptr);
// HiResCAM (Draelos & Carin 2020): cam = relu(Σ_c G_c ⊙ A_c) per grid cell, no averaging of the
// gradient over the grid, so a target confined to a region (one text line of a detector's map) is
// localised where Grad-CAM's per-channel means spread it over every region those channels fire
// on. Same upsampling as grad_cam.
Heatmap hires_cam(const Session& s, const LayerGrid& g, int64_t out_h, int64_t out_w, std::vector<float>* grid_cam = nullptr);

// Gradient flow of the session's gradients. Entries run from the output back to the input (by
// producer node, descending; graph inputs last), one per float non-constant tensor with a non-zero
// gradient or feeding a node whose output has one. Rule: a tensor's step ratio is its gradient RMS
// over the largest gradient RMS among the outputs of the nodes that read it (the next layers);
// "vanishing" when below 1e-3 (0 included: the gradient dies there), "exploding" above 1e3.
struct FlowEntry {
  std::string tensor, node, op;  // node/op "" for graph inputs
  int64_t numel = 0;
  double grad_norm = 0, grad_rms = 0, grad_max_abs = 0, act_norm = 0;
  double norm_ratio = 0;        // grad_norm / act_norm (0 when act_norm is 0)
  double step_ratio = 1;        // see the rule above (1 when no next layer: the seeded tensor)
  std::string flag;             // "", "vanishing", "exploding"
};
struct GradientFlow {
  std::vector<FlowEntry> entries;
  std::string rule;
  int vanishing = 0, exploding = 0;
  double input_rms = 0, target_rms = 0;  // gradient RMS at the attributed input and the seeded tensor
};
GradientFlow gradient_flow(const Session& s, const std::string& seeded_tensor);

// One explanation of one target on the session's inputs. The session runs (several times for
// SmoothGrad, IG and occlusion) and is left holding the run and gradients of `inputs` themselves.
struct Explanation {
  Method method = Method::Saliency;
  Heatmap heat;                // input H × W
  Tensor attribution;          // per input element (input's shape, float32); gradient methods only
  double target_value = 0;     // S(x)
  // SmoothGrad
  int samples = 0;
  double sigma = 0;
  // IG
  int steps = 0;
  IgRule rule = IgRule::Midpoint;
  std::string baseline;        // "zeros" or "given"
  double baseline_value = 0;   // S(baseline)
  double attribution_sum = 0;  // Σ attribution
  double completeness_error = 0;  // |Σ attr − (S(x) − S(baseline))| / max(|S(x) − S(baseline)|, 1e-12)
  // occlusion
  int64_t patch = 0, stride = 0;
  float occlusion_value = 0;
  int forward_runs = 0, backward_runs = 0;
  // Grad-CAM
  LayerGrid layer;
  std::vector<ChannelScore> channels;  // ranked by importance
};
Explanation explain(Session& s, const std::map<std::string, Tensor>& inputs, const Target& target,
                    const MethodOptions& opts);

// The heat over the model input from the gradients `s` already holds (no run): max_c |dS/dx|
// (saliency) or, with gradient_x_input, sum_c x·dS/dx — the same numbers explain() writes for
// Method::Saliency / GradXInput when the session's gradients are of the same target and input.
// Error{Usage} without gradients or without an image input.
Heatmap input_heat(const Session& s, bool gradient_x_input = false);
// A map over the input's pixels as a tensor of the input's shape (batch 1), every channel holding
// the pixel's heat: the input slab's values in the viewer's gradient modes.
Tensor input_heat_volume(const Session& s, const Heatmap& h);

// ---------------------------------------------------------------------------------------------
// Pictures. Bilinear half-pixel resize of a row-major map.
std::vector<float> resize_bilinear(const std::vector<float>& src, int64_t h, int64_t w, int64_t out_h, int64_t out_w);
// The heat over an image (height × width × 3 bytes; empty: over mid grey), |heat| scaled by its
// 99.5th percentile (values above clip) to t in [0, 1]: a jet colour map with opacity 0.15 + 0.6·t for
// maps ≥ 0; for signed maps red (heat > 0) or blue (< 0) with opacity 0.8·t.
std::vector<uint8_t> overlay(const Heatmap& heat, const std::vector<uint8_t>& rgb);
void write_png_rgb(const std::string& path, int64_t w, int64_t h, const std::vector<uint8_t>& rgb);  // Error{Io}

}  // namespace netlens::explain
