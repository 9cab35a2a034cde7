// netlens render: run a model on an input, render the network offscreen to PNG, optionally pick.
#include <cstdio>
#include <filesystem>

#include "common.hpp"
#include "bench_render.hpp"
#include "offscreen.hpp"
#include "render_command.hpp"

namespace netlens::cli {
namespace {

int run_render(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"out", "camera", "view", "select", "pick", "gpu", "save-camera", "title", "frames",
                                    "ui-rects"};
  flags.insert(flags.end(), kModelFlags.begin(), kModelFlags.end());  // includes size and input-size
  std::vector<std::string> bools = {"validation", "lod-mean", "ui"};
  bools.insert(bools.end(), kModelBoolFlags.begin(), kModelBoolFlags.end());
  Args a(argv, flags, bools, kModelRepeated);
  if (a.positional().size() != 1) throw Error(ErrorKind::Usage, "render expects exactly one MODEL argument");
  render::RenderArgs r;
  r.out = a.get_or("out", "frame.png");
  if (auto s = a.get("size")) std::tie(r.width, r.height) = render::parse_size(*s, "--size");
  r.camera_file = a.get_or("camera", "");
  r.view = a.get_or("view", "overview");
  if (a.has("camera") && a.has("view")) throw Error(ErrorKind::Usage, "--camera and --view are exclusive");
  r.select = a.get_or("select", "");
  if (auto p = a.get("pick")) r.pick = render::parse_xy(*p, "--pick");
  r.gpu = static_cast<int>(a.get_int("gpu", -1));
  r.save_camera = a.get_or("save-camera", "");
  r.title = a.get_or("title", std::filesystem::path(a.positional()[0]).stem().string());
  r.validation = a.has("validation");
  r.lod_mean = a.has("lod-mean");
  r.frames = static_cast<int>(a.get_int("frames", 0));
  if (r.frames < 0) throw Error(ErrorKind::Usage, "--frames must be >= 0");
  if (a.has("ui-rects") && !a.has("ui")) throw Error(ErrorKind::Usage, "--ui-rects needs --ui");
  ModelOptions mo = parse_model_options(a, /*size_is_image=*/false);  // --size is the frame here
  LoadedModel m = load_model(mo, /*need_inputs=*/true);
  run_once(m);
  if (a.has("ui")) {
    std::string input = mo.inputs.empty() ? std::string("(random)") : mo.inputs.front();
    r.decoration = ui::panel_decoration(*m.session, input, a.get_or("ui-rects", ""));
  }
  return render::render_session(*m.session, r);
}

NETLENS_COMMAND("render",
                "render MODEL [--input FILE [--input-size WxH]] --out frame.png [--size 1920x1080] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--pick X,Y] [--gpu N] [--save-camera FILE] "
                "[--validation] [--lod-mean] [--frames N] [--ui [--ui-rects FILE]]",
                "run the model and render the network in 3D to a PNG (offscreen Vulkan); --pick prints the neuron at a pixel; "
                "--ui draws the viewer's panels too",
                run_render);

NETLENS_COMMAND("bench-render",
                "bench-render [--neurons 1e4,1e5,1e6,1e7,1e8] [--sizes 1280x720,1920x1080] [--frames N] [--no-vgg16] "
                "[--png DIR] [--gpu N] [--quick]",
                "render frame times (overview and close-up) for synthetic networks of 10^4..10^8 activations",
                render::run_render_benchmark);

}  // namespace
}  // namespace netlens::cli
