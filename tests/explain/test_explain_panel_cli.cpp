// The viewer's value modes (issue 14 in `netlens view`): G (the View panel's switch) shows the
// gradients, then gradient x activation, of the top class on MobileNetV2 with the chelsea photo; each
// frame (panels hidden) equals `netlens render --values gradient|attribution` with the same model,
// input and size pixel for pixel (Xvfb, lavapipe), and differs from the activations' frame.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.hpp"

namespace fs = std::filesystem;
using netlens::test::run_shell;

namespace {

const std::string kModel = std::string(NETLENS_CACHE_DIR) + "/models/mobilenet_v2.onnx";
const std::string kPhoto = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";

long differing_pixels(const std::string& a, const std::string& b) {
  // compare prints the count on stderr (exit 1 when the images differ, 2 on trouble).
  const auto r = run_shell("compare -metric AE " + a + " " + b + " null:");
  EXPECT_TRUE(r.status == 0 || r.status == 1) << "ImageMagick's compare failed: " << r.err;
  return r.err.empty() ? -1 : std::atol(r.err.c_str());
}

TEST(ExplainPanel, ViewerGradientModesEqualRenderValues) {
  ASSERT_TRUE(fs::exists(kModel)) << kModel << " missing: run scripts/fetch-models.sh";
  ASSERT_TRUE(fs::exists(kPhoto)) << kPhoto << " missing (python3-skimage)";
  ASSERT_EQ(run_shell("command -v xvfb-run").status, 0) << "xvfb-run not found (scripts/setup.sh installs xvfb)";
  const fs::path work = fs::temp_directory_path() / ("netlens_explain_panel_" + std::to_string(::getpid()));
  fs::create_directories(work);
  const std::string act = (work / "act.png").string(), grad = (work / "grad.png").string(), attr = (work / "attr.png").string();
  {
    std::ofstream s(work / "script.txt");
    // A screenshot is written after the next frame: each is followed by a frame before the next key.
    s << "frames 2\nkey h\nframes 2\nscreenshot " << act << "\nframes 1\nkey g\nframes 3\nscreenshot " << grad
      << "\nframes 1\nkey g\nframes 3\nscreenshot " << attr << "\nframes 1\nclose\n";
  }
  const std::string bin = NETLENS_BINARY;
  const std::string cmd = "timeout 600 xvfb-run -a -s '-screen 0 1280x1024x24' " + bin + " view " + kModel + " --input " + kPhoto +
                          " --size 800x500 --script " + (work / "script.txt").string();
  const auto v = run_shell(cmd);
  ASSERT_EQ(v.status, 0) << cmd << "\n" << v.err;
  EXPECT_NE(v.err.find("showing gradients of the logit of the top class"), std::string::npos) << v.err;
  for (const auto& [mode, shot] : {std::pair{std::string("gradient"), grad}, std::pair{std::string("attribution"), attr}}) {
    const std::string ref = (work / ("ref_" + mode + ".png")).string();
    const auto r = run_shell(bin + " render " + kModel + " --input " + kPhoto + " --size 800x500 --values " + mode + " --out " + ref);
    ASSERT_EQ(r.status, 0) << r.err;
    const long d = differing_pixels(shot, ref), vs_act = differing_pixels(shot, act);
    std::printf("viewer %s frame vs render --values %s: %ld differing pixels; vs the activations' frame: %ld\n", mode.c_str(),
                mode.c_str(), d, vs_act);
    EXPECT_EQ(d, 0) << mode;
    EXPECT_GT(vs_act, 10000) << mode << ": the switch did not recolour the view";
  }
  fs::remove_all(work);
}

}  // namespace
