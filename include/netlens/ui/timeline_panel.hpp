// The Timeline panel (`view --timeline`, `render --timeline --ui`): a scrubber over a series of
// checkpoints (slider, previous/next, play/pause), the loss and accuracy curves with the checkpoint
// shown marked, the diagnosis findings (a click jumps to the finding's first checkpoint and focuses
// its first layer), and one bar per layer drawn under its volume in 3D for a chosen per-layer figure
// of the checkpoint shown (weight change, update/weight ratio, gradient norm, dead share).
//
// Contract: the panel only shows data its host filled in (TimelineModel: plain numbers, no session,
// no netlens_timeline) and asks for checkpoint changes through a request the host applies between
// frames (take_request), so nothing is reloaded while ImGui draws. draw_body() runs inside an ImGui
// window of the panels (Panels::set_extra); draw_bars() draws on ImGui's background list (under the
// panels, over the 3D frame) and needs the frame's camera and layout. UI thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <imgui.h>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::ui {

// The per-layer figures the bars can show (timeline's LayerPoint fields).
enum class TimelineFigure { WeightChange, UpdateRatio, GradNorm, DeadShare };
// "weight_change" | "update_ratio" | "grad_norm" | "dead_share"; Error{Usage} naming the flag otherwise.
TimelineFigure parse_timeline_figure(const std::string& text, const std::string& flag = "--timeline-color");
const char* timeline_figure_name(TimelineFigure f);
constexpr int kTimelineFigures = 4;

struct TimelineFindingRow {
  std::string kind, message;
  std::vector<std::string> layers;       // node names as the report gives them
  std::vector<std::string> checkpoints;  // checkpoint names
  int first_checkpoint = -1;             // index of checkpoints[0] in the series, -1 none
  int first_layer = -1;                  // shown layer (layout index) of layers[0], -1 none
};

struct TimelineModel {
  std::vector<std::string> checkpoints;  // names, in order
  // Curves per checkpoint (NaN: not measured). Loss/accuracy of the training split, the validation
  // split and the probe, as far as they exist.
  std::vector<float> train_loss, val_loss, probe_loss, train_acc, val_acc, probe_acc;
  // figures[f][checkpoint][shown layer]: figure f of the timeline layer drawn at that shown layer
  // (NaN where no timeline layer maps to it or the figure is not measured).
  std::vector<std::vector<std::vector<float>>> figures;
  std::vector<TimelineFindingRow> findings;
};

class TimelinePanel {
 public:
  TimelinePanel(TimelineModel m, size_t current, TimelineFigure figure);

  const TimelineModel& model() const { return m_; }
  size_t current() const { return current_; }
  void set_current(size_t i) { current_ = i; }  // after the host loaded checkpoint i
  TimelineFigure figure() const { return figure_; }
  // A checkpoint asked for by the scrubber, a key or a finding (once; nullopt when none).
  std::optional<size_t> take_request();
  void request(size_t i);
  void step(int delta);  // previous/next, clamped
  bool playing() const { return playing_; }
  // Layer to focus, from a clicked finding; the host flies there (Panels::actions.focus_layer).
  std::function<void(int layer)> focus_layer;
  // The layer the panels inspect (Panels::focus), -1 none: its figure is drawn as a sparkline over the
  // checkpoints.
  std::function<int()> focused;

  // The panel's widgets, inside an open ImGui window. `now`: seconds (ImGui's clock) for playback.
  void draw_body();
  // Bars under the layers' volumes: `k` frame pixels per ImGui unit; x0..x1 the frame's central
  // region (between the side panels) in frame pixels.
  void draw_bars(const viz::Layout& layout, const viz::Camera& cam, int width, int height, float k, float x0, float x1) const;

  // The bar of one shown layer as draw_bars draws it, in frame pixels (for `render --timeline`'s JSON
  // line and tests): the figure's value, t in [0,1] (the value over the largest of the series), the
  // bar's colour and its rectangle. nullopt when the layer has no value or is off screen.
  struct Bar {
    float value = 0, t = 0;
    float r = 0, g = 0, b = 0;
    float x = 0, y = 0, w = 0, h = 0;  // the filled part (top-left, size)
  };
  std::optional<Bar> bar(const viz::Layout& layout, const viz::Camera& cam, int width, int height, int layer) const;
  // The largest finite value of the current figure over every checkpoint and layer (the bars' scale).
  float figure_max() const;
  // Where the last draw_body() put the scrubber and each finding's row (ImGui units: x0, y0, x1, y1),
  // for tests that click them.
  ImVec4 scrubber_rect() const { return scrubber_; }
  const std::vector<ImVec4>& finding_rows() const { return finding_rows_; }

 private:
  TimelineModel m_;
  size_t current_ = 0;
  TimelineFigure figure_;
  std::optional<size_t> request_;
  bool playing_ = false;
  double last_step_ = 0;
  ImVec4 scrubber_{};
  std::vector<ImVec4> finding_rows_;
};

}  // namespace netlens::ui
