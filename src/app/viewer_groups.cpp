#include "netlens/app/viewer_groups.hpp"

#include <algorithm>

#include "netlens/viz/layout_groups.hpp"

namespace netlens::app {

namespace {

bool inside(const std::string& group, const std::string& path) {
  return group == path || (group.size() > path.size() && group.compare(0, path.size(), path) == 0 && group[path.size()] == '/');
}

}  // namespace

int group_block(const viz::Layout& l, const std::string& path) {
  for (size_t i = 0; i < l.layers.size(); ++i)
    if (l.layers[i].tensor.folded > 0 && l.layers[i].tensor.group == path) return static_cast<int>(i);
  return -1;
}

bool set_group_collapsed(View& v, const std::string& path, bool collapse) {
  if (!collapse) {
    const int block = group_block(v.layout(), path);
    return block >= 0 && v.expand_block(block);  // as a click on the block
  }
  std::string next;
  v.with_session([&](const Session& ss) {
    const std::vector<viz::VizTensor> all = view_tensors(ss, v.spec().hidden_inputs);
    const viz::Hierarchy h = viz::build_hierarchy(all);
    const int g = h.find(path);
    if (g < 0) return;
    next = viz::collapse_spec(h, viz::collapse_group(h, viz::parse_collapse(v.spec().collapse, h, all.size()), g));
  });
  if (next.empty() || next == v.spec().collapse) return false;
  const size_t before = v.layout().layers.size();
  v.set_collapse(next);
  return v.layout().layers.size() != before || group_block(v.layout(), path) >= 0;
}

std::vector<int> group_layers(const View& v, const std::string& path) {
  const viz::Layout& l = v.layout();
  std::vector<int> out;
  v.with_session([&](const Session& ss) {
    const std::vector<viz::VizTensor> all = view_tensors(ss, v.spec().hidden_inputs);
    const viz::Hierarchy h = viz::build_hierarchy(all);
    for (size_t i = 0; i < l.layers.size(); ++i) {
      const viz::VizTensor& t = l.layers[i].tensor;
      std::string g = t.folded > 0 ? t.group : std::string();
      if (t.folded == 0)
        for (size_t k = 0; k < all.size(); ++k)
          if (all[k].name == t.name) {
            g = h.path_of(static_cast<int>(k));
            break;
          }
      if (!g.empty() && inside(g, path)) out.push_back(static_cast<int>(i));
    }
  });
  return out;
}

std::optional<viz::Camera> group_camera(const View& v, const std::string& path, float aspect) {
  const std::vector<int> layers = group_layers(v, path);
  if (layers.empty()) return std::nullopt;
  const viz::Layout& l = v.layout();
  if (layers.size() == 1) return viz::focus_camera(l, layers[0], aspect);
  viz::Layout sub;
  sub.rows = l.rows;
  sub.u_shape = l.u_shape;
  sub.min = glm::vec3(1e30f);
  sub.max = glm::vec3(-1e30f);
  for (int i : layers) {
    sub.layers.push_back(l.layers[static_cast<size_t>(i)]);
    sub.min = glm::min(sub.min, sub.layers.back().origin);
    sub.max = glm::max(sub.max, sub.layers.back().max());
  }
  return viz::overview_camera(sub, aspect);
}

}  // namespace netlens::app
