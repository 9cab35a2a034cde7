#include "netlens/app/camera_controller.hpp"

#include <algorithm>
#include <cmath>

#include <glm/geometric.hpp>
#include <glm/trigonometric.hpp>

namespace netlens::app {

namespace {
constexpr float kMaxPitch = 88.0f;
float wrap180(float a) {
  a = std::fmod(a + 180.0f, 360.0f);
  if (a < 0) a += 360.0f;
  return a - 180.0f;
}
}  // namespace

CameraController::CameraController(viz::Camera start, float scale)
    : cam_(start), scale_(std::max(scale, 1e-3f)), speed_(0.25f * std::max(scale, 1e-3f)) {}

void CameraController::toggle_mode() { mode_ = mode_ == CameraMode::Orbit ? CameraMode::Fly : CameraMode::Orbit; }

void CameraController::set(const viz::Camera& c) {
  cancel_flight();
  cam_ = c;
}

void CameraController::fly_to(const viz::Camera& c, double seconds) {
  if (seconds <= 0) {
    set(c);
    return;
  }
  from_ = cam_;
  to_ = c;
  flight_t_ = 0;
  flight_len_ = seconds;
}

viz::Camera interpolate(const viz::Camera& a, const viz::Camera& b, float t) {
  viz::Camera c;
  c.target = a.target + (b.target - a.target) * t;
  c.distance = a.distance * std::pow(b.distance / a.distance, t);
  c.yaw_deg = a.yaw_deg + wrap180(b.yaw_deg - a.yaw_deg) * t;
  c.pitch_deg = a.pitch_deg + (b.pitch_deg - a.pitch_deg) * t;
  c.fov_y_deg = a.fov_y_deg + (b.fov_y_deg - a.fov_y_deg) * t;
  // The cutaway switches at once: to the destination's as soon as the flight starts.
  c.cut = t > 0.0f ? b.cut : a.cut;
  c.cut_x = t > 0.0f ? b.cut_x : a.cut_x;
  return c;
}

bool CameraController::update(double dt) {
  if (!animating()) return false;
  flight_t_ = std::min(flight_len_, flight_t_ + std::max(dt, 0.0));
  if (flight_t_ >= flight_len_) {
    cam_ = to_;
    cancel_flight();
    return true;
  }
  float t = static_cast<float>(flight_t_ / flight_len_);
  t = t * t * (3.0f - 2.0f * t);  // ease in and out
  cam_ = interpolate(from_, to_, t);
  return true;
}

glm::vec3 CameraController::forward() const {
  float yaw = glm::radians(cam_.yaw_deg), pitch = glm::radians(cam_.pitch_deg);
  // Matches viz::camera_eye: the eye looks along this direction at the target.
  return glm::vec3(std::cos(pitch) * std::cos(yaw), -std::sin(pitch), std::cos(pitch) * std::sin(yaw));
}

glm::vec3 CameraController::right() const {
  glm::vec3 f = forward();
  glm::vec3 r = glm::cross(f, glm::vec3(0, 1, 0));
  float n = glm::length(r);
  return n > 1e-5f ? r / n : glm::vec3(0, 0, 1);
}

void CameraController::drag(float dx, float dy) {
  cancel_flight();
  const float k = 0.25f;  // degrees per pixel
  if (mode_ == CameraMode::Orbit) {
    // The scene follows the mouse: dragging right brings the right side towards the viewer.
    cam_.yaw_deg = wrap180(cam_.yaw_deg - dx * k);
    cam_.pitch_deg = std::clamp(cam_.pitch_deg + dy * k, -kMaxPitch, kMaxPitch);
  } else {
    // Mouse look: turn about the eye (right → look right, down → look down).
    glm::vec3 eye = viz::camera_eye(cam_);
    cam_.yaw_deg = wrap180(cam_.yaw_deg + dx * k);
    cam_.pitch_deg = std::clamp(cam_.pitch_deg + dy * k, -kMaxPitch, kMaxPitch);
    cam_.target = eye + forward() * cam_.distance;
  }
}

void CameraController::pan(float dx, float dy, float viewport_height) {
  cancel_flight();
  // One pixel moves the target by the world size of a pixel at the target's depth.
  float px = 2.0f * cam_.distance * std::tan(glm::radians(cam_.fov_y_deg) * 0.5f) / std::max(viewport_height, 1.0f);
  glm::vec3 up = glm::normalize(glm::cross(right(), forward()));
  cam_.target += (-dx * right() + dy * up) * px;
}

void CameraController::scroll(float steps) {
  if (mode_ == CameraMode::Orbit) {
    cancel_flight();
    cam_.distance = std::clamp(cam_.distance * std::pow(0.85f, steps), 1e-3f * scale_, 50.0f * scale_);
  } else {
    speed_ = std::clamp(speed_ * std::pow(1.25f, steps), 1e-4f * scale_, 10.0f * scale_);
  }
}

void CameraController::move(glm::vec3 axes, double dt) {
  if (axes == glm::vec3(0.0f) || dt <= 0) return;
  cancel_flight();
  glm::vec3 d = axes.x * right() + axes.y * glm::vec3(0, 1, 0) + axes.z * forward();
  cam_.target += d * (speed_ * static_cast<float>(dt));  // eye and target move together
}

}  // namespace netlens::app
