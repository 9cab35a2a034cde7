// The probe and evaluation flags of `timeline`, `render --timeline` and `view --timeline`
// (--input, --label/--labels, --eval, --mean/--std/--scale), read for a series' first input.
#pragma once

#include <string>
#include <vector>

#include "netlens/cli/command.hpp"
#include "netlens/timeline.hpp"

namespace netlens::cli {

struct TimelineInputs {
  timeline::Probe probe;
  std::vector<timeline::EvalSplit> eval;
};
// Error{Usage}/Error{Io}/Error{Model} with one line.
TimelineInputs read_timeline_inputs(const Args& a, const Graph& g);
// The value flags read_timeline_inputs and the timeline commands share.
extern const std::vector<std::string> kTimelineFlags;

}  // namespace netlens::cli
