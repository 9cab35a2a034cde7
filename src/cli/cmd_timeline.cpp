// netlens timeline: a series of checkpoints of one architecture — per checkpoint and layer the
// weight norm, change, update/weight ratio, activation statistics and gradient norms on a fixed
// probe input, loss/accuracy on labelled folders, and the diagnosis (netlens_timeline,
// docs/timeline.md). Prints tables, or with --json the full report.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "netlens/cli/common.hpp"
#include "netlens/timeline.hpp"
#include "timeline_inputs.hpp"

namespace netlens::cli {
namespace {

namespace tl = netlens::timeline;

std::string fmt(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return std::isnan(v) ? "-" : (v > 0 ? "inf" : "-inf");
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}


void print_tables(const tl::Report& r) {
  std::printf("%zu checkpoints (%s order), %zu layers, session %s, logits '%s' (%lld classes)\n\n", r.points.size(),
              r.list.order.c_str(), r.layers.size(), r.reused_session ? "reused (weights fed as inputs)" : "per checkpoint",
              r.logits.c_str(), static_cast<long long>(r.num_classes));
  std::printf("%-20s %10s %8s", "checkpoint", "probe loss", "acc");
  if (!r.points.empty())
    for (const tl::EvalPoint& e : r.points[0].eval) std::printf(" %12s %8s", (e.split + " loss").c_str(), "acc");
  std::printf(" %12s %9s\n", "median upd", "ms");
  for (const tl::CheckpointPoint& p : r.points) {
    std::vector<double> u;
    for (const tl::LayerPoint& lp : p.layers)
      if (std::isfinite(lp.update_ratio)) u.push_back(lp.update_ratio);
    std::sort(u.begin(), u.end());
    std::printf("%-20s %10s %8s", p.name.substr(0, 20).c_str(), fmt(p.probe_loss).c_str(), fmt(p.probe_accuracy, "%.3f").c_str());
    for (const tl::EvalPoint& e : p.eval) std::printf(" %12s %8s", fmt(e.loss).c_str(), fmt(e.accuracy, "%.3f").c_str());
    std::printf(" %12s %9.1f\n", u.empty() ? "-" : fmt(u[u.size() / 2]).c_str(), p.load_ms + p.run_ms + p.backward_ms + p.eval_ms);
  }
  if (r.points.empty()) return;
  const tl::CheckpointPoint& a = r.points.front();
  const tl::CheckpointPoint& b = r.points.back();
  std::printf("\n%-24s %-8s %21s %10s %21s %13s %8s\n", "layer", "op", "weight norm first>last", "last upd",
              "grad rms first>last", "dead first>last", "sat last");
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const tl::LayerPoint& x = a.layers[l];
    const tl::LayerPoint& y = b.layers[l];
    std::printf("%-24s %-8s %10s>%-10s %10s %10s>%-10s %6s>%-6s %8s\n", r.layers[l].node.substr(0, 24).c_str(),
                r.layers[l].op.substr(0, 8).c_str(), fmt(x.weight_norm).c_str(), fmt(y.weight_norm).c_str(),
                fmt(y.update_ratio).c_str(), fmt(x.grad_rms).c_str(), fmt(y.grad_rms).c_str(),
                r.layers[l].activation_op == "Relu" ? fmt(x.act.dead_share, "%.2f").c_str() : "-",
                r.layers[l].activation_op == "Relu" ? fmt(y.act.dead_share, "%.2f").c_str() : "-",
                fmt(y.act.saturated_share, "%.2f").c_str());
  }
  std::printf("\nfindings:%s\n", r.findings.empty() ? " none" : "");
  for (const tl::Finding& f : r.findings) std::printf("  %-20s %s\n", f.kind.c_str(), f.message.c_str());
}

int run_timeline(const std::vector<std::string>& argv) {
  Args a(argv, {"input", "label", "labels", "eval", "graph", "backend", "mean", "std", "scale", "out", "eval-batch"},
         {"json", "quiet", "no-reuse"});
  if (!a.has("input")) throw Error(ErrorKind::Usage, "timeline: --input FILE (the probe: .npy or an image) is required");
  const std::string backend = a.get_or("backend", "cpu");
  if (backend != "cpu" && backend != "cuda" && backend != "auto")
    throw Error(ErrorKind::Usage, "--backend must be cpu, cuda or auto, got '" + backend + "'");
  const bool quiet = a.has("quiet");
  tl::CheckpointList list = tl::discover_checkpoints(a.positional(), a.get_or("graph", ""));
  auto backends = make_backends(backend, quiet || backend == "cpu");
  std::vector<Backend*> bs;
  for (auto& b : backends) bs.push_back(b.get());
  tl::SeriesOptions so;
  so.reuse_session = !a.has("no-reuse");
  so.eval_batch = a.get_int("eval-batch", 256);
  tl::Series series(list, bs, so);
  const TimelineInputs in = read_timeline_inputs(a, series.graph());
  const tl::Probe& probe = in.probe;
  const std::vector<tl::EvalSplit>& eval = in.eval;

  Progress progress("checkpoints", quiet);
  const tl::Report r = tl::make_report(series, probe, eval, [&](size_t d, size_t t) { progress.update(d, t); });
  progress.done();
  const std::string json = tl::to_json(r);
  if (auto o = a.get("out")) {
    std::ofstream f(*o);
    if (!f || !(f << json << "\n")) throw Error(ErrorKind::Io, "cannot write " + *o);
  }
  if (a.has("json"))
    std::printf("%s\n", json.c_str());
  else
    print_tables(r);
  return 0;
}

NETLENS_COMMAND("timeline",
                "timeline CHECKPOINTS... --input FILE [--label N | --labels FILE.npy] [--eval DIR] [--graph FILE] "
                "[--json] [--out FILE] [--no-reuse] [--mean a,b,c --std a,b,c --scale S] [--backend cpu|cuda|auto]",
                "how a model learned: per-layer change, activations, gradients and a diagnosis over checkpoints",
                run_timeline);

}  // namespace
}  // namespace netlens::cli
