#include "netlens/ui/timeline_panel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <imgui.h>

#include "netlens/viz/colormap.hpp"
#include "netlens/core.hpp"

namespace netlens::ui {
namespace {

const ImVec4 kDim(0.60f, 0.66f, 0.74f, 1.0f);
const char* const kFigureNames[kTimelineFigures] = {"weight_change", "update_ratio", "grad_norm", "dead_share"};
const char* const kFigureLabels[kTimelineFigures] = {"weight change |dW|", "update/weight ratio", "gradient norm |dL/dW|",
                                                     "dead ReLU share"};

ImU32 col(glm::vec3 c, float a = 1.0f) { return ImGui::ColorConvertFloat4ToU32(ImVec4(c.x, c.y, c.z, a)); }

bool any_finite(const std::vector<float>& v) {
  return std::any_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// A curve as PlotLines draws it (NaN → the previous finite value, so a missing first point does not
// bend the scale), with the shown checkpoint marked by a vertical line and a dot.
void curve(const char* label, const std::vector<float>& v, size_t current, ImU32 colour) {
  if (!any_finite(v)) return;
  std::vector<float> y(v.size());
  float last = 0, lo = INFINITY, hi = -INFINITY;
  for (float x : v)
    if (std::isfinite(x)) { last = x; break; }
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) last = v[i];
    y[i] = last;
    lo = std::min(lo, last);
    hi = std::max(hi, last);
  }
  if (!(hi > lo)) hi = lo + 1.0f;
  char overlay[96];
  const float now = current < v.size() ? v[current] : NAN;
  std::snprintf(overlay, sizeof overlay, "%s %s", label, std::isfinite(now) ? viz::format_value(now).c_str() : "-");
  ImGui::PushStyleColor(ImGuiCol_PlotLines, colour);
  const float h = std::round(ImGui::GetFontSize() * 2.6f);
  ImGui::PlotLines((std::string("##") + label).c_str(), y.data(), static_cast<int>(y.size()), 0, overlay, lo, hi,
                   ImVec2(std::max(8.0f, ImGui::GetContentRegionAvail().x), h));
  ImGui::PopStyleColor();
  const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
  if (y.size() < 2 || current >= y.size()) return;
  // PlotLines puts point i at i/(n-1) of the frame's inner width (FramePadding inside).
  const ImGuiStyle& st = ImGui::GetStyle();
  const float x0 = a.x + st.FramePadding.x, x1 = b.x - st.FramePadding.x;
  const float y0 = a.y + st.FramePadding.y, y1 = b.y - st.FramePadding.y;
  const float x = x0 + (x1 - x0) * float(current) / float(y.size() - 1);
  const float py = y1 - (y1 - y0) * (y[current] - lo) / (hi - lo);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddLine(ImVec2(x, a.y), ImVec2(x, b.y), IM_COL32(255, 255, 255, 150), 1.0f);
  dl->AddCircleFilled(ImVec2(x, py), std::max(2.5f, ImGui::GetFontSize() * 0.22f), colour);
}

}  // namespace

TimelineFigure parse_timeline_figure(const std::string& text, const std::string& flag) {
  for (int i = 0; i < kTimelineFigures; ++i)
    if (text == kFigureNames[i]) return static_cast<TimelineFigure>(i);
  throw Error(ErrorKind::Usage, flag + " expects weight_change, update_ratio, grad_norm or dead_share, got '" + text + "'");
}

const char* timeline_figure_name(TimelineFigure f) { return kFigureNames[static_cast<int>(f)]; }

TimelinePanel::TimelinePanel(TimelineModel m, size_t current, TimelineFigure figure)
    : m_(std::move(m)), current_(current), figure_(figure) {}

std::optional<size_t> TimelinePanel::take_request() {
  auto r = request_;
  request_.reset();
  return r;
}

void TimelinePanel::request(size_t i) {
  if (m_.checkpoints.empty()) return;
  i = std::min(i, m_.checkpoints.size() - 1);
  if (i != current_) request_ = i;
}

void TimelinePanel::step(int delta) {
  const long n = static_cast<long>(m_.checkpoints.size());
  const long base = request_ ? static_cast<long>(*request_) : static_cast<long>(current_);
  request(static_cast<size_t>(std::clamp(base + delta, 0L, std::max(0L, n - 1))));
}

float TimelinePanel::figure_max() const {
  float mx = 0;
  const int f = static_cast<int>(figure_);
  if (f < static_cast<int>(m_.figures.size()))
    for (const auto& ck : m_.figures[static_cast<size_t>(f)])
      for (float v : ck)
        if (std::isfinite(v)) mx = std::max(mx, v);
  return mx;
}

