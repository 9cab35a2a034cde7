// Real quantized models (scripts/quantize-models.py: MobileNetV2, PP-OCR cls and PP-OCRv4 rec, each as
// static QDQ, QLinear ops and dynamic; MobileNetV2 also with com.microsoft QLinearAdd and
// QLinearGlobalAveragePool) against onnxruntime 1.22 (run with optimisations off, so every
// node of the file runs as written) and against the float models they came from.
//
// - Every node, alone, on onnxruntime's values of its inputs: the quantized ops (QuantizeLinear,
//   DequantizeLinear, DynamicQuantizeLinear, QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger)
//   must give bit-identical outputs (integers and the float scales/dequantized values alike);
//   every other node within 1e-4 x max|onnxruntime| (float kernels sum in another order).
// - The whole model end to end, where no float op upstream of a quantization can round differently
//   (the QLinear models, and the dynamic/QDQ ones without float convolutions or batch norms before a
//   quantization): every integer tensor identical, every float tensor within 1e-5 x max|ort| + 1e-7.
//   Elsewhere one float rounding difference flips a quantized value by one step, which then
//   propagates; there the model's answer (arg-max class, CTC-decoded text) must equal onnxruntime's.
// - The answer of each quantized model equals the float model's on the test images: PP-OCR cls's
//   orientation of a text line and its flipped copy, PP-OCRv4 rec's decoded text of two lines
//   (spaces at either end ignored).
//   (MobileNetV2 has seeded random weights, see scripts/export_torchvision.py: its top classes are
//   within 0.3% of each other, so its top-1 is not a meaningful answer to compare.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "quant_data.hpp"

namespace fs = std::filesystem;
using namespace netlens;

namespace {

const std::set<std::string> kQuantOps = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
                                         "QLinearMatMul",  "ConvInteger",      "MatMulInteger",
                                         // com.microsoft (the .qlinear_ms variant)
                                         "QLinearAdd", "QLinearGlobalAveragePool"};

struct Case {
  std::string model, kind;
  bool end_to_end_exact;
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) { return i.param.model + "_" + i.param.kind; }

const std::vector<Case> kCases = {
    {"mobilenet_v2", "qdq", false},  // float Conv between each DequantizeLinear and QuantizeLinear
    {"mobilenet_v2", "qlinear", true},
    {"mobilenet_v2", "qlinear_ms", true},  // residual Adds and the pooling as com.microsoft QLinear ops
    {"mobilenet_v2", "dynamic", true},
    {"ppocr_cls", "qdq", true},      // its float ops before each QuantizeLinear round alike in both engines
    {"ppocr_cls", "qlinear", true},
    {"ppocr_cls", "dynamic", false},  // BatchNormalization (float) feeds DynamicQuantizeLinear
    {"ppocrv4_rec", "qdq", false},
    {"ppocrv4_rec", "qlinear", true},
    {"ppocrv4_rec", "dynamic", false},
};

std::string data_dir() {
  static std::string dir, why;
  static bool done = false;
  if (!done) {
    done = true;
    dir = test::quant_data(&why);
  }
  if (dir.empty()) ADD_FAILURE() << why;
  return dir;
}

// onnxruntime's tensors of one model: name → value.
std::map<std::string, Tensor> ort_values(const fs::path& dir) {
  std::ifstream f(dir / "index.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  std::map<std::string, Tensor> out;
  for (const auto& e : j.at("outputs")) out[e.at("name")] = read_npy((dir / e.at("file").get<std::string>()).string());
  return out;
}

struct Reference {
  std::string input_name;
  fs::path input_file;
};
Reference reference(const fs::path& data, const std::string& model) {
  std::ifstream f(data / "inputs" / model / "reference.txt");
  Reference r;
  std::string file;
  f >> r.input_name >> file;
  r.input_file = data / "inputs" / model / file;
  return r;
}

// Largest |a - b| and largest |a|; `exact` also counts differing elements (bitwise for floats).
struct Diff {
  double max_abs = 0, max_ref = 0;
  int64_t differ = 0;
};
Diff diff(const Tensor& ref, const Tensor& got) {
  Diff d;
  const Tensor a = ref.cast(DType::Float64), b = got.cast(DType::Float64);
  const double* pa = a.data_as<double>();
  const double* pb = b.data_as<double>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const bool same = pa[i] == pb[i] || (std::isnan(pa[i]) && std::isnan(pb[i]));
    if (!same) ++d.differ;
    d.max_abs = std::max(d.max_abs, same ? 0.0 : std::fabs(pa[i] - pb[i]));
    d.max_ref = std::max(d.max_ref, std::fabs(pa[i]));
  }
  return d;
}

std::string argmax_answer(const Tensor& probs, const std::vector<std::string>* keys);

class QuantModel : public ::testing::TestWithParam<Case> {};

