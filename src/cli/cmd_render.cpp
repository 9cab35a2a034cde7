// netlens render: run a model on an input, render the network offscreen to PNG, optionally pick.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <glm/geometric.hpp>

#include "netlens/cli/bench_render_flags.hpp"
#include "netlens/viz/camera.hpp"
#include "netlens/viz/open_layer.hpp"
#include "netlens/cli/common.hpp"
#include "netlens/render/font.hpp"
#include "netlens/cli/frame_flags.hpp"
#include "netlens/app/headless.hpp"
#include "netlens/viz/labels.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/viz/layout_json.hpp"
#include "netlens/viz/token_labels.hpp"
#include "netlens/viz/metrics.hpp"
#include "netlens/inspect/diff.hpp"
#include "netlens/cpu.hpp"
#include "netlens/explain.hpp"
#include "netlens/onnx.hpp"
#include "netlens/ui/panel_diff.hpp"
#include "netlens/inspect/predictions.hpp"
#include "netlens/app/progressive.hpp"
#include "timeline_view.hpp"
#include "viewer_flags.hpp"
#include "live_start.hpp"

namespace netlens::cli {
namespace {

// --layout-json FILE (viz/layout_json.hpp): the frame's layout (the view's: same tensors, collapse and
// camera) and its layer labels as viz::place_layer_labels places them for that camera, measured with
// the renderer's font, title and legend reserved as the renderer does.
// With --open, the open layer's grid and camera as render draws them (labels kept off the grid).
struct OpenJson {
  std::string tensor;
  float t = 0.0f;
  bool own_camera = false;  // no --view/--camera: viz::open_layer_camera
};
void write_layout_json(const Session& s, const app::FrameSpec& fs, const std::string& path, const OpenJson& oj = {}) {
  const viz::ShownTensors shown = viz::shown_tensors(s.graph(), s.planned(), fs.collapse);
  const viz::Layout l = viz::layout_tensors(shown.tensors);
  const int w = fs.width - 2 * fs.inset, h = fs.height;
  const viz::OpenLabels open{oj.tensor.empty() ? -1 : l.find(oj.tensor), oj.t};
  const viz::Camera cam = open.layer >= 0 && oj.own_camera ? viz::open_layer_camera(l, open.layer, float(w) / float(h))
                                                           : app::choose_camera(l, fs.camera, w, h);
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
      {0.0f, float(w)}, [&](int li) { return cam.cut && l.layers[static_cast<size_t>(li)].max().x < cam.cut_x; }, open);
  std::string json = viz::layout_json(l, shown.groups, labels);
  if (!fs.tokens.empty()) {
    // --text: the token labels as the renderer places them (after the layer labels, kept off them).
    std::vector<glm::vec4> taken = reserved;
    for (const auto& lb : labels) taken.push_back(lb.rect);
    if (open.layer >= 0 && open.t > 0.0f)
      if (const glm::vec4 g = viz::open_grid_rect(l, open, vp, w, h); g.z > 0.0f) taken.push_back(g);
    viz::TokenLabelStyle ts;
    ts.ui = ui;
    const auto toks = viz::place_token_labels(
        l, fs.tokens, order, vp, w, h, [](const std::string& t, float px) { return render::font_atlas().text_width(t, px); }, ts, taken,
        {0.0f, float(w)}, [&](int li) { return cam.cut && l.layers[static_cast<size_t>(li)].max().x < cam.cut_x; });
    json.insert(json.rfind('}'), ", \"token_labels\": " + viz::token_labels_json(toks));
  }
  std::ofstream f(path);
  f << json;
  if (!f.flush()) throw Error(ErrorKind::Io, "--layout-json: cannot write " + path);
}

// --diff MODEL_B / --input-b FILE: run B (the other model on the same inputs, or this model on the
// other inputs), colour by |a−b| (or the relative difference) and stand a bar on each layer: its
// rel_l2_diff (inspect/diff.hpp), which also ranks the layers in the Diff panel.
LoadedModel setup_difference(const Args& a, const ModelOptions& mo, LoadedModel& m, app::FrameSpec& fs, bool relative,
                             std::vector<ui::DiffRow>& ranking) {
  ModelOptions ob = mo;
  if (auto d = a.get("diff")) ob.model = *d;
  if (a.has("input-b")) {
    ob.inputs = a.all("input-b");
    if (ob.inputs.size() != mo.inputs.size())
      throw Error(ErrorKind::Usage, "--input-b: give one per --input (" + std::to_string(mo.inputs.size()) + " --input, " +
                                        std::to_string(ob.inputs.size()) + " --input-b)");
  }
  LoadedModel b = load_model(ob, /*need_inputs=*/true);
  run_once(b);
  const inspect::DiffReport r = inspect::diff_runs(*m.session, *b.session, a.has("diff") ? "models" : "inputs");
  fs.values = viz::ValueMode::Difference;
  fs.sources.b = b.session.get();
  fs.sources.relative = relative;
  fs.sources.name = relative ? "|a-b| / |a|" : "|a-b|";
  for (size_t i : r.ranking) {
    const inspect::TensorDiff& d = r.tensors[i];
    if (d.rel_l2_diff) fs.sources.layer_bars[d.tensor] = *d.rel_l2_diff;
    viz::VizTensor vt;
    vt.name = d.tensor, vt.op = d.op, vt.node = d.node;
    ranking.push_back({d.tensor, viz::display_name(vt, 40), d.rel_l2_diff ? *d.rel_l2_diff : std::nan("")});
  }
  const auto file = [](const std::string& p) { return std::filesystem::path(p).filename().string(); };
  fs.subtitle = a.has("diff") ? "A " + file(mo.model) + " vs B " + file(ob.model)
                              : "A " + (mo.inputs.empty() ? std::string("(random)") : file(mo.inputs.front())) + " vs B " +
                                    file(ob.inputs.front());
  fs.subtitle += "; bars: rel L2 per layer (max " + viz::format_value(static_cast<float>(
                     r.ranking.empty() || !r.tensors[r.ranking.front()].rel_l2_diff ? 0.0 : *r.tensors[r.ranking.front()].rel_l2_diff)) + ")";
  std::fprintf(stderr, "netlens render: %zu tensors compared, %zu unmatched (drawn as no value)\n", r.tensors.size(), r.unmatched.size());
  return b;
}

// --metric latency|flops|params|memory|grad-norm|FILE.json: every layer one colour, its metric.
void setup_metric(const Args& a, const viz::MetricSpec& spec, LoadedModel& m, app::FrameSpec& fs,
                  const std::vector<std::string>& labels) {
  std::vector<std::vector<double>> runs;
  if (spec.kind == viz::MetricKind::Latency) {
    // The first run pays for first touches of memory: the minimum of five more runs per node.
    for (int i = 0; i < 5; ++i) {
      run_once(m);
      runs.push_back(m.session->node_times_ms());
    }
  }
  if (spec.kind == viz::MetricKind::GradNorm) {
    const explain::Target t = explain::resolve_target(
        *m.session, explain::parse_target(a.get_or("target", ""), explain::parse_score(a.get_or("score", "logit"))), labels);
    m.session->backward(t.seeds(*m.session));
    std::fprintf(stderr, "netlens render: gradient norms of %s\n", t.description.c_str());
  }
  std::vector<std::string> names;
  for (const PlannedTensor& t : m.session->planned())
    if (!t.constant) names.push_back(t.name);
  const viz::MetricValues v = viz::tensor_metric(*m.session, names, spec, runs);
  for (const std::string& k : v.unknown) std::fprintf(stderr, "netlens render: --metric: '%s' names no node or tensor (ignored)\n", k.c_str());
  fs.values = viz::ValueMode::Metric;
  fs.sources.metric = v.by_tensor;
  fs.sources.layer_bars = v.by_tensor;
  fs.sources.name = viz::metric_name(spec);
  double lo = 0, hi = 0;
  bool first = true;
  for (const auto& [k, x] : v.by_tensor) lo = first ? x : std::min(lo, x), hi = first ? x : std::max(hi, x), first = false;
  fs.subtitle = "metric: " + fs.sources.name + " per layer (" + std::to_string(v.by_tensor.size()) + " layers, " +
                viz::format_value(static_cast<float>(lo)) + " .. " + viz::format_value(static_cast<float>(hi)) + ")";
}

// SIGINT during `render`'s run: the run stops before its next node (Session::run's RunControl) and
// the command ends with one line and exit status 130 instead of being killed mid-write.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");
extern "C" void on_sigint(int) { g_interrupted.store(true); }

struct SigintCancel {
  using Handler = void (*)(int);
  Handler prev;
  SigintCancel() : prev(std::signal(SIGINT, on_sigint)) {
    if (prev == SIG_IGN) std::signal(SIGINT, SIG_IGN);  // a background job started with SIGINT ignored keeps it so
  }
  ~SigintCancel() { std::signal(SIGINT, prev); }
};

// run_once with SIGINT cancelling the run (a Cancelled error: "render: interrupted ...").
void run_cancellable(LoadedModel& m) {
  SigintCancel guard;
  RunControl ctl;
  ctl.on_node = [&ctl](size_t, size_t) {
    if (g_interrupted.load()) ctl.cancel.store(true);
  };
  m.session->run(m.inputs, ctl);
  m.run_progress->done();
}

int run_render(const std::vector<std::string>& argv) {
  const auto start = std::chrono::steady_clock::now();
  // A checkpoint series (timeline_view.cpp): its own flags and frame.
  if (std::find(argv.begin(), argv.end(), "--timeline") != argv.end()) return run_render_timeline(argv);
  std::vector<std::string> flags = {"out", "camera", "view", "select", "pick", "gpu", "save-camera", "title", "frames",
                                    "ui-rects", "labels", "interop", "max-inputs", "values", "target", "score",
                                    "collapse", "layout-json", "diff", "input-b", "diff-kind", "metric", "open", "open-t",
                                    "progressive", "progressive-frames"};
  flags.insert(flags.end(), kModelFlags.begin(), kModelFlags.end());  // includes size and input-size
  std::vector<std::string> bools = {"validation", "lod-mean", "ui", "flow-strip"};
  bools.insert(bools.end(), kModelBoolFlags.begin(), kModelBoolFlags.end());
  std::vector<std::string> repeated = kModelRepeated;
  repeated.push_back("input-b");
  Args a(argv, flags, bools, repeated);
  if (a.positional().size() != 1) throw Error(ErrorKind::Usage, "render expects exactly one MODEL argument");
  app::FrameSpec fs;
  read_frame_flags(a, fs);
  fs.title = a.get_or("title", std::filesystem::path(a.positional()[0]).stem().string());
  fs.flow_strip = a.has("flow-strip");
  if (fs.flow_strip && fs.values != viz::ValueMode::Gradient && fs.values != viz::ValueMode::Attribution)
    throw Error(ErrorKind::Usage, "--flow-strip needs --values gradient or attribution");
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
  if ((a.has("target") || a.has("score")) && fs.values == viz::ValueMode::Activation && a.get_or("metric", "") != "grad-norm")
    throw Error(ErrorKind::Usage, "--target and --score choose what gradients are of: give --values gradient or attribution "
                                  "(or --metric grad-norm)");
  if (a.has("ui-rects") && !a.has("ui")) throw Error(ErrorKind::Usage, "--ui-rects needs --ui");
  if (a.has("labels") && !a.has("ui") && !a.has("target")) throw Error(ErrorKind::Usage, "--labels needs --ui or --target");
  ModelOptions mo = parse_model_options(a, /*size_is_image=*/false);  // --size is the frame here
  const bool diff = a.has("diff") || a.has("input-b");
  if (a.has("diff-kind") && !diff) throw Error(ErrorKind::Usage, "--diff-kind needs --diff MODEL_B or --input-b FILE");
  const std::string diff_kind = a.get_or("diff-kind", "abs");
  if (diff_kind != "abs" && diff_kind != "rel") throw Error(ErrorKind::Usage, "--diff-kind expects abs or rel, got '" + diff_kind + "'");
  std::optional<viz::MetricSpec> metric;
  if (auto mt = a.get("metric")) metric = viz::parse_metric(*mt);
  if ((diff || metric) && a.has("values"))
    throw Error(ErrorKind::Usage, "--values, --diff/--input-b and --metric each choose what the cells show: give one");
  if (diff && metric) throw Error(ErrorKind::Usage, "--diff/--input-b and --metric each choose what the cells show: give one");
  if (metric && metric->kind == viz::MetricKind::Latency) mo.profile = true;
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
    if (a.has("pick") || a.has("frames") || a.has("save-camera") || a.has("ui") || a.has("values") || a.has("layout-json") || diff ||
        metric)
      throw Error(ErrorKind::Usage,
                  "--pick, --frames, --save-camera, --ui, --values, --diff, --input-b, --metric and --layout-json take a single "
                  "input, not a live one");
    const std::string interop = a.get_or("interop", "auto");
    Graph g = load_onnx(mo.model);
    live::LiveInput in = live::open_live_input(g, spec, mo.pp, mo.size_given, mo.input_shapes);
    // CUDA↔Vulkan interop when this machine has it, otherwise staging (live_start.hpp).
    LiveStart start(mo, std::move(g), in, interop, device.validation, nullptr);
    app::render_live(*start.model().session, start.config(in), in, job, start.uploader(), start.line(),
                     start.interop() ? &start.interop()->context() : nullptr, &start.worker());
    return 0;
  }
  const std::vector<std::string> labels = a.has("labels") ? inspect::read_labels(*a.get("labels")) : std::vector<std::string>{};
  if (a.has("progressive-frames") && !a.has("progressive")) throw Error(ErrorKind::Usage, "--progressive-frames needs --progressive DIR");
  if (auto dir = a.get("progressive")) {
    if (a.has("values") || diff || metric || a.has("ui") || a.has("pick") || a.has("frames") || a.has("open"))
      throw Error(ErrorKind::Usage, "--progressive draws activations as they are computed: it takes no --values, --diff, --input-b, "
                                    "--metric, --ui, --pick, --frames or --open");
    // The structure frame needs the shapes only; the run prepares the session (kernels, weight
    // packing) after that frame is written.
    mo.plan_only = true;
    LoadedModel m = load_model(mo, /*need_inputs=*/true);
    const double loaded_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    SigintCancel guard;
    app::ProgressiveJob job{.frame = fs, .device = device, .out_dir = *dir,
                            .frames = static_cast<int>(a.get_int("progressive-frames", 8)), .cancel = &g_interrupted,
                            .start = start};
    app::ProgressiveReport r;
    try {
      r = app::render_progressive(*m.session, m.inputs, job);
    } catch (const Cancelled& e) {
      m.run_progress->done();
      std::fprintf(stderr, "netlens render: interrupted: %s; the frames so far are in %s\n", e.what(), dir->c_str());
      return 130;
    }
    m.run_progress->done();
    std::fprintf(stderr,
                 "netlens render: progressive: model loaded and its shapes planned at %.0f ms (plan %.0f ms), view at %.0f ms, structure "
                 "frame at %.0f ms, complete frame at %.0f ms (%d frames, %zu nodes) in %s\n",
                 loaded_ms, m.prepare_ms, r.view_ms, r.first_frame_ms, r.complete_frame_ms, r.frames_written, r.nodes_total,
                 dir->c_str());
    if (auto lj = a.get("layout-json")) write_layout_json(*m.session, fs, *lj);
    return 0;
  }
  LoadedModel m = load_model(mo, /*need_inputs=*/true);
  fs.tokens = m.text.labels;  // --text: token labels along sequence axes in 3D
  try {
    run_cancellable(m);
  } catch (const Cancelled& e) {
    std::fprintf(stderr, "netlens render: interrupted: %s\n", e.what());
    return 130;
  }
  release_cpu_thread_scratch();  // the run's scratch is not needed while the frame is drawn (issue 13)
  std::optional<LoadedModel> b;  // run B of a difference (outlives the frame: the view reads it)
  std::vector<ui::DiffRow> ranking;  // the Diff panel's rows
  if (diff) b = setup_difference(a, mo, m, fs, diff_kind == "rel", ranking);
  if (metric) setup_metric(a, *metric, m, fs, labels);
  if (fs.values == viz::ValueMode::Gradient || fs.values == viz::ValueMode::Attribution) {
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
    job.panel.text_tokens = m.text.labels;  // --text: token labels in the Attention panel
    job.panel.text_input = m.text_input;
    job.panel_rects = a.get_or("ui-rects", "");
  }
  // The pick as one JSON line on stdout (what --select takes back).
  job.on_pick = [](const std::optional<viz::PickResult>& p, const viz::Scene& scene) {
    std::printf("%s\n", viz::pick_to_json(p, scene).c_str());
  };
  if (job.panels && diff) job.setup = [&ranking](app::View& v) {
    if (v.panels()) v.panels()->set_extra(ui::diff_panel(ranking));
  };
  // --open TENSOR [--open-t T]: that layer's channels spread into a grid of tiles (viz/open_layer.hpp).
  if (auto open = a.get("open")) {
    const double t = a.has("open-t") ? std::stod(*a.get("open-t")) : 1.0;
    if (!(t >= 0.0 && t <= 1.0)) throw Error(ErrorKind::Usage, "--open-t " + *a.get("open-t") + ": expected a number in [0, 1]");
    job.setup = [prev = job.setup, name = *open, t](app::View& v) {
      if (prev) prev(v);
      const int li = v.scene().layout.find(name);
      if (li < 0) throw Error(ErrorKind::Usage, "--open " + name + ": no shown layer has this tensor");
      v.renderer().set_open_layer(li, static_cast<float>(t));
    };
    // Without --view or --camera the camera faces the opened grid (the overview sees it edge-on).
    if (!a.has("view") && !a.has("camera") && t > 0.0)
      job.camera = [name = *open](const app::View& v) {
        const app::FrameSpec& f = v.spec();  // the frame between the panels' columns, as choose_camera
        return viz::open_layer_camera(v.scene().layout, v.scene().layout.find(name), float(f.width - 2 * f.inset) / float(f.height));
      };
  } else if (a.has("open-t")) {
    throw Error(ErrorKind::Usage, "--open-t needs --open TENSOR");
  }
  app::render_frame(*m.session, job);
  OpenJson oj;
  if (auto open = a.get("open")) {
    oj.tensor = *open;
    oj.t = a.has("open-t") ? std::stof(*a.get("open-t")) : 1.0f;
    oj.own_camera = !a.has("view") && !a.has("camera") && oj.t > 0.0f;
  }
  if (auto lj = a.get("layout-json")) write_layout_json(*m.session, fs, *lj, oj);
  return 0;
}

