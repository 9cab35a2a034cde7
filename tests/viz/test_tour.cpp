// Camera tours (viz/tour.hpp): the ease curve, flights that start and end exactly at their
// keyframes, orbits, timed captions, the JSON format and its errors, and the default tour of real
// models (ResNet-50, PP-OCRv4 det): every stage it flies to is in view. References are independent
// of tour.cpp: the keyframes' own eye/target, geometry (an orbit's half way is the opposite side),
// and projections of the layer boxes with camera.hpp's matrices.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include <glm/geometric.hpp>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/viz/tour.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

Keyframe key(glm::vec3 eye, glm::vec3 target, double dur, double hold, std::string caption) {
  Keyframe k;
  k.eye = eye;
  k.target = target;
  k.duration = dur;
  k.hold = hold;
  k.caption = std::move(caption);
  return k;
}

Tour three_keys() {
  Tour t;
  t.keys.push_back(key({-50, 10, -20}, {0, 0, 0}, 0, 1.0, "first"));
  t.keys.push_back(key({30, 40, -60}, {20, 5, 3}, 2.0, 1.5, "second"));
  Keyframe c = key({100, 5, 10}, {60, 0, 0}, 3.0, 2.0, "third");
  c.cut = true;
  c.cut_x = 55.0f;
  c.fov_y_deg = 30.0f;
  t.keys.push_back(c);
  return t;
}

void expect_near(glm::vec3 a, glm::vec3 b, float tol) {
  EXPECT_NEAR(a.x, b.x, tol);
  EXPECT_NEAR(a.y, b.y, tol);
  EXPECT_NEAR(a.z, b.z, tol);
}

}  // namespace

