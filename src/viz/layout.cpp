#include "netlens/viz/layout.hpp"
#include "layout_place.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <glm/common.hpp>

namespace netlens::viz {

bool is_layer_op(const std::string& op) {
  static const std::set<std::string> ops = {
      "Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "Gemm", "MatMul", "MatMulInteger",
      "QLinearMatMul", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
      "GlobalLpPool", "MaxRoiPool", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu",
      "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "Clip",
      "ThresholdedRelu", "Softmax", "LogSoftmax", "Hardmax", "BatchNormalization",
      "InstanceNormalization", "LayerNormalization", "GroupNormalization", "LRN",
      "MeanVarianceNormalization", "Concat", "Add", "Sum", "Mul", "Resize", "Upsample",
      "DepthToSpace", "SpaceToDepth", "Attention", "Einsum", "Max", "Min", "Mean", "LSTM", "GRU", "RNN"};
  return ops.count(op) != 0;
}

std::vector<VizTensor> select_tensors(const Graph& g, const std::vector<PlannedTensor>& planned) {
  std::map<std::string, const PlannedTensor*> by_name;
  for (const auto& t : planned) by_name[t.name] = &t;
  std::set<std::string> graph_outputs;
  for (const auto& o : g.outputs) graph_outputs.insert(o.name);

  std::vector<VizTensor> out;
  std::map<std::string, int> shown;                // tensor → index in out
  std::map<std::string, std::vector<int>> reach;   // hidden tensor → shown tensors feeding it
  auto sources_of = [&](const std::string& name) -> std::vector<int> {
    if (auto it = shown.find(name); it != shown.end()) return {it->second};
    if (auto it = reach.find(name); it != reach.end()) return it->second;
    return {};
  };
  auto usable = [&](const std::string& name) {
    auto it = by_name.find(name);
    return it != by_name.end() && !it->second->constant && numel(it->second->info.shape) > 0 &&
           (is_float(it->second->info.dtype) || it->second->info.dtype == DType::Int8 ||
            it->second->info.dtype == DType::UInt8);  // quantized: drawn by real value (value_fetch)
  };
  for (const auto& in : g.inputs) {
    if (!usable(in.name)) continue;
    shown[in.name] = static_cast<int>(out.size());
    out.push_back({in.name, "Input", "", by_name[in.name]->info.shape, {}, -1});
  }
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    std::vector<int> src;
    for (const auto& i : n.inputs) {
      if (i.empty()) continue;
      for (int s : sources_of(i))
        if (std::find(src.begin(), src.end(), s) == src.end()) src.push_back(s);
    }
    std::sort(src.begin(), src.end());
    for (size_t oi = 0; oi < n.outputs.size(); ++oi) {
      const std::string& o = n.outputs[oi];
      if (o.empty()) continue;
      // Only the first output of a layer op is its activation (BatchNorm's running stats, etc.).
      bool show = usable(o) && ((is_layer_op(n.op_type) && oi == 0) || graph_outputs.count(o));
      if (show) {
        shown[o] = static_cast<int>(out.size());
        out.push_back({o, n.op_type, n.name, by_name[o]->info.shape, src, static_cast<int>(ni)});
      } else {
        reach[o] = src;
      }
    }
  }
  return out;
}

VolumeDims volume_dims(const Shape& s) {
  VolumeDims d;
  auto grid_of = [&](int64_t n) {
    d.grid = true;
    d.count = n;
    d.C = 1;
    d.W = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(double(n)))));
    d.H = (n + d.W - 1) / d.W;
  };
  switch (s.size()) {
    case 0: grid_of(1); break;
    case 1: grid_of(std::max<int64_t>(s[0], 1)); break;
    case 2: grid_of(std::max<int64_t>(s[1], 1)); break;  // N×D: batch 0's vector
    case 3:  // N×T×D (batch 0) → a T×D sheet
      d.C = 1; d.H = std::max<int64_t>(s[1], 1); d.W = std::max<int64_t>(s[2], 1);
      break;
    default: {  // N×C×H×W; extra leading dims fold into channels
      d.C = 1;
      for (size_t i = 1; i + 2 < s.size(); ++i) d.C *= std::max<int64_t>(s[i], 1);
      d.H = std::max<int64_t>(s[s.size() - 2], 1);
      d.W = std::max<int64_t>(s[s.size() - 1], 1);
    }
  }
  if (!d.grid) d.count = d.C * d.H * d.W;
  return d;
}

