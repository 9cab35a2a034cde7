// Panels of the left column's top: the model tree (the group hierarchy when the model has one), the
// input chooser and the view settings.
#include "panels_internal.hpp"

#include <filesystem>
#include <functional>

namespace netlens::ui {

namespace {

std::string dims_text(const viz::VolumeDims& d) {
  char b[96];
  if (d.grid) std::snprintf(b, sizeof b, "%lld (as %lldx%lld)", (long long)d.count, (long long)d.H, (long long)d.W);
  else std::snprintf(b, sizeof b, "%lldx%lldx%lld", (long long)d.C, (long long)d.H, (long long)d.W);
  return b;
}

// Op names short enough for the tree's op column.
std::string short_op(const std::string& op) {
  static const std::map<std::string, std::string> m = {{"BatchNormalization", "BatchNorm"},
                                                       {"GlobalAveragePool", "GlobalAvgPool"},
                                                       {"InstanceNormalization", "InstanceNorm"},
                                                       {"LayerNormalization", "LayerNorm"},
                                                       {"ConvTranspose", "ConvT"}};
  auto it = m.find(op);
  return it == m.end() ? op : it->second;
}

// A layer's name inside the group tree: its node's last two '/' parts when the node name is a module
// path, else the tensor's name.
std::string short_name(const viz::VizTensor& t) {
  const std::vector<std::string> parts = viz::module_path(t.node);
  if (parts.empty() || t.node.empty()) return t.name;
  const size_t cut = t.node.rfind('/', t.node.rfind('/') == 0 ? 0 : t.node.rfind('/') - 1);
  return cut == std::string::npos ? t.node : t.node.substr(cut + 1);
}

}  // namespace

void Panels::model_tree() {
  const auto& layers = scene_->layout.layers;
  Cache& c = *cache_;
  if (!c.structure) c.structure = inspect::model_structure(*view_);
  const inspect::Structure& st = *c.structure;
  const double np = double(st.total_parameters);
  char params[32];
  if (np >= 1e6) std::snprintf(params, sizeof params, "%.1fM", np * 1e-6);
  else if (np >= 1e3) std::snprintf(params, sizeof params, "%.1fK", np * 1e-3);
  else std::snprintf(params, sizeof params, "%.0f", np);
  ImGui::TextColored(kDim, "%zu nodes, %zu shown, %s params, %.2f GFLOPs", st.nodes.size(), layers.size(), params,
                     st.total_flops * 1e-9);
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##filter", "search (node, tensor or op)", filter_, sizeof filter_);
  std::string f = filter_;
  std::vector<char> match;  // per layer, when searching
  if (!f.empty()) {
    match.assign(layers.size(), 0);
    std::vector<size_t> nodes = inspect::search_nodes(st, f);
    std::string lf = f;
    std::transform(lf.begin(), lf.end(), lf.begin(), ::tolower);
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string n = layers[i].tensor.name;
      std::transform(n.begin(), n.end(), n.begin(), ::tolower);
      const int ni = layers[i].tensor.node_index;
      match[i] = n.find(lf) != std::string::npos ||
                 (ni >= 0 && std::binary_search(nodes.begin(), nodes.end(), static_cast<size_t>(ni)));
    }
  }
  // `in_group`: a row inside the group tree, named by its node's own part (the group rows above it
  // carry the module path: "/layer1/layer1.0/conv1/Conv" reads "conv1/Conv").
  auto row = [&](int i, bool tree_head, bool open_head, bool in_group = false) {
    const auto& v = layers[static_cast<size_t>(i)];
    const std::string shown = in_group ? short_name(v.tensor) : v.tensor.name;
    ImGui::TableNextRow();
    ImGui::TableSetColumnIndex(0);
    ImGui::PushID(i);
    const bool selected = i == focus_;
    bool clicked = false, open = false;
    if (tree_head) {
      ImGuiTreeNodeFlags fl = ImGuiTreeNodeFlags_SpanFullWidth | ImGuiTreeNodeFlags_OpenOnArrow |
                              (selected ? ImGuiTreeNodeFlags_Selected : 0);
      ImGui::SetNextItemOpen(open_head, ImGuiCond_Once);
      open = ImGui::TreeNodeEx("##g", fl, "%s", v.tensor.name.c_str());
      clicked = ImGui::IsItemClicked() && !ImGui::IsItemToggledOpen();
    } else {
      ImGui::TreeNodeEx("##l", ImGuiTreeNodeFlags_Leaf | ImGuiTreeNodeFlags_NoTreePushOnOpen |
                                   ImGuiTreeNodeFlags_SpanFullWidth | (selected ? ImGuiTreeNodeFlags_Selected : 0),
                        "%s", shown.c_str());
      clicked = ImGui::IsItemClicked();
    }
    if (ImGui::IsItemHovered() && v.tensor.node_index >= 0 && static_cast<size_t>(v.tensor.node_index) < st.nodes.size()) {
      const auto& n = st.nodes[static_cast<size_t>(v.tensor.node_index)];
      ImGui::SetTooltip("%s\nnode %s (%s)\n%lld parameters, %.3g MFLOPs, on %s", v.tensor.name.c_str(), n.name.c_str(),
                        n.op.c_str(), (long long)n.parameters, n.flops * 1e-6, n.backend.c_str());
    }
    if (ImGui::IsItemVisible()) {
      ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
      tree_rows_[i] = ImVec4(a.x, a.y, b.x, b.y);
    }
    if (clicked) {
      focus_ = i;
      if (actions.focus_layer) actions.focus_layer(i);
    }
    if (selected && scroll_tree_) {
      ImGui::SetScrollHereY(0.3f);
      scroll_tree_ = false;
    }
    ImGui::TableSetColumnIndex(1);
    ImGui::TextColored(kAccent, "%s", short_op(v.tensor.op).c_str());
    ImGui::TableSetColumnIndex(2);
    ImGui::TextColored(kDim, "%s", dims_text(v.dims).c_str());
    ImGui::PopID();
    return open;
  };
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit |
                             ImGuiTableFlags_BordersInnerV;
  if (ImGui::BeginTable("tree", 3, tf)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("layer", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("op");
    ImGui::TableSetupColumn("CxHxW");
    ImGui::TableHeadersRow();
    if (!match.empty()) {
      for (size_t i = 0; i < layers.size(); ++i)
        if (match[i]) row(static_cast<int>(i), false, false);
    } else if (!group_tree([&](int i) { row(i, false, false, true); })) {
      // No module paths or structural groups: blocks led by a linear layer.
      for (const auto& g : groups_) {
        if (g.size() == 1) {
          row(g[0], false, false);
          continue;
        }
        const bool has_focus = std::find(g.begin(), g.end(), focus_) != g.end();
        if (has_focus && scroll_tree_) ImGui::SetNextItemOpen(true);
        if (row(g[0], true, has_focus)) {
          for (size_t k = 1; k < g.size(); ++k) row(g[k], false, false);
          ImGui::TreePop();
        }
      }
    }
    ImGui::EndTable();
  }
}

// The group hierarchy of the model (viz/layout_groups.hpp: module paths, structural stages and
// blocks, repeated blocks numbered k/n) as a tree over the shown layers. A group row's arrow is
// the 3D view's collapse state: closed = the group is one block in 3D; opening or closing it asks
// the host to unfold or fold it there (PanelActions::collapse_group). Clicking the name flies to it.
bool Panels::group_tree(const std::function<void(int)>& layer_row) {
  const auto& layers = scene_->layout.layers;
  Cache& c = *cache_;
  if (!c.tree) {
    Cache::Tree t;
    t.all = viz::select_tensors(s_->graph(), s_->planned());
    t.h = viz::build_hierarchy(t.all);
    t.items.resize(t.h.groups.size() + 1);
    for (size_t g = 0; g < t.h.groups.size(); ++g) {
      const viz::Group& G = t.h.groups[g];
      if (!G.members.empty()) t.items[static_cast<size_t>(G.parent + 1)].push_back({true, static_cast<int>(g), G.members.front()});
    }
    for (size_t i = 0; i < t.all.size(); ++i)
      t.items[static_cast<size_t>(t.h.group_of[i] + 1)].push_back({false, static_cast<int>(i), static_cast<int>(i)});
    for (auto& v : t.items)
      std::stable_sort(v.begin(), v.end(), [](const Cache::Tree::Item& a, const Cache::Tree::Item& b) { return a.first < b.first; });
    for (size_t i = 0; i < layers.size(); ++i) {
      if (layers[i].tensor.folded > 0) t.block_of[layers[i].tensor.group] = static_cast<int>(i);
      else t.layer_of[layers[i].tensor.name] = static_cast<int>(i);
    }
    c.tree = std::move(t);
  }
  const Cache::Tree& t = *c.tree;
  group_rows_.clear();
  if (t.h.groups.empty()) return false;
  // Whether any member of group g is shown as its own layer (else the group is hidden: its tensors
  // are all hidden inputs).
  auto shown = [&](const viz::Group& G) {
    for (int m : G.members)
      if (t.layer_of.count(t.all[static_cast<size_t>(m)].name)) return true;
    return false;
  };
  std::function<void(int)> items = [&](int parent) {
    for (const Cache::Tree::Item& it : t.items[static_cast<size_t>(parent + 1)]) {
      if (!it.group) {
        auto f = t.layer_of.find(t.all[static_cast<size_t>(it.index)].name);
        if (f != t.layer_of.end()) layer_row(f->second);
        continue;
      }
      const viz::Group& G = t.h.groups[static_cast<size_t>(it.index)];
      auto b = t.block_of.find(G.path);
      const int block = b == t.block_of.end() ? -1 : b->second;
      if (block < 0 && !shown(G)) continue;
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      ImGui::PushID(G.path.c_str());
      const ImVec2 at = ImGui::GetCursorScreenPos();
      const bool selected = block >= 0 && block == focus_;
      ImGuiTreeNodeFlags fl = ImGuiTreeNodeFlags_SpanFullWidth | ImGuiTreeNodeFlags_OpenOnArrow |
                              (selected ? ImGuiTreeNodeFlags_Selected : 0);
      ImGui::SetNextItemOpen(block < 0, ImGuiCond_Always);  // open = unfolded in 3D
      const bool open = G.repeats > 1 ? ImGui::TreeNodeEx("##grp", fl, "%s  (%d/%d)", G.name.c_str(), G.repeat + 1, G.repeats)
                                      : ImGui::TreeNodeEx("##grp", fl, "%s", G.name.c_str());
      const bool toggled = ImGui::IsItemToggledOpen();
      const bool clicked = ImGui::IsItemClicked() && !toggled;
      {
        const ImVec2 b1 = ImGui::GetItemRectMax();
        group_rows_[G.path] = ImVec4(at.x, ImGui::GetItemRectMin().y, b1.x, b1.y);
      }
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%s: %zu layers, %.3g M activations\narrow: %s in 3D; click: fly there", G.path.c_str(),
                          G.members.size(), double(G.neurons) * 1e-6, block >= 0 ? "unfold" : "fold into one block");
      if (toggled && actions.collapse_group) actions.collapse_group(G.path, block < 0);
      if (clicked) {
        if (block >= 0) focus_ = block;
        if (actions.focus_group) actions.focus_group(G.path);
        else if (block >= 0 && actions.focus_layer) actions.focus_layer(block);
      }
      ImGui::TableSetColumnIndex(1);
      ImGui::TextColored(kAccent, "%s", block >= 0 ? "block" : "group");
      ImGui::TableSetColumnIndex(2);
      ImGui::TextColored(kDim, "%zu layers", G.members.size());
      ImGui::PopID();
      if (open) {
        // Toggled this frame: the host changes the layout after the frame; its rows come then.
        if (block < 0 && !toggled) items(it.index);
        ImGui::TreePop();
      }
    }
  };
  items(-1);
  return true;
}

