// netlens render: run a model on an input, render the network offscreen to PNG, optionally pick.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <glm/geometric.hpp>

#include "bench_render_flags.hpp"
#include "camera.hpp"
#include "common.hpp"
#include "font.hpp"
#include "frame_flags.hpp"
#include "headless.hpp"
#include "labels.hpp"
#include "layout_groups.hpp"
#include "layout_json.hpp"
#include "live_interop.hpp"
#include "netlens/explain.hpp"
#include "netlens/onnx.hpp"
#include "predictions.hpp"
#include "timeline_view.hpp"

namespace netlens::cli {
namespace {

// --layout-json FILE (viz/layout_json.hpp): the frame's layout (the view's: same tensors, collapse and
// camera) and its layer labels as viz::place_layer_labels places them for that camera, measured with
// the renderer's font, title and legend reserved as the renderer does.
void write_layout_json(const Session& s, const app::FrameSpec& fs, const std::string& path) {
  const viz::ShownTensors shown = viz::shown_tensors(s.graph(), s.planned(), fs.collapse);
  const viz::Layout l = viz::layout_tensors(shown.tensors);
  const int w = fs.width - 2 * fs.inset, h = fs.height;
  const viz::Camera cam = app::choose_camera(l, fs.camera, w, h);
  const glm::mat4 vp = viz::camera_view_proj(cam, float(w) / float(h), viz::scene_radius(l));
  const glm::vec3 eye = viz::camera_eye(cam);
  std::vector<int> order(l.layers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return glm::length(l.layers[static_cast<size_t>(a)].center() - eye) < glm::length(l.layers[static_cast<size_t>(b)].center() - eye);
  });
  viz::LabelStyle st;
  st.ui = std::clamp(float(h) / 1000.0f, 0.6f, 4.0f);
  const float ui = st.ui;
  const std::vector<glm::vec4> reserved = {{0.0f, 0.0f, 560.0f * ui, 90.0f * ui}, {0.0f, float(h) - 260.0f * ui, 360.0f * ui, 260.0f * ui}};
  const auto labels = viz::place_layer_labels(
      l, order, vp, w, h, [](const std::string& t, float px) { return render::font_atlas().text_width(t, px); }, st, reserved,
      {0.0f, float(w)});
  std::ofstream f(path);
  f << viz::layout_json(l, shown.groups, labels);
  if (!f.flush()) throw Error(ErrorKind::Io, "--layout-json: cannot write " + path);
}

int run_render(const std::vector<std::string>& argv) {
  // A checkpoint series (timeline_view.cpp): its own flags and frame.
  if (std::find(argv.begin(), argv.end(), "--timeline") != argv.end()) return run_render_timeline(argv);
  std::vector<std::string> flags = {"out", "camera", "view", "select", "pick", "gpu", "save-camera", "title", "frames",
                                    "ui-rects", "labels", "interop", "max-inputs", "values", "target", "score",
                                    "collapse", "layout-json"};
  flags.insert(flags.end(), kModelFlags.begin(), kModelFlags.end());  // includes size and input-size
  std::vector<std::string> bools = {"validation", "lod-mean", "ui"};
  bools.insert(bools.end(), kModelBoolFlags.begin(), kModelBoolFlags.end());
  Args a(argv, flags, bools, kModelRepeated);
  if (a.positional().size() != 1) throw Error(ErrorKind::Usage, "render expects exactly one MODEL argument");
  app::FrameSpec fs;
  if (auto s = a.get("size")) std::tie(fs.width, fs.height) = parse_size(*s, "--size");
  fs.camera.file = a.get_or("camera", "");
  fs.camera.view = a.get_or("view", "overview");
  if (a.has("camera") && a.has("view")) throw Error(ErrorKind::Usage, "--camera and --view are exclusive");
  fs.select = a.get_or("select", "");
  fs.title = a.get_or("title", std::filesystem::path(a.positional()[0]).stem().string());
  fs.lod_mean = a.has("lod-mean");
  fs.values = viz::parse_value_mode(a.get_or("values", "activation"));
  fs.collapse = a.get_or("collapse", "none");
  app::HeadlessOptions device{.gpu = static_cast<int>(a.get_int("gpu", -1)), .validation = a.has("validation")};
  std::optional<std::pair<int, int>> pick;
  if (auto p = a.get("pick")) {
    pick = parse_xy(*p, "--pick");
    auto [x, y] = *pick;
    if (x < 0 || y < 0 || x >= fs.width || y >= fs.height)
      throw Error(ErrorKind::Usage, "--pick " + std::to_string(x) + "," + std::to_string(y) + " is outside the " +
                                        std::to_string(fs.width) + "x" + std::to_string(fs.height) + " frame");
  }
  const int frames = static_cast<int>(a.get_int("frames", 0));
  if (frames < 0) throw Error(ErrorKind::Usage, "--frames must be >= 0");
  if ((a.has("target") || a.has("score")) && fs.values == viz::ValueMode::Activation)
    throw Error(ErrorKind::Usage, "--target and --score choose what gradients are of: give --values gradient or attribution");
  if (a.has("ui-rects") && !a.has("ui")) throw Error(ErrorKind::Usage, "--ui-rects needs --ui");
  if (a.has("labels") && !a.has("ui") && !a.has("target")) throw Error(ErrorKind::Usage, "--labels needs --ui or --target");
  ModelOptions mo = parse_model_options(a, /*size_is_image=*/false);  // --size is the frame here
  // Live input (a folder, a video): one PNG per input into the --out folder, through the live
  // pipeline and the view's in-place update. Opened before the model loads: a bad path is one
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
    app::LiveJob job{.frame = fs, .device = device, .out_dir = a.get_or("out", "frame.png"),
                     .max_inputs = a.get_int("max-inputs", 0)};
    if (job.max_inputs < 0) throw Error(ErrorKind::Usage, "--max-inputs must be >= 0");
    if (a.has("pick") || a.has("frames") || a.has("save-camera") || a.has("ui") || a.has("values") || a.has("layout-json"))
      throw Error(ErrorKind::Usage, "--pick, --frames, --save-camera, --ui, --values and --layout-json take a single input, not a live one");
    const std::string interop = a.get_or("interop", "auto");
    Graph g = load_onnx(mo.model);
    live::LiveInput in = live::open_live_input(g, spec, mo.pp, mo.size_given, mo.input_shapes);
    mo.input_shapes[in.input_name] = in.first_tensor.shape();
    // CUDA↔Vulkan interop when this machine has it (the arena must be placed before the session
    // is prepared); otherwise the staging path, and the reason goes into the start-up line.
    std::unique_ptr<live::InteropPath> li;
    std::string interop_why = interop == "off" ? "--interop off" : "";
    if (interop != "off" && mo.backend != "cpu") li = make_live_interop(interop, device.validation, &interop_why);
    if (li) mo.arena_allocator = li->arena_allocator();
    LoadedModel m = load_model(mo, /*need_inputs=*/true, std::move(g));
    // Declared after `m`, so destroyed before it: releases CUDA's waits before the backend drains.
    struct Release {
      live::InteropPath* l;
      ~Release() { if (l) l->release(); }
    } release{li.get()};
    if (li && m.backends.front()->name() != "cuda") li.reset(), release.l = nullptr, interop_why = "the CUDA backend is not in use";
    m.inputs[in.input_name] = in.first_tensor;
    run_once(m);
    // Live runs are silent: a progress line on the terminal per input would fight the live output.
    *m.run_progress = Progress("running node", /*quiet=*/true);
    live::LiveConfig cfg{.input_name = in.input_name, .input_dtype = in.first_tensor.dtype(), .pp = in.pp,
                        .other_inputs = m.inputs};
    cfg.other_inputs.erase(in.input_name);
    const std::string backend = m.backends.front()->name();
    if (li) {
      li->attach(*m.backends.front());
      app::render_live(*m.session, std::move(cfg), in, job, li->uploader(), "live: cuda backend + " + li->uploader().name(),
                       &li->context());
      return 0;
    }
    std::string line;
    auto up = live::make_uploader(interop, backend, mo.backend == "cpu" ? "--backend cpu" : "no usable CUDA device", &line,
                                 interop_why);
    app::render_live(*m.session, std::move(cfg), in, job, *up, line);
    return 0;
  }
  const std::vector<std::string> labels = a.has("labels") ? inspect::read_labels(*a.get("labels")) : std::vector<std::string>{};
  LoadedModel m = load_model(mo, /*need_inputs=*/true);
  run_once(m);
  if (fs.values != viz::ValueMode::Activation) {
    // Gradient modes: differentiate the target (default: the top class) once, then draw.
    const explain::Target t = explain::resolve_target(
        *m.session, explain::parse_target(a.get_or("target", ""), explain::parse_score(a.get_or("score", "logit"))), labels);
    m.session->backward(t.seeds(*m.session));
    std::fprintf(stderr, "netlens render: showing %ss of %s\n", viz::value_mode_name(fs.values), t.description.c_str());
    // The label font is ASCII: the subtitle says what S is in plain words.
    fs.subtitle = std::string(fs.values == viz::ValueMode::Gradient ? "gradients" : "gradient x activation") + " of the " +
                  t.description;
  }
  app::FrameJob job{.frame = fs, .device = device, .out = a.get_or("out", "frame.png"), .frames = frames,
                    .save_camera = a.get_or("save-camera", ""), .panels = a.has("ui"), .pick = pick};
  if (job.panels) {
    job.panel.input_path = mo.inputs.empty() ? std::string("(random)") : mo.inputs.front();
    job.panel.labels = a.has("labels") ? labels : std::vector<std::string>{};
    job.panel_rects = a.get_or("ui-rects", "");
  }
  // The pick as one JSON line on stdout (what --select takes back).
  job.on_pick = [](const std::optional<viz::PickResult>& p, const viz::Scene& scene) {
    std::printf("%s\n", viz::pick_to_json(p, scene).c_str());
  };
  app::render_frame(*m.session, job);
  if (auto lj = a.get("layout-json")) write_layout_json(*m.session, fs, *lj);
  return 0;
}

