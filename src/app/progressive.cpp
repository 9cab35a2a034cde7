#include "netlens/app/progressive.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <utility>

#include <nlohmann/json.hpp>

#include "netlens/app/thread_priority.hpp"
#include "netlens/viz/colormap.hpp"
#include "netlens/viz/lod.hpp"
#include "netlens/viz/values.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

namespace netlens::app {

bool layer_filled(const Session& s, const std::string& tensor, size_t done) {
  const PlannedTensor* t = s.activations().find(tensor);
  if (!t) return false;
  return t->producer < 0 || static_cast<size_t>(t->producer) < done;  // graph inputs are copied in first
}

ProgressiveReport render_progressive(Session& s, const std::map<std::string, Tensor>& inputs, const ProgressiveJob& job) {
  namespace fs = std::filesystem;
  if (job.frame.values != viz::ValueMode::Activation)
    throw Error(ErrorKind::Usage, "--progressive draws activations as they are computed: it takes no --values, --diff or --metric");
  if (job.frames < 1) throw Error(ErrorKind::Usage, "--progressive-frames must be >= 1");
  std::error_code ec;
  fs::create_directories(job.out_dir, ec);
  if (!fs::is_directory(job.out_dir, ec)) throw Error(ErrorKind::Io, "cannot create the output folder '" + job.out_dir + "'");
  const auto ms_since = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - job.start).count();
  };

  ProgressiveReport rep;
  render::Context ctx(render::ContextOptions{.gpu = job.device.gpu,
                                             .validation = job.device.validation ? std::optional<bool>(true) : std::nullopt});
  FrameSpec spec = job.frame;
  spec.structure_only = true;  // the arena holds no values yet
  View view(ctx, s, spec);
  rep.view_ms = ms_since();
  const viz::Layout& layout = view.scene().layout;
  const viz::SceneOptions opts = view.scene().options;
  const viz::Camera cam = view.initial_camera();
  const size_t total = s.graph().nodes.size();
  const size_t nlayers = layout.layers.size();

  rep.nodes_total = total;
  nlohmann::json frames = nlohmann::json::array();
  const auto write = [&](size_t done, size_t filled) {
    char name[32];
    std::snprintf(name, sizeof name, "%06d.png", rep.frames_written);
    view.renderer().render(cam);
    view.renderer().write_png((fs::path(job.out_dir) / name).string());
    ++rep.frames_written;
    const double ms = ms_since();
    frames.push_back({{"file", name}, {"nodes_done", done}, {"nodes_total", total}, {"layers_filled", filled},
                      {"layers_total", nlayers}, {"ms", ms}});
    return ms;
  };
  const auto write_json = [&] {
    std::ofstream f(fs::path(job.out_dir) / "progress.json");
    f << nlohmann::json{{"frames", frames}}.dump(1) << "\n";
    if (!f.flush()) throw Error(ErrorKind::Io, "cannot write " + (fs::path(job.out_dir) / "progress.json").string());
  };
  // Frame 0: the structure only (graph inputs are not in the arena yet: nothing is filled).
  {
    char sub[160];
    std::snprintf(sub, sizeof sub, "computing: node 0 of %zu, 0 of %zu layers filled (grey: not computed yet)", total, nlayers);
    view.renderer().set_subtitle(sub);
    rep.first_frame_ms = write(0, 0);
  }
  // Shown layers by producing node; graph inputs are in the arena before the first node. Each
  // layer's piece is built after its node and patched in when the next frame is drawn.
  std::vector<std::vector<size_t>> by_node(total);
  std::vector<size_t> input_layers;
  for (size_t i = 0; i < nlayers; ++i) {
    const int n = layout.layers[i].tensor.node_index;
    if (n < 0) input_layers.push_back(i);
    else if (static_cast<size_t>(n) < total) by_node[static_cast<size_t>(n)].push_back(i);
  }
  std::vector<std::shared_ptr<const FilledTensor>> pending;
  size_t filled = 0, patched = 0;
  bool started = false;
  RunControl ctl;
  size_t next = 1;  // the next frame index in 1..frames-1
  ctl.on_node = [&](size_t node, size_t n) {
    rep.nodes_run = node + 1;
    if (job.cancel && job.cancel->load()) ctl.cancel.store(true);
    std::vector<size_t> now = by_node[node];
    if (!started) {
      now.insert(now.begin(), input_layers.begin(), input_layers.end());
      started = true;
    }
    for (size_t i : now) pending.push_back(std::make_shared<const FilledTensor>(fill_tensor(s, layout.layers[i].tensor, opts)));
    filled += now.size();
    if (next >= static_cast<size_t>(job.frames) || (node + 1) * static_cast<size_t>(job.frames) < next * n) return;
    while (next < static_cast<size_t>(job.frames) && (node + 1) * static_cast<size_t>(job.frames) >= next * n) ++next;
    view.patch_scene([&](viz::Scene& sc) {
      std::vector<int> l;
      patched += patch_scene(sc, pending, &l);
      return l;
    });
    pending.clear();
    char sub[160];
    std::snprintf(sub, sizeof sub, "computing: node %zu of %zu, %zu of %zu layers filled (grey: not computed yet)", node + 1,
                  total, filled, nlayers);
    view.renderer().set_subtitle(sub);
    write(node + 1, filled);
  };
  if (job.cancel && job.cancel->load()) ctl.cancel.store(true);
  try {
    s.run(inputs, ctl);
  } catch (const Cancelled&) {
    write_json();
    throw;
  }
  // The complete frame, with the frame's own subtitle: when every layer came as a piece the patched
  // scene is already the complete build (byte for byte, see FilledTensor), else it is rebuilt.
  view.patch_scene([&](viz::Scene& sc) {
    std::vector<int> l;
    patched += patch_scene(sc, pending, &l);
    return l;
  });
  if (patched != nlayers) view.set_values(viz::ValueMode::Activation);
  view.renderer().set_subtitle(job.frame.subtitle);
  rep.nodes_run = total;
  rep.complete_frame_ms = write(total, nlayers);
  write_json();
  return rep;
}

