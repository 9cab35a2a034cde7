// The viewer's keys, script commands and file opening (see viewer.hpp for the keys, viz/script.hpp
// for the commands).
#include <cstdio>
#include <fstream>
#include <map>

#include "netlens/live/feeder.hpp"
#include "netlens/viz/open_layer.hpp"
#include "netlens/live/pipeline.hpp"
#include "viewer_impl.hpp"

namespace netlens::app::detail {

void Viewer::save_camera(const std::string& path) {
  std::ofstream f(path);
  if (!f || !(f << viz::camera_to_json(cc_->camera())))
    throw Error(ErrorKind::Io, "cannot write camera file '" + path + "'");
  std::fprintf(stderr, "netlens view: camera saved to %s\n", path.c_str());
}

void Viewer::report_error(const std::string& msg) noexcept {
  std::fprintf(stderr, "netlens view: error: %s\n", msg.c_str());
  try {
    if (panels()) panels()->set_status("error: " + msg);
  } catch (...) {  // the stderr line is the report
  }
}

void Viewer::press_key(int key) noexcept {
  guarded([&] { on_key(key); });
}

void Viewer::on_key(int key) {
  dirty_ = true;
  if (run_active()) {
    // A progressive start's run: Esc cancels it; the host's keys (G: gradients) need the finished run.
    if (key == GLFW_KEY_ESCAPE) return cancel_first_run();
    if (key == GLFW_KEY_G)
      std::fprintf(stderr, "netlens view: G (gradient modes) waits for the model's run to end (Esc cancels the run)\n");
  } else if (o_.on_key && o_.on_key(key)) {
    return;  // the host's (view --timeline: Left/Right step checkpoints)
  }
  if (presenter_key(key)) return;  // tours and presenting (viewer_tour.cpp)
  const auto& o = view_->renderer().options();
  const float aspect = float(o.width) / float(o.height);
  switch (key) {
    case GLFW_KEY_TAB:
      cc_->toggle_mode();
      std::fprintf(stderr, "netlens view: %s mode\n", cc_->mode() == CameraMode::Fly ? "fly (WASD/QE, drag to look)" : "orbit");
      break;
    case GLFW_KEY_F: pending_focus_ = true; break;
    case GLFW_KEY_E: {
      if (open_goal_ > 0.0f) {
        open_goal_ = 0.0f;
        cc_->fly_to(camera_before_open_, 0.5);  // back to where the presenter was
        break;
      }
      int layer = view_->panels() ? view_->panels()->focus() : -1;
      if (layer < 0) layer = view_->selection().layer;
      if (layer < 0) {
        std::fprintf(stderr, "netlens view: E opens the inspected or selected layer: none is\n");
        break;
      }
      open_layer_ = layer;
      open_goal_ = 1.0f;
      // The grid lies in the layer's YZ plane, which most views see edge-on: fly to face it, in step
      // with the opening (0.5 s), and come back on close.
      camera_before_open_ = cc_->camera();
      cc_->fly_to(viz::open_layer_camera(view_->scene().layout, layer, aspect), 0.5);
      break;
    }
    case GLFW_KEY_O:
    case GLFW_KEY_HOME: cc_->fly_to(viz::overview_camera(view_->scene().layout, aspect)); break;
    case GLFW_KEY_X: {  // collapse the inspected (or selected) layer's group into one block
      int layer = view_->panels() ? view_->panels()->focus() : -1;
      if (layer < 0) layer = view_->selection().layer;
      if (layer >= 0) relayout([&] { return view_->collapse_block(layer); });
      break;
    }
    case GLFW_KEY_ESCAPE: view_->clear_selection(); break;
    case GLFW_KEY_H:
    case GLFW_KEY_F1: show_panels_ = !show_panels_; break;
    case GLFW_KEY_C: save_camera("netlens-camera-" + std::to_string(++saved_cameras_) + ".json"); break;
    case GLFW_KEY_P: pending_shot_ = "netlens-shot-" + std::to_string(++saved_shots_) + ".png"; break;
    case GLFW_KEY_RIGHT:
    case GLFW_KEY_N:
      if (o_.feeder) o_.feeder->next();
      break;
    case GLFW_KEY_LEFT:
      if (o_.feeder) o_.feeder->prev();
      break;
    case GLFW_KEY_SPACE:
      if (o_.feeder) {
        o_.feeder->toggle_pause();
        std::fprintf(stderr, "netlens view: input %s\n", o_.feeder->paused() ? "paused" : "playing");
      }
      break;
    case GLFW_KEY_V:
      vsync_ = !vsync_;
      need_recreate_ = true;
      std::fprintf(stderr, "netlens view: vsync %s\n", vsync_ ? "on" : "off");
      break;
    default: break;
  }
}

// Script commands: see viz/script.hpp. parse_script has checked every line (names, argument
// counts, numbers and their ranges, key names, keywords); what depends on the viewer's state is
// checked here.
// Live input: next | prev (folder steps) | pause (toggle) | wait-input (until no input is pending,
// running or waiting to be shown: the next frame shows the newest result); keys right|left|space|n|b.
void Viewer::run_command(const viz::ScriptCommand& l) {
  const auto& a = l.args;
  const auto& x = l.nums;
  auto where = o_.script + ":" + std::to_string(l.line);
  const std::string& c = l.name;
  if (c == "frames") wait_frames_ = static_cast<int64_t>(x[0]);
  else if (c == "settle") settling_ = true;
  else if (c == "resize") glfwSetWindowSize(win_, static_cast<int>(x[0]), static_cast<int>(x[1]));
  else if (c == "iconify") glfwIconifyWindow(win_);
  else if (c == "restore") glfwRestoreWindow(win_);
  else if (c == "cursor" || c == "click" || c == "focus") {
    cursor_ = glm::vec2(static_cast<float>(x[0]), static_cast<float>(x[1]));
    if (c == "click") pending_click_ = true;
    if (c == "focus") pending_focus_ = true;
  } else if (c == "key") {
    static const std::map<std::string, int> keys = {{"tab", GLFW_KEY_TAB}, {"f", GLFW_KEY_F}, {"o", GLFW_KEY_O},
                                                    {"home", GLFW_KEY_HOME}, {"esc", GLFW_KEY_ESCAPE},
                                                    {"c", GLFW_KEY_C}, {"p", GLFW_KEY_P}, {"v", GLFW_KEY_V},
                                                    {"right", GLFW_KEY_RIGHT}, {"left", GLFW_KEY_LEFT},
                                                    {"space", GLFW_KEY_SPACE}, {"n", GLFW_KEY_N}, {"b", GLFW_KEY_B},
                                                    {"h", GLFW_KEY_H}, {"g", GLFW_KEY_G},
                                                    {"k", GLFW_KEY_K}, {"t", GLFW_KEY_T}, {"l", GLFW_KEY_L},
                                                    {"pagedown", GLFW_KEY_PAGE_DOWN}, {"pageup", GLFW_KEY_PAGE_UP},
                                                    {"f2", GLFW_KEY_F2}, {"f11", GLFW_KEY_F11},
                                                    {"e", GLFW_KEY_E}, {"x", GLFW_KEY_X}};
    // As the key callback: an error is one line and the script goes on. parse_script accepts only
    // these names.
    press_key(keys.at(a[0]));
  } else if (c == "drag") cc_->drag(static_cast<float>(x[0]), static_cast<float>(x[1]));
  else if (c == "scroll") cc_->scroll(static_cast<float>(x[0]));
  else if (c == "move") cc_->move(glm::vec3(x[0], x[1], x[2]), x[3]);
  else if (c == "save-camera") save_camera(a[0]);
  else if (c == "screenshot") pending_shot_ = a[0];
  else if (c == "close") glfwSetWindowShouldClose(win_, GLFW_TRUE);
  else if (c == "open") open_file(a[0]);  // as the Input panel's Load and a drop
  else if (c == "lod") {  // the View panel's far-layer aggregation: lod max|mean
    if (ui::Panels* p = panels()) {
      ui::ViewSettings v = p->settings();
      v.lod_mean = a[0] == "mean";
      p->set_settings(v);
      if (v.lod_mean != view_->spec().lod_mean) pending_lod_ = true;
    }
  }
  else if (c == "scale") {  // the View panel's colour scales: scale layer|global [LO HI]
    if (ui::Panels* p = panels()) {
      ui::ViewSettings v = p->settings();
      v.global_scale = a[0] == "global";
      if (x.size() == 2) {
        v.lo_pct = static_cast<float>(x[0]);
        v.hi_pct = static_cast<float>(x[1]);
      }
      p->set_settings(v);
      pending_scale_ = true;
    }
  }
  else if (c == "wait-nodes") wait_nodes_ = static_cast<int64_t>(x[0]);  // a progressive start's run
  else if (c == "next" || c == "prev" || c == "pause" || c == "wait-input") {
    // wait-input also waits for `open`, and for a progressive start's run to end.
    if (c == "wait-input" ? !o_.live && !o_.first_run_session : !o_.live || !o_.feeder)
      throw Error(ErrorKind::Usage, where + ": '" + c + "' needs a live --input (folder, video, camera)" +
                                        (c == "wait-input" ? " or an image input" : ""));
    if (c == "next") o_.feeder->next();
    else if (c == "prev") o_.feeder->prev();
    else if (c == "pause") on_key(GLFW_KEY_SPACE);  // same message as the key
    else waiting_input_ = true;
  }
  else throw Error(ErrorKind::Internal, where + ": command '" + c + "' passed parse_script but has no action");
  dirty_ = true;
}

bool Viewer::script_step() {
  // A progressive start: a script begins once the run has ended (its frames then show the whole
  // run, as before), unless it watches the run: its first command is wait-nodes.
  if (run_active() && script_pos_ == 0 && !script_.empty() && script_[0].name != "wait-nodes") return false;
  if (settling_ && !cc_->animating()) settling_ = false;
  if (waiting_input_ && live_settled()) waiting_input_ = false;
  // wait-nodes N: until the run has executed N nodes or has ended (its progress is read each frame).
  if (wait_nodes_ >= 0 && (!run_active() || run_progress_.nodes_done >= static_cast<size_t>(wait_nodes_)))
    wait_nodes_ = -1;
  while (wait_frames_ <= 0 && !settling_ && !waiting_input_ && wait_nodes_ < 0 && script_pos_ < script_.size() &&
         !glfwWindowShouldClose(win_))
    run_command(script_[script_pos_++]);
  return script_pos_ < script_.size() || wait_frames_ > 0 || settling_ || waiting_input_ || wait_nodes_ >= 0;
}

void Viewer::open_file(const std::string& path) {
  ui::Panels* panels_ = panels();
  dirty_ = true;
  if (!o_.open_input && run_active()) {
    const std::string line = "cannot open '" + path + "' yet: the model's first run is in flight (Esc cancels it)";
    std::fprintf(stderr, "netlens view: %s\n", line.c_str());
    if (panels_) panels_->set_status(line);
    return;
  }
  if (!o_.open_input) {
    const std::string line = "cannot open '" + path + "': this view has no input loader (the model's input is not an image)";
    std::fprintf(stderr, "netlens view: %s\n", line.c_str());
    if (panels_) panels_->set_status(line);
    return;
  }
  try {
    o_.open_input(path);
    if (panels_) panels_->set_status("running " + path);
  } catch (const std::exception& e) {
    // One line, and the view keeps showing the input it had.
    std::fprintf(stderr, "netlens view: error: %s\n", e.what());
    if (panels_) panels_->set_status(std::string("error: ") + e.what());
  }
}

}  // namespace netlens::app::detail
