// `view MODEL`: the View panel's value modes (view_values.hpp).
#include "view_values.hpp"

#include <cstdio>

#include "netlens/explain.hpp"
#include "panels.hpp"
#include "pipeline.hpp"
#include "view.hpp"

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
      what = t.description;
    };
    if (pipe_) pipe_->with_session([&](const Session&) { run(); });
    else run();
  }
  v.set_values(m);
  if (m != viz::ValueMode::Activation) v.renderer().set_subtitle(subtitle(m, what));
  else v.renderer().set_subtitle(v.spec().subtitle);
  if (v.panels()) v.panels()->set_value_mode(m, m == viz::ValueMode::Activation ? "" : subtitle(m, what));
  std::fprintf(stderr, "netlens view: showing %s\n", m == viz::ValueMode::Activation ? "activations" : subtitle(m, what).c_str());
}

}  // namespace netlens::cli
