// `netlens explain`, `infer --gradients` and `inspect --gradients` as a user runs them, on MobileNetV2
// (torchvision's architecture, random weights: scripts/export-torchvision.sh) and scikit-image's
// chelsea photo:
// - saliency, gradient × input, Grad-CAM and Grad-CAM++ (default and a named layer) and the ranked
//   channel importance equal direct NumPy computations (tests/explain/reference.py) on the activations and gradients that
//   `infer --dump --all --gradients` wrote for the same target: max difference ≤ 1e-4 of the largest
//   value;
// - integrated gradients (4 midpoint steps) equal NumPy's mean of 4 gradients that `infer
//   --gradients` computed at the points reference.py made, times the input; on ppocr_cls the
//   completeness error in summary.json is ≤ 5% with 128 steps and shrinks from 32 to 128 steps;
// - files: heatmap.png decodes to the input's size, heatmap.npy is float32 H×W, summary.json has the
//   documented fields; the gradients' index.json has the activations' schema;
// - errors: one "netlens explain: error:" line, exit 2 for usage.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "netlens/io.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace netlens;

namespace {

using Result = netlens::test::ShellResult;
Result sh(const std::string& cmd) { return netlens::test::run_shell(cmd); }

std::string q(const std::string& s) { return "'" + s + "'"; }
const std::string kBin = NETLENS_BINARY;
const std::string kModel = std::string(NETLENS_CACHE_DIR) + "/models/mobilenet_v2.onnx";
const std::string kPhoto = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
const std::string kRef = "/usr/bin/python3 " + q(std::string(NETLENS_SOURCE_DIR) + "/tests/explain/reference.py");
const std::string kImageFlags = " --size 224x224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --backend cpu --quiet";
const std::string kTarget = "class:281";

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

// One dump of the run and its gradients for every test (the expensive part), made once.
class ExplainCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("netlens_explain_cli_" + std::to_string(::getpid()));
    fs::create_directories(root_);
    if (!fs::exists(kModel)) return;
    const Result r = sh(kBin + " infer " + q(kModel) + " --input " + q(kPhoto) + kImageFlags + " --dump " +
                        q((root_ / "dump").string()) + " --all --gradients --target " + kTarget);
    dump_ok_ = r.status == 0;
    if (!dump_ok_) dump_err_ = r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kModel)) << kModel << " missing: run scripts/export-torchvision.sh";
    ASSERT_TRUE(dump_ok_) << "infer --gradients failed: " << dump_err_;
  }
  static fs::path dump() { return root_ / "dump"; }
  // Runs explain with the photo and returns its output folder.
  static fs::path explain(const std::string& name, const std::string& flags, const std::string& input = kPhoto,
                          const std::string& image_flags = kImageFlags) {
    const fs::path out = root_ / name;
    const Result r = sh(kBin + " explain " + q(kModel) + " --input " + q(input) + image_flags + " --target " + kTarget +
                        " --out " + q(out.string()) + " " + flags);
    EXPECT_EQ(r.status, 0) << r.err;
    return out;
  }
  static inline fs::path root_;
  static inline bool dump_ok_ = false;
  static inline std::string dump_err_;
};

TEST_F(ExplainCli, SaliencyAndGradientTimesInputMatchNumPy) {
  for (const char* m : {"saliency", "gradxinput"}) {
    const fs::path out = explain(m, std::string("--method ") + m);
    const Result r = sh(kRef + " " + m + " " + q(dump().string()) + " " + q((out / "heatmap.npy").string()));
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    std::printf("%s", r.out.c_str());
  }
}

