// `netlens inspect` as a user runs it, on PP-OCR cls / PP-OCRv4 rec and rendered text lines: stdout
// is one JSON document; the tensor statistics, dead channels, saturation and flat shares agree with
// a direct computation on the .npy that `netlens infer --dump --all` writes for the same run;
// structure and --find agree with the model; an unknown tensor is one line on stderr, exit 2, and
// nothing on stdout.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "inspect_test_util.hpp"
#include "../test_util.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using namespace netlens::inspect::test;

namespace {

using Result = netlens::test::ShellResult;
Result run(const std::string& args) { return netlens::test::run_shell(std::string(NETLENS_BINARY) + " " + args); }

// The model flags of a PaddleOCR run on a sample line (cls: 48x192; rec: 48x320).
std::string cls_args() {
  return model_path("ppocr_cls.onnx") + " --input " + samples_dir() +
         "/line_192x48.png --size 192x48 --bgr --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --backend cpu";
}
std::string rec_args() {
  return model_path("ppocrv4_rec.onnx") + " --input " + samples_dir() +
         "/line_320x48.png --size 320x48 --bgr --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --backend cpu";
}

class InspectCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("netlens_inspect_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  Tensor dumped(const std::string& tensor) const { return read_npy((dir / (sanitize_tensor_name(tensor) + ".npy")).string()); }
  fs::path dir;
};

// The "tensor" section against the values in the .npy (tolerances: 1e-9 relative; same float data,
// double accumulation on both sides).
void check_stats(const nlohmann::json& s, const Tensor& t, size_t top) {
  EXPECT_EQ(s["shape"].get<Shape>(), t.shape());
  EXPECT_EQ(s["count"], t.numel());
  const std::vector<double> v = finite_values(t);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(s["finite"], v.size());
  EXPECT_EQ(s["non_finite"]["total"], t.numel() - static_cast<int64_t>(v.size()));
  EXPECT_EQ(s["min"].get<double>(), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(s["max"].get<double>(), *std::max_element(v.begin(), v.end()));
  const RefMoments m = ref_moments(v);
  EXPECT_NEAR(s["mean"].get<double>(), m.mean, 1e-9 * std::max(1.0, std::fabs(m.mean)));
  EXPECT_NEAR(s["std"].get<double>(), m.std, 1e-9 * std::max(1.0, m.std));
  ASSERT_EQ(s["percentiles"].size(), 9u);
  for (const auto& p : s["percentiles"]) {
    const double want = ref_percentile(v, p["p"].get<double>());
    EXPECT_NEAR(p["value"].get<double>(), want, 1e-9 * std::max(1.0, std::fabs(want))) << p["p"];
  }
  EXPECT_DOUBLE_EQ(s["zero_fraction"].get<double>(),
                   static_cast<double>(std::count(v.begin(), v.end(), 0.0)) / static_cast<double>(v.size()));
  int64_t hist_total = 0;
  for (const auto& c : s["histogram"]["counts"]) hist_total += c.get<int64_t>();
  EXPECT_EQ(hist_total, static_cast<int64_t>(v.size()));
  const size_t bins = s["histogram"]["counts"].size();
  EXPECT_GE(bins, 8u);
  EXPECT_LE(bins, 256u);
  EXPECT_EQ(s["top_channels_by_max"].size(), top);
  EXPECT_EQ(s["top_channels_by_mean"].size(), top);
}

// Channels (axis 1, batch 1) whose values are all exactly zero, straight from the tensor.
std::vector<int64_t> zero_channels(const Tensor& t) {
  const int64_t C = t.dim(1), inner = t.numel() / C;
  std::vector<int64_t> dead;
  for (int64_t c = 0; c < C; ++c) {
    bool zero = true;
    for (int64_t i = 0; i < inner && zero; ++i) zero = t.get_f64(c * inner + i) == 0;
    if (zero) dead.push_back(c);
  }
  return dead;
}

// PP-OCR cls (PP-LCNet: Relu, HardSigmoid and decomposed HardSwish) on a text line: one tensor of
// each kind, every figure checked against the .npy that `infer --dump --all` wrote for the same run.
TEST_F(InspectCli, TensorStatsMatchTheDumpedNpy) {
  if (!have_model("ppocr_cls.onnx")) return;
  const Result first = run("inspect " + cls_args() + " --brief");
  ASSERT_EQ(first.status, 0) << first.err;
  const nlohmann::json doc0 = nlohmann::json::parse(first.out);  // the whole of stdout is one document
  EXPECT_FALSE(doc0["structure"].contains("nodes"));              // --brief
  const Graph g = load_onnx(model_path("ppocr_cls.onnx"));
  EXPECT_EQ(doc0["structure"]["node_count"], g.nodes.size());
  std::map<std::string, std::string> pick;  // kind → first output of that kind (the last Relu: deepest)
  for (const auto& a : doc0["structure"]["activations"])
    if (!pick.count(a["kind"]) || a["kind"] == "Relu") pick[a["kind"]] = a["output"];
  ASSERT_TRUE(pick.count("HardSwish") && pick.count("Relu") && pick.count("HardSigmoid"));

  const Result dump = run("infer " + cls_args() + " --dump " + dir.string() + " --all");
  ASSERT_EQ(dump.status, 0) << dump.err;

  for (const auto& [kind, tensor] : pick) {
    SCOPED_TRACE(kind + " " + tensor);
    const Result r = run("inspect " + cls_args() + " --brief --top 3 --tensor " + tensor);
    ASSERT_EQ(r.status, 0) << r.err;
    const nlohmann::json s = nlohmann::json::parse(r.out)["tensor"];
    const Tensor t = dumped(tensor);
    EXPECT_EQ(s["name"], tensor);
    check_stats(s, t, 3);
    EXPECT_EQ(s["producer_activation"], kind);
    const nlohmann::json& a = s["activation"];
    ASSERT_TRUE(a.is_object());
    EXPECT_EQ(a["kind"], kind);
    EXPECT_EQ(a["curve"]["x"].size(), 256u);
    EXPECT_EQ(a["curve"]["y"].size(), 256u);
    const std::vector<double> x = finite_values(dumped(a["input"].get<std::string>()));
    auto share = [&](const std::function<bool(double)>& pred) {
      return static_cast<double>(std::count_if(x.begin(), x.end(), pred)) / static_cast<double>(x.size());
    };
    if (kind == "HardSigmoid") {
      // Saturated outputs exactly 0 or 1, counted in the .npy; no dead channels for a sigmoid.
      const std::vector<double> y = finite_values(t);
      const auto low = std::count(y.begin(), y.end(), 0.0), high = std::count(y.begin(), y.end(), 1.0);
      EXPECT_EQ(s["saturation"]["low"], low);
      EXPECT_EQ(s["saturation"]["high"], high);
      EXPECT_TRUE(s["dead_channels"].is_null());
      const double al = a["params"]["alpha"], be = a["params"]["beta"];
      EXPECT_DOUBLE_EQ(a["flat_fraction"].get<double>(), share([&](double q) { return al * q + be < 0 || al * q + be > 1; }));
    } else {
      EXPECT_EQ(s["dead_channels"]["indices"].get<std::vector<int64_t>>(), zero_channels(t));
      EXPECT_TRUE(s["saturation"].is_null());
      const double flat = kind == "Relu" ? share([](double q) { return q < 0; }) : share([](double q) { return q < -3; });
      EXPECT_DOUBLE_EQ(a["flat_fraction"].get<double>(), flat);
    }
    if (kind == "HardSwish") {
      EXPECT_TRUE(a["decomposed"].get<bool>());
      EXPECT_EQ(a["nodes"].size(), 4u);
    }
  }
}

// PP-OCRv4 rec: the full document (nodes listed), --find, model and input sections.
TEST_F(InspectCli, StructureAndFindOnRec) {
  if (!have_model("ppocrv4_rec.onnx")) return;
  const Result r = run("inspect " + rec_args() + " --find hardsigmoid");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  const Graph g = load_onnx(model_path("ppocrv4_rec.onnx"));
  int64_t hsig = 0;
  for (const Node& n : g.nodes) hsig += n.op_type == "HardSigmoid";
  ASSERT_EQ(doc["find"]["nodes"].size(), static_cast<size_t>(hsig));
  for (const auto& n : doc["find"]["nodes"]) EXPECT_EQ(g.nodes[n["index"].get<size_t>()].op_type, "HardSigmoid");
  ASSERT_EQ(doc["structure"]["nodes"].size(), g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    EXPECT_EQ(doc["structure"]["nodes"][i]["name"], g.nodes[i].name);
    EXPECT_EQ(doc["structure"]["nodes"][i]["op"], g.nodes[i].op_type);
  }
  EXPECT_EQ(doc["model"]["opset"], g.opset());
  EXPECT_EQ(doc["input"]["tensors"][0]["shape"], nlohmann::json({1, 3, 48, 320}));
  EXPECT_FALSE(doc.contains("tensor"));
}

TEST_F(InspectCli, UnknownTensorIsOneLineExit2NoJson) {
  if (!have_model("ppocr_cls.onnx")) return;
  const Result r = run("inspect " + cls_args() + " --tensor no_such_tensor");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.out.empty()) << r.out.substr(0, 200);
  EXPECT_NE(r.err.find("netlens inspect: error: --tensor: no tensor named 'no_such_tensor'"), std::string::npos) << r.err;
  // One error line (the usage line that follows usage errors is the CLI's convention).
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << r.err;
}

TEST_F(InspectCli, MissingInputIsUsage) {
  const Result r = run("inspect " + model_path("ppocrv4_rec.onnx"));
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("missing --input"), std::string::npos) << r.err;
}

}  // namespace
