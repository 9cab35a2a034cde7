// netlens infer: run a model on an input, summarise its outputs, dump tensors (and gradients) as .npy.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "netlens/cli/common.hpp"
#include "netlens/cli/gradients.hpp"

namespace netlens::cli {
namespace {

struct Summary {
  double min = 0, max = 0, mean = 0;
};

Summary summarize(const Tensor& t) {
  Summary s;
  const int64_t n = t.numel();
  if (n == 0) return s;
  s.min = INFINITY;
  s.max = -INFINITY;
  double sum = 0;
  int64_t finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = t.get_f64(i);
    if (!std::isfinite(v)) continue;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
    ++finite;
  }
  s.mean = finite ? sum / static_cast<double>(finite) : NAN;
  if (!finite) s.min = s.max = NAN;
  return s;
}

std::string index_text(int64_t flat, const Shape& shape) {
  std::string s = "[";
  const auto st = strides_of(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d) s += ",";
    s += std::to_string(flat / st[d]);
    flat %= st[d];
  }
  return s + "]";
}

// Writes `names` of `store` (the activations, or the gradients: same names, same producers) as
// DIR/<stem>.npy with DIR/index.json: {name: {file, shape, dtype, producer, op_type}}.
void dump_store(const Session& s, const ActivationStore& store, const std::vector<std::string>& names,
                const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::string json = "{\n";
  bool first = true;
  const std::vector<std::string> stems = unique_file_stems(names);
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    const Tensor t = store.fetch(name);
    const std::string file = stems[i] + ".npy";
    write_npy(dir + "/" + file, t);
    const PlannedTensor* p = s.activations().find(name);
    std::string producer, op;
    if (p && p->producer >= 0) {
      producer = s.graph().nodes[static_cast<size_t>(p->producer)].name;
      op = s.graph().nodes[static_cast<size_t>(p->producer)].op_type;
    }
    std::string shape = "[";
    for (size_t d = 0; d < t.shape().size(); ++d) shape += (d ? "," : "") + std::to_string(t.shape()[d]);
    shape += "]";
    json += std::string(first ? "" : ",\n") + "  \"" + json_escape(name) + "\": {\"file\": \"" + json_escape(file) +
            "\", \"shape\": " + shape + ", \"dtype\": \"" + std::string(dtype_name(t.dtype())) +
            "\", \"producer\": " + (producer.empty() ? "null" : "\"" + json_escape(producer) + "\"") +
            ", \"op_type\": " + (op.empty() ? "null" : "\"" + json_escape(op) + "\"") + "}";
    first = false;
  }
  json += "\n}\n";
  std::ofstream f(dir + "/index.json");
  f << json;
  if (!f) throw Error(ErrorKind::Io, dir + "/index.json: cannot write");
}

void dump(const Session& s, const std::string& dir, bool all) {
  std::vector<std::string> names;
  if (all) {
    for (const auto& t : s.planned()) names.push_back(t.name);
  } else {
    for (const auto& o : s.graph().outputs) names.push_back(o.name);
  }
  dump_store(s, s.activations(), names, dir);
  std::printf("dumped     %zu tensor(s) to %s (index.json)\n", names.size(), dir.c_str());
}

// Every gradient (dS/d tensor for each float tensor of the run, the input included) into DIR/gradients.
void dump_gradients(const Session& s, const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& t : s.gradients().tensors()) names.push_back(t.name);
  dump_store(s, s.gradients(), names, dir + "/gradients");
  std::printf("dumped     %zu gradient(s) to %s/gradients (index.json)\n", names.size(), dir.c_str());
}

