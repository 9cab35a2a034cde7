// `view MODEL`: the View panel's value modes (view_values.hpp).
#include "view_values.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

#include "netlens/explain.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/ui/imgui_layer.hpp"
#include "netlens/app/view.hpp"

#include <imgui.h>

namespace netlens::cli {
namespace {
constexpr int kKeyG = 71;  // GLFW_KEY_G: the viewer hands keys over as GLFW codes
// Flagged layers of the gradient flow (vanishing/exploding): the flow plot's and the 3D strip's warning colour.
const ImVec4 kFlowWarn(1.0f, 0.30f, 0.85f, 1.0f);
}  // namespace

std::string ViewValues::subtitle(viz::ValueMode m, const std::string& description) {
  return std::string(m == viz::ValueMode::Gradient ? "gradients" : "gradient x activation") + " of the " + description;
}

void ViewValues::install(app::ViewerOptions& v) {
  v.on_view = [this](app::View& view) {
    ui::Panels* p = view.panels();
    if (!p) return;
    p->actions.value_mode = [this](viz::ValueMode m, const std::string& target) { pending_ = std::make_pair(m, target); };
  };
  v.before_frame = [this](app::View& view, const viz::Camera&) { return before_frame(view); };
  v.on_key = [this](int key) {
    if (key != kKeyG) return false;
    const viz::ValueMode next = want_ == viz::ValueMode::Activation ? viz::ValueMode::Gradient
                                : want_ == viz::ValueMode::Gradient ? viz::ValueMode::Attribution
                                                                    : viz::ValueMode::Activation;
    pending_ = std::make_pair(next, target_);
    return true;
  };
}

bool ViewValues::before_frame(app::View& v) {
  {
    // A neuron clicked in 3D while the Explain panel waits for a pick becomes the target.
    const auto& sel = v.selection();
    const std::pair<int, int64_t> now{sel.layer, sel.flat};
    if (now != last_sel_ && sel.layer >= 0 && panel_.pick_mode()) {
      const viz::VizTensor& t = v.scene().layout.layers[static_cast<size_t>(sel.layer)].tensor;
      if (panel_.on_pick(t.name, t.shape, sel.flat))
        pending_ = std::make_pair(want_ == viz::ValueMode::Activation ? viz::ValueMode::Gradient : want_, panel_.target_text());
    }
    last_sel_ = now;
  }
  if (pipe_ && v.values() != viz::ValueMode::Activation && pipe_->has_result()) {
    // A new run is about to be shown (taken after this call): it holds activations.
    apply(v, viz::ValueMode::Activation, "");
    reapply_ = true;
    return true;
  }
  if (reapply_) {
    if (pipe_ && (pipe_->busy() || pipe_->has_result())) return true;  // not on screen yet
    reapply_ = false;
    if (!pending_) pending_ = std::make_pair(want_, target_);
  }
  if (!pending_) return false;
  const auto [m, target] = *pending_;
  pending_.reset();
  try {
    apply(v, m, target);
    want_ = m;
    target_ = target;
  } catch (const Error& e) {
    // A bad target (say, class:1000 of a 10-class model): one line; the view stays as it was.
    std::fprintf(stderr, "netlens view: %s\n", e.what());
    if (v.panels()) v.panels()->set_status(e.what());
  }
  return false;
}

void ViewValues::apply(app::View& v, viz::ValueMode m, const std::string& target) {
  std::string what;
  std::optional<explain::Heatmap> heat;
  if (m != viz::ValueMode::Activation) {
    // The Explain panel's method on the target, on the run shown, while no run is in flight: one
    // backward pass (saliency, gradient x input, the CAMs) or explain's runs (SmoothGrad, IG,
    // occlusion), ending with the target's gradients (ExplainPanel::compute).
    if (!method_chosen_) panel_.set_method(m == viz::ValueMode::Attribution ? explain::Method::GradXInput : explain::Method::Saliency);
    auto run = [&] {
      const explain::Target t = explain::resolve_target(s_, explain::parse_target(target), labels_);
      std::optional<explain::Explanation> e;
      try {
        e = panel_.compute(s_, target, labels_);
      } catch (const Error& err) {
        // No image input (or no spatial layer for a CAM): the gradients alone, the reason in the panel.
        s_.backward(t.seeds(s_));
        ex_ = {};
        ex_.error = err.what();
      }
      if (e) {
        explain_target(t, &*e);
        heat = e->heat;
      }
      ex_.what = t.description;
      what = t.description;
    };
    // On the inference thread (the one that prepared the session: oneDNN's and CUDA's state are per thread).
    if (pipe_) pipe_->call([&](Session&) { run(); });
    else run();
  }
  v.set_input_heat(heat);
  v.set_values(m);
  show_explain(v, m != viz::ValueMode::Activation);
  if (m != viz::ValueMode::Activation) v.renderer().set_subtitle(subtitle(m, what));
  else v.renderer().set_subtitle(v.spec().subtitle);
  if (v.panels()) v.panels()->set_value_mode(m, m == viz::ValueMode::Activation ? "" : subtitle(m, what));
  std::fprintf(stderr, "netlens view: showing %s\n", m == viz::ValueMode::Activation ? "activations" : subtitle(m, what).c_str());
}

void ViewValues::explain_target(const explain::Target& t, const explain::Explanation* e) {  // after compute()
  ex_ = {};
  ex_.what = t.description;
  ex_.method = explain::method_name(panel_.method());
  explain::InputLayout l;
  try {
    l = explain::input_layout(s_);
  } catch (const Error& e) {
    ex_.error = e.what();  // not an image model: no heat over the input
    return;
  }
  ex_.width = static_cast<int>(l.width);
  ex_.height = static_cast<int>(l.height);
  // The input as a picture: each channel min-max scaled (display only; the model's own scale).
  const Tensor x = s_.activations().fetch(l.name).cast(DType::Float32);
  const std::vector<float> xv = x.to_f32_vector();
  std::vector<uint8_t> rgb(static_cast<size_t>(l.width * l.height * 3));
  for (int64_t c = 0; c < 3; ++c) {
    const int64_t cc = std::min(c, l.channels - 1);
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t y = 0; y < l.height; ++y)
      for (int64_t xx = 0; xx < l.width; ++xx) {
        const float v = xv[static_cast<size_t>(l.offset(cc, y, xx))];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    for (int64_t y = 0; y < l.height; ++y)
      for (int64_t xx = 0; xx < l.width; ++xx) {
        const float v = xv[static_cast<size_t>(l.offset(cc, y, xx))];
        rgb[static_cast<size_t>((y * l.width + xx) * 3 + c)] = static_cast<uint8_t>(hi > lo ? std::lround(255.0f * (v - lo) / (hi - lo)) : 128);
      }
  }
  auto rgba = [&](const explain::Heatmap& h) {
    const std::vector<uint8_t> o = explain::overlay(h, rgb);
    std::vector<uint8_t> out(o.size() / 3 * 4, 255);
    for (size_t i = 0; i < o.size() / 3; ++i)
      for (int k = 0; k < 3; ++k) out[i * 4 + static_cast<size_t>(k)] = o[i * 3 + static_cast<size_t>(k)];
    return out;
  };
  // The chosen method's heat (the same map the input slab carries in 3D).
  if (e) ex_.heat = rgba(e->heat);
  // The gradient flow along the network, input first (the plot reads left to right as the layout).
  const explain::GradientFlow flow = explain::gradient_flow(s_, "");
  for (auto it = flow.entries.rbegin(); it != flow.entries.rend(); ++it) {
    // A zero norm (a dead layer, which the rule flags) is a bar of height 0: kept, so its warning
    // column shows where it is.
    ex_.flow_log10.push_back(it->grad_norm > 0 ? static_cast<float>(std::log10(it->grad_norm)) : NAN);
    ex_.flow_flag.push_back(it->flag.empty() ? 0 : 1);
    if (!it->flag.empty()) ex_.flagged.push_back(it->tensor + " (" + it->flag + ")");
  }
  // Heights above the smallest non-zero norm (the plot grows from 0; raw log10 norms are < 0), the
  // smallest kept visible at 5% of the range.
  float lo = INFINITY, hi = -INFINITY;
  for (float f : ex_.flow_log10)
    if (std::isfinite(f)) lo = std::min(lo, f), hi = std::max(hi, f);
  const float base = std::isfinite(lo) ? lo - 0.05f * std::max(hi - lo, 1e-3f) : 0.0f;
  for (float& f : ex_.flow_log10) f = std::isfinite(f) ? f - base : 0.0f;
  // The CAM layer's channels by importance (mean gradient x activation), from this target's gradients.
  if (e && explain::is_cam(e->method)) {
    ex_.layer = e->layer.tensor;
    for (const explain::ChannelScore& c : e->channels) {
      if (ex_.channels.size() >= 8) break;
      ex_.channels.emplace_back(c.channel, c.importance);
    }
  }
}

void ViewValues::show_explain(app::View& v, bool shown) {
  ui::Panels* p = v.panels();
  ui::ImGuiLayer* gui = v.gui();
  if (!p || !gui) return;
  if (!shown) {
    p->set_extra({});
    return;
  }
  if (!ex_.heat.empty()) tex_heat_ = gui->upload_texture(ex_.width, ex_.height, ex_.heat, tex_heat_);
  ui::Panels::ExtraPanel e;
  e.name = "Explain";
  e.body = [this, &v] { draw_explain(v); };
  p->set_extra(std::move(e));
}

void ViewValues::draw_explain(app::View& v) {
  const ImVec4 dim(0.60f, 0.66f, 0.74f, 1.0f);
  const explain::Method before = panel_.method();
  if (panel_.draw_controls(labels_)) {
    if (panel_.method() != before) method_chosen_ = true;
    // A new method or target: recompute in the gradient mode shown (or gradients, from activations).
    pending_ = std::make_pair(want_ == viz::ValueMode::Activation ? viz::ValueMode::Gradient : want_, panel_.target_text());
  }
  ImGui::TextWrapped("%s", ex_.what.c_str());
  if (tex_heat_ >= 0 && !ex_.heat.empty() && ex_.width > 0) {
    // The input under the heat, as wide as the panel and at most 45% of its height (the plot and the
    // channels below stay in view), aspect kept; texels are magnified crisp, so 8x8 digits read too.
    const float aspect = float(ex_.width) / float(ex_.height);
    const float w = std::min(ImGui::GetContentRegionAvail().x, 0.45f * ImGui::GetContentRegionAvail().y * aspect);
    v.gui()->image(tex_heat_, ImVec2(w, w * float(ex_.height) / float(ex_.width)));
  }
  if (!ex_.flow_log10.empty()) {
    // The flow plot drawn bar by bar (ImGui's histogram has one colour): flagged bars in the warning
    // colour, with a legend entry for it.
    const ImU32 normal = ImGui::GetColorU32(ImGuiCol_PlotHistogram), warn = ImGui::GetColorU32(kFlowWarn);
    ImGui::TextColored(dim, "gradient flow, input to output (log |grad| per layer)");
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    const ImVec2 size(ImGui::GetContentRegionAvail().x, 3.0f * ImGui::GetFrameHeight());
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), ImGui::GetColorU32(ImGuiCol_FrameBg));
    const float top = std::max(*std::max_element(ex_.flow_log10.begin(), ex_.flow_log10.end()), 1e-6f);
    const size_t n = ex_.flow_log10.size();
    const float bw = size.x / float(n);
    for (size_t i = 0; i < n; ++i) {
      const float h = top > 0 ? size.y * ex_.flow_log10[i] / top : 0.0f;
      const bool flag = i < ex_.flow_flag.size() && ex_.flow_flag[i];
      // A flagged bar at least a few pixels wide and full height behind it, so one layer in hundreds shows.
      if (flag) dl->AddRectFilled(ImVec2(p0.x + bw * float(i) - 1, p0.y), ImVec2(p0.x + bw * float(i + 1) + 1, p0.y + size.y), warn & 0x60FFFFFFu);
      dl->AddRectFilled(ImVec2(p0.x + bw * float(i), p0.y + size.y - h), ImVec2(p0.x + bw * float(i + 1) - (bw > 3 ? 1 : 0), p0.y + size.y),
                        flag ? warn : normal);
    }
    ImGui::Dummy(size);
    if (ex_.flagged.empty()) {
      ImGui::TextColored(dim, "no layer flagged (vanishing < 1e-3, exploding > 1e3 per step)");
    } else {
      const float sq = ImGui::GetTextLineHeight() * 0.8f;
      const ImVec2 c = ImGui::GetCursorScreenPos();
      dl->AddRectFilled(ImVec2(c.x, c.y + 0.1f * sq), ImVec2(c.x + sq, c.y + 1.1f * sq), warn);
      ImGui::Dummy(ImVec2(sq, sq));
      ImGui::SameLine();
      ImGui::TextColored(kFlowWarn, "flagged: %zu layer(s) (step ratio < 1e-3 or > 1e3)", ex_.flagged.size());
      for (size_t i = 0; i < ex_.flagged.size() && i < 3; ++i) ImGui::BulletText("%s", ex_.flagged[i].c_str());
    }
  }
  if (!ex_.channels.empty()) {
    ImGui::TextColored(dim, "channels of %s by importance", ex_.layer.c_str());
    const double top = std::max(1e-30, std::fabs(ex_.channels.front().second));
    for (const auto& [c, imp] : ex_.channels) {
      if (ImGui::GetContentRegionAvail().y < ImGui::GetFrameHeight()) break;  // what fits, best first
      char label[48];
      std::snprintf(label, sizeof label, "ch %lld", static_cast<long long>(c));
      ImGui::Text("%-8s", label);
      ImGui::SameLine();
      const float frac = static_cast<float>(std::clamp(std::fabs(imp) / top, 0.0, 1.0));
      char val[32];
      std::snprintf(val, sizeof val, "%.3g", imp);
      ImGui::PushStyleColor(ImGuiCol_PlotHistogram, imp >= 0 ? ImVec4(0.95f, 0.55f, 0.25f, 1.0f) : ImVec4(0.35f, 0.65f, 1.0f, 1.0f));
      ImGui::ProgressBar(frac, ImVec2(-1, 0), val);
      ImGui::PopStyleColor();
    }
  }
  if (!ex_.error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, dim);
    ImGui::TextWrapped("no %s heat over the input: %s", ex_.method.empty() ? explain::method_name(panel_.method()).c_str() : ex_.method.c_str(),
                       ex_.error.c_str());
    ImGui::PopStyleColor();
  }
}

}  // namespace netlens::cli
