// Model::inspect: the document `netlens inspect` prints (schema: docs/inspect.md), for the model's
// last run. The sections are assembled from the same src/inspect analyses and to_json functions
// (and src/cli/gradients.cpp for the gradients section) in the same order and with the same keys
// as src/cli/cmd_inspect.cpp; `input.files` is empty (the inputs came from Python) and
// `timing_ms.run` is the last run's.
#include "netlens/inspect/activation_fn.hpp"
#include "netlens/inspect/attention.hpp"
#include "netlens/inspect/contributions.hpp"
#include "netlens/cli/gradients.hpp"
#include "model.hpp"
#include "netlens/inspect/model_view.hpp"
#include "netlens/inspect/predictions.hpp"
#include "netlens/inspect/stats.hpp"
#include "netlens/inspect/structure.hpp"
#include "netlens/inspect/weights.hpp"

namespace netlens::pyapi {

using nlohmann::json;

json Model::inspect(const InspectOptions& o) {
  Session& s = session();
  if (o.top < 0) throw Error(ErrorKind::Usage, "top must be >= 0");
  if (o.query < 0) throw Error(ErrorKind::Usage, "query must be >= 0");
  const bool gradients = o.gradients || o.target || o.score;
  if (!o.gradients && (o.target || o.score))
    throw Error(ErrorKind::Usage, "target and score choose what gradients differentiates: add gradients=True");
  const inspect::ModelView view(s);
  // The checks `inspect` makes before its run, so a bad name is an error before any work.
  if (o.tensor && !view.has(*o.tensor)) throw Error(ErrorKind::Usage, "tensor: no tensor named '" + *o.tensor + "' in the model");
  if (o.neuron) {
    std::string t;
    inspect::parse_neuron_index(view, *o.neuron, t);
  }
  if (o.weights) {
    try {
      view.node_index(*o.weights);
    } catch (const Error&) {
      throw Error(ErrorKind::Usage, "weights: no node named '" + *o.weights + "' in the model");
    }
  }
  const std::vector<std::string> labels = o.labels_path ? inspect::read_labels(*o.labels_path) : std::vector<std::string>{};

  json doc;
  doc["model"] = {{"path", label()}, {"producer", graph_.producer}, {"ir_version", graph_.ir_version}, {"opset", graph_.opset()}};
  json tensors = json::array();
  for (const auto& [name, t] : inputs_)
    tensors.push_back({{"name", name}, {"dtype", std::string(dtype_name(t.dtype()))}, {"shape", t.shape()}});
  doc["input"] = {{"files", json::array()}, {"tensors", tensors}};
  json backends = json::array();
  for (const auto& b : backends_) backends.push_back(b->name());
  doc["backends"] = backends;
  doc["timing_ms"] = {{"run", run_ms_}};

  const inspect::Structure st = inspect::model_structure(view);
  {
    json j = inspect::to_json(st, !o.brief);
    json acts = json::array();
    for (const inspect::Activation& a : inspect::find_activations(view)) acts.push_back(inspect::to_json(a));
    j["activations"] = acts;
    doc["structure"] = j;
  }
  if (o.find) {
    json hits = json::array();
    for (size_t i : inspect::search_nodes(st, *o.find)) hits.push_back({{"index", i}, {"name", st.nodes[i].name}, {"op", st.nodes[i].op}});
    doc["find"] = {{"query", *o.find}, {"nodes", hits}};
  }
  if (o.tensor) {
    inspect::StatsOptions so;
    so.top_k = o.top;
    json j = inspect::to_json(inspect::tensor_stats(view, *o.tensor, so));
    if (auto act = inspect::recognize_tensor(view, *o.tensor))
      j["activation"] = inspect::to_json(inspect::analyze_activation(view, *act), &view);
    else
      j["activation"] = nullptr;
    doc["tensor"] = j;
  }
  if (o.neuron) {
    std::string t;
    const int64_t idx = inspect::parse_neuron_index(view, *o.neuron, t);
    doc["neuron"] = inspect::to_json(inspect::contributions(view, t, idx, static_cast<size_t>(o.top)), o.all_terms);
  }
  if (o.weights) doc["weights"] = inspect::to_json(inspect::weights(view, *o.weights));
  if (o.attention) doc["attention"] = inspect::attention_json(view, {}, o.query);
  if (o.labels_path)
    doc["predictions"] = {{"labels", *o.labels_path},
                          {"outputs", inspect::to_json(inspect::predictions(view, labels, static_cast<size_t>(o.top)))}};
  if (gradients) {
    const explain::Target t = backward(o.target.value_or(""), o.score.value_or("logit"), labels);
    const BackwardReport& r = s.backward_report();
    doc["gradients"] = {{"target", cli::to_json(t, t.value(s))},
                        {"gradient_bytes", r.gradient_bytes},
                        {"differentiated_nodes", r.differentiated_nodes},
                        {"tensors", cli::gradient_stats_json(s)},
                        {"flow", cli::to_json(explain::gradient_flow(s, t.tensor), true)}};
  }
  return doc;
}

}  // namespace netlens::pyapi
