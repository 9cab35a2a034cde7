// netlens timeline on real training runs (make_runs.py: seeded PyTorch training on the 8x8 digits):
// the diagnosis flags each broken run for its cause and leaves the healthy run alone; every per-layer
// figure equals an independent NumPy/PyTorch computation on the same checkpoints (reference.py);
// the loading paths (ONNX files, graph + .npy folders, reused or per-checkpoint sessions, manifest)
// agree; bad input is one error line.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "netlens/cpu.hpp"
#include "netlens/timeline.hpp"
#include "runs_util.hpp"
#include "test_util.hpp"

namespace netlens::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class Runs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = timeline_runs(&why_); }
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << why_; }

  // Runs netlens timeline and returns its JSON report (the --out file).
  static json report(const std::string& checkpoints, const std::string& eval = "", const std::string& extra = "") {
    const std::string out = dir_ + "/report_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++) + ".json";
    std::string cmd = std::string(NETLENS_BINARY) + " timeline " + checkpoints + " --input " + dir_ + "/probe.npy --labels " +
                      dir_ + "/probe_labels.npy --quiet --json --out " + out + " " + extra;
    if (!eval.empty()) cmd += " --eval " + dir_ + "/" + eval;
    const CmdResult r = run_cmd(cmd + " > /dev/null");
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.err;
    std::ifstream f(out);
    json j = json::parse(f);
    fs::remove(out);
    return j;
  }
  static std::set<std::string> kinds(const json& r) {
    std::set<std::string> k;
    for (const json& f : r["findings"]) k.insert(f["kind"].get<std::string>());
    return k;
  }
  static std::string findings_text(const json& r) {
    std::string s;
    for (const json& f : r["findings"]) s += f["kind"].get<std::string>() + ": " + f["message"].get<std::string>() + "\n";
    return s.empty() ? "(none)" : s;
  }

  static std::string dir_, why_;
  static int counter_;
};
std::string Runs::dir_, Runs::why_;
int Runs::counter_ = 0;

TEST_F(Runs, HealthyRunIsNotFlagged) {
  const json r = report(dir_ + "/healthy", "data");
  EXPECT_TRUE(r["findings"].empty()) << findings_text(r);
  EXPECT_TRUE(r["reused_session"].get<bool>());
  const json& last = r["checkpoints"].back();
  ASSERT_EQ(last["eval"].size(), 2u);
  EXPECT_EQ(last["eval"][1]["split"], "validation");
  EXPECT_GT(last["eval"][1]["accuracy"].get<double>(), 0.9);  // it really learned
  EXPECT_EQ(last["eval"][0]["count"].get<int>() + last["eval"][1]["count"].get<int>(), 1797);
}

TEST_F(Runs, DeepSigmoidRunHasVanishingGradients) {
  const json r = report(dir_ + "/vanishing", "data");
  ASSERT_TRUE(kinds(r).count("vanishing_gradients")) << findings_text(r);
  for (const json& f : r["findings"])
    if (f["kind"] == "vanishing_gradients") {
      EXPECT_EQ(f["layers"][0], r["layers"][0]["node"]);
      EXPECT_LT(f["figures"]["grad_rms_ratio_median"].get<double>(), 1e-3);
    }
  EXPECT_TRUE(kinds(r).count("underfitting")) << findings_text(r);  // it never learned
  EXPECT_FALSE(kinds(r).count("overfitting"));
}

TEST_F(Runs, LargeInitSigmoidRunIsSaturated) {
  const json r = report(dir_ + "/saturated", "data");
  ASSERT_TRUE(kinds(r).count("saturation")) << findings_text(r);
  for (const json& f : r["findings"])
    if (f["kind"] == "saturation") {
      EXPECT_GE(f["layers"].size(), 4u);
    }
  EXPECT_FALSE(kinds(r).count("dying_relu"));
}