// ------------------------------------------------------------------------------------------------
FilledTensor fill_tensor(const Session& s, const viz::VizTensor& t, const viz::SceneOptions& opts, bool with_codes) {
  viz::Layout one;
  one.layers.push_back(viz::LayerVolume{.tensor = t, .dims = viz::volume_dims(t)});
  const auto fetch = viz::value_fetch(s, viz::ValueMode::Activation);
  // Values and codes, on the caller's thread (the run's, below the window's priority): patched into
  // a structure scene the codes ride along (SceneLayer::codes) and the renderer copies them instead
  // of making them on the window's thread (ISNet: ~70 ms a big layer, a visible stall).
  if (with_codes) return FilledTensor{t.name, viz::build_scene(std::move(one), fetch, opts)};
  // Without: the borrowed build (scale and pyramid depths, the store read in place), then the values
  // copied, since the session may run again while the piece lives.
  viz::SceneOptions o = opts;
  o.borrow_values = true;
  viz::Scene sc = viz::build_scene(std::move(one), fetch, o);
  std::vector<float> scratch;
  const std::span<const float> f = sc.floats(0, scratch);
  sc.layers[0].values.assign(f.begin(), f.end());
  sc.layers[0].source = Tensor();
  sc.options = opts;
  return FilledTensor{t.name, std::move(sc)};
}

size_t patch_scene(viz::Scene& scene, const std::vector<std::shared_ptr<const FilledTensor>>& pieces,
                   std::vector<int>* layers) {
  size_t patched = 0;
  for (const auto& p : pieces) {
    if (!p || p->scene.layers.size() != 1) continue;
    const int i = scene.layout.find(p->name);
    if (i < 0) continue;
    const viz::VolumeDims& d = scene.layout.layers[static_cast<size_t>(i)].dims;
    const viz::VolumeDims& pd = p->scene.layout.layers[0].dims;
    if (d.C != pd.C || d.H != pd.H || d.W != pd.W || d.count != pd.count) continue;
    viz::SceneLayer& L = scene.layers[static_cast<size_t>(i)];
    const viz::SceneLayer& P = p->scene.layers[0];
    if (L.levels != P.levels) continue;
    if (scene.has_codes()) {
      // The piece's codes are its layer's alone: level 0 at 0, the pyramids from level_offset[1] = 0
      // on, in the order and sizes the scene's own layer uses.
      if (L.code0_offset + p->scene.codes0.size() > scene.codes0.size()) continue;
      if (!p->scene.codes_max.empty() &&
          (L.levels < 1 || L.level_offset[1] + p->scene.codes_max.size() > scene.codes_max.size())) continue;
      std::copy(p->scene.codes0.begin(), p->scene.codes0.end(), scene.codes0.begin() + static_cast<std::ptrdiff_t>(L.code0_offset));
      if (!p->scene.codes_max.empty()) {
        const auto at = static_cast<std::ptrdiff_t>(L.level_offset[1]);
        std::copy(p->scene.codes_max.begin(), p->scene.codes_max.end(), scene.codes_max.begin() + at);
        std::copy(p->scene.codes_mean.begin(), p->scene.codes_mean.end(), scene.codes_mean.begin() + at);
      }
    }
    // A scene without codes (a structure scene) takes the values, and the piece's codes when it has
    // them (SceneLayer::codes, copied by the renderer's upload); without, the renderer makes them from
    // the values (viz::write_codes, the same bytes).
    if (!scene.has_codes()) L.codes = p->scene.has_codes() ? std::shared_ptr<const viz::Scene>(p, &p->scene) : nullptr;
    L.source = P.source;
    L.values = P.values;
    L.scale = P.scale;
    ++patched;
    if (layers) layers->push_back(i);
  }
  return patched;
}