VolumeDims volume_dims(const VizTensor& t) {
  const Shape& s = t.shape;
  const bool recurrent = t.op == "LSTM" || t.op == "GRU" || t.op == "RNN";
  if (!recurrent || s.size() != 4 || s[2] != 1) return volume_dims(s);
  VolumeDims d;
  d.H = std::max<int64_t>(s[0], 1);
  d.W = std::max<int64_t>(s[1] * s[3], 1);
  d.count = d.H * d.W;
  return d;
}

int Layout::find(const std::string& tensor) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].tensor.name == tensor) return static_cast<int>(i);
  return -1;
}

Layout layout_tensors(std::vector<VizTensor> tensors, const LayoutOptions& opts) {
  Layout L;
  const size_t n = tensors.size();
  L.layers.resize(n);
  for (size_t i = 0; i < n; ++i) {
    LayerVolume& v = L.layers[i];
    v.tensor = std::move(tensors[i]);
    v.dims = volume_dims(v.tensor);
    v.cell = opts.cell;
    v.cell_z = opts.cell;
    // Channels are stacked along the flow. A deep, small layer (512×7×7) would become a long rod,
    // so the stack is compressed to at most twice the slab's larger side (and at least 4 cells).
    float side = float(std::max(v.dims.H, v.dims.W));
    float depth = float(v.dims.C);
    float budget = std::max(4.0f, 2.0f * side);
    v.pitch = opts.cell * (depth > budget ? budget / depth : 1.0f);
    v.thickness = v.pitch * (v.dims.C > 1 ? 0.72f : 1.0f);
    if (v.dims.C == 1) v.thickness = std::min(opts.cell, std::max(0.5f, 0.02f * side)) * opts.cell;
    v.size = glm::vec3(v.pitch * float(v.dims.C - 1) + v.thickness, float(v.dims.H) * opts.cell,
                       float(v.dims.W) * opts.cell);
    int level = 0;
    for (int s : v.tensor.inputs)
      if (s >= 0 && static_cast<size_t>(s) < i) level = std::max(level, L.layers[s].level + 1);
    v.level = level;
  }
  // A sheet far wider than every other volume (PP-OCR rec's 40x6625 logits) would stretch the
  // picture sideways: squeeze its cells along Z to 4x the 75th-percentile width.
  if (n >= 4) {
    std::vector<float> w;
    for (auto& v : L.layers) w.push_back(v.size.z);
    std::nth_element(w.begin(), w.begin() + static_cast<long>(n * 3 / 4), w.end());
    const float p75 = std::max(w[n * 3 / 4], opts.cell);
    for (auto& v : L.layers)
      if (v.size.z > 8.0f * p75 && v.dims.W > 8 * v.dims.H) {
        v.cell_z = 4.0f * p75 / float(v.dims.W);
        v.size.z = float(v.dims.W) * v.cell_z;
      }
  }
  detail::place_volumes(L, opts);
  if (n) {
    L.min = glm::vec3(1e30f);
    L.max = glm::vec3(-1e30f);
    for (auto& v : L.layers) {
      L.min = glm::min(L.min, v.origin);
      L.max = glm::max(L.max, v.max());
    }
  }
  return L;
}

CellIndex cell_of(const VolumeDims& d, int64_t flat) {
  CellIndex c;
  c.c = flat / (d.H * d.W);
  int64_t r = flat % (d.H * d.W);
  c.y = r / d.W;
  c.x = r % d.W;
  return c;
}

int64_t flat_of(const VolumeDims& d, int64_t c, int64_t y, int64_t x) { return (c * d.H + y) * d.W + x; }

glm::vec3 neuron_center(const LayerVolume& l, int64_t c, int64_t y, int64_t x) {
  return glm::vec3(l.origin.x + float(c) * l.pitch + 0.5f * l.thickness,
                   l.origin.y + l.size.y - (float(y) + 0.5f) * l.cell,
                   l.origin.z + (float(x) + 0.5f) * l.cell_z);
}

}  // namespace netlens::viz
