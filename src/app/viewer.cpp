#include "netlens/app/viewer.hpp"

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "netlens/app/camera_controller.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/ui/imgui_layer.hpp"
#include "netlens/live/feeder.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/inspect/predictions.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/script.hpp"
#include "netlens/render/swapchain.hpp"
#include "netlens/app/view.hpp"
#include "viewer_impl.hpp"

namespace netlens::app {

namespace {

std::string g_glfw_error = "unknown GLFW error";
// GLFW is C: nothing may unwind through its callbacks (this one, and the window's below).
void on_glfw_error(int, const char* desc) noexcept {
  try {
    g_glfw_error = desc ? desc : "unknown GLFW error";
  } catch (...) {  // out of memory copying the text: the previous message stays
  }
}

const char* kOffscreenHint = "use 'netlens render MODEL --out frame.png' to render offscreen";

// SIGTERM and SIGINT (Ctrl-C) end the viewer like closing its window: the frame loop sees the flag
// within one idle wait (at most 0.25 s), then the live pipeline and feeder shut down, the summary is
// printed and Vulkan is torn down in order. A SIGINT that the parent set to be ignored (a background
// job of a non-interactive shell) stays ignored.
volatile sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Installs the handlers for the lifetime of a Viewer::run and restores the previous ones after.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGINT, nullptr, &old_int_);
    int_installed_ = old_int_.sa_handler != SIG_IGN;
    if (int_installed_) sigaction(SIGINT, &sa, nullptr);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &old_term_, nullptr);
    if (int_installed_) sigaction(SIGINT, &old_int_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_term_ {}, old_int_ {};
  bool int_installed_ = false;
};

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}


}  // namespace

namespace detail {

void Viewer::open() {
  input_name_ = o_.first_input;
  if (!o_.script.empty()) script_ = viz::read_script(o_.script);

  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) throw Error(ErrorKind::Device, "cannot open a window (" + g_glfw_error + "); " + kOffscreenHint);
  if (!glfwVulkanSupported())
    throw Error(ErrorKind::Device, std::string("GLFW finds no Vulkan loader for windows; ") + kOffscreenHint);
  glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
  std::string title = "netlens - " + o_.title;
  win_ = glfwCreateWindow(o_.width, o_.height, title.c_str(), nullptr, nullptr);
  if (!win_) throw Error(ErrorKind::Device, "cannot create a window (" + g_glfw_error + "); " + kOffscreenHint);
  glfwSetWindowUserPointer(win_, this);

  if (o_.context) {
    ctx_ = o_.context;  // the interop path's (made with window_context_options)
  } else {
    render::ContextOptions co;
    window_context_options(co, o_.gpu, o_.validation);
    own_ctx_ = std::make_unique<render::Context>(co);
    ctx_ = own_ctx_.get();
  }
  VkSurfaceKHR surface = VK_NULL_HANDLE;
  if (glfwCreateWindowSurface(ctx_->instance(), win_, nullptr, &surface) != VK_SUCCESS)
    throw Error(ErrorKind::Device, "cannot create a Vulkan surface for the window (" + g_glfw_error + "); " + kOffscreenHint);
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(win_, &fw, &fh);
  vsync_ = o_.vsync;
  sc_ = std::make_unique<render::Swapchain>(*ctx_, surface, fw, fh, vsync_);
  VkExtent2D e = sc_->extent();
  FrameSpec spec{.width = std::clamp(static_cast<int>(e.width), 16, 8192),
                 .height = std::clamp(static_cast<int>(e.height), 16, 8192),
                 .camera = {.view = o_.view, .file = o_.camera_file}, .select = o_.select,
                 .lod_mean = o_.lod_mean, .readback = false, .title = o_.title};
  spec.hidden_inputs = o_.hidden_inputs;
  spec.flow_strip = o_.flow_strip;
  spec.collapse = o_.collapse;
  spec.tokens = o_.text_tokens;  // --text: token labels along sequence axes in 3D
  if (spec.collapse.empty()) {
    size_t shown = 0;
    auto count = [&](const Session& ss) { shown = viz::select_tensors(ss.graph(), ss.planned()).size(); };
    if (o_.live) o_.live->with_session(count);
    else count(s_);
    spec.collapse = viz::start_collapse(shown, !o_.select.empty() || o_.view.rfind("layer:", 0) == 0);
  }
  // The live pipeline (set now, or after a progressive start's run) runs the session on its thread;
  // a progressive start's run prepares it on its own thread first (the plan is read around that).
  SessionAccess access = [this](const std::function<void(const Session&)>& fn) {
    if (o_.live) o_.live->with_session(fn);
    else if (bg_ && !bg_ended_) bg_->with_plan([&] { fn(s_); });
    else fn(s_);
  };
  spec.structure_only = o_.first_run_session != nullptr;  // grey until the run fills the layers
  view_ = std::make_unique<View>(*ctx_, s_, spec, std::move(access));
  if (spec.collapse != "none")  // click a block to expand it, X to collapse a layer's group
    std::fprintf(stderr, "netlens view: %zu layers shown (collapse %s)\n", view_->layout().layers.size(), spec.collapse.c_str());
  cc_ = std::make_unique<CameraController>(view_->initial_camera(), viz::scene_radius(view_->scene().layout));

