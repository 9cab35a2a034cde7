// netlens graph: a model as loaded (ONNX semantics, no ONNX types). Nodes are in topological order.
// Tensor names are the ONNX value names; "" stands for an omitted optional input/output.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "netlens/core.hpp"

namespace netlens {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, Tensor>;

struct Node {
  std::string name;     // may be empty in the file; the loader names such nodes "<op>_<index>"
  std::string op_type;  // "Conv"
  std::string domain;   // "" for the default ONNX domain
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, AttrValue> attrs;

  bool has_attr(const std::string& k) const { return attrs.count(k) != 0; }
  // Typed accessors; a present attribute of the wrong type throws Error{Model} naming the node.
  int64_t attr_int(const std::string& k, int64_t def) const;
  float attr_float(const std::string& k, float def) const;
  std::string attr_string(const std::string& k, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& k, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& k, std::vector<float> def = {}) const;
  const Tensor* attr_tensor(const std::string& k) const;  // nullptr when absent

  // Input i or "" when absent/omitted.
  const std::string& input(size_t i) const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  std::string describe() const;  // "Conv node 'conv1'"
};

// A dimension as declared in the model: a fixed size, or a symbolic/unknown one bound at run time.
struct Dim {
  int64_t value = -1;  // >= 0 when fixed
  std::string param;   // symbolic name ("batch", "height"), may be empty when unknown
  bool fixed() const { return value >= 0; }
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::vector<Dim> dims;
  bool has_shape = false;  // false when the model declares no shape at all
};

struct Graph {
  std::string name;
  std::string producer;           // "pytorch 1.13", "onnx-example"...
  int64_t ir_version = 0;
  std::map<std::string, int64_t> opsets;  // domain → version; "" is the default domain
  std::vector<Node> nodes;                // topological order
  std::map<std::string, Tensor> initializers;
  std::vector<ValueInfo> inputs;          // true graph inputs (initializers removed)
  std::vector<ValueInfo> outputs;
  std::map<std::string, ValueInfo> value_info;  // declared intermediate types/shapes, if any

  int64_t opset() const;  // default-domain opset (1 when absent)
  const ValueInfo* find_input(const std::string& name) const;
  int64_t parameter_count() const;  // elements in float initializers
};

}  // namespace netlens
