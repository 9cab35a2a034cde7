// Render benchmark: frame time of the offscreen renderer for synthetic VGG-like networks of 10^4 to
// 10^8 activations (and VGG-16's exact activation shapes), overview and close-up, at 1280x720 and
// 1920x1080. Prints one JSON line per row, then a table (median and spread over the frames).
// Each frame orbits the camera slightly so no two frames are identical. Frame time = CPU culling
// and instance generation + upload + GPU execution until the fence signals (no readback unless
// --png is given).
#include "netlens/app/bench_render.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "netlens/viz/camera.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"

namespace netlens::app {

namespace {

struct Row {
  std::string net, view;
  int w, h;
  int64_t neurons;
  double median, min, max;
  uint32_t slabs, cells, draws;
};

}  // namespace

int run_render_benchmark(const RenderBenchOptions& o) {
  const std::vector<double>& targets = o.neurons;
  const std::vector<std::pair<int, int>>& sizes = o.sizes;
  const int frames = o.frames;
  const bool vgg = o.vgg16;
  const std::string& png_dir = o.png_dir;
  const int gpu = o.gpu;
  try {
    render::Context ctx(render::ContextOptions{.gpu = gpu});
    std::vector<Row> rows;
    std::vector<std::pair<std::string, std::vector<Shape>>> nets;
    if (vgg) nets.emplace_back("vgg16-shapes", viz::vgg16_shapes());
    for (double t : targets) {
      char name[32];
      std::snprintf(name, sizeof name, "synthetic-1e%d", static_cast<int>(std::lround(std::log10(t))));
      nets.emplace_back(name, viz::synthetic_vgg_shapes(static_cast<int64_t>(t)));
    }
    for (auto& [name, shapes] : nets) {
      auto t0 = std::chrono::steady_clock::now();
      viz::Scene scene = viz::synthetic_scene(shapes, 7);
      double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "%s: %lld neurons, %zu layers, scene built in %.2f s\n", name.c_str(),
                   static_cast<long long>(scene.neurons()), scene.layout.layers.size(), build_s);
      for (auto [w, h] : sizes) {
        render::RenderOptions ro{.width = w, .height = h, .readback = !png_dir.empty()};
        render::Renderer r(ctx, scene, ro);
        const float aspect = float(w) / float(h);
        int mid = static_cast<int>(scene.layout.layers.size() / 3);
        viz::Camera views[2] = {viz::overview_camera(scene.layout, aspect),
                                viz::orbit(viz::focus_camera(scene.layout, mid, aspect), 0, 0, 0.3f)};
        const char* view_names[2] = {"overview", "close-up"};
        for (int v = 0; v < 2; ++v) {
          std::vector<double> t;
          render::FrameStats last;
          r.render(views[v]);  // warm-up (pipeline caches, first-touch of buffers)
          for (int f = 0; f < frames; ++f) {
            last = r.render(viz::orbit(views[v], 0.5f * float(f), 0.0f));
            t.push_back(last.total_ms);
          }
          std::sort(t.begin(), t.end());
          rows.push_back({name, view_names[v], w, h, scene.neurons(), t[t.size() / 2], t.front(), t.back(),
                          last.slab_instances, last.cell_instances, last.draws});
          if (!png_dir.empty()) r.write_png(png_dir + "/" + name + "-" + view_names[v] + "-" + std::to_string(w) + ".png");
          const Row& row = rows.back();
          std::printf("{\"bench\": \"render\", \"device\": \"%s\", \"network\": \"%s\", \"neurons\": %lld, \"view\": \"%s\", "
                      "\"width\": %d, \"height\": %d, \"frames\": %d, \"median_ms\": %.2f, \"min_ms\": %.2f, "
                      "\"max_ms\": %.2f, \"slabs\": %u, \"cells\": %u, \"draws\": %u}\n",
                      ctx.device_name().c_str(), row.net.c_str(), static_cast<long long>(row.neurons), row.view.c_str(), w, h,
                      frames, row.median, row.min, row.max, row.slabs, row.cells, row.draws);
          std::fflush(stdout);
        }
      }
    }
    std::printf("\n%-16s %12s %-9s %10s %10s %16s %8s %8s %6s\n", "network", "neurons", "view", "size", "median ms",
                "spread ms", "slabs", "cells", "draws");
    for (const auto& r : rows)
      std::printf("%-16s %12lld %-9s %4dx%-5d %10.1f %7.1f..%-7.1f %8u %8u %6u\n", r.net.c_str(),
                  static_cast<long long>(r.neurons), r.view.c_str(), r.w, r.h, r.median, r.min, r.max, r.slabs, r.cells,
                  r.draws);
    std::printf("device: %s\n", ctx.device_name().c_str());
  } catch (const Error&) {
    throw;  // the caller prints it (and the usage line for Error{Usage})
  }
  return 0;
}

}  // namespace netlens::app
