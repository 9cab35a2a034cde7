#include "netlens/viz/layout_groups.hpp"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

namespace netlens::viz {

namespace {

int64_t neurons_of(const VizTensor& t) { return volume_dims(t).count; }

// Spatial size for the structural stages; 0 for non-spatial or 1x1 (a transient: global pooling).
int64_t spatial_of(const VizTensor& t) {
  if (t.shape.size() < 4) return 0;
  int64_t hw = t.shape[t.shape.size() - 2] * t.shape[t.shape.size() - 1];
  return hw > 1 ? hw : 0;
}

std::string join(const std::vector<std::string>& p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "/" : "") + p[i];
  return s;
}

// Structural groups for graphs without module paths: stages (runs of equal spatial size in data-flow
// order, runs under 3 tensors merged into the one before) and, inside a stage, blocks spanned by
// skip edges (an input at least 3 entries back in the list).
std::map<std::string, std::vector<int>> structural_groups(const std::vector<VizTensor>& t) {
  std::map<std::string, std::vector<int>> out;
  const int n = static_cast<int>(t.size());
  std::vector<int> stage(static_cast<size_t>(n), 0);
  std::vector<std::pair<int, int>> runs;  // [first, last]
  int64_t cur = -1;
  for (int i = 0; i < n; ++i) {
    int64_t s = spatial_of(t[static_cast<size_t>(i)]);
    if (s == 0 && cur >= 0) s = cur;
    if (runs.empty() || s != cur) runs.push_back({i, i});
    else runs.back().second = i;
    cur = s;
  }
  std::vector<std::pair<int, int>> merged;
  for (auto r : runs) {
    if (!merged.empty() && r.second - r.first + 1 < 3) merged.back().second = r.second;
    else merged.push_back(r);
  }
  if (merged.size() < 2) return out;  // one stage: nothing to say
  for (size_t k = 0; k < merged.size(); ++k) {
    auto [a, b] = merged[k];
    if (b - a + 1 < 2) continue;
    const std::string sp = "stage" + std::to_string(k + 1);
    for (int i = a; i <= b; ++i) out[sp].push_back(i);
    // Blocks: merged spans of skip edges inside the stage.
    std::vector<std::pair<int, int>> spans;
    for (int i = a; i <= b; ++i)
      for (int s : t[static_cast<size_t>(i)].inputs)
        if (s >= a && i - s >= 3) spans.push_back({s + 1, i});  // the block starts after the fork
    std::sort(spans.begin(), spans.end());
    std::vector<std::pair<int, int>> blocks;
    for (auto sp2 : spans) {
      if (!blocks.empty() && sp2.first <= blocks.back().second) blocks.back().second = std::max(blocks.back().second, sp2.second);
      else blocks.push_back(sp2);
    }
    int bi = 0;
    for (auto [x, y] : blocks) {
      if (y - x + 1 < 3 || (x == a && y == b)) continue;
      const std::string bp = sp + "/block" + std::to_string(++bi);
      for (int i = x; i <= y; ++i) out[bp].push_back(i);
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> module_path(const std::string& node) {
  if (node.find('/') == std::string::npos) return {};
  std::vector<std::string> parts;
  size_t a = 0;
  while (a <= node.size()) {
    size_t b = node.find('/', a);
    if (b == std::string::npos) b = node.size();
    if (b > a) parts.push_back(node.substr(a, b - a));
    a = b + 1;
  }
  if (!parts.empty()) parts.pop_back();
  return parts;
}

int Hierarchy::find(const std::string& path) const {
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i].path == path) return static_cast<int>(i);
  return -1;
}

std::string Hierarchy::path_of(int tensor) const {
  if (tensor < 0 || static_cast<size_t>(tensor) >= group_of.size() || group_of[static_cast<size_t>(tensor)] < 0) return "";
  return groups[static_cast<size_t>(group_of[static_cast<size_t>(tensor)])].path;
}

int Hierarchy::max_depth() const {
  int d = 0;
  for (const auto& g : groups) d = std::max(d, g.depth);
  return d;
}

Hierarchy build_hierarchy(const std::vector<VizTensor>& t) {
  const int n = static_cast<int>(t.size());
  // Candidate groups: every prefix of every module path, with its members.
  std::map<std::string, std::vector<int>> members;
  int named = 0;
  for (int i = 0; i < n; ++i) {
    auto p = module_path(t[static_cast<size_t>(i)].node);
    if (!p.empty()) ++named;
    for (size_t k = 1; k <= p.size(); ++k) members[join(p, k)].push_back(i);
  }
  bool structural = false;
  if (named * 4 < n) {  // too few paths to say anything: the graph's structure instead
    members = structural_groups(t);
    structural = true;
  }
  // Keep groups of at least 2 tensors that differ from their nearest kept ancestor.
  std::vector<std::string> paths;
  for (auto& [p, m] : members) paths.push_back(p);
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
    auto da = std::count(a.begin(), a.end(), '/'), db = std::count(b.begin(), b.end(), '/');
    return da != db ? da < db : a < b;
  });
  std::map<std::string, std::string> kept_parent;  // kept path → its kept ancestor ("" for none)
  std::set<std::string> kept;
  for (const auto& p : paths) {
    const auto& m = members[p];
    if (m.size() < 2) continue;
    std::string anc;
    for (size_t cut = p.rfind('/'); cut != std::string::npos && cut > 0; cut = p.rfind('/', cut - 1)) {
      std::string q = p.substr(0, cut);
      if (kept.count(q)) { anc = q; break; }
      if (cut == 0) break;
    }
    if (!anc.empty() && members[anc] == m) continue;  // the same tensors as its parent: redundant
    kept.insert(p);
    kept_parent[p] = anc;
  }
  Hierarchy h;
  h.group_of.assign(static_cast<size_t>(n), -1);
  // Order: by first member, then outer before inner.
  std::vector<std::string> order(kept.begin(), kept.end());
  std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    int fa = members[a].front(), fb = members[b].front();
    if (fa != fb) return fa < fb;
    if (members[a].size() != members[b].size()) return members[a].size() > members[b].size();
    return a < b;
  });
  std::map<std::string, int> index;
  for (const auto& p : order) {
    Group g;
    g.path = p;
    g.name = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
    g.members = members[p];
    g.structural = structural;
    const std::string& par = kept_parent[p];
    if (!par.empty()) {
      g.parent = index.at(par);
      g.depth = h.groups[static_cast<size_t>(g.parent)].depth + 1;
    }
    for (int m : g.members) g.neurons += neurons_of(t[static_cast<size_t>(m)]);
    // Output: the last member read by a tensor outside the group (or by nothing: a graph output).
    std::set<int> in(g.members.begin(), g.members.end());
    std::vector<bool> read_outside(static_cast<size_t>(n), false), read(static_cast<size_t>(n), false);
    for (int i = 0; i < n; ++i)
      for (int s : t[static_cast<size_t>(i)].inputs)
        if (s >= 0 && s < n) {
          read[static_cast<size_t>(s)] = true;
          if (!in.count(i)) read_outside[static_cast<size_t>(s)] = true;
        }
    for (int m : g.members)
      if (read_outside[static_cast<size_t>(m)] || !read[static_cast<size_t>(m)]) g.output = m;
    if (g.output < 0) g.output = g.members.back();
    index[p] = static_cast<int>(h.groups.size());
    if (g.parent >= 0) h.groups[static_cast<size_t>(g.parent)].children.push_back(static_cast<int>(h.groups.size()));
    h.groups.push_back(std::move(g));
  }
  // Innermost group per tensor: groups are ordered outer before inner for each tensor.
  for (size_t gi = 0; gi < h.groups.size(); ++gi)
    for (int m : h.groups[gi].members) {
      int& cur = h.group_of[static_cast<size_t>(m)];
      if (cur < 0 || h.groups[gi].depth > h.groups[static_cast<size_t>(cur)].depth) cur = static_cast<int>(gi);
    }
  // Repeats: consecutive siblings with the same op sequence.
  auto signature = [&](const Group& g) {
    std::string s;
    for (int m : g.members) s += t[static_cast<size_t>(m)].op + ",";
    return s;
  };
  std::map<int, std::vector<int>> siblings;  // parent → children in order
  for (size_t gi = 0; gi < h.groups.size(); ++gi) siblings[h.groups[gi].parent].push_back(static_cast<int>(gi));
  for (auto& [par, kids] : siblings) {
    for (size_t a = 0; a < kids.size();) {
      size_t b = a + 1;
      const std::string sa = signature(h.groups[static_cast<size_t>(kids[a])]);
      while (b < kids.size() && signature(h.groups[static_cast<size_t>(kids[b])]) == sa) ++b;
      for (size_t k = a; k < b; ++k) {
        h.groups[static_cast<size_t>(kids[k])].repeat = static_cast<int>(k - a);
        h.groups[static_cast<size_t>(kids[k])].repeats = static_cast<int>(b - a);
      }
      a = b;
    }
  }
  return h;
}