TEST_P(QuantModel, EveryNodeOnOnnxruntimeInputs) {
  const std::string data = data_dir();
  ASSERT_FALSE(data.empty());
  const Case& c = GetParam();
  const Graph g = load_onnx(data + "/" + c.model + "." + c.kind + ".onnx");
  const std::map<std::string, Tensor> ort = ort_values(fs::path(data) / "ort" / (c.model + "." + c.kind));
  const Reference ref = reference(data, c.model);
  auto value_of = [&](const std::string& name) -> Tensor {
    if (name == ref.input_name) return read_npy(ref.input_file.string());
    auto it = ort.find(name);
    return it == ort.end() ? Tensor() : it->second;
  };
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  int quant_nodes = 0, checked = 0;
  std::vector<std::string> failures;
  for (const Node& n : g.nodes) {
    Graph one;
    one.opsets = g.opsets;
    one.ir_version = g.ir_version;
    one.nodes = {n};
    std::map<std::string, Tensor> feeds;
    bool missing = false;
    for (const std::string& in : n.inputs) {
      if (in.empty() || one.initializers.count(in) || feeds.count(in)) continue;
      if (auto it = g.initializers.find(in); it != g.initializers.end()) { one.initializers[in] = it->second; continue; }
      Tensor v = value_of(in);
      if (!v.defined()) { missing = true; break; }
      // Shape-like operands must be constants for the engine (as Constant-fed ones are in the model).
      if (v.dtype() == DType::Int64) { one.initializers[in] = v; continue; }
      ValueInfo vi{in, v.dtype(), {}, true};
      for (int64_t d : v.shape()) vi.dims.push_back(Dim{d, ""});
      one.inputs.push_back(vi);
      feeds[in] = v;
    }
    ASSERT_FALSE(missing) << n.describe() << ": onnxruntime has no value for an input";
    for (const std::string& o : n.outputs)
      if (!o.empty()) one.outputs.push_back(ValueInfo{o, DType::Undefined, {}, false});
    const bool quant = kQuantOps.count(n.op_type) != 0;
    quant_nodes += quant;
    try {
      Session s(one, {cpu.get()});
      s.run(feeds);
      for (const std::string& o : n.outputs) {
        if (o.empty()) continue;
        auto it = ort.find(o);
        ASSERT_NE(it, ort.end()) << o;
        const Tensor got = s.activations().fetch(o);
        ASSERT_EQ(got.shape(), it->second.shape()) << n.describe() << " output " << o;
        ASSERT_EQ(got.dtype(), it->second.dtype()) << n.describe() << " output " << o;
        const Diff d = diff(it->second, got);
        const bool ok = quant || is_integer(got.dtype()) ? d.differ == 0 : d.max_abs <= 1e-4 * d.max_ref + 1e-6;
        if (!ok && failures.size() < 8)
          failures.push_back(n.describe() + " output " + o + ": " + std::to_string(d.differ) + " elements differ, max |diff| " +
                             std::to_string(d.max_abs) + " (max |ort| " + std::to_string(d.max_ref) + ")");
        ++checked;
      }
    } catch (const Error& e) {
      failures.push_back(n.describe() + ": " + e.what());
    }
  }
  EXPECT_GT(quant_nodes, 20) << "the quantized model has few quantized nodes";
  EXPECT_TRUE(failures.empty()) << failures.size() << " node(s) differ from onnxruntime, first: " << failures.front();
  for (const auto& f : failures) ADD_FAILURE() << f;
  std::cout << c.model << "." << c.kind << ": " << checked << " outputs of " << g.nodes.size() << " nodes checked ("
            << quant_nodes << " quantized nodes bit-exact)\n";
}

TEST_P(QuantModel, EndToEndAgainstOnnxruntime) {
  const std::string data = data_dir();
  ASSERT_FALSE(data.empty());
  const Case& c = GetParam();
  const Graph g = load_onnx(data + "/" + c.model + "." + c.kind + ".onnx");
  const std::map<std::string, Tensor> ort = ort_values(fs::path(data) / "ort" / (c.model + "." + c.kind));
  const Reference ref = reference(data, c.model);
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  s.run({{ref.input_name, read_npy(ref.input_file.string())}});
  int ints = 0, floats = 0, int_differ = 0;
  double worst = 0;
  std::string worst_name, first_int;
  for (const PlannedTensor& t : s.activations().tensors()) {
    if (t.constant) continue;
    auto it = ort.find(t.name);
    if (it == ort.end()) continue;
    const Tensor got = s.activations().fetch(t.name);
    ASSERT_EQ(got.shape(), it->second.shape()) << t.name;
    const Diff d = diff(it->second, got);
    if (is_integer(got.dtype())) {
      ++ints;
      if (d.differ && first_int.empty()) first_int = t.name + " (" + std::to_string(d.differ) + " elements)";
      int_differ += d.differ != 0;
    } else {
      ++floats;
      const double rel = d.max_abs / (d.max_ref + 1e-30);
      if (d.max_abs > 1e-7 && rel > worst) { worst = rel; worst_name = t.name; }
    }
  }
  ASSERT_GT(ints, 20);
  std::cout << c.model << "." << c.kind << ": " << ints << " integer tensors (" << int_differ << " differ), " << floats
            << " float tensors (worst |diff|/max|ort| " << worst << " at " << worst_name << ")\n";
  if (c.end_to_end_exact) {
    EXPECT_EQ(int_differ, 0) << "first: " << first_int;
    EXPECT_LE(worst, 1e-5) << worst_name;
  }
  // Whatever drift one rounding flip causes, the model's answer is onnxruntime's.
  const std::string out = g.outputs.at(0).name;
  std::vector<std::string> keys;
  std::ifstream kf(NETLENS_CACHE_DIR "/models/ppocr_keys_v1.txt");
  for (std::string line; std::getline(kf, line);) keys.push_back(line);
  const std::vector<std::string>* k = c.model == "ppocrv4_rec" ? &keys : nullptr;
  EXPECT_EQ(argmax_answer(s.activations().fetch(out), k), argmax_answer(ort.at(out), k));
}

