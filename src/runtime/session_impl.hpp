// Private to the runtime: the Session's execution state, shared by session.cpp (prepare, run) and
// backward.cpp (reverse mode).
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::detail {

inline size_t align_up(size_t v) { return (v + 255) / 256 * 256; }  // arena slots are 256-byte aligned

inline std::string mib(size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// A copy of a tensor into another backend's arena before a node runs.
struct MirrorCopy {
  int src_backend, dst_backend;
  const void* src;
  void* dst;
  size_t bytes;
};

// y[i] = c(x[i]), i < n: a deferred clamp's output (deferred_outputs.cpp).
void clamp_into(const float* x, float* y, size_t n, Clamp c);

struct NodeExec {
  std::unique_ptr<Kernel> kernel;  // null when folded
  int backend = -1;
  std::vector<TensorView> in, out;  // in the backend's memory (mirrors for inputs from elsewhere)
  // What run() passes: `in`, except inputs read through a deferred clamp (the clamp's input there).
  // The backward pass reads `in`, the values the node saw.
  std::vector<TensorView> run_in;
  bool deferred = false;  // a deferred clamp: not run (Kernel::defer_output)
  std::vector<MirrorCopy> copies;
};

// A planned backward kernel, kept between backward() calls with the same wanted gradients.
struct GradExec {
  std::unique_ptr<GradKernel> kernel;
  int backend = -1;  // the backend that differentiates the node
  std::vector<bool> need;
  std::string fallback_reason;  // why the backend that ran the node does not differentiate it (host fallback)
};

// What Session::plan_shapes() decides and allocate_and_plan_kernels() builds on: every tensor's
// type and shape, the folded nodes, and where each non-constant tensor, mirror and device weight
// lives (byte offsets into per-backend arenas that are not allocated yet).
struct ShapePlan {
  std::map<std::string, Shape> requested;  // the shapes plan_shapes() was given
  std::map<std::string, TensorInfo> infos;  // every tensor, initializers included
  std::vector<bool> folded;                 // per node
  std::vector<std::vector<std::string>> aux_outputs;  // per node, after its outputs
  std::vector<size_t> arena_size, weight_size;        // per backend
  std::vector<std::map<std::string, size_t>> mirror_offset, weight_offset;  // per backend
};

}  // namespace netlens::detail

namespace netlens {

struct Session::Impl {
  std::vector<detail::NodeExec> exec;
  std::vector<DeviceBuffer> arenas;   // per backend
  std::vector<DeviceBuffer> weights;  // per backend (non-host backends only)
  std::vector<std::map<std::string, void*>> const_ptr;  // per backend: constant → device pointer
  std::unique_ptr<detail::ShapePlan> plan;              // plan_shapes()'s result, kept for prepare()
  std::map<std::string, Shape> bound_shapes;             // graph input → shape used by prepare()
  std::map<std::string, TensorInfo> initializer_infos;
  bool single_backend = false;
  bool ran = false;  // run() completed since prepare(): backward() has values to work on
  // Reverse mode (backward.cpp).
  std::vector<detail::GradExec> grad_exec;  // per node
  std::vector<DeviceBuffer> grad_arenas;    // per backend, float32 gradients (+ its staging region)
  std::vector<size_t> grad_arena_bytes;     // their sizes (an arena is reused while a pass needs the same)
};

}  // namespace netlens
