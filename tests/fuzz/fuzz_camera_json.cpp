// libFuzzer entry for the camera file reader (viz::camera_from_json, `--camera FILE`): any text
// must give a camera or fail with netlens::Error. A camera it accepts must survive a round trip
// through camera_to_json unchanged (the writer and the reader agree on every accepted value).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "netlens/viz/camera.hpp"
#include "netlens/core.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  netlens::viz::Camera c;
  try {
    c = netlens::viz::camera_from_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
  } catch (const netlens::Error&) {
    return 0;
  }
  const netlens::viz::Camera back = netlens::viz::camera_from_json(netlens::viz::camera_to_json(c), "round trip");
  if (back.target != c.target || back.distance != c.distance || back.yaw_deg != c.yaw_deg ||
      back.pitch_deg != c.pitch_deg || back.fov_y_deg != c.fov_y_deg || back.cut != c.cut ||
      (c.cut && back.cut_x != c.cut_x))
    std::abort();
  return 0;
}
