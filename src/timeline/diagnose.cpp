// The diagnosis rules and the JSON report.
//
// Every threshold below is a stated rule (rules() returns the same sentences; docs/timeline.md lists
// them). They were checked on the seeded runs of tests/timeline/make_runs.py — a healthy CNN and four
// broken runs; docs/timeline.md lists the figures each rule read there and the margins (the gradient
// and update ratios by orders of magnitude; dead shares by 0.2 absolute).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "netlens/timeline.hpp"

namespace netlens::timeline {
namespace {

constexpr double kVanishRatio = 1e-3;   // grad RMS first weight layer / last weight layer
constexpr double kExplodeRatio = 1e3;
constexpr double kDeadShare = 0.7;      // dying ReLU: dead at the end ...
constexpr double kDeadGrowth = 0.3;     // ... and grown by this much since the first checkpoint
constexpr double kSaturatedShare = 0.5;
constexpr double kStalledRatio = 1e-4;  // median update/weight ratio over the transitions
constexpr double kOverfitRise = 1.10;   // validation loss at the end vs its minimum (and +0.02)
constexpr double kUnderfitLoss = 0.5;   // final training loss above this × ln(classes)

bool finite(double v) { return std::isfinite(v); }
std::string g3(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

double median(std::vector<double> v) {
  if (v.empty()) return kNone;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const EvalPoint* split_of(const CheckpointPoint& p, const std::string& name) {
  for (const EvalPoint& e : p.eval)
    if (e.split == name) return &e;
  return nullptr;
}

}  // namespace

std::vector<std::string> rules() {
  return {
      "vanishing_gradients: gradient RMS of the first weight layer (Conv/Gemm/MatMul) over that of the last is "
      "below 1e-3 at half of the checkpoints or more",
      "exploding_gradients: that ratio is above 1e3 at half of the checkpoints or more, or a checkpoint has "
      "non-finite weights, activations, gradients or loss (divergence)",
      "dying_relu: a Relu layer's dead channels (never > 0 on the probe) are at least 70% at the last checkpoint "
      "and grew by at least 30 points since the first",
      "saturation: a Sigmoid/Tanh layer's saturated share (sigmoid <= 0.01 or >= 0.99, |tanh| >= 0.99) is at "
      "least 50% at the last checkpoint",
      "stalled: a weight layer's median update/weight ratio ||W_i - W_i-1|| / ||W_i-1|| over the transitions is "
      "below 1e-4 (needs 3 checkpoints or more)",
      "overfitting: the validation loss at the last checkpoint is above 1.1 x its minimum + 0.02, reached at an "
      "earlier checkpoint, while the training loss kept falling after it",
      "underfitting: the final training loss (train split, else the eval folder, else the probe) is above "
      "0.5 x ln(classes), i.e. not much better than chance",
  };
}

std::vector<Finding> diagnose(const Report& r) {
  std::vector<Finding> out;
  const size_t n = r.points.size();
  if (n == 0) return out;
  const CheckpointPoint& first = r.points.front();
  const CheckpointPoint& last = r.points.back();

  // Depth ratios.
  int fw = -1, lw = -1;
  for (size_t l = 0; l < r.layers.size(); ++l)
    if (r.layers[l].weight_layer) {
      if (fw < 0) fw = static_cast<int>(l);
      lw = static_cast<int>(l);
    }
  std::vector<std::string> nonfinite;
  for (const CheckpointPoint& p : r.points) {
    // Labels given (accuracy measured) but the loss is not finite, or any non-finite figure.
    bool bad = finite(p.probe_accuracy) && !finite(p.probe_loss);
    for (const LayerPoint& lp : p.layers)
      if (!finite(lp.weight_norm) || lp.act.non_finite > 0 || std::isinf(lp.grad_norm)) bad = true;
    for (const EvalPoint& e : p.eval)
      if (!finite(e.loss)) bad = true;
    if (bad) nonfinite.push_back(p.name);
  }
  if (fw >= 0 && lw > fw) {
    std::vector<double> ratios;
    std::vector<std::string> low, high;
    for (const CheckpointPoint& p : r.points) {
      const double a = p.layers[static_cast<size_t>(fw)].grad_rms, b = p.layers[static_cast<size_t>(lw)].grad_rms;
      if (!finite(a) || !finite(b) || b <= 0) continue;
      const double q = a / b;
      ratios.push_back(q);
      if (q < kVanishRatio) low.push_back(p.name);
      if (q > kExplodeRatio) high.push_back(p.name);
    }
    auto add = [&](const std::string& kind, const std::vector<std::string>& cps, const std::string& what) {
      if (ratios.empty() || 2 * cps.size() < ratios.size() || cps.empty()) return;
      Finding f;
      f.kind = kind;
      f.layers = {r.layers[static_cast<size_t>(fw)].node, r.layers[static_cast<size_t>(lw)].node};
      f.checkpoints = cps;
      f.figures = {{"grad_rms_ratio_median", median(ratios)},
                   {"grad_rms_ratio_min", *std::min_element(ratios.begin(), ratios.end())},
                   {"grad_rms_ratio_max", *std::max_element(ratios.begin(), ratios.end())},
                   {"checkpoints_flagged", static_cast<double>(cps.size())},
                   {"checkpoints_measured", static_cast<double>(ratios.size())}};
      f.message = "gradient RMS at '" + f.layers[0] + "' is " + what + " that at '" + f.layers[1] + "' (median ratio " +
                  g3(median(ratios)) + ") at " + std::to_string(cps.size()) + " of " +
                  std::to_string(ratios.size()) + " checkpoints";
      out.push_back(std::move(f));
    };
    add("vanishing_gradients", low, "a tiny fraction of");
    add("exploding_gradients", high, "far larger than");
  }
  if (!nonfinite.empty()) {
    Finding f;
    f.kind = "exploding_gradients";
    f.checkpoints = nonfinite;
    f.figures = {{"non_finite_checkpoints", static_cast<double>(nonfinite.size())}};
    f.message = "training diverged: non-finite weights, activations, gradients or loss from checkpoint '" +
                nonfinite.front() + "'";
    out.push_back(std::move(f));
  }

  // Dying ReLUs and saturation (per layer, first vs last checkpoint).
  Finding dying, sat;
  dying.kind = "dying_relu";
  sat.kind = "saturation";
  double dead_max = 0, sat_max = 0;
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const ActivationStats& a0 = first.layers[l].act;
    const ActivationStats& a1 = last.layers[l].act;
    const std::string& op = r.layers[l].activation_op;
    if (op == "Relu" && a1.dead_share >= kDeadShare && a1.dead_share - a0.dead_share >= kDeadGrowth) {
      dying.layers.push_back(r.layers[l].node);
      dying.figures["dead_share_first:" + r.layers[l].node] = a0.dead_share;
      dying.figures["dead_share_last:" + r.layers[l].node] = a1.dead_share;
      dead_max = std::max(dead_max, a1.dead_share);
    }
    if ((op == "Sigmoid" || op == "Tanh" || op == "HardSigmoid") && a1.saturated_share >= kSaturatedShare) {
      sat.layers.push_back(r.layers[l].node);
      sat.figures["saturated_share_last:" + r.layers[l].node] = a1.saturated_share;
      sat_max = std::max(sat_max, a1.saturated_share);
    }
  }
  if (!dying.layers.empty()) {
    dying.checkpoints = {first.name, last.name};
    dying.message = std::to_string(dying.layers.size()) + " ReLU layer(s) ended with up to " +
                    std::to_string(static_cast<int>(std::lround(100 * dead_max))) + "% of their channels dead on the probe";
    out.push_back(std::move(dying));
  }
  if (!sat.layers.empty()) {
    sat.checkpoints = {last.name};
    sat.message = std::to_string(sat.layers.size()) + " sigmoid/tanh layer(s) with up to " +
                  std::to_string(static_cast<int>(std::lround(100 * sat_max))) + "% saturated values at the last checkpoint";
    out.push_back(std::move(sat));
  }

  // Stalled layers.
  if (n >= 3) {
    Finding f;
    f.kind = "stalled";
    for (size_t l = 0; l < r.layers.size(); ++l) {
      if (!r.layers[l].weight_layer) continue;
      std::vector<double> u;
      for (size_t k = 1; k < n; ++k)
        if (finite(r.points[k].layers[l].update_ratio)) u.push_back(r.points[k].layers[l].update_ratio);
      if (u.size() < 2) continue;
      const double med = median(u);
      if (med < kStalledRatio) {
        f.layers.push_back(r.layers[l].node);
        f.figures["update_ratio_median:" + r.layers[l].node] = med;
      }
    }
    if (!f.layers.empty()) {
      for (size_t k = 1; k < n; ++k) f.checkpoints.push_back(r.points[k].name);
      f.message = std::to_string(f.layers.size()) + " weight layer(s) barely change between checkpoints (median update/weight ratio < 1e-4)";
      out.push_back(std::move(f));
    }
  }

  // Over- and underfitting from the curves.
  std::vector<double> train, val;
  for (const CheckpointPoint& p : r.points) {
    const EvalPoint* t = split_of(p, "train");
    const EvalPoint* v = split_of(p, "validation");
    train.push_back(t ? t->loss : kNone);
    val.push_back(v ? v->loss : kNone);
  }
  if (n >= 3 && finite(val.back()) && finite(train.back())) {
    size_t k = 0;
    for (size_t i = 1; i < n; ++i)
      if (finite(val[i]) && (!finite(val[k]) || val[i] < val[k])) k = i;
    if (k + 1 < n && val.back() > kOverfitRise * val[k] + 0.02 && finite(train[k]) && train.back() < train[k]) {
      Finding f;
      f.kind = "overfitting";
      f.checkpoints = {r.points[k].name, last.name};
      f.figures = {{"validation_loss_min", val[k]}, {"validation_loss_last", val.back()},
                   {"train_loss_at_min", train[k]}, {"train_loss_last", train.back()}};
      f.message = "validation loss rose from " + g3(val[k]) + " at '" + r.points[k].name + "' to " +
                  g3(val.back()) + " while the training loss fell from " + g3(train[k]) +
                  " to " + g3(train.back());
      out.push_back(std::move(f));
    }
  }
  double final_loss = kNone;
  std::string source;
  if (const EvalPoint* t = split_of(last, "train")) { final_loss = t->loss; source = "train"; }
  else if (const EvalPoint* e = split_of(last, "eval")) { final_loss = e->loss; source = "eval"; }
  else if (finite(last.probe_loss)) { final_loss = last.probe_loss; source = "probe"; }
  if (r.num_classes > 1 && finite(final_loss) && final_loss > kUnderfitLoss * std::log(static_cast<double>(r.num_classes))) {
    Finding f;
    f.kind = "underfitting";
    f.checkpoints = {last.name};
    f.figures = {{"final_loss", final_loss}, {"chance_loss", std::log(static_cast<double>(r.num_classes))}};
    f.message = "the final " + source + " loss " + g3(final_loss) + " is above half the chance level ln(" +
                std::to_string(r.num_classes) + ") = " + g3(std::log(static_cast<double>(r.num_classes)));
    out.push_back(std::move(f));
  }
  return out;
}

Report make_report(Series& s, const Probe& probe, const std::vector<EvalSplit>& eval,
                   const std::function<void(size_t, size_t)>& progress) {
  Report r;
  r.list = s.list();
  r.layers = s.layers();
  r.logits = s.logits();
  for (size_t i = 0; i < s.size(); ++i) {
    r.points.push_back(s.load(i, probe, eval));
    if (progress) progress(i + 1, s.size());
  }
  r.reused_session = s.reuses_session();
  const Tensor z = s.session().activations().fetch(r.logits);
  r.num_classes = z.rank() >= 1 && z.dim(0) > 0 ? z.numel() / z.dim(0) : z.numel();
  r.findings = diagnose(r);
  return r;
}

std::string to_json(const Report& r, int indent) {
  using nlohmann::json;
  auto num = [](double v) -> json { return std::isfinite(v) ? json(v) : json(nullptr); };
  json j;
  j["order"] = r.list.order;
  if (!r.list.graph.empty()) j["graph"] = r.list.graph;
  j["reused_session"] = r.reused_session;
  j["logits"] = r.logits;
  j["num_classes"] = r.num_classes;
  json layers = json::array();
  for (const Layer& l : r.layers)
    layers.push_back({{"node", l.node}, {"op", l.op}, {"params", l.params}, {"param_count", l.param_count},
                      {"activation", l.activation}, {"activation_op", l.activation_op}, {"weight_layer", l.weight_layer}});
  j["layers"] = layers;
  json cps = json::array();
  for (size_t k = 0; k < r.points.size(); ++k) {
    const CheckpointPoint& p = r.points[k];
    json c = {{"name", p.name}, {"path", r.list.checkpoints[k].path}, {"probe_loss", num(p.probe_loss)},
              {"probe_accuracy", num(p.probe_accuracy)},
              {"timing_ms", {{"load", p.load_ms}, {"run", p.run_ms}, {"backward", p.backward_ms}, {"eval", p.eval_ms}, {"stats", p.stats_ms}}}};
    json ls = json::array();
    for (size_t l = 0; l < p.layers.size(); ++l) {
      const LayerPoint& lp = p.layers[l];
      ls.push_back({{"node", r.layers[l].node}, {"weight_norm", num(lp.weight_norm)}, {"delta_norm", num(lp.delta_norm)},
                    {"update_ratio", num(lp.update_ratio)}, {"grad_norm", num(lp.grad_norm)}, {"grad_rms", num(lp.grad_rms)},
                    {"activation", {{"mean", num(lp.act.mean)}, {"std", num(lp.act.std)}, {"channels", lp.act.channels},
                                    {"dead_channels", lp.act.dead_channels}, {"dead_share", num(lp.act.dead_share)},
                                    {"saturated_share", num(lp.act.saturated_share)}, {"non_finite", lp.act.non_finite}}}});
    }
    c["layers"] = ls;
    json ev = json::array();
    for (const EvalPoint& e : p.eval)
      ev.push_back({{"split", e.split}, {"count", e.count}, {"loss", num(e.loss)}, {"accuracy", num(e.accuracy)}});
    c["eval"] = ev;
    cps.push_back(c);
  }
  j["checkpoints"] = cps;
  json fs = json::array();
  for (const Finding& f : r.findings) {
    json figs = json::object();
    for (const auto& [k, v] : f.figures) figs[k] = num(v);
    fs.push_back({{"kind", f.kind}, {"layers", f.layers}, {"checkpoints", f.checkpoints}, {"figures", figs}, {"message", f.message}});
  }
  j["findings"] = fs;
  j["rules"] = rules();
  return j.dump(indent);
}

}  // namespace netlens::timeline
