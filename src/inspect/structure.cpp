#include "netlens/inspect/structure.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace netlens::inspect {
namespace {

TensorRef ref(const ModelView& v, const std::string& name) {
  TensorRef r;
  r.name = name;
  if (name.empty()) return r;
  const TensorInfo& i = v.session().info(name);
  r.dtype = i.dtype;
  r.shape = i.shape;
  r.constant = v.is_constant(name);
  return r;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

nlohmann::json attr_to_json(const AttrValue& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Tensor>)
          return {{"dtype", std::string(dtype_name(x.dtype()))}, {"shape", x.shape()}};
        else
          return nlohmann::json(x);
      },
      v);
}

Structure model_structure(const ModelView& view) {
  const Session& s = view.session();
  const Graph& g = view.graph();
  Structure st;
  std::set<std::string> counted;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    NodeInfo ni;
    ni.index = i;
    ni.name = n.name;
    ni.op = n.op_type;
    ni.domain = n.domain;
    for (const auto& [k, a] : n.attrs) ni.attributes[k] = attr_to_json(a);
    std::vector<TensorInfo> in, out;
    for (const auto& name : n.inputs) {
      ni.inputs.push_back(ref(view, name));
      in.push_back(name.empty() ? TensorInfo{} : s.info(name));
    }
    for (const auto& name : n.outputs) {
      ni.outputs.push_back(ref(view, name));
      out.push_back(name.empty() ? TensorInfo{} : s.info(name));
    }
    ni.flops = node_flops(n, in, out);
    const int b = s.node_backend(i);
    ni.backend = b < 0 ? "folded" : s.backends()[static_cast<size_t>(b)]->name();
    if (b < 0) {
      ++st.folded_nodes;
    } else {
      for (const TensorRef& r : ni.inputs)
        if (r.constant && is_float(r.dtype)) {
          ni.parameters += numel(r.shape);
          if (counted.insert(r.name).second) st.total_parameters += numel(r.shape);
        }
    }
    st.total_flops += ni.flops;
    st.op_counts[n.op_type]++;
    st.nodes.push_back(std::move(ni));
  }
  for (const auto& v : g.inputs) st.inputs.push_back(ref(view, v.name));
  for (const auto& v : g.outputs) st.outputs.push_back(ref(view, v.name));
  return st;
}

std::vector<size_t> search_nodes(const Structure& s, const std::string& query) {
  std::vector<size_t> r;
  if (query.empty()) return r;
  const std::string q = lower(query);
  for (const NodeInfo& n : s.nodes)
    if (lower(n.name).find(q) != std::string::npos || lower(n.op).find(q) != std::string::npos) r.push_back(n.index);
  return r;
}

nlohmann::json to_json(const TensorRef& t) {
  if (t.name.empty()) return nullptr;
  return {{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"constant", t.constant}};
}

nlohmann::json to_json(const NodeInfo& n) {
  nlohmann::json in = nlohmann::json::array(), out = nlohmann::json::array();
  for (const auto& t : n.inputs) in.push_back(to_json(t));
  for (const auto& t : n.outputs) out.push_back(to_json(t));
  return {{"index", n.index},   {"name", n.name},     {"op", n.op},           {"domain", n.domain},
          {"attributes", n.attributes}, {"inputs", in}, {"outputs", out}, {"parameters", n.parameters},
          {"flops", n.flops},   {"backend", n.backend}};
}

nlohmann::json to_json(const Structure& s, bool with_nodes) {
  nlohmann::json j;
  nlohmann::json in = nlohmann::json::array(), out = nlohmann::json::array();
  for (const auto& t : s.inputs) in.push_back(to_json(t));
  for (const auto& t : s.outputs) out.push_back(to_json(t));
  j["inputs"] = in;
  j["outputs"] = out;
  j["node_count"] = s.nodes.size();
  j["folded_nodes"] = s.folded_nodes;
  j["total_parameters"] = s.total_parameters;
  j["total_flops"] = s.total_flops;
  j["op_counts"] = s.op_counts;
  if (with_nodes) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const NodeInfo& n : s.nodes) nodes.push_back(to_json(n));
    j["nodes"] = nodes;
  }
  return j;
}

}  // namespace netlens::inspect
