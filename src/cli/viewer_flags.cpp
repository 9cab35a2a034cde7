#include "viewer_flags.hpp"

#include <tuple>

#include "netlens/cli/frame_flags.hpp"
#include "netlens/core.hpp"
#include "netlens/viz/values.hpp"

namespace netlens::cli {

void read_viewer_flags(const Args& a, app::ViewerOptions& v) {
  if (auto s = a.get("size")) std::tie(v.width, v.height) = parse_size(*s, "--size");
  v.camera_file = a.get_or("camera", "");
  v.view = a.get_or("view", "overview");
  if (a.has("camera") && a.has("view")) throw Error(ErrorKind::Usage, "--camera and --view are exclusive");
  v.select = a.get_or("select", "");
  v.gpu = static_cast<int>(a.get_int("gpu", -1));
  v.frames = a.get_int("frames", 0);
  if (v.frames < 0) throw Error(ErrorKind::Usage, "--frames must be >= 0");
  v.script = a.get_or("script", "");
  v.validation = a.has("validation");
  v.lod_mean = a.has("lod-mean");
  v.vsync = !a.has("no-vsync");
}

void read_frame_flags(const Args& a, app::FrameSpec& fs) {
  if (auto s = a.get("size")) std::tie(fs.width, fs.height) = parse_size(*s, "--size");
  fs.camera.file = a.get_or("camera", "");
  fs.camera.view = a.get_or("view", "overview");
  if (a.has("camera") && a.has("view")) throw Error(ErrorKind::Usage, "--camera and --view are exclusive");
  fs.select = a.get_or("select", "");
  fs.lod_mean = a.has("lod-mean");
  fs.values = viz::parse_value_mode(a.get_or("values", "activation"));
}

}  // namespace netlens::cli
