// Model structure: every node with its op, attributes, input/output types and shapes (as the
// session bound them), parameter count, FLOPs and the backend it ran on; totals; search.
//
// Definitions (docs/inspect.md repeats them):
// - parameters of a node: elements of its constant floating-point inputs (initializers and folded
//   constants) — for nodes that run; a folded node (backend "folded") reports 0, because its
//   constant output is counted where it is read. Totals count each constant tensor once even when
//   several nodes read it (shared weights).
// - FLOPs: runtime's node_flops (2 per multiply-add of Conv/ConvTranspose/Gemm/MatMul, 0 otherwise).
// - attributes: ints, floats, strings and their lists as JSON values; a tensor attribute as
//   {"dtype", "shape"} (its values are weights, not structure).
// Contract: a value type; nothing borrowed from the session after model_structure returns.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"

namespace netlens::inspect {

struct TensorRef {
  std::string name;      // "" for an omitted optional input/output
  DType dtype = DType::Undefined;
  Shape shape;
  bool constant = false; // initializer or folded
};

struct NodeInfo {
  size_t index = 0;
  std::string name, op, domain;
  nlohmann::json attributes = nlohmann::json::object();
  std::vector<TensorRef> inputs, outputs;
  int64_t parameters = 0;
  double flops = 0;
  std::string backend;   // "cpu", "cuda", or "folded" (computed once at prepare time)
};

struct Structure {
  std::vector<NodeInfo> nodes;               // graph order (topological)
  std::vector<TensorRef> inputs, outputs;    // graph inputs and outputs
  int64_t total_parameters = 0;              // unique constant float tensors read by nodes that run
  double total_flops = 0;
  int64_t folded_nodes = 0;
  std::map<std::string, int64_t> op_counts;  // op type → nodes
};

// Needs a prepared session (shapes bound); running it is not required.
Structure model_structure(const ModelView& view);
// Nodes whose name or op type contains `query` (case-insensitive), ascending. Empty query: none.
std::vector<size_t> search_nodes(const Structure& s, const std::string& query);

nlohmann::json attr_to_json(const AttrValue& v);
nlohmann::json to_json(const TensorRef& t);
nlohmann::json to_json(const NodeInfo& n);
// `with_nodes` false: totals, op counts, inputs and outputs only.
nlohmann::json to_json(const Structure& s, bool with_nodes = true);

}  // namespace netlens::inspect
