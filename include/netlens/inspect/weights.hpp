// Weights of one node: filters as images, matrices as heatmaps, norms, distributions.
//
// Which tensor: Conv → input 1 (W, [O, I/g, k...]); Gemm and MatMul → the constant operand (B when
// both are constant). Bias: Conv input 2, Gemm input 2 (when constant). Other ops → Error{Usage}.
//
// Per output unit ("filter"): the L2 norm (double) of what produces output channel / unit o: a
// Conv's W[o]; a Gemm/MatMul's weight column o of the product (row o of B when transB). A filter is
// flagged near-zero when its norm < max(1e-8, 1e-3 · median of the norms): dead or pruned units.
//
// Images (Conv only): every value v becomes 0.5 + 0.5·v/max|W| (one symmetric scale shared by all
// filters, so 0.5 is exactly zero and patches compare across filters). When I/g = 3 (a first layer
// on an RGB/BGR image) each filter is one kh×kw colour patch, pixels interleaved (y, x, c), c in the
// model's input channel order; otherwise one kh×kw grey patch per (filter, input channel). Only the
// first max_filters filters (and max_channels channels of each) are made. Conv kernels of rank ≠ 2
// (Conv1d/3d) get no images.
//
// Heatmap (Gemm/MatMul): the weight as stored, rows = all dims but the last flattened, cols = the
// last; when larger than max_heatmap on a side it is downsampled by blocks of ⌈size/max_heatmap⌉
// and each cell keeps the block's entry of largest |w| (with its sign): outliers stay visible, which
// a block mean would wash out.
//
// Distribution: A's statistics (stats.hpp) of the whole weight tensor and of the bias.
// Contract: pure function of a ModelView; weights are constants, so no run is needed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"
#include "netlens/inspect/stats.hpp"

namespace netlens::inspect {

struct FilterPatch {
  int64_t filter = 0;
  int64_t channel = -1;            // −1: an RGB patch of all three input channels
  int64_t h = 0, w = 0, channels = 1;
  std::vector<float> pixels;       // h·w·channels, interleaved, in [0, 1], 0.5 = zero weight
};

struct Heatmap {
  int64_t src_rows = 0, src_cols = 0;
  int64_t block_rows = 1, block_cols = 1;
  int64_t rows = 0, cols = 0;
  std::vector<float> values;       // rows·cols row-major, signed (largest |w| of each block)
};

struct WeightsOptions {
  int64_t max_filters = 64;
  int64_t max_channels = 16;
  int64_t max_heatmap = 256;
};

struct WeightsReport {
  std::string node, op, weight;
  Shape shape;
  std::string kind;                    // "conv" or "matrix"
  double max_abs = 0;                  // the images' symmetric scale
  std::vector<double> filter_norms;    // per output unit
  double median_norm = 0, near_zero_threshold = 0;
  std::vector<int64_t> near_zero;      // flagged filters, ascending
  bool rgb = false;
  std::vector<FilterPatch> patches;
  std::optional<Heatmap> heatmap;
  TensorStats distribution;
  std::string bias_tensor;
  std::optional<TensorStats> bias;
};

WeightsReport weights(const ModelView& view, const std::string& node, const WeightsOptions& opt = {});

nlohmann::json to_json(const WeightsReport& w, bool images = true);

}  // namespace netlens::inspect
