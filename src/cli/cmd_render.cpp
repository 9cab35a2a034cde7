// netlens render: run a model on an input, render the network offscreen to PNG, optionally pick.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common.hpp"
#include "bench_render.hpp"
#include "live.hpp"
#include "live_interop.hpp"
#include "netlens/explain.hpp"
#include "netlens/onnx.hpp"
#include "offscreen.hpp"
#include "predictions.hpp"
#include "render_command.hpp"

namespace netlens::cli {
namespace {

int run_render(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"out", "camera", "view", "select", "pick", "gpu", "save-camera", "title", "frames",
                                    "ui-rects", "labels", "interop", "max-inputs", "values", "target", "score"};
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
  r.values = viz::parse_value_mode(a.get_or("values", "activation"));
  if ((a.has("target") || a.has("score")) && r.values == viz::ValueMode::Activation)
    throw Error(ErrorKind::Usage, "--target and --score choose what gradients are of: give --values gradient or attribution");
  if (a.has("ui-rects") && !a.has("ui")) throw Error(ErrorKind::Usage, "--ui-rects needs --ui");
  if (a.has("labels") && !a.has("ui") && !a.has("target")) throw Error(ErrorKind::Usage, "--labels needs --ui or --target");
  ModelOptions mo = parse_model_options(a, /*size_is_image=*/false);  // --size is the frame here
  // Live input (a folder, a video): one PNG per input into the --out folder, through the live
  // pipeline and the renderer's in-place update. Opened before the model loads: a bad path is one
  // line at once.
  auto live_it = std::find_if(mo.inputs.begin(), mo.inputs.end(), [](const std::string& in) {
    const size_t eq = in.find('=');
    return media::is_live_spec(in) || (eq != std::string::npos && media::is_live_spec(in.substr(eq + 1)));
  });
  if (live_it == mo.inputs.end() && (a.has("max-inputs") || a.has("interop")))
    throw Error(ErrorKind::Usage, "--max-inputs and --interop need a live --input (a folder or a video file)");
  if (live_it != mo.inputs.end()) {
    const std::string spec = *live_it;
    mo.inputs.erase(live_it);
    if (!a.has("out")) throw Error(ErrorKind::Usage, "render --input " + spec + " writes one PNG per input: give --out DIR/");
    const int64_t max_inputs = a.get_int("max-inputs", 0);
    if (max_inputs < 0) throw Error(ErrorKind::Usage, "--max-inputs must be >= 0");
    if (a.has("pick") || a.has("frames") || a.has("save-camera") || a.has("ui") || a.has("values"))
      throw Error(ErrorKind::Usage, "--pick, --frames, --save-camera, --ui and --values take a single input, not a live one");
    const std::string interop = a.get_or("interop", "auto");
    Graph g = load_onnx(mo.model);
    app::LiveInput in = app::open_live_input(g, spec, mo.pp, mo.size_given, mo.input_shapes);
    mo.input_shapes[in.input_name] = in.first_tensor.shape();
    // CUDA↔Vulkan interop when this machine has it (the arena must be placed before the session
    // is prepared); otherwise the staging path, and the reason goes into the start-up line.
    std::unique_ptr<LiveInterop> li;
    std::string interop_why = interop == "off" ? "--interop off" : "";
    if (interop != "off" && mo.backend != "cpu") li = make_live_interop(interop, r.validation, &interop_why);
    if (li) mo.arena_allocator = li->arena_allocator();
    LoadedModel m = load_model(mo, /*need_inputs=*/true, std::move(g));
    // Declared after `m`, so destroyed before it: releases CUDA's waits before the backend drains.
    struct Release {
      LiveInterop* l;
      ~Release() { if (l) l->release(); }
    } release{li.get()};
    if (li && m.backends.front()->name() != "cuda") li.reset(), release.l = nullptr, interop_why = "the CUDA backend is not in use";
    m.inputs[in.input_name] = in.first_tensor;
    run_once(m);
    // Live runs are silent: a progress line on the terminal per input would fight the live output.
    *m.run_progress = Progress("running node", /*quiet=*/true);
    app::LiveConfig cfg{.input_name = in.input_name, .input_dtype = in.first_tensor.dtype(), .pp = in.pp,
                        .other_inputs = m.inputs, .layout = app::live_layout(*m.session)};
    cfg.other_inputs.erase(in.input_name);
    std::string line;
    const std::string backend = m.backends.front()->name();
    if (li) {
      li->attach(*m.backends.front());
      line = "live: cuda backend + " + li->uploader().name();
      return app::render_live(*m.session, std::move(cfg), in, r, r.out, max_inputs, li->uploader(), line, &li->context());
    }
    auto up = app::make_uploader(interop, backend, mo.backend == "cpu" ? "--backend cpu" : "no usable CUDA device", &line,
                                 interop_why);
    return app::render_live(*m.session, std::move(cfg), in, r, r.out, max_inputs, *up, line);
  }
  const std::vector<std::string> labels = a.has("labels") ? inspect::read_labels(*a.get("labels")) : std::vector<std::string>{};
  LoadedModel m = load_model(mo, /*need_inputs=*/true);
  run_once(m);
  if (r.values != viz::ValueMode::Activation) {
    // Gradient modes: differentiate the target (default: the top class) once, then draw.
    const explain::Target t = explain::resolve_target(
        *m.session, explain::parse_target(a.get_or("target", ""), explain::parse_score(a.get_or("score", "logit"))), labels);
    m.session->backward(t.seeds(*m.session));
    std::fprintf(stderr, "netlens render: showing %ss of %s\n", viz::value_mode_name(r.values), t.description.c_str());
    // The label font is ASCII: the subtitle says what S is in plain words.
    r.subtitle = std::string(r.values == viz::ValueMode::Gradient ? "gradients" : "gradient x activation") + " of the " +
                 t.description;
  }
  if (a.has("ui")) {
    std::string input = mo.inputs.empty() ? std::string("(random)") : mo.inputs.front();
    r.decoration = ui::panel_decoration(*m.session, input, a.get_or("ui-rects", ""), a.get_or("labels", ""));
  }
  return render::render_session(*m.session, r);
}

NETLENS_COMMAND("render",
                "render MODEL [--input FILE [--input-size WxH]] --out frame.png [--size 1920x1080] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--pick X,Y] [--gpu N] [--save-camera FILE] "
                "[--validation] [--lod-mean] [--frames N] [--ui [--ui-rects FILE] [--labels FILE]] "
                "[--values activation|gradient|attribution [--target T] [--score logit|prob]]\n"
                "       render MODEL --input DIR|VIDEO --out DIR/ [--max-inputs N] [--interop auto|on|off] [view flags]",
                "run the model and render the network in 3D to a PNG (offscreen Vulkan); --pick prints the neuron at a pixel; "
                "--ui draws the viewer's panels too; --values gradient|attribution colours each neuron by dS/d(neuron) or "
                "dS/d(neuron) × its value for the target S (default: the top class; targets as in `explain`); a folder or video "
                "input writes one PNG per input into --out DIR/",
                run_render);

NETLENS_COMMAND("bench-render",
                "bench-render [--neurons 1e4,1e5,1e6,1e7,1e8] [--sizes 1280x720,1920x1080] [--frames N] [--no-vgg16] "
                "[--png DIR] [--gpu N] [--quick]",
                "render frame times (overview and close-up) for synthetic networks of 10^4..10^8 activations",
                render::run_render_benchmark);

}  // namespace
}  // namespace netlens::cli
