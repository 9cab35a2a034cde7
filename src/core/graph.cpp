#include "netlens/graph.hpp"

namespace netlens {

namespace {
template <class T>
const T* get_attr(const Node& n, const std::string& k, const char* type_name) {
  auto it = n.attrs.find(k);
  if (it == n.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw Error(ErrorKind::Model, n.describe() + ": attribute '" + k + "' is not " + type_name);
  return v;
}
}  // namespace

int64_t Node::attr_int(const std::string& k, int64_t def) const {
  const int64_t* v = get_attr<int64_t>(*this, k, "an int");
  return v ? *v : def;
}
float Node::attr_float(const std::string& k, float def) const {
  auto it = attrs.find(k);
  if (it != attrs.end())
    if (const int64_t* i = std::get_if<int64_t>(&it->second)) return static_cast<float>(*i);
  const float* v = get_attr<float>(*this, k, "a float");
  return v ? *v : def;
}
std::string Node::attr_string(const std::string& k, const std::string& def) const {
  const std::string* v = get_attr<std::string>(*this, k, "a string");
  return v ? *v : def;
}
std::vector<int64_t> Node::attr_ints(const std::string& k, std::vector<int64_t> def) const {
  auto it = attrs.find(k);
  if (it != attrs.end())
    if (const int64_t* i = std::get_if<int64_t>(&it->second)) return {*i};
  const auto* v = get_attr<std::vector<int64_t>>(*this, k, "a list of ints");
  return v ? *v : def;
}
std::vector<float> Node::attr_floats(const std::string& k, std::vector<float> def) const {
  const auto* v = get_attr<std::vector<float>>(*this, k, "a list of floats");
  return v ? *v : def;
}
const Tensor* Node::attr_tensor(const std::string& k) const { return get_attr<Tensor>(*this, k, "a tensor"); }

const std::string& Node::input(size_t i) const {
  static const std::string empty;
  return i < inputs.size() ? inputs[i] : empty;
}

std::string Node::describe() const { return op_type + " node '" + name + "'"; }

int64_t Graph::opset() const {
  auto it = opsets.find("");
  if (it == opsets.end()) it = opsets.find("ai.onnx");
  return it == opsets.end() ? 1 : it->second;
}

const ValueInfo* Graph::find_input(const std::string& n) const {
  for (const auto& v : inputs)
    if (v.name == n) return &v;
  return nullptr;
}

int64_t Graph::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : initializers)
    if (is_float(t.dtype())) n += t.numel();
  // Exporters such as paddle2onnx store weights in Constant nodes instead of initializers.
  for (const Node& node : nodes)
    if (node.op_type == "Constant")
      if (const Tensor* t = node.attr_tensor("value"); t && is_float(t->dtype())) n += t->numel();
  return n;
}

}  // namespace netlens