Collapsed collapse_groups(const std::vector<VizTensor>& t, const Hierarchy& h, const std::vector<int>& groups) {
  const int n = static_cast<int>(t.size());
  Collapsed out;
  // Each tensor's outermost collapsed group.
  std::vector<int> owner(static_cast<size_t>(n), -1);
  for (int g : groups) {
    if (g < 0 || static_cast<size_t>(g) >= h.groups.size()) continue;
    for (int m : h.groups[static_cast<size_t>(g)].members) {
      int& o = owner[static_cast<size_t>(m)];
      if (o < 0 || h.groups[static_cast<size_t>(g)].depth < h.groups[static_cast<size_t>(o)].depth) o = g;
    }
  }
  // Nodes of the collapsed graph: a tensor outside every collapsed group, or a group (keyed by its
  // last member, where it is anchored in data-flow order).
  std::vector<int> node_of(static_cast<size_t>(n), -1);
  std::vector<int> anchor;  // per node: its anchor tensor (the order key)
  std::vector<int> shown;   // per node: the tensor it shows
  std::map<int, int> group_node;
  for (int i = 0; i < n; ++i) {
    int g = owner[static_cast<size_t>(i)];
    if (g < 0) {
      node_of[static_cast<size_t>(i)] = static_cast<int>(anchor.size());
      anchor.push_back(i);
      shown.push_back(i);
    } else {
      auto [it, fresh] = group_node.emplace(g, static_cast<int>(anchor.size()));
      if (fresh) {
        anchor.push_back(h.groups[static_cast<size_t>(g)].members.back());
        shown.push_back(h.groups[static_cast<size_t>(g)].output);
      }
      node_of[static_cast<size_t>(i)] = it->second;
    }
  }
  const int N = static_cast<int>(anchor.size());
  std::vector<std::set<int>> preds(static_cast<size_t>(N));
  for (int i = 0; i < n; ++i)
    for (int s : t[static_cast<size_t>(i)].inputs)
      if (s >= 0 && s < n && node_of[static_cast<size_t>(s)] != node_of[static_cast<size_t>(i)])
        preds[static_cast<size_t>(node_of[static_cast<size_t>(i)])].insert(node_of[static_cast<size_t>(s)]);
  // Topological order, earliest anchor first (Kahn with a min-heap): deterministic, and the input
  // order when nothing is collapsed.
  std::vector<int> indeg(static_cast<size_t>(N), 0);
  std::vector<std::vector<int>> succ(static_cast<size_t>(N));
  for (int v = 0; v < N; ++v)
    for (int p : preds[static_cast<size_t>(v)]) {
      succ[static_cast<size_t>(p)].push_back(v);
      ++indeg[static_cast<size_t>(v)];
    }
  std::priority_queue<std::pair<int, int>, std::vector<std::pair<int, int>>, std::greater<>> ready;
  for (int v = 0; v < N; ++v)
    if (!indeg[static_cast<size_t>(v)]) ready.push({anchor[static_cast<size_t>(v)], v});
  std::vector<int> order, pos(static_cast<size_t>(N), -1);
  while (!ready.empty()) {
    int v = ready.top().second;
    ready.pop();
    pos[static_cast<size_t>(v)] = static_cast<int>(order.size());
    order.push_back(v);
    for (int s : succ[static_cast<size_t>(v)])
      if (--indeg[static_cast<size_t>(s)] == 0) ready.push({anchor[static_cast<size_t>(s)], s});
  }
  if (static_cast<int>(order.size()) != N) {  // collapsing made a cycle (groups feeding each other)
    out.tensors = t;
    for (int i = 0; i < n; ++i) out.source.push_back(i);
    return out;
  }
  for (int v : order) {
    VizTensor e = t[static_cast<size_t>(shown[static_cast<size_t>(v)])];
    e.inputs.clear();
    for (int p : preds[static_cast<size_t>(v)]) e.inputs.push_back(pos[static_cast<size_t>(p)]);
    std::sort(e.inputs.begin(), e.inputs.end());
    for (const auto& [g, node] : group_node)
      if (node == v) {
        e.group = h.groups[static_cast<size_t>(g)].path;
        e.folded = static_cast<int>(h.groups[static_cast<size_t>(g)].members.size());
      }
    out.tensors.push_back(std::move(e));
    out.source.push_back(shown[static_cast<size_t>(v)]);
  }
  return out;
}

