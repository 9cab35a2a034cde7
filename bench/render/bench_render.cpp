// netlens_bench_render: the render benchmark as a standalone executable (same as `netlens bench-render`).
#include <cstdio>

#include "netlens/cli/bench_render_flags.hpp"
#include "netlens/core.hpp"

int main(int argc, char** argv) {
  try {
    return netlens::app::run_render_benchmark(
        netlens::cli::parse_render_bench_flags(std::vector<std::string>(argv + 1, argv + argc)));
  } catch (const netlens::Error& e) {
    std::fprintf(stderr, "netlens_bench_render: error: %s\n", e.what());
    return e.kind() == netlens::ErrorKind::Usage ? 2 : 1;
  }
}
