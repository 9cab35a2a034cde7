// The timeline in the frame driver: `render CHECKPOINTS... --timeline` and `view CHECKPOINTS...
// --timeline`. A TimelineHost reads the series (netlens_timeline: every checkpoint once, for the
// curves, the per-layer figures and the findings), then shows one checkpoint at a time: the
// Series' one prepared session holds that checkpoint's probe activations (and gradients with
// labels), the View reads it like any session, and a scrub is Series::load + View::set_values.
//
// Contract: the View borrows series().session(); a series that needs a session per checkpoint (its
// weights cannot be fed as inputs) is refused with one line, as the View could not follow it. The
// host outlives the views it is attached to. UI thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlens/cli/command.hpp"
#include "netlens/timeline.hpp"
#include "timeline_inputs.hpp"
#include "netlens/ui/timeline_panel.hpp"
#include "netlens/app/view.hpp"

namespace netlens::cli {

class TimelineHost {
 public:
  // Reads the checkpoints (a.positional()) and every checkpoint's figures; the last one stays loaded.
  TimelineHost(const Args& a, bool quiet);
  ~TimelineHost();

  const timeline::Series& series() const { return *series_; }
  const timeline::Report& report() const { return report_; }
  size_t current() const { return current_; }
  // The promoted weights (graph inputs of the session that are not the model's): FrameSpec::hidden_inputs.
  std::vector<std::string> hidden_inputs() const;
  // Loads checkpoint i into the session (the probe's forward, and backward with labels).
  void load(size_t i);

  // Adds the Timeline panel to `v`'s panels (opened) for its layout; the bars show `figure`.
  void attach(app::View& v, ui::TimelineFigure figure);
  // A checkpoint the panel or a key asked for: loaded and shown (the view rebuilt in its value mode).
  // Returns whether the next frame must be drawn too (playback).
  bool before_frame(app::View& v, const viz::Camera& cam);
  ui::TimelinePanel* panel() { return panel_.get(); }
  // G: activations -> gradients -> gradient x activation of the probe's loss (applied before the next frame).
  void cycle_values();
  // The subtitle of a gradient mode: what the gradients are of.
  static std::string values_subtitle(viz::ValueMode m);

  // The per-layer bars of the current checkpoint as one JSON line (layer, tensor, node, value, t,
  // rgb 0..255, rect x,y,w,h in frame pixels), for `render --timeline`.
  std::string bars_json(const viz::Layout& layout, const viz::Camera& cam, int width, int height) const;

 private:
  ui::TimelineModel model_for(const viz::Layout& layout) const;

  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<timeline::Series> series_;
  TimelineInputs in_;
  timeline::Report report_;
  size_t current_ = 0;
  std::unique_ptr<ui::TimelinePanel> panel_;
  viz::Camera cam_;  // the viewer's camera of this frame (before_frame)
  bool have_cam_ = false;
  std::optional<viz::ValueMode> pending_mode_;  // asked for in the View panel or with G
  viz::ValueMode shown_mode_ = viz::ValueMode::Activation;
};

// `render CHECKPOINTS... --timeline ...` (called by cmd_render when --timeline is given).
int run_render_timeline(const std::vector<std::string>& argv);
// `view CHECKPOINTS... --timeline ...` (called by cmd_view when --timeline is given).
int run_view_timeline(const std::vector<std::string>& argv);

}  // namespace netlens::cli
