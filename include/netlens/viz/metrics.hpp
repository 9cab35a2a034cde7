// Per-layer metrics for the metric overlay (ValueMode::Metric): one number per shown tensor, from
// the session (its producer node's latency, FLOPs or parameters; the tensor's memory or gradient
// norm) or from a JSON file of {node or tensor name: value}.
//
// Definitions (docs/compare.md repeats them):
// - latency: the producer node's milliseconds in the session's last profiled run
//   (Session::node_times_ms, SessionOptions::profile; `bench --profile`'s figures), or the minimum
//   over several runs when the caller passes them (`runs`).
// - flops: runtime's node_flops of the producer (multiply-adds × 2; 0 for ops it does not count).
// - params: elements of the producer's float constant inputs of rank ≥ 1 (initializers, Constant
//   values and folded constants: weights, biases, normalisation vectors; scalars such as Clip's
//   bounds are constants of the op, not parameters).
// - memory: the tensor's bytes (elements × dtype size) as planned.
// - grad-norm: ‖dS/d(tensor)‖₂ from the session's gradients (run Session::backward first).
// - FILE.json: an object {name: number}; a tensor takes the value of its own name, else of its
//   producer node's name. Keys that name nothing in the graph are returned in `unknown`; a file
//   where no key names a shown tensor or its producer is Error{Input}.
// A multi-output node gives each of its outputs its figure. Graph inputs have no producer: 0 for
// latency, flops and params (they cost nothing); a file gives them a value only by their own name.
// Threads: pure functions of their arguments; the session is only read.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::viz {

enum class MetricKind { Latency, Flops, Params, Memory, GradNorm, File };

struct MetricSpec {
  MetricKind kind = MetricKind::Flops;
  std::string file;  // kind File
};

// "latency" | "flops" | "params" | "memory" | "grad-norm" | a path ending in .json; Error{Usage}
// naming the flag otherwise.
MetricSpec parse_metric(const std::string& text, const std::string& flag = "--metric");
// The legend's name: "latency ms", "FLOPs", "parameters", "memory bytes", "gradient norm", or the
// file's stem.
std::string metric_name(const MetricSpec& m);

struct MetricValues {
  std::map<std::string, double> by_tensor;  // shown tensor → value (only those that have one)
  std::vector<std::string> unknown;         // File: keys naming no node or tensor
};

// The metric for each of `tensors` (names of the session's tensors). `runs`: per-node milliseconds
// of several profiled runs (latency: the minimum per node is taken); empty: the session's last run.
// Error{Usage} when latency has no profile or grad-norm no gradients; Error{Io}/Error{Input} for an
// unreadable file, a non-object, a non-number value or no key that matches.
MetricValues tensor_metric(const Session& s, const std::vector<std::string>& tensors, const MetricSpec& m,
                           const std::vector<std::vector<double>>& runs = {});

}  // namespace netlens::viz
