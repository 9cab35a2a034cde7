// netlens timeline: how did a network learn? A series of checkpoints of one architecture, and per
// checkpoint and per layer: weight norm, change from the previous checkpoint, update/weight ratio,
// activation statistics on a fixed probe input, gradient norms of the cross-entropy loss at given
// labels; loss and accuracy on labelled image folders; a diagnosis by stated rules.
//
// Checkpoints (discover_checkpoints):
// - ONNX files of one architecture (same nodes, same initializer names/dtypes/shapes), given one by
//   one or as a folder of *.onnx ordered by name (natural order: epoch_2 before epoch_10), or by the
//   folder's manifest.txt (one path per line relative to the folder, '#' comments) when it has one.
// - One graph plus weight-only checkpoints: a folder per checkpoint holding one NAME.npy per
//   initializer it sets, NAME being the initializer's name through unique_file_stems (io.hpp; for
//   PyTorch state_dict keys such as "conv1.weight" the key itself). Initializers a folder lacks keep
//   the graph's values. The graph is given explicitly or is graph.onnx in the folder of checkpoints.
//
// Loading: one Session for the whole series when the runtime allows it. The float initializers that
// differ between the first and the last checkpoint become graph inputs (the ONNX graph is otherwise
// unchanged), so switching checkpoints feeds new weight tensors to the same prepared session instead
// of parsing, planning and re-packing a model; dS/dW is then an input gradient of the same backward
// pass. A checkpoint that changes another initializer grows that set (one re-prepare). Where the
// promoted graph cannot be prepared (an op that needs such a tensor as a constant) every checkpoint
// gets its own prepared session (Series::reuses_session() says which).
//
// A viewer drives a Series: load(i) leaves session() holding checkpoint i's probe activations (and
// gradients), so 3D volumes can follow the scrubber; the statistics of every checkpoint loaded so far
// stay in points().
//
// Threads: a Series is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"
#include "netlens/io.hpp"
#include "netlens/runtime.hpp"

namespace netlens::timeline {

struct Checkpoint {
  std::string name;  // file stem or folder name (manifest: the line's file stem)
  std::string path;  // .onnx file, or a folder of .npy files (weight-only)
};
struct CheckpointList {
  std::string graph;  // weight-only checkpoints: the ONNX graph; "" when the checkpoints are ONNX files
  std::vector<Checkpoint> checkpoints;
  std::string order;  // "arguments", "name" or "manifest"
};
// `paths`: ONNX files, weight-only folders, or one folder of either (see above). `graph`: the graph of
// weight-only checkpoints ("" = graph.onnx beside them). Error{Usage} for an empty list or a mix of
// ONNX files and weight folders, Error{Io} for missing paths or manifest entries.
CheckpointList discover_checkpoints(const std::vector<std::string>& paths, const std::string& graph = "");

// Natural order of names: digit runs compare as numbers ("e2" < "e10").
bool natural_less(const std::string& a, const std::string& b);

// A layer: a node that reads float initializers of two or more elements (its parameters).
struct Layer {
  std::string node, op;
  std::vector<std::string> params;  // initializer names; one shared by several nodes belongs to the first
  int64_t param_count = 0;
  // Where the layer's activation statistics are taken: the node's first output followed through its
  // single consumers while they are BatchNormalization or an elementwise activation (Relu, Sigmoid,
  // Tanh, LeakyRelu, Clip, Elu, Selu, Softplus, HardSigmoid, HardSwish, Gelu), so a Conv → BN → Relu
  // layer is measured after the Relu.
  std::string activation;
  std::string activation_op;  // the op producing `activation` (its own op when none follows)
  bool weight_layer = false;  // Conv, ConvTranspose, Gemm, MatMul: the layers of the depth rules
};
std::vector<Layer> find_layers(const Graph& g);

// Statistics of one activation tensor over the probe batch.
struct ActivationStats {
  double mean = 0, std = 0;
  int64_t channels = 0;       // axis 1 (rank ≥ 2), else 1
  int64_t dead_channels = 0;  // Relu activations: channels never > 0 over the whole probe batch
  double dead_share = 0;      // dead_channels / channels (0 for other activations)
  double saturated_share = 0; // Sigmoid: share of values ≤ 0.01 or ≥ 0.99; Tanh: |y| ≥ 0.99; else 0
  int64_t non_finite = 0;     // NaN/Inf values (excluded from mean/std)
};
ActivationStats activation_stats(const Tensor& t, const std::string& activation_op);

constexpr double kNone = std::numeric_limits<double>::quiet_NaN();  // "not measured" in the figures

struct LayerPoint {
  double weight_norm = 0;     // L2 over the layer's parameters
  double delta_norm = kNone;  // ‖W_i − W_{i−1}‖₂ (NaN for the first checkpoint)
  double update_ratio = kNone;  // delta_norm / ‖W_{i−1}‖₂, the update/weight ratio
  double grad_norm = kNone;   // ‖dL/dW‖₂ over the layer's parameters (NaN without labels)
  double grad_rms = kNone;    // grad_norm / √param_count
  ActivationStats act;
};

struct EvalPoint {
  std::string split;  // "train", "validation", or "eval" for a folder of class folders
  int64_t count = 0;
  double loss = kNone, accuracy = kNone;  // mean cross-entropy of the softmax of the logits; top-1
};

struct CheckpointPoint {
  std::string name;
  std::vector<LayerPoint> layers;  // parallel to Series::layers()
  double probe_loss = kNone;       // mean cross-entropy on the probe batch at its labels
  double probe_accuracy = kNone;
  std::vector<EvalPoint> eval;
  double load_ms = 0;      // reading the checkpoint (+ preparing a session when not reused)
  double run_ms = 0;       // the probe's forward pass
  double backward_ms = 0;  // its backward pass
  double eval_ms = 0;
  double stats_ms = 0;     // the per-layer figures (norms, changes, activation statistics)
};

// The probe: the model's inputs and, for losses and gradients, one label per batch item of the
// logits (the first graph output, or the input of the Softmax producing it).
struct Probe {
  std::map<std::string, Tensor> inputs;
  std::vector<int64_t> labels;  // empty: no gradients, no probe loss
};

// Labelled images: DIR/<class>/*.{png,jpg,jpeg,bmp} (split "eval"), or DIR/train/<class>/... and
// DIR/val|valid|validation/<class>/... Class indices are the sorted class folder names' positions
// (as torchvision's ImageFolder), the same in every split. Images are preprocessed for `input` like
// `--input` images (io.hpp image_preprocess_for, `pp` as the base).
struct EvalSplit {
  std::string name;
  Tensor images;  // N × (the model input's C H W), float32
  std::vector<int64_t> labels;
};
std::vector<EvalSplit> load_eval_dir(const std::string& dir, const ValueInfo& input, const ImagePreprocess& pp);

struct SeriesOptions {
  bool reuse_session = true;  // false: a prepared session per checkpoint (the fallback, for measuring)
  int64_t eval_batch = 256;
};

class Series {
 public:
  // Reads the first (and last) checkpoint to fix the architecture. `backends` as for Session.
  Series(CheckpointList list, std::vector<Backend*> backends, SeriesOptions opts = {});
  ~Series();
  Series(const Series&) = delete;
  Series& operator=(const Series&) = delete;

