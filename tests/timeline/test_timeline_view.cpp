// The timeline in the frame driver (`render --timeline`, `view --timeline`) on the seeded training
// runs (make_runs.py): the frame follows the checkpoint, a picked neuron's value is the one
// `netlens infer --all` dumps for that checkpoint file and probe, the layer bars show the figure of
// `netlens timeline --json` (value, order, drawn colour), and a viewer that steps the scrubber with
// keys shows the same frame as the headless render of that checkpoint (Xvfb, lavapipe).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <sstream>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "runs_util.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using netlens::test::CmdResult;
using netlens::test::run_cmd;

namespace {

class TimelineView : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = netlens::test::timeline_runs(&why_);
    work_ = (fs::temp_directory_path() / ("netlens_tlview_" + std::to_string(::getpid()))).string();
    fs::create_directories(work_);
  }
  static void TearDownTestSuite() { fs::remove_all(work_); }
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "make_runs.py failed: " << why_; }

  static std::string bin() { return NETLENS_BINARY; }
  static std::string probe_flags() { return " --input " + dir_ + "/probe.npy --labels " + dir_ + "/probe_labels.npy --quiet"; }
  // `render healthy --timeline` at 800x500; returns stdout.
  static std::string render(const std::string& extra, const std::string& out) {
    const std::string cmd = bin() + " render " + dir_ + "/healthy --timeline" + probe_flags() + " --size 800x500 --out " + out + " " + extra;
    const CmdResult r = run_cmd(cmd);
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.err;
    return r.out;
  }
  // Pixels that differ between two PNGs (ImageMagick's compare -metric AE).
  static long differing_pixels(const std::string& a, const std::string& b) {
    // compare prints the count on stderr (exit 1 when the images differ, 2 on trouble).
    const CmdResult r = run_cmd("compare -metric AE " + a + " " + b + " null:");
    EXPECT_TRUE(r.status == 0 || r.status == 1) << "ImageMagick's compare failed (scripts/setup.sh installs imagemagick): " << r.err;
    return r.err.empty() ? -1 : std::atol(r.err.c_str());
  }
  // One pixel's RGB (ImageMagick's convert).
  static std::array<int, 3> pixel(const std::string& png, int x, int y) {
    const CmdResult r = run_cmd("convert " + png + " -format '%[fx:int(255*p{" + std::to_string(x) + "," + std::to_string(y) +
                                "}.r)] %[fx:int(255*p{" + std::to_string(x) + "," + std::to_string(y) + "}.g)] %[fx:int(255*p{" +
                                std::to_string(x) + "," + std::to_string(y) + "}.b)]' info:");
    std::array<int, 3> c{-1, -1, -1};
    std::sscanf(r.out.c_str(), "%d %d %d", &c[0], &c[1], &c[2]);
    return c;
  }
  static json last_json_line(const std::string& out) {
    std::string line, last;
    std::istringstream is(out);
    while (std::getline(is, line))
      if (!line.empty() && line[0] == '{') last = line;
    return last.empty() ? json() : json::parse(last);
  }

  static std::string dir_, why_, work_;
};
std::string TimelineView::dir_, TimelineView::why_, TimelineView::work_;

