#include "netlens/app/record.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "netlens/media/encoder.hpp"
#include "netlens/render/font.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

namespace netlens::app {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A keyframe's selection and value mode, resolved against the layout once.
struct KeyState {
  int layer = -1;
  int64_t flat = -1;
  viz::ValueMode values = viz::ValueMode::Activation;
};

std::vector<KeyState> resolve_keys(const viz::Tour& t, const viz::Layout& l, const std::string& where) {
  std::vector<KeyState> r;
  for (size_t i = 0; i < t.keys.size(); ++i) {
    const viz::Keyframe& k = t.keys[i];
    const std::string kw = where + ": keyframe " + std::to_string(i + 1);
    KeyState ks;
    if (!k.layer.empty() && l.find(k.layer) < 0)
      throw Error(ErrorKind::Usage, kw + ": layer '" + k.layer + "' is not shown in this model");
    if (!k.select.empty()) std::tie(ks.layer, ks.flat) = viz::parse_neuron(l, k.select, kw + ": select");
    ks.values = viz::parse_value_mode(k.values, kw + ": values");
    r.push_back(ks);
  }
  return r;
}

}  // namespace

void draw_caption(uint8_t* px, int w, int h, const std::string& text, float alpha) {
  alpha = std::clamp(alpha, 0.0f, 1.0f);
  if (text.empty() || alpha <= 0.0f) return;
  const render::FontAtlas& f = render::font_atlas();
  float size = std::max(14.0f, 0.036f * static_cast<float>(h));
  float tw = f.text_width(text, size);
  if (tw > 0.9f * static_cast<float>(w)) {
    size *= 0.9f * static_cast<float>(w) / tw;
    tw = f.text_width(text, size);
  }
  const float scale = size / f.em_px;
  const float asc = std::fabs(f.ascent) * scale, desc = std::fabs(f.descent) * scale;
  const float pad = 0.55f * size;
  const float base = static_cast<float>(h) - 0.06f * static_cast<float>(h) - desc;  // the text's baseline
  const float x0 = 0.5f * (static_cast<float>(w) - tw);
  auto blend = [&](int x, int y, float a, float v) {  // towards grey level v (0..255) by a
    if (x < 0 || y < 0 || x >= w || y >= h || a <= 0.0f) return;
    uint8_t* p = px + (static_cast<size_t>(y) * static_cast<size_t>(w) + static_cast<size_t>(x)) * 4;
    for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>(std::lround(p[c] + a * (v - p[c])));
  };
  // The band: dark, translucent, so the network stays visible behind it.
  const int bx0 = static_cast<int>(std::floor(x0 - pad)), bx1 = static_cast<int>(std::ceil(x0 + tw + pad));
  const int by0 = static_cast<int>(std::floor(base - asc - 0.45f * pad)), by1 = static_cast<int>(std::ceil(base + desc + 0.45f * pad));
  for (int y = by0; y < by1; ++y)
    for (int x = bx0; x < bx1; ++x) blend(x, y, 0.62f * alpha, 12.0f);
  // Glyphs from the SDF atlas (0.5 = edge; stb's SDF changes by (128/6)/255 per atlas pixel at
  // em_px): bilinear samples, a one-pixel smooth edge.
  const float edge = 0.5f * (128.0f / 6.0f / 255.0f) / scale;
  auto sample = [&](float ax, float ay) {
    const int ix = static_cast<int>(std::floor(ax)), iy = static_cast<int>(std::floor(ay));
    const float fx = ax - static_cast<float>(ix), fy = ay - static_cast<float>(iy);
    auto at = [&](int x, int y) {
      x = std::clamp(x, 0, f.width - 1);
      y = std::clamp(y, 0, f.height - 1);
      return static_cast<float>(f.pixels[static_cast<size_t>(y) * static_cast<size_t>(f.width) + static_cast<size_t>(x)]) / 255.0f;
    };
    return (at(ix, iy) * (1 - fx) + at(ix + 1, iy) * fx) * (1 - fy) + (at(ix, iy + 1) * (1 - fx) + at(ix + 1, iy + 1) * fx) * fy;
  };
  float pen = x0;
  for (char c : text) {
    const render::FontGlyph& g = f.glyph(c);
    const float gx = pen + static_cast<float>(g.xoff) * scale, gy = base + static_cast<float>(g.yoff) * scale;
    const float gw = static_cast<float>(g.x1 - g.x0) * scale, gh = static_cast<float>(g.y1 - g.y0) * scale;
    for (int y = static_cast<int>(std::floor(gy)); y < static_cast<int>(std::ceil(gy + gh)); ++y)
      for (int x = static_cast<int>(std::floor(gx)); x < static_cast<int>(std::ceil(gx + gw)); ++x) {
        const float ax = static_cast<float>(g.x0) + (static_cast<float>(x) + 0.5f - gx) / scale - 0.5f;
        const float ay = static_cast<float>(g.y0) + (static_cast<float>(y) + 0.5f - gy) / scale - 0.5f;
        if (ax < g.x0 - 0.5f || ay < g.y0 - 0.5f || ax > g.x1 - 0.5f || ay > g.y1 - 0.5f) continue;
        const float d = sample(ax, ay);
        const float t = std::clamp((d - (0.5f - edge)) / (2.0f * edge), 0.0f, 1.0f);
        blend(x, y, alpha * t * t * (3 - 2 * t), 245.0f);
      }
    pen += g.advance * scale;
  }
}