  // Every callback body runs under guarded(): see there.
  glfwSetKeyCallback(win_, [](GLFWwindow* w, int key, int, int action, int) {
    Viewer* v = self(w);
    v->guarded([&] {
      if (action == GLFW_PRESS && !v->gui_keyboard()) v->press_key(key);
    });
  });
  glfwSetCursorPosCallback(win_, [](GLFWwindow* w, double x, double y) {
    Viewer* v = self(w);
    v->guarded([&] {
      glm::vec2 p = v->cursor_pixels(x, y);
      glm::vec2 d = p - v->last_cursor_;
      v->last_cursor_ = p;
      v->cursor_ = p;
      v->dirty_ = true;  // the hovered neuron may change
      if (v->left_down_) {
        v->drag_moved_ += std::fabs(d.x) + std::fabs(d.y);
        if (v->drag_moved_ > 4.0f) v->cc_->drag(d.x, d.y);
      } else if (v->pan_down_) {
        v->cc_->pan(d.x, d.y, static_cast<float>(v->view_->renderer().options().height));
      }
    });
  });
  glfwSetMouseButtonCallback(win_, [](GLFWwindow* w, int button, int action, int) {
    Viewer* v = self(w);
    v->guarded([&] {
      double x, y;
      glfwGetCursorPos(w, &x, &y);
      v->last_cursor_ = v->cursor_ = v->cursor_pixels(x, y);
      if (action == GLFW_PRESS && v->gui_mouse()) return;  // a click on a panel is the panel's
      if (button == GLFW_MOUSE_BUTTON_LEFT) {
        if (action == GLFW_PRESS) {
          v->left_down_ = true;
          v->drag_moved_ = 0.0f;
        } else if (action == GLFW_RELEASE && v->left_down_) {
          v->left_down_ = false;
          if (v->drag_moved_ <= 4.0f) v->pending_click_ = true;  // a click, not a drag
        }
      } else {
        v->pan_down_ = action == GLFW_PRESS;
      }
      v->dirty_ = true;
    });
  });
  glfwSetScrollCallback(win_, [](GLFWwindow* w, double, double dy) {
    Viewer* v = self(w);
    v->guarded([&] {
      if (v->gui_mouse()) return;  // scrolls the panel under the mouse
      v->cc_->scroll(static_cast<float>(dy));
      v->dirty_ = true;
    });
  });
  glfwSetFramebufferSizeCallback(win_, [](GLFWwindow* w, int, int) noexcept {
    self(w)->need_recreate_ = true;
    self(w)->dirty_ = true;
  });
  glfwSetWindowRefreshCallback(win_, [](GLFWwindow* w) noexcept { self(w)->dirty_ = true; });
  glfwSetDropCallback(win_, [](GLFWwindow* w, int n, const char** paths) {
    Viewer* v = self(w);
    v->guarded([&] {
      if (n < 1) return;
      if (n > 1) std::fprintf(stderr, "netlens view: %d files dropped; opening the first\n", n);
      v->open_file(paths[0]);
    });
  });
  open_panels();
  presenter_open();
  if (o_.on_view) o_.on_view(*view_);
  std::fprintf(stderr,
               "netlens view: drag to orbit, scroll to zoom, Tab for fly mode (WASD/QE), F focus, O overview, "
               "click to select, Esc clear, C camera, P screenshot, V vsync, H panels\n");
}