TEST_F(Runs, HighLearningRateRunHasDyingRelus) {
  const json r = report(dir_ + "/high_lr", "data");
  const auto k = kinds(r);
  EXPECT_TRUE(k.count("dying_relu") || k.count("exploding_gradients")) << findings_text(r);
  EXPECT_TRUE(k.count("dying_relu")) << findings_text(r);  // this seed kills them rather than diverging
  EXPECT_FALSE(k.count("overfitting"));
}

TEST_F(Runs, TinyTrainingSetRunIsOverfitting) {
  const json r = report(dir_ + "/overfit", "tiny");
  ASSERT_TRUE(kinds(r).count("overfitting")) << findings_text(r);
  EXPECT_FALSE(kinds(r).count("underfitting")) << findings_text(r);
  EXPECT_FALSE(kinds(r).count("vanishing_gradients")) << findings_text(r);
  for (const json& f : r["findings"])
    if (f["kind"] == "overfitting") {
      EXPECT_GT(f["figures"]["validation_loss_last"].get<double>(), f["figures"]["validation_loss_min"].get<double>());
      EXPECT_LT(f["figures"]["train_loss_last"].get<double>(), f["figures"]["train_loss_at_min"].get<double>());
    }
}

// Tolerances: weight norms, changes and ratios are float64 sums over the same float32 values in both
// (1e-9 relative); activations, gradients and losses come from two float32 engines (oneDNN vs PyTorch)
// whose summation orders differ: 1e-4 relative (measured worst: gradient norm 2.2e-5 on the saturated
// run, whose weights are N(0, 4²); eval loss 6e-5 on the overfit run, whose validation logits are
// large; elsewhere below 1e-6). Dead channels, saturated shares and accuracies match exactly.
void check_reference(const std::string& dir, const std::string& run, const std::string& eval, const json& r) {
  const std::string rep = dir + "/ref_" + run + "_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream f(rep);
    f << r.dump();
  }
  const CmdResult c = run_cmd("/usr/bin/python3 " + std::string(NETLENS_SOURCE_DIR) + "/tests/timeline/reference.py " + dir +
                              "/" + run + " " + rep + " " + dir + "/probe.npy " + dir + "/probe_labels.npy " + dir + "/" + eval);
  fs::remove(rep);
  ASSERT_EQ(c.status, 0) << c.err;
  const json ref = json::parse(c.out);
  SCOPED_TRACE(run + ": " + c.out);
  for (const char* k : {"weight_norm", "delta_norm", "update_ratio"}) EXPECT_LT(ref["worst"][k].get<double>(), 1e-9) << k;
  for (const char* k : {"grad_norm", "act_mean", "act_std", "probe_loss", "eval_loss"})
    EXPECT_LT(ref["worst"][k].get<double>(), 1e-4) << k;
  EXPECT_LT(ref["worst"]["saturated_share"].get<double>(), 1e-3);
  for (const auto& [k, v] : ref["mismatch"].items()) EXPECT_EQ(v.get<int>(), 0) << k;
  EXPECT_EQ(ref["layer_points"].get<size_t>(), r["checkpoints"].size() * r["layers"].size());
}

TEST_F(Runs, FiguresEqualNumpyAndPytorch) {
  check_reference(dir_, "healthy", "data", report(dir_ + "/healthy", "data"));
  check_reference(dir_, "vanishing", "data", report(dir_ + "/vanishing", "data"));
  check_reference(dir_, "saturated", "data", report(dir_ + "/saturated", "data"));
  check_reference(dir_, "high_lr", "data", report(dir_ + "/high_lr", "data"));
  check_reference(dir_, "overfit", "tiny", report(dir_ + "/overfit", "tiny"));
}

