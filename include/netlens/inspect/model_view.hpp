// What every analysis reads: a session that has run, seen as a graph with values. Tensors are
// looked up by name among the run's activations first, then the graph's initializers (weights) and
// folded constants. Contract: borrows the session; valid until the session runs again or dies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "netlens/graph.hpp"
#include "netlens/runtime.hpp"

namespace netlens::inspect {

class ModelView {
 public:
  explicit ModelView(const Session& s);
  const Session& session() const { return s_; }
  const Graph& graph() const { return s_.graph(); }

  bool has(const std::string& tensor) const;
  const TensorInfo& info(const std::string& tensor) const;  // Error{Usage} naming it when unknown
  // Host value (float tensors as they are; callers convert with to_f32_vector()).
  Tensor value(const std::string& tensor) const;            // Error{Usage} when unknown
  bool is_constant(const std::string& tensor) const;        // initializer or folded

  // Node producing `tensor` (index into graph().nodes), nullopt for inputs and initializers.
  std::optional<size_t> producer(const std::string& tensor) const;
  // Nodes reading `tensor`, in graph order.
  const std::vector<size_t>& consumers(const std::string& tensor) const;
  // Node by name; Error{Usage} listing nothing but the name when absent.
  size_t node_index(const std::string& name) const;

 private:
  const Session& s_;
  std::map<std::string, size_t> producer_;
  std::map<std::string, std::vector<size_t>> consumers_;
  std::map<std::string, size_t> by_name_;
};

}  // namespace netlens::inspect