TEST_F(ExplainCli, GradCamAndGradCamPlusPlusMatchNumPy) {
  for (const char* m : {"gradcam", "gradcam++", "hirescam"}) {
    const fs::path out = explain(m, std::string("--method ") + m);
    const json s = read_json(out / "summary.json");
    const std::string layer = s["layer"]["tensor"];
    // The default layer: the last [1, C, 7, 7] map before the global pooling.
    EXPECT_EQ(layer, "/features/features.18/features.18.2/Clip_output_0");
    EXPECT_EQ(s["layer"]["grid"], json({7, 7}));
    EXPECT_GT(s["top_channels"].size(), 0u);
    const Result r = sh(kRef + " cam " + q(dump().string()) + " " + q((out / "heatmap.npy").string()) + " " + q(layer) +
                        (std::string(m) == "gradcam++" ? " plus" : std::string(m) == "hirescam" ? " hires" : ""));
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    std::printf("%s", r.out.c_str());
    // Channel importance: the top 10 by mean(gradient × activation), in NumPy's order.
    const Result c = sh(kRef + " channels " + q(dump().string()) + " " + q((out / "summary.json").string()) + " " + q(layer));
    EXPECT_EQ(c.status, 0) << c.out << c.err;
    std::printf("%s", c.out.c_str());
  }
  // A named layer (by its node) in the middle of the network: 14x14.
  const std::string node = "/features/features.11/conv/conv.1/conv.1.2/Clip";
  const fs::path out = explain("gradcam_mid", "--method gradcam --layer " + q(node));
  const json s = read_json(out / "summary.json");
  EXPECT_EQ(s["layer"]["grid"], json({14, 14}));
  const Result r = sh(kRef + " cam " + q(dump().string()) + " " + q((out / "heatmap.npy").string()) + " " +
                      q(s["layer"]["tensor"].get<std::string>()));
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  std::printf("%s", r.out.c_str());
}

TEST_F(ExplainCli, IntegratedGradientsMatchNumPy) {
  // The same x for both: the preprocessed input the dump holds.
  const std::string x = (dump() / "input.npy").string();
  const fs::path out = explain("ig4", "--method ig --steps 4", x, " --backend cpu --quiet");
  const Result r = sh(kRef + " ig " + q(kBin) + " " + q(kModel) + " " + q(dump().string()) + " " +
                      q((out / "heatmap.npy").string()) + " 4 " + kTarget + " --backend cpu");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  std::printf("%s", r.out.c_str());
  const json s4 = read_json(out / "summary.json");
  EXPECT_EQ(s4["method"]["parameters"]["steps"], 4);
  EXPECT_EQ(s4["method"]["parameters"]["rule"], "riemann-midpoint");
  EXPECT_EQ(s4["runs"]["backward"], 4 + 1);  // 4 points, then the input itself
}

// Completeness: Σ attributions = S(x) − S(0) up to the quadrature error. On the random MobileNet the
// logit hardly depends on the input (S(x) − S(0) is at float32 rounding), so this runs on ppocr_cls
// (real weights; S(x) − S(0) ≈ 6.1). Measured relative errors: 16 steps 0.90, 32 0.31, 64 0.063,
// 128 0.026 — the path integrand is sharp, so 128 midpoint steps are needed for ≤ 5%.
TEST_F(ExplainCli, IntegratedGradientsConvergeToCompleteness) {
  const std::string cls = std::string(NETLENS_CACHE_DIR) + "/models/ppocr_cls.onnx";
  ASSERT_TRUE(fs::exists(cls));
  auto error_at = [&](int steps) {
    const fs::path out = root_ / ("ig_cls_" + std::to_string(steps));
    const Result r = sh(kBin + " explain " + q(cls) + " --input " + q(std::string(NETLENS_SOURCE_DIR) + "/assets/samples/line_192x48.png") +
                        " --size 192x48 --bgr --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --backend cpu --quiet --method ig --steps " +
                        std::to_string(steps) + " --out " + q(out.string()));
    EXPECT_EQ(r.status, 0) << r.err;
    const json c = read_json(out / "summary.json")["completeness"];
    std::printf("IG %d steps on ppocr_cls: sum %.6g, S(x) - S(0) = %.6g, relative error %.3g\n", steps,
                c["attribution_sum"].get<double>(), c["target_value"].get<double>() - c["baseline_value"].get<double>(),
                c["relative_error"].get<double>());
    return c["relative_error"].get<double>();
  };
  const double e32 = error_at(32), e128 = error_at(128);
  EXPECT_LE(e128, 0.05);
  EXPECT_LT(e128, e32);
}