NETLENS_COMMAND("render",
                "render MODEL [--input FILE [--input-size WxH]] --out frame.png [--size 1920x1080] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--pick X,Y] [--gpu N] [--save-camera FILE] "
                "[--validation] [--lod-mean] [--frames N] [--ui [--ui-rects FILE] [--labels FILE]] "
                "[--values activation|gradient|attribution [--target T] [--score logit|prob]] [--collapse none|auto|depth:N|GROUP,...] "
                "[--layout-json FILE]\n"
                "       render MODEL --input DIR|VIDEO --out DIR/ [--max-inputs N] [--interop auto|on|off] [view flags]\n"
                "       render CHECKPOINTS... --timeline --input PROBE [--label N|--labels FILE.npy] [--eval DIR] [--checkpoint K] "
                "[--ui [--timeline-color weight_change|update_ratio|grad_norm|dead_share]] [view flags]",
                "run the model and render the network in 3D to a PNG (offscreen Vulkan); --pick prints the neuron at a pixel; "
                "--ui draws the viewer's panels too; --values gradient|attribution colours each neuron by dS/d(neuron) or "
                "dS/d(neuron) × its value for the target S (default: the top class; targets as in `explain`); a folder or video "
                "input writes one PNG per input into --out DIR/",
                run_render);

NETLENS_COMMAND("bench-render",
                "bench-render [--neurons 1e4,1e5,1e6,1e7,1e8] [--sizes 1280x720,1920x1080] [--frames N] [--no-vgg16] "
                "[--png DIR] [--gpu N] [--quick]",
                "render frame times (overview and close-up) for synthetic networks of 10^4..10^8 activations",
                [](const std::vector<std::string>& args) {
                  return app::run_render_benchmark(parse_render_bench_flags(args));
                });

}  // namespace
}  // namespace netlens::cli
