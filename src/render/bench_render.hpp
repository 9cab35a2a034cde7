// The render benchmark (`netlens bench-render`, bench/render/netlens_bench_render).
#pragma once

#include <string>
#include <vector>

namespace netlens::render {

// args: [--neurons 1e4,1e5,...] [--sizes 1280x720,1920x1080] [--frames N] [--no-vgg16] [--png DIR]
// [--gpu N] [--quick]. Returns 0; throws Error (Usage for bad flags, Device without Vulkan).
int run_render_benchmark(const std::vector<std::string>& args);

}  // namespace netlens::render