glm::vec2 Viewer::cursor_pixels(double x, double y) const {
  int ww = 1, wh = 1, fw = 1, fh = 1;
  glfwGetWindowSize(win_, &ww, &wh);
  glfwGetFramebufferSize(win_, &fw, &fh);
  return glm::vec2(static_cast<float>(x) * float(fw) / float(std::max(ww, 1)),
                   static_cast<float>(y) * float(fh) / float(std::max(wh, 1)));
}

void Viewer::teardown() {
  view_.reset();
  sc_.reset();
  cc_.reset();
  if (own_ctx_) own_ctx_->close();
  own_ctx_.reset();
  ctx_ = nullptr;
  if (win_) glfwDestroyWindow(win_);
  win_ = nullptr;
  glfwTerminate();
}

void Viewer::recreate_swapchain() {
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(win_, &fw, &fh);
  need_recreate_ = false;
  if (fw <= 0 || fh <= 0) {
    need_recreate_ = true;  // minimised: try again once restored
    return;
  }
  sc_->recreate(fw, fh, vsync_);
  VkExtent2D e = sc_->extent();
  if (e.width < 16 || e.height < 16) {
    need_recreate_ = true;
    return;
  }
  view_->renderer().resize(static_cast<int>(std::min(e.width, 8192u)), static_cast<int>(std::min(e.height, 8192u)));
}

void Viewer::draw_frame() {
  if (need_recreate_) recreate_swapchain();
  if (need_recreate_) return;
  VkExtent2D e = sc_->extent();
  render::Renderer* r_ = &view_->renderer();
  if (static_cast<int>(e.width) != r_->options().width || static_cast<int>(e.height) != r_->options().height) {
    recreate_swapchain();  // e.g. a framebuffer over 8192 px: the renderer cannot follow it
    return;
  }
  apply_panel_settings();
  // The host's mode first: it may set the view back to activations before a live result is taken.
  // A progressive start's run holds the session until it ends: the host's hooks wait.
  apply_first_run();
  const bool again = !run_active() && o_.before_frame && o_.before_frame(*view_, cc_->camera());
  apply_live();
  r_ = &view_->renderer();  // a View panel setting may have made a new one
  frame_scale_ = pending_shot_.empty() ? choose_draw_scale() : 1.0f;  // a screenshot: the full-size frame
  r_->set_render_scale(frame_scale_);
  const double t0 = glfwGetTime();
  auto f = sc_->acquire();
  if (!f) {
    need_recreate_ = true;
    return;
  }
  if (cursor_.x >= 0 && cursor_.y >= 0)
    r_->set_probe(std::make_pair(static_cast<int>(cursor_.x), static_cast<int>(cursor_.y)));
  else
    r_->set_probe(std::nullopt);
  if (!pending_shot_.empty()) r_->read_back_next_frame();
  // The panels read the session's values: not while a progressive start's run writes them.
  view_->draw_panels(show_panels_ && !run_active(), [&](const std::function<void()>& draw) {
    // Live input: a run in flight holds the session; the panels then keep their last ImGui frame
    // (still recorded by the overlay) instead of stalling the display until the run ends.
    if (o_.live) return o_.live->try_with_session([&](const Session&) { draw(); });
    draw();
    return true;
  });
  last_draws_ = r_->render(cc_->camera(), &f->target).draws;
  if (!sc_->present(*f)) need_recreate_ = true;
  frame_ms_.push_back((glfwGetTime() - t0) * 1000.0);
  note_first_run_frame();
  if (o_.live) {
    o_.live->note_frame(frame_ms_.back());
    o_.live->shown(result_id_);  // the pipeline may start the next run (LiveConfig::wait_until_shown)
  }
  dirty_ = again;
  after_frame();
}

