// The Explain panel's choices (issue 14): the attribution method and the target, with a pick mode in
// which a neuron clicked in 3D (of an output tensor, or any tensor) becomes the target
// `output:TENSOR:i,j,...` (explain's grammar, a full index). The host (the viewer's value modes,
// cli/view_values.cpp) draws the controls inside its Explain window, polls its selection for picks,
// and on a request runs compute() and shows the heat on the input slab (app::View::set_input_heat)
// and over the input picture. compute() is the one path from the panel's choice to the heat, the
// same for the window and the offscreen test (tests/app/test_explain_panel.cpp).
//
// Contract: UI thread only; draw_controls() inside an ImGui window. compute() runs the session (once
// for the gradient methods, several times for SmoothGrad, IG and occlusion) and leaves it holding the
// run of its current inputs and the target's gradients; the caller holds the session exclusively.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netlens/explain.hpp"
#include "netlens/runtime.hpp"

namespace netlens::ui {

class ExplainPanel {
 public:
  enum class TargetKind { Top, Label, Picked };

  // The methods offered, in the order shown (hirescam stays a CLI method).
  static const std::vector<explain::Method>& methods();
  // explain's text of element `flat` of a tensor of `shape`: "output:TENSOR:i,j,..." (full index).
  static std::string element_target(const std::string& tensor, const Shape& shape, int64_t flat);

  explain::Method method() const { return method_; }
  void set_method(explain::Method m) { method_ = m; }
  TargetKind target_kind() const { return kind_; }
  void set_target_top() { kind_ = TargetKind::Top; }
  void set_target_label(const std::string& label);  // "class:LABEL" (a number works as class:N)
  // Pick mode: the next neuron picked in 3D becomes the target (on_pick), then pick mode ends.
  bool pick_mode() const { return pick_mode_; }
  void set_pick_mode(bool on) { pick_mode_ = on; }
  // A neuron picked in 3D. In pick mode: the target becomes that element, pick mode ends and true is
  // returned (the host recomputes); otherwise false and nothing changes.
  bool on_pick(const std::string& tensor, const Shape& shape, int64_t flat);
  // The target in explain's grammar ("" = the top class of the first output).
  std::string target_text() const;

  // ImGui controls (method combo, target radio buttons, label box, pick toggle); true when the user
  // changed the method or the target (the host then recomputes).
  bool draw_controls(const std::vector<std::string>& labels);

  // The chosen method on `target` (explain's grammar; the host passes target_text() or the View
  // panel's box) with explain's default options: the numbers `netlens explain --method M --target T`
  // writes for the same input. Saliency, gradient x input, Grad-CAM and Grad-CAM++ take one backward
  // pass on the run the session holds (no forward run; `heat`, `layer` and `channels` filled);
  // SmoothGrad, IG and occlusion run explain::explain on the session's current inputs (every graph
  // input's value as the session holds it) and then the target's backward pass, so the session ends
  // holding that run and the target's gradients either way. Error{Usage} for a bad target or a model
  // without an image input.
  explain::Explanation compute(Session& s, const std::string& target, const std::vector<std::string>& labels) const;
  // Whether compute() runs the model forward (several times) for this method.
  static bool runs_forward(explain::Method m);

 private:
  explain::Method method_ = explain::Method::Saliency;
  TargetKind kind_ = TargetKind::Top;
  std::string label_, picked_;
  bool pick_mode_ = false;
  char label_buf_[128] = {};
};

}  // namespace netlens::ui
