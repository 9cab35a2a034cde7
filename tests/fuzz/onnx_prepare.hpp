// What the ONNX fuzzer does with one input, shared with the ctest that replays its finds
// (tests/onnx/test_hostile.cpp, HostileModels.FuzzRegressionsPrepare): load, then infer shapes,
// fold constants and plan on the CPU backend under a small memory budget, then run once on zero
// inputs when they are small. Every refusal is a netlens::Error, which the caller accepts; any other
// exception, crash, sanitizer report, leak or hang is a bug.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace netlens::fuzz {

// 256 MiB: far below the fuzzer's -rss_limit_mb, so a model the budget refuses never looks like a
// memory bug, and large enough for the seed models to plan.
constexpr size_t kFuzzBudget = size_t{256} << 20;
// Inputs above this many bytes are only planned, not run: running is for reaching the kernels
// with odd shapes and attributes, not for spending the fuzzer's time on big convolutions.
constexpr size_t kFuzzRunInputBytes = size_t{1} << 20;
// Models with more nodes are only planned (each run of a deep model costs the fuzzer seconds).
constexpr size_t kFuzzRunNodes = 64;

inline void load_prepare_run(std::string_view bytes, const std::string& label) {
  // base_dir "" refuses external data, so a fuzzed model cannot make the loader read files.
  Graph g = load_onnx_bytes(bytes, "", label);
  const size_t nodes = g.nodes.size();
  auto cpu = make_cpu_backend();
  SessionOptions opts;
  opts.max_memory = kFuzzBudget;
  Session s(std::move(g), {cpu.get()}, opts);
  s.prepare();
  std::map<std::string, Tensor> inputs;
  size_t input_bytes = 0;
  for (const ValueInfo& v : s.graph().inputs) {
    const TensorInfo& info = s.info(v.name);
    input_bytes += info.nbytes();
    if (input_bytes > kFuzzRunInputBytes) return;
    inputs.emplace(v.name, Tensor(info.dtype, info.shape));  // zero-filled
  }
  if (nodes > kFuzzRunNodes || s.report().activation_bytes > kFuzzBudget) return;
  s.run(inputs);
}

}  // namespace netlens::fuzz