// Actions that need the pixel under the cursor use this frame's probe.
void Viewer::after_frame() {
  render::Renderer* r_ = &view_->renderer();
  ui::Panels* panels_ = panels();
  const viz::Scene* scene_ = &view_->scene();
  auto hovered = r_->probe();
  if (!pending_shot_.empty()) {
    const std::string shot = std::move(pending_shot_);
    pending_shot_.clear();
    guarded([&] {  // a file that cannot be written is reported; the viewer goes on
      r_->write_png(shot);
      std::fprintf(stderr, "netlens view: screenshot saved to %s\n", shot.c_str());
      if (panels_) panels_->set_status("saved " + shot);
    });
  }
  int expand = -1;  // a click on a collapsed block expands it, after this frame's uses of the scene
  if (pending_click_) {
    pending_click_ = false;
    if (hovered && view_->layout().layers.at(static_cast<size_t>(hovered->layer)).tensor.folded > 0) {
      expand = hovered->layer;
    } else if (hovered) {
      view_->select(hovered->layer, hovered->flat);
      dirty_ = true;
    }
    std::printf("%s\n", viz::pick_to_json(hovered, *scene_).c_str());
    std::fflush(stdout);
  }
  if (pending_focus_) {
    pending_focus_ = false;
    if (hovered) {
      const auto& o = r_->options();
      cc_->fly_to(viz::focus_camera(scene_->layout, hovered->layer, float(o.width) / float(o.height)));
      if (panels_) panels_->set_focus(hovered->layer);
      dirty_ = true;
    }
  }
  std::string t = "netlens - " + o_.title + (input_name_.empty() ? "" : " - " + input_name_) +
                  (cc_->mode() == CameraMode::Fly ? " [fly]" : "");
  if (hovered) {
    char buf[160], value[32];
    // An unfilled layer's NaN is no value: it says so instead of "= nan".
    if (view_->layer_unfilled(hovered->layer)) std::snprintf(value, sizeof value, run_active() ? ": not computed yet" : ": not computed");
    else std::snprintf(value, sizeof value, " = %.6g", double(hovered->value));
    std::snprintf(buf, sizeof buf, " - %s [%lld, %lld, %lld]%s", hovered->tensor.c_str(), static_cast<long long>(hovered->cell.c),
                  static_cast<long long>(hovered->cell.y), static_cast<long long>(hovered->cell.x), value);
    t += buf;
  }
  if (t != title_shown_) {
    glfwSetWindowTitle(win_, t.c_str());
    title_shown_ = t;
  }
  if (expand >= 0) relayout([&] { return view_->expand_block(expand); });
  apply_group_toggle();
}

// A new layout (expand/collapse): layer indices change, so what held one is let go.
void Viewer::relayout(const std::function<bool()>& edit) {
  guarded([&] {
    if (!edit()) return;
    open_layer_ = -1;
    open_goal_ = open_t_ = 0.0f;
    if (panels()) panels()->set_focus(-1);
    std::fprintf(stderr, "netlens view: %zu layers shown (collapse %s)\n", view_->layout().layers.size(),
                 view_->spec().collapse.c_str());
    after_relayout();
    dirty_ = true;
  });
}

