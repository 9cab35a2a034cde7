#include "netlens/cli/gradients.hpp"

#include <algorithm>
#include <cmath>

#include "netlens/inspect/predictions.hpp"

namespace netlens::cli {

const std::vector<std::string> kTargetFlags = {"target", "score", "labels"};

std::vector<std::string> labels_from_flags(const Args& a) {
  if (auto p = a.get("labels")) return inspect::read_labels(*p);
  return {};
}

explain::TargetSpec target_spec_from_flags(const Args& a) {
  const explain::Score score = explain::parse_score(a.get_or("score", "logit"));
  return explain::parse_target(a.get_or("target", ""), score);
}

explain::Target backward_for_target(Session& s, const explain::TargetSpec& spec, const std::vector<std::string>& labels) {
  explain::Target t = explain::resolve_target(s, spec, labels);
  s.backward(t.seeds(s));
  return t;
}

nlohmann::json to_json(const explain::Target& t, double value) {
  nlohmann::json j = {{"text", t.spec.text},
                      {"description", t.description},
                      {"output", t.output},
                      {"tensor", t.tensor},
                      {"score", t.spec.score == explain::Score::Logit ? "logit" : "probability"},
                      {"value", value}};
  j["class"] = t.cls >= 0 ? nlohmann::json(t.cls) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json to_json(const explain::FlowEntry& e) {
  return {{"tensor", e.tensor},       {"node", e.node},          {"op", e.op},
          {"numel", e.numel},         {"grad_norm", e.grad_norm}, {"grad_rms", e.grad_rms},
          {"grad_max_abs", e.grad_max_abs}, {"act_norm", e.act_norm}, {"norm_ratio", e.norm_ratio},
          {"step_ratio", e.step_ratio}, {"flag", e.flag}};
}

nlohmann::json to_json(const explain::GradientFlow& f, bool all_entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const explain::FlowEntry& e : f.entries)
    if (all_entries || !e.flag.empty()) list.push_back(to_json(e));
  nlohmann::json j = {{"rule", f.rule},           {"tensors", f.entries.size()}, {"vanishing", f.vanishing},
                      {"exploding", f.exploding}, {"input_rms", f.input_rms},     {"target_rms", f.target_rms}};
  j[all_entries ? "entries" : "flagged"] = list;
  return j;
}

nlohmann::json gradient_stats_json(const Session& s) {
  nlohmann::json a = nlohmann::json::array();
  for (const PlannedTensor& t : s.gradients().tensors()) {
    const Tensor g = s.gradients().fetch(t.name);
    const float* p = g.data_as<float>();
    double sq = 0, sum = 0, mx = -INFINITY, mn = INFINITY, amax = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      const double v = p[i];
      sq += v * v;
      sum += v;
      mx = std::max(mx, v);
      mn = std::min(mn, v);
      amax = std::max(amax, std::abs(v));
    }
    const double n = static_cast<double>(g.numel());
    nlohmann::json e = {{"tensor", t.name}, {"shape", g.shape()}, {"norm", std::sqrt(sq)},
                        {"rms", n > 0 ? std::sqrt(sq / n) : 0.0}, {"max_abs", amax}, {"mean", n > 0 ? sum / n : 0.0}};
    e["min"] = n > 0 ? nlohmann::json(mn) : nlohmann::json(nullptr);
    e["max"] = n > 0 ? nlohmann::json(mx) : nlohmann::json(nullptr);
    a.push_back(e);
  }
  return a;
}

}  // namespace netlens::cli
