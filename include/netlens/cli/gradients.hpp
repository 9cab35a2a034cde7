// What the commands that compute gradients share (explain, infer --gradients, inspect --gradients):
// the target flags, the backward pass of a run, and the JSON of a gradient flow.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/cli/command.hpp"
#include "netlens/explain.hpp"

namespace netlens::cli {

// --target TEXT, --score logit|prob (value flags) and --labels FILE (a label file or CTC dictionary).
extern const std::vector<std::string> kTargetFlags;

// The label file of --labels (empty without it).
std::vector<std::string> labels_from_flags(const Args& a);
// Parses --target / --score (Error{Usage} before any run).
explain::TargetSpec target_spec_from_flags(const Args& a);
// The target fixed against the session's last run, and its backward pass.
explain::Target backward_for_target(Session& s, const explain::TargetSpec& spec, const std::vector<std::string>& labels);

nlohmann::json to_json(const explain::Target& t, double value);
nlohmann::json to_json(const explain::FlowEntry& e);
// all_entries: every tensor of the flow; otherwise the flagged ones only (with the counts).
nlohmann::json to_json(const explain::GradientFlow& f, bool all_entries);
// Norm, RMS, max |g|, mean, min, max of every gradient of the session, in node order.
nlohmann::json gradient_stats_json(const Session& s);

}  // namespace netlens::cli
