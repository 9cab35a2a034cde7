#include "netlens/app/headless.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "netlens/ui/panels.hpp"

namespace netlens::app {

namespace {

render::ContextOptions context_options(const HeadlessOptions& d) {
  return render::ContextOptions{.gpu = d.gpu, .validation = d.validation ? std::optional<bool>(true) : std::nullopt};
}

void check_validation(const render::Context& ctx) {
  if (ctx.validation() && ctx.validation_error_count())
    throw Error(ErrorKind::Internal, "render: " + std::to_string(ctx.validation_error_count()) + " Vulkan validation error(s)");
}

}  // namespace

void render_frame(const Session& s, const FrameJob& job) {
  FrameSpec spec = job.frame;
  // Nothing runs the session while this frame is made: the scene reads its values in place instead
  // of a float32 copy, and the renderer makes the codes as it uploads them (docs/PERFORMANCE.md,
  // "Memory of render/view").
  spec.borrow_values = true;
  // The panels' side columns: the camera frames the region between them (centred, as they are equal).
  if (job.panels) spec.inset = std::clamp(ui::column_width(spec.width, spec.height), 0, spec.width / 2 - 8);
  render::Context ctx(context_options(job.device));
  View view(ctx, s, spec);
  if (job.panels) {
    // The inspected layer: --view layer:NAME, else the selection's, else the first after the input.
    const viz::Layout& l = view.scene().layout;
    int focus = focus_layer(l, spec.camera);
    if (focus < 0) focus = view.selection().layer >= 0 ? view.selection().layer : (l.layers.size() > 1 ? 1 : 0);
    view.open_panels(job.panel, focus);
    if (job.setup) job.setup(view);
    view.settle_panels();
  } else if (job.setup) {
    job.setup(view);
  }
  render::Renderer& r = view.renderer();
  const viz::Camera cam = job.camera ? job.camera(view) : view.initial_camera();
  r.render(cam);
  if (job.frames > 0) {
    // Frame time of this view (the first frame above warmed pipelines and buffers): the figure the
    // renderer's targets are about, for real models rather than bench-render's synthetic ones.
    std::vector<double> t;
    render::FrameStats last;
    for (int f = 0; f < job.frames; ++f) {
      last = r.render(cam);
      t.push_back(last.total_ms);
    }
    std::sort(t.begin(), t.end());
    std::fprintf(stderr, "netlens: frames: %d at %dx%d on %s, median %.2f ms (min %.2f, max %.2f), %u draws\n", job.frames,
                 spec.width, spec.height, ctx.device_name().c_str(), t[t.size() / 2], t.front(), t.back(), last.draws);
  }
  r.write_png(job.out);
  if (!job.save_camera.empty()) {
    std::ofstream f(job.save_camera);
    if (!f || !(f << viz::camera_to_json(cam))) throw Error(ErrorKind::Io, "cannot write camera file '" + job.save_camera + "'");
  }
  if (job.pick && job.on_pick) job.on_pick(r.pick(job.pick->first, job.pick->second), view.scene());
  if (job.panels && !job.panel_rects.empty()) view.write_panel_rects(job.panel_rects);
  check_validation(ctx);
}

void render_live(Session& s, live::LiveConfig cfg, live::LiveInput& in, const LiveJob& job, live::ResultUploader& up,
                 const std::string& start_line, render::Context* external_ctx, live::InferenceThread* thread) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(job.out_dir, ec);
  if (!fs::is_directory(job.out_dir, ec)) throw Error(ErrorKind::Io, "cannot create the output folder '" + job.out_dir + "'");
  std::fprintf(stderr, "netlens render: %s; %s\n", start_line.c_str(), in.source->description().c_str());
  std::optional<render::Context> own_ctx;
  if (!external_ctx) own_ctx.emplace(context_options(job.device));
  render::Context& ctx = external_ctx ? *external_ctx : *own_ctx;
  View view(ctx, s, job.frame);
  cfg.layout = view.scene().layout;
  const viz::Camera cam = view.initial_camera();
  int64_t written = 0;
  auto write = [&]() {
    char name[32];
    std::snprintf(name, sizeof name, "%06lld.png", static_cast<long long>(written));
    view.renderer().write_png((fs::path(job.out_dir) / name).string());
    ++written;
  };
  view.renderer().render(cam);
  write();
  {
    cfg.uploader = &up;
    // From here on only the pipeline's thread runs `s`: the one it was prepared on, when given.
    std::optional<live::LivePipeline> pipe_own;
    if (thread) pipe_own.emplace(s, std::move(cfg), *thread);
    else pipe_own.emplace(s, std::move(cfg));
    live::LivePipeline& pipe = *pipe_own;
    while (job.max_inputs <= 0 || written < job.max_inputs) {
      auto f = in.source->next();
      if (!f) break;
      pipe.submit(std::move(*f));
      std::unique_ptr<live::LiveResult> res;
      while (!(res = pipe.wait_result(0.05)))
        if (!pipe.busy() && !pipe.has_result())
          throw Error(ErrorKind::Input, "render: " + pipe.error().value_or("an input failed"));
      pipe.note_applied(up.apply(*res, view));  // the view is the results' sink
      pipe.note_frame(view.renderer().render(cam).total_ms);
      write();
    }
    std::fprintf(stderr, "netlens render: %lld frames written to %s; live: %s\n", static_cast<long long>(written),
                 job.out_dir.c_str(), pipe.stats().summary().c_str());
    if (const std::string r = up.report(); !r.empty()) std::fprintf(stderr, "netlens render: %s\n", r.c_str());
  }
  check_validation(ctx);
}

}  // namespace netlens::app