TEST(Tour, EaseEndpointsAndMonotonic) {
  EXPECT_EQ(ease(Ease::Smooth, 0.0), 0.0);
  EXPECT_EQ(ease(Ease::Smooth, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(ease(Ease::Smooth, 0.5), 0.5);
  EXPECT_EQ(ease(Ease::Smooth, -1.0), 0.0);
  EXPECT_EQ(ease(Ease::Smooth, 2.0), 1.0);
  double prev = -1.0;
  for (int i = 0; i <= 1000; ++i) {
    const double u = i / 1000.0, s = ease(Ease::Smooth, u);
    EXPECT_GE(s, prev) << u;
    EXPECT_NEAR(s, u * u * (3 - 2 * u), 1e-15);  // the stated curve
    EXPECT_NEAR(s + ease(Ease::Smooth, 1.0 - u), 1.0, 1e-12);  // ease-in-out is symmetric
    EXPECT_EQ(ease(Ease::Linear, u), u);
    prev = s;
  }
  // Zero speed at both stops: the first and last steps are far smaller than the middle one.
  const double h = 1e-3;
  EXPECT_LT(ease(Ease::Smooth, h) / h, 0.01);
  EXPECT_LT((1.0 - ease(Ease::Smooth, 1.0 - h)) / h, 0.01);
  EXPECT_NEAR((ease(Ease::Smooth, 0.5 + h) - ease(Ease::Smooth, 0.5)) / h, 1.5, 1e-2);
}

TEST(Tour, TimesAndEndpoints) {
  const Tour t = three_keys();
  EXPECT_DOUBLE_EQ(tour_length(t), 1.0 + 2.0 + 1.5 + 3.0 + 2.0);
  EXPECT_DOUBLE_EQ(key_arrival(t, 0), 0.0);
  EXPECT_DOUBLE_EQ(key_arrival(t, 1), 3.0);
  EXPECT_DOUBLE_EQ(key_arrival(t, 2), 7.5);
  EXPECT_DOUBLE_EQ(key_departure(t, 1), 4.5);
  for (size_t k = 0; k < t.keys.size(); ++k) {
    for (double dt : {0.0, 0.5 * t.keys[k].hold, t.keys[k].hold - 1e-9}) {
      const TourState st = tour_state(t, key_arrival(t, k) + dt);
      EXPECT_EQ(st.key, k);
      expect_near(camera_eye(st.camera), t.keys[k].eye, 1e-3f);
      expect_near(st.camera.target, t.keys[k].target, 1e-4f);
      EXPECT_EQ(st.camera.cut, t.keys[k].cut);
      EXPECT_FLOAT_EQ(st.camera.fov_y_deg, t.keys[k].fov_y_deg);
    }
  }
  // Flight endpoints (s = 0 and 1) are the keyframes' cameras.
  expect_near(camera_eye(interpolate(t.keys[0], t.keys[1], 0.0)), t.keys[0].eye, 1e-3f);
  expect_near(camera_eye(interpolate(t.keys[0], t.keys[1], 1.0)), t.keys[1].eye, 1e-3f);
  // Clamped outside [0, length].
  expect_near(camera_eye(tour_state(t, -5).camera), t.keys[0].eye, 1e-3f);
  expect_near(camera_eye(tour_state(t, 1e9).camera), t.keys[2].eye, 1e-3f);
  EXPECT_THROW(tour_state(Tour{}, 0.0), Error);
}

TEST(Tour, FlightIsContinuousAndEased) {
  const Tour t = three_keys();
  // Sample the flight into key 1 (3 s .. 1 s earlier) at 1 ms: no jumps, slow at both stops.
  const double t0 = key_departure(t, 0), t1 = key_arrival(t, 1), dt = 1e-3;
  const float path = glm::length(t.keys[1].eye - t.keys[0].eye);
  glm::vec3 prev = camera_eye(tour_state(t, t0).camera);
  float max_step = 0, first = 0, last = 0;
  for (double x = t0 + dt; x <= t1 + 1e-12; x += dt) {
    const glm::vec3 e = camera_eye(tour_state(t, x).camera);
    const float step = glm::length(e - prev);
    if (first == 0) first = step;
    last = step;
    max_step = std::max(max_step, step);
    prev = e;
  }
  EXPECT_LT(max_step, 0.01f * path);  // ~ 1.5·path/2000 at the fastest, no jumps
  EXPECT_LT(first, 0.02f * max_step);
  EXPECT_LT(last, 0.02f * max_step);
  // The cutaway of key 2 sweeps in: open at the start of its flight, at key 2's plane at the end.
  EXPECT_FALSE(tour_state(t, key_departure(t, 1)).camera.cut);
  const Camera mid = tour_state(t, 0.5 * (key_departure(t, 1) + key_arrival(t, 2))).camera;
  EXPECT_TRUE(mid.cut);
  EXPECT_LT(mid.cut_x, 55.0f);
}

TEST(Tour, OrbitTurnsAround) {
  Tour t;
  t.keys.push_back(key({-40, 20, 0}, {5, 0, 0}, 0, 0.5, "a"));
  Keyframe b = t.keys[0];
  b.turns = -1;
  b.duration = 4.0;
  b.ease = Ease::Linear;
  t.keys.push_back(b);
  const glm::vec3 off0 = t.keys[0].eye - t.keys[0].target;
  // Half way (linear): the opposite side, same height and distance; a quarter: off to the side.
  const glm::vec3 half = camera_eye(tour_state(t, 0.5 + 2.0).camera) - b.target;
  expect_near(half, glm::vec3(-off0.x, off0.y, -off0.z), 1e-2f);
  const glm::vec3 quarter = camera_eye(tour_state(t, 0.5 + 1.0).camera) - b.target;
  EXPECT_NEAR(std::fabs(quarter.z), std::fabs(off0.x), 1e-2f);
  EXPECT_NEAR(quarter.x, 0.0f, 1e-2f);
  expect_near(camera_eye(tour_state(t, 4.5).camera), b.eye, 1e-3f);
}

TEST(Tour, CaptionsFadeOnTime) {
  const Tour t = three_keys();
  EXPECT_EQ(tour_state(t, 0.0).caption, "first");
  EXPECT_FLOAT_EQ(tour_state(t, 0.0).caption_alpha, 0.0f);
  EXPECT_FLOAT_EQ(tour_state(t, 0.5).caption_alpha, 1.0f);
  EXPECT_NEAR(tour_state(t, 1.0 - 0.1).caption_alpha, 0.1 / kCaptionFade, 1e-5);  // fading out
  const TourState fl = tour_state(t, 1.0 + 0.2);  // 0.2 s into the flight to "second"
  EXPECT_EQ(fl.caption, "second");
  EXPECT_FALSE(fl.holding);
  EXPECT_NEAR(fl.caption_alpha, 0.2 / kCaptionFade, 1e-5);
  EXPECT_FLOAT_EQ(tour_state(t, 3.5).caption_alpha, 1.0f);
  // The last caption stays to the end.
  EXPECT_EQ(tour_state(t, tour_length(t)).caption, "third");
  EXPECT_FLOAT_EQ(tour_state(t, tour_length(t)).caption_alpha, 1.0f);
}

TEST(Tour, JsonRoundTrip) {
  Tour t = three_keys();
  t.keys[1].turns = 2;
  t.keys[1].ease = Ease::Linear;
  t.keys[1].layer = "/layer1/layer1.0/relu_2/Relu_output_0";
  t.keys[1].select = "input:[0, 10, 10]";
  t.keys[1].values = "attribution";
  t.keys[1].notes = "say \"hello\"\nthen wait";
  t.keys[2].eye = {0.1f, 1.0f / 3.0f, -12345.678f};
  t.keys[2].duration = 1.0 / 3.0;
  const std::string j = tour_to_json(t);
  const Tour back = tour_from_json(j, "mem");
  EXPECT_EQ(back, t);
  EXPECT_EQ(tour_to_json(back), j);
}

TEST(Tour, BadJsonIsOneLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "invalid JSON"},
      {"{\"netlens_tour\": 1, \"keyframes\": [", "invalid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"keyframes\": []}", "\"netlens_tour\": 1 is missing"},
      {"{\"netlens_tour\": 1, \"keyframes\": []}", "no keyframes"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"target\": [0,0,0]}]}", "keyframe 1: \"eye\" is missing"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2], \"target\": [0,0,0]}]}", "keyframe 1: \"eye\" must be an array of 3"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2,3], \"target\": [0,0,0]}, {\"eye\": [1,2,3], \"target\": [0,0,0], \"hold\": -1}]}",
       "keyframe 2: \"hold\" must be in 0..3600"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2,3], \"target\": [0,0,0], \"ease\": \"bounce\"}]}", "\"ease\" must be"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2,3], \"target\": [0,0,0], \"fov\": \"wide\"}]}", "\"fov\" must be a number"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2,3], \"target\": [1,2,3]}]}", "must differ"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2,3], \"target\": [0,0,0], \"hold\": 0}]}", "lasts 0 seconds"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1e39,2,3], \"target\": [0,0,0]}]}", "finite numbers"},
      {"{\"netlens_tour\": 1, \"keyframes\": [{\"eye\": [1,2,3], \"target\": [0,0,0], \"values\": \"loss\"}]}", "\"values\" must be"},
  };
  for (const auto& [doc, what] : bad) {
    try {
      tour_from_json(doc, "t.json");
      ADD_FAILURE() << "accepted: " << doc;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::Input) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      EXPECT_EQ(m.rfind("t.json: ", 0), 0u) << m;
      EXPECT_NE(m.find(what), std::string::npos) << m << " (wanted: " << what << ")";
    }
  }
  try {
    read_tour("/nonexistent/tour.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tour.json"), std::string::npos);
  }
}