int Viewer::run() {
  open();
  StopSignals stop_signals;
  double last = glfwGetTime();
  while (!glfwWindowShouldClose(win_)) {
    if (o_.frames > 0 && frames_ >= o_.frames) break;
    if (g_stop_signal) {
      std::fprintf(stderr, "netlens view: %s: closing\n", g_stop_signal == SIGINT ? "interrupted" : "terminated");
      break;
    }
    const bool scripted = script_step();
    if (glfwWindowShouldClose(win_)) break;
    glfwPollEvents();
    double now = glfwGetTime();
    // Scripts advance time by a fixed step per frame, so flights end after a known frame count. A
    // script that begins after a progressive start's run (script_step) holds the clock until then:
    // it starts from the state the window opened in (a --tour at its first stop), however long the
    // run took.
    const bool script_waits = !scripted && !script_.empty() && script_pos_ == 0 && run_active();
    double dt = scripted ? 1.0 / 30.0 : script_waits ? 0.0 : std::min(now - last, 0.1);
    last = now;
    if (cc_->mode() == CameraMode::Fly) {
      auto k = [&](int key) { return glfwGetKey(win_, key) == GLFW_PRESS ? 1.0f : 0.0f; };
      glm::vec3 axes(k(GLFW_KEY_D) - k(GLFW_KEY_A), k(GLFW_KEY_E) - k(GLFW_KEY_Q), k(GLFW_KEY_W) - k(GLFW_KEY_S));
      if (axes != glm::vec3(0.0f)) {
        cc_->move(axes, dt);
        dirty_ = true;
      }
    }
    presenter_update(dt);
    if (open_layer_ >= 0) {  // E: open / close over 0.5 s
      if (open_t_ != open_goal_) {
        const float step = static_cast<float>(dt) / 0.5f;
        open_t_ = open_goal_ > open_t_ ? std::min(open_goal_, open_t_ + step) : std::max(open_goal_, open_t_ - step);
        dirty_ = true;
      }
      view_->renderer().set_open_layer(open_layer_, open_t_);
    }
    if (cc_->update(dt)) dirty_ = true;
    poll_first_run();
    int fw = 0, fh = 0;
    glfwGetFramebufferSize(win_, &fw, &fh);
    const bool minimised = fw <= 0 || fh <= 0 || glfwGetWindowAttrib(win_, GLFW_ICONIFIED);
    const bool counting = scripted || o_.frames > 0;
    if (minimised) {
      // Nothing to draw; wait briefly so a minimised window neither spins nor hangs.
      glfwWaitEventsTimeout(0.05);
    } else if (dirty_ || counting || pending_click_ || pending_focus_ || !pending_shot_.empty() ||
               (o_.live && o_.live->has_result())) {
      pace_run_frame();  // while a progressive start runs: at most NETLENS_RUN_MAX_FPS frames a second
      draw_frame();
      // Progressive start: the run begins once the structure is on screen (on 2 cores the first
      // frame does not compete with it).
      if (o_.first_run_session && !bg_ && !bg_ended_ && first_frame_ms_ >= 0) start_first_run();
    } else {
      // Idle: nothing changed, keep the CPU free; with live input, look for results often.
      glfwWaitEventsTimeout(o_.live && !live_settled() ? 0.005 : run_active() ? 0.05 : 0.25);
      continue;
    }
    ++frames_;
    if (wait_frames_ > 0) --wait_frames_;
  }
  if (!frame_ms_.empty()) {
    std::vector<double> t = frame_ms_;
    std::sort(t.begin(), t.end());
    std::fprintf(stderr, "netlens view: %zu frames drawn at %dx%d, frame time median %.1f ms, p95 %.1f ms, %u draws (%s)\n",
                 t.size(), view_->renderer().options().width, view_->renderer().options().height, t[t.size() / 2], t[t.size() * 95 / 100],
                 last_draws_, ctx_->device_name().c_str());
  }
  bg_.reset();  // a run still in flight is cancelled and its thread joined
  first_run_summary();
  if (o_.live && (o_.feeder || o_.live->stats().submitted > 0))
    std::fprintf(stderr, "netlens view: live: %s\n", o_.live->stats().summary().c_str());
  view_.reset();
  sc_.reset();
  size_t errors = own_ctx_ ? own_ctx_->close() : ctx_->validation_error_count();
  if (errors) {
    std::fprintf(stderr, "netlens view: error: %zu Vulkan validation error(s) (see above)\n", errors);
    return 1;
  }
  return 0;
}

void Viewer::open_panels() {
  PanelSpec p{.input_path = input_name_, .window = win_, .view_settings = true};
  if (!o_.labels.empty()) p.labels = inspect::read_labels(o_.labels);
  p.text_tokens = o_.text_tokens;
  p.text_input = o_.text_input;
  view_->open_panels(p, focus_layer(view_->scene().layout, view_->spec().camera));
  ui::PanelActions& a = panels()->actions;
  a.focus_layer = [this](int layer) {
    const auto& ro = view_->renderer().options();
    cc_->fly_to(viz::focus_camera(view_->scene().layout, layer, float(ro.width) / float(ro.height)));
    dirty_ = true;
  };
  // Model tree group rows: the arrow folds/unfolds the group in 3D (after the frame: the layout
  // changes), the name flies there.
  a.collapse_group = [this](const std::string& path, bool collapse) {
    pending_group_ = std::make_pair(path, collapse);
    dirty_ = true;
  };
  a.focus_group = [this](const std::string& path) { fly_to_group(path); };
  a.select = [this](int layer, int64_t flat) {
    view_->select(layer, flat);
    dirty_ = true;
  };
  if (o_.open_input) a.load_input = [this](const std::string& path) { open_file(path); };
  if (o_.feeder) a.step_input = [this](int step) { step > 0 ? o_.feeder->next() : o_.feeder->prev(); };
  a.screenshot = [this] { pending_shot_ = "netlens-shot-" + std::to_string(++saved_shots_) + ".png"; };
  a.settings_changed = [this](const ui::ViewSettings& v) {
    if (v.lod_mean != view_->spec().lod_mean) pending_lod_ = true;  // renderer option: rebuilt before the next frame
    pending_scale_ = true;  // rescale_scene() does nothing when the scales are unchanged
    dirty_ = true;
  };
}

