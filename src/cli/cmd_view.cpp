// netlens view: run a model on an input and explore the network in an interactive window.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <utility>

#include "netlens/cli/common.hpp"
#include "netlens/live/feeder.hpp"
#include "netlens/live/inference_thread.hpp"
#include "netlens/render/context.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/onnx.hpp"
#include "netlens/inspect/predictions.hpp"
#include "netlens/cli/frame_flags.hpp"
#include "timeline_view.hpp"
#include "netlens/viz/tour.hpp"
#include "view_values.hpp"
#include "netlens/app/viewer.hpp"
#include "viewer_flags.hpp"
#include "live_start.hpp"

namespace netlens::cli {
namespace {

// A file to run the model on (the Input panel's Load, a file dropped on the window, the script's
// `open`), decoded to a frame for the live pipeline, which resizes it like every frame. Error with
// one line naming the path: missing, a folder, not a decodable image.
media::Frame read_frame_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorKind::Io, path + ": no such file");
  if (fs::is_directory(path, ec))
    throw Error(ErrorKind::Usage, path + ": a folder; open an image file (or start with --input DIR)");
  Rgb8Image img = load_image_rgb8(path);  // stb, as folder images and --input FILE.png are decoded
  media::Frame f;
  f.width = img.width;
  f.height = img.height;
  f.rgb = std::move(img.pixels);
  f.index = -1;  // not a position in a source
  f.name = fs::path(path).filename().string();
  return f;
}

// The graph input a single-input view's loads feed and the preprocessing that gives later files the
// prepared shape (the first input's: a dynamic-size model keeps its first size, as live input does).
// nullopt when that input is not an image tensor (rank 4 with 1 or 3 channels): loading is then off.
struct SingleFeed {
  std::string name;
  ImagePreprocess pp;
  DType dtype = DType::Float32;
};
std::optional<SingleFeed> single_feed(const LoadedModel& m, const ModelOptions& mo) {
  std::string name;
  if (!mo.inputs.empty()) {
    const std::string& spec = mo.inputs.front();
    const size_t eq = spec.find('=');
    name = eq != std::string::npos && m.graph.find_input(spec.substr(0, eq)) ? spec.substr(0, eq) : m.graph.inputs.at(0).name;
  } else if (!m.graph.inputs.empty()) {
    name = m.graph.inputs.front().name;
  }
  auto it = m.inputs.find(name);
  const ValueInfo* vi = m.graph.find_input(name);
  if (it == m.inputs.end() || !vi) return std::nullopt;
  const Shape& sh = it->second.shape();
  const int64_t c = sh.size() == 4 ? sh[mo.pp.nhwc ? 3 : 1] : 0;
  if (c != 1 && c != 3) return std::nullopt;
  SingleFeed f{.name = name, .pp = image_preprocess_for(*vi, sh, mo.pp, /*size_given=*/false), .dtype = it->second.dtype()};
  return f;
}

