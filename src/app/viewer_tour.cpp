// The viewer's tours and presenter keys (see viewer.hpp for the keys): recording keyframes from the
// current view, saving them as a tour (viz/tour.hpp), playing a tour with its eased flights and
// timed captions, stepping stop by stop, a blank screen, a pointer highlight, full screen and
// speaker notes. Drawn with ImGui's foreground draw list through View::set_presenter_overlay, so
// it shows with the panels hidden too.
#include <algorithm>
#include <cstdio>

#include "viewer_impl.hpp"

namespace netlens::app::detail {

void Viewer::presenter_open() {
  if (!o_.tour.empty()) {
    tour_ = viz::read_tour(o_.tour);
    // Names are checked now: a tour made for another model is one line, not a surprise at stop 7.
    const viz::Layout& l = view_->scene().layout;
    for (size_t i = 0; i < tour_.keys.size(); ++i) {
      const viz::Keyframe& k = tour_.keys[i];
      const std::string kw = o_.tour + ": keyframe " + std::to_string(i + 1);
      if (!k.layer.empty() && l.find(k.layer) < 0) throw Error(ErrorKind::Usage, kw + ": layer '" + k.layer + "' is not shown in this model");
      if (!k.select.empty()) viz::parse_neuron(l, k.select, kw + ": select");
      viz::parse_value_mode(k.values, kw + ": values");
    }
    tour_playing_ = true;
    tour_t_ = 0.0;
    std::fprintf(stderr, "netlens view: playing tour %s (%zu stops, %.1f s); PageDown/PageUp step, Space pauses\n", o_.tour.c_str(),
                 tour_.keys.size(), viz::tour_length(tour_));
  }
  view_->set_presenter_overlay([this](int w, int h) { presenter_overlay(w, h); });
}

void Viewer::presenter_update(double dt) {
  if (tour_.keys.empty() || !tour_playing_) return;
  tour_t_ += dt;
  const double end = viz::tour_length(tour_);
  if (tour_stop_at_ >= 0 && tour_t_ >= tour_stop_at_) {  // stepping: wait at the stop
    tour_t_ = tour_stop_at_;
    tour_playing_ = false;
  }
  if (tour_t_ >= end) {
    tour_t_ = end;
    tour_playing_ = false;
  }
  show_tour_time();
}

void Viewer::show_tour_time() {
  const viz::TourState st = viz::tour_state(tour_, tour_t_);
  cc_->set(st.camera);
  caption_ = st.caption;
  caption_alpha_ = st.caption_alpha;
  tour_key_ = st.key;
  if (st.key != tour_key_applied_) {
    tour_key_applied_ = st.key;
    const viz::Keyframe& k = tour_.keys[st.key];
    guarded([&] {  // a value mode the session cannot show is one line; the tour goes on
      const viz::ValueMode m = viz::parse_value_mode(k.values);
      if (m != view_->values()) view_->set_values(m);
    });
    if (!k.select.empty()) {
      auto [layer, flat] = viz::parse_neuron(view_->scene().layout, k.select);
      view_->select(layer, flat);
    } else if (view_->selection().layer >= 0) {
      view_->clear_selection();
    }
    // The focused layer: the Layer inspector shows it (the selection's layer when none is named).
    if (ui::Panels* p = panels()) p->set_focus(k.layer.empty() ? -1 : view_->scene().layout.find(k.layer));
  }
  dirty_ = true;
}

void Viewer::goto_stop(int step) {
  if (tour_.keys.empty()) return;
  const viz::TourState st = viz::tour_state(tour_, tour_t_);
  const int n = static_cast<int>(tour_.keys.size()), k = static_cast<int>(st.key);
  if (step > 0) {
    // Holding at k: fly on to k+1; flying into k: finish that flight. Then wait there.
    const int target = st.holding ? k + 1 : k;
    if (target >= n) return;
    tour_t_ = std::max(tour_t_, target > 0 ? viz::key_departure(tour_, static_cast<size_t>(target - 1)) : 0.0);
    tour_stop_at_ = viz::key_arrival(tour_, static_cast<size_t>(target));
    tour_playing_ = true;
  } else {
    // Back: at the previous stop at once (presenters go back to re-show, not to watch a flight).
    const int target = std::max(0, k - 1);
    tour_t_ = viz::key_arrival(tour_, static_cast<size_t>(target));
    tour_stop_at_ = tour_t_;
    tour_playing_ = false;
    show_tour_time();
  }
  dirty_ = true;
}

void Viewer::add_keyframe() {
  viz::Keyframe k = viz::keyframe_from_camera(cc_->camera());
  const render::Selection& sel = view_->selection();
  const viz::Layout& l = view_->scene().layout;
  if (sel.layer >= 0) {
    k.layer = l.layers[static_cast<size_t>(sel.layer)].tensor.name;
    k.select = k.layer + ":" + std::to_string(sel.flat);
  } else if (ui::Panels* p = panels(); p && p->focus() >= 0 && static_cast<size_t>(p->focus()) < l.layers.size()) {
    k.layer = l.layers[static_cast<size_t>(p->focus())].tensor.name;  // the inspected layer
  }
  k.values = viz::value_mode_name(view_->values());
  k.caption = "stop " + std::to_string(tour_.keys.size() + 1);
  if (tour_.keys.empty()) k.duration = 0.0;
  tour_.keys.push_back(std::move(k));
  tour_key_ = tour_.keys.size() - 1;  // the Tour window edits the new keyframe
  toast("keyframe " + std::to_string(tour_.keys.size()) + " added (T saves the tour)");
}

void Viewer::save_tour() {
  if (tour_.keys.empty()) throw Error(ErrorKind::Usage, "no keyframes to save: K adds the current view as one");
  const std::string path = o_.tour_out.empty() ? "netlens-tour.json" : o_.tour_out;
  viz::write_tour(tour_, path);
  toast("tour of " + std::to_string(tour_.keys.size()) + " keyframes saved to " + path);
}

void Viewer::toggle_fullscreen() {
  GLFWmonitor* mon = glfwGetWindowMonitor(win_);
  if (mon) {
    glfwSetWindowMonitor(win_, nullptr, windowed_[0], windowed_[1], windowed_[2], windowed_[3], GLFW_DONT_CARE);
  } else {
    GLFWmonitor* primary = glfwGetPrimaryMonitor();
    const GLFWvidmode* mode = primary ? glfwGetVideoMode(primary) : nullptr;
    if (!mode) throw Error(ErrorKind::Device, "full screen: no monitor found");
    glfwGetWindowPos(win_, &windowed_[0], &windowed_[1]);
    glfwGetWindowSize(win_, &windowed_[2], &windowed_[3]);
    glfwSetWindowMonitor(win_, primary, 0, 0, mode->width, mode->height, mode->refreshRate);
  }
  need_recreate_ = true;  // a new framebuffer size: the swapchain follows
}

void Viewer::toast(const std::string& text) {
  toast_ = text;
  toast_until_ = glfwGetTime() + 2.0;
  std::fprintf(stderr, "netlens view: %s\n", text.c_str());
  dirty_ = true;
}

bool Viewer::presenter_key(int key) {
  const bool tour = !tour_.keys.empty();
  switch (key) {
    case GLFW_KEY_PAGE_DOWN: goto_stop(+1); return true;
    case GLFW_KEY_PAGE_UP: goto_stop(-1); return true;
    case GLFW_KEY_RIGHT:
    case GLFW_KEY_LEFT:
      if (!tour || o_.feeder) return false;  // live input: the arrows step the images
      goto_stop(key == GLFW_KEY_RIGHT ? +1 : -1);
      return true;
    case GLFW_KEY_SPACE:
      if (!tour || o_.feeder) return false;
      tour_playing_ = !tour_playing_;
      tour_stop_at_ = -1.0;  // plays on through the holds
      if (tour_playing_ && tour_t_ >= viz::tour_length(tour_)) tour_t_ = 0.0;
      std::fprintf(stderr, "netlens view: tour %s\n", tour_playing_ ? "playing" : "paused");
      return true;
    case GLFW_KEY_K: add_keyframe(); return true;
    case GLFW_KEY_T: save_tour(); return true;
    case GLFW_KEY_B:
      blank_ = !blank_;
      return true;
    case GLFW_KEY_L:
      pointer_ = !pointer_;
      return true;
    case GLFW_KEY_F2:
      notes_ = !notes_;
      return true;
    case GLFW_KEY_F11: toggle_fullscreen(); return true;
    default: return false;
  }
}

// With the panels shown: a small window editing the current keyframe's caption and notes (typing
// there takes the keyboard: ImGui's WantCaptureKeyboard keeps K/T/B from firing).
void Viewer::tour_window(float W, float H) {
  const size_t k = std::min(tour_key_, tour_.keys.size() - 1);
  viz::Keyframe& kf = tour_.keys[k];
  if (k != edit_key_) {
    edit_key_ = k;
    std::snprintf(caption_buf_.data(), caption_buf_.size(), "%s", kf.caption.c_str());
    std::snprintf(notes_buf_.data(), notes_buf_.size(), "%s", kf.notes.c_str());
  }
  const float fs = ImGui::GetFontSize();
  ImGui::SetNextWindowPos(ImVec2(0.5f * W, H - 7.0f * fs), ImGuiCond_Always, ImVec2(0.5f, 1.0f));
  ImGui::SetNextWindowSize(ImVec2(std::min(32.0f * fs, 0.4f * W), 0.0f), ImGuiCond_Always);
  if (ImGui::Begin("Tour", nullptr, ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoCollapse)) {
    ImGui::Text("keyframe %zu of %zu (K adds, T saves%s)", k + 1, tour_.keys.size(), o_.tour_out.empty() ? "" : (" to " + o_.tour_out).c_str());
    if (ImGui::InputText("caption", caption_buf_.data(), caption_buf_.size())) kf.caption = caption_buf_.data();
    if (ImGui::InputTextMultiline("notes", notes_buf_.data(), notes_buf_.size(), ImVec2(0.0f, 3.0f * fs))) kf.notes = notes_buf_.data();
    float hold = static_cast<float>(kf.hold), dur = static_cast<float>(kf.duration);
    if (ImGui::DragFloat("hold s", &hold, 0.05f, 0.0f, 60.0f, "%.2f")) kf.hold = hold;
    if (k > 0 && ImGui::DragFloat("flight s", &dur, 0.05f, 0.0f, 60.0f, "%.2f")) kf.duration = dur;
  }
  ImGui::End();
}

void Viewer::presenter_overlay(int w, int h) {
  ImDrawList* dl = ImGui::GetForegroundDrawList();
  const float ps = view_->gui() ? view_->gui()->pixel_scale() : 1.0f;
  const float W = static_cast<float>(w) / ps, H = static_cast<float>(h) / ps;
  ImFont* font = ImGui::GetFont();
  const float fs = ImGui::GetFontSize();
  if (blank_) {
    dl->AddRectFilled(ImVec2(0, 0), ImVec2(W, H), IM_COL32(0, 0, 0, 255));
    return;
  }
  run_overlay(W, H);  // a progressive start's progress bar (viewer_run.cpp)
  if (!caption_.empty() && caption_alpha_ > 0.0f) {
    // As `record` draws it: centred near the bottom on a dark band.
    float size = std::max(fs * 1.6f, 0.036f * H);
    ImVec2 ts = font->CalcTextSizeA(size, FLT_MAX, 0.0f, caption_.c_str());
    if (ts.x > 0.9f * W) {
      size *= 0.9f * W / ts.x;
      ts = font->CalcTextSizeA(size, FLT_MAX, 0.0f, caption_.c_str());
    }
    const ImVec2 p((W - ts.x) * 0.5f, H - 0.06f * H - ts.y);
    const float pad = 0.5f * size;
    const auto a = static_cast<int>(caption_alpha_ * 255.0f);
    dl->AddRectFilled(ImVec2(p.x - pad, p.y - 0.3f * pad), ImVec2(p.x + ts.x + pad, p.y + ts.y + 0.3f * pad),
                      IM_COL32(12, 12, 12, a * 158 / 255), 0.25f * size);
    dl->AddText(font, size, p, IM_COL32(245, 245, 245, a), caption_.c_str());
  }
  if (show_panels_ && !tour_.keys.empty()) tour_window(W, H);
  if (notes_) {
    // Speaker notes: the presenter's screen only (never in `record`'s frames).
    std::string text = "Speaker notes";
    if (!tour_.keys.empty()) {
      const viz::Keyframe& k = tour_.keys[std::min(tour_key_, tour_.keys.size() - 1)];
      text += " - stop " + std::to_string(tour_key_ + 1) + " of " + std::to_string(tour_.keys.size()) + "\n" +
              (k.notes.empty() ? "(no notes for this stop)" : k.notes);
      if (tour_key_ + 1 < tour_.keys.size()) text += "\n\nnext: " + tour_.keys[tour_key_ + 1].caption;
    } else {
      text += "\n(no tour: K adds a keyframe, T saves, view --tour FILE plays)";
    }
    const float bw = std::min(0.4f * W, 40.0f * fs);
    const ImVec2 ts = font->CalcTextSizeA(fs, FLT_MAX, bw, text.c_str());
    const ImVec2 p(W - bw - 2.0f * fs, 4.5f * fs);  // below the toast line
    dl->AddRectFilled(ImVec2(p.x - fs, p.y - fs), ImVec2(p.x + bw + fs, p.y + ts.y + fs), IM_COL32(20, 24, 34, 230), 6.0f);
    dl->AddText(font, fs, p, IM_COL32(230, 230, 210, 255), text.c_str(), nullptr, bw);
  }
  if (pointer_ && cursor_.x >= 0 && cursor_.y >= 0) {
    const ImVec2 c(cursor_.x / ps, cursor_.y / ps);
    const float r = std::max(10.0f, 0.018f * H);
    dl->AddCircleFilled(c, r, IM_COL32(255, 40, 40, 90), 32);
    dl->AddCircle(c, r, IM_COL32(255, 60, 60, 230), 32, 2.0f);
    dl->AddCircleFilled(c, 0.2f * r, IM_COL32(255, 80, 80, 255), 12);
  }
  if (!toast_.empty() && glfwGetTime() < toast_until_) {
    const ImVec2 ts = font->CalcTextSizeA(fs, FLT_MAX, 0.0f, toast_.c_str());
    const ImVec2 p((W - ts.x) * 0.5f, 2.0f * fs);
    dl->AddRectFilled(ImVec2(p.x - fs, p.y - 0.4f * fs), ImVec2(p.x + ts.x + fs, p.y + ts.y + 0.4f * fs), IM_COL32(20, 24, 34, 220), 4.0f);
    dl->AddText(p, IM_COL32(240, 240, 240, 255), toast_.c_str());
  }
}

}  // namespace netlens::app::detail
