// A/B comparison of two runs (definitions in diff.hpp).
#include "netlens/inspect/diff.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace netlens::inspect {
namespace {

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::Float32 ? t : t.cast(DType::Float32); }

void check_pair(const std::string& name, const Tensor& a, const Tensor& b) {
  if (!is_float(a.dtype()) || !is_float(b.dtype()))
    throw Error(ErrorKind::Input, "diff: tensor '" + name + "' is not a float tensor in both runs");
  if (a.shape() != b.shape())
    throw Error(ErrorKind::Input, "diff: tensor '" + name + "' has shape " + shape_str(a.shape()) + " in A but " +
                                      shape_str(b.shape()) + " in B");
}

// Only what the comparison reads of a run: its non-constant tensors by name.
std::map<std::string, const PlannedTensor*> shown(const Session& s) {
  std::map<std::string, const PlannedTensor*> m;
  for (const PlannedTensor& t : s.planned())
    if (!t.constant) m[t.name] = &t;
  return m;
}

}  // namespace

const TensorDiff* DiffReport::find(const std::string& tensor) const {
  for (const TensorDiff& d : tensors)
    if (d.tensor == tensor) return &d;
  return nullptr;
}

TensorDiff diff_tensors(const std::string& name, const Tensor& a_in, const Tensor& b_in) {
  check_pair(name, a_in, b_in);
  const Tensor a = as_f32(a_in), b = as_f32(b_in);
  const float* pa = a.data_as<float>();
  const float* pb = b.data_as<float>();
  TensorDiff d;
  d.tensor = name;
  d.shape = a.shape();
  double sum_abs = 0, ss_a = 0, ss_d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = pa[i], y = pb[i];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      ++d.non_finite;
      continue;
    }
    const double e = std::abs(x - y);
    ++d.count;
    sum_abs += e;
    d.max_abs_diff = std::max(d.max_abs_diff, e);
    ss_a += x * x;
    ss_d += e * e;
  }
  d.mean_abs_diff = d.count ? sum_abs / static_cast<double>(d.count) : 0.0;
  d.l2_a = std::sqrt(ss_a);
  d.l2_diff = std::sqrt(ss_d);
  if (d.l2_a > 0) d.rel_l2_diff = d.l2_diff / d.l2_a;
  else if (d.l2_diff == 0) d.rel_l2_diff = 0.0;
  return d;
}

DiffReport diff_runs(const Session& sa, const Session& sb, const std::string& mode, const DiffOptions& opt) {
  DiffReport r;
  r.mode = mode;
  r.threshold = opt.threshold;
  const auto in_b = shown(sb);
  const auto in_a = shown(sa);
  const Graph& g = sa.graph();
  for (const PlannedTensor& t : sa.planned()) {
    if (t.constant || !is_float(t.info.dtype)) continue;
    auto it = in_b.find(t.name);
    Unmatched u{t.name, "", t.info.shape, std::nullopt};
    if (it == in_b.end()) u.reason = "missing in B";
    else if (u.shape_b = it->second->info.shape; it->second->info.shape != t.info.shape) u.reason = "shape differs";
    else if (!is_float(it->second->info.dtype)) u.reason = "not float in B";
    if (!u.reason.empty()) {
      r.unmatched.push_back(std::move(u));
      continue;
    }
    TensorDiff d = diff_tensors(t.name, sa.activations().fetch(t.name), sb.activations().fetch(t.name));
    if (t.producer >= 0) {
      d.node = g.nodes[static_cast<size_t>(t.producer)].name;
      d.op = g.nodes[static_cast<size_t>(t.producer)].op_type;
    }
    r.tensors.push_back(std::move(d));
  }
  for (const PlannedTensor& t : sb.planned())
    if (!t.constant && is_float(t.info.dtype) && !in_a.count(t.name))
      r.unmatched.push_back({t.name, "missing in A", std::nullopt, t.info.shape});

  auto divergent = [&](const TensorDiff& d) { return !d.rel_l2_diff || *d.rel_l2_diff > opt.threshold; };
  r.ranking.resize(r.tensors.size());
  for (size_t i = 0; i < r.ranking.size(); ++i) r.ranking[i] = i;
  std::stable_sort(r.ranking.begin(), r.ranking.end(), [&](size_t i, size_t j) {
    const TensorDiff &x = r.tensors[i], &y = r.tensors[j];
    if (!x.rel_l2_diff || !y.rel_l2_diff) return !x.rel_l2_diff && y.rel_l2_diff;
    if (*x.rel_l2_diff != *y.rel_l2_diff) return *x.rel_l2_diff > *y.rel_l2_diff;
    return x.max_abs_diff > y.max_abs_diff;
  });
  for (size_t k = 0; k < r.ranking.size(); ++k) r.tensors[r.ranking[k]].rank = static_cast<int>(k + 1);
  for (size_t i = 0; i < r.tensors.size(); ++i) {
    const TensorDiff& d = r.tensors[i];
    if (d.max_abs_diff == 0 && d.non_finite == 0) ++r.identical;
    if (divergent(d)) {
      ++r.divergent;
      if (!r.first_divergent) r.first_divergent = i;
    }
    for (const ValueInfo& o : g.outputs)
      if (o.name == d.tensor) r.outputs.push_back(i);
  }
  return r;
}

