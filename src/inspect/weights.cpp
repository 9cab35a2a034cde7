#include "netlens/inspect/weights.hpp"

#include <algorithm>
#include <cmath>

namespace netlens::inspect {

namespace {
Tensor as_f32(const Tensor& t) { return t.dtype() == DType::Float32 ? t : t.cast(DType::Float32); }
}  // namespace

WeightsReport weights(const ModelView& v, const std::string& node_name, const WeightsOptions& opt) {
  const Node& n = v.graph().nodes[v.node_index(node_name)];
  WeightsReport r;
  r.node = n.name;
  r.op = n.op_type;
  std::string bias;
  bool trans_b = false, w_is_b = true;
  if (n.op_type == "Conv") {
    r.weight = n.input(1);
    r.kind = "conv";
    if (n.has_input(2)) bias = n.input(2);
  } else if (n.op_type == "Gemm" || n.op_type == "MatMul") {
    r.kind = "matrix";
    w_is_b = v.is_constant(n.input(1)) || !v.is_constant(n.input(0));
    r.weight = w_is_b ? n.input(1) : n.input(0);
    trans_b = n.op_type == "Gemm" && n.attr_int(w_is_b ? "transB" : "transA", 0) != 0;
    if (n.op_type == "Gemm" && n.has_input(2) && v.is_constant(n.input(2))) bias = n.input(2);
  } else {
    throw Error(ErrorKind::Usage, "--weights: " + n.describe() + " has no weights to show (Conv, Gemm or MatMul)");
  }
  if (r.weight.empty() || !v.is_constant(r.weight))
    throw Error(ErrorKind::Usage, "--weights: " + n.describe() + " multiplies two activations; it has no constant weights");
  const Tensor W = as_f32(v.value(r.weight));
  r.shape = W.shape();
  const float* w = W.data_as<float>();
  for (int64_t i = 0; i < W.numel(); ++i) r.max_abs = std::max(r.max_abs, double(std::abs(w[i])));

  // Per-output-unit norms.
  if (r.kind == "conv") {
    const int64_t O = r.shape[0], per = W.numel() / std::max<int64_t>(O, 1);
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t i = 0; i < per; ++i) s += double(w[o * per + i]) * w[o * per + i];
      r.filter_norms.push_back(std::sqrt(s));
    }
  } else {
    const int64_t cols = r.shape.empty() ? 1 : r.shape.back();
    const int64_t rows = W.numel() / std::max<int64_t>(cols, 1);
    // Output units: the rows when the weight is stored transposed (Gemm transB), else the columns.
    // Gemm with the weight as A: A is [M, K] (or [K, M] with transA), its output units are M.
    const bool units_are_rows = w_is_b ? trans_b : !trans_b;
    const int64_t units = units_are_rows ? rows : cols;
    r.filter_norms.assign(static_cast<size_t>(units), 0.0);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) r.filter_norms[units_are_rows ? i : j] += double(w[i * cols + j]) * w[i * cols + j];
    for (auto& x : r.filter_norms) x = std::sqrt(x);
  }
  if (!r.filter_norms.empty()) {
    std::vector<double> sorted = r.filter_norms;
    std::sort(sorted.begin(), sorted.end());
    const size_t m = sorted.size();
    r.median_norm = m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
  }
  r.near_zero_threshold = std::max(1e-8, 1e-3 * r.median_norm);
  for (size_t o = 0; o < r.filter_norms.size(); ++o)
    if (r.filter_norms[o] < r.near_zero_threshold) r.near_zero.push_back(static_cast<int64_t>(o));

  const double scale = r.max_abs > 0 ? 0.5 / r.max_abs : 0.0;
  if (r.kind == "conv" && r.shape.size() == 4) {
    const int64_t O = r.shape[0], I = r.shape[1], kh = r.shape[2], kw = r.shape[3];
    r.rgb = I == 3;
    for (int64_t o = 0; o < std::min(O, opt.max_filters); ++o) {
      if (r.rgb) {
        FilterPatch p{o, -1, kh, kw, 3, std::vector<float>(static_cast<size_t>(kh * kw * 3))};
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t x = 0; x < kw; ++x)
              p.pixels[(y * kw + x) * 3 + c] = static_cast<float>(0.5 + scale * w[((o * I + c) * kh + y) * kw + x]);
        r.patches.push_back(std::move(p));
      } else {
        for (int64_t c = 0; c < std::min(I, opt.max_channels); ++c) {
          FilterPatch p{o, c, kh, kw, 1, std::vector<float>(static_cast<size_t>(kh * kw))};
          for (int64_t i = 0; i < kh * kw; ++i) p.pixels[i] = static_cast<float>(0.5 + scale * w[(o * I + c) * kh * kw + i]);
          r.patches.push_back(std::move(p));
        }
      }
    }
  }
  if (r.kind == "matrix") {
    Heatmap h;
    h.src_cols = r.shape.empty() ? 1 : r.shape.back();
    h.src_rows = W.numel() / std::max<int64_t>(h.src_cols, 1);
    h.block_rows = (h.src_rows + opt.max_heatmap - 1) / opt.max_heatmap;
    h.block_cols = (h.src_cols + opt.max_heatmap - 1) / opt.max_heatmap;
    h.rows = (h.src_rows + h.block_rows - 1) / h.block_rows;
    h.cols = (h.src_cols + h.block_cols - 1) / h.block_cols;
    h.values.assign(static_cast<size_t>(h.rows * h.cols), 0.0f);
    for (int64_t i = 0; i < h.src_rows; ++i)
      for (int64_t j = 0; j < h.src_cols; ++j) {
        float& cell = h.values[(i / h.block_rows) * h.cols + j / h.block_cols];
        const float x = w[i * h.src_cols + j];
        if (std::abs(x) > std::abs(cell)) cell = x;
      }
    r.heatmap = std::move(h);
  }
  r.distribution = compute_stats(W);
  r.distribution.name = r.weight;
  if (!bias.empty()) {
    r.bias_tensor = bias;
    r.bias = compute_stats(v.value(bias));
    r.bias->name = bias;
  }
  return r;
}

nlohmann::json to_json(const WeightsReport& r, bool images) {
  nlohmann::json j{{"node", r.node},
                   {"op", r.op},
                   {"weight", r.weight},
                   {"shape", r.shape},
                   {"kind", r.kind},
                   {"max_abs", r.max_abs},
                   {"filter_norms", r.filter_norms},
                   {"median_norm", r.median_norm},
                   {"near_zero_threshold", r.near_zero_threshold},
                   {"near_zero", r.near_zero},
                   {"rgb", r.rgb},
                   {"distribution", to_json(r.distribution)},
                   {"bias_tensor", r.bias_tensor}};
  j["bias"] = r.bias ? to_json(*r.bias) : nlohmann::json(nullptr);
  if (images) {
    nlohmann::json patches = nlohmann::json::array();
    for (const auto& p : r.patches)
      patches.push_back({{"filter", p.filter}, {"channel", p.channel}, {"h", p.h}, {"w", p.w},
                         {"channels", p.channels}, {"pixels", p.pixels}});
    j["patches"] = std::move(patches);
  }
  if (r.heatmap) {
    const Heatmap& h = *r.heatmap;
    j["heatmap"] = {{"src_rows", h.src_rows}, {"src_cols", h.src_cols}, {"block_rows", h.block_rows},
                    {"block_cols", h.block_cols}, {"rows", h.rows}, {"cols", h.cols}};
    if (images) j["heatmap"]["values"] = h.values;
  } else {
    j["heatmap"] = nullptr;
  }
  return j;
}

}  // namespace netlens::inspect
