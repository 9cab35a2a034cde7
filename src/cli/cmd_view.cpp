// netlens view: run a model on an input and explore the network in an interactive window.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common.hpp"
#include "live.hpp"
#include "netlens/onnx.hpp"
#include "render_command.hpp"
#include "viewer.hpp"

namespace netlens::cli {
namespace {

int run_view(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"camera", "view", "select", "gpu", "title", "frames", "script", "slideshow", "interop"};
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
  // Live input (a folder, a video, a camera): opened before the model loads, so a bad path or a
  // missing camera is one line at once; the first frame is run here, the rest by the pipeline.
  auto live_it = std::find_if(mo.inputs.begin(), mo.inputs.end(), [](const std::string& in) {
    const size_t eq = in.find('=');
    return media::is_live_spec(in) || (eq != std::string::npos && media::is_live_spec(in.substr(eq + 1)));
  });
  if (live_it == mo.inputs.end()) {
    if (a.has("slideshow") || a.has("interop"))
      throw Error(ErrorKind::Usage, "--slideshow and --interop need a live --input (a folder, a video file or camera[:N])");
    LoadedModel m = load_model(mo, /*need_inputs=*/true);
    run_once(m);
    return app::run_viewer(*m.session, v);
  }
  const std::string spec = *live_it;
  mo.inputs.erase(live_it);
  app::FeederOptions fo;
  if (auto sv = a.get("slideshow")) {
    try {
      size_t used = 0;
      fo.slideshow_s = std::stod(*sv, &used);
      if (used != sv->size() || !(fo.slideshow_s > 0)) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw Error(ErrorKind::Usage, "--slideshow expects a number of seconds > 0, got '" + *sv + "'");
    }
  }
  const std::string interop = a.get_or("interop", "auto");
  Graph g = load_onnx(mo.model);
  app::LiveInput in = app::open_live_input(g, spec, mo.pp, mo.size_given, mo.input_shapes);
  if (fo.slideshow_s > 0 && in.source->kind() != media::SourceKind::Folder)
    throw Error(ErrorKind::Usage, "--slideshow steps through a folder; '" + spec + "' is a video or a camera");
  mo.input_shapes[in.input_name] = in.first_tensor.shape();
  LoadedModel m = load_model(mo, /*need_inputs=*/true, std::move(g));
  m.inputs[in.input_name] = in.first_tensor;
  run_once(m);
  // Live runs are silent: a progress line on the terminal per input would fight the live output.
  *m.run_progress = Progress("running node", /*quiet=*/true);
  app::LiveConfig cfg{.input_name = in.input_name, .input_dtype = in.first_tensor.dtype(), .pp = in.pp,
                      .other_inputs = m.inputs, .layout = app::live_layout(*m.session)};
  cfg.other_inputs.erase(in.input_name);
  cfg.wait_until_shown = true;  // the panels read the session of the result on screen
  std::string line;
  const std::string backend = m.backends.front()->name();
  auto up = app::make_uploader(interop, backend, mo.backend == "cpu" ? "--backend cpu" : "no usable CUDA device", &line);
  std::fprintf(stderr, "netlens view: %s; %s\n", line.c_str(), in.source->description().c_str());
  cfg.uploader = up.get();
  app::LivePipeline pipe(*m.session, std::move(cfg));
  app::SourceFeeder feeder(std::move(in.source), pipe, fo);
  v.live = &pipe;
  v.feeder = &feeder;
  v.uploader = up.get();
  v.first_input = in.first.name;
  return app::run_viewer(*m.session, v);
}

NETLENS_COMMAND("view",
                "view MODEL [--input FILE [--input-size WxH]] [--size 1280x800] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--no-vsync] [--frames N] [--script FILE] [--gpu N] "
                "[--validation] [--lod-mean]\n"
                "       view MODEL --input DIR|VIDEO|camera[:N] [--slideshow SECONDS] [--interop auto|off] [view flags]",
                "run the model and explore the network in a window (drag/scroll, Tab fly mode, F focus, click "
                "select, C camera, P screenshot); a folder/video/camera input is run live (Right/Left or N/B step "
                "through a folder, Space pauses a video); without a display use 'render'",
                run_view);

}  // namespace
}  // namespace netlens::cli
