#include "netlens/app/progressive.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

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
  // A partial scene: filled layers from the session (the complete frame's per-layer scales), the
  // rest zeros, drawn in the neutral zero colour.
  const auto show_partial = [&](size_t done) {
    size_t filled = 0;
    for (const auto& l : layout.layers) filled += layer_filled(s, l.tensor.name, done);
    auto fetch_all = viz::value_fetch(s, viz::ValueMode::Activation);
    auto fetch = [&](const std::string& name) -> Tensor {
      if (layer_filled(s, name, done)) return fetch_all(name);
      return Tensor(DType::Float32, s.info(name).shape);
    };
    view.show_scene(viz::build_scene(layout, fetch, opts));
    char sub[160];
    std::snprintf(sub, sizeof sub, "computing: node %zu of %zu, %zu of %zu layers filled (grey: not computed yet)", done, total,
                  filled, nlayers);
    view.renderer().set_subtitle(sub);
    return filled;
  };

  // Frame 0: the structure only (graph inputs are not in the arena yet: nothing is filled).
  {
    char sub[160];
    std::snprintf(sub, sizeof sub, "computing: node 0 of %zu, 0 of %zu layers filled (grey: not computed yet)", total, nlayers);
    view.renderer().set_subtitle(sub);
    rep.first_frame_ms = write(0, 0);
  }
  RunControl ctl;
  size_t next = 1;  // the next frame index in 1..frames-1
  ctl.on_node = [&](size_t node, size_t n) {
    rep.nodes_run = node + 1;
    if (job.cancel && job.cancel->load()) ctl.cancel.store(true);
    if (next >= static_cast<size_t>(job.frames) || (node + 1) * static_cast<size_t>(job.frames) < next * n) return;
    while (next < static_cast<size_t>(job.frames) && (node + 1) * static_cast<size_t>(job.frames) >= next * n) ++next;
    write(node + 1, show_partial(node + 1));
  };
  if (job.cancel && job.cancel->load()) ctl.cancel.store(true);
  try {
    s.run(inputs, ctl);
  } catch (const Cancelled&) {
    write_json();
    throw;
  }
  // The complete frame: rebuilt as the View builds it, with the frame's own subtitle.
  view.set_values(viz::ValueMode::Activation);
  view.renderer().set_subtitle(job.frame.subtitle);
  rep.nodes_run = total;
  rep.complete_frame_ms = write(total, nlayers);
  write_json();
  return rep;
}

}  // namespace netlens::app