namespace {

struct Model {
  Layout layout;
  std::vector<std::string> groups;
};

Model load_model(const std::string& name) {
  const std::string path = std::string(NETLENS_CACHE_DIR) + "/models/" + name + ".onnx";
  if (!std::filesystem::exists(path)) throw std::runtime_error("missing model " + path + " (scripts/fetch-models.sh)");
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(load_onnx(path), {cpu.get()});
  const ValueInfo& in = s.graph().inputs.at(0);
  s.prepare({{in.name, Shape{1, 3, 224, 224}}});
  ShownTensors shown = shown_tensors(s.graph(), s.planned(), "none");
  return {layout_tensors(shown.tensors), shown.groups};
}

// Every stage keyframe's layers (found independently: the layers whose top group the caption
// names) project inside the 16:9 frame, and the tour starts and ends on the overview.
void check_default_tour(const std::string& model, const std::vector<std::string>& expect_stages) {
  const Model m = load_model(model);
  const float aspect = 16.0f / 9.0f;
  const Tour t = default_tour(m.layout, m.groups, aspect, model);
  ASSERT_GE(t.keys.size(), 4u);
  EXPECT_EQ(t.keys.front().eye, t.keys.back().eye);
  EXPECT_EQ(t.keys[1].turns, -1);
  EXPECT_EQ(tour_from_json(tour_to_json(t)), t);
  const float r = scene_radius(m.layout);
  size_t found = 0;
  for (size_t k = 2; k + 1 < t.keys.size(); ++k) {
    const Keyframe& kf = t.keys[k];
    ASSERT_FALSE(kf.caption.empty());
    for (char c : kf.caption) EXPECT_TRUE(c >= 32 && c < 127) << kf.caption;  // the label font is ASCII
    const std::string stage = kf.caption.substr(0, kf.caption.find(':'));
    const glm::mat4 vp = camera_view_proj(keyframe_camera(kf), aspect, r);
    int layers = 0;
    for (size_t i = 0; i < m.layout.layers.size(); ++i) {
      const std::string g = m.groups[i].substr(0, m.groups[i].find('/'));
      if (g != stage) continue;
      ++layers;
      const LayerVolume& v = m.layout.layers[i];
      for (int c = 0; c < 8; ++c) {
        const glm::vec3 p((c & 1) ? v.max().x : v.origin.x, (c & 2) ? v.max().y : v.origin.y, (c & 4) ? v.max().z : v.origin.z);
        const glm::vec4 q = vp * glm::vec4(p, 1.0f);
        ASSERT_GT(q.w, 0.0f);
        EXPECT_LE(std::fabs(q.x / q.w), 1.0f) << model << " " << kf.caption << " " << v.tensor.name;
        EXPECT_LE(std::fabs(q.y / q.w), 1.0f) << model << " " << kf.caption << " " << v.tensor.name;
      }
    }
    if (std::find(expect_stages.begin(), expect_stages.end(), stage) != expect_stages.end()) {
      ++found;
      EXPECT_GT(layers, 0) << stage;
    }
  }
  EXPECT_EQ(found, expect_stages.size()) << model;
}

}  // namespace

TEST(Tour, DefaultTourResNet50) { check_default_tour("resnet50", {"layer1", "layer2", "layer3", "layer4"}); }
TEST(Tour, DefaultTourPpocrDet) { check_default_tour("ppocrv4_det", {}); }
