// `render --timeline` and `view --timeline`: a checkpoint series shown through the frame driver
// (timeline_view.hpp).
#include "timeline_view.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "netlens/cli/common.hpp"
#include "netlens/cli/frame_flags.hpp"
#include "netlens/app/headless.hpp"
#include "netlens/ui/panels.hpp"
#include "netlens/app/viewer.hpp"
#include "viewer_flags.hpp"

namespace netlens::cli {
namespace {

namespace tl = netlens::timeline;


// GLFW key codes (GLFW_KEY_RIGHT, LEFT, N, G): the viewer hands keys over as GLFW codes.
constexpr int kKeyRight = 262, kKeyLeft = 263, kKeyN = 78, kKeyG = 71;

// --checkpoint K: 0-based, or -1 for the last.
size_t parse_checkpoint(const Args& a, size_t n) {
  const int64_t k = a.get_int("checkpoint", -1);
  if (k < -1 || k >= static_cast<int64_t>(n))
    throw Error(ErrorKind::Usage, "--checkpoint " + std::to_string(k) + ": the series has " + std::to_string(n) +
                                      " checkpoints (0.." + std::to_string(n - 1) + ", or -1 for the last)");
  return k < 0 ? n - 1 : static_cast<size_t>(k);
}

std::string series_title(const Args& a) {
  if (auto t = a.get("title")) return *t;
  const std::filesystem::path p(a.positional().at(0));
  return std::filesystem::is_directory(p) ? p.filename().string() : p.parent_path().filename().string();
}

}  // namespace

TimelineHost::TimelineHost(const Args& a, bool quiet) {
  const std::string backend = a.get_or("backend", "cpu");
  if (backend != "cpu" && backend != "cuda" && backend != "auto")
    throw Error(ErrorKind::Usage, "--backend must be cpu, cuda or auto, got '" + backend + "'");
  tl::CheckpointList list = tl::discover_checkpoints(a.positional(), a.get_or("graph", ""));
  backends_ = make_backends(backend, quiet || backend == "cpu");
  std::vector<Backend*> bs;
  for (auto& b : backends_) bs.push_back(b.get());
  tl::SeriesOptions so;
  so.eval_batch = a.get_int("eval-batch", 256);
  series_ = std::make_unique<tl::Series>(list, bs, so);
  in_ = read_timeline_inputs(a, series_->graph());
  // Every checkpoint once: the curves, the bars' scale and the findings cover the whole series.
  Progress progress("checkpoints", quiet);
  report_ = tl::make_report(*series_, in_.probe, in_.eval, [&](size_t d, size_t t) { progress.update(d, t); });
  progress.done();
  if (!series_->reuses_session())
    throw Error(ErrorKind::Unsupported, "--timeline: these checkpoints need a prepared session each (an op reads a weight as a "
                                        "constant); the 3D view follows one session: use `netlens timeline` for the figures");
  current_ = series_->current();
}

TimelineHost::~TimelineHost() = default;

std::vector<std::string> TimelineHost::hidden_inputs() const {
  std::vector<std::string> out;
  const Graph& model = series_->graph();
  for (const ValueInfo& in : series_->session().graph().inputs)
    if (!model.find_input(in.name)) out.push_back(in.name);
  return out;
}

void TimelineHost::load(size_t i) {
  if (i == current_) return;
  // The evaluation folders were measured by make_report; a scrub needs only the probe.
  series_->load(i, in_.probe);
  current_ = i;
  if (panel_) panel_->set_current(i);
}

ui::TimelineModel TimelineHost::model_for(const viz::Layout& layout) const {
  ui::TimelineModel m;
  const size_t n = report_.points.size();
  auto nan = std::nanf("");
  for (auto* v : {&m.train_loss, &m.val_loss, &m.probe_loss, &m.train_acc, &m.val_acc, &m.probe_acc}) v->assign(n, nan);
  // Shown layer of each timeline layer: its measured activation, else its node's first output.
  std::vector<int> shown(report_.layers.size(), -1);
  for (size_t l = 0; l < report_.layers.size(); ++l) {
    const tl::Layer& L = report_.layers[l];
    shown[l] = layout.find(L.activation);
    if (shown[l] < 0)
      for (const Node& nd : series_->graph().nodes)
        if (nd.name == L.node && !nd.outputs.empty()) shown[l] = layout.find(nd.outputs[0]);
  }
  m.figures.assign(ui::kTimelineFigures, std::vector<std::vector<float>>(n, std::vector<float>(layout.layers.size(), nan)));
  for (size_t c = 0; c < n; ++c) {
    const tl::CheckpointPoint& p = report_.points[c];
    m.checkpoints.push_back(p.name);
    m.probe_loss[c] = static_cast<float>(p.probe_loss);
    m.probe_acc[c] = static_cast<float>(p.probe_accuracy);
    for (const tl::EvalPoint& e : p.eval) {
      const bool train = e.split == "train";
      (train ? m.train_loss : m.val_loss)[c] = static_cast<float>(e.loss);
      (train ? m.train_acc : m.val_acc)[c] = static_cast<float>(e.accuracy);
    }
    for (size_t l = 0; l < report_.layers.size() && l < p.layers.size(); ++l) {
      if (shown[l] < 0) continue;
      const tl::LayerPoint& lp = p.layers[l];
      const size_t s = static_cast<size_t>(shown[l]);
      m.figures[static_cast<int>(ui::TimelineFigure::WeightChange)][c][s] = static_cast<float>(lp.delta_norm);
      m.figures[static_cast<int>(ui::TimelineFigure::UpdateRatio)][c][s] = static_cast<float>(lp.update_ratio);
      m.figures[static_cast<int>(ui::TimelineFigure::GradNorm)][c][s] = static_cast<float>(lp.grad_norm);
      // Dead channels are a ReLU figure (activation_stats gives 0 elsewhere): no bar for the others.
      if (report_.layers[l].activation_op == "Relu")
        m.figures[static_cast<int>(ui::TimelineFigure::DeadShare)][c][s] = static_cast<float>(lp.act.dead_share);
    }
  }
  for (const tl::Finding& f : report_.findings) {
    ui::TimelineFindingRow r{.kind = f.kind, .message = f.message, .layers = f.layers, .checkpoints = f.checkpoints};
    if (!f.checkpoints.empty())
      for (size_t c = 0; c < n; ++c)
        if (report_.points[c].name == f.checkpoints.front()) { r.first_checkpoint = static_cast<int>(c); break; }
    if (!f.layers.empty())
      for (size_t l = 0; l < report_.layers.size(); ++l)
        if (report_.layers[l].node == f.layers.front()) { r.first_layer = shown[l]; break; }
    m.findings.push_back(std::move(r));
  }
  return m;
}

void TimelineHost::attach(app::View& v, ui::TimelineFigure figure) {
  // The View's scene lives at a fixed address and scrubbing keeps its layout.
  panel_ = std::make_unique<ui::TimelinePanel>(model_for(v.scene().layout), current_, figure);
  ui::Panels* p = v.panels();
  if (!p) return;
  auto fly = p->actions.focus_layer;
  panel_->focused = [&v] { return v.panels() ? v.panels()->focus() : -1; };
  panel_->focus_layer = [&v, fly](int layer) {
    if (fly) fly(layer);
    if (v.panels()) v.panels()->set_focus(layer);
  };
  ui::Panels::ExtraPanel e;
  e.name = "Timeline";
  e.body = [this] { panel_->draw_body(); };
  const viz::Camera cam0 = v.initial_camera();
  e.overlay = [this, cam0, &v](int w, int h, float k) {
    // The camera of this frame: the viewer's (before_frame), else the view's own.
    const viz::Camera& cam = have_cam_ ? cam_ : cam0;
    const float cw = float(ui::column_width(w, h));
    panel_->draw_bars(v.scene().layout, cam, w, h, k, cw, float(w) - cw);
  };
  p->set_extra(std::move(e));
  // The View panel's value modes: Series::load ran the backward pass of the probe's cross-entropy
  // at its labels, so gradients are there for every checkpoint (the target text does not apply).
  p->actions.value_mode = [this](viz::ValueMode m, const std::string&) { pending_mode_ = m; };
}

std::string TimelineHost::values_subtitle(viz::ValueMode m) {
  return std::string(m == viz::ValueMode::Gradient ? "gradients" : "gradient x activation") +
         " of the cross-entropy at the probe's labels";
}

void TimelineHost::cycle_values() {
  pending_mode_ = shown_mode_ == viz::ValueMode::Activation ? viz::ValueMode::Gradient
                  : shown_mode_ == viz::ValueMode::Gradient ? viz::ValueMode::Attribution
                                                            : viz::ValueMode::Activation;
}

bool TimelineHost::before_frame(app::View& v, const viz::Camera& cam) {
  cam_ = cam;
  have_cam_ = true;
  if (!panel_) return false;
  if (auto r = panel_->take_request()) {
    // The switch's cost on stderr (docs/PERFORMANCE.md quotes it): the probe's run(s) on the new
    // weights, then the scene, renderer buffers and panels.
    const auto t0 = std::chrono::steady_clock::now();
    load(*r);
    const auto t1 = std::chrono::steady_clock::now();
    v.set_values(v.values());  // the same layout, this checkpoint's values; the panels follow
    const auto t2 = std::chrono::steady_clock::now();
    const auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::fprintf(stderr, "netlens view: checkpoint %zu (%s): load %.1f ms, view %.1f ms\n", *r,
                 report_.points.at(*r).name.c_str(), ms(t0, t1), ms(t1, t2));
  }
  if (pending_mode_) {
    const viz::ValueMode m = *pending_mode_;
    pending_mode_.reset();
    try {
      v.set_values(m);  // Error{Usage} without gradients (no --label/--labels): the view stays
      shown_mode_ = m;
      const std::string what = m == viz::ValueMode::Activation ? "" : values_subtitle(m);
      v.renderer().set_subtitle(what);
      if (v.panels()) v.panels()->set_value_mode(m, what);
    } catch (const Error& e) {
      std::fprintf(stderr, "netlens view: %s\n", e.what());
      if (v.panels()) v.panels()->set_status(e.what());
    }
  }
  return panel_->playing();
}

std::string TimelineHost::bars_json(const viz::Layout& layout, const viz::Camera& cam, int width, int height) const {
  nlohmann::json j;
  j["checkpoint"] = current_;
  j["name"] = report_.points.at(current_).name;
  j["figure"] = panel_ ? ui::timeline_figure_name(panel_->figure()) : "";
  j["figure_max"] = panel_ ? panel_->figure_max() : 0.0f;
  j["bars"] = nlohmann::json::array();
  if (!panel_) return j.dump();
  const float cw = float(ui::column_width(width, height));
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    auto b = panel_->bar(layout, cam, width, height, static_cast<int>(i));
    if (!b || b->x < cw || b->x + b->w > float(width) - cw) continue;  // draw_bars' clip
    std::string node;
    for (const tl::Layer& L : report_.layers)
      if (layout.find(L.activation) == static_cast<int>(i)) node = L.node;
    j["bars"].push_back({{"layer", i}, {"tensor", layout.layers[i].tensor.name}, {"node", node}, {"value", b->value},
                         {"t", b->t},
                         {"rgb", {std::lround(b->r * 255), std::lround(b->g * 255), std::lround(b->b * 255)}},
                         {"rect", {b->x, b->y, b->w, b->h}}});
  }
  return j.dump();
}