nlohmann::json to_json(const TensorDiff& d) {
  nlohmann::json j = {{"tensor", d.tensor},
                      {"node", d.node.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.node)},
                      {"op", d.op.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.op)},
                      {"shape", d.shape},
                      {"count", d.count},
                      {"non_finite", d.non_finite},
                      {"max_abs_diff", d.max_abs_diff},
                      {"mean_abs_diff", d.mean_abs_diff},
                      {"rel_l2_diff", d.rel_l2_diff ? nlohmann::json(*d.rel_l2_diff) : nlohmann::json(nullptr)},
                      {"l2_a", d.l2_a},
                      {"l2_diff", d.l2_diff},
                      {"rank", d.rank}};
  if (!d.rel_l2_diff) j["rel_l2_undefined"] = true;
  return j;
}

nlohmann::json to_json(const DiffReport& r, size_t top) {
  using nlohmann::json;
  json tensors = json::array(), ranking = json::array(), unmatched = json::array(), outputs = json::array();
  for (const TensorDiff& d : r.tensors) tensors.push_back(to_json(d));
  for (size_t k = 0; k < r.ranking.size() && (top == 0 || k < top); ++k) {
    const TensorDiff& d = r.tensors[r.ranking[k]];
    ranking.push_back({{"rank", d.rank},
                       {"tensor", d.tensor},
                       {"node", d.node},
                       {"rel_l2_diff", d.rel_l2_diff ? json(*d.rel_l2_diff) : json(nullptr)},
                       {"max_abs_diff", d.max_abs_diff}});
  }
  for (const Unmatched& u : r.unmatched)
    unmatched.push_back({{"tensor", u.tensor},
                         {"reason", u.reason},
                         {"shape_a", u.shape_a ? json(*u.shape_a) : json(nullptr)},
                         {"shape_b", u.shape_b ? json(*u.shape_b) : json(nullptr)}});
  for (size_t i : r.outputs) outputs.push_back(to_json(r.tensors[i]));
  double max_abs = 0, max_rel = 0, sum_rel = 0;
  int64_t defined = 0;
  std::string max_abs_t, max_rel_t;
  for (const TensorDiff& d : r.tensors) {
    if (max_abs_t.empty() || d.max_abs_diff > max_abs) max_abs = d.max_abs_diff, max_abs_t = d.tensor;
    if (d.rel_l2_diff) {
      ++defined;
      sum_rel += *d.rel_l2_diff;
      if (*d.rel_l2_diff > max_rel || max_rel_t.empty()) max_rel = *d.rel_l2_diff, max_rel_t = d.tensor;
    }
  }
  json summary = {{"compared", r.tensors.size()},
                  {"unmatched", r.unmatched.size()},
                  {"identical", r.identical},
                  {"divergent", r.divergent},
                  {"threshold", r.threshold},
                  {"max_abs_diff", max_abs},
                  {"max_abs_diff_tensor", max_abs_t.empty() ? json(nullptr) : json(max_abs_t)},
                  {"max_rel_l2_diff", max_rel},
                  {"max_rel_l2_diff_tensor", max_rel_t.empty() ? json(nullptr) : json(max_rel_t)},
                  {"mean_rel_l2_diff", defined ? sum_rel / double(defined) : 0.0},
                  {"rel_l2_undefined", static_cast<int64_t>(r.tensors.size()) - defined},
                  {"first_divergent", r.first_divergent ? json(r.tensors[*r.first_divergent].tensor) : json(nullptr)},
                  {"outputs", outputs}};
  return {{"mode", r.mode}, {"summary", summary}, {"ranking", ranking}, {"tensors", tensors}, {"unmatched", unmatched}};
}

}  // namespace netlens::inspect
