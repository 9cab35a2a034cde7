#include "panels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cfloat>
#include <filesystem>

#include <imgui.h>

#include "activation_fn.hpp"
#include "attention.hpp"
#include "colormap.hpp"
#include "contributions.hpp"
#include "predictions.hpp"
#include "weights.hpp"
#include "model_view.hpp"
#include "stats.hpp"
#include "structure.hpp"

namespace netlens::ui {

namespace {

const ImVec4 kAccent(0.35f, 0.75f, 1.0f, 1.0f);
const ImVec4 kDim(0.60f, 0.66f, 0.74f, 1.0f);
const ImVec4 kCyan(0.30f, 0.95f, 1.0f, 1.0f);
const ImVec4 kOrange(1.0f, 0.62f, 0.20f, 1.0f);

std::string dims_text(const viz::VolumeDims& d) {
  char b[96];
  if (d.grid) std::snprintf(b, sizeof b, "%lld (as %lldx%lld)", (long long)d.count, (long long)d.H, (long long)d.W);
  else std::snprintf(b, sizeof b, "%lldx%lldx%lld", (long long)d.C, (long long)d.H, (long long)d.W);
  return b;
}

std::string shape_text(const Shape& s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t.empty() ? "scalar" : t;
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

ImU32 col(glm::vec3 c, float a = 1.0f) { return ImGui::ColorConvertFloat4ToU32(ImVec4(c.x, c.y, c.z, a)); }

void apply_style(float font_px) {
  ImGuiStyle s;
  ImGui::StyleColorsDark(&s);
  s.WindowRounding = 0.0f;
  s.WindowBorderSize = 1.0f;
  s.FrameRounding = 3.0f;
  s.GrabRounding = 3.0f;
  s.WindowPadding = ImVec2(10, 8);
  s.ItemSpacing = ImVec2(8, 5);
  s.ScrollbarSize = 12.0f;
  ImVec4* c = s.Colors;
  // Opaque, and lighter than the scene's background gradient (≤ 17, 20, 27 in 8 bits): panels read
  // as panels over the scene (and tests tell them apart by this colour).
  c[ImGuiCol_WindowBg] = ImVec4(0.10f, 0.11f, 0.14f, 1.0f);
  c[ImGuiCol_ChildBg] = ImVec4(0.0f, 0.0f, 0.0f, 0.0f);
  c[ImGuiCol_TitleBg] = ImVec4(0.11f, 0.14f, 0.19f, 1.0f);
  c[ImGuiCol_TitleBgActive] = ImVec4(0.13f, 0.20f, 0.29f, 1.0f);
  c[ImGuiCol_Border] = ImVec4(0.22f, 0.27f, 0.34f, 1.0f);
  c[ImGuiCol_Header] = ImVec4(0.20f, 0.38f, 0.55f, 0.55f);
  c[ImGuiCol_HeaderHovered] = ImVec4(0.25f, 0.48f, 0.70f, 0.70f);
  c[ImGuiCol_FrameBg] = ImVec4(0.13f, 0.16f, 0.21f, 1.0f);
  c[ImGuiCol_PlotHistogram] = ImVec4(0.35f, 0.75f, 1.0f, 1.0f);
  c[ImGuiCol_PlotLines] = ImVec4(0.35f, 0.75f, 1.0f, 1.0f);
  s.ScaleAllSizes(font_px / 13.0f);  // ImGui's default sizes are for its 13 px font
  ImGui::GetStyle() = s;
}

}  // namespace

int column_width(int width, int height) {
  (void)height;
  const int w = static_cast<int>(std::lround(0.235 * width));
  return std::clamp(w, std::min(200, width / 3), std::max(200, width / 3));
}

// Values derived from the scene for the current settings, rebuilt when either changes.
struct Panels::Cache {
  ViewSettings settings;
  bool have_global = false;
  viz::ColorScale global;
  std::map<int, viz::ColorScale> scales;
  struct Grid {
    ChannelOrder order;
    float aspect;
    FeatureGrid grid;
    int tex = -1;
  };
  std::map<int, Grid> grids;
  // The analyses (netlens_inspect), computed on first use; an analysis that refuses a tensor
  // leaves its one-line reason instead.
  std::optional<inspect::Structure> structure;
  std::map<int, inspect::TensorStats> stats;
  std::map<int, std::string> stats_error;
  std::map<int, std::vector<float>> channel_mean, channel_max;  // sort keys, from stats' rankings
  struct Act {
    std::optional<inspect::ActivationAnalysis> a;
    std::string note;
  };
  std::map<int, Act> act;
  std::optional<std::vector<inspect::Activation>> all_acts;
  std::optional<inspect::Predictions> preds;
  std::string preds_error;
  struct Weights {
    std::optional<inspect::WeightsReport> w;
    std::string note;
  };
  std::map<int, Weights> weights;  // by layer (the linear node behind it)
  std::optional<std::vector<inspect::AttentionMap>> attn;
  std::string attn_error;
  std::map<std::string, int> textures;  // small textures by what they show (weights, attention)
  std::pair<int, int64_t> contrib_key{-1, -1};
  std::optional<inspect::Contributions> contrib;
  std::string contrib_error;
};

Panels::Panels(ImGuiLayer& ui, const Session& s, const viz::Scene& scene)
    : ui_(ui), s_(&s), scene_(&scene), view_(std::make_unique<inspect::ModelView>(s)),
      cache_(std::make_unique<Cache>()) {
  build_groups();
}

void Panels::build_groups() {
  groups_.clear();
  const auto& L = scene_->layout.layers;
  for (size_t i = 0; i < L.size(); ++i) {
    const std::string& op = L[i].tensor.op;
    const bool head = op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul" || op == "Input";
    if (head || groups_.empty()) groups_.emplace_back();
    groups_.back().push_back(static_cast<int>(i));
  }
}

Panels::~Panels() {
  for (auto& [l, g] : cache_->grids) ui_.free_texture(g.tex);
  for (auto& [k, t] : cache_->textures) ui_.free_texture(t);
}

int Panels::texture(const std::string& key, int w, int h, const std::vector<uint8_t>& rgba) {
  auto it = cache_->textures.find(key);
  if (it != cache_->textures.end()) return it->second;
  int t = ui_.upload_texture(w, h, rgba);
  cache_->textures.emplace(key, t);
  return t;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Panels::contributor_cells() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  const Cache& c = *cache_;
  if (!c.contrib || c.contrib_key != std::make_pair(sel_.layer, sel_.flat) || sel_.layer < 0) return out;
  for (size_t t : c.contrib->top) out.emplace_back(c.contrib->terms[t].input, c.contrib->terms[t].input_coords);
  return out;
}

render::Selection with_contributors(render::Selection sel, const viz::Scene& scene, const Panels& p) {
  sel.contributors.clear();
  for (const auto& [tensor, idx] : p.contributor_cells()) {
    const int li = scene.layout.find(tensor);
    if (li < 0) continue;  // read from a hidden tensor (plumbing): nothing to mark
    viz::TensorRegion r;
    r.lo = idx;
    r.hi = idx;
    for (auto& h : r.hi) ++h;
    if (auto vr = viz::volume_region(scene.layout.layers[static_cast<size_t>(li)], r)) sel.contributors.emplace_back(li, *vr);
  }
  return sel;
}

void Panels::set_labels(std::vector<std::string> labels) {
  labels_ = std::move(labels);
  cache_->preds.reset();
  cache_->preds_error.clear();
}

void Panels::set_scene(const Session& s, const viz::Scene& scene) {
  for (auto& [l, g] : cache_->grids) ui_.free_texture(g.tex);
  for (auto& [k, t] : cache_->textures) ui_.free_texture(t);
  s_ = &s;
  scene_ = &scene;
  view_ = std::make_unique<inspect::ModelView>(s);
  cache_ = std::make_unique<Cache>();
  build_groups();
  cache_->settings = settings_;
  if (focus_ >= static_cast<int>(scene.layout.layers.size())) focus_ = -1;
  sel_ = {};
}

void Panels::set_focus(int layer) {
  focus_ = layer;
  scroll_tree_ = true;
}

void Panels::set_selection(const render::Selection& sel) { sel_ = sel; }
void Panels::set_input_path(const std::string& path) {
  input_path_ = path;
  std::snprintf(path_buf_, sizeof path_buf_, "%s", path.c_str());
}
void Panels::set_status(const std::string& line) { status_ = line; }
void Panels::set_settings(const ViewSettings& v) {
  settings_ = v;
}

viz::ColorScale Panels::panel_scale(int layer) {
  Cache& c = *cache_;
  if (!(c.settings == settings_)) {
    for (auto& [l, g] : c.grids) ui_.free_texture(g.tex);
    c.grids.clear();
    c.scales.clear();
    c.have_global = false;
    c.settings = settings_;
  }
  const auto& L = scene_->layers;
  const viz::SceneOptions& so = scene_->options;
  if (so.lo_pct == settings_.lo_pct && so.hi_pct == settings_.hi_pct && so.global_scale == settings_.global_scale)
    return L[static_cast<size_t>(layer)].scale;  // the scene was built with these settings: the 3D view's scale
  // A host that keeps its scene (render --ui): the panels recolour alone, by the scene's rules.
  viz::SceneOptions o;
  o.lo_pct = settings_.lo_pct;
  o.hi_pct = settings_.hi_pct;
  if (!settings_.global_scale) {
    auto it = c.scales.find(layer);
    if (it == c.scales.end())
      it = c.scales.emplace(layer, viz::robust_scale(L[static_cast<size_t>(layer)].values, o.lo_pct, o.hi_pct,
                                                     o.max_samples)).first;
    return it->second;
  }
  if (!c.have_global) {
    std::vector<std::span<const float>> all;
    for (const auto& l : L) all.emplace_back(l.values);
    c.global = viz::global_scale(all, o);
    c.have_global = true;
  }
  return c.global;
}

void Panels::begin_panel(const char* name, float x, float y, float w, float h) {
  ImGui::SetNextWindowPos(ImVec2(x, y), ImGuiCond_Always);
  ImGui::SetNextWindowSize(ImVec2(w, h), ImGuiCond_Always);
  ImGui::Begin(name, nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse |
                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus);
  ImVec2 p = ImGui::GetWindowPos(), s = ImGui::GetWindowSize();
  const float k = ui_.pixel_scale();
  rects_.push_back(PanelRect{name, p.x * k, p.y * k, s.x * k, s.y * k});
}

void Panels::end_panel() { ImGui::End(); }

void Panels::draw(int width, int height) {
  grid_view_ = {};
  tree_rows_.clear();
  if (ui_.font_px() != style_px_) {
    apply_style(ui_.font_px());
    style_px_ = ui_.font_px();
  }
  rects_.clear();
  const float k = ui_.pixel_scale();
  const float W = float(width) / k, H = float(height) / k;
  const float cw = float(column_width(width, height)) / k;
  if (focus_ < 0 && sel_.layer >= 0) focus_ = sel_.layer;

  // Heights: panels with a fixed number of rows get exactly those; the others share the rest.
  struct Item {
    const char* name;
    float weight;  // share of what the fixed panels leave
    float rows;    // > 0: fixed height of this many rows of widgets
    void (Panels::*fn)();  // null: the host's extra panel
  };
  // A text model's Attention panel shows a labelled token matrix: it gets most of the column.
  const float attn_share = text_tokens_.empty() ? 0.44f : 0.62f;
  const std::vector<Item> left = {{"Model", 1.0f - attn_share, 0, &Panels::model_tree},
                                  {"Input", 0, 3, &Panels::input_chooser},
                                  {"View", 0, actions.value_mode ? 7.0f : 4.0f, &Panels::view_settings},
                                  {"Predictions", 0, 3, &Panels::predictions},
                                  {"Attention", attn_share, 0, &Panels::attention}};
  std::vector<Item> right = {{"Layer", 0.44f, 0, &Panels::layer_inspector},
                             {"Neuron", 0.23f, 0, &Panels::neuron_inspector},
                             {"Weights", 0.17f, 0, &Panels::weights},
                             {"Activation function", 0.16f, 0, &Panels::activation_fn}};
  if (!extra_.name.empty())
    right = {{"Layer", 0.30f, 0, &Panels::layer_inspector},
             {"Neuron", 0.17f, 0, &Panels::neuron_inspector},
             {extra_.name.c_str(), 0.53f, 0, nullptr}};
  // Small frames (under 640 px high) keep the panels that matter most: the rest would not fit.
  auto keep = [&](std::vector<Item> items) {
    if (float(height) >= 640.0f) return items;
    std::vector<Item> out;
    for (const auto& i : items)
      if (!std::strcmp(i.name, "Model") || !std::strcmp(i.name, "View") || !std::strcmp(i.name, "Layer") ||
          !std::strcmp(i.name, "Neuron") || (!extra_.name.empty() && extra_.name == i.name))
        out.push_back(i);
    return out;
  };
  const std::vector<Item> left_shown = keep(left), right_shown = keep(right);
  const ImGuiStyle& st = ImGui::GetStyle();
  const float row_h = ImGui::GetFrameHeightWithSpacing(),
              chrome = ImGui::GetFontSize() + 2 * st.FramePadding.y + 2 * st.WindowPadding.y;
  auto column = [&](const std::vector<Item>& items, float x) {
    float total = 0, fixed = 0;
    for (const auto& i : items) {
      total += i.weight;
      if (i.rows > 0) fixed += std::ceil(i.rows * row_h + chrome);
    }
    const float flexible = std::max(0.0f, H - fixed);
    float y = 0;
    for (const auto& i : items) {
      float h = i.rows > 0 ? std::ceil(i.rows * row_h + chrome) : std::floor(flexible * i.weight / total);
      if (&i == &items.back()) h = H - y;
      begin_panel(i.name, x, y, cw, h);
      if (i.fn) (this->*i.fn)();
      else if (extra_.body) extra_.body();
      end_panel();
      y += h;
    }
  };
  column(left_shown, 0.0f);
  column(right_shown, W - cw);
  if (extra_.overlay) extra_.overlay(width, height, k);
}

// ------------------------------------------------------------------------------------------------
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
  auto row = [&](int i, bool tree_head, bool open_head) {
    const auto& v = layers[static_cast<size_t>(i)];
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
                        "%s", v.tensor.name.c_str());
      clicked = ImGui::IsItemClicked();
    }
    if (ImGui::IsItemHovered() && v.tensor.node_index >= 0 && static_cast<size_t>(v.tensor.node_index) < st.nodes.size()) {
      const auto& n = st.nodes[static_cast<size_t>(v.tensor.node_index)];
      ImGui::SetTooltip("node %s (%s)\n%lld parameters, %.3g MFLOPs, on %s", n.name.c_str(), n.op.c_str(),
                        (long long)n.parameters, n.flops * 1e-6, n.backend.c_str());
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
    } else {
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

void Panels::colour_bar(const viz::ColorScale& s, float width) {
  viz::LegendData ld = viz::legend_data(s, 32, 3);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImVec2 p = ImGui::GetCursorScreenPos();
  const float h = std::round(ImGui::GetFontSize() * 0.7f);
  const size_t n = ld.stops.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    float x0 = p.x + width * float(i) / float(n - 1), x1 = p.x + width * float(i + 1) / float(n - 1);
    dl->AddRectFilledMultiColor(ImVec2(x0, p.y), ImVec2(x1, p.y + h), col(ld.stops[i]), col(ld.stops[i + 1]),
                                col(ld.stops[i + 1]), col(ld.stops[i]));
  }
  ImGui::Dummy(ImVec2(width, h));
  // Ticks: first left-aligned, last right-aligned, the rest centred.
  float y = ImGui::GetCursorScreenPos().y;
  for (size_t i = 0; i < ld.ticks.size(); ++i) {
    const auto& [t, text] = ld.ticks[i];
    float tw = ImGui::CalcTextSize(text.c_str()).x;
    float x = p.x + t * width - (i == 0 ? 0.0f : i + 1 == ld.ticks.size() ? tw : 0.5f * tw);
    dl->AddText(ImVec2(x, y), ImGui::GetColorU32(kDim), text.c_str());
  }
  ImGui::Dummy(ImVec2(width, ImGui::GetTextLineHeight()));
}

void Panels::layer_inspector() {
  const auto& layers = scene_->layout.layers;
  if (focus_ < 0 || focus_ >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Pick a layer in the model tree, or press F over one.");
    return;
  }
  const auto& v = layers[static_cast<size_t>(focus_)];
  const auto& sl = scene_->layers[static_cast<size_t>(focus_)];
  ImGui::TextColored(kAccent, "%s", v.tensor.op.c_str());
  ImGui::SameLine();
  ImGui::TextUnformatted(v.tensor.name.c_str());
  ImGui::TextColored(kDim, "%s  %s  (%lld values)", shape_text(v.tensor.shape).c_str(),
                     sl.scale.kind == viz::ColorMapKind::Sequential ? "non-negative" : "signed",
                     (long long)v.dims.count);
  viz::ColorScale scale = panel_scale(focus_);
  const float avail_w = ImGui::GetContentRegionAvail().x;

  Cache& c = *cache_;
  // Statistics (inspect::tensor_stats), with every channel ranked: the grid's sort keys.
  if (!c.stats.count(focus_) && !c.stats_error.count(focus_)) {
    try {
      inspect::StatsOptions so;
      so.top_k = std::max<int64_t>(v.dims.C, 1);
      inspect::TensorStats ts = inspect::tensor_stats(*view_, v.tensor.name, so);
      if (ts.channels == v.dims.C && !v.dims.grid) {
        std::vector<float> mean(static_cast<size_t>(ts.channels), NAN), mx(static_cast<size_t>(ts.channels), NAN);
        for (const auto& ch : ts.top_by_mean) mean[static_cast<size_t>(ch.channel)] = float(ch.mean);
        for (const auto& ch : ts.top_by_max) mx[static_cast<size_t>(ch.channel)] = float(ch.max);
        c.channel_mean[focus_] = std::move(mean);
        c.channel_max[focus_] = std::move(mx);
      }
      c.stats.emplace(focus_, std::move(ts));
    } catch (const Error& e) {
      c.stats_error[focus_] = e.what();
    }
  }
  if (auto it = c.stats.find(focus_); it != c.stats.end()) {
    const inspect::TensorStats& ts = it->second;
    ImGui::Text("min %s  max %s  mean %s  std %s", viz::format_value(float(ts.min)).c_str(),
                viz::format_value(float(ts.max)).c_str(), viz::format_value(float(ts.mean)).c_str(),
                viz::format_value(float(ts.std)).c_str());
    std::string line = "zeros " + std::to_string(int(std::lround(ts.zero_fraction * 100))) + "%";
    if (ts.dead) line += "   dead channels " + std::to_string(ts.dead->dead) + "/" + std::to_string(ts.dead->channels);
    if (ts.saturation)
      line += "   saturated " + std::to_string(int(std::lround(ts.saturation->fraction * 100))) + "%";
    const int64_t bad = ts.nan + ts.pos_inf + ts.neg_inf;
    ImGui::TextColored(bad ? ImVec4(1.0f, 0.35f, 0.3f, 1.0f) : kDim, "%s   NaN/Inf %lld", line.c_str(), (long long)bad);
    const auto& h = ts.histogram;
    if (!h.counts.empty()) {
      std::vector<float> counts(h.counts.begin(), h.counts.end());
      ImVec2 hp = ImGui::GetCursorScreenPos();
      const float hh = std::round(ImGui::GetFontSize() * 2.6f);
      ImGui::PlotHistogram("##hist", counts.data(), static_cast<int>(counts.size()), 0, nullptr, 0.0f, FLT_MAX,
                           ImVec2(avail_w, hh));
      // The range, inside the plot's top corners.
      const std::string lo = viz::format_value(float(h.lo)), hi = viz::format_value(float(h.hi));
      ImDrawList* dl = ImGui::GetWindowDrawList();
      dl->AddText(ImVec2(hp.x + 4, hp.y + 2), ImGui::GetColorU32(kDim), lo.c_str());
      dl->AddText(ImVec2(hp.x + avail_w - ImGui::CalcTextSize(hi.c_str()).x - 4, hp.y + 2), ImGui::GetColorU32(kDim),
                  hi.c_str());
    }
  } else {
    ImGui::TextColored(kDim, "statistics: %s", c.stats_error[focus_].c_str());
  }
  ImGui::TextColored(kDim, "sort channels");
  ImGui::SameLine();
  int o = static_cast<int>(order_);
  ImGui::RadioButton("index", &o, 0);
  ImGui::BeginDisabled(!c.channel_mean.count(focus_));
  ImGui::SameLine();
  ImGui::RadioButton("mean", &o, 1);
  ImGui::SameLine();
  ImGui::RadioButton("max", &o, 2);
  ImGui::EndDisabled();
  order_ = static_cast<ChannelOrder>(o);
  colour_bar(scale, avail_w);
  const float avail_h = ImGui::GetContentRegionAvail().y - ImGui::GetTextLineHeightWithSpacing();
  const float aspect = std::max(0.2f, avail_w / std::max(avail_h, 1.0f));
  auto it = c.grids.find(focus_);
  if (order_ != ChannelOrder::Index && !c.channel_mean.count(focus_)) order_ = ChannelOrder::Index;
  if (it == c.grids.end() || it->second.order != order_ || std::fabs(it->second.aspect - aspect) > 0.05f * aspect) {
    std::span<const float> key;
    if (order_ == ChannelOrder::MeanDesc) key = c.channel_mean[focus_];
    if (order_ == ChannelOrder::MaxDesc) key = c.channel_max[focus_];
    Cache::Grid g{order_, aspect, feature_grid(v.dims, sl.values, scale, order_, key, aspect), -1};
    g.tex = ui_.upload_texture(g.grid.width, g.grid.height, g.grid.rgba, it == c.grids.end() ? -1 : it->second.tex);
    g.grid.rgba.clear();
    g.grid.rgba.shrink_to_fit();
    it = c.grids.insert_or_assign(focus_, std::move(g)).first;
  }
  const FeatureGrid& g = it->second.grid;
  // Integer texel scale when the grid is smaller than the panel (crisp blocks), else fit.
  float s = std::min(avail_w / float(g.width), avail_h / float(g.height));
  if (s >= 2.0f) s = std::floor(s);
  ImVec2 size(float(g.width) * s, float(g.height) * s);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ui_.image(it->second.tex, size);
  grid_view_ = GridView{p0, s, &g, focus_};
  // The selected neuron, when it is in this layer: a cyan frame around its cell.
  if (sel_.layer == focus_) {
    auto cc = viz::cell_of(v.dims, sel_.flat);
    int t = g.tile_of(cc.c);
    if (t >= 0) {
      float x = p0.x + (float((t % g.cols) * (g.tile_w + 1)) + float(cc.x)) * s;
      float y = p0.y + (float((t / g.cols) * (g.tile_h + 1)) + float(cc.y)) * s;
      const float pad = std::max(2.0f, s * 0.5f);
      ImGui::GetWindowDrawList()->AddRect(ImVec2(x - pad, y - pad), ImVec2(x + s + pad, y + s + pad),
                                          ImGui::GetColorU32(kCyan), 0.0f, 0, 2.0f);
    }
  }
  // Hover: the cell under the mouse; click selects it.
  if (ImGui::IsItemHovered()) {
    ImVec2 m = ImGui::GetMousePos();
    int tx = static_cast<int>((m.x - p0.x) / s), ty = static_cast<int>((m.y - p0.y) / s);
    int col_ = tx / (g.tile_w + 1), row = ty / (g.tile_h + 1), x = tx % (g.tile_w + 1), y = ty % (g.tile_h + 1);
    size_t t = static_cast<size_t>(row * g.cols + col_);
    if (x < g.tile_w && y < g.tile_h && t < g.order.size()) {
      int64_t ch = g.order[t], flat = viz::flat_of(v.dims, ch, y, x);
      if (flat < v.dims.count) {
        ImGui::SetTooltip("channel %lld  [%d, %d]  = %.6g", (long long)ch, y, x,
                          double(sl.values[static_cast<size_t>(flat)]));
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left) && actions.select) actions.select(focus_, flat);
      }
    }
  }
  if (static_cast<int64_t>(g.order.size()) < g.channels)
    ImGui::TextColored(kDim, "first %zu of %lld channels (texture budget)", g.order.size(), (long long)g.channels);
  else
    ImGui::TextColored(kDim, "%lld channels of %dx%d, one shared scale", (long long)g.channels, g.tile_h, g.tile_w);
}