// Same figures whatever the loading path. Weight figures are identical (same bytes); forward and
// backward through constant vs input weights may pick other oneDNN kernels: 1e-5 relative.
void expect_same_figures(const json& a, const json& b) {
  ASSERT_EQ(a["checkpoints"].size(), b["checkpoints"].size());
  auto close = [](const json& x, const json& y, double tol, const std::string& what) {
    if (x.is_null() || y.is_null()) {
      EXPECT_EQ(x.is_null(), y.is_null()) << what;
      return;
    }
    const double u = x.get<double>(), v = y.get<double>();
    EXPECT_LE(std::fabs(u - v), tol * std::max(std::fabs(v), 1e-6)) << what << ": " << u << " vs " << v;
  };
  for (size_t c = 0; c < a["checkpoints"].size(); ++c) {
    const json& p = a["checkpoints"][c];
    const json& q = b["checkpoints"][c];
    EXPECT_EQ(p["name"], q["name"]);
    close(p["probe_loss"], q["probe_loss"], 1e-5, "probe_loss");
    for (size_t l = 0; l < p["layers"].size(); ++l) {
      const std::string at = p["name"].get<std::string>() + " " + p["layers"][l]["node"].get<std::string>();
      for (const char* k : {"weight_norm", "delta_norm", "update_ratio"}) close(p["layers"][l][k], q["layers"][l][k], 1e-12, at + " " + k);
      close(p["layers"][l]["grad_norm"], q["layers"][l]["grad_norm"], 1e-5, at + " grad_norm");
      close(p["layers"][l]["activation"]["mean"], q["layers"][l]["activation"]["mean"], 1e-5, at + " mean");
      EXPECT_EQ(p["layers"][l]["activation"]["dead_channels"], q["layers"][l]["activation"]["dead_channels"]) << at;
    }
  }
  EXPECT_EQ(a["findings"].size(), b["findings"].size());
}

TEST_F(Runs, LoadingPathsAgree) {
  const json files = report(dir_ + "/healthy");
  const json npy = report(dir_ + "/healthy_npy");
  EXPECT_EQ(npy["graph"], dir_ + "/healthy_npy/graph.onnx");
  expect_same_figures(npy, files);
  const json fresh = report(dir_ + "/healthy", "", "--no-reuse");
  EXPECT_FALSE(fresh["reused_session"].get<bool>());
  expect_same_figures(fresh, files);
  // Natural name order: epoch_10 would come after epoch_9; here epoch_0 .. epoch_6.
  for (size_t c = 0; c < files["checkpoints"].size(); ++c)
    EXPECT_EQ(files["checkpoints"][c]["name"], "epoch_" + std::to_string(c));
  const json over = report(dir_ + "/overfit");
  EXPECT_EQ(over["checkpoints"][2]["name"], "epoch_30");  // not epoch_105 (plain string order)
}

TEST_F(Runs, ManifestGivesTheOrder) {
  TempDir t;
  {
    std::ofstream m(t / "manifest.txt");
    m << "# newest first\n" << dir_ << "/healthy/epoch_6.onnx\n\n" << dir_ << "/healthy/epoch_2.onnx  \n";
  }
  fs::copy_file(dir_ + "/healthy/epoch_0.onnx", t / "epoch_0.onnx");  // ignored: the manifest decides
  const json r = report(t.path().string());
  EXPECT_EQ(r["order"], "manifest");
  ASSERT_EQ(r["checkpoints"].size(), 2u);
  EXPECT_EQ(r["checkpoints"][0]["name"], "epoch_6");
  EXPECT_EQ(r["checkpoints"][1]["name"], "epoch_2");
}

// A folder of class folders is one "eval" split: the validation folder on its own gives the
// validation split's figures; an image probe is a batch of one.
TEST_F(Runs, EvalFolderAndImageProbe) {
  const json both = report(dir_ + "/healthy", "data");
  const json one = report(dir_ + "/healthy", "data/val");
  ASSERT_EQ(one["checkpoints"][3]["eval"].size(), 1u);
  EXPECT_EQ(one["checkpoints"][3]["eval"][0]["split"], "eval");
  EXPECT_EQ(one["checkpoints"][3]["eval"][0]["loss"], both["checkpoints"][3]["eval"][1]["loss"]);
  EXPECT_EQ(one["checkpoints"][3]["eval"][0]["accuracy"], both["checkpoints"][3]["eval"][1]["accuracy"]);
  const std::string png = dir_ + "/data/val/3/" + fs::directory_iterator(dir_ + "/data/val/3")->path().filename().string();
  const CmdResult c = run_cmd(std::string(NETLENS_BINARY) + " timeline " + dir_ + "/healthy --input " + png +
                              " --label 3 --quiet --json");
  ASSERT_EQ(c.status, 0) << c.err;
  const json r = json::parse(c.out);
  EXPECT_GT(r["checkpoints"][6]["probe_accuracy"].get<double>(), 0.5);  // the trained net reads its 3
  EXPECT_EQ(r["checkpoints"][6]["layers"][0]["activation"]["channels"], 8);
}

