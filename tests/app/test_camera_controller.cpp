// The viewer's camera controller: flights end exactly where asked and take the short way round,
// orbit keeps the target, fly-mode look keeps the eye, movement and zoom scale as documented.
#include <gtest/gtest.h>

#include <cmath>

#include <glm/geometric.hpp>

#include "netlens/app/camera_controller.hpp"

using namespace netlens;
using namespace netlens::app;

namespace {
viz::Camera cam(glm::vec3 t, float d, float yaw, float pitch) {
  viz::Camera c;
  c.target = t;
  c.distance = d;
  c.yaw_deg = yaw;
  c.pitch_deg = pitch;
  return c;
}
void expect_near(glm::vec3 a, glm::vec3 b, float tol) {
  EXPECT_NEAR(a.x, b.x, tol);
  EXPECT_NEAR(a.y, b.y, tol);
  EXPECT_NEAR(a.z, b.z, tol);
}
}  // namespace

TEST(CameraController, FlightEndsExactlyOnTheTargetCamera) {
  viz::Camera a = cam({0, 0, 0}, 100, -40, 20), b = cam({50, -10, 5}, 10, -62, 25);
  CameraController cc(a, 100);
  cc.fly_to(b, 0.9);
  EXPECT_TRUE(cc.animating());
  float prev = a.distance;
  int steps = 0;
  while (cc.animating() && steps < 1000) {
    EXPECT_TRUE(cc.update(1.0 / 30.0));
    EXPECT_LE(cc.camera().distance, prev + 1e-4f);  // monotone zoom in, no overshoot
    prev = cc.camera().distance;
    ++steps;
  }
  // 0.9 s at 30 frames/s: 27 steps, or 28 when the summed 1/30 s steps round just below 0.9.
  EXPECT_GE(steps, 27);
  EXPECT_LE(steps, 28);
  EXPECT_EQ(cc.camera(), b);
  EXPECT_FALSE(cc.update(0.1));  // nothing left to animate
}

TEST(CameraController, FlightTakesTheShortWayRound) {
  viz::Camera a = cam({0, 0, 0}, 10, 170, 0), b = cam({0, 0, 0}, 10, -170, 0);
  viz::Camera mid = interpolate(a, b, 0.5f);
  // 170 → -170 is 20° through 180°, not 340° through 0°.
  EXPECT_NEAR(std::fabs(std::remainder(mid.yaw_deg, 360.0f)), 180.0f, 1e-3f);
  EXPECT_EQ(interpolate(a, b, 0.0f), a);
  EXPECT_NEAR(interpolate(a, b, 0.25f).distance, 10.0f, 1e-4f);
}

TEST(CameraController, OrbitKeepsTheTargetAndFlyLookKeepsTheEye) {
  viz::Camera a = cam({1, 2, 3}, 40, -35, 20);
  CameraController cc(a, 50);
  cc.drag(40, -12);
  EXPECT_EQ(cc.camera().target, a.target);
  EXPECT_EQ(cc.camera().distance, a.distance);
  EXPECT_NE(cc.camera().yaw_deg, a.yaw_deg);
  cc.toggle_mode();
  ASSERT_EQ(cc.mode(), CameraMode::Fly);
  glm::vec3 eye = viz::camera_eye(cc.camera());
  cc.drag(25, 8);
  expect_near(viz::camera_eye(cc.camera()), eye, 1e-3f);
  EXPECT_NE(cc.camera().target, a.target);
  // Pitch stays inside the valid range however far one drags.
  cc.drag(0, 100000);
  EXPECT_LT(std::fabs(cc.camera().pitch_deg), 89.0f);
}

TEST(CameraController, FlyMovesAlongTheViewAndScrollSetsSpeed) {
  CameraController cc(cam({0, 0, 0}, 10, 0, 0), 40);  // looking along +X
  cc.toggle_mode();
  const float v = cc.fly_speed();
  cc.scroll(2);
  EXPECT_NEAR(cc.fly_speed(), v * 1.5625f, 1e-4f);
  EXPECT_EQ(cc.camera().distance, 10.0f);  // fly-mode scroll does not zoom
  glm::vec3 eye = viz::camera_eye(cc.camera());
  cc.move({0, 0, 1}, 0.5);  // forward for half a second
  expect_near(viz::camera_eye(cc.camera()) - eye, glm::vec3(0.5f * cc.fly_speed(), 0, 0), 1e-4f);
  cc.move({0, 1, 0}, 1.0);  // up
  expect_near(viz::camera_eye(cc.camera()) - eye, glm::vec3(0.5f * cc.fly_speed(), cc.fly_speed(), 0), 1e-4f);
}

TEST(CameraController, OrbitScrollZoomsTowardsTheTarget) {
  CameraController cc(cam({0, 0, 0}, 100, -30, 10), 100);
  cc.scroll(1);
  EXPECT_NEAR(cc.camera().distance, 85.0f, 1e-3f);
  cc.scroll(-1);
  EXPECT_NEAR(cc.camera().distance, 100.0f, 1e-3f);
  cc.scroll(-1000);  // clamped, never infinite
  EXPECT_TRUE(std::isfinite(cc.camera().distance));
}