TEST_F(TimelineView, FrameFollowsCheckpointAndPickEqualsInfer) {
  const std::string a = work_ + "/c0.png", b = work_ + "/c6.png";
  // A pixel on the first Relu's volume and one on the second's (the overview of this 9-layer CNN at 800x500).
  const json p0 = last_json_line(render("--checkpoint 0 --pick 640,380", a));
  const json p6 = last_json_line(render("--checkpoint -1 --pick 420,100", b));
  const long diff = differing_pixels(a, b);
  std::printf("pixels differing between checkpoint 0 and 6: %ld of 400000\n", diff);
  EXPECT_GT(diff, 5000) << "the first and last checkpoints drew (almost) the same activations";
  // Each pick against `netlens infer --all` on that checkpoint's ONNX file with the same probe.
  for (const auto& [pick, file] : {std::pair{p0, std::string("epoch_0")}, std::pair{p6, std::string("epoch_6")}}) {
    ASSERT_TRUE(pick.is_object() && pick.contains("tensor")) << "the pick hit no neuron: " << pick.dump();
    const std::string dump = work_ + "/dump_" + file;
    const CmdResult inf = run_cmd(bin() + " infer " + dir_ + "/healthy/" + file + ".onnx --input " + dir_ + "/probe.npy --all --dump " + dump);
    ASSERT_EQ(inf.status, 0) << inf.err;
    std::ifstream f(dump + "/index.json");
    const json index = json::parse(f);
    const std::string tensor = pick["tensor"];
    ASSERT_TRUE(index.contains(tensor)) << tensor;
    std::string idx;
    for (const json& i : pick["tensor_index"]) idx += (idx.empty() ? "" : ",") + std::to_string(i.get<long>());
    const CmdResult py = run_cmd("/usr/bin/python3 -c \"import numpy as np; print(repr(float(np.load('" + dump + "/" +
                                 index[tensor]["file"].get<std::string>() + "')[" + idx + "])))\"");
    ASSERT_EQ(py.status, 0) << py.err;
    const double want = std::stod(py.out), got = pick["value"].get<double>();
    std::printf("%s %s[%s]: render %.9g, infer %.9g\n", file.c_str(), tensor.c_str(), idx.c_str(), got, want);
    // The pick prints 9 significant digits of the same float32 (the session runs the same CPU kernels).
    EXPECT_NE(want, 0.0) << "picked a dead unit: the comparison would say little";
    EXPECT_NEAR(got, want, 1e-6 * std::max(1.0, std::fabs(want)));
  }
}

