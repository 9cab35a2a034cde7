// The Explain panel's method and target choices (explain_panel.hpp).
#include "netlens/ui/explain_panel.hpp"

#include <imgui.h>

#include <cstdio>
#include <cstring>
#include <map>

namespace netlens::ui {

const std::vector<explain::Method>& ExplainPanel::methods() {
  static const std::vector<explain::Method> m = {explain::Method::Saliency, explain::Method::GradXInput, explain::Method::SmoothGrad,
                                                  explain::Method::IntegratedGradients, explain::Method::GradCam,
                                                  explain::Method::GradCamPlusPlus, explain::Method::Occlusion};
  return m;
}

std::string ExplainPanel::element_target(const std::string& tensor, const Shape& shape, int64_t flat) {
  if (shape.empty()) return "output:" + tensor + ":0";
  std::vector<int64_t> idx(shape.size());
  int64_t r = flat;
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t n = shape[d] > 0 ? shape[d] : 1;
    idx[d] = r % n;
    r /= n;
  }
  std::string t = "output:" + tensor + ":";
  for (size_t d = 0; d < idx.size(); ++d) t += (d ? "," : "") + std::to_string(idx[d]);
  return t;
}

void ExplainPanel::set_target_label(const std::string& label) {
  kind_ = TargetKind::Label;
  label_ = label;
  std::snprintf(label_buf_, sizeof label_buf_, "%s", label.c_str());
}

bool ExplainPanel::on_pick(const std::string& tensor, const Shape& shape, int64_t flat) {
  if (!pick_mode_) return false;
  pick_mode_ = false;
  kind_ = TargetKind::Picked;
  picked_ = element_target(tensor, shape, flat);
  return true;
}

std::string ExplainPanel::target_text() const {
  switch (kind_) {
    case TargetKind::Top: return "";
    case TargetKind::Label: return label_.empty() ? "" : "class:" + label_;
    case TargetKind::Picked: return picked_;
  }
  return "";
}

bool ExplainPanel::draw_controls(const std::vector<std::string>& labels) {
  bool changed = false;
  const std::string cur = explain::method_name(method_);
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
  if (ImGui::BeginCombo("method", cur.c_str())) {
    for (explain::Method m : methods()) {
      const std::string n = explain::method_name(m);
      if (ImGui::Selectable(n.c_str(), m == method_) && m != method_) {
        method_ = m;
        changed = true;
      }
    }
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered() && (method_ == explain::Method::SmoothGrad || method_ == explain::Method::IntegratedGradients ||
                                 method_ == explain::Method::Occlusion))
    ImGui::SetTooltip("runs the model several times (explain's defaults)");
  int k = static_cast<int>(kind_);
  if (ImGui::RadioButton("top class", &k, 0) && kind_ != TargetKind::Top) {
    kind_ = TargetKind::Top;
    changed = true;
  }
  ImGui::SameLine();
  ImGui::RadioButton("label", &k, 1);
  ImGui::SameLine();
  ImGui::RadioButton("picked", &k, 2);
  if (k == 1 && kind_ != TargetKind::Label) kind_ = TargetKind::Label;
  if (k == 2 && kind_ != TargetKind::Picked) {
    pick_mode_ = true;  // the next neuron clicked in 3D
    if (!picked_.empty()) {
      kind_ = TargetKind::Picked;
      changed = true;
    }
  }
  if (kind_ == TargetKind::Label) {
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x);
    if (ImGui::InputTextWithHint("##label", labels.empty() ? "class index" : "class label or index", label_buf_, sizeof label_buf_,
                                 ImGuiInputTextFlags_EnterReturnsTrue)) {
      label_ = label_buf_;
      changed = true;
    }
  }
  if (pick_mode_) {
    ImGui::TextColored(ImVec4(1.0f, 0.8f, 0.3f, 1.0f), "click a neuron in 3D to make it the target");
  } else if (kind_ == TargetKind::Picked && !picked_.empty()) {
    ImGui::TextDisabled("%s", picked_.c_str());
    ImGui::SameLine();
    if (ImGui::SmallButton("pick again")) pick_mode_ = true;
  }
  return changed;
}

bool ExplainPanel::runs_forward(explain::Method m) {
  return m == explain::Method::SmoothGrad || m == explain::Method::IntegratedGradients || m == explain::Method::Occlusion;
}

explain::Explanation ExplainPanel::compute(Session& s, const std::string& target, const std::vector<std::string>& labels) const {
  const explain::Target t = explain::resolve_target(s, explain::parse_target(target), labels);
  if (runs_forward(method_)) {
    std::map<std::string, Tensor> inputs;
    for (const ValueInfo& in : s.graph().inputs) {
      const PlannedTensor* p = s.activations().find(in.name);
      if (!p || p->constant) continue;
      inputs.emplace(in.name, s.activations().fetch(in.name));
    }
    explain::MethodOptions o;
    o.method = method_;
    explain::Explanation e = explain::explain(s, inputs, t, o);
    s.backward(t.seeds(s));  // the 3D gradient modes show this target's gradients at the input itself
    return e;
  }
  // One backward pass on the run shown (a forward run is not needed, and in the viewer it would use
  // kernels the live pipeline's thread made).
  s.backward(t.seeds(s));
  explain::Explanation e;
  e.method = method_;
  e.backward_runs = 1;
  if (explain::is_cam(method_)) {
    const explain::InputLayout l = explain::input_layout(s);
    e.layer = explain::layer_grid(s, explain::default_cam_layer(s));
    e.heat = explain::grad_cam(s, e.layer, method_ == explain::Method::GradCamPlusPlus, l.height, l.width);
    e.channels = explain::channel_importance(s, e.layer);
  } else {
    e.heat = explain::input_heat(s, method_ == explain::Method::GradXInput);
  }
  return e;
}

}  // namespace netlens::ui
