// fp16 models run: each sample model converted to float16 (weights, Constant values, inputs, outputs
// and Cast targets, as `model.half()` exports do) runs end to end with float16 activations, and its
// outputs agree with the float32 model's (which test_models checks against onnxruntime).
// Tolerance: relative L2 ≤ 1e-2 on the outputs — float16 keeps 11 significant bits, and every
// activation is rounded to it between ops (each op computes in float32, as onnxruntime's CPU
// provider does for float16).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "model_cases.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using namespace netlens::model_tests;

namespace {

constexpr int64_t kOnnxFloat = 1, kOnnxFloat16 = 10;

// Resize's roi/scales and Upsample's scales are float32 in every opset, whatever the data type:
// converters (and half() exports) keep them so.
std::set<std::string> float32_by_spec(const Graph& g) {
  std::set<std::string> keep;
  for (const Node& n : g.nodes) {
    if (n.op_type == "Resize") {
      if (n.has_input(1)) keep.insert(n.inputs[1]);
      if (n.has_input(2)) keep.insert(n.inputs[2]);
    }
    if (n.op_type == "Upsample" && n.has_input(1)) keep.insert(n.inputs[1]);
  }
  return keep;
}

Graph to_fp16(Graph g) {
  const std::set<std::string> keep = float32_by_spec(g);
  for (auto& [name, t] : g.initializers)
    if (t.dtype() == DType::Float32 && !keep.count(name)) t = t.cast(DType::Float16);
  for (Node& n : g.nodes) {
    if (n.op_type == "Constant" && keep.count(n.outputs.at(0))) continue;
    for (auto& [key, v] : n.attrs)
      if (Tensor* t = std::get_if<Tensor>(&v); t && t->dtype() == DType::Float32) *t = t->cast(DType::Float16);
    if (n.op_type == "Cast" && n.attr_int("to", 0) == kOnnxFloat) n.attrs["to"] = kOnnxFloat16;
  }
  for (auto* list : {&g.inputs, &g.outputs})
    for (ValueInfo& v : *list)
      if (v.dtype == DType::Float32) v.dtype = DType::Float16;
  g.value_info.clear();  // declared float32 intermediates no longer hold
  return g;
}

double rel_l2(const Tensor& a, const Tensor& ref) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double d = a.get_f64(i) - ref.get_f64(i);
    num += d * d;
    den += ref.get_f64(i) * ref.get_f64(i);
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

class Fp16Models : public ::testing::TestWithParam<ModelCase> {};

TEST_P(Fp16Models, RunInFloat16AndAgreeWithFloat32) {
  const ModelCase& c = GetParam();
  const fs::path model = fs::path(NETLENS_TEST_CACHE_DIR) / "models" / c.model;
  ASSERT_TRUE(fs::exists(model)) << model << " missing: run scripts/fetch-models.sh";
  Graph g32 = load_onnx(model.string());
  Graph g16 = to_fp16(g32);
  Tensor x32 = load_image((fs::path(NETLENS_SAMPLES_DIR) / c.image).string(), preprocess_for(c));
  auto cpu = make_cpu_backend();
  Session s32(g32, {cpu.get()}), s16(g16, {cpu.get()});
  s32.run({{c.input, x32}});
  s16.run({{c.input, x32.cast(DType::Float16)}});

  // The converted model really computes in float16: every float activation is float16 (but the
  // float32-by-spec Resize scales).
  const std::set<std::string> keep = float32_by_spec(g32);
  int64_t f16 = 0, f32 = 0;
  for (const PlannedTensor& t : s16.planned()) {
    if (t.info.dtype == DType::Float16) ++f16;
    if (t.info.dtype == DType::Float32 && !keep.count(t.name)) ++f32;
  }
  EXPECT_EQ(f32, 0);
  EXPECT_GT(f16, 50);
  // Name the first tensor (in run order) that drifts, to make a failure actionable.
  std::string first_drift;
  for (const PlannedTensor& t : s16.planned()) {
    if (!is_float(t.info.dtype) || first_drift.size()) continue;
    const Tensor a = s16.activations().fetch(t.name), r = s32.activations().fetch(t.name);
    if (r.numel() && rel_l2(a, r) > 1e-2) {
      const std::string op = t.producer >= 0 ? g32.nodes[static_cast<size_t>(t.producer)].op_type : "input";
      first_drift = t.name + " (" + op + ", relative L2 " + std::to_string(rel_l2(a, r)) + ")";
    }
  }
  for (const ValueInfo& o : g32.outputs) {
    const Tensor ref = s32.activations().fetch(o.name);
    const Tensor got = s16.activations().fetch(o.name);
    ASSERT_EQ(got.dtype(), DType::Float16) << o.name;
    ASSERT_EQ(got.shape(), ref.shape()) << o.name;
    const double err = rel_l2(got, ref);
    EXPECT_LE(err, 1e-2) << c.name << " output " << o.name << "; first drifting tensor: " << first_drift;
    std::printf("[ fp16     ] %s: output %s relative L2 vs float32 %.2e\n", c.name, o.name.c_str(), err);
  }
}

// rec and cls on their real images. (det is left out: some of its BatchNormalization variances
// exceed float16's range, 65504, so a float16 copy of it is a different model — inf variances.)
INSTANTIATE_TEST_SUITE_P(PaddleOCR, Fp16Models,
                         ::testing::Values(kCases[3], kCases[5], kCases[6]),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
