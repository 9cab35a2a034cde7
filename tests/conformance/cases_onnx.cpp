// Cases from ONNX's own node test suite (libonnx-testdata, NETLENS_ONNX_TESTDATA/node): every
// single-node model in the default domain becomes a case with ONNX's stored inputs and expected
// outputs, the independent reference of check (a). The folders tests/onnx/test_node_suite.cpp runs
// through the whole Session; here the node's kernel runs alone, with guards, on every backend.
//
// Shape-like operands (Reshape's shape, Slice's starts, Resize's scales...) are graph inputs in the
// suite but must be constants for the engine: a case first tries every input as a variable, then
// its integer inputs as constants, then all inputs but the first, then all (the first that the
// shape function and the CPU backend accept).
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "conformance.hpp"
#include "netlens/onnx.hpp"

#ifndef NETLENS_ONNX_TESTDATA
#error "NETLENS_ONNX_TESTDATA must be defined by CMake"
#endif

namespace fs = std::filesystem;

namespace netlens::conformance {
namespace {

// ONNX's numpy has no bfloat16: its test data stores bfloat16 as uint16 bit patterns.
Tensor as_declared(Tensor t, DType declared) {
  if (declared != DType::BFloat16 || t.dtype() != DType::UInt16) return t;
  Tensor r(DType::BFloat16, t.shape());
  if (t.nbytes()) std::memcpy(r.data(), t.data(), t.nbytes());
  return r;
}

// Known defects of the ONNX 1.12 test data (as in tests/onnx/test_node_suite.cpp): the expected
// values truncate float to bfloat16; the spec (and onnxruntime) round to nearest even.
bool broken_test_data(const std::string& name) {
  return name == "test_cast_FLOAT_to_BFLOAT16" || name.rfind("test_castlike_FLOAT_to_BFLOAT16", 0) == 0;
}

std::optional<OpCase> load_case(const fs::path& dir, std::string* why) {
  const Graph g = load_onnx((dir / "model.onnx").string());
  if (g.nodes.size() != 1) {
    *why = "";  // expanded / multi-node models: not a single op's case (the node suite runs them)
    return std::nullopt;
  }
  const Node& node = g.nodes[0];
  if (!node.domain.empty() && node.domain != "ai.onnx") {
    *why = "domain " + node.domain;
    return std::nullopt;
  }
  std::map<std::string, Tensor> values;
  const fs::path data = dir / "test_data_set_0";
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const fs::path f = data / ("input_" + std::to_string(i) + ".pb");
    if (!fs::exists(f)) break;
    values[g.inputs[i].name] = as_declared(load_onnx_tensor(f.string()), g.inputs[i].dtype);
  }
  OpCase c;
  c.node = node;
  c.opset = g.opset();
  c.source = "onnx/" + dir.filename().string();
  c.label = node.op_type + " [" + dir.filename().string() + "]";
  c.tol = 1e-4;  // other backends against the CPU on data not chosen for conditioning
  c.fd = false;
  c.no_fd = "ONNX data: inputs not chosen away from kinks (finite differences run on generated cases)";
  for (const std::string& name : node.inputs) {
    if (name.empty()) { c.inputs.push_back(none()); continue; }
    if (auto it = g.initializers.find(name); it != g.initializers.end()) { c.inputs.push_back(cst(it->second)); continue; }
    auto it = values.find(name);
    if (it == values.end()) {
      *why = "input '" + name + "' has no test data";
      return std::nullopt;
    }
    c.inputs.push_back(var(it->second));
  }
  for (const std::string& name : node.outputs) {
    c.expected.emplace_back();
    for (size_t k = 0; k < g.outputs.size(); ++k)
      if (!name.empty() && g.outputs[k].name == name) {
        const fs::path f = data / ("output_" + std::to_string(k) + ".pb");
        if (fs::exists(f)) c.expected.back() = as_declared(load_onnx_tensor(f.string()), g.outputs[k].dtype);
      }
  }
  return c;
}

// Marks inputs constant until the shape function and the CPU backend accept the node.
bool settle_constants(OpCase& c, std::string* why) {
  const size_t n = c.inputs.size();
  for (int level = 0; level < 4; ++level) {
    OpCase t = c;
    for (size_t i = 0; i < n; ++i) {
      Input& in = t.inputs[i];
      if (!in.value.defined() || in.constant) continue;
      in.constant = level == 3 || (level == 2 && i > 0) || (level >= 1 && !is_float(in.value.dtype()));
    }
    std::string w;
    auto p = plan_case(t, &w);
    if (p) {
      if (auto r = cpu_backend().unsupported_reason(context_of(t, *p))) w = "CPU: " + *r;
    }
    if (p && w.empty()) {
      c = std::move(t);
      return true;
    }
    if (level == 0 || why->empty()) *why = w;
  }
  return false;
}

}  // namespace

const std::vector<OpCase>& onnx_cases(std::vector<std::string>* skipped) {
  static std::vector<OpCase> cases;
  static std::vector<std::string> skips;
  static bool loaded = false;
  if (!loaded) {
    loaded = true;
    const fs::path root = fs::path(NETLENS_ONNX_TESTDATA) / "node";
    std::vector<fs::path> dirs;
    if (fs::is_directory(root))
      for (const auto& e : fs::directory_iterator(root))
        if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& d : dirs) {
      const std::string name = d.filename().string();
      if (broken_test_data(name)) {
        skips.push_back(name + ": known ONNX 1.12 test-data defect");
        continue;
      }
      std::string why;
      try {
        std::optional<OpCase> c = load_case(d, &why);
        if (c && settle_constants(*c, &why)) cases.push_back(std::move(*c));
        else if (!why.empty()) skips.push_back(name + ": " + why);
      } catch (const Error& e) {
        skips.push_back(name + ": " + e.what());
      }
    }
  }
  if (skipped) *skipped = skips;
  return cases;
}

}  // namespace netlens::conformance
