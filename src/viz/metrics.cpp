// Per-layer metrics (definitions in metrics.hpp).
#include "netlens/viz/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

namespace netlens::viz {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::map<std::string, double> read_metric_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(ErrorKind::Io, "--metric: cannot read '" + path + "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::Input, "--metric " + path + ": not JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error(ErrorKind::Input, "--metric " + path + ": expected an object {name: number}");
  std::map<std::string, double> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number()) throw Error(ErrorKind::Input, "--metric " + path + ": the value of '" + k + "' is not a number");
    const double x = v.get<double>();
    if (!std::isfinite(x)) throw Error(ErrorKind::Input, "--metric " + path + ": the value of '" + k + "' is not finite");
    out[k] = x;
  }
  return out;
}

}  // namespace

MetricSpec parse_metric(const std::string& text, const std::string& flag) {
  if (text == "latency") return {MetricKind::Latency, ""};
  if (text == "flops") return {MetricKind::Flops, ""};
  if (text == "params") return {MetricKind::Params, ""};
  if (text == "memory") return {MetricKind::Memory, ""};
  if (text == "grad-norm") return {MetricKind::GradNorm, ""};
  if (ends_with(text, ".json")) return {MetricKind::File, text};
  throw Error(ErrorKind::Usage, flag + " expects latency, flops, params, memory, grad-norm or FILE.json, got '" + text + "'");
}

std::string metric_name(const MetricSpec& m) {
  switch (m.kind) {
    case MetricKind::Latency: return "latency ms";
    case MetricKind::Flops: return "FLOPs";
    case MetricKind::Params: return "parameters";
    case MetricKind::Memory: return "memory bytes";
    case MetricKind::GradNorm: return "gradient norm";
    case MetricKind::File: return std::filesystem::path(m.file).stem().string();
  }
  return "metric";
}

MetricValues tensor_metric(const Session& s, const std::vector<std::string>& tensors, const MetricSpec& m,
                           const std::vector<std::vector<double>>& runs) {
  const Graph& g = s.graph();
  MetricValues out;
  std::map<std::string, double> file;
  if (m.kind == MetricKind::File) file = read_metric_file(m.file);
  std::vector<double> ms;
  if (m.kind == MetricKind::Latency) {
    const auto& all = runs.empty() ? std::vector<std::vector<double>>{s.node_times_ms()} : runs;
    ms = all.front();
    for (const auto& r : all) {
      if (r.size() != g.nodes.size()) throw Error(ErrorKind::Usage, "--metric latency needs a profiled run (SessionOptions::profile)");
      for (size_t i = 0; i < r.size(); ++i) ms[i] = std::min(ms[i], r[i]);
    }
    if (ms.size() != g.nodes.size()) throw Error(ErrorKind::Usage, "--metric latency needs a profiled run (SessionOptions::profile)");
  }
  if (m.kind == MetricKind::GradNorm && !s.has_gradients())
    throw Error(ErrorKind::Usage, "--metric grad-norm needs the gradients of a target (none computed)");

  for (const std::string& t : tensors) {
    const PlannedTensor* pt = s.activations().find(t);
    if (!pt) continue;
    const int p = pt->producer;
    const Node* node = p >= 0 ? &g.nodes[static_cast<size_t>(p)] : nullptr;
    // A graph input costs nothing: 0 ms, 0 FLOPs, 0 parameters (drawn as "= 0", not "no value").
    if (!node && (m.kind == MetricKind::Latency || m.kind == MetricKind::Flops || m.kind == MetricKind::Params)) {
      out.by_tensor[t] = 0.0;
      continue;
    }
    switch (m.kind) {
      case MetricKind::Latency:
        if (node) out.by_tensor[t] = ms[static_cast<size_t>(p)];
        break;
      case MetricKind::Flops:
        if (node) {
          std::vector<TensorInfo> in, outs;
          for (const std::string& n : node->inputs) in.push_back(n.empty() ? TensorInfo{} : s.info(n));
          for (const std::string& n : node->outputs) outs.push_back(n.empty() ? TensorInfo{} : s.info(n));
          out.by_tensor[t] = node_flops(*node, in, outs);
        }
        break;
      case MetricKind::Params:
        if (node) {
          double n = 0;
          for (const std::string& in : node->inputs) {
            if (in.empty()) continue;
            const PlannedTensor* c = s.activations().find(in);
            const TensorInfo& info = s.info(in);
            const bool constant = !c || c->constant;  // initializers are not in the plan's activations
            // Scalars (Clip's bounds, a Pow exponent) are constants of the op, not parameters.
            if (constant && is_float(info.dtype) && !info.shape.empty()) n += static_cast<double>(numel(info.shape));
          }
          out.by_tensor[t] = n;
        }
        break;
      case MetricKind::Memory:
        out.by_tensor[t] = static_cast<double>(numel(pt->info.shape)) * static_cast<double>(dtype_size(pt->info.dtype));
        break;
      case MetricKind::GradNorm: {
        if (!s.gradients().find(t)) break;
        Tensor gr = s.gradients().fetch(t);
        if (gr.dtype() != DType::Float32) gr = gr.cast(DType::Float32);
        double ss = 0;
        const float* v = gr.data_as<float>();
        for (int64_t i = 0; i < gr.numel(); ++i) ss += double(v[i]) * double(v[i]);
        out.by_tensor[t] = std::sqrt(ss);
        break;
      }
      case MetricKind::File: {
        auto it = file.find(t);
        if (it == file.end() && node) it = file.find(node->name);
        if (it != file.end()) out.by_tensor[t] = it->second;
        break;
      }
    }
  }
  if (m.kind == MetricKind::File) {
    std::set<std::string> names;
    for (const Node& n : g.nodes) {
      names.insert(n.name);
      for (const std::string& o : n.outputs) names.insert(o);
    }
    for (const ValueInfo& i : g.inputs) names.insert(i.name);
    for (const auto& [k, v] : file)
      if (!names.count(k)) out.unknown.push_back(k);
    if (out.by_tensor.empty())
      throw Error(ErrorKind::Input, "--metric " + m.file + ": no key names a shown tensor or its node (" +
                                        std::to_string(file.size()) + " keys)");
  }
  return out;
}

}  // namespace netlens::viz