void Panels::input_chooser() {
  const bool live = static_cast<bool>(actions.load_input);
  ImGui::BeginDisabled(!live);
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("Load").x - 3 * ImGui::GetStyle().ItemSpacing.x);
  const bool enter = ImGui::InputTextWithHint("##path", "image or .npy file", path_buf_, sizeof path_buf_,
                                              ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("Load") || enter) && live && path_buf_[0]) actions.load_input(path_buf_);
  ImGui::EndDisabled();
  ImGui::BeginDisabled(!actions.step_input);
  if (ImGui::Button("< Previous") && actions.step_input) actions.step_input(-1);
  ImGui::SameLine();
  if (ImGui::Button("Next >") && actions.step_input) actions.step_input(+1);
  ImGui::EndDisabled();
  ImGui::SameLine();
  const char* hint = live && actions.step_input ? "in its folder; or drop a file"
                     : live                      ? "or drop a file"
                     : actions.step_input        ? "in its folder"
                                                 : "(fixed input)";
  ImGui::TextColored(kDim, "%s", hint);
  if (!status_.empty()) {
    ImGui::TextColored(kAccent, "%s", status_.c_str());
  } else {
    ImGui::TextColored(kDim, "now");
    ImGui::SameLine();
    ImGui::TextUnformatted(input_path_.empty() ? "(none)" : std::filesystem::path(input_path_).filename().c_str());
  }
}

