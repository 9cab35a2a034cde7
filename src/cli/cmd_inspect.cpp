// netlens inspect: run a model on an input and print the inspection analyses as ONE JSON document
// on stdout (schema: docs/inspect.md). The document is assembled section by section (see
// sections() below) and printed only once complete, so an error never leaves partial JSON: it is
// one line on stderr, exit 2 for usage errors (an unknown tensor, a bad flag), 1 otherwise.
#include <cstdio>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "activation_fn.hpp"
#include "common.hpp"
#include "model_view.hpp"
#include "stats.hpp"
#include "structure.hpp"

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

const std::vector<Section>& sections() {
  static const std::vector<Section> s = {
      {"structure", {}, {"brief"}, always, {}, structure_section},
      {"find", {"find"}, {}, [](const Args& a) { return a.has("find"); }, {}, find_section},
      {"tensor", {"tensor"}, {}, [](const Args& a) { return a.has("tensor"); }, tensor_check, tensor_section},
      // ---- helper B's sections: "neuron" (--neuron TENSOR:INDEX), "weights" (--weights NODE),
      //      "attention" (--attention), "predictions" (--labels FILE). One entry each, here. ----
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
  Args a(argv, flags, bools, kModelRepeated);
  ModelOptions o = parse_model_options(a);
  if (o.inputs.empty()) throw Error(ErrorKind::Usage, "missing --input FILE");
  const int64_t top = a.get_int("top", 5);
  if (top < 0) throw Error(ErrorKind::Usage, "--top must be >= 0");
  o.quiet = true;  // stdout carries the document only

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
                "inspect MODEL --input FILE [--tensor NAME] [--find QUERY] [--top K] [--brief] [--pretty] "
                "[model flags]",
                "run a model and print its analyses (structure, tensor statistics, activation functions) as JSON",
                run_inspect);

}  // namespace
}  // namespace netlens::cli