// The viewer's use: load checkpoints in any order; the session holds the loaded checkpoint's probe
// activations, and the figures equal those of an in-order pass.
TEST_F(Runs, SeriesInAnyOrder) {
  auto cpu = make_cpu_backend();
  namespace tl = netlens::timeline;
  tl::Probe probe;
  probe.inputs["x"] = read_npy(dir_ + "/probe.npy");
  probe.labels = read_npy(dir_ + "/probe_labels.npy").to_i64_vector();
  tl::Series in_order(tl::discover_checkpoints({dir_ + "/healthy"}), {cpu.get()});
  std::vector<tl::CheckpointPoint> ref;
  for (size_t i = 0; i < in_order.size(); ++i) ref.push_back(in_order.load(i, probe));
  tl::Series s(tl::discover_checkpoints({dir_ + "/healthy"}), {cpu.get()});
  for (size_t i : {5u, 2u, 6u, 0u, 3u}) {
    const tl::CheckpointPoint& p = s.load(i, probe);
    EXPECT_EQ(s.current(), i);
    for (size_t l = 0; l < s.layers().size(); ++l) {
      EXPECT_DOUBLE_EQ(p.layers[l].weight_norm, ref[i].layers[l].weight_norm);
      if (i) {
        EXPECT_NEAR(p.layers[l].update_ratio, ref[i].layers[l].update_ratio, 1e-12 * ref[i].layers[l].update_ratio);
      }
      EXPECT_DOUBLE_EQ(p.layers[l].grad_norm, ref[i].layers[l].grad_norm);
      const tl::ActivationStats a = tl::activation_stats(s.session().activations().fetch(s.layers()[l].activation),
                                                         s.layers()[l].activation_op);
      EXPECT_DOUBLE_EQ(a.mean, ref[i].layers[l].act.mean);
    }
  }
  EXPECT_EQ(s.points().size(), 5u);
}

TEST_F(Runs, BadInputIsOneErrorLine) {
  const std::string bin = NETLENS_BINARY;
  CmdResult c = run_cmd(bin + " timeline " + dir_ + "/healthy/epoch_0.onnx " + dir_ + "/vanishing/epoch_0.onnx --input " +
                        dir_ + "/probe.npy");
  EXPECT_EQ(c.status, 1);
  EXPECT_NE(c.err.find("not the architecture of 'epoch_0'"), std::string::npos) << c.err;
  EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << c.err;
  c = run_cmd(bin + " timeline " + dir_ + "/healthy");
  EXPECT_EQ(c.status, 2) << c.err;
  c = run_cmd(bin + " timeline " + dir_ + "/healthy --input " + dir_ + "/probe.npy --label 12");
  EXPECT_EQ(c.status, 2) << c.err;
  EXPECT_NE(c.err.find("outside the model's 10 classes"), std::string::npos) << c.err;
  c = run_cmd(bin + " timeline " + dir_ + "/nowhere --input " + dir_ + "/probe.npy");
  EXPECT_EQ(c.status, 1) << c.err;
}

TEST_F(Runs, TableNamesTheFindings) {
  const CmdResult c = run_cmd(std::string(NETLENS_BINARY) + " timeline " + dir_ + "/vanishing --input " + dir_ +
                              "/probe.npy --labels " + dir_ + "/probe_labels.npy --quiet");
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("vanishing_gradients"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("/hidden.0/Gemm"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("epoch_6"), std::string::npos) << c.out;
}

}  // namespace
}  // namespace netlens::test
