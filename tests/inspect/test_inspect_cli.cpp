// `netlens inspect` as a user runs it, on PP-OCRv4 rec and a rendered text line: stdout is one JSON
// document; the tensor statistics agree with a direct computation on the .npy that
// `netlens infer --dump --all` writes for the same run; structure and activation sections agree
// with the model; an unknown tensor is one line on stderr, exit 2, and nothing on stdout.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "inspect_test_util.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using namespace netlens::inspect::test;

namespace {

struct Result {
  int status = -1;
  std::string out, err;
};

Result run(const std::string& args) {
  const fs::path err = fs::temp_directory_path() / ("netlens_inspect_cli_err_" + std::to_string(::getpid()));
  Result r;
  const std::string cmd = std::string(NETLENS_BINARY) + " " + args + " 2>" + err.string();
  FILE* p = popen(cmd.c_str(), "r");
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream f(err);
  std::stringstream ss;
  ss << f.rdbuf();
  r.err = ss.str();
  fs::remove(err);
  return r;
}

// The model flags of a PaddleOCR rec run on the sample line.
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
  fs::path dir;
};

TEST_F(InspectCli, TensorStatsMatchTheDumpedNpy) {
  if (!have_model("ppocrv4_rec.onnx")) return;
  // First run: the structure; pick a HardSwish block's output from its activation list.
  const Result first = run("inspect " + rec_args() + " --brief");
  ASSERT_EQ(first.status, 0) << first.err;
  const nlohmann::json doc0 = nlohmann::json::parse(first.out);
  std::string tensor;
  for (const auto& a : doc0["structure"]["activations"])
    if (a["kind"] == "HardSwish") {
      tensor = a["output"];
      break;
    }
  ASSERT_FALSE(tensor.empty());
  EXPECT_FALSE(doc0["structure"].contains("nodes"));  // --brief
  EXPECT_EQ(doc0["structure"]["node_count"], load_onnx(model_path("ppocrv4_rec.onnx")).nodes.size());

  const Result r = run("inspect " + rec_args() + " --tensor " + tensor + " --top 3 --find hardsigmoid");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);  // the whole of stdout is one document
  const Result dump = run("infer " + rec_args() + " --dump " + dir.string() + " --all");
  ASSERT_EQ(dump.status, 0) << dump.err;
  const Tensor t = read_npy((dir / (sanitize_tensor_name(tensor) + ".npy")).string());

  const nlohmann::json& s = doc["tensor"];
  EXPECT_EQ(s["name"], tensor);
  EXPECT_EQ(s["shape"].get<Shape>(), t.shape());
  EXPECT_EQ(s["count"], t.numel());
  const std::vector<double> v = finite_values(t);
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
  EXPECT_EQ(s["top_channels_by_max"].size(), 3u);
  // Dead channels: recomputed from the .npy (channel all exactly zero over batch and positions).
  const int64_t C = t.dim(1), inner = t.numel() / C;
  std::vector<int64_t> dead;
  for (int64_t c = 0; c < C; ++c) {
    bool zero = true;
    for (int64_t i = 0; i < inner && zero; ++i) zero = t.get_f64(c * inner + i) == 0;
    if (zero) dead.push_back(c);
  }
  EXPECT_EQ(s["producer_activation"], "HardSwish");
  EXPECT_EQ(s["dead_channels"]["indices"].get<std::vector<int64_t>>(), dead);
  EXPECT_TRUE(s["saturation"].is_null());

  // The activation section: the pattern, its x (also dumped) and the flat share x < −3.
  const nlohmann::json& a = s["activation"];
  ASSERT_TRUE(a.is_object());
  EXPECT_EQ(a["kind"], "HardSwish");
  EXPECT_TRUE(a["decomposed"].get<bool>());
  EXPECT_EQ(a["nodes"].size(), 4u);
  const Tensor x = read_npy((dir / (sanitize_tensor_name(a["input"].get<std::string>()) + ".npy")).string());
  const std::vector<double> xv = finite_values(x);
  const double flat = static_cast<double>(std::count_if(xv.begin(), xv.end(), [](double q) { return q < -3; }));
  EXPECT_DOUBLE_EQ(a["flat_fraction"].get<double>(), flat / static_cast<double>(xv.size()));
  EXPECT_EQ(a["curve"]["x"].size(), 256u);
  EXPECT_EQ(a["curve"]["y"].size(), 256u);

  // --find: every HardSigmoid node, by op (case-insensitive).
  int64_t hsig = 0;
  for (const Node& n : load_onnx(model_path("ppocrv4_rec.onnx")).nodes) hsig += n.op_type == "HardSigmoid";
  EXPECT_EQ(doc["find"]["nodes"].size(), static_cast<size_t>(hsig));
  EXPECT_EQ(doc["structure"]["nodes"].size(), doc["structure"]["node_count"].get<size_t>());
  EXPECT_EQ(doc["model"]["opset"], 9);
  EXPECT_EQ(doc["input"]["tensors"][0]["shape"], nlohmann::json({1, 3, 48, 320}));
}

TEST_F(InspectCli, UnknownTensorIsOneLineExit2NoJson) {
  if (!have_model("ppocrv4_rec.onnx")) return;
  const Result r = run("inspect " + rec_args() + " --tensor no_such_tensor");
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
