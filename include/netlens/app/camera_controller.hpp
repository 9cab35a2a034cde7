// The viewer's camera controller: orbit and fly modes over a viz::Camera, and smooth animated
// flights between cameras. Pure maths (no window, no Vulkan), so it is unit-tested directly.
// Contract: every method leaves a valid camera (distance > 0, |pitch| < 89°); flights end exactly
// on the requested camera.
#pragma once

#include <glm/vec3.hpp>

#include "netlens/viz/camera.hpp"

namespace netlens::app {

enum class CameraMode { Orbit, Fly };

class CameraController {
 public:
  // `scale`: a length typical of the scene (its radius): sets pan and fly speeds.
  CameraController(viz::Camera start, float scale);

  const viz::Camera& camera() const { return cam_; }
  CameraMode mode() const { return mode_; }
  void toggle_mode();

  void set(const viz::Camera& c);                         // jump (cancels a flight)
  void fly_to(const viz::Camera& c, double seconds = 0.9);  // animated, eased at both ends
  bool animating() const { return flight_t_ < flight_len_; }
  // Advances a flight by dt seconds. Returns true when the camera changed.
  bool update(double dt);

  // Mouse drag by (dx, dy) pixels: orbit mode turns around the target; fly mode looks around
  // (the eye stays put). Right/middle drag pans (both modes).
  void drag(float dx, float dy);
  void pan(float dx, float dy, float viewport_height);
  // Scroll: orbit mode zooms (towards the target); fly mode changes the speed.
  void scroll(float steps);
  // Fly mode movement: (right, up, forward) in [-1, 1] for dt seconds (WASD/QE).
  void move(glm::vec3 axes, double dt);
  float fly_speed() const { return speed_; }

  // Eye, forward and right unit vectors of the current camera.
  glm::vec3 forward() const;
  glm::vec3 right() const;

 private:
  void cancel_flight() { flight_t_ = flight_len_ = 0; }
  viz::Camera cam_;
  CameraMode mode_ = CameraMode::Orbit;
  float scale_ = 1.0f, speed_ = 1.0f;
  viz::Camera from_, to_;
  double flight_t_ = 0, flight_len_ = 0;
};

// The camera `t` ∈ [0, 1] of the way from a to b: target and fov linear, distance geometric, yaw the
// short way round, pitch linear (t is eased by the caller).
viz::Camera interpolate(const viz::Camera& a, const viz::Camera& b, float t);

}  // namespace netlens::app