void Panels::neuron_inspector() {
  const auto& layers = scene_->layout.layers;
  if (sel_.layer < 0 || sel_.layer >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Click a neuron (or --select TENSOR:INDEX).");
    return;
  }
  const auto& v = layers[static_cast<size_t>(sel_.layer)];
  auto c = viz::cell_of(v.dims, sel_.flat);
  ImGui::TextColored(kAccent, "%s", v.tensor.op.c_str());
  ImGui::SameLine();
  ImGui::Text("%s [%lld, %lld, %lld]", v.tensor.name.c_str(), (long long)c.c, (long long)c.y, (long long)c.x);
  std::vector<int64_t> ti = viz::tensor_index(v, sel_.flat);
  ImGui::TextColored(kCyan, "value %.6g", double(scene_->value(sel_.layer, sel_.flat)));
  if (ImGui::IsItemHovered()) {
    std::string tis;
    for (size_t i = 0; i < ti.size(); ++i) tis += (i ? ", " : "") + std::to_string(ti[i]);
    ImGui::SetTooltip("tensor index [%s]", tis.c_str());
  }
  // Receptive field: its extent in the earliest shown layer it reaches (the input, for a CNN).
  int first = -1;
  for (const auto& [l, r] : sel_.regions)
    if (l != sel_.layer && (first < 0 || l < first)) first = l;
  if (first >= 0) {
    for (const auto& [l, r] : sel_.regions) {
      if (l != first) continue;
      const auto& fv = layers[static_cast<size_t>(l)];
      ImGui::SameLine();
      if (r.flat)
        ImGui::TextColored(kCyan, "  receptive field %lld values of %s", (long long)(r.hi - r.lo), fv.tensor.name.c_str());
      else
        ImGui::TextColored(kCyan, "  receptive field %lldx%lld in %s", (long long)(r.y1 - r.y0), (long long)(r.x1 - r.x0),
                           fv.tensor.name.c_str());
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%lld channels; reaches %zu shown layers", (long long)(r.c1 - r.c0), sel_.regions.size());
      break;
    }
  }
  if (!sel_.fanout_count.empty()) {
    const auto& [fl, fn] = sel_.fanout_count.front();
    ImGui::TextColored(kOrange, "fan-out %s in %s", fn >= 0 ? std::to_string(fn).c_str() : "(box)",
                       layers[static_cast<size_t>(fl)].tensor.name.c_str());
  }
  // Contributions (inspect::contributions): the terms w·x that make this neuron.
  Cache& cc = *cache_;
  if (cc.contrib_key != std::make_pair(sel_.layer, sel_.flat)) {
    cc.contrib_key = {sel_.layer, sel_.flat};
    cc.contrib.reset();
    cc.contrib_error.clear();
    try {
      int64_t flat = 0;  // row-major in the tensor's own shape
      for (size_t d = 0; d < ti.size(); ++d) flat = flat * v.tensor.shape[d] + ti[d];
      cc.contrib = inspect::contributions(*view_, v.tensor.name, flat, 8);
    } catch (const Error& e) {
      cc.contrib_error = e.what();
    }
  }
  if (!cc.contrib) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    // inspect's messages name the analysis already ("contributions: ...").
    ImGui::TextWrapped("%s", cc.contrib_error.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const inspect::Contributions& k = *cc.contrib;
  std::string chain;
  for (const auto& op : k.chain) chain += (chain.empty() ? " then " : ", ") + op;
  ImGui::TextColored(kDim, "%s: %zu terms%s = %s (+%s %s)%s", k.op.c_str(), k.terms.size(),
                     k.bias_tensor.empty() ? "" : " + bias", viz::format_value(float(k.sum)).c_str(),
                     viz::format_value(float(k.positive_total)).c_str(), viz::format_value(float(k.negative_total)).c_str(),
                     chain.c_str());
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("the input cells of the largest terms are magenta in 3D");
  if (ImGui::BeginTable("terms", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_ScrollY)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("input cell");
    ImGui::TableSetupColumn("w");
    ImGui::TableSetupColumn("x");
    ImGui::TableSetupColumn("w*x");
    ImGui::TableHeadersRow();
    double biggest = 0;
    for (size_t t : k.top) biggest = std::max(biggest, std::fabs(k.terms[t].term));
    for (size_t t : k.top) {
      const auto& term = k.terms[t];
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      std::string cell;
      for (size_t d = term.input_coords.size() > 3 ? 1 : 0; d < term.input_coords.size(); ++d)
        cell += (cell.empty() ? "" : ",") + std::to_string(term.input_coords[d]);
      ImGui::Text("[%s]", cell.c_str());
      ImGui::TableSetColumnIndex(1);
      ImGui::TextUnformatted(viz::format_value(float(term.weight_value)).c_str());
      ImGui::TableSetColumnIndex(2);
      ImGui::TextUnformatted(viz::format_value(float(term.activation)).c_str());
      ImGui::TableSetColumnIndex(3);
      // A bar for |w·x| relative to the largest term: orange positive, blue negative.
      ImVec2 p = ImGui::GetCursorScreenPos();
      float w = ImGui::GetContentRegionAvail().x, lh = ImGui::GetTextLineHeight();
      float f = biggest > 0 ? float(std::fabs(term.term) / biggest) : 0.0f;
      ImGui::GetWindowDrawList()->AddRectFilled(
          ImVec2(p.x, p.y + 0.15f * lh), ImVec2(p.x + f * w, p.y + 0.85f * lh),
          ImGui::GetColorU32(term.term >= 0 ? ImVec4(0.85f, 0.45f, 0.15f, 0.55f) : ImVec4(0.25f, 0.5f, 0.85f, 0.55f)));
      ImGui::TextUnformatted(viz::format_value(float(term.term)).c_str());
    }
    ImGui::EndTable();
  }
}

void Panels::activation_fn() {
  const auto& layers = scene_->layout.layers;
  if (focus_ < 0 || focus_ >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Pick a layer.");
    return;
  }
  Cache& c = *cache_;
  if (!c.act.count(focus_)) {
    // The focused layer's nonlinearity: the layer itself when a recognised activation produced it,
    // else the first recognised one reading it (a Conv's output → its HardSwish).
    Cache::Act a;
    const std::string& name = layers[static_cast<size_t>(focus_)].tensor.name;
    try {
      // The outermost recognised pattern (find_activations: a HardSwish, not the Clip inside it)
      // that produces the layer or that a breadth-first walk over its readers meets within six nodes
      // (Conv → BatchNorm → a decomposed HardSwish).
      if (!c.all_acts) c.all_acts = inspect::find_activations(*view_);
      std::optional<inspect::Activation> act;
      for (const auto& x : *c.all_acts)
        if (x.output == name) act = x;
      std::vector<std::string> frontier{name};
      for (int hop = 0; hop < 6 && !act && !frontier.empty(); ++hop) {
        std::vector<std::string> next;
        for (const auto& t : frontier)
          for (size_t n : view_->consumers(t)) {
            for (const auto& x : *c.all_acts)
              if (!act && std::find(x.nodes.begin(), x.nodes.end(), n) != x.nodes.end()) act = x;
            for (const auto& o : view_->graph().nodes[n].outputs) next.push_back(o);
          }
        frontier = std::move(next);
      }
      if (act) a.a = inspect::analyze_activation(*view_, *act, 128);
      else a.note = "no recognised nonlinearity produces " + name + " or follows it within six nodes";
    } catch (const Error& e) {
      a.note = e.what();
    }
    c.act.emplace(focus_, std::move(a));
  }
  const Cache::Act& a = c.act.at(focus_);
  if (!a.a) {
    ImGui::TextWrapped("%s", a.note.c_str());
    return;
  }
  const inspect::ActivationAnalysis& an = *a.a;
  ImGui::TextColored(kAccent, "%s", an.act.name().c_str());
  ImGui::SameLine();
  ImGui::TextColored(kDim, "%s -> %s%s", an.act.input.c_str(), an.act.output.c_str(), an.act.decomposed ? " (decomposed)" : "");
  std::string line = "flat " + std::to_string(int(std::lround(an.flat_fraction * 100))) + "%";
  line += an.saturated_fraction ? "   saturated " + std::to_string(int(std::lround(*an.saturated_fraction * 100))) + "%"
                                : std::string("   saturation n/a");
  ImGui::TextUnformatted(line.c_str());
  // The curve y = f(x) over the inputs' range, on the inputs' histogram (bars, own scale).
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float lh = ImGui::GetTextLineHeight();
  ImVec2 p0 = ImGui::GetCursorScreenPos(),
         size(avail.x, std::max(std::floor(avail.y - lh - 2 * ImGui::GetStyle().ItemSpacing.y - 1), lh * 2));
  ImGui::Dummy(size);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), ImGui::GetColorU32(ImVec4(0.04f, 0.05f, 0.07f, 1.0f)));
  if (an.curve.size() < 2) return;
  double x0 = an.curve.front().x, x1 = an.curve.back().x, y0 = an.curve.front().y, y1 = y0;
  for (const auto& pt : an.curve) {
    y0 = std::min(y0, pt.y);
    y1 = std::max(y1, pt.y);
  }
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) y1 = y0 + 1;
  const double ypad = 0.08 * (y1 - y0);
  y0 -= ypad;
  y1 += ypad;
  auto px = [&](double x) { return p0.x + float((x - x0) / (x1 - x0)) * size.x; };
  auto py = [&](double y) { return p0.y + size.y - float((y - y0) / (y1 - y0)) * size.y; };
  const auto& h = an.input_histogram;
  int64_t hmax = 1;
  for (auto n : h.counts) hmax = std::max(hmax, n);
  const ImU32 bar = ImGui::GetColorU32(ImVec4(0.45f, 0.50f, 0.60f, 0.45f));
  for (size_t i = 0; i < h.counts.size(); ++i) {
    double b0 = h.lo + double(i) * h.bin_width(), b1 = b0 + h.bin_width();
    float top = p0.y + size.y - float(double(h.counts[i]) / double(hmax)) * size.y * 0.9f;
    dl->AddRectFilled(ImVec2(px(b0), top), ImVec2(std::max(px(b1), px(b0) + 1.0f), p0.y + size.y), bar);
  }
  const ImU32 axis = ImGui::GetColorU32(ImVec4(0.35f, 0.40f, 0.48f, 1.0f));
  if (x0 < 0 && x1 > 0) dl->AddLine(ImVec2(px(0), p0.y), ImVec2(px(0), p0.y + size.y), axis);
  if (y0 < 0 && y1 > 0) dl->AddLine(ImVec2(p0.x, py(0)), ImVec2(p0.x + size.x, py(0)), axis);
  std::vector<ImVec2> pts;
  for (const auto& pt : an.curve) pts.emplace_back(px(pt.x), py(pt.y));
  dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), ImGui::GetColorU32(kAccent), 0, 2.0f);
  const std::string l = "x " + viz::format_value(float(an.x_min)), r = viz::format_value(float(an.x_max));
  ImGui::TextColored(kDim, "%s", l.c_str());
  ImGui::SameLine(std::max(0.0f, ImGui::GetWindowContentRegionMax().x - ImGui::CalcTextSize(r.c_str()).x));
  ImGui::TextColored(kDim, "%s", r.c_str());
}