TEST_F(TimelineView, BarsFollowTheTimelineFigure) {
  const std::string rep = work_ + "/report.json";
  const CmdResult t = run_cmd(bin() + " timeline " + dir_ + "/healthy" + probe_flags() + " --json --out " + rep + " > /dev/null");
  ASSERT_EQ(t.status, 0) << t.err;
  std::ifstream f(rep);
  const json report = json::parse(f);
  for (const std::string figure : {"update_ratio", "grad_norm"}) {
    const std::string png = work_ + "/bars_" + figure + ".png";
    const json bars = last_json_line(render("--ui --checkpoint 3 --timeline-color " + figure, png));
    ASSERT_TRUE(bars.contains("bars")) << bars.dump();
    ASSERT_GE(bars["bars"].size(), 3u) << "too few bars on screen: " << bars.dump();
    const json& ck = report["checkpoints"][3];
    // Each bar's value is the report's figure of its layer at checkpoint 3.
    std::vector<std::pair<double, json>> by_value;
    for (const json& b : bars["bars"]) {
      size_t l = 0;
      while (l < report["layers"].size() && report["layers"][l]["node"] != b["node"]) ++l;
      ASSERT_LT(l, report["layers"].size()) << b.dump();
      const double want = ck["layers"][l][figure].get<double>();
      EXPECT_NEAR(b["value"].get<double>(), want, 1e-5 * std::fabs(want)) << b["node"];
      by_value.emplace_back(want, b);
    }
    // The tint order follows the figure: a larger value has a taller bar and a brighter colour.
    std::sort(by_value.begin(), by_value.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    auto luma = [](const json& rgb) { return 0.2126 * rgb[0].get<double>() + 0.7152 * rgb[1].get<double>() + 0.0722 * rgb[2].get<double>(); };
    for (size_t i = 1; i < by_value.size(); ++i) {
      EXPECT_GE(by_value[i].second["rect"][3].get<double>(), by_value[i - 1].second["rect"][3].get<double>());
      EXPECT_GT(luma(by_value[i].second["rgb"]), luma(by_value[i - 1].second["rgb"]) - 1e-9) << figure;
    }
    // Drawn: the middle of each bar has the bar's colour in the PNG (the panels' overlay, 8-bit).
    for (const json& b : bars["bars"]) {
      const double x = b["rect"][0].get<double>() + 0.5 * b["rect"][2].get<double>();
      const double y = b["rect"][1].get<double>() + 0.5 * b["rect"][3].get<double>();
      const auto c = pixel(png, static_cast<int>(x), static_cast<int>(y));
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(c[k], b["rgb"][k].get<int>(), 3) << b["node"] << " channel " << k << " at " << x << "," << y;
    }
  }
}

TEST_F(TimelineView, ViewerScrubbedByKeysEqualsHeadlessRender) {
  ASSERT_EQ(run_cmd("command -v xvfb-run").status, 0) << "xvfb-run not found (scripts/setup.sh installs xvfb)";
  const std::string script = work_ + "/script.txt", shot = work_ + "/viewer.png", ref = work_ + "/ref2.png";
  {
    std::ofstream s(script);
    // Panels hidden (H): the 3D frame alone, as `render` draws it without --ui.
    s << "frames 2\nkey right\nframes 2\nkey right\nframes 3\nkey h\nframes 3\nscreenshot " << shot << "\nframes 1\nclose\n";
  }
  const std::string cmd = "timeout 300 xvfb-run -a -s '-screen 0 1280x1024x24' " + bin() + " view " + dir_ + "/healthy --timeline" +
                          probe_flags() + " --checkpoint 0 --size 800x500 --script " + script;
  const CmdResult v = run_cmd(cmd);
  ASSERT_EQ(v.status, 0) << cmd << "\n" << v.err;
  ASSERT_TRUE(fs::exists(shot)) << v.err;
  render("--checkpoint 2", ref);
  const long d = differing_pixels(shot, ref);
  std::printf("viewer after two steps vs render --checkpoint 2: %ld differing pixels\n", d);
  EXPECT_EQ(d, 0);
  // G: the gradients of the probe's cross-entropy that Series::load made, as render --values gradient.
  const std::string gshot = work_ + "/viewer_grad.png", gref = work_ + "/ref2_grad.png";
  {
    std::ofstream s(script);
    s << "frames 2\nkey right\nframes 2\nkey right\nframes 2\nkey h\nkey g\nframes 3\nscreenshot " << gshot << "\nframes 1\nclose\n";
  }
  const CmdResult vg = run_cmd(cmd);
  ASSERT_EQ(vg.status, 0) << cmd << "\n" << vg.err;
  render("--checkpoint 2 --values gradient", gref);
  const long dg = differing_pixels(gshot, gref);
  std::printf("viewer gradients at checkpoint 2 vs render --values gradient: %ld differing pixels\n", dg);
  EXPECT_EQ(dg, 0);
  EXPECT_GT(differing_pixels(gshot, ref), 10000) << "G did not switch to gradients";
  // ... and not the frame of the checkpoint it started from.
  const std::string ref0 = work_ + "/ref0.png";
  render("--checkpoint 0", ref0);
  EXPECT_GT(differing_pixels(shot, ref0), 1000);
}

TEST_F(TimelineView, BadFlagsAreOneLineEach) {
  const std::string base = bin() + " render " + dir_ + "/healthy --timeline --quiet --out " + work_ + "/bad.png";
  const std::string probe = " --input " + dir_ + "/probe.npy";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base + probe + " --ui --timeline-color loss", "--timeline-color expects weight_change, update_ratio, grad_norm or dead_share"},
      {base + probe + " --timeline-color grad_norm", "--timeline-color colours the layer bars the panels draw: give --ui"},
      {base + probe + " --checkpoint 7", "--checkpoint 7: the series has 7 checkpoints"},
      {base + probe + " --checkpoint -2", "--checkpoint expects 0..N-1 or -1"},
      {base, "--input FILE (the probe: .npy or an image) is required"},
      {bin() + " render " + dir_ + "/no_such_run --timeline" + probe + " --out " + work_ + "/bad.png", "no_such_run"},
  };
  for (const auto& [cmd, want] : cases) {
    const CmdResult r = run_cmd(cmd);
    EXPECT_NE(r.status, 0) << cmd;
    EXPECT_NE(r.err.find(want), std::string::npos) << cmd << "\n" << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(work_ + "/bad.png")) << cmd;
  }
}

}  // namespace
