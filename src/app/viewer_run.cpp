// The window's progressive start (ViewerOptions::first_run_session, docs/progressive.md): the
// structure on screen first, the model run on its own thread (app::BackgroundRun) once that frame
// is presented, the pieces of the layers it computes patched into the scene between frames (each
// update uploads only its new layers; at most ~10% of the time goes to uploads, so the view stays
// fluid), a progress bar, Esc cancelling.
// Also the model tree's group actions (app/viewer_groups.hpp).
#include <imgui.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "netlens/app/viewer_groups.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "viewer_impl.hpp"

namespace netlens::app::detail {

namespace {

std::vector<std::string> layout_names(const viz::Layout& l) {
  std::vector<std::string> n;
  n.reserve(l.layers.size());
  for (const auto& v : l.layers) n.push_back(v.tensor.name);
  return n;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double p95(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() * 95 / 100];
}

}  // namespace

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno || *end || x < lo || x > hi)
    throw Error(ErrorKind::Usage, std::string(name) + "='" + v + "': expected an integer from " + std::to_string(lo) +
                                      " to " + std::to_string(hi));
  return static_cast<int>(x);
}

double Viewer::since_start_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - o_.start).count();
}

void Viewer::start_first_run() {
  const Session& s = *o_.first_run_session;
  std::vector<viz::VizTensor> all = viz::select_tensors(s.graph(), s.planned());
  run_t0_ = glfwGetTime();
  last_run_draw_ = run_t0_;
  // The run below the window's priority: on a CPU Vulkan the rasteriser's threads and the run's
  // OpenMP threads share the cores, and at the same priority each frame waited for them.
  bg_ = std::make_unique<BackgroundRun>(*o_.first_run_session, std::move(o_.first_run_inputs), std::move(all),
                                        layout_names(view_->layout()), view_->scene().options, run_nice_);
  if (cancel_early_) bg_->cancel();
  std::fprintf(stderr, "netlens view: structure on screen after %.0f ms; running the model (Esc cancels)\n", first_frame_ms_);
}

void Viewer::cancel_first_run() {
  if (bg_) bg_->cancel();
  else cancel_early_ = true;
  std::fprintf(stderr, "netlens view: cancelling the run (Esc)\n");
}

void Viewer::poll_first_run() {
  if (!bg_ || bg_ended_) return;
  const RunProgress p = bg_->progress();
  const double now = glfwGetTime();
  // Progress redrawn 4 times a second while nothing else moves (each frame costs the run CPU time).
  if (p.ended() || (p.nodes_done != run_progress_.nodes_done && now - last_run_draw_ >= 0.25) ||
      (now >= next_patch_at_ && (p.tensors_filled != run_progress_.tensors_filled || !queued_pieces_.empty())))
    dirty_ = true;
}