void Panels::predictions() {
  Cache& c = *cache_;
  if (!c.preds && c.preds_error.empty()) {
    try {
      c.preds = inspect::predictions(*view_, labels_, 5);
    } catch (const Error& e) {
      c.preds_error = e.what();
    }
  }
  if (!c.preds) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("%s", c.preds_error.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const inspect::Predictions& p = *c.preds;
  for (const auto& d : p.ctc) {
    if (!d.text.empty()) {
      ImGui::TextColored(kAccent, "\"%s\"", d.text[0].c_str());
      ImGui::TextColored(kDim, "confidence %.3f, CTC over %lld steps", d.confidence[0], (long long)d.steps);
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("greedy CTC decoding of %s", d.tensor.c_str());
    }
  }
  for (const auto& cl : p.classifications) {
    ImGui::TextColored(kDim, "%s%s", cl.tensor.c_str(), cl.softmax_applied ? " (softmax applied)" : "");
    if (cl.top.empty()) continue;
    const float w = ImGui::GetContentRegionAvail().x;
    for (const auto& r : cl.top[0]) {
      std::string name = r.label.empty() ? "class " + std::to_string(r.index) : r.label;
      ImVec2 q = ImGui::GetCursorScreenPos();
      const float lh = ImGui::GetTextLineHeight();
      ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(q.x, q.y + 0.1f * lh),
                                                ImVec2(q.x + float(std::clamp(r.score, 0.0, 1.0)) * w, q.y + 0.95f * lh),
                                                ImGui::GetColorU32(ImVec4(0.20f, 0.45f, 0.70f, 0.55f)));
      ImGui::Text("%5.1f%%  %s", r.score * 100.0, name.c_str());
    }
  }
  if (p.ctc.empty() && p.classifications.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("No class scores or CTC text among the outputs (maps are in the Layer panel).");
    ImGui::PopStyleColor();
  }
}

