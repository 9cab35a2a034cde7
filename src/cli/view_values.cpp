// `view MODEL`: the View panel's value modes (view_values.hpp).
#include "view_values.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

#include "netlens/explain.hpp"
#include "panels.hpp"
#include "pipeline.hpp"
#include "imgui_layer.hpp"
#include "view.hpp"

#include <imgui.h>

namespace netlens::cli {
namespace {
constexpr int kKeyG = 71;  // GLFW_KEY_G: the viewer hands keys over as GLFW codes
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
  if (m != viz::ValueMode::Activation) {
    // The backward pass of the target on the run shown, while no run is in flight.
    auto run = [&] {
      const explain::Target t = explain::resolve_target(s_, explain::parse_target(target), labels_);
      s_.backward(t.seeds(s_));
      // From this backward pass only: a forward run here would use kernels the pipeline's thread made.
      explain_target(t);
      what = t.description;
    };
    if (pipe_) pipe_->with_session([&](const Session&) { run(); });
    else run();
  }
  v.set_values(m);
  show_explain(v, m != viz::ValueMode::Activation);
  if (m != viz::ValueMode::Activation) v.renderer().set_subtitle(subtitle(m, what));
  else v.renderer().set_subtitle(v.spec().subtitle);
  if (v.panels()) v.panels()->set_value_mode(m, m == viz::ValueMode::Activation ? "" : subtitle(m, what));
  std::fprintf(stderr, "netlens view: showing %s\n", m == viz::ValueMode::Activation ? "activations" : subtitle(m, what).c_str());
}

void ViewValues::explain_target(const explain::Target& t) {  // after s_.backward(t.seeds)
  ex_ = {};
  ex_.what = t.description;
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
  // Saliency by explain's rule (max over channels of |dS/dx| per pixel), from the input's gradient.
  const explain::Heatmap sal = explain::input_heat(s_);
  ex_.saliency = rgba(sal);
  // The gradient flow along the network, input first (the plot reads left to right as the layout).
  const explain::GradientFlow flow = explain::gradient_flow(s_, "");
  for (auto it = flow.entries.rbegin(); it != flow.entries.rend(); ++it) {
    if (it->grad_norm > 0) ex_.flow_log10.push_back(static_cast<float>(std::log10(it->grad_norm)));
    if (!it->flag.empty()) ex_.flagged.push_back(it->tensor + " (" + it->flag + ")");
  }
  // Heights above the smallest norm (ImGui's histogram grows from 0; raw log10 norms are < 0), the
  // smallest kept visible at 5% of the range.
  if (!ex_.flow_log10.empty()) {
    const auto [lo, hi] = std::minmax_element(ex_.flow_log10.begin(), ex_.flow_log10.end());
    const float base = *lo - 0.05f * std::max(*hi - *lo, 1e-3f);
    for (float& f : ex_.flow_log10) f -= base;
  }
  // Grad-CAM on the default layer, from this target's gradients.
  try {
    const explain::LayerGrid g = explain::layer_grid(s_, explain::default_cam_layer(s_));
    ex_.layer = g.tensor;
    ex_.cam = rgba(explain::grad_cam(s_, g, false, l.height, l.width));
    for (const explain::ChannelScore& c : explain::channel_importance(s_, g)) {
      if (ex_.channels.size() >= 8) break;
      ex_.channels.emplace_back(c.channel, c.importance);
    }
  } catch (const Error& e) {
    ex_.error = e.what();
  }
}

void ViewValues::show_explain(app::View& v, bool shown) {
  ui::Panels* p = v.panels();
  ui::ImGuiLayer* gui = v.gui();
  if (!p || !gui) return;
  if (!shown || (ex_.saliency.empty() && ex_.error.empty())) {
    p->set_extra({});
    return;
  }
  if (!ex_.saliency.empty()) tex_saliency_ = gui->upload_texture(ex_.width, ex_.height, ex_.saliency, tex_saliency_);
  if (!ex_.cam.empty()) tex_cam_ = gui->upload_texture(ex_.width, ex_.height, ex_.cam, tex_cam_);
  ui::Panels::ExtraPanel e;
  e.name = "Explain";
  e.body = [this, &v] { draw_explain(v); };
  p->set_extra(std::move(e));
}

void ViewValues::draw_explain(app::View& v) {
  const ImVec4 dim(0.60f, 0.66f, 0.74f, 1.0f);
  ImGui::TextWrapped("%s", ex_.what.c_str());
  const bool cam = !ex_.cam.empty();
  if (!cam) method_ = 0;
  ImGui::RadioButton("saliency", &method_, 0);
  ImGui::SameLine();
  ImGui::BeginDisabled(!cam);
  ImGui::RadioButton("Grad-CAM", &method_, 1);
  ImGui::EndDisabled();
  const int tex = method_ == 1 ? tex_cam_ : tex_saliency_;
  if (tex >= 0 && ex_.width > 0) {
    // The input under the heat, as wide as the panel and at most 55% of its height (the channels below
    // stay in view), aspect kept; texels are magnified crisp, so a small input (8x8 digits) reads too.
    const float aspect = float(ex_.width) / float(ex_.height);
    const float w = std::min(ImGui::GetContentRegionAvail().x, 0.55f * ImGui::GetContentRegionAvail().y * aspect);
    v.gui()->image(tex, ImVec2(w, w * float(ex_.height) / float(ex_.width)));
  }
  if (!ex_.flow_log10.empty()) {
    ImGui::TextColored(dim, "gradient flow, input to output (log |grad| per layer)");
    ImGui::PlotHistogram("##flow", ex_.flow_log10.data(), static_cast<int>(ex_.flow_log10.size()), 0, nullptr, 0.0f, FLT_MAX,
                         ImVec2(ImGui::GetContentRegionAvail().x, 3.0f * ImGui::GetFrameHeight()));
    if (ex_.flagged.empty()) {
      ImGui::TextColored(dim, "no layer flagged (vanishing < 1e-3, exploding > 1e3 per step)");
    } else {
      ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.3f, 1.0f), "flagged: %zu layer(s)", ex_.flagged.size());
      for (size_t i = 0; i < ex_.flagged.size() && i < 4; ++i) ImGui::BulletText("%s", ex_.flagged[i].c_str());
    }
  }
  if (method_ == 1 && cam) {
    ImGui::TextColored(dim, "channels of %s by importance", ex_.layer.c_str());
    const double top = ex_.channels.empty() ? 1.0 : std::max(1e-30, std::fabs(ex_.channels.front().second));
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
  if (!ex_.error.empty() && !cam) {
    ImGui::PushStyleColor(ImGuiCol_Text, dim);
    ImGui::TextWrapped("%s: %s", ex_.saliency.empty() ? "no heat over the input" : "no Grad-CAM", ex_.error.c_str());
    ImGui::PopStyleColor();
  }
}

}  // namespace netlens::cli
