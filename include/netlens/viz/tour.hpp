// Camera tours: keyframes (where the camera is, what it looks at, what is focused, selected and
// shown, a caption and speaker notes) played back along eased flights. Pure data and maths (no
// Vulkan, no window): the viewer (`view --tour`), `netlens record` and the tests evaluate the same
// tour_state(), so a tour looks the same in a window and in a video.
//
// Timing: keyframe 0 is where the tour starts. Keyframe k ≥ 1 is reached by a flight of
// `duration` seconds from keyframe k-1 and then held for `hold` seconds (keyframe 0 is held for
// its `hold`; its `duration` is ignored). tour_length() = hold_0 + Σ_{k≥1} (duration_k + hold_k).
//
// Path: the flight k-1 → k moves the target on the straight line between the two targets, and the
// eye around the moving target in spherical coordinates (yaw along the shorter way plus `turns`
// full turns, pitch, distance interpolated geometrically), so a flight never cuts through the
// network the way a straight eye path would, and an orbit is one keyframe with turns = ±1. Time
// is eased with smoothstep, s(u) = u²(3 − 2u) (ease-in-out: zero speed at both stops, C¹), unless
// the keyframe says "ease": "linear". fov and the cutaway plane follow the same s.
//
// Captions: the caption of keyframe k is shown while flying into k and holding at k; it fades in
// over the first kCaptionFade seconds of the flight (or of the hold, for keyframe 0) and out over
// the last kCaptionFade seconds of the hold (the last keyframe's stays to the end).
//
// JSON (tour_to_json / tour_from_json round-trip exactly; floats with 9 significant digits):
//   {"netlens_tour": 1, "keyframes": [{"eye": [x,y,z], "target": [x,y,z], "fov": 40,
//     "cut": null | X, "turns": 0, "ease": "smooth"|"linear", "layer": "TENSOR" | "",
//     "select": "TENSOR:INDEX" | "", "values": "activation"|"gradient"|"attribution",
//     "caption": "...", "notes": "...", "duration": 2, "hold": 2}, ...]}
// Every key except eye and target is optional (the defaults above). Errors: Error{Input} with one
// line "WHERE: ..." naming the keyframe and key (bad JSON, a missing or non-finite number, a
// negative time, an empty tour). Layer and select names are checked against a model by whoever
// plays the tour (they are just strings here).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <glm/vec3.hpp>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

enum class Ease { Smooth, Linear };

struct Keyframe {
  glm::vec3 eye{0.0f, 0.0f, -100.0f};
  glm::vec3 target{0.0f};
  float fov_y_deg = 40.0f;
  bool cut = false;  // the camera's cutaway (Camera::cut, cut_x)
  float cut_x = 0.0f;
  int turns = 0;     // extra full turns of yaw during the flight into this keyframe (sign: direction)
  Ease ease = Ease::Smooth;
  std::string layer;   // the focused layer's tensor name ("" none)
  std::string select;  // a neuron (viz::parse_neuron syntax) ("" none)
  std::string values = "activation";  // the value mode's name (viz::parse_value_mode)
  std::string caption;
  std::string notes;   // speaker notes: shown only to the presenter
  double duration = 2.0;  // seconds of the flight into this keyframe
  double hold = 2.0;      // seconds held here
  bool operator==(const Keyframe&) const = default;
};

struct Tour {
  std::vector<Keyframe> keys;
  bool operator==(const Tour&) const = default;
};

inline constexpr double kCaptionFade = 0.4;  // seconds

// The ease curve: smoothstep u²(3 − 2u) for Smooth, u for Linear; u clamped to [0, 1].
double ease(Ease e, double u);

// A keyframe from a camera (its eye and target, fov and cutaway).
Keyframe keyframe_from_camera(const Camera& c);
Camera keyframe_camera(const Keyframe& k);

double tour_length(const Tour& t);
// When keyframe k is reached (its hold starts) and left (its hold ends).
double key_arrival(const Tour& t, size_t k);
double key_departure(const Tour& t, size_t k);

struct TourState {
  Camera camera;
  size_t key = 0;          // the keyframe flown into or held (whose layer/select/values apply)
  bool holding = false;    // at the keyframe (not in a flight)
  double flight = 1.0;     // eased progress of the flight into `key` (1 when holding)
  std::string caption;     // key's caption
  float caption_alpha = 0; // 0..1 (fades, see above)
};

// The state at time t seconds (clamped to [0, tour_length]). Error{Usage} for an empty tour.
TourState tour_state(const Tour& t, double time);

// The camera between two keyframes at eased progress s (0: a, 1: b), as the flight into b draws it.
Camera interpolate(const Keyframe& a, const Keyframe& b, double s);

std::string tour_to_json(const Tour& t);
Tour tour_from_json(std::string_view json, const std::string& where = "tour");
// Reads a file (Error{Io} naming it when unreadable) / writes one (Error{Io}).
Tour read_tour(const std::string& path);
void write_tour(const Tour& t, const std::string& path);

// A tour of a laid-out network: an orbit of the overview (one full turn), then a flight to each
// stage (a run of consecutive layers sharing their top-level group in `groups`, one entry per
// layout layer, "" for none; at most `max_stages`, neighbouring stages merged beyond that; a
// graph without groups is split into equal runs along the flow), each framed whole and captioned
// with its name, layer count and output shape, then back to the overview. `title` starts the first
// caption. Deterministic.
Tour default_tour(const Layout& l, const std::vector<std::string>& groups, float aspect, const std::string& title,
                  size_t max_stages = 8);

}  // namespace netlens::viz
