// netlens bench: latency of whole runs (every activation retained), median and spread.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "netlens/cli/common.hpp"

namespace netlens::cli {
namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Per op type: total time of the last run, share, node count, and bytes written per second.
void print_profile(const LoadedModel& m, int64_t runs) {
  const Session& s = *m.session;
  const std::vector<double>& ms = s.node_times_ms();
  struct Row { double ms = 0; int nodes = 0; size_t bytes = 0; };
  std::map<std::string, Row> rows;
  double total = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (s.node_backend(i) < 0) continue;
    const Node& n = s.graph().nodes[i];
    Row& r = rows[n.op_type];
    r.ms += ms[i];
    ++r.nodes;
    for (const auto& o : n.outputs)
      if (!o.empty()) r.bytes += s.info(o).nbytes();
    total += ms[i];
  }
  std::vector<std::pair<std::string, Row>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.second.ms > y.second.ms; });
  std::printf("profile (last of %lld runs, each node timed; %.2f ms in nodes)\n", static_cast<long long>(runs), total);
  std::printf("  %-22s %9s %6s %6s %12s\n", "op", "ms", "share", "nodes", "out GB/s");
  for (const auto& [op, r] : sorted)
    std::printf("  %-22s %9.3f %5.1f%% %6d %12.2f\n", op.c_str(), r.ms, 100.0 * r.ms / std::max(total, 1e-9), r.nodes,
                r.ms > 0 ? static_cast<double>(r.bytes) / (r.ms * 1e6) : 0.0);
}

// Per node, in graph order: the median of its times over the timed runs (`per_run[r][i]`), its op type,
// name and first output's shape; for comparing one engine with another node by node.
void print_node_profile(const LoadedModel& m, const std::vector<std::vector<double>>& per_run) {
  const Session& s = *m.session;
  if (per_run.empty()) return;
  const size_t nodes = per_run.front().size();
  double total = 0;
  std::printf("nodes (median over %zu runs, ms; graph order)\n", per_run.size());
  for (size_t i = 0; i < nodes; ++i) {
    if (s.node_backend(i) < 0) continue;
    std::vector<double> v;
    for (const auto& r : per_run) v.push_back(r.at(i));
    const double med = percentile(v, 0.5);
    total += med;
    const Node& n = s.graph().nodes[i];
    const std::string shape = !n.outputs.empty() && !n.outputs[0].empty() ? shape_str(s.info(n.outputs[0]).shape) : "-";
    std::printf("  %9.4f  %-18s %-16s %s\n", med, n.op_type.c_str(), shape.c_str(), n.name.c_str());
  }
  std::printf("  %9.4f  sum of node medians\n", total);
}

struct Spread {
  double med, p10, p90, min, max;
};
Spread spread(const std::vector<double>& t) {
  return {percentile(t, 0.5), percentile(t, 0.1), percentile(t, 0.9), *std::min_element(t.begin(), t.end()),
          *std::max_element(t.begin(), t.end())};
}

// The seed of a benchmarked backward pass: one-hot at the largest element of the first graph output
// (the top class of a classifier; the strongest cell of a map), the default target of `explain`.
std::map<std::string, Tensor> top_output_seed(const Session& s) {
  const std::string& out = s.graph().outputs.at(0).name;
  Tensor y = s.activations().fetch(out);
  if (!is_float(y.dtype())) throw Error(ErrorKind::Usage, "--backward: the first output '" + out + "' is not a float tensor");
  int64_t best = 0;
  for (int64_t i = 1; i < y.numel(); ++i)
    if (y.get_f64(i) > y.get_f64(best)) best = i;
  Tensor seed(DType::Float32, y.shape());
  if (seed.numel() > 0) seed.data_as<float>()[best] = 1.0f;
  return {{out, seed}};
}