// SmoothGrad with σ = 0 averages identical gradients: it equals saliency; its default σ is 0.15 ×
// the input's range, as summary.json states.
TEST_F(ExplainCli, SmoothGradAveragesGradientsWithTheStatedNoise) {
  const Tensor sal = read_npy((explain("sg_saliency", "--method saliency") / "heatmap.npy").string());
  const fs::path zero = explain("sg_zero", "--method smoothgrad --samples 3 --sigma 0");
  const Tensor sg = read_npy((zero / "heatmap.npy").string());
  ASSERT_EQ(sg.shape(), sal.shape());
  double top = 0, err = 0;
  for (int64_t i = 0; i < sal.numel(); ++i) {
    top = std::max(top, std::abs(sal.get_f64(i)));
    err = std::max(err, std::abs(sal.get_f64(i) - sg.get_f64(i)));
  }
  ASSERT_GT(top, 0);
  EXPECT_LE(err / top, 1e-6);
  EXPECT_EQ(read_json(zero / "summary.json")["runs"]["backward"], 3 + 1);

  const json p = read_json(explain("sg_default", "--method smoothgrad --samples 1") / "summary.json")["method"]["parameters"];
  const Tensor x = read_npy((dump() / "input.npy").string());
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < x.numel(); ++i) lo = std::min(lo, x.get_f64(i)), hi = std::max(hi, x.get_f64(i));
  EXPECT_NEAR(p["sigma"].get<double>(), 0.15 * (hi - lo), 1e-6 * (hi - lo));
  EXPECT_EQ(p["samples"], 1);
  EXPECT_EQ(p["seed"], 1);
}

TEST_F(ExplainCli, WritesThePictureTheArrayAndTheSummary) {
  const fs::path out = explain("files", "--method saliency --labels " + q(std::string(NETLENS_SOURCE_DIR) + "/assets/labels/imagenet.txt"));
  std::ifstream png(out / "heatmap.png", std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
  const DecodedImage im = decode_image(bytes.data(), bytes.size(), 3, "heatmap.png");
  EXPECT_EQ(im.width, 224);
  EXPECT_EQ(im.height, 224);
  const Tensor h = read_npy((out / "heatmap.npy").string());
  EXPECT_EQ(h.dtype(), DType::Float32);
  EXPECT_EQ(h.shape(), (Shape{224, 224}));
  const json s = read_json(out / "summary.json");
  for (const char* k : {"model", "input", "target", "prediction", "method", "heatmap", "gradient_flow", "runs"})
    EXPECT_TRUE(s.contains(k)) << k;
  EXPECT_EQ(s["target"]["class"], 281);
  EXPECT_EQ(s["target"]["tensor"], "logits");
  EXPECT_NE(s["target"]["description"].get<std::string>().find("tabby"), std::string::npos) << s["target"];
  EXPECT_EQ(s["method"]["name"], "saliency");
  EXPECT_EQ(s["prediction"]["tensor"], "logits");
  EXPECT_TRUE(s["gradient_flow"].contains("rule"));
  EXPECT_GT(s["gradient_flow"]["tensors"].get<int>(), 100);
  // The value is the logit the dump holds.
  const Tensor logits = read_npy((dump() / "logits.npy").string());
  EXPECT_NEAR(s["target"]["value"].get<double>(), logits.get_f64(281), 1e-6);
}

TEST_F(ExplainCli, GradientDumpHasTheActivationsSchema) {
  const json acts = read_json(dump() / "index.json");
  const json grads = read_json(dump() / "gradients" / "index.json");
  ASSERT_GT(grads.size(), 100u);
  for (const auto& [name, e] : grads.items()) {
    ASSERT_TRUE(acts.contains(name)) << name;
    const json& a = acts[name];
    for (const char* k : {"file", "shape", "dtype", "producer", "op_type"}) EXPECT_TRUE(e.contains(k)) << name << " " << k;
    EXPECT_EQ(e.size(), a.size()) << name;
    EXPECT_EQ(e["shape"], a["shape"]) << name;
    EXPECT_EQ(e["producer"], a["producer"]) << name;
    EXPECT_EQ(e["dtype"], "float32");
    EXPECT_TRUE(fs::exists(dump() / "gradients" / e["file"].get<std::string>())) << name;
  }
  // The seed: dS/dlogits is one-hot at 281.
  const Tensor g = read_npy((dump() / "gradients" / grads["logits"]["file"].get<std::string>()).string());
  for (int64_t i = 0; i < g.numel(); ++i) ASSERT_EQ(g.get_f64(i), i == 281 ? 1.0 : 0.0) << i;
}

// The cross-entropy at a label through the CLI: dL/dlogits = softmax(logits) − onehot(label), computed
// here from the dumped logits.
TEST_F(ExplainCli, LossTargetSeedsSoftmaxMinusOneHot) {
  const fs::path d = root_ / "loss";
  const Result r = sh(kBin + " infer " + q(kModel) + " --input " + q(kPhoto) + kImageFlags + " --dump " + q(d.string()) +
                      " --gradients --target loss:7");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("cross-entropy"), std::string::npos) << r.out;
  const Tensor z = read_npy((d / "logits.npy").string());
  const json idx = read_json(d / "gradients" / "index.json");
  const Tensor g = read_npy((d / "gradients" / idx["logits"]["file"].get<std::string>()).string());
  double m = -INFINITY, sum = 0;
  for (int64_t i = 0; i < z.numel(); ++i) m = std::max(m, z.get_f64(i));
  for (int64_t i = 0; i < z.numel(); ++i) sum += std::exp(z.get_f64(i) - m);
  for (int64_t i = 0; i < z.numel(); ++i)
    ASSERT_NEAR(g.get_f64(i), std::exp(z.get_f64(i) - m) / sum - (i == 7 ? 1.0 : 0.0), 1e-6) << i;
}