RecordStats record(Session& s, const RecordJob& job, RecordLive* live) {
  namespace fs = std::filesystem;
  if (job.out.empty() && job.frames_dir.empty()) throw Error(ErrorKind::Usage, "record: give --out FILE.mp4 or --frames-dir DIR");
  if (job.fps < 1 || job.fps > 240) throw Error(ErrorKind::Usage, "--fps " + std::to_string(job.fps) + " must be in 1..240");
  if (!job.frames_dir.empty()) {
    std::error_code ec;
    fs::create_directories(job.frames_dir, ec);
    if (!fs::is_directory(job.frames_dir, ec)) throw Error(ErrorKind::Io, "cannot create the frames folder '" + job.frames_dir + "'");
  }
  render::Context ctx(render::ContextOptions{
      .gpu = job.device.gpu, .validation = job.device.validation ? std::optional<bool>(true) : std::nullopt});
  View view(ctx, s, job.frame);
  const viz::Layout& layout = view.scene().layout;
  const int w = job.frame.width, h = job.frame.height;
  viz::Tour tour;
  if (job.tour) {
    tour = *job.tour;
  } else {
    const viz::ShownTensors shown = viz::shown_tensors(s.graph(), s.planned(), job.frame.collapse);
    const std::string title = job.frame.title.empty() ? s.graph().name : job.frame.title;
    tour = viz::default_tour(layout, shown.groups, float(w) / float(h), title.empty() ? "netlens" : title);
  }
  const std::vector<KeyState> keys = resolve_keys(tour, layout, job.tour_name);
  if (live)
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i].values != viz::ValueMode::Activation)
        throw Error(ErrorKind::Usage, job.tour_name + ": keyframe " + std::to_string(i + 1) +
                                          ": a live --input shows activations only (\"values\": \"activation\")");
  if (!job.save_tour.empty()) viz::write_tour(tour, job.save_tour);
  const double length = viz::tour_length(tour);
  int64_t total = std::max<int64_t>(1, static_cast<int64_t>(std::llround(length * job.fps)) + 1);
  if (job.max_frames > 0) total = std::min(total, job.max_frames);

  std::unique_ptr<media::VideoEncoder> enc;
  if (!job.out.empty()) enc = std::make_unique<media::VideoEncoder>(job.out, media::EncoderOptions{.width = w, .height = h, .fps = job.fps, .crf = job.crf});

  // Live input: frame floor(t·rate) of the source at time t.
  std::unique_ptr<live::LivePipeline> pipe;
  double rate = 0.0;
  int64_t input_index = 0;
  bool input_ended = false;
  if (live) {
    const media::FrameSource& src = *live->input->source;
    rate = src.count() > 0 ? static_cast<double>(src.count()) / std::max(length, 1e-3) : src.fps() > 0 ? src.fps() : 25.0;
    live->cfg.layout = layout;
    live->cfg.uploader = live->uploader;
    std::fprintf(stderr, "netlens record: %s; %s, input rate %.3g/s\n", live->start_line.c_str(), src.description().c_str(), rate);
    pipe = std::make_unique<live::LivePipeline>(s, std::move(live->cfg));
  }

  RecordStats stats;
  std::vector<double> render_ms, encode_ms;
  std::vector<uint8_t> frame(static_cast<size_t>(w) * static_cast<size_t>(h) * 4);
  size_t applied = SIZE_MAX;
  const auto start = Clock::now();
  auto last_note = start;
  for (int64_t i = 0; i < total; ++i) {
    const double t = static_cast<double>(i) / job.fps;
    if (live && !input_ended) {
      const auto t_in = Clock::now();
      const int64_t want = static_cast<int64_t>(std::floor(t * rate + 1e-9));
      std::optional<media::Frame> pending;
      while (input_index < want) {
        auto f = live->input->source->next();
        if (!f) {
          input_ended = true;
          break;
        }
        ++input_index;
        pending = std::move(f);  // frames between outputs are skipped, the newest is shown
      }
      if (pending) {
        pipe->submit(std::move(*pending));
        std::unique_ptr<live::LiveResult> res;
        while (!(res = pipe->wait_result(0.05)))
          if (!pipe->busy() && !pipe->has_result())
            throw Error(ErrorKind::Input, "record: " + pipe->error().value_or("an input failed"));
        pipe->note_applied(live->uploader->apply(*res, view));
      }
      stats.input_ms_total += ms_since(t_in);
    }
    const auto t0 = Clock::now();
    const viz::TourState st = viz::tour_state(tour, t);
    if (st.key != applied) {
      const KeyState& k = keys[st.key];
      if (k.values != view.values()) view.set_values(k.values);
      if (k.layer >= 0) view.select(k.layer, k.flat);
      else if (view.selection().layer >= 0) view.clear_selection();
      applied = st.key;
    }
    view.renderer().render(st.camera);
    const std::vector<uint8_t>& px = view.renderer().rgba();
    std::copy(px.begin(), px.end(), frame.begin());
    draw_caption(frame.data(), w, h, st.caption, st.caption_alpha);
    render_ms.push_back(ms_since(t0));
    const auto t1 = Clock::now();
    if (enc) enc->add_frame(frame.data());
    if (!job.frames_dir.empty()) {
      char name[32];
      std::snprintf(name, sizeof name, "%06lld.png", static_cast<long long>(i));
      render::write_png_rgba((fs::path(job.frames_dir) / name).string(), w, h, frame.data());
    }
    encode_ms.push_back(ms_since(t1));
    if (!job.quiet && ms_since(last_note) > 5000) {
      last_note = Clock::now();
      std::fprintf(stderr, "netlens record: frame %lld of %lld\n", static_cast<long long>(i + 1), static_cast<long long>(total));
    }
  }
  if (enc) enc->finish();
  stats.frames = total;
  stats.seconds = ms_since(start) / 1000.0;
  stats.render_ms_median = median(render_ms);
  stats.encode_ms_median = median(encode_ms);
  std::fprintf(stderr,
               "netlens record: %lld frames (%.2f s at %d fps, %dx%d) to %s in %.1f s (%.2f frames/s); per frame: render %.1f ms, "
               "encode %.1f ms (medians)%s; %s\n",
               static_cast<long long>(total), static_cast<double>(total) / job.fps, job.fps, w, h,
               !job.out.empty() ? job.out.c_str() : job.frames_dir.c_str(), stats.seconds, static_cast<double>(total) / stats.seconds,
               stats.render_ms_median, stats.encode_ms_median,
               live ? (", inputs " + std::to_string(input_index + 1) + " in " + std::to_string(static_cast<int>(stats.input_ms_total)) + " ms").c_str() : "",
               ctx.device_name().c_str());
  if (ctx.validation() && ctx.validation_error_count())
    throw Error(ErrorKind::Internal, "record: " + std::to_string(ctx.validation_error_count()) + " Vulkan validation error(s)");
  return stats;
}