// Arg-max over the last axis: the class of a classifier, the CTC-decoded text (blank 0, repeats
// collapsed, index i → keys[i-1], past the keys a space) of a recognizer when `keys` is given.
std::string argmax_answer(const Tensor& probs, const std::vector<std::string>* keys) {
  const Tensor p = probs.cast(DType::Float32);
  const int64_t classes = p.shape().back(), steps = p.numel() / classes;
  std::string out;
  int64_t prev = -1;
  for (int64_t t = 0; t < steps; ++t) {
    const float* row = p.data_as<float>() + t * classes;
    const int64_t best = std::max_element(row, row + classes) - row;
    if (!keys) {
      out += (out.empty() ? "" : ",") + std::to_string(best);
      continue;
    }
    if (best != 0 && best != prev) out += best - 1 < static_cast<int64_t>(keys->size()) ? (*keys)[static_cast<size_t>(best - 1)] : " ";
    prev = best;
  }
  // A space at either end is not part of the text (the float model ends lines with one, and one
  // quantized variant starts "Hello..." with one: the space class is borderline on the margin).
  if (keys) {
    out.erase(0, out.find_first_not_of(' '));
    out.erase(out.find_last_not_of(' ') + 1);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Models, QuantModel, ::testing::ValuesIn(kCases), case_name);

// The quantized models' answers equal the float models' on every test image (netlens on both).
TEST(QuantAnswers, SameAsFloatModel) {
  const std::string data = data_dir();
  ASSERT_FALSE(data.empty());
  std::vector<std::string> keys;
  std::ifstream kf(NETLENS_CACHE_DIR "/models/ppocr_keys_v1.txt");
  for (std::string line; std::getline(kf, line);) keys.push_back(line);
  ASSERT_GT(keys.size(), 6000u);
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  for (const std::string model : {"ppocr_cls", "ppocrv4_rec"}) {
    const std::vector<std::string>* k = model == "ppocrv4_rec" ? &keys : nullptr;
    const Reference ref = reference(data, model);
    const Graph fg = load_onnx(NETLENS_CACHE_DIR "/models/" + model + ".onnx");
    std::map<std::string, std::string> float_answers;
    for (const auto& e : fs::directory_iterator(fs::path(data) / "inputs" / model)) {
      if (e.path().extension() != ".npy") continue;
      Session s(fg, {cpu.get()});
      s.run({{ref.input_name, read_npy(e.path().string())}});
      float_answers[e.path().filename().string()] = argmax_answer(s.activations().fetch(fg.outputs[0].name), k);
    }
    ASSERT_GE(float_answers.size(), 2u) << model;
    if (model == "ppocr_cls") {  // the float model itself knows which way up the lines are
      EXPECT_EQ(float_answers["line_192x48.npy"], "0");
      EXPECT_EQ(float_answers["line_192x48_flipped.npy"], "1");
    }
    for (const std::string kind : {"qdq", "qlinear", "dynamic"}) {
      const Graph qg = load_onnx(data + "/" + model + "." + kind + ".onnx");
      for (const auto& [file, want] : float_answers) {
        Session s(qg, {cpu.get()});
        s.run({{ref.input_name, read_npy((fs::path(data) / "inputs" / model / file).string())}});
        const std::string got = argmax_answer(s.activations().fetch(qg.outputs[0].name), k);
        EXPECT_EQ(got, want) << model << "." << kind << " on " << file;
        EXPECT_FALSE(got.empty()) << model << "." << kind << " on " << file;
        std::cout << model << "." << kind << " " << file << ": '" << got << "' (float: '" << want << "')\n";
      }
    }
  }
}

}  // namespace