TEST_F(ExplainCli, InspectGradientsReportsStatisticsAndFlow) {
  const Result r = sh(kBin + " inspect " + q(kModel) + " --input " + q(kPhoto) + kImageFlags + " --gradients --target " +
                      kTarget + " --brief");
  ASSERT_EQ(r.status, 0) << r.err;
  const json g = json::parse(r.out)["gradients"];
  EXPECT_EQ(g["target"]["class"], 281);
  ASSERT_GT(g["tensors"].size(), 100u);
  const json& flow = g["flow"]["entries"];
  ASSERT_GT(flow.size(), 100u);
  EXPECT_EQ(flow[0]["tensor"], "logits");
  EXPECT_EQ(flow[flow.size() - 1]["tensor"], "input");
  // The input's gradient norm equals the dumped gradient's.
  const Tensor gi = read_npy((dump() / "gradients" / "input.npy").string());
  double sq = 0;
  for (int64_t i = 0; i < gi.numel(); ++i) sq += gi.get_f64(i) * gi.get_f64(i);
  EXPECT_NEAR(flow[flow.size() - 1]["grad_norm"].get<double>(), std::sqrt(sq), 1e-6 * std::sqrt(sq));
}

TEST_F(ExplainCli, ErrorsAreOneLine) {
  struct Case {
    std::string flags, says;
    int status;
  };
  const std::string base = kBin + " explain " + q(kModel) + " --input " + q(kPhoto) + kImageFlags;
  for (const Case& c : {Case{" --out /tmp/x --target klass:1", "bad --target 'klass:1'", 2},
                        Case{" --out /tmp/x --target class:1000", "class 1000 is out of range", 2},
                        Case{" --out /tmp/x --method lime", "--method must be", 2},
                        Case{" --out /tmp/x --target class:tabby", "needs a label file", 2},
                        Case{" --out /tmp/x --method gradcam --layer nope", "no tensor or node named 'nope'", 2},
                        Case{" --out /tmp/x --method saliency --layer logits", "--layer is for", 2},
                        Case{"", "missing --out DIR", 2}}) {
    const Result r = sh(base + c.flags);
    EXPECT_EQ(r.status, c.status) << c.flags << ": " << r.err;
    const std::string first = r.err.substr(0, r.err.find('\n'));
    EXPECT_EQ(first.rfind("netlens explain: error: ", 0), 0u) << r.err;
    EXPECT_NE(first.find(c.says), std::string::npos) << c.flags << ": " << r.err;
  }
  const Result r = sh(kBin + " infer " + q(kModel) + " --input " + q(kPhoto) + kImageFlags + " --gradients");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--gradients needs --dump DIR"), std::string::npos) << r.err;
}

}  // namespace
