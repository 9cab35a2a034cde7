// Orbit camera: looks at `target` from `distance`, rotated by yaw (about +Y, 0 = looking along +X
// from the input side... see eye()) and pitch (positive = from above). Serialised as a small JSON
// document; camera_to_json/camera_from_json round-trip exactly (floats printed with 9 digits).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <glm/mat4x4.hpp>
#include <glm/vec2.hpp>
#include <glm/vec3.hpp>
#include <glm/vec4.hpp>

#include "netlens/viz/layout.hpp"

namespace netlens::viz {

struct Camera {
  glm::vec3 target{0.0f};
  float distance = 100.0f;
  float yaw_deg = -35.0f;   // 0: eye on the -X side looking along +X; positive turns the eye to +Z
  float pitch_deg = 20.0f;  // eye above the target for positive values
  float fov_y_deg = 40.0f;
  // Cutaway: with `cut`, everything upstream of the plane x = cut_x (the data flow axis) is hidden,
  // so a focus view of a layer deep inside a network is not blocked by the layers before it.
  bool cut = false;
  float cut_x = 0.0f;
  // Tiled export (app/record.hpp): the part of the full frame this camera draws, as fractions of it
  // (x0, y0 from the top-left, width, height); (0, 0, 1, 1) is the whole frame. camera_proj narrows
  // the projection to it off-axis (the aspect it is given is the tile's), so the tiles of a frame
  // stitch into that frame. Not serialised.
  glm::vec4 tile{0.0f, 0.0f, 1.0f, 1.0f};
  bool operator==(const Camera&) const = default;
};

glm::vec3 camera_eye(const Camera& c);
glm::mat4 camera_view(const Camera& c);
// Vulkan clip space (y down, depth 0..1), near/far chosen from the distance and scene radius.
glm::mat4 camera_proj(const Camera& c, float aspect, float scene_radius);
glm::mat4 camera_view_proj(const Camera& c, float aspect, float scene_radius);
float scene_radius(const Layout& l);

// Frames the whole network from a three-quarter view; frames one layer (its front face, from a
// little to the side and above, with a cutaway just upstream of it so earlier layers do not hide it).
Camera overview_camera(const Layout& l, float aspect);
Camera focus_camera(const Layout& l, int layer, float aspect);
// Moves the eye by yaw/pitch degrees around the target (orbit) and scales the distance (zoom).
Camera orbit(Camera c, float dyaw_deg, float dpitch_deg, float zoom = 1.0f);
// A camera at `eye` looking at `target`.
Camera look_at(glm::vec3 eye, glm::vec3 target, float fov_y_deg = 40.0f);

// World → pixel (origin top-left, y down) for a width×height image; nullopt when behind the eye.
std::optional<glm::vec2> project_to_pixel(const glm::mat4& view_proj, glm::vec3 world, int width, int height);

std::string camera_to_json(const Camera& c);
// Throws Error{Input} naming the problem (and `where`, e.g. the file name) on malformed JSON,
// missing keys or non-finite numbers.
Camera camera_from_json(std::string_view json, const std::string& where = "camera");

}  // namespace netlens::viz