int run_render_timeline(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"out", "size", "camera", "view", "select", "pick", "gpu", "title", "ui-rects",
                                    "checkpoint", "timeline-color", "values"};
  flags.insert(flags.end(), kTimelineFlags.begin(), kTimelineFlags.end());
  Args a(argv, flags, {"timeline", "ui", "validation", "lod-mean", "quiet"});
  if (a.positional().empty()) throw Error(ErrorKind::Usage, "render --timeline expects CHECKPOINTS (a folder or ONNX files)");
  app::FrameSpec fs;
  read_frame_flags(a, fs);
  fs.title = series_title(a);
  const ui::TimelineFigure figure = ui::parse_timeline_figure(a.get_or("timeline-color", "weight_change"));
  if (a.has("timeline-color") && !a.has("ui"))
    throw Error(ErrorKind::Usage, "--timeline-color colours the layer bars the panels draw: give --ui");
  if (a.has("ui-rects") && !a.has("ui")) throw Error(ErrorKind::Usage, "--ui-rects needs --ui");
  std::optional<std::pair<int, int>> pick;
  if (auto p = a.get("pick")) {
    pick = parse_xy(*p, "--pick");
    if (pick->first < 0 || pick->second < 0 || pick->first >= fs.width || pick->second >= fs.height)
      throw Error(ErrorKind::Usage, "--pick " + *p + " is outside the " + std::to_string(fs.width) + "x" +
                                        std::to_string(fs.height) + " frame");
  }
  // The series is read before --checkpoint is checked against its length.
  const int64_t want = a.get_int("checkpoint", -1);
  if (want < -1) throw Error(ErrorKind::Usage, "--checkpoint expects 0..N-1 or -1 (the last), got " + std::to_string(want));
  TimelineHost host(a, a.has("quiet"));
  host.load(parse_checkpoint(a, host.series().size()));
  fs.hidden_inputs = host.hidden_inputs();
  if (fs.values != viz::ValueMode::Activation) fs.subtitle = TimelineHost::values_subtitle(fs.values);
  app::FrameJob job;
  job.frame = fs;
  job.device.gpu = static_cast<int>(a.get_int("gpu", -1));
  job.device.validation = a.has("validation");
  job.out = a.get_or("out", "frame.png");
  job.panels = a.has("ui");
  job.pick = pick;
  if (job.panels) {
    job.panel.input_path = a.get_or("input", "");
    job.panel_rects = a.get_or("ui-rects", "");
  }
  job.setup = [&](app::View& v) {
    if (!job.panels) return;
    host.attach(v, figure);
    // The bars as drawn (one JSON line on stdout, before any pick line).
    const auto& o = v.renderer().options();
    std::printf("%s\n", host.bars_json(v.scene().layout, v.initial_camera(), o.width, o.height).c_str());
    std::fflush(stdout);
  };
  job.on_pick = [](const std::optional<viz::PickResult>& p, const viz::Scene& scene) {
    std::printf("%s\n", viz::pick_to_json(p, scene).c_str());
  };
  std::fprintf(stderr, "netlens render: checkpoint %zu of %zu (%s)\n", host.current(), host.series().size(),
               host.report().points.at(host.current()).name.c_str());
  app::render_frame(host.series().session(), job);
  return 0;
}

