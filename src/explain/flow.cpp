// Gradient flow: how the gradient's size changes from the output back to the input, per tensor.
#include <algorithm>
#include <cmath>
#include <set>

#include "explain_util.hpp"
#include "netlens/explain.hpp"

namespace netlens::explain {

GradientFlow gradient_flow(const Session& s, const std::string& seeded_tensor) {
  if (!s.has_gradients()) throw Error(ErrorKind::Usage, "gradient flow needs gradients: run backward first");
  const Graph& g = s.graph();
  GradientFlow f;
  f.rule =
      "step ratio = gradient RMS of a tensor / the largest gradient RMS among the outputs of the nodes that read it; "
      "vanishing below 1e-3 (0 included), exploding above 1e3";

  // Stats of every gradient.
  struct Stat {
    double norm = 0, rms = 0, max_abs = 0;
    int64_t n = 0;
  };
  std::map<std::string, Stat> st;
  for (const PlannedTensor& t : s.gradients().tensors()) {
    if (!s.activations().contains(t.name)) continue;  // weight gradients are not part of the flow
    const std::vector<float> v = detail::values(s.gradients(), t.name);
    Stat x;
    x.n = static_cast<int64_t>(v.size());
    for (float e : v) x.max_abs = std::max(x.max_abs, static_cast<double>(std::abs(e)));
    x.norm = detail::l2(v);
    x.rms = x.n ? x.norm / std::sqrt(static_cast<double>(x.n)) : 0;
    st[t.name] = x;
  }
  // Readers: tensor → the gradient RMS of the outputs of the nodes reading it (the next layers).
  std::map<std::string, double> next_rms;
  std::set<std::string> has_next;
  for (const Node& n : g.nodes) {
    double m = 0;
    bool any = false;
    for (const std::string& o : n.outputs)
      if (auto it = st.find(o); it != st.end()) {
        m = std::max(m, it->second.rms);
        any = true;
      }
    if (!any) continue;
    for (const std::string& in : n.inputs)
      if (st.count(in)) {
        has_next.insert(in);
        next_rms[in] = std::max(next_rms[in], m);
      }
  }
  // Entries: tensors with a gradient, or read by a node whose outputs have one (where it died).
  std::vector<std::pair<int, std::string>> order;
  for (const auto& [name, x] : st) {
    const bool feeds_live = has_next.count(name) && next_rms[name] > 0;
    if (x.norm == 0 && !feeds_live) continue;
    order.push_back({s.activations().find(name)->producer, name});
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string input;
  try {
    input = input_layout(s).name;
  } catch (const Error&) {
  }
  for (const auto& [producer, name] : order) {
    const Stat& x = st[name];
    FlowEntry e;
    e.tensor = name;
    if (producer >= 0) {
      e.node = g.nodes[static_cast<size_t>(producer)].name;
      e.op = g.nodes[static_cast<size_t>(producer)].op_type;
    }
    e.numel = x.n;
    e.grad_norm = x.norm;
    e.grad_rms = x.rms;
    e.grad_max_abs = x.max_abs;
    e.act_norm = detail::l2(detail::values(s.activations(), name));
    e.norm_ratio = e.act_norm > 0 ? e.grad_norm / e.act_norm : 0;
    if (name != seeded_tensor && has_next.count(name) && next_rms[name] > 0) {
      e.step_ratio = x.rms / next_rms[name];
      if (e.step_ratio < 1e-3) e.flag = "vanishing";
      else if (e.step_ratio > 1e3) e.flag = "exploding";
    }
    if (e.flag == "vanishing") ++f.vanishing;
    if (e.flag == "exploding") ++f.exploding;
    f.entries.push_back(std::move(e));
  }
  if (st.count(seeded_tensor)) f.target_rms = st[seeded_tensor].rms;
  if (!input.empty() && st.count(input)) f.input_rms = st[input].rms;
  return f;
}

}  // namespace netlens::explain
