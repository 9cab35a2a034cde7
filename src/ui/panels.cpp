#include "panels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <imgui.h>

#include "colormap.hpp"
#include "model_view.hpp"

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
  c[ImGuiCol_WindowBg] = ImVec4(0.075f, 0.085f, 0.11f, 0.96f);
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
  std::map<int, std::vector<float>> channel_mean, channel_max;
};

Panels::Panels(ImGuiLayer& ui, const Session& s, const viz::Scene& scene)
    : ui_(ui), s_(&s), scene_(&scene), cache_(std::make_unique<Cache>()) {}

Panels::~Panels() {
  for (auto& [l, g] : cache_->grids) ui_.free_texture(g.tex);
}

void Panels::set_scene(const Session& s, const viz::Scene& scene) {
  for (auto& [l, g] : cache_->grids) ui_.free_texture(g.tex);
  s_ = &s;
  scene_ = &scene;
  cache_ = std::make_unique<Cache>();
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
  const bool default_range = settings_.lo_pct == 1.0f && settings_.hi_pct == 99.0f;
  if (!settings_.global_scale) {
    if (default_range) return L[static_cast<size_t>(layer)].scale;  // exactly what the 3D view uses
    auto it = c.scales.find(layer);
    if (it == c.scales.end())
      it = c.scales.emplace(layer, viz::robust_scale(L[static_cast<size_t>(layer)].values, settings_.lo_pct,
                                                     settings_.hi_pct)).first;
    return it->second;
  }
  if (!c.have_global) {
    // One scale over every shown layer: an evenly strided sample of each (at most 4M values in all).
    int64_t total = 0;
    for (const auto& l : L) total += static_cast<int64_t>(l.values.size());
    const int64_t stride = std::max<int64_t>(1, total / (int64_t(1) << 22));
    std::vector<float> sample;
    for (const auto& l : L)
      for (size_t i = 0; i < l.values.size(); i += static_cast<size_t>(stride)) sample.push_back(l.values[i]);
    c.global = viz::robust_scale(sample, settings_.lo_pct, settings_.hi_pct);
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
  if (ui_.font_px() != style_px_) {
    apply_style(ui_.font_px());
    style_px_ = ui_.font_px();
  }
  rects_.clear();
  const float k = ui_.pixel_scale();
  const float W = float(width) / k, H = float(height) / k;
  const float cw = float(column_width(width, height)) / k;
  if (focus_ < 0 && sel_.layer >= 0) focus_ = sel_.layer;

  struct Item {
    const char* name;
    float weight;
    void (Panels::*fn)();
  };
  const std::vector<Item> left = {{"Model", 0.50f, &Panels::model_tree},
                                  {"Input", 0.17f, &Panels::input_chooser},
                                  {"View", 0.33f, &Panels::view_settings}};
  const std::vector<Item> right = {{"Layer", 0.66f, &Panels::layer_inspector},
                                   {"Neuron", 0.34f, &Panels::neuron_inspector}};
  auto column = [&](const std::vector<Item>& items, float x) {
    float total = 0;
    for (const auto& i : items) total += i.weight;
    float y = 0;
    for (const auto& i : items) {
      float h = std::floor(H * i.weight / total);
      if (&i == &items.back()) h = H - y;
      begin_panel(i.name, x, y, cw, h);
      (this->*i.fn)();
      end_panel();
      y += h;
    }
  };
  column(left, 0.0f);
  column(right, W - cw);
}

// ------------------------------------------------------------------------------------------------
void Panels::model_tree() {
  const auto& layers = scene_->layout.layers;
  ImGui::TextColored(kDim, "%zu layers, %lld activations", layers.size(), (long long)scene_->neurons());
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##filter", "search layers (name or op)", filter_, sizeof filter_);
  std::string f = filter_;
  std::transform(f.begin(), f.end(), f.begin(), ::tolower);
  ImGui::BeginChild("tree", ImVec2(0, 0), false);
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& v = layers[i];
    if (!f.empty()) {
      std::string hay = v.tensor.name + " " + v.tensor.op;
      std::transform(hay.begin(), hay.end(), hay.begin(), ::tolower);
      if (hay.find(f) == std::string::npos) continue;
    }
    ImGui::PushID(static_cast<int>(i));
    const bool selected = static_cast<int>(i) == focus_;
    if (ImGui::Selectable("##row", selected, ImGuiSelectableFlags_SpanAllColumns)) {
      focus_ = static_cast<int>(i);
      if (actions.focus_layer) actions.focus_layer(focus_);
    }
    if (selected && scroll_tree_) {
      ImGui::SetScrollHereY(0.3f);
      scroll_tree_ = false;
    }
    ImGui::SameLine(0, 0);
    ImGui::TextColored(kAccent, "%-10s", v.tensor.op.c_str());
    ImGui::SameLine();
    ImGui::TextUnformatted(v.tensor.name.c_str());
    ImGui::SameLine();
    ImGui::TextColored(kDim, "%s", dims_text(v.dims).c_str());
    ImGui::PopID();
  }
  ImGui::EndChild();
}