size_t pieces_within(const std::vector<std::shared_ptr<const FilledTensor>>& pieces, int64_t neurons) {
  size_t k = 0;
  int64_t sum = 0;
  for (const auto& p : pieces) {
    const int64_t n = p && !p->scene.layout.layers.empty() ? p->scene.layout.layers[0].dims.count : 0;
    if (k > 0 && sum + n > neurons) break;
    sum += n;
    ++k;
  }
  return k;
}

viz::Scene partial_scene(const Session& s, viz::Layout layout, const viz::SceneOptions& opts, size_t done) {
  // The structure scene with the computed layers patched in: the others stay unfilled (drawn in the
  // zero colour, picked as NaN, "not computed" in the window), not zeros that read as values. One
  // piece at a time, so a big cancelled run holds one layer's copy beyond the scene.
  // Pieces without codes: the upload makes them from the values, once.
  viz::Scene sc = structure_scene(std::move(layout), opts);
  for (const viz::LayerVolume& l : sc.layout.layers) {  // patch_scene changes sc.layers only
    if (!layer_filled(s, l.tensor.name, done)) continue;
    patch_scene(sc, {std::make_shared<const FilledTensor>(fill_tensor(s, l.tensor, opts, /*with_codes=*/false))});
  }
  return sc;
}

// ------------------------------------------------------------------------------------------------
BackgroundRun::BackgroundRun(Session& s, std::map<std::string, Tensor> inputs, std::vector<viz::VizTensor> shown,
                             const std::vector<std::string>& wanted, viz::SceneOptions opts, int nice_steps)
    : s_(s), inputs_(std::move(inputs)), shown_(std::move(shown)), opts_(opts), nice_steps_(nice_steps),
      wanted_(wanted.begin(), wanted.end()) {
  progress_.nodes_total = s_.graph().nodes.size();
  progress_.tensors_total = shown_.size();
  thread_ = std::thread([this] { loop(); });
}

BackgroundRun::~BackgroundRun() {
  cancel();
  join();
}

void BackgroundRun::cancel() { ctl_.cancel.store(true); }

void BackgroundRun::join() {
  if (thread_.joinable()) thread_.join();
}

RunProgress BackgroundRun::progress() const {
  std::lock_guard<std::mutex> lk(state_mutex_);
  return progress_;
}

void BackgroundRun::want(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lk(state_mutex_);
  wanted_ = std::set<std::string>(names.begin(), names.end());
  redo_ = true;
}

std::vector<std::shared_ptr<const FilledTensor>> BackgroundRun::take() {
  std::lock_guard<std::mutex> lk(state_mutex_);
  return std::exchange(out_, {});
}

void BackgroundRun::with_plan(const std::function<void()>& fn) {
  std::lock_guard<std::mutex> lk(plan_mutex_);
  fn();
}