void Panels::weights() {
  const auto& layers = scene_->layout.layers;
  if (focus_ < 0 || focus_ >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Pick a layer.");
    return;
  }
  Cache& c = *cache_;
  if (!c.weights.count(focus_)) {
    // The linear node behind the focused layer: its producer, or the nearest Conv/Gemm/MatMul up the
    // data flow through single-activation-input nodes (BatchNorm, Relu...), four nodes at most.
    Cache::Weights w;
    const Graph& g = view_->graph();
    std::string t = layers[static_cast<size_t>(focus_)].tensor.name;
    std::optional<size_t> node;
    for (int hop = 0; hop < 4; ++hop) {
      auto pn = view_->producer(t);
      if (!pn) break;
      const Node& n = g.nodes[*pn];
      if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") {
        node = pn;
        break;
      }
      std::string next;
      int activations = 0;
      for (const auto& in : n.inputs)
        if (!in.empty() && !view_->is_constant(in)) {
          next = in;
          ++activations;
        }
      if (activations != 1) break;
      t = next;
    }
    if (!node) {
      w.note = "no Conv/Gemm/MatMul right before " + layers[static_cast<size_t>(focus_)].tensor.name;
    } else {
      try {
        inspect::WeightsOptions o;
        o.max_filters = 32;
        o.max_channels = 8;
        o.max_heatmap = 128;
        w.w = inspect::weights(*view_, g.nodes[*node].name, o);
      } catch (const Error& e) {
        w.note = e.what();
      }
    }
    c.weights.emplace(focus_, std::move(w));
  }
  const Cache::Weights& cw = c.weights.at(focus_);
  if (!cw.w) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("%s", cw.note.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const inspect::WeightsReport& w = *cw.w;
  ImGui::TextColored(kAccent, "%s", w.op.c_str());
  ImGui::SameLine();
  ImGui::Text("%s  %s", w.weight.c_str(), shape_text(w.shape).c_str());
  ImGui::TextColored(w.near_zero.empty() ? kDim : kOrange, "%zu filters, %zu near zero, median L2 %s",
                     w.filter_norms.size(), w.near_zero.size(), viz::format_value(float(w.median_norm)).c_str());
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("max |w| %s: the patches' symmetric scale", viz::format_value(float(w.max_abs)).c_str());
  // Left: the filters (patches or heatmap); right: the filter norms, one bar per output unit.
  const ImVec2 full = ImGui::GetContentRegionAvail();
  const float gap = ImGui::GetStyle().ItemSpacing.x;
  ImVec2 avail(std::floor(full.x * 0.55f), std::max(1.0f, full.y - 2.0f));
  const ImVec2 start = ImGui::GetCursorPos();
  ImGui::SetCursorPos(ImVec2(start.x + avail.x + gap, start.y));
  std::vector<float> norms(w.filter_norms.begin(), w.filter_norms.end());
  ImGui::PlotHistogram("##norms", norms.data(), static_cast<int>(norms.size()), 0, nullptr, 0.0f, FLT_MAX,
                       ImVec2(full.x - avail.x - gap, avail.y));
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("L2 norm of each filter (output unit)");
  ImGui::SetCursorPos(start);
  const std::string key = "w:" + w.node;
  int tex = -1, tw = 0, th = 0;
  if (w.heatmap) {
    const auto& h = *w.heatmap;
    float m = 0;
    for (float v : h.values) m = std::max(m, std::fabs(v));
    tw = static_cast<int>(h.cols);
    th = static_cast<int>(h.rows);
    tex = texture(key, tw, th,
                  colour_matrix(h.rows, h.cols, h.values, viz::ColorScale{viz::ColorMapKind::Diverging, -m, std::max(m, 1e-30f)}));
  } else if (!w.patches.empty()) {
    // Patches in filter order (a filter's channels next to each other; RGB patches: one per filter),
    // one-texel gaps. Grey values 0.5 + 0.5·v/max|W| go through the
    // diverging map so that zero stays neutral; RGB patches are shown as colours.
    const auto& p0 = w.patches.front();
    const int64_t ph = p0.h, pw = p0.w;
    if (ph == 1 && pw == 1 && !w.rgb) {
      // 1x1 kernels: a filters x channels matrix (no gaps), same colours.
      int64_t per = 0;
      for (const auto& p : w.patches)
        if (p.filter == p0.filter) ++per;
      const int64_t nf = static_cast<int64_t>(w.patches.size()) / std::max<int64_t>(per, 1);
      // Transposed (a column per filter): panels are wider than tall.
      std::vector<float> vals(w.patches.size());
      for (size_t i = 0; i < w.patches.size(); ++i) {
        const int64_t f = int64_t(i) / per, ch = int64_t(i) % per;
        vals[size_t(ch * nf + f)] = 2.0f * w.patches[i].pixels[0] - 1.0f;
      }
      tw = static_cast<int>(nf);
      th = static_cast<int>(per);
      tex = texture(key, tw, th, colour_matrix(per, nf, vals, viz::ColorScale{viz::ColorMapKind::Diverging, -1.0f, 1.0f}));
    }
  }
  if (tex < 0 && !w.patches.empty()) {
    const auto& p0 = w.patches.front();
    const int64_t ph = p0.h, pw = p0.w;
    // Patches per row: the count that shows them largest in the space left.
    const int64_t np = static_cast<int64_t>(w.patches.size());
    int64_t per_row = 1;
    double best = -1;
    for (int64_t c = 1; c <= np; ++c) {
      const int64_t r = (np + c - 1) / c;
      const double sc = std::min(double(avail.x) / double(c * (pw + 1)), double(avail.y) / double(r * (ph + 1)));
      if (sc > best * (1 + 1e-9)) {
        best = sc;
        per_row = c;
      }
    }
    const int64_t rows = (static_cast<int64_t>(w.patches.size()) + per_row - 1) / per_row;
    tw = static_cast<int>(per_row * (pw + 1) - 1);
    th = static_cast<int>(rows * (ph + 1) - 1);
    std::vector<uint8_t> rgba(size_t(tw) * size_t(th) * 4, 0);
    const auto lut = viz::code_lut(viz::ColorMapKind::Diverging);
    const viz::ColorScale sc{viz::ColorMapKind::Diverging, -1.0f, 1.0f};
    for (size_t i = 0; i < w.patches.size(); ++i) {
      const auto& p = w.patches[i];
      const int64_t ox = (int64_t(i) % per_row) * (pw + 1), oy = (int64_t(i) / per_row) * (ph + 1);
      for (int64_t y = 0; y < p.h; ++y)
        for (int64_t x = 0; x < p.w; ++x) {
          uint8_t* q = &rgba[(size_t(oy + y) * size_t(tw) + size_t(ox + x)) * 4];
          const float* v = &p.pixels[size_t((y * p.w + x) * p.channels)];
          glm::vec3 colr = p.channels == 3 ? glm::vec3(v[0], v[1], v[2])
                                           : lut[viz::encode(2.0f * v[0] - 1.0f, sc)];
          for (int k = 0; k < 3; ++k) q[k] = static_cast<uint8_t>(std::lround(std::clamp(colr[k], 0.0f, 1.0f) * 255.0f));
          q[3] = 255;
        }
    }
    tex = texture(key, tw, th, rgba);
  }
  if (tex >= 0 && tw > 0 && th > 0) {
    float s = std::min(avail.x / float(tw), (avail.y - 2.0f) / float(th));
    if (s >= 2.0f) s = std::floor(s);
    ui_.image(tex, ImVec2(float(tw) * s, float(th) * s));
  }
}