std::vector<int> auto_collapse(const Hierarchy& h, size_t tensor_count, size_t target) {
  if (tensor_count <= target || h.groups.empty()) return {};
  std::vector<int> best;
  for (int d = 1; d <= h.max_depth(); ++d) {
    std::vector<int> at;
    size_t inside = 0;
    for (size_t g = 0; g < h.groups.size(); ++g)
      if (h.groups[g].depth == d) {
        at.push_back(static_cast<int>(g));
        inside += h.groups[g].members.size();
      }
    // Groups of depth d are disjoint: shown = tensors outside them + one per group.
    size_t shown = tensor_count - inside + at.size();
    if (d == 1 || shown <= target) best = at;
    if (shown > target) break;
  }
  return best;
}

std::vector<int> parse_collapse(const std::string& spec, const Hierarchy& h, size_t tensor_count) {
  if (spec.empty() || spec == "none") return {};
  if (spec == "auto") return auto_collapse(h, tensor_count);
  if (spec.rfind("depth:", 0) == 0) {
    int d = 0;
    try { d = std::stoi(spec.substr(6)); } catch (...) { d = 0; }
    if (d < 1) throw Error(ErrorKind::Usage, "--collapse " + spec + ": depth must be a positive integer");
    std::vector<int> out;
    for (size_t g = 0; g < h.groups.size(); ++g)
      if (h.groups[g].depth == d) out.push_back(static_cast<int>(g));
    return out;
  }
  std::vector<int> out;
  size_t a = 0;
  while (a <= spec.size()) {
    size_t b = spec.find(',', a);
    if (b == std::string::npos) b = spec.size();
    const std::string p = spec.substr(a, b - a);
    a = b + 1;
    if (p.empty()) continue;
    int g = h.find(p);
    if (g < 0) {  // by last part, when unique
      for (size_t k = 0; k < h.groups.size(); ++k)
        if (h.groups[k].name == p) {
          if (g >= 0) throw Error(ErrorKind::Usage, "--collapse: group name '" + p + "' is ambiguous; give its path");
          g = static_cast<int>(k);
        }
    }
    if (g < 0) throw Error(ErrorKind::Usage, "--collapse: no group '" + p + "' in this model");
    out.push_back(g);
  }
  return out;
}