void Panels::view_settings() {
  ViewSettings v = settings_;
  ImGui::TextColored(kDim, "scale");
  ImGui::SameLine();
  int mode = v.global_scale ? 1 : 0;
  ImGui::RadioButton("per layer", &mode, 0);
  ImGui::SameLine();
  ImGui::RadioButton("global", &mode, 1);
  v.global_scale = mode == 1;
  ImGui::TextColored(kDim, "range");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-1);
  ImGui::DragFloatRange2("##pct", &v.lo_pct, &v.hi_pct, 0.1f, 0.0f, 100.0f, "p%.1f", "p%.1f",
                         ImGuiSliderFlags_AlwaysClamp);
  if (v.hi_pct <= v.lo_pct) v.hi_pct = std::min(100.0f, v.lo_pct + 0.1f);
  ImGui::TextColored(kDim, "far layers");
  ImGui::SameLine();
  int lod = v.lod_mean ? 1 : 0;
  ImGui::RadioButton("max |v|", &lod, 0);
  ImGui::SameLine();
  ImGui::RadioButton("mean", &lod, 1);
  v.lod_mean = lod == 1;
  if (!(v == settings_)) {
    settings_ = v;
    if (actions.settings_changed) actions.settings_changed(v);
  }
  if (actions.value_mode) {
    // What the cells show (issue 14): the host differentiates the target and redraws.
    ImGui::TextColored(kDim, "values");
    ImGui::SameLine();
    int vm = value_mode_ == viz::ValueMode::Gradient ? 1 : value_mode_ == viz::ValueMode::Attribution ? 2 : 0;
    const int before = vm;
    ImGui::RadioButton("act", &vm, 0);
    ImGui::SameLine();
    ImGui::RadioButton("grad", &vm, 1);
    ImGui::SameLine();
    ImGui::RadioButton("grad x act (G)", &vm, 2);
    ImGui::TextColored(kDim, "target");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(-1);
    const bool enter = ImGui::InputTextWithHint("##target", "top class | class:N | output:T:c,y,x", target_buf_, sizeof target_buf_,
                                                ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::TextColored(kDim, "%s", value_what_.empty() ? "activations" : value_what_.c_str());
    if (vm != before || enter) {
      const viz::ValueMode m = vm == 1 ? viz::ValueMode::Gradient : vm == 2 ? viz::ValueMode::Attribution : viz::ValueMode::Activation;
      actions.value_mode(m, target_buf_);
    }
  }
  ImGui::BeginDisabled(!actions.screenshot);
  if (ImGui::Button("Screenshot (P)") && actions.screenshot) actions.screenshot();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextColored(kDim, "H hides panels");
}

void Panels::set_value_mode(viz::ValueMode m, const std::string& what) {
  value_mode_ = m;
  value_what_ = what;
}

}  // namespace netlens::ui
