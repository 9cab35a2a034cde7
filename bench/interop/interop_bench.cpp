// Input → updated frame, CUDA↔Vulkan interop against the staging path, on a machine with a CUDA
// device and a Vulkan device on the same GPU (exit 77 = skipped elsewhere). One process, same model,
// same inputs, same renderer settings (1920x1080 overview, no readback):
//   interop:  run (CUDA, activations written into Vulkan-exported memory) → CUDA signals timeline N →
//             one Vulkan submission waits on N, makes the codes (CodeBuilder), copies them into the
//             renderer's buffers, signals N+1 → frame rendered.
//   staging:  run (CUDA, own memory) → every shown tensor copied to the host (fetch) → the CPU builds
//             the scene (scales, codes, pyramids) → staging upload (update_values) → frame rendered.
// Prints a table: median and spread of the latency, inputs per second at that latency, and the
// interop/staging ratio. Usage: netlens_interop_bench MODEL.onnx [--size 224] [--runs 40]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "netlens/render/code_builder.hpp"
#include "netlens/interop/interop.hpp"
#include "netlens/live/feeder.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

struct Summary { double median, p10, p90; };
Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[static_cast<size_t>(q * double(v.size() - 1) + 0.5)]; };
  return {at(0.5), at(0.1), at(0.9)};
}