void Viewer::apply_first_run() {
  if (!bg_ || bg_ended_) return;
  const RunProgress p = bg_->progress();
  const bool ended = p.ended();
  if (ended) bg_->join();
  const double now = glfwGetTime();
  if (ended || now >= next_patch_at_) {
    std::vector<std::shared_ptr<const FilledTensor>> got = bg_->take();
    queued_pieces_.insert(queued_pieces_.end(), std::make_move_iterator(got.begin()), std::make_move_iterator(got.end()));
    // Layers that finish together are spread over a few frames; all of them once the run has ended
    // (the complete frame).
    constexpr int64_t kUpdateNeurons = int64_t{4} << 20;
    const size_t k = ended ? queued_pieces_.size() : pieces_within(queued_pieces_, kUpdateNeurons);
    std::vector<std::shared_ptr<const FilledTensor>> pieces(queued_pieces_.begin(), queued_pieces_.begin() + static_cast<std::ptrdiff_t>(k));
    queued_pieces_.erase(queued_pieces_.begin(), queued_pieces_.begin() + static_cast<std::ptrdiff_t>(k));
    if (!pieces.empty()) {
      size_t n = 0;
      const double t0 = glfwGetTime();
      view_->patch_scene([&](viz::Scene& sc) {
        std::vector<int> layers;
        n = patch_scene(sc, pieces, &layers);
        return layers;
      });
      for (const auto& piece : pieces)
        if (view_->layout().find(piece->name) >= 0) patched_.insert(piece->name);
      const double ms = (glfwGetTime() - t0) * 1000.0;
      // An update uploads its new layers only (Renderer::update_layers), so layers appear in the
      // frame after they are ready; a big layer's upload (tens of ms on lavapipe) still spaces the
      // next one so that at most ~10% of the time goes to uploads.
      next_patch_at_ = glfwGetTime() + 0.009 * ms;
      patch_ms_.push_back(ms);
      patch_fill_.emplace_back(p.tensors_filled, p.nodes_done);
    }
  }
  run_progress_ = p;
  last_run_draw_ = now;
  if (ended) {
    first_run_ended();
    return;
  }
  char sub[200];
  if (p.state == RunProgress::State::Preparing)
    std::snprintf(sub, sizeof sub, "preparing the model (%zu nodes) - Esc cancels", p.nodes_total);
  else
    std::snprintf(sub, sizeof sub, "computing node %zu of %zu, %zu of %zu layers filled (grey: not computed yet) - Esc cancels",
                  p.nodes_done, p.nodes_total, p.tensors_filled, p.tensors_total);
  view_->renderer().set_subtitle(sub);
}

void Viewer::first_run_ended() {
  bg_ended_ = true;
  const RunProgress& p = run_progress_;
  run_t1_ = glfwGetTime();
  const bool completed = p.state == RunProgress::State::Finished;
  if (completed) {
    // Every shown layer patched: the scene is already the one a complete build makes (the pieces are
    // built as build_scene builds each layer); else it is rebuilt from the finished run.
    bool whole = true;
    for (const auto& l : view_->layout().layers) whole = whole && patched_.count(l.tensor.name);
    if (whole) view_->refresh_panels();
    else view_->set_values(viz::ValueMode::Activation);
    patched_.clear();
    view_->renderer().set_subtitle(view_->spec().subtitle);
    std::fprintf(stderr, "netlens view: model ran in %.0f ms (prepared in %.0f ms on its thread)\n", p.run_ms, p.prepare_ms);
  } else {
    show_partial_run();
    char sub[240];
    std::snprintf(sub, sizeof sub, "run %s at node %zu of %zu: %zu of %zu layers computed (grey: not computed)",
                  p.state == RunProgress::State::Cancelled ? "cancelled" : "failed", p.nodes_done, p.nodes_total,
                  p.tensors_filled, p.tensors_total);
    view_->renderer().set_subtitle(sub);
    std::fprintf(stderr, "netlens view: %s: %s; showing the %zu of %zu layers computed (%zu of %zu nodes run)\n",
                 p.state == RunProgress::State::Cancelled ? "cancelled" : "error", p.message.c_str(), p.tensors_filled,
                 p.tensors_total, p.nodes_done, p.nodes_total);
    if (panels()) panels()->set_status(p.state == RunProgress::State::Cancelled ? "run cancelled: grey layers were not computed"
                                                                                : "error: " + p.message);
  }
  complete_pending_ = true;
  if (o_.after_first_run) {
    o_.after_first_run(o_, completed);
    if (o_.on_view) o_.on_view(*view_);
  }
  dirty_ = true;
}

void Viewer::show_partial_run() {
  const Session& s = *o_.first_run_session;  // the run's thread has ended
  view_->show_scene(partial_scene(s, view_->layout(), view_->scene().options, run_progress_.nodes_done));
  view_->set_partial_run(run_progress_.nodes_done);  // the panels say "not computed" past it
  view_->refresh_panels();
}