void BackgroundRun::loop() {
  using Clock = std::chrono::steady_clock;
  const auto ms = [](Clock::time_point a) { return std::chrono::duration<double, std::milli>(Clock::now() - a).count(); };
  auto end = [&](RunProgress::State st, const std::string& msg) {
    std::lock_guard<std::mutex> lk(state_mutex_);
    progress_.state = st;
    progress_.message = msg;
  };
  Clock::time_point t_run = Clock::now();
  // Before anything else, so that every thread the run creates (the OpenMP pool) inherits it.
  const int nice = lower_thread_priority(nice_steps_);
  {
    std::lock_guard<std::mutex> lk(state_mutex_);
    progress_.nice = nice;
  }
  try {
    {
      // The plan is rebuilt here: other threads read it only through with_plan meanwhile.
      std::lock_guard<std::mutex> lk(plan_mutex_);
      const auto t0 = Clock::now();
      std::map<std::string, Shape> shapes;
      for (const auto& [name, t] : inputs_) shapes[name] = t.shape();
      s_.prepare(shapes);
      std::lock_guard<std::mutex> sl(state_mutex_);
      progress_.prepare_ms = ms(t0);
      progress_.state = RunProgress::State::Running;
    }
    // Shown tensors by producing node; graph inputs are in the arena before the first node.
    const size_t total = s_.graph().nodes.size();
    std::vector<std::vector<size_t>> by_node(total);
    std::vector<size_t> inputs;
    for (size_t i = 0; i < shown_.size(); ++i) {
      const int n = shown_[i].node_index;
      if (n < 0) inputs.push_back(i);
      else if (static_cast<size_t>(n) < total) by_node[static_cast<size_t>(n)].push_back(i);
    }
    std::vector<char> computed(shown_.size(), 0);
    size_t filled = 0;
    bool started = false;
    ctl_.on_node = [&](size_t node, size_t n) {
      // Between two nodes: the session's values may be read here.
      std::vector<size_t> now = node < by_node.size() ? by_node[node] : std::vector<size_t>{};
      if (!started) {
        now.insert(now.begin(), inputs.begin(), inputs.end());
        started = true;
      }
      for (size_t i : now) computed[i] = 1;
      filled += now.size();
      std::vector<size_t> build;
      {
        std::lock_guard<std::mutex> lk(state_mutex_);
        if (redo_) {
          redo_ = false;
          for (size_t i = 0; i < shown_.size(); ++i)
            if (computed[i] && wanted_.count(shown_[i].name)) build.push_back(i);
        } else {
          for (size_t i : now)
            if (wanted_.count(shown_[i].name)) build.push_back(i);
        }
      }
      std::vector<std::shared_ptr<const FilledTensor>> made;
      for (size_t i : build) {
        if (ctl_.cancel.load()) break;  // a cancel is answered before the pieces of a big node
        made.push_back(std::make_shared<const FilledTensor>(fill_tensor(s_, shown_[i], opts_)));
      }
      std::lock_guard<std::mutex> lk(state_mutex_);
      for (auto& p : made) out_.push_back(std::move(p));
      progress_.nodes_done = node + 1;
      progress_.nodes_total = n;
      progress_.last_node = s_.graph().nodes[node].op_type + " " + s_.graph().nodes[node].name;
      progress_.tensors_filled = filled;
      progress_.run_ms = ms(t_run);
    };
    t_run = Clock::now();
    s_.run(inputs_, ctl_);
    std::lock_guard<std::mutex> lk(state_mutex_);
    progress_.run_ms = ms(t_run);
    progress_.nodes_done = total;
    progress_.state = RunProgress::State::Finished;
  } catch (const Cancelled& e) {
    end(RunProgress::State::Cancelled, e.what());
  } catch (const std::exception& e) {
    end(RunProgress::State::Failed, e.what());
  }
}

viz::Scene structure_scene(viz::Layout layout, const viz::SceneOptions& opts) {
  // No values and no codes: 0 bytes per neuron. The renderer draws a layer with neither as
  // unfilled (render::Renderer: the neutral zero colour, empty past a wrapped vector's end), the
  // frame a scene of zeros gives, without writing a code (ISNet fp16's structure frame: 374 MB of
  // zero-codes made here and copied into the GPU chunks before). Only the colour scales (zeros' scale,
  // whose kind picks the zero colour) and the pyramid depths are set.
  viz::Scene s;
  s.layout = std::move(layout);
  s.options = opts;
  const size_t n = s.layout.layers.size();
  s.layers.resize(n);
  uint64_t o0 = 0, op = 0;
  const std::vector<float> few(64, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    const viz::VolumeDims& d = s.layout.layers[i].dims;
    viz::SceneLayer& L = s.layers[i];
    L.code0_offset = o0;  // where build_scene would place the codes (unused without them)
    o0 += static_cast<uint64_t>(d.C * d.H * d.W);
    const std::vector<viz::LevelDims> lv = viz::pyramid_levels(d.H, d.W);
    L.levels = static_cast<int>(lv.size());
    for (size_t k = 0; k < lv.size(); ++k) {
      L.level_offset[k + 1] = op;
      op += static_cast<uint64_t>(d.C * lv[k].h * lv[k].w);
    }
    L.scale = viz::robust_scale(std::span<const float>(few.data(), std::min<size_t>(few.size(), static_cast<size_t>(d.count))),
                                opts.lo_pct, opts.hi_pct, opts.max_samples);
    if (opts.global_scale && i > 0) L.scale = s.layers[0].scale;
  }
  return s;
}

}  // namespace netlens::app
