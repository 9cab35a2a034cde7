// The View panel's value modes in `netlens view MODEL` (issue 14): activations, gradients or
// gradient x activation of a target (explain's grammar; default the top class), switched in the
// View panel or with G (which cycles the three). The smallest mechanism the live pipeline allows:
// the viewer's thread runs Session::backward on the session the pipeline owns, under the pipeline's
// session lock (LivePipeline::with_session: no run is in flight), then View::set_values. A new
// input (Load, drop, a folder's next image) arrives as activations: the view is set back to
// activations just before the result is taken (a live result holds activations only), and the
// chosen mode is applied again to the new run once it is on screen.
//
// Contract: `s` is the session the viewer shows (owned by the caller, outliving the viewer);
// `pipe` its pipeline or null (nothing else runs the session). Used on the UI thread only.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlens/runtime.hpp"
#include "values.hpp"
#include "viewer.hpp"

namespace netlens::live {
class LivePipeline;
}

namespace netlens::cli {

class ViewValues {
 public:
  ViewValues(Session& s, live::LivePipeline* pipe, std::vector<std::string> labels) : s_(s), pipe_(pipe), labels_(std::move(labels)) {}
  // Sets v.on_view, v.before_frame and v.on_key (G). Call after v.live is set.
  void install(app::ViewerOptions& v);

  // The subtitle `render --values M` draws for a target description (the label font is ASCII).
  static std::string subtitle(viz::ValueMode m, const std::string& description);

 private:
  bool before_frame(app::View& v);
  void apply(app::View& v, viz::ValueMode m, const std::string& target);

  Session& s_;
  live::LivePipeline* pipe_;
  std::vector<std::string> labels_;
  viz::ValueMode want_ = viz::ValueMode::Activation;
  std::string target_;
  std::optional<std::pair<viz::ValueMode, std::string>> pending_;
  bool reapply_ = false;  // a new input was shown in activations: apply want_ again
};

}  // namespace netlens::cli