void Panels::input_chooser() {
  ImGui::TextColored(kDim, "input");
  ImGui::SameLine();
  ImGui::TextUnformatted(input_path_.empty() ? "(none)" : std::filesystem::path(input_path_).filename().c_str());
  const bool live = static_cast<bool>(actions.load_input);
  ImGui::BeginDisabled(!live);
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("Load").x - 3 * ImGui::GetStyle().ItemSpacing.x);
  const bool enter = ImGui::InputText("##path", path_buf_, sizeof path_buf_, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("Load") || enter) && live && path_buf_[0]) actions.load_input(path_buf_);
  ImGui::EndDisabled();
  ImGui::BeginDisabled(!actions.step_input);
  if (ImGui::Button("< Previous") && actions.step_input) actions.step_input(-1);
  ImGui::SameLine();
  if (ImGui::Button("Next >") && actions.step_input) actions.step_input(+1);
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextColored(kDim, live ? "or drop a file" : "(fixed input)");
  if (!status_.empty()) ImGui::TextColored(kAccent, "%s", status_.c_str());
}

void Panels::view_settings() {
  ViewSettings v = settings_;
  ImGui::TextColored(kDim, "colour scale");
  int mode = v.global_scale ? 1 : 0;
  ImGui::RadioButton("per layer", &mode, 0);
  ImGui::SameLine();
  ImGui::RadioButton("global", &mode, 1);
  v.global_scale = mode == 1;
  ImGui::SetNextItemWidth(-1);
  ImGui::DragFloatRange2("##pct", &v.lo_pct, &v.hi_pct, 0.1f, 0.0f, 100.0f, "p%.1f", "p%.1f",
                         ImGuiSliderFlags_AlwaysClamp);
  if (v.hi_pct <= v.lo_pct) v.hi_pct = std::min(100.0f, v.lo_pct + 0.1f);
  ImGui::TextColored(kDim, "far layers show");
  int lod = v.lod_mean ? 1 : 0;
  ImGui::RadioButton("max |v|", &lod, 0);
  ImGui::SameLine();
  ImGui::RadioButton("mean", &lod, 1);
  v.lod_mean = lod == 1;
  // The maps: magma for non-negative tensors, a diverging map for signed ones (chosen per tensor).
  ImGui::TextColored(kDim, "maps");
  const float bw = ImGui::GetContentRegionAvail().x;
  for (auto kind : {viz::ColorMapKind::Sequential, viz::ColorMapKind::Diverging}) {
    viz::ColorScale s{kind, kind == viz::ColorMapKind::Sequential ? 0.0f : -1.0f, 1.0f};
    colour_bar(s, bw);
  }
  if (!(v == settings_)) {
    settings_ = v;
    if (actions.settings_changed) actions.settings_changed(v);
  }
  ImGui::BeginDisabled(!actions.screenshot);
  if (ImGui::Button("Screenshot (P)") && actions.screenshot) actions.screenshot();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextColored(kDim, "H hides panels");
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
  ImGui::TextColored(kDim, "sort channels");
  ImGui::SameLine();
  int o = static_cast<int>(order_);
  ImGui::RadioButton("index", &o, 0);
  ImGui::SameLine();
  ImGui::RadioButton("mean", &o, 1);
  ImGui::SameLine();
  ImGui::RadioButton("max", &o, 2);
  order_ = static_cast<ChannelOrder>(o);
  const float avail_w = ImGui::GetContentRegionAvail().x;
  colour_bar(scale, avail_w);

  // Sort keys: the channel means/maxima of the layer's values.
  Cache& c = *cache_;
  if (order_ != ChannelOrder::Index && !c.channel_mean.count(focus_)) {
    const auto& d = v.dims;
    std::vector<float> mean(static_cast<size_t>(d.C), 0.0f), mx(static_cast<size_t>(d.C), -INFINITY);
    const int64_t hw = d.H * d.W;
    for (int64_t ch = 0; ch < d.C; ++ch) {
      double s = 0;
      int64_t n = 0;
      for (int64_t i = ch * hw; i < std::min((ch + 1) * hw, d.count); ++i, ++n) {
        float x = sl.values[static_cast<size_t>(i)];
        s += x;
        mx[static_cast<size_t>(ch)] = std::max(mx[static_cast<size_t>(ch)], x);
      }
      mean[static_cast<size_t>(ch)] = n ? float(s / double(n)) : NAN;
    }
    c.channel_mean[focus_] = std::move(mean);
    c.channel_max[focus_] = std::move(mx);
  }
  const float avail_h = ImGui::GetContentRegionAvail().y - ImGui::GetTextLineHeightWithSpacing();
  const float aspect = std::max(0.2f, avail_w / std::max(avail_h, 1.0f));
  auto it = c.grids.find(focus_);
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
  if (s >= 1.0f) s = std::floor(s);
  ImVec2 size(float(g.width) * s, float(g.height) * s);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ui_.image(it->second.tex, size);
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
  ImGui::TextUnformatted(v.tensor.name.c_str());
  ImGui::Text("channel %lld, row %lld, column %lld", (long long)c.c, (long long)c.y, (long long)c.x);
  std::vector<int64_t> ti = viz::tensor_index(v, sel_.flat);
  std::string tis;
  for (size_t i = 0; i < ti.size(); ++i) tis += (i ? ", " : "") + std::to_string(ti[i]);
  ImGui::TextColored(kDim, "tensor index [%s]", tis.c_str());
  ImGui::TextColored(kCyan, "value %.6g", double(scene_->value(sel_.layer, sel_.flat)));
  // Receptive field: its extent in the earliest shown layer it reaches (the input, for a CNN).
  int first = -1;
  for (const auto& [l, r] : sel_.regions)
    if (l != sel_.layer && (first < 0 || l < first)) first = l;
  if (first >= 0) {
    for (const auto& [l, r] : sel_.regions) {
      if (l != first) continue;
      const auto& fv = layers[static_cast<size_t>(l)];
      if (r.flat)
        ImGui::TextColored(kCyan, "receptive field %lld values of %s", (long long)(r.hi - r.lo), fv.tensor.name.c_str());
      else
        ImGui::TextColored(kCyan, "receptive field %lld x %lld (x %lld ch) in %s", (long long)(r.y1 - r.y0),
                           (long long)(r.x1 - r.x0), (long long)(r.c1 - r.c0), fv.tensor.name.c_str());
      break;
    }
    ImGui::TextColored(kDim, "reaches %zu shown layers", sel_.regions.size());
  }
  if (!sel_.fanout_count.empty()) {
    const auto& [fl, fn] = sel_.fanout_count.front();
    ImGui::TextColored(kOrange, "fan-out %s in %s", fn >= 0 ? std::to_string(fn).c_str() : "(box)",
                       layers[static_cast<size_t>(fl)].tensor.name.c_str());
  }
}

void Panels::predictions() {}
void Panels::weights() {}
void Panels::activation_fn() {}
void Panels::attention() {}

}  // namespace netlens::ui
