// The window target of the frame driver (`netlens view`): the Viewer class, shared by viewer.cpp
// (window, frame loop, panels, live results) and viewer_input.cpp (keys, script commands, files).
// Private to netlens_app.
#pragma once

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <glm/vec2.hpp>

#include "netlens/app/camera_controller.hpp"
#include "netlens/app/draw_scale.hpp"
#include "netlens/ui/imgui_layer.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/viz/script.hpp"
#include "netlens/render/swapchain.hpp"
#include "netlens/viz/tour.hpp"
#include "netlens/app/progressive.hpp"
#include "netlens/app/view.hpp"
#include "netlens/app/viewer.hpp"

namespace netlens::app::detail {

// An integer environment variable in [lo, hi]; `fallback` when unset or empty; Error{Usage} naming it
// otherwise (viewer_run.cpp).
int env_int(const char* name, int fallback, int lo, int hi);

class Viewer {
 public:
  Viewer(const Session& s, const ViewerOptions& o) : s_(s), o_(o) {}
  ~Viewer() { teardown(); }
  int run();

 private:
  void open();
  void teardown();
  void recreate_swapchain();
  void draw_frame();
  void after_frame();
  // Applies an expand/collapse edit of the view (true when it changed the layout): see viewer.cpp.
  void relayout(const std::function<bool()>& edit);
  void update_title();
  bool script_step();  // runs script lines until one waits; false when the script is done
  void run_command(const viz::ScriptCommand& l);
  void on_key(int key);
  // A key press as the window's key callback and the script's `key` deliver it: an error (say, a
  // camera file that cannot be written) is reported (report_error) and the viewer goes on.
  void press_key(int key) noexcept;
  // One line on stderr and in the Input panel's status. Never throws.
  void report_error(const std::string& msg) noexcept;
  // Runs the body of a GLFW callback: GLFW is C, so an exception must not unwind through it; one
  // becomes report_error's line instead.
  template <class F> void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      report_error(e.what());
    } catch (...) {
      report_error("unexpected error in an input handler");
    }
  }
  void save_camera(const std::string& path);
  void apply_live();        // start of a frame: switch to the newest live result, if any
  // Runs the model on a file (Load, drop, script `open`) through o_.open_input; a failure is one
  // line on stderr and in the Input panel, and the view stays as it was.
  void open_file(const std::string& path);
  bool live_settled() const;  // no input pending, running or waiting to be shown
  glm::vec2 cursor_pixels(double x, double y) const;
  // Panels (netlens_ui) over the frame: set up once the window's callbacks exist (ImGui chains
  // them), drawn before each render; H or F1 hides them.
  void open_panels();
  void apply_panel_settings();  // start of a frame: a new renderer when the View panel asked for one
  // The View panel's percentile range / per-layer or global scale, when the scene was built
  // otherwise: the scene is rebuilt from its own values and the renderer updated in place.
  void rescale_scene();
  ui::Panels* panels() const { return view_ ? view_->panels() : nullptr; }
  bool gui_mouse() const { return view_ && view_->gui() && show_panels_ && view_->gui()->wants_mouse(); }
  bool gui_keyboard() const { return view_ && view_->gui() && show_panels_ && view_->gui()->wants_keyboard(); }

  // Tours and presenter keys (viewer_tour.cpp).
  void presenter_open();             // after the panels: loads o_.tour, installs the overlay
  bool presenter_key(int key);       // true when it took the key
  void presenter_update(double dt);  // a playing tour: the clock, then show_tour_time()
  void show_tour_time();             // camera, selection, values and caption of tour_t_
  void goto_stop(int step);          // +1 next stop (flown to), -1 previous (at once)
  void presenter_overlay(int w, int h);
  void tour_window(float w, float h);  // caption/notes/timing of the current keyframe (panels shown)
  void add_keyframe();
  void save_tour();
  void toggle_fullscreen();
  void toast(const std::string& text);

  // Progressive start (viewer_run.cpp; ViewerOptions::first_run_session).
  bool run_active() const { return o_.first_run_session != nullptr && !bg_ended_; }  // not yet ended
  double since_start_ms() const;
  void start_first_run();      // after the first frame is presented
  void cancel_first_run();     // Esc
  void poll_first_run();       // each loop: whether the progress needs a frame
  void apply_first_run();      // start of a frame: pieces patched in, progress; the end handled
  void first_run_ended();
  void show_partial_run();     // a cancelled or failed run: the computed layers from the session
  void after_relayout();       // a new layout during or after the run
  void note_first_run_frame(); // after a present: first/complete frame times, frames during the run
  void first_run_summary() const;
  float choose_draw_scale();    // before a frame: the 3D scene's draw scale (1 unless a run is in flight)
  void pace_run_frame();        // before a frame: waits while the run is in flight and frames come fast
  void run_overlay(float w, float h);  // the progress bar (presenter overlay)
  // Model tree group rows (viewer_run.cpp): folded/unfolded after the frame, flown to at once.
  void apply_group_toggle();
  void fly_to_group(const std::string& path);

  static Viewer* self(GLFWwindow* w) { return static_cast<Viewer*>(glfwGetWindowUserPointer(w)); }

  const Session& s_;
  ViewerOptions o_;
  GLFWwindow* win_ = nullptr;
  std::unique_ptr<render::Context> own_ctx_;  // null when ViewerOptions::context is given
  render::Context* ctx_ = nullptr;            // the one drawn with
  std::unique_ptr<render::Swapchain> sc_;
  // The frame driver: scene, renderer, selection, panels. The window adds the swapchain, the camera
  // controller and input.
  std::unique_ptr<View> view_;
  std::unique_ptr<CameraController> cc_;
  bool show_panels_ = true;
  bool pending_lod_ = false;    // far-layer aggregation (View panel): renderer rebuilt
  bool pending_scale_ = false;  // colour scales (View panel): scene rebuilt at the start of a frame
  bool vsync_ = true;
  bool need_recreate_ = false;
  bool dirty_ = true;

  // Input state.
  glm::vec2 cursor_{-1.0f, -1.0f};  // framebuffer pixels
  bool left_down_ = false, pan_down_ = false;
  float drag_moved_ = 0.0f;
  glm::vec2 last_cursor_{0.0f};
  bool pending_click_ = false, pending_focus_ = false;
  // E: the inspected (else selected) layer opens into tiles or closes (viz/open_layer.hpp), open_t_
  // moving to open_goal_ over 0.5 s; the renderer is told every frame (it may be remade).
  int open_layer_ = -1;
  float open_t_ = 0.0f, open_goal_ = 0.0f;
  viz::Camera camera_before_open_;  // E flies to face the grid, and back here on close
  std::string pending_shot_;
  int saved_cameras_ = 0, saved_shots_ = 0;
  std::string title_shown_;

  // Script state.
  std::vector<viz::ScriptCommand> script_;
  size_t script_pos_ = 0;
  int64_t wait_frames_ = 0;
  bool settling_ = false;
  int64_t frames_ = 0;
  std::vector<double> frame_ms_;  // acquire → present of each drawn frame
  uint32_t last_draws_ = 0;

  // Tour and presenter state.
  viz::Tour tour_;              // played (--tour) and/or added to (K)
  bool tour_playing_ = false;
  double tour_t_ = 0.0;         // seconds into the tour
  double tour_stop_at_ = -1.0;  // stepping: the clock stops here (-1: plays through the holds)
  size_t tour_key_ = 0, tour_key_applied_ = SIZE_MAX;
  std::string caption_;
  float caption_alpha_ = 0.0f;
  bool blank_ = false, pointer_ = false, notes_ = false;
  int windowed_[4] = {0, 0, 1280, 800};  // position and size before full screen
  std::string toast_;
  double toast_until_ = 0.0;
  size_t edit_key_ = SIZE_MAX;  // the keyframe the Tour window's buffers hold
  std::array<char, 256> caption_buf_{};
  std::array<char, 2048> notes_buf_{};

  // Live input state.
  std::string input_name_;
  uint64_t result_id_ = 0;  // id of the result shown (0: the run made before the viewer opened)
  bool waiting_input_ = false;
  bool error_reported_ = false;

  // Progressive start state.
  std::unique_ptr<BackgroundRun> bg_;
  bool bg_ended_ = false, cancel_early_ = false, complete_pending_ = false;
  RunProgress run_progress_;
  double run_t0_ = 0, run_t1_ = 0, last_run_draw_ = 0, next_patch_at_ = 0;
  double first_frame_ms_ = -1, complete_ms_ = -1;
  int64_t run_frames_ = 0;
  std::vector<double> run_frame_ms_, patch_ms_, after_frame_ms_;
  std::vector<std::pair<size_t, size_t>> patch_fill_;  // per update: tensors filled, nodes done
  // Dynamic draw scale while the run is in flight (choose_draw_scale); NETLENS_FULL_RES=1 keeps 1.
  bool full_res_ = std::getenv("NETLENS_FULL_RES") && std::string_view(std::getenv("NETLENS_FULL_RES")) == "1";
  float after_scale_min_ = 1.0f;   // the smallest draw scale after the run (1: back to full size)
  // While the run is in flight its thread (and its OpenMP pool) runs NETLENS_RUN_NICE nice steps
  // below the window (0: the same priority), and frames start at most NETLENS_RUN_MAX_FPS times a
  // second (0: no limit), so the rasteriser gets the cores first and the run the rest (viewer_run.cpp).
  int run_nice_ = env_int("NETLENS_RUN_NICE", 10, 0, 19);
  int run_max_fps_ = env_int("NETLENS_RUN_MAX_FPS", 40, 0, 1000);
  double last_frame_at_ = -1.0;    // glfwGetTime() at the last paced frame's start
  DrawScaleController scale_ctl_;
  float frame_scale_ = 1.0f;       // the scale the last frame was drawn at
  std::vector<float> run_scale_;  // per frame during the run
  std::set<std::string> patched_;  // layers of the current layout patched from the run's pieces
  // Pieces taken from the run and not patched yet: one update patches at most kUpdateNeurons of them
  // (at least one piece), so layers that finish together reach the screen over a few frames
  // instead of freezing one (the upload copies their codes, or makes them, on this thread).
  std::vector<std::shared_ptr<const FilledTensor>> queued_pieces_;
  int64_t wait_nodes_ = -1;  // script `wait-nodes N`
  std::optional<std::pair<std::string, bool>> pending_group_;  // model tree: (group, fold)
};

}  // namespace netlens::app::detail