void Viewer::after_relayout() {
  if (!o_.first_run_session) return;
  if (bg_ && !bg_ended_) {
    patched_.clear();
    queued_pieces_.clear();  // of the old layout: want() below brings the computed layers again
    bg_->want(layout_names(view_->layout()));  // the new layout's computed layers come again
    next_patch_at_ = 0.0;
  } else if (bg_ended_ && view_->spec().structure_only) {
    // The layout of a structure-only view is made grey: a cancelled first run (no other run since)
    // shows what was computed, a finished one its values.
    if (result_id_ == 0 && run_progress_.state != RunProgress::State::Finished) show_partial_run();
    else view_->set_values(viz::ValueMode::Activation);
  }
}

void Viewer::note_first_run_frame() {
  if (first_frame_ms_ < 0) first_frame_ms_ = since_start_ms();
  if (complete_pending_) {
    complete_pending_ = false;
    complete_ms_ = since_start_ms();
  }
  if (run_active() && bg_) {
    run_frame_ms_.push_back(frame_ms_.back());
    run_scale_.push_back(frame_scale_);
    ++run_frames_;
  } else if (bg_ended_) {
    after_frame_ms_.push_back(frame_ms_.back());  // the same view with nothing running
    after_scale_min_ = std::min(after_scale_min_, frame_scale_);
  }
}

// While the model runs (its threads share the cores with the rasteriser, which on a CPU Vulkan
// pays per pixel), the 3D scene is drawn at a reduced scale when the frames miss the 33 ms budget
// (app::DrawScaleController: down at once to the level that should meet it, up one level at a time).
// Text and panels stay at the full size (Renderer::set_render_scale). Without a run in flight, or
// with NETLENS_FULL_RES=1: scale 1, the very frames as before.
float Viewer::choose_draw_scale() {
  if (full_res_ || !run_active() || !bg_) {
    scale_ctl_.reset();
    return 1.0f;
  }
  return scale_ctl_.next(frame_ms_);
}

// While the run is in flight, a frame starts at least 1/NETLENS_RUN_MAX_FPS s after the previous
// one: the time a faster frame would take goes to the run (a lower-priority thread gets the CPU only
// while the window's threads wait). Events are handled meanwhile; what they change is drawn by this
// frame.
void Viewer::pace_run_frame() {
  if (!run_active() || !bg_ || run_max_fps_ <= 0) {
    last_frame_at_ = -1.0;
    return;
  }
  const double interval = 1.0 / run_max_fps_;
  if (last_frame_at_ >= 0)
    for (double now = glfwGetTime(); now < last_frame_at_ + interval; now = glfwGetTime())
      glfwWaitEventsTimeout(last_frame_at_ + interval - now);
  last_frame_at_ = glfwGetTime();
}