void record_still(Session& s, const StillJob& job) {
  const int64_t W = job.frame.width, H = job.frame.height;
  if (W < 16 || H < 16 || W > 32768 || H > 32768 || W * H > (int64_t(1) << 28))
    throw Error(ErrorKind::Usage, "--still: size " + std::to_string(W) + "x" + std::to_string(H) +
                                      " must be 16..32768 a side and at most 268 megapixels");
  if (job.max_tile < 16 || job.max_tile > 8192) throw Error(ErrorKind::Usage, "--tile must be in 16..8192");
  const int nx = static_cast<int>((W + job.max_tile - 1) / job.max_tile), ny = static_cast<int>((H + job.max_tile - 1) / job.max_tile);
  std::vector<int> xe, ye;  // tile edges
  for (int i = 0; i <= nx; ++i) xe.push_back(static_cast<int>(W * i / nx));
  for (int j = 0; j <= ny; ++j) ye.push_back(static_cast<int>(H * j / ny));
  FrameSpec spec = job.frame;
  spec.width = xe[1] - xe[0];
  spec.height = ye[1] - ye[0];
  spec.cell_budget = 60000 * int64_t(nx) * ny;
  render::Context ctx(render::ContextOptions{
      .gpu = job.device.gpu, .validation = job.device.validation ? std::optional<bool>(true) : std::nullopt});
  View view(ctx, s, spec);
  const viz::Layout& layout = view.scene().layout;
  viz::Camera cam = viz::overview_camera(layout, float(W) / float(H));
  if (job.tour) {
    const std::vector<KeyState> keys = resolve_keys(*job.tour, layout, job.tour_name);
    const viz::TourState st = viz::tour_state(*job.tour, job.at);
    cam = st.camera;
    const KeyState& k = keys[st.key];
    if (k.values != view.values()) view.set_values(k.values);
    if (k.layer >= 0) view.select(k.layer, k.flat);
  }
  std::vector<uint8_t> out(static_cast<size_t>(W) * static_cast<size_t>(H) * 4);
  const auto t0 = Clock::now();
  for (int j = 0; j < ny; ++j)
    for (int i = 0; i < nx; ++i) {
      const int tw = xe[i + 1] - xe[i], th = ye[j + 1] - ye[j];
      render::Renderer& r = view.renderer();
      if (r.options().width != tw || r.options().height != th) r.resize(tw, th);
      viz::Camera c = cam;
      c.tile = glm::vec4(float(xe[i]) / float(W), float(ye[j]) / float(H), float(tw) / float(W), float(th) / float(H));
      r.render(c);
      const std::vector<uint8_t>& px = r.rgba();
      for (int y = 0; y < th; ++y)
        std::copy_n(px.begin() + static_cast<ptrdiff_t>(y) * tw * 4, static_cast<size_t>(tw) * 4,
                    out.begin() + ((static_cast<ptrdiff_t>(ye[j]) + y) * W + xe[i]) * 4);
    }
  const double render_s = ms_since(t0) / 1000.0;
  render::write_png_rgba(job.out, static_cast<int>(W), static_cast<int>(H), out.data());
  std::fprintf(stderr, "netlens record: still %lldx%lld (%d tile%s of at most %dx%d) rendered in %.1f s, written to %s; %s\n",
               static_cast<long long>(W), static_cast<long long>(H), nx * ny, nx * ny == 1 ? "" : "s", xe[1] - xe[0],
               ye[1] - ye[0], render_s, job.out.c_str(), ctx.device_name().c_str());
  if (ctx.validation() && ctx.validation_error_count())
    throw Error(ErrorKind::Internal, "record: " + std::to_string(ctx.validation_error_count()) + " Vulkan validation error(s)");
}

}  // namespace netlens::app
