// The View panel's value modes in `netlens view MODEL` (issue 14): activations, gradients or
// gradient x activation of a target (explain's grammar; default the top class), switched in the
// View panel or with G (which cycles the three). The smallest mechanism the live pipeline allows:
// Session::backward (and an explanation's runs) on the session the pipeline owns, run on its
// inference thread between two runs (LivePipeline::call: the thread that prepared the session),
// then View::set_values on the viewer's thread. A new
// input (Load, drop, a folder's next image) arrives as activations: the view is set back to
// activations just before the result is taken (a live result holds activations only), and the
// chosen mode is applied again to the new run once it is on screen.
//
// Contract: `s` is the session the viewer shows (owned by the caller, outliving the viewer);
// `pipe` its pipeline or null (nothing else runs the session). Used on the UI thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlens/ui/explain_panel.hpp"
#include "netlens/runtime.hpp"
#include "netlens/viz/values.hpp"
#include "netlens/app/viewer.hpp"

namespace netlens::live {
class LivePipeline;
}
namespace netlens::explain {
struct Target;
}

namespace netlens::cli {

class ViewValues {
 public:
  ViewValues(Session& s, live::LivePipeline* pipe, std::vector<std::string> labels) : s_(s), pipe_(pipe), labels_(std::move(labels)) {}
  // The Explain panel's method (view --explain-method; the panel's combo changes it later). Until
  // one is chosen the method follows the mode: saliency for gradients, gradient x input for
  // gradient x activation (what render --values gradient|attribution puts on the input slab).
  void set_method(explain::Method m) {
    panel_.set_method(m);
    method_chosen_ = true;
  }
  // The pipeline started later (view's progressive start makes it at the first file opened).
  void set_pipeline(live::LivePipeline* pipe) { pipe_ = pipe; }
  // Sets v.on_view, v.before_frame and v.on_key (G). Call after v.live is set.
  void install(app::ViewerOptions& v);

  // The subtitle `render --values M` draws for a target description (the label font is ASCII).
  static std::string subtitle(viz::ValueMode m, const std::string& description);

 private:
  bool before_frame(app::View& v);
  void apply(app::View& v, viz::ValueMode m, const std::string& target);

  // The Explain panel (right column, while a gradient mode is shown): method and target choice
  // (ui::ExplainPanel: top class, a class label, or a neuron picked in 3D), the input under the
  // chosen method's heat (explain's overlay; the input slab in 3D carries the same heat), the
  // Grad-CAM layer's top channels by importance, and the gradient-flow plot with flagged layers in
  // a warning colour. Made on the viewer's thread under the session lock.
  struct Explained {
    std::string what, layer, error;  // error: why there is no heat over the input
    std::string method;              // explain's name of the method shown
    int width = 0, height = 0;
    std::vector<uint8_t> heat;       // RGBA overlay (empty: none)
    std::vector<std::pair<int64_t, double>> channels;  // (channel, importance), best first
    // Gradient flow (explain::gradient_flow): log10 of each tensor's gradient L2 norm less that of
    // the smallest non-zero (plus 5% of the range; a zero norm is 0), input first; flow_flag[i] whether
    // the vanishing/exploding rule flags bar i; the flagged tensors as text.
    std::vector<float> flow_log10;
    std::vector<uint8_t> flow_flag;
    std::vector<std::string> flagged;
  };
  void explain_target(const explain::Target& t, const explain::Explanation* e);
  void show_explain(app::View& v, bool shown);
  void draw_explain(app::View& v);

  Explained ex_;
  int tex_heat_ = -1;
  ui::ExplainPanel panel_;
  bool method_chosen_ = false;  // set_method or the panel's combo
  std::pair<int, int64_t> last_sel_{-1, 0};  // the selection seen last frame (picks in pick mode)

  Session& s_;
  live::LivePipeline* pipe_;
  std::vector<std::string> labels_;
  viz::ValueMode want_ = viz::ValueMode::Activation;
  std::string target_;
  std::optional<std::pair<viz::ValueMode, std::string>> pending_;
  bool reapply_ = false;  // a new input was shown in activations: apply want_ again
};

}  // namespace netlens::cli