void Viewer::first_run_summary() const {
  if (!o_.first_run_session) return;
  const RunProgress& p = run_progress_;
  std::string updates;
  // The first 39 updates and the last (now that layers come as soon as they are ready, dozens).
  for (size_t i = 0; i < patch_fill_.size(); ++i) {
    if (i == 39 && patch_fill_.size() > 40) updates += ", ...";
    if (i >= 39 && i + 1 < patch_fill_.size()) continue;
    updates += (i ? ", " : "") + std::to_string(patch_fill_[i].first) + "/" + std::to_string(p.tensors_total);
  }
  const double secs = (bg_ended_ ? run_t1_ : glfwGetTime()) - run_t0_;
  std::fprintf(stderr,
               "netlens view: progressive start: structure frame at %.0f ms, %s frame at %.0f ms; while the model ran: "
               "%lld frames in %.1f s (%.1f fps), frame time median %.1f ms, p95 %.1f ms; %zu updates (upload median %.0f ms; "
               "layers filled %s); after it: %zu frames, frame time median %.1f ms; draw scale while it ran: median %.2f, "
               "min %.2f, %zu of %zu frames reduced%s; after it: min %.2f; the run at nice %d, frames %s\n",
               first_frame_ms_,
               p.state == RunProgress::State::Finished    ? "complete"
               : p.state == RunProgress::State::Cancelled ? "cancelled run's"
               : p.ended()                                ? "failed run's"
                                                          : "last",
               complete_ms_, static_cast<long long>(run_frames_), secs,
               secs > 0 ? double(run_frames_) / secs : 0.0, median(run_frame_ms_), p95(run_frame_ms_), patch_ms_.size(),
               median(patch_ms_), updates.empty() ? "none" : updates.c_str(), after_frame_ms_.size(), median(after_frame_ms_),
               run_scale_.empty() ? 1.0 : median(std::vector<double>(run_scale_.begin(), run_scale_.end())),
               run_scale_.empty() ? 1.0 : double(*std::min_element(run_scale_.begin(), run_scale_.end())),
               static_cast<size_t>(std::count_if(run_scale_.begin(), run_scale_.end(), [](float s) { return s < 1.0f; })),
               run_scale_.size(), full_res_ ? " (NETLENS_FULL_RES)" : "", double(after_scale_min_), p.nice,
               run_max_fps_ > 0 ? ("at most " + std::to_string(run_max_fps_) + " a second").c_str() : "not paced");
}

void Viewer::run_overlay(float W, float H) {
  if (!run_active()) return;
  const RunProgress& p = run_progress_;
  ImDrawList* dl = ImGui::GetForegroundDrawList();
  const float fs = ImGui::GetFontSize();
  const float bw = std::min(0.6f * W, 50.0f * fs), bh = 0.45f * fs;
  const float x0 = 0.5f * (W - bw), y0 = H - 2.4f * fs;
  const float f = p.nodes_total ? std::clamp(float(p.nodes_done) / float(p.nodes_total), 0.0f, 1.0f) : 0.0f;
  char line[200];
  if (!bg_ || p.state == RunProgress::State::Preparing)
    std::snprintf(line, sizeof line, "preparing the model ... (Esc cancels)");
  else
    std::snprintf(line, sizeof line, "node %zu of %zu  |  %zu of %zu layers  |  %.60s%sEsc cancels", p.nodes_done,
                  p.nodes_total, p.tensors_filled, p.tensors_total, p.last_node.c_str(),
                  p.last_node.empty() ? "" : "  |  ");  // no empty field before the first node
  dl->AddRectFilled(ImVec2(x0 - 0.6f * fs, y0 - 1.7f * fs), ImVec2(x0 + bw + 0.6f * fs, y0 + bh + 0.6f * fs),
                    IM_COL32(12, 14, 18, 190), 0.3f * fs);
  dl->AddText(ImVec2(x0, y0 - 1.35f * fs), IM_COL32(235, 238, 242, 255), line);
  dl->AddRectFilled(ImVec2(x0, y0), ImVec2(x0 + bw, y0 + bh), IM_COL32(70, 76, 88, 255), 0.2f * fs);
  if (f > 0.0f) dl->AddRectFilled(ImVec2(x0, y0), ImVec2(x0 + bw * f, y0 + bh), IM_COL32(90, 190, 255, 255), 0.2f * fs);
}

// ------------------------------------------------------------------------------------------------
// The model tree's group rows (ui::PanelActions::collapse_group / focus_group).

void Viewer::apply_group_toggle() {
  if (!pending_group_) return;
  const auto [path, collapse] = *pending_group_;
  pending_group_.reset();
  relayout([&] { return set_group_collapsed(*view_, path, collapse); });
}

void Viewer::fly_to_group(const std::string& path) {
  const auto& ro = view_->renderer().options();
  if (auto cam = group_camera(*view_, path, float(ro.width) / float(ro.height))) {
    cc_->fly_to(*cam);
    dirty_ = true;
  }
}

}  // namespace netlens::app::detail
