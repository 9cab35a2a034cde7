// netlens inspect: run a model on an input and print the inspection analyses as ONE JSON document
// on stdout (schema: docs/inspect.md). The document is assembled section by section (see
// sections() below) and printed only once complete, so an error never leaves partial JSON: it is
// one line on stderr, exit 2 for usage errors (an unknown tensor, a bad flag), 1 otherwise.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "netlens/inspect/activation_fn.hpp"
#include "netlens/inspect/attention.hpp"
#include "netlens/cli/common.hpp"
#include "netlens/inspect/contributions.hpp"
#include "netlens/inspect/diff.hpp"
#include "netlens/cli/gradients.hpp"
#include "netlens/viz/metrics.hpp"
#include "netlens/inspect/model_view.hpp"
#include "netlens/inspect/predictions.hpp"
#include "netlens/inspect/stats.hpp"
#include "netlens/inspect/structure.hpp"
#include "netlens/inspect/weights.hpp"

namespace netlens::cli {
namespace {

using nlohmann::json;

// What a section may read: the parsed flags, the model (run once) and a view of its values.
struct InspectContext {
  const Args& args;
  const ModelOptions& options;
  LoadedModel& model;
  const inspect::ModelView& view;
  int64_t top;  // --top K (default 5)
};

// One key of the document. `wanted` decides from the flags whether it is present; `check` (may be
// empty) validates its flags against the prepared model before the (possibly long) run; `build`
// computes it after the run. Errors thrown by either abort the whole document.
struct Section {
  std::string key;
  std::vector<std::string> flags;       // value flags this section adds to the command
  std::vector<std::string> bool_flags;  // boolean flags this section adds
  std::function<bool(const Args&)> wanted;
  std::function<void(InspectContext&)> check;
  std::function<json(InspectContext&)> build;
};

bool always(const Args&) { return true; }

json structure_section(InspectContext& c) {
  const inspect::Structure st = inspect::model_structure(c.view);
  json j = inspect::to_json(st, !c.args.has("brief"));
  json acts = json::array();
  for (const inspect::Activation& a : inspect::find_activations(c.view)) acts.push_back(inspect::to_json(a));
  j["activations"] = acts;
  return j;
}

json find_section(InspectContext& c) {
  const std::string q = *c.args.get("find");
  const inspect::Structure st = inspect::model_structure(c.view);
  json hits = json::array();
  for (size_t i : inspect::search_nodes(st, q))
    hits.push_back({{"index", i}, {"name", st.nodes[i].name}, {"op", st.nodes[i].op}});
  return {{"query", q}, {"nodes", hits}};
}

void tensor_check(InspectContext& c) {
  const std::string name = *c.args.get("tensor");
  if (!c.view.has(name)) throw Error(ErrorKind::Usage, "--tensor: no tensor named '" + name + "' in the model");
}

json tensor_section(InspectContext& c) {
  const std::string name = *c.args.get("tensor");
  inspect::StatsOptions so;
  so.top_k = c.top;
  json j = inspect::to_json(inspect::tensor_stats(c.view, name, so));
  if (auto act = inspect::recognize_tensor(c.view, name))
    j["activation"] = inspect::to_json(inspect::analyze_activation(c.view, *act), &c.view);
  else
    j["activation"] = nullptr;
  return j;
}

// --neuron TENSOR:INDEX (flat or i,j,k,l): the terms w·x of that neuron, top --top of them (all with
// --all-terms) and the --top neurons it feeds.
void neuron_check(InspectContext& c) {
  std::string t;
  inspect::parse_neuron_index(c.view, *c.args.get("neuron"), t);
}

json neuron_section(InspectContext& c) {
  std::string t;
  const int64_t idx = inspect::parse_neuron_index(c.view, *c.args.get("neuron"), t);
  return inspect::to_json(inspect::contributions(c.view, t, idx, static_cast<size_t>(c.top)), c.args.has("all-terms"));
}

// --weights NODE: filters as images, heatmaps, norms and distributions of a Conv/Gemm/MatMul.
void weights_check(InspectContext& c) {
  const std::string n = *c.args.get("weights");
  try {
    c.view.node_index(n);
  } catch (const Error&) {
    throw Error(ErrorKind::Usage, "--weights: no node named '" + n + "' in the model");
  }
}

json weights_section(InspectContext& c) { return inspect::to_json(inspect::weights(c.view, *c.args.get("weights"))); }

// --attention [--query N]: every attention map, its projection for query token N (default 0), rollouts.
json attention_section(InspectContext& c) {
  const int64_t q = c.args.get_int("query", 0);
  if (q < 0) throw Error(ErrorKind::Usage, "--query must be >= 0");
  inspect::AttentionOptions opt;
  opt.tokens = c.model.text.labels;  // --text: tokens on the query/key axes
  opt.token_input = c.model.text_input;
  return inspect::attention_json(c.view, opt, q);
}

// --labels FILE: top --top classes with labels, or CTC text when FILE is the recogniser's dictionary.
void predictions_check(InspectContext& c) { inspect::read_labels(*c.args.get("labels")); }

json predictions_section(InspectContext& c) {
  const auto labels = inspect::read_labels(*c.args.get("labels"));
  json j = inspect::to_json(inspect::predictions(c.view, labels, static_cast<size_t>(c.top)));
  return {{"labels", *c.args.get("labels")}, {"outputs", j}};
}

// --gradients [--target T] [--score logit|prob]: a backward pass of the target (labels from --labels),
// every gradient's statistics and the gradient flow from the output back to the input.
void gradients_check(InspectContext& c) {
  if (!c.args.has("gradients") && c.args.get_or("metric", "") != "grad-norm" && (c.args.has("target") || c.args.has("score")))
    throw Error(ErrorKind::Usage, "--target and --score choose what --gradients differentiates: add --gradients");
  target_spec_from_flags(c.args);
}

json gradients_section(InspectContext& c) {
  Session& s = *c.model.session;
  const explain::Target t = backward_for_target(s, target_spec_from_flags(c.args), labels_from_flags(c.args));
  const BackwardReport& r = s.backward_report();
  return {{"target", to_json(t, t.value(s))},
          {"gradient_bytes", r.gradient_bytes},
          {"differentiated_nodes", r.differentiated_nodes},
          {"tensors", gradient_stats_json(s)},
          {"flow", to_json(explain::gradient_flow(s, t.tensor), true)}};
}

// --diff MODEL_B and/or --input-b FILE: run B (the other model on the same inputs, the same model on
// the other inputs, or both) and compare every tensor by name (inspect/diff.hpp).
ModelOptions b_options(const InspectContext& c) {
  ModelOptions ob = c.options;
  if (auto m = c.args.get("diff")) ob.model = *m;
  if (c.args.has("input-b")) {
    ob.inputs = c.args.all("input-b");
    if (ob.inputs.size() != c.options.inputs.size())
      throw Error(ErrorKind::Usage, "--input-b: give one per --input (" + std::to_string(c.options.inputs.size()) + " --input, " +
                                        std::to_string(ob.inputs.size()) + " --input-b)");
  }
  return ob;
}

void diff_check(InspectContext& c) {
  const ModelOptions ob = b_options(c);
  if (c.args.has("diff") && !std::filesystem::exists(ob.model))
    throw Error(ErrorKind::Io, "--diff: cannot read model '" + ob.model + "'");
  for (const std::string& in : c.args.all("input-b")) {
    const size_t eq = in.find('=');
    const std::string file = eq == std::string::npos ? in : in.substr(eq + 1);
    if (!std::filesystem::exists(file)) throw Error(ErrorKind::Io, "--input-b: cannot read '" + file + "'");
  }
  if (c.args.get_double("diff-threshold", 0) < 0) throw Error(ErrorKind::Usage, "--diff-threshold must be >= 0");
}

json diff_section(InspectContext& c) {
  LoadedModel b = load_model(b_options(c), true);
  run_once(b);
  inspect::DiffOptions opt;
  opt.threshold = c.args.get_double("diff-threshold", opt.threshold);
  const std::string mode = c.args.has("diff") && c.args.has("input-b") ? "models+inputs" : c.args.has("diff") ? "models" : "inputs";
  json j = inspect::to_json(inspect::diff_runs(*c.model.session, *b.session, mode, opt), static_cast<size_t>(c.top));
  j["model_b"] = b_options(c).model;
  j["input_b"] = b_options(c).inputs;
  return j;
}

// --metric latency|flops|params|memory|grad-norm|FILE.json: the per-layer figures `render --metric`
// colours by (viz/metrics.hpp), for every non-constant tensor in plan order.
void metric_check(InspectContext& c) { viz::parse_metric(*c.args.get("metric")); }

json metric_section(InspectContext& c) {
  const viz::MetricSpec spec = viz::parse_metric(*c.args.get("metric"));
  Session& s = *c.model.session;
  std::vector<std::vector<double>> runs;
  if (spec.kind == viz::MetricKind::Latency)
    for (int i = 0; i < 5; ++i) {  // the minimum of five runs after the first, per node
      run_once(c.model);
      runs.push_back(s.node_times_ms());
    }
  if (spec.kind == viz::MetricKind::GradNorm) backward_for_target(s, target_spec_from_flags(c.args), labels_from_flags(c.args));
  std::vector<std::string> names;
  for (const PlannedTensor& t : s.planned())
    if (!t.constant) names.push_back(t.name);
  const viz::MetricValues v = viz::tensor_metric(s, names, spec, runs);
  json values = json::array();
  for (const std::string& n : names) {
    auto it = v.by_tensor.find(n);
    if (it == v.by_tensor.end()) continue;
    const PlannedTensor* pt = s.activations().find(n);
    const Node* node = pt && pt->producer >= 0 ? &s.graph().nodes[static_cast<size_t>(pt->producer)] : nullptr;
    values.push_back({{"tensor", n}, {"node", node ? json(node->name) : json(nullptr)}, {"op", node ? json(node->op_type) : json(nullptr)},
                      {"value", it->second}});
  }
  return {{"metric", *c.args.get("metric")}, {"name", viz::metric_name(spec)}, {"values", values}, {"unknown", v.unknown}};
}

const std::vector<Section>& sections() {
  static const std::vector<Section> s = {
      {"structure", {}, {"brief"}, always, {}, structure_section},
      {"find", {"find"}, {}, [](const Args& a) { return a.has("find"); }, {}, find_section},
      {"tensor", {"tensor"}, {}, [](const Args& a) { return a.has("tensor"); }, tensor_check, tensor_section},
      {"neuron", {"neuron"}, {"all-terms"}, [](const Args& a) { return a.has("neuron"); }, neuron_check, neuron_section},
      {"weights", {"weights"}, {}, [](const Args& a) { return a.has("weights"); }, weights_check, weights_section},
      {"attention", {"query"}, {"attention"}, [](const Args& a) { return a.has("attention"); }, {}, attention_section},
      {"predictions", {"labels"}, {}, [](const Args& a) { return a.has("labels"); }, predictions_check, predictions_section},
      {"metric", {"metric"}, {}, [](const Args& a) { return a.has("metric"); }, metric_check, metric_section},
      {"diff", {"diff", "input-b", "diff-threshold"}, {}, [](const Args& a) { return a.has("diff") || a.has("input-b"); }, diff_check,
       diff_section},
      // Last: the backward pass it runs must not change what the sections above read (it does not
      // touch the activations, but this keeps the order of the work obvious).
      {"gradients", {"target", "score"}, {"gradients"}, [](const Args& a) {
         return a.has("gradients") || ((a.has("target") || a.has("score")) && a.get_or("metric", "") != "grad-norm");
       },
       gradients_check, gradients_section},
  };
  return s;
}

json model_section(const ModelOptions& o, const LoadedModel& m) {
  const Graph& g = m.session->graph();
  return {{"path", o.model}, {"producer", g.producer}, {"ir_version", g.ir_version}, {"opset", g.opset()}};
}

json input_section(const ModelOptions& o, const LoadedModel& m) {
  json tensors = json::array();
  for (const auto& [name, t] : m.inputs)
    tensors.push_back({{"name", name}, {"dtype", std::string(dtype_name(t.dtype()))}, {"shape", t.shape()}});
  return {{"files", o.inputs}, {"tensors", tensors}};
}

int run_inspect(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = kModelFlags;
  std::vector<std::string> bools = kModelBoolFlags;
  flags.insert(flags.end(), {"top"});
  bools.push_back("pretty");
  for (const Section& s : sections()) {
    flags.insert(flags.end(), s.flags.begin(), s.flags.end());
    bools.insert(bools.end(), s.bool_flags.begin(), s.bool_flags.end());
  }
  std::vector<std::string> repeated = kModelRepeated;
  repeated.push_back("input-b");
  Args a(argv, flags, bools, repeated);
  ModelOptions o = parse_model_options(a);
  if (o.inputs.empty() && !o.text) throw Error(ErrorKind::Usage, "missing --input FILE (or --text \"...\")");
  const int64_t top = a.get_int("top", 5);
  if (top < 0) throw Error(ErrorKind::Usage, "--top must be >= 0");
  o.quiet = true;  // stdout carries the document only
  o.profile = a.get_or("metric", "") == "latency";  // per-node times (SessionOptions::profile)

  LoadedModel m = load_model(o, true);
  inspect::ModelView view(*m.session);
  InspectContext ctx{a, o, m, view, top};
  for (const Section& s : sections())
    if (s.check && s.wanted(a)) s.check(ctx);
  const double run_ms = run_once(m);

  json doc;
  doc["model"] = model_section(o, m);
  doc["input"] = input_section(o, m);
  json backends = json::array();
  for (const auto& b : m.backends) backends.push_back(b->name());
  doc["backends"] = backends;
  doc["timing_ms"] = {{"load", m.load_ms}, {"prepare", m.prepare_ms}, {"run", run_ms}};
  for (const Section& s : sections())
    if (s.wanted(a)) doc[s.key] = s.build(ctx);

  const std::string text = doc.dump(a.has("pretty") ? 2 : -1, ' ', false, json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

NETLENS_COMMAND("inspect",
                "inspect MODEL --input FILE [--tensor NAME] [--find QUERY] [--neuron TENSOR:INDEX [--all-terms]] "
                "[--weights NODE] [--attention [--query N]] [--labels FILE] [--gradients [--target T] [--score logit|prob]] "
                "[--diff MODEL_B] [--input-b FILE] [--diff-threshold T] [--metric latency|flops|params|memory|grad-norm|FILE.json] [--top K] [--brief] [--pretty] [model flags]",
                "run a model and print its analyses (structure, tensor statistics, activation functions, neuron "
                "contributions, weights, attention, predictions, gradient statistics and flow) as JSON; --diff MODEL_B / "
                "--input-b FILE compare every tensor with a second run (max_abs_diff, rel_l2_diff, ranking by divergence); "
                "--metric gives the per-layer figures render --metric colours by",
                run_inspect);

}  // namespace
}  // namespace netlens::cli
