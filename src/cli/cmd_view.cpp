// netlens view: run a model on an input and explore the network in an interactive window.
#include <filesystem>

#include "common.hpp"
#include "render_command.hpp"
#include "viewer.hpp"

namespace netlens::cli {
namespace {

int run_view(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"camera", "view", "select", "gpu", "title", "frames", "script"};
  flags.insert(flags.end(), kModelFlags.begin(), kModelFlags.end());  // includes size and input-size
  std::vector<std::string> bools = {"validation", "lod-mean", "no-vsync"};
  bools.insert(bools.end(), kModelBoolFlags.begin(), kModelBoolFlags.end());
  Args a(argv, flags, bools, kModelRepeated);
  if (a.positional().size() != 1) throw Error(ErrorKind::Usage, "view expects exactly one MODEL argument");
  app::ViewerOptions v;
  if (auto s = a.get("size")) std::tie(v.width, v.height) = render::parse_size(*s, "--size");
  v.camera_file = a.get_or("camera", "");
  v.view = a.get_or("view", "overview");
  if (a.has("camera") && a.has("view")) throw Error(ErrorKind::Usage, "--camera and --view are exclusive");
  v.select = a.get_or("select", "");
  v.gpu = static_cast<int>(a.get_int("gpu", -1));
  v.title = a.get_or("title", std::filesystem::path(a.positional()[0]).stem().string());
  v.frames = a.get_int("frames", 0);
  if (v.frames < 0) throw Error(ErrorKind::Usage, "--frames must be ≥ 0");
  v.script = a.get_or("script", "");
  v.validation = a.has("validation");
  v.lod_mean = a.has("lod-mean");
  v.vsync = !a.has("no-vsync");
  // Before the model runs (seconds for big ones): no display → one line, exit 1.
  app::require_display();
  ModelOptions mo = parse_model_options(a, /*size_is_image=*/false);  // --size is the window here
  LoadedModel m = load_model(mo, /*need_inputs=*/true);
  run_once(m);
  return app::run_viewer(*m.session, v);
}

NETLENS_COMMAND("view",
                "view MODEL [--input FILE [--input-size WxH]] [--size 1280x800] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--no-vsync] [--frames N] [--script FILE] [--gpu N] "
                "[--validation] [--lod-mean]",
                "run the model and explore the network in a window (drag/scroll, Tab fly mode, F focus, click "
                "select, C camera, P screenshot); without a display use 'render'",
                run_view);

}  // namespace
}  // namespace netlens::cli