void Viewer::rescale_scene() {
  const ui::ViewSettings& v = panels()->settings();
  viz::SceneOptions o = view_->scene().options;
  o.lo_pct = v.lo_pct;
  o.hi_pct = v.hi_pct;
  o.global_scale = v.global_scale;
  if (view_->set_scales(o)) dirty_ = true;
}

void Viewer::apply_panel_settings() {
  if (pending_scale_ && panels()) {
    pending_scale_ = false;
    rescale_scene();
  }
  if (pending_lod_) {
    // Far-layer aggregation is fixed per renderer: the view makes a new one (same size, camera, selection).
    pending_lod_ = false;
    view_->set_lod_mean(panels()->settings().lod_mean);
  }
}

void Viewer::apply_live() {
  if (!o_.live) return;
  ui::Panels* panels_ = panels();
  if (!error_reported_) {
    std::optional<std::string> e = o_.live->error();
    if (!e && o_.feeder) e = o_.feeder->error();
    if (e) {
      std::fprintf(stderr, "netlens view: error: %s (showing the last good input)\n", e->c_str());
      if (panels_) panels_->set_status("error: " + *e);
      error_reported_ = true;
    }
  }
  if (auto r = o_.live->take_result()) {
    // Between two frames: the renderer has no frame in flight, so the switch is whole.
    const double ms = o_.uploader->apply(*r, *view_);  // the view is the results' sink
    o_.live->note_applied(ms);
    if (panels_) rescale_scene();  // a live result has the default scales; the View panel's may differ
    // New activations: the panels' analyses are redone. The pipeline waits for shown() before its
    // next run, so this does not block.
    view_->refresh_panels();
    input_name_ = r->input_name;
    result_id_ = r->id;
    if (panels_) panels_->set_input_path(input_name_);
    dirty_ = true;
  }
  // A single-input view runs through the pipeline only for opened files: its first frame keeps the
  // plain title block, as `render` draws it.
  if (o_.feeder || result_id_ > 0) view_->renderer().set_subtitle(input_name_ + "  |  " + o_.live->stats().line());
}

bool Viewer::live_settled() const {
  if (run_active()) return false;  // a progressive start's run
  if (!o_.live) return true;
  if (o_.feeder && !o_.feeder->idle()) return false;
  return !o_.live->busy() && !o_.live->has_result();
}

}  // namespace detail

void window_context_options(render::ContextOptions& co, int gpu, bool validation) {
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) throw Error(ErrorKind::Device, "cannot open a window (" + g_glfw_error + "); " + kOffscreenHint);
  uint32_t n = 0;
  const char** exts = glfwGetRequiredInstanceExtensions(&n);
  co.gpu = gpu;
  co.validation = validation ? std::optional<bool>(true) : std::nullopt;
  for (uint32_t i = 0; i < n; ++i) co.instance_extensions.emplace_back(exts[i]);
  co.swapchain = true;
  co.can_present = [](VkInstance inst, VkPhysicalDevice p, uint32_t family) {
    return glfwGetPhysicalDevicePresentationSupport(inst, p, family) == GLFW_TRUE;
  };
}

void require_display() {
  if (!env_set("DISPLAY") && !env_set("WAYLAND_DISPLAY"))
    throw Error(ErrorKind::Device, std::string("no display (DISPLAY and WAYLAND_DISPLAY are unset); ") + kOffscreenHint);
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) throw Error(ErrorKind::Device, "cannot open a window (" + g_glfw_error + "); " + kOffscreenHint);
  const bool vk = glfwVulkanSupported() == GLFW_TRUE;
  glfwTerminate();
  if (!vk) throw Error(ErrorKind::Device, std::string("GLFW finds no Vulkan loader for windows; ") + kOffscreenHint);
}

int run_viewer(const Session& s, const ViewerOptions& o) {
  detail::Viewer v(s, o);
  return v.run();
}

}  // namespace netlens::app
