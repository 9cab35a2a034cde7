// bench-render's flags (the `netlens bench-render` command and bench/render/netlens_bench_render,
// which compiles this file too): [--neurons 1e4,1e5,...] [--sizes 1280x720,1920x1080] [--frames N]
// [--no-vgg16] [--png DIR] [--gpu N] [--quick].
#pragma once

#include <string>
#include <vector>

#include "netlens/app/bench_render.hpp"

namespace netlens::cli {

// Error{Usage} for an unknown flag or a missing value.
app::RenderBenchOptions parse_render_bench_flags(const std::vector<std::string>& args);

}  // namespace netlens::cli