void TimelinePanel::draw_body() {
  const size_t n = m_.checkpoints.size();
  if (n == 0) return;
  // Playback: one checkpoint per 0.6 s, stopping at the last.
  if (playing_ && ImGui::GetTime() - last_step_ > 0.6) {
    last_step_ = ImGui::GetTime();
    if (current_ + 1 >= n) playing_ = false;
    else step(+1);
  }
  ImGui::Text("checkpoint %zu / %zu", current_ + 1, n);
  ImGui::SameLine();
  ImGui::TextColored(ImVec4(0.55f, 0.85f, 1.0f, 1.0f), "%s", m_.checkpoints[current_].c_str());
  // The scrubber: a wide, tall slider so it reads as the panel's main control.
  int pos = static_cast<int>(current_);
  ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(ImGui::GetStyle().FramePadding.x, ImGui::GetFontSize() * 0.45f));
  ImGui::PushStyleVar(ImGuiStyleVar_GrabMinSize, ImGui::GetFontSize() * 1.2f);
  ImGui::PushStyleColor(ImGuiCol_SliderGrab, ImVec4(0.35f, 0.75f, 1.0f, 1.0f));
  ImGui::PushStyleColor(ImGuiCol_SliderGrabActive, ImVec4(0.6f, 0.88f, 1.0f, 1.0f));
  ImGui::SetNextItemWidth(-1);
  std::string shown_name;  // the slider's text: the checkpoint's name ('%' doubled: it is a format)
  for (char c : m_.checkpoints[current_]) shown_name += c == '%' ? std::string("%%") : std::string(1, c);
  if (ImGui::SliderInt("##scrub", &pos, 0, static_cast<int>(n) - 1, shown_name.c_str(), ImGuiSliderFlags_AlwaysClamp))
    request(static_cast<size_t>(pos));
  scrubber_ = ImVec4(ImGui::GetItemRectMin().x, ImGui::GetItemRectMin().y, ImGui::GetItemRectMax().x, ImGui::GetItemRectMax().y);
  ImGui::PopStyleColor(2);
  ImGui::PopStyleVar(2);
  if (ImGui::Button("<")) step(-1);
  ImGui::SameLine();
  if (ImGui::Button(playing_ ? "pause" : "play")) {
    playing_ = !playing_;
    last_step_ = ImGui::GetTime();
    if (playing_ && current_ + 1 >= n) request(0);  // play again from the start
  }
  ImGui::SameLine();
  if (ImGui::Button(">")) step(+1);
  ImGui::SameLine();
  ImGui::TextColored(kDim, "Left/Right");

  // The bars' figure.
  int f = static_cast<int>(figure_);
  ImGui::TextColored(kDim, "bars");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-1);
  if (ImGui::Combo("##figure", &f, kFigureLabels, kTimelineFigures)) figure_ = static_cast<TimelineFigure>(f);
  {
    // The bars' scale: dark (0) to bright (the largest value of the series).
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x * 0.6f, h = std::round(ImGui::GetFontSize() * 0.6f);
    for (int i = 0; i < 16; ++i) {
      const float x0 = p.x + w * float(i) / 16.0f, x1 = p.x + w * float(i + 1) / 16.0f;
      dl->AddRectFilledMultiColor(ImVec2(x0, p.y), ImVec2(x1, p.y + h),
                                  col(viz::sample_colormap(viz::ColorMapKind::Sequential, float(i) / 16.0f)),
                                  col(viz::sample_colormap(viz::ColorMapKind::Sequential, float(i + 1) / 16.0f)),
                                  col(viz::sample_colormap(viz::ColorMapKind::Sequential, float(i + 1) / 16.0f)),
                                  col(viz::sample_colormap(viz::ColorMapKind::Sequential, float(i) / 16.0f)));
    }
    ImGui::Dummy(ImVec2(w, h));
    ImGui::SameLine();
    ImGui::TextColored(kDim, "0 .. %s", viz::format_value(figure_max()).c_str());
  }

  // The inspected layer's figure over the checkpoints (a sparkline with the checkpoint shown marked).
  if (focused && f < static_cast<int>(m_.figures.size())) {
    const int l = focused();
    std::vector<float> v;
    for (const auto& ck : m_.figures[static_cast<size_t>(f)])
      v.push_back(l >= 0 && static_cast<size_t>(l) < ck.size() ? ck[static_cast<size_t>(l)] : NAN);
    if (any_finite(v)) curve("inspected layer", v, current_, IM_COL32(200, 160, 255, 255));
    else ImGui::TextColored(kDim, "inspected layer: no %s", kFigureNames[f]);
  }

  // Curves: training/validation loss and accuracy where measured, else the probe's.
  ImGui::Separator();
  const bool split = any_finite(m_.train_loss) || any_finite(m_.val_loss);
  if (split) {
    curve("train loss", m_.train_loss, current_, IM_COL32(110, 190, 255, 255));
    curve("val loss", m_.val_loss, current_, IM_COL32(255, 150, 90, 255));
    curve("train acc", m_.train_acc, current_, IM_COL32(110, 190, 255, 255));
    curve("val acc", m_.val_acc, current_, IM_COL32(255, 150, 90, 255));
  } else {
    curve("probe loss", m_.probe_loss, current_, IM_COL32(110, 190, 255, 255));
    curve("probe acc", m_.probe_acc, current_, IM_COL32(255, 150, 90, 255));
  }
  if (!split && !any_finite(m_.probe_loss)) ImGui::TextColored(kDim, "no loss: give --label or --eval");

  // Findings: a click jumps to the first checkpoint concerned and focuses the first layer.
  ImGui::Separator();
  finding_rows_.clear();
  if (m_.findings.empty()) ImGui::TextColored(kDim, "no findings (rules: docs/timeline.md)");
  for (size_t i = 0; i < m_.findings.size(); ++i) {
    const TimelineFindingRow& fr = m_.findings[i];
    std::string where;
    for (size_t k = 0; k < fr.layers.size() && k < 2; ++k) where += (k ? ", " : "") + (fr.layers[k].empty() ? "model" : fr.layers[k]);
    if (fr.layers.size() > 2) where += " +" + std::to_string(fr.layers.size() - 2);
    std::string when = fr.checkpoints.empty() ? "" : fr.checkpoints.front();
    if (fr.checkpoints.size() > 1) when += ".." + fr.checkpoints.back();
    const std::string text = fr.kind + "  " + where + "  @" + when + "##f" + std::to_string(i);
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.78f, 0.45f, 1.0f));
    const bool clicked = ImGui::Selectable(text.c_str(), false);
    finding_rows_.emplace_back(ImGui::GetItemRectMin().x, ImGui::GetItemRectMin().y, ImGui::GetItemRectMax().x,
                               ImGui::GetItemRectMax().y);
    ImGui::PopStyleColor();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", fr.message.c_str());
    if (clicked) {
      if (fr.first_checkpoint >= 0) request(static_cast<size_t>(fr.first_checkpoint));
      if (fr.first_layer >= 0 && focus_layer) focus_layer(fr.first_layer);
    }
  }
}

