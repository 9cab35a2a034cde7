// Panels' core: construction, textures and caches, settings, colour scales, the panel layout (draw) and begin/end panel.
#include "panels_internal.hpp"

#include <cstring>

namespace netlens::ui {

namespace {

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

void Panels::set_scene(const Session& s, const viz::Scene& scene, size_t nodes_done) {
  for (auto& [l, g] : cache_->grids) ui_.free_texture(g.tex);
  for (auto& [k, t] : cache_->textures) ui_.free_texture(t);
  s_ = &s;
  nodes_done_ = nodes_done;
  scene_ = &scene;
  view_ = std::make_unique<inspect::ModelView>(s);
  cache_ = std::make_unique<Cache>();
  build_groups();
  cache_->settings = settings_;
  if (focus_ >= static_cast<int>(scene.layout.layers.size())) focus_ = -1;
  sel_ = {};
}

bool Panels::not_computed(const std::string& tensor) {
  const size_t total = s_->graph().nodes.size();
  if (nodes_done_ >= total) return false;
  if (!s_->activations().find(tensor) || s_->activations().computed_within(tensor, nodes_done_)) return false;
  ImGui::PushStyleColor(ImGuiCol_Text, kDim);
  ImGui::TextWrapped("%s: not computed (the run was cancelled after %zu of %zu nodes).", tensor.c_str(), nodes_done_, total);
  ImGui::PopStyleColor();
  return true;
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
      it = c.scales.emplace(layer, viz::layer_scale(*scene_, layer, o)).first;
    return it->second;
  }
  if (!c.have_global) {
    c.global = viz::global_scale(*scene_, o);
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

}  // namespace netlens::ui