NETLENS_COMMAND("render",
                "render MODEL [--input FILE [--input-size WxH]] --out frame.png [--size 1920x1080] [--camera cam.json | --view overview | "
                "--view layer:NAME] [--select TENSOR:INDEX] [--open TENSOR [--open-t T]] [--pick X,Y] [--gpu N] [--save-camera FILE] "
                "[--validation] [--lod-mean] [--frames N] [--ui [--ui-rects FILE] [--labels FILE]] "
                "[--values activation|gradient|attribution [--target T] [--score logit|prob] [--flow-strip]] [--collapse none|auto|depth:N|GROUP,...] "
                "[--layout-json FILE] [--diff MODEL_B | --input-b FILE [--diff-kind abs|rel]] "
                "[--metric latency|flops|params|memory|grad-norm|FILE.json] [--progressive DIR [--progressive-frames N]]\n"
                "       render MODEL --input DIR|VIDEO --out DIR/ [--max-inputs N] [--interop auto|on|off] [view flags]\n"
                "       render CHECKPOINTS... --timeline --input PROBE [--label N|--labels FILE.npy] [--eval DIR] [--checkpoint K] "
                "[--ui [--timeline-color weight_change|update_ratio|grad_norm|dead_share]] [view flags]",
                "run the model and render the network in 3D to a PNG (offscreen Vulkan); --pick prints the neuron at a pixel; "
                "--ui draws the viewer's panels too; --values gradient|attribution colours each neuron by dS/d(neuron) or "
                "dS/d(neuron) × its value for the target S (default: the top class; targets as in `explain`); --diff/--input-b "
                "colour by the difference from a second run with a divergence bar per layer; --metric colours each layer by a "
                "per-node metric; --progressive DIR writes the structure first, then frames as layers are computed, the complete frame "
                "last (Ctrl-C stops the run: exit 130); a folder or video "
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