double backward_once(LoadedModel& m, const std::map<std::string, Tensor>& seeds) {
  const auto t0 = std::chrono::steady_clock::now();
  m.session->backward(seeds);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int run_bench(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = kModelFlags;
  flags.insert(flags.end(), {"runs", "warmup"});
  std::vector<std::string> bools = kModelBoolFlags;
  bools.push_back("json");
  bools.push_back("profile");
  bools.push_back("profile-nodes");
  bools.push_back("backward");
  Args a(argv, flags, bools, kModelRepeated);
  ModelOptions o = parse_model_options(a);
  o.quiet = true;
  const bool node_profile = a.has("profile-nodes");
  o.profile = a.has("profile") || node_profile;
  const int64_t runs = a.get_int("runs", 20), warmup = a.get_int("warmup", 3);
  if (runs < 1 || warmup < 0) throw Error(ErrorKind::Usage, "--runs must be ≥ 1 and --warmup ≥ 0");

  const bool backward = a.has("backward");
  LoadedModel m = load_model(o, true);
  // With --backward each iteration is a forward run then a backward pass from the top output; the
  // two are timed separately, so their ratio compares like with like (same inputs, same machine).
  std::map<std::string, Tensor> seeds;
  for (int64_t i = 0; i < warmup; ++i) {
    run_once(m);
    if (backward) backward_once(m, seeds.empty() ? (seeds = top_output_seed(*m.session)) : seeds);
  }
  std::vector<double> t, tb;
  std::vector<std::vector<double>> node_runs;
  for (int64_t i = 0; i < runs; ++i) {
    t.push_back(run_once(m));
    if (node_profile) node_runs.push_back(m.session->node_times_ms());
    if (backward) tb.push_back(backward_once(m, seeds.empty() ? (seeds = top_output_seed(*m.session)) : seeds));
  }
  if (a.has("profile")) print_profile(m, runs);
  if (node_profile) print_node_profile(m, node_runs);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const Spread f = spread(t);
  const std::string backend = m.backends.front()->name();
  const size_t act = m.session->report().activation_bytes;
  if (a.has("json")) {
    std::string extra;
    if (backward) {
      const Spread b = spread(tb);
      char buf[320];
      std::snprintf(buf, sizeof buf, ", \"backward\": {\"median_ms\": %.4f, \"p10_ms\": %.4f, \"p90_ms\": %.4f, \"min_ms\": %.4f, "
                    "\"max_ms\": %.4f, \"ratio_to_forward\": %.4f, \"gradient_bytes\": %zu}", b.med, b.p10, b.p90, b.min, b.max,
                    b.med / f.med, m.session->backward_report().gradient_bytes);
      extra = buf;
    }
    std::printf("{\"model\": \"%s\", \"backend\": \"%s\", \"runs\": %lld, \"median_ms\": %.4f, \"p10_ms\": %.4f, "
                "\"p90_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"activation_bytes\": %zu, \"peak_rss_bytes\": %lld%s}\n",
                json_escape(o.model).c_str(), backend.c_str(), static_cast<long long>(runs), f.med, f.p10, f.p90, f.min, f.max, act,
                static_cast<long long>(ru.ru_maxrss) * 1024, extra.c_str());
    return 0;
  }
  std::printf("model        %s\nbackend      %s\nruns         %lld after %lld warm-up\n", o.model.c_str(),
              backend.c_str(), static_cast<long long>(runs), static_cast<long long>(warmup));
  std::printf("latency      median %.3f ms  (p10 %.3f, p90 %.3f, min %.3f, max %.3f)\n", f.med, f.p10, f.p90, f.min, f.max);
  if (backward) {
    const Spread b = spread(tb);
    const BackwardReport& r = m.session->backward_report();
    std::printf("backward     median %.3f ms  (p10 %.3f, p90 %.3f, min %.3f, max %.3f), %.2fx forward\n", b.med, b.p10, b.p90,
                b.min, b.max, b.med / f.med);
    std::printf("gradients    %s kept (%d nodes differentiated%s)\n", human_bytes(r.gradient_bytes).c_str(), r.differentiated_nodes,
                r.host_fallback_nodes.empty() ? "" : (", " + std::to_string(r.host_fallback_nodes.size()) + " on the host").c_str());
  }
  std::printf("activations  %s kept\npeak RSS     %s\n", human_bytes(act).c_str(),
              human_bytes(static_cast<size_t>(ru.ru_maxrss) * 1024).c_str());
  if (const size_t d = m.session->report().deferred_tensors.size())
    std::printf("deferred     %zu outputs (ReLU/Clip before convs, chain values) written on first read (NETLENS_DEFER=0: by the run)\n", d);
  return 0;
}

NETLENS_COMMAND("bench", "bench MODEL [--backend cpu|cuda|auto] [--runs N] [--warmup N] [--json] [--profile] [--profile-nodes] [--backward] [--input ...]",
                "latency of whole runs with every activation retained: median and spread, peak memory; --backward also "
                "times the backward pass from the top output (and its ratio to forward); --profile-nodes: each node's median "
                "time over the runs, in graph order", run_bench);

}  // namespace
}  // namespace netlens::cli
