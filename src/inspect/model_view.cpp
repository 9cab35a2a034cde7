#include "netlens/inspect/model_view.hpp"

namespace netlens::inspect {

ModelView::ModelView(const Session& s) : s_(s) {
  const auto& nodes = s.graph().nodes;
  for (size_t i = 0; i < nodes.size(); ++i) {
    by_name_[nodes[i].name] = i;
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) producer_[o] = i;
    for (const auto& in : nodes[i].inputs)
      if (!in.empty()) {
        auto& c = consumers_[in];
        if (c.empty() || c.back() != i) c.push_back(i);
      }
  }
}

bool ModelView::has(const std::string& t) const {
  if (s_.activations().contains(t)) return true;
  return s_.graph().initializers.count(t) != 0;
}

const TensorInfo& ModelView::info(const std::string& t) const {
  if (!has(t)) throw Error(ErrorKind::Usage, "no tensor named '" + t + "' in the model");
  return s_.info(t);
}

Tensor ModelView::value(const std::string& t) const {
  if (s_.activations().contains(t)) return s_.activations().fetch(t);
  auto it = s_.graph().initializers.find(t);
  if (it != s_.graph().initializers.end()) return it->second;
  throw Error(ErrorKind::Usage, "no tensor named '" + t + "' in the model");
}

bool ModelView::is_constant(const std::string& t) const {
  if (s_.graph().initializers.count(t)) return true;
  const PlannedTensor* p = s_.activations().find(t);
  return p && p->constant;
}

std::optional<size_t> ModelView::producer(const std::string& t) const {
  auto it = producer_.find(t);
  if (it == producer_.end()) return std::nullopt;
  return it->second;
}

const std::vector<size_t>& ModelView::consumers(const std::string& t) const {
  static const std::vector<size_t> none;
  auto it = consumers_.find(t);
  return it == consumers_.end() ? none : it->second;
}

size_t ModelView::node_index(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error(ErrorKind::Usage, "no node named '" + name + "' in the model");
  return it->second;
}

}  // namespace netlens::inspect