int run_infer(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = kModelFlags;
  flags.insert(flags.end(), {"dump", "top"});
  flags.insert(flags.end(), kTargetFlags.begin(), kTargetFlags.end());
  std::vector<std::string> bools = kModelBoolFlags;
  bools.push_back("all");
  bools.push_back("gradients");
  Args a(argv, flags, bools, kModelRepeated);
  ModelOptions o = parse_model_options(a);
  if (o.inputs.empty() && !o.text) throw Error(ErrorKind::Usage, "missing --input FILE (or --text \"...\")");
  if (a.has("all") && !a.has("dump")) throw Error(ErrorKind::Usage, "--all needs --dump DIR");
  const int64_t top = a.get_int("top", 5);
  const bool gradients = a.has("gradients");
  if (gradients && !a.has("dump")) throw Error(ErrorKind::Usage, "--gradients needs --dump DIR");
  if (!gradients && (a.has("target") || a.has("score")))
    throw Error(ErrorKind::Usage, "--target and --score choose what --gradients differentiates: add --gradients");
  const explain::TargetSpec spec = target_spec_from_flags(a);
  const std::vector<std::string> labels = labels_from_flags(a);

  LoadedModel m = load_model(o, true);
  Session& s = *m.session;
  const double ms = run_once(m);
  std::printf("model      %s\n", o.model.c_str());
  std::printf("backend    %s\n", m.backends[static_cast<size_t>(s.node_backend(0) >= 0 ? s.node_backend(0) : 0)]->name().c_str());
  std::printf("memory     %s of activations kept (%zu tensors)\n", human_bytes(s.report().activation_bytes).c_str(),
              s.planned().size());
  for (const ValueInfo& v : s.graph().outputs) {
    const Tensor t = s.activations().fetch(v.name);
    const Summary sm = summarize(t);
    std::printf("output     %s  %s %s  min %.6g  max %.6g  mean %.6g\n", v.name.c_str(),
                std::string(dtype_name(t.dtype())).c_str(), shape_str(t.shape()).c_str(), sm.min, sm.max, sm.mean);
    // Top-k for classifier-like outputs (a vector of scores per sample).
    if (top > 0 && t.numel() > 1 && t.numel() <= 100000 && is_float(t.dtype())) {
      std::vector<int64_t> idx(static_cast<size_t>(t.numel()));
      std::iota(idx.begin(), idx.end(), 0);
      const size_t k = std::min<size_t>(static_cast<size_t>(top), idx.size());
      std::partial_sort(idx.begin(), idx.begin() + static_cast<long>(k), idx.end(),
                        [&](int64_t x, int64_t y) { return t.get_f64(x) > t.get_f64(y); });
      std::printf("  top %zu:", k);
      for (size_t i = 0; i < k; ++i)
        std::printf(" %s=%.5g", index_text(idx[i], t.shape()).c_str(), t.get_f64(idx[i]));
      std::printf("\n");
    }
  }
  print_non_finite(s);
  std::printf("time       load %.1f ms, prepare %.1f ms, run %.1f ms\n", m.load_ms, m.prepare_ms, ms);
  if (gradients) {
    const auto t0 = std::chrono::steady_clock::now();
    const explain::Target t = backward_for_target(s, spec, labels);
    const double bms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("target     %s = %.6g\n", t.description.c_str(), t.value(s));
    std::printf("gradients  %s (%d nodes differentiated, backward %.1f ms)\n",
                human_bytes(s.backward_report().gradient_bytes).c_str(), s.backward_report().differentiated_nodes, bms);
  }
  if (auto dir = a.get("dump")) dump(s, *dir, a.has("all"));
  if (gradients) dump_gradients(s, *a.get("dump"));
  return 0;
}

NETLENS_COMMAND("infer",
                "infer MODEL --input FILE [--input NAME=FILE ...] [--backend cpu|cuda|auto] [--dump DIR] [--all] "
                "[--top K] [--gradients [--target T] [--score logit|prob] [--labels FILE]] [image flags: --size WxH --mean --std --scale --bgr --layout]",
                "run a model on an input; print its outputs; dump outputs (or every tensor, and with --gradients every "
                "gradient) as .npy", run_infer);

}  // namespace
}  // namespace netlens::cli