namespace {
void check_group(const Hierarchy& h, int group) {
  if (group < 0 || static_cast<size_t>(group) >= h.groups.size())
    throw Error(ErrorKind::Usage, "collapse: group index " + std::to_string(group) + " out of range (" +
                                      std::to_string(h.groups.size()) + " groups)");
}
bool inside(const Hierarchy& h, int g, int outer) {  // g is outer or a descendant of it
  for (; g >= 0; g = h.groups[static_cast<size_t>(g)].parent)
    if (g == outer) return true;
  return false;
}
std::vector<int> sorted_unique(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}
}  // namespace

std::vector<int> expand_group(const Hierarchy& h, const std::vector<int>& collapsed, int group) {
  check_group(h, group);
  std::vector<int> out;
  for (int g : collapsed)
    if (g != group) out.push_back(g);
  for (int c : h.groups[static_cast<size_t>(group)].children) out.push_back(c);
  return sorted_unique(out);
}

std::vector<int> collapse_group(const Hierarchy& h, const std::vector<int>& collapsed, int group) {
  check_group(h, group);
  std::vector<int> out{group};
  for (int g : collapsed) {
    check_group(h, g);
    if (!inside(h, g, group)) out.push_back(g);
  }
  return sorted_unique(out);
}

std::string collapse_spec(const Hierarchy& h, const std::vector<int>& collapsed) {
  std::string s;
  for (int g : sorted_unique(collapsed)) {
    check_group(h, g);
    s += (s.empty() ? "" : ",") + h.groups[static_cast<size_t>(g)].path;
  }
  return s.empty() ? "none" : s;
}

std::string start_collapse(size_t shown_layers, bool names_a_layer, size_t threshold) {
  return shown_layers > threshold && !names_a_layer ? "auto" : "none";
}

ShownTensors shown_tensors(const Graph& g, const std::vector<PlannedTensor>& planned, const std::string& collapse) {
  std::vector<VizTensor> all = select_tensors(g, planned);
  const Hierarchy h = build_hierarchy(all);
  Collapsed c = collapse_groups(all, h, parse_collapse(collapse, h, all.size()));
  ShownTensors out;
  for (size_t i = 0; i < c.tensors.size(); ++i)
    out.groups.push_back(!c.tensors[i].group.empty() ? c.tensors[i].group : h.path_of(c.source[i]));
  out.tensors = std::move(c.tensors);
  return out;
}

}  // namespace netlens::viz