std::vector<Tensor> make_inputs(const Shape& shape, int n) {
  std::vector<Tensor> xs;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int i = 0; i < n; ++i) {
    Tensor x(DType::Float32, shape);
    for (int64_t k = 0; k < x.numel(); ++k) x.data_as<float>()[k] = u(rng);
    xs.push_back(x);
  }
  return xs;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [--size 224] [--runs 40]\n", argv[0]);
    return 2;
  }
  std::string model = argv[1];
  int size = 224, runs = 40;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--size") size = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--runs") runs = std::stoi(argv[i + 1]);
  }
  const CudaDeviceInfo info = cuda_device_info(0);
  if (!info.usable) {
    std::printf("interop bench skipped: no usable CUDA device (%s)\n", info.error.c_str());
    return 77;
  }
  render::Context ctx(interop::interop_context_options(info, {.quiet = false}));
  const Graph g = load_onnx(model);
  const Shape shape{1, 3, size, size};
  const std::vector<Tensor> xs = make_inputs(shape, std::max(runs, 2));
  const std::string in_name = g.inputs.at(0).name;
  render::RenderOptions ro{.width = 1920, .height = 1080, .readback = false};
  std::printf("interop bench: %s at %dx%d, %d inputs, 1920x1080 overview, CUDA %s, Vulkan %s\n", model.c_str(), size,
              size, runs, info.name.c_str(), ctx.device_name().c_str());

  // --- interop ------------------------------------------------------------------------------------------
  std::vector<double> lat_i, run_i, upd_i, frame_i;
  {
    auto cuda = make_cuda_backend(0);
    auto cpu = make_cpu_backend();
    std::vector<std::shared_ptr<interop::SharedBuffer>> arenas;
    SessionOptions so;
    so.arena_allocator = interop::shared_arena_allocator(ctx, 0, &arenas);
    Session s(g, {cuda.get(), cpu.get()}, so);
    s.prepare({{in_name, shape}});
    s.run({{in_name, xs[0]}});
    viz::Layout layout = live::live_layout(s);
    std::vector<uint64_t> offsets;
    for (const auto& l : layout.layers) {
      const PlannedTensor* t = s.activations().find(l.tensor.name);
      if (!t || t->backend != 0 || t->info.dtype != DType::Float32)
        throw Error(ErrorKind::Unsupported, "interop bench: tensor '" + l.tensor.name + "' is not a float32 CUDA activation");
      offsets.push_back(t->offset);
    }
    viz::Scene shown = viz::build_scene(layout, [&](const std::string& n) { return s.activations().fetch(n); });
    render::Renderer r(ctx, shown, ro);
    const viz::Camera cam = viz::overview_camera(shown.layout, 1920.0f / 1080.0f);
    render::CodeBuilder builder(ctx, shown.layout, offsets, arenas.at(0)->size());
    interop::SharedTimeline tl(ctx);
    void* stream = cuda_backend_stream(*cuda);
    uint64_t v = 0;
    for (int i = 0; i < runs + 3; ++i) {
      auto t0 = Clock::now();
      if (v) tl.cuda_wait(stream, v);  // the previous result's codes are made: the arena may be overwritten
      s.run({{in_name, xs[static_cast<size_t>(i) % xs.size()]}});
      tl.cuda_signal(stream, v + 1);
      auto t1 = Clock::now();
      render::Renderer::TimelinePoint wait{tl.semaphore(), v + 1}, signal{tl.semaphore(), v + 2};
      auto scales = r.update_values_from_device(shown, builder, arenas[0]->buffer(), &wait, &signal);
      for (size_t k = 0; k < scales.size(); ++k) shown.layers[k].scale = scales[k];
      v += 2;
      auto t2 = Clock::now();
      r.render(cam);
      auto t3 = Clock::now();
      if (i < 3) continue;  // warm-up (CUDA graph capture, first submissions)
      lat_i.push_back(ms(t0, t3));
      run_i.push_back(ms(t0, t1));
      upd_i.push_back(ms(t1, t2));
      frame_i.push_back(ms(t2, t3));
    }
    cuda->synchronize();
  }
  // --- staging ------------------------------------------------------------------------------------------
  std::vector<double> lat_s, run_s, upd_s, frame_s;
  {
    auto cuda = make_cuda_backend(0);
    auto cpu = make_cpu_backend();
    Session s(g, {cuda.get(), cpu.get()});
    s.prepare({{in_name, shape}});
    s.run({{in_name, xs[0]}});
    viz::Layout layout = live::live_layout(s);
    viz::Scene shown = viz::build_scene(layout, [&](const std::string& n) { return s.activations().fetch(n); });
    render::Renderer r(ctx, shown, ro);
    const viz::Camera cam = viz::overview_camera(shown.layout, 1920.0f / 1080.0f);
    for (int i = 0; i < runs + 3; ++i) {
      auto t0 = Clock::now();
      s.run({{in_name, xs[static_cast<size_t>(i) % xs.size()]}});
      auto t1 = Clock::now();
      shown = viz::build_scene(layout, [&](const std::string& n) { return s.activations().fetch(n); });
      r.update_values(shown);
      auto t2 = Clock::now();
      r.render(cam);
      auto t3 = Clock::now();
      if (i < 3) continue;
      lat_s.push_back(ms(t0, t3));
      run_s.push_back(ms(t0, t1));
      upd_s.push_back(ms(t1, t2));
      frame_s.push_back(ms(t2, t3));
    }
  }
  auto row = [](const char* name, const std::vector<double>& lat, const std::vector<double>& run,
                const std::vector<double>& upd, const std::vector<double>& fr) {
    Summary l = summarize(lat), a = summarize(run), u = summarize(upd), f = summarize(fr);
    std::printf("%-9s %9.2f %6.2f-%-6.2f %8.2f %10.2f %8.2f %10.1f\n", name, l.median, l.p10, l.p90, a.median, u.median,
                f.median, 1000.0 / l.median);
    return l.median;
  };
  std::printf("\n%-9s %9s %13s %8s %10s %8s %10s\n", "path", "latency", "p10-p90 ms", "run ms", "update ms", "frame ms",
              "inputs/s");
  const double mi = row("interop", lat_i, run_i, upd_i, frame_i);
  const double ms_ = row("staging", lat_s, run_s, upd_s, frame_s);
  std::printf("interop is %.2fx faster end to end than staging (median latency ratio staging/interop)\n", ms_ / mi);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "interop bench: error: %s\n", e.what());
  return 1;
}