int run_view_timeline(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = {"size", "camera", "view", "select", "gpu", "title", "frames", "script", "checkpoint",
                                    "timeline-color"};
  flags.insert(flags.end(), kTimelineFlags.begin(), kTimelineFlags.end());
  Args a(argv, flags, {"timeline", "validation", "lod-mean", "no-vsync", "quiet"});
  if (a.positional().empty()) throw Error(ErrorKind::Usage, "view --timeline expects CHECKPOINTS (a folder or ONNX files)");
  app::ViewerOptions v;
  read_viewer_flags(a, v);
  v.title = series_title(a);
  const ui::TimelineFigure figure = ui::parse_timeline_figure(a.get_or("timeline-color", "weight_change"));
  const int64_t want = a.get_int("checkpoint", -1);
  if (want < -1) throw Error(ErrorKind::Usage, "--checkpoint expects 0..N-1 or -1 (the last), got " + std::to_string(want));
  app::require_display();  // before the series is read (seconds)
  TimelineHost host(a, a.has("quiet"));
  host.load(parse_checkpoint(a, host.series().size()));
  v.hidden_inputs = host.hidden_inputs();
  v.first_input = a.get_or("input", "");
  v.on_view = [&](app::View& view) { host.attach(view, figure); };
  v.before_frame = [&](app::View& view, const viz::Camera& cam) { return host.before_frame(view, cam); };
  v.on_key = [&](int key) {
    if (!host.panel()) return false;
    if (key == kKeyRight || key == kKeyN) host.panel()->step(+1);
    else if (key == kKeyLeft) host.panel()->step(-1);
    else if (key == kKeyG) host.cycle_values();
    else return false;
    return true;
  };
  std::fprintf(stderr, "netlens view: %zu checkpoints; Left/Right (or N) step through them, the Timeline panel scrubs, G cycles activations/gradients\n",
               host.series().size());
  return app::run_viewer(host.series().session(), v);
}

}  // namespace netlens::cli
