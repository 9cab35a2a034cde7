// The render benchmark (`netlens bench-render`, bench/render/netlens_bench_render): a headless target
// for synthetic networks (no model, no session): frame times of the offscreen renderer for VGG-like
// networks of 10^4..10^8 activations and VGG-16's shapes, overview and close-up. The flags are parsed
// by the CLI (cli::parse_render_bench_flags).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace netlens::app {

struct RenderBenchOptions {
  std::vector<double> neurons = {1e4, 1e5, 1e6, 1e7, 1e8};  // synthetic networks of about these sizes
  std::vector<std::pair<int, int>> sizes = {{1280, 720}, {1920, 1080}};
  int frames = 7;           // timed frames per view (after one warm-up frame)
  bool vgg16 = true;        // also VGG-16's exact activation shapes
  std::string png_dir;      // write each view's last frame there ("" none)
  int gpu = -1;
};

// Prints one JSON line per row, then a table. Returns 0; throws Error{Device} without Vulkan.
int run_render_benchmark(const RenderBenchOptions& o);

}  // namespace netlens::app