void Panels::attention() {
  Cache& c = *cache_;
  if (!c.attn && c.attn_error.empty()) {
    try {
      inspect::AttentionOptions o;
      o.max_display = 64;
      o.tokens = text_tokens_;
      o.token_input = text_input_;
      c.attn = inspect::find_attention(*view_, o);
    } catch (const Error& e) {
      c.attn_error = e.what();
    }
  }
  if (!c.attn || c.attn->empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("%s", c.attn ? "No attention in this model (a Softmax over a MatMul of two activations)."
                                    : c.attn_error.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const auto& maps = *c.attn;
  // The map of the focused layer when it is one, else the first.
  size_t mi = 0;
  const auto& layers = scene_->layout.layers;
  if (focus_ >= 0 && focus_ < static_cast<int>(layers.size()))
    for (size_t i = 0; i < maps.size(); ++i)
      if (maps[i].tensor == layers[static_cast<size_t>(focus_)].tensor.name) mi = i;
  const inspect::AttentionMap& m = maps[mi];
  ImGui::TextColored(kDim, "%zu maps; map %zu:", maps.size(), mi + 1);
  ImGui::SameLine();
  ImGui::TextUnformatted(m.tensor.c_str());
  if (!m.key_tokens.empty() && !m.query_tokens.empty() && m.block_q == 1 && m.block_k == 1) return attention_tokens(m);
  ImGui::TextColored(kDim, "%lld queries x %lld keys", (long long)m.tq, (long long)m.tk);
  // Every head's display matrix as one tile of a grid (one shared scale: probabilities).
  const int64_t rows = (m.tq + m.block_q - 1) / m.block_q, cols = (m.tk + m.block_k - 1) / m.block_k;
  const int64_t heads = static_cast<int64_t>(m.display.size());
  std::vector<float> all;
  float mx = 0;
  for (const auto& h : m.display) {
    all.insert(all.end(), h.begin(), h.end());
    for (float v : h) mx = std::max(mx, v);
  }
  double e0 = INFINITY, e1 = -INFINITY;
  for (double e : m.entropy) {
    e0 = std::min(e0, e);
    e1 = std::max(e1, e);
  }
  if (!m.entropy.empty())
    ImGui::TextColored(kDim, "entropy %.2f..%.2f nats (uniform %.2f)", e0, e1, std::log(double(m.tk)));
  viz::VolumeDims d{.C = heads, .H = rows, .W = cols, .count = heads * rows * cols};
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float box_h = std::max(1.0f, avail.y - ImGui::GetTextLineHeightWithSpacing());
  const std::string key = "a:" + m.tensor;
  if (!cache_->textures.count(key)) {
    FeatureGrid g = feature_grid(d, all, viz::ColorScale{viz::ColorMapKind::Sequential, 0.0f, std::max(mx, 1e-30f)},
                                 ChannelOrder::Index, {}, avail.x / box_h);
    attn_grid_ = {g.cols, g.rows, g.width, g.height};
    texture(key, g.width, g.height, g.rgba);
  }
  const auto [gc, gr, gw, gh] = attn_grid_;
  float s = std::min(avail.x / float(gw), box_h / float(gh));
  if (s >= 2.0f) s = std::floor(s);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ui_.image(cache_->textures.at(key), ImVec2(float(gw) * s, float(gh) * s));
  if (ImGui::IsItemHovered()) {
    ImVec2 mp = ImGui::GetMousePos();
    int hx = static_cast<int>((mp.x - p0.x) / s) / int(cols + 1), hy = static_cast<int>((mp.y - p0.y) / s) / int(rows + 1);
    size_t h = static_cast<size_t>(hy * gc + hx);
    if (h < m.entropy.size()) ImGui::SetTooltip("head %zu: entropy %.2f nats", h, m.entropy[h]);
  }
  ImGui::TextColored(kDim, "%lld heads; rows: queries, columns: keys%s", (long long)heads,
                     m.block_q > 1 || m.block_k > 1 ? " (blocks)" : "");
}

// A text model's map: one head (or their mean) as a T_q×T_k matrix with the query tokens down the
// left and the key tokens along the top (turned 90°: ImGui draws only horizontal text, so the
// glyph quads just added to the draw list are rotated), and above it the strongest keys of the
// first query ([CLS] in BERT-like models). Labels thinner than a text line are thinned out.
void Panels::attention_tokens(const inspect::AttentionMap& m) {
  const int64_t heads = static_cast<int64_t>(m.display.size()), tq = m.tq, tk = m.tk;
  if (heads > 1) {
    attn_head_ = std::clamp(attn_head_, -1, static_cast<int>(heads) - 1);
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
    ImGui::SliderInt("head", &attn_head_, -1, static_cast<int>(heads) - 1, attn_head_ < 0 ? "mean of heads" : "head %d");
  }
  std::vector<float> a(static_cast<size_t>(tq * tk), 0.0f);
  for (int64_t h = 0; h < heads; ++h)
    if (attn_head_ < 0 || attn_head_ == h)
      for (size_t i = 0; i < a.size(); ++i) a[i] += m.display[static_cast<size_t>(h)][i] / float(attn_head_ < 0 ? heads : 1);
  float mx = 0;
  for (float v : a) mx = std::max(mx, v);
  const std::string key = "at:" + m.tensor + ":" + std::to_string(attn_head_);
  if (!cache_->textures.count(key))
    texture(key, static_cast<int>(tk), static_cast<int>(tq),
            colour_matrix(tq, tk, a, viz::ColorScale{viz::ColorMapKind::Sequential, 0.0f, std::max(mx, 1e-30f)}));
  // The first query's strongest keys, as words.
  std::vector<int64_t> order(static_cast<size_t>(tk));
  for (int64_t k = 0; k < tk; ++k) order[static_cast<size_t>(k)] = k;
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[static_cast<size_t>(x)] > a[static_cast<size_t>(y)]; });
  std::string top = "'" + m.query_tokens[0] + "' looks at:";
  for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " %s %.2f", m.key_tokens[static_cast<size_t>(order[i])].c_str(), a[static_cast<size_t>(order[i])]);
    top += buf;
  }
  ImGui::TextWrapped("%s", top.c_str());
  // Sizes: label strips as wide as the longest token (at most a third of the panel), square cells.
  const float fh = ImGui::GetFontSize(), line = ImGui::GetTextLineHeightWithSpacing();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  float lw = 0;
  for (const auto* list : {&m.query_tokens, &m.key_tokens})
    for (const std::string& t : *list) lw = std::max(lw, ImGui::CalcTextSize(t.c_str()).x);
  lw = std::min(lw + 4.0f, avail.x / 3.0f);
  // Cells fill the panel, but stay at least a text line high while the width allows (the panel
  // then scrolls): labels thinned out are a last resort.
  const float wcell = (avail.x - lw) / float(tk), hcell = (avail.y - lw - 2.0f * line) / float(tq);
  const float cell = std::max(1.0f, std::max(std::min(wcell, hcell), std::min(wcell, fh * 1.1f)));
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  const ImVec2 m0(p0.x + lw, p0.y + lw);  // the matrix's top-left corner
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 text_col = ImGui::GetColorU32(ImGuiCol_Text);
  const int step_q = std::max(1, static_cast<int>(std::ceil(fh / cell))), step_k = step_q;
  auto clipped = [&](const std::string& t) {  // a token cut to the label strip
    std::string s = t;
    while (s.size() > 1 && ImGui::CalcTextSize(s.c_str()).x > lw - 4.0f) s.pop_back();
    return s;
  };
  for (int64_t q = 0; q < tq; q += step_q) {
    const std::string t = clipped(m.query_tokens[static_cast<size_t>(q)]);
    const float w = ImGui::CalcTextSize(t.c_str()).x;
    dl->AddText(ImVec2(m0.x - 4.0f - w, m0.y + (float(q) + 0.5f) * cell - fh * 0.5f), text_col, t.c_str());
  }
  for (int64_t k = 0; k < tk; k += step_k) {
    const std::string t = clipped(m.key_tokens[static_cast<size_t>(k)]);
    const int v0 = dl->VtxBuffer.Size;
    const ImVec2 pivot(m0.x + (float(k) + 0.5f) * cell - fh * 0.5f, m0.y - 4.0f);
    dl->AddText(pivot, text_col, t.c_str());
    for (int i = v0; i < dl->VtxBuffer.Size; ++i) {  // (x, y) → (pivot.x + (y − pivot.y), pivot.y − (x − pivot.x))
      ImDrawVert& v = dl->VtxBuffer[i];
      const float x = v.pos.x - pivot.x, y = v.pos.y - pivot.y;
      v.pos = ImVec2(pivot.x + y, pivot.y - x);
    }
  }
  ImGui::Dummy(ImVec2(lw, lw));
  ImGui::SetCursorScreenPos(m0);
  ui_.image(cache_->textures.at(key), ImVec2(float(tk) * cell, float(tq) * cell));
  if (ImGui::IsItemHovered()) {
    const ImVec2 mp = ImGui::GetMousePos();
    const int64_t q = std::clamp<int64_t>(static_cast<int64_t>((mp.y - m0.y) / cell), 0, tq - 1);
    const int64_t k = std::clamp<int64_t>(static_cast<int64_t>((mp.x - m0.x) / cell), 0, tk - 1);
    ImGui::SetTooltip("'%s' -> '%s': %.3f", m.query_tokens[static_cast<size_t>(q)].c_str(), m.key_tokens[static_cast<size_t>(k)].c_str(),
                      a[static_cast<size_t>(q * tk + k)]);
  }
  ImGui::SetCursorScreenPos(ImVec2(p0.x, ImGui::GetCursorScreenPos().y));
  ImGui::TextColored(kDim, "%lld tokens; rows: queries, columns: keys (%s)", (long long)tq,
                     attn_head_ < 0 && heads > 1 ? "mean of heads" : "one head");
}

void Panels::set_text_tokens(std::vector<std::string> tokens, std::string input) {
  text_tokens_ = std::move(tokens);
  text_input_ = std::move(input);
  if (cache_) cache_->attn.reset(), cache_->attn_error.clear();
}

}  // namespace netlens::ui