int run_view(const std::vector<std::string>& argv) {
  // A checkpoint series (timeline_view.cpp): its own flags, panel and keys.
  if (std::find(argv.begin(), argv.end(), "--timeline") != argv.end()) return run_view_timeline(argv);
  std::vector<std::string> flags = {"camera", "view", "select", "gpu", "title", "frames", "script", "slideshow", "interop", "labels",
                                    "tour", "tour-out", "explain-method", "collapse"};
  flags.insert(flags.end(), kModelFlags.begin(), kModelFlags.end());  // includes size and input-size
  std::vector<std::string> bools = {"validation", "lod-mean", "no-vsync", "flow-strip"};
  bools.insert(bools.end(), kModelBoolFlags.begin(), kModelBoolFlags.end());
  Args a(argv, flags, bools, kModelRepeated);
  if (a.positional().size() != 1) throw Error(ErrorKind::Usage, "view expects exactly one MODEL argument");
  app::ViewerOptions v;
  read_viewer_flags(a, v);
  v.title = a.get_or("title", std::filesystem::path(a.positional()[0]).stem().string());
  v.flow_strip = a.has("flow-strip");
  v.collapse = a.get_or("collapse", "");  // "" = the start rule (viz::start_collapse)
  // The Explain panel's first method (G shows it); a bad name is one line now.
  // Without it: saliency in the gradient mode, gradient x input in the attribution mode.
  const std::string explain_method = a.get_or("explain-method", "");
  if (!explain_method.empty()) explain::parse_method(explain_method);
  v.labels = a.get_or("labels", "");
  if (!v.labels.empty()) inspect::read_labels(v.labels);  // a bad file is one line now, not after the run
  v.tour = a.get_or("tour", "");
  v.tour_out = a.get_or("tour-out", "");
  if (!v.tour.empty()) viz::read_tour(v.tour);  // likewise (its names are checked against the layout later)
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
    // Shapes only: the background run prepares the session on its own thread (oneDNN ties a
    // kernel to the thread that planned it), so the model is prepared once, after the structure
    // is on screen.
    mo.plan_only = true;
    LoadedModel m = load_model(mo, /*need_inputs=*/true);
    v.text_tokens = m.text.labels;  // --text: token labels in the Attention panel
    v.text_input = m.text_input;
    if (!mo.inputs.empty()) {
      const std::string& spec = mo.inputs.front();
      const size_t eq = spec.find('=');
      const bool named = eq != std::string::npos && m.graph.find_input(spec.substr(0, eq));
      v.first_input = std::filesystem::path(named ? spec.substr(eq + 1) : spec).filename().string();
    }
    const std::vector<std::string> labels = v.labels.empty() ? std::vector<std::string>{} : inspect::read_labels(v.labels);
    // Progressive start (docs/progressive.md): the window shows the laid-out structure at once and
    // runs the model on its own thread, filling layers as they are computed; Esc cancels the run.
    v.first_run_session = m.session.get();
    v.first_run_inputs = m.inputs;
    auto feed = single_feed(m, mo);
    // After that run: loading another file goes through the live pipeline, as with a folder (its
    // inference thread runs the session, planned again there, see src/live/pipeline.hpp; the renderer
    // is updated in place). Made at the first file opened, so a view that only looks starts no thread.
    live::StagingUploader up;
    std::optional<live::LivePipeline> pipe;
    std::optional<ViewValues> values;  // the View panel's gradient modes
    v.after_first_run = [&](app::ViewerOptions& o, bool) {
      values.emplace(*m.session, nullptr, labels);
      if (!explain_method.empty()) values->set_method(explain::parse_method(explain_method));
      values->install(o);
      if (!feed) return;  // e.g. a sequence input: nothing to load an image into
      app::ViewerOptions* op = &o;  // the viewer's own options (they outlive this lambda)
      o.open_input = [&, op](const std::string& path) {
        media::Frame f = read_frame_file(path);  // a bad file is one line before any thread starts
        if (!pipe) {
          *m.run_progress = Progress("running node", /*quiet=*/true);
          live::LiveConfig cfg{.input_name = feed->name, .input_dtype = feed->dtype, .pp = feed->pp,
                              .other_inputs = m.inputs, .layout = live::live_layout(*m.session)};
          cfg.other_inputs.erase(feed->name);
          cfg.wait_until_shown = true;
          cfg.uploader = &up;
          pipe.emplace(*m.session, std::move(cfg));
          op->live = &*pipe;
          op->uploader = &up;
          values->set_pipeline(&*pipe);
        }
        pipe->submit(std::move(f));
      };
    };
    return app::run_viewer(*m.session, v);
  }
  const std::string spec = *live_it;
  mo.inputs.erase(live_it);
  live::FeederOptions fo;
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
  live::LiveInput in = live::open_live_input(g, spec, mo.pp, mo.size_given, mo.input_shapes);
  if (fo.slideshow_s > 0 && in.source->kind() != media::SourceKind::Folder)
    throw Error(ErrorKind::Usage, "--slideshow steps through a folder; '" + spec + "' is a video or a camera");
  // CUDA-Vulkan interop when this machine has it: the window's context on the CUDA device's GPU and
  // the CUDA backend's activation arena in its memory; the results then reach the window without a
  // host copy. Otherwise staging, the reason in the line (live_start.hpp).
  render::ContextOptions window;
  app::window_context_options(window, v.gpu, v.validation);
  LiveStart start(mo, std::move(g), in, interop, v.validation, &window);
  LoadedModel& m = start.model();
  live::ResultUploader* up = &start.uploader();
  if (start.interop()) v.context = &start.interop()->context();  // the window draws on the interop context (same GPU, presents)
  live::LiveConfig cfg = start.config(in);
  cfg.layout = live::live_layout(*m.session);
  cfg.wait_until_shown = true;  // the panels read the session of the result on screen
  std::fprintf(stderr, "netlens view: %s; %s\n", start.line().c_str(), in.source->description().c_str());
  live::LivePipeline pipe(*m.session, std::move(cfg), start.worker());
  live::SourceFeeder feeder(std::move(in.source), pipe, fo);
  v.live = &pipe;
  v.feeder = &feeder;
  v.uploader = up;
  v.first_input = in.first.name;
  v.open_input = [&pipe, &feeder](const std::string& path) {
    media::Frame f = read_frame_file(path);
    // A playing video or camera would replace the file at its next frame: pause it (Space resumes).
    if (feeder.kind() != media::SourceKind::Folder && !feeder.paused()) {
      feeder.toggle_pause();
      std::fprintf(stderr, "netlens view: input paused (a file was opened)\n");
    }
    pipe.submit(std::move(f));
  };
  ViewValues values(*m.session, &pipe, v.labels.empty() ? std::vector<std::string>{} : inspect::read_labels(v.labels));
  if (!explain_method.empty()) values.set_method(explain::parse_method(explain_method));
  values.install(v);
  const int rc = app::run_viewer(*m.session, v);
  if (const std::string r = up->report(); !r.empty()) std::fprintf(stderr, "netlens view: %s\n", r.c_str());
  return rc;
}

NETLENS_COMMAND("view",
                "view MODEL [--input FILE [--input-size WxH]] [--size 1280x800] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--no-vsync] [--frames N] [--script FILE] [--gpu N] "
                "[--validation] [--lod-mean] [--flow-strip] [--explain-method M] [--labels FILE] [--tour FILE] [--tour-out FILE] [--collapse none|auto|depth:N|GROUP,...]\n"
                "       view MODEL --input DIR|VIDEO|camera[:N] [--slideshow SECONDS] [--interop auto|on|off] [view flags]\n"
                "       view CHECKPOINTS... --timeline --input PROBE [--label N|--labels FILE.npy] [--eval DIR] [--checkpoint K] "
                "[--timeline-color weight_change|update_ratio|grad_norm|dead_share] [view flags]",
                "run the model and explore the network in a window (drag/scroll, Tab fly mode, F focus, click "
                "select, C camera, P screenshot; the Input panel's Load or a file dropped on the window runs the model on "
                "that image); a folder/video/camera input is run live (Right/Left or N step "
                "through a folder, Space pauses a video); K adds a tour keyframe, T saves the tour, --tour plays one "
                "(PageDown/PageUp stops, B blank, L pointer, F11 full screen, F2 notes: docs/present.md); without a display use 'render'",
                run_view);

}  // namespace
}  // namespace netlens::cli