std::optional<TimelinePanel::Bar> TimelinePanel::bar(const viz::Layout& layout, const viz::Camera& cam, int width, int height,
                                                     int layer) const {
  const int f = static_cast<int>(figure_);
  if (f >= static_cast<int>(m_.figures.size()) || current_ >= m_.figures[static_cast<size_t>(f)].size()) return std::nullopt;
  const auto& vals = m_.figures[static_cast<size_t>(f)][current_];
  if (layer < 0 || static_cast<size_t>(layer) >= vals.size() || static_cast<size_t>(layer) >= layout.layers.size())
    return std::nullopt;
  const float v = vals[static_cast<size_t>(layer)];
  if (!std::isfinite(v)) return std::nullopt;
  const viz::LayerVolume& L = layout.layers[static_cast<size_t>(layer)];
  const glm::mat4 vp = viz::camera_view_proj(cam, float(width) / float(height), viz::scene_radius(layout));
  // Under the volume, as the label sits over it.
  const auto p = viz::project_to_pixel(vp, glm::vec3(L.center().x, L.origin.y - 0.04f * L.size.y - 0.5f, L.center().z), width, height);
  if (!p || p->x < 0 || p->y < 0 || p->x > float(width) || p->y > float(height)) return std::nullopt;
  const float ui = std::clamp(float(height) / 1000.0f, 0.6f, 4.0f);
  const float mx = figure_max();
  Bar b;
  b.value = v;
  b.t = mx > 0 ? std::clamp(v / mx, 0.0f, 1.0f) : 0.0f;
  // A floor of 0.08 keeps a small value's colour visible; the track shows the full scale.
  const glm::vec3 c = viz::sample_colormap(viz::ColorMapKind::Sequential, 0.08f + 0.92f * b.t);
  b.r = c.x, b.g = c.y, b.b = c.z;
  b.w = std::round(18.0f * ui);
  const float full = std::round(80.0f * ui);
  b.h = std::max(std::round(3.0f * ui), std::round(full * b.t));
  b.x = std::round(p->x - 0.5f * b.w);
  b.y = std::round(p->y + full - b.h);  // grows upward from the track's bottom
  return b;
}

void TimelinePanel::draw_bars(const viz::Layout& layout, const viz::Camera& cam, int width, int height, float k, float x0,
                              float x1) const {
  ImDrawList* dl = ImGui::GetBackgroundDrawList();
  const float ui = std::clamp(float(height) / 1000.0f, 0.6f, 4.0f);
  const float full = std::round(80.0f * ui);
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    auto b = bar(layout, cam, width, height, static_cast<int>(i));
    if (!b || b->x < x0 || b->x + b->w > x1) continue;
    const float top = b->y + b->h - full;
    // Track (the full scale), then the value, then a thin outline so dark values read on dark ground.
    dl->AddRectFilled(ImVec2((b->x - 2) / k, (top - 2) / k), ImVec2((b->x + b->w + 2) / k, (b->y + b->h + 2) / k),
                      IM_COL32(20, 22, 28, 220));
    dl->AddRectFilled(ImVec2(b->x / k, b->y / k), ImVec2((b->x + b->w) / k, (b->y + b->h) / k), col({b->r, b->g, b->b}));
    dl->AddRect(ImVec2((b->x - 2) / k, (top - 2) / k), ImVec2((b->x + b->w + 2) / k, (b->y + b->h + 2) / k),
                IM_COL32(140, 170, 200, 160));
  }
}

}  // namespace netlens::ui