  size_t size() const;
  const CheckpointList& list() const;
  const std::vector<Layer>& layers() const;
  const Graph& graph() const;  // the first checkpoint's graph (initializers as in that file)
  bool reuses_session() const;
  std::string logits() const;  // the tensor the loss and accuracy read

  // Loads checkpoint i, runs the probe (and backward when it has labels), runs `eval` splits, and
  // returns its statistics (kept in points()). Deltas are against checkpoint i − 1, read again when
  // it was not the checkpoint loaded before. Error{Input} when the checkpoint's architecture differs
  // from the first one (naming both and the difference).
  const CheckpointPoint& load(size_t i, const Probe& probe, const std::vector<EvalSplit>& eval = {});
  // The session of the last load(): the probe's activations and gradients of checkpoint current().
  const Session& session() const;
  size_t current() const;
  const std::map<size_t, CheckpointPoint>& points() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Diagnosis. Every rule is stated in rules() and docs/timeline.md; each finding names the rule's
// kind, the layers and checkpoints concerned and the figures behind it.
struct Finding {
  std::string kind;  // vanishing_gradients | exploding_gradients | dying_relu | saturation | stalled
                     // | overfitting | underfitting
  std::vector<std::string> layers;       // node names ("" for model-wide findings)
  std::vector<std::string> checkpoints;  // checkpoint names
  std::map<std::string, double> figures;
  std::string message;  // one sentence
};

struct Report {
  CheckpointList list;
  std::vector<Layer> layers;
  std::vector<CheckpointPoint> points;  // in checkpoint order
  std::vector<Finding> findings;
  bool reused_session = false;
  int64_t num_classes = 0;
  std::string logits;
};

// Loads every checkpoint in order (Series::load), then diagnoses. `progress`: (done, total), may be empty.
Report make_report(Series& s, const Probe& probe, const std::vector<EvalSplit>& eval = {},
                   const std::function<void(size_t, size_t)>& progress = {});

// The rules, one line each (the JSON report carries them).
std::vector<std::string> rules();
std::vector<Finding> diagnose(const Report& r);

// The report as JSON text (docs/timeline.md describes the fields).
std::string to_json(const Report& r, int indent = 2);

}  // namespace netlens::timeline
