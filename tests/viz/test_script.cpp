// The viewer's script parser (viz::parse_script) and the fuzzers' finds for the text readers of
// this module: viewer scripts (tests/viz/inputs/script) and camera files (tests/viz/inputs/camera).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "netlens/viz/camera.hpp"
#include "netlens/core.hpp"
#include "netlens/viz/script.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using namespace netlens::viz;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// parse_script must refuse `text` with one Error{Usage} line holding every needle.
void expect_refused(const std::string& text, std::vector<std::string> needles) {
  try {
    parse_script(text, "s.txt");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::Usage) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' missing in: " << msg;
  }
}

}  // namespace

TEST(ViewerScript, ParsesCommandsNumbersAndComments) {
  const auto cmds = parse_script("# tour\n\nframes 5\n  click 10.5 -3 # here\nkey esc\nscale global 1 99\n"
                                 "move 1 0 0.5 2\nscale layer\nsave-camera c.json",  // no final newline
                                 "s.txt");
  ASSERT_EQ(cmds.size(), 7u);
  EXPECT_EQ(cmds[0].line, 3);
  EXPECT_EQ(cmds[0].name, "frames");
  EXPECT_EQ(cmds[0].nums, (std::vector<double>{5}));
  EXPECT_EQ(cmds[1].line, 4);
  EXPECT_EQ(cmds[1].name, "click");
  EXPECT_EQ(cmds[1].args, (std::vector<std::string>{"10.5", "-3"}));
  EXPECT_EQ(cmds[1].nums, (std::vector<double>{10.5, -3}));
  EXPECT_EQ(cmds[2].args, (std::vector<std::string>{"esc"}));
  EXPECT_TRUE(cmds[2].nums.empty());
  EXPECT_EQ(cmds[3].nums, (std::vector<double>{1, 99}));  // scale: LO HI only
  EXPECT_EQ(cmds[4].nums, (std::vector<double>{1, 0, 0.5, 2}));
  EXPECT_TRUE(cmds[5].nums.empty());
  EXPECT_EQ(cmds[6].line, 9);
  EXPECT_EQ(cmds[6].args, (std::vector<std::string>{"c.json"}));
  EXPECT_TRUE(parse_script("", "s.txt").empty());
  EXPECT_TRUE(parse_script("# only\n   \n", "s.txt").empty());
}

TEST(ViewerScript, BadLinesAreOneUsageLineNamingFileAndLine) {
  expect_refused("frames 1\nfrobnicate\n", {"s.txt:2", "unknown command 'frobnicate'"});
  expect_refused("click 1\n", {"s.txt:1", "'click' takes 2 argument(s)"});
  expect_refused("settle now\n", {"'settle' takes 0 argument(s)"});
  expect_refused("frames lots\n", {"'lots' is not a number"});
  expect_refused("frames 5x\n", {"'5x' is not a number"});
  expect_refused("scroll inf\n", {"'inf' is not a number"});
  expect_refused("scroll nan\n", {"'nan' is not a number"});
  expect_refused("key F13\n", {"unknown key 'F13'"});
  expect_refused("lod median\n", {"lod takes 'max' or 'mean'"});
  expect_refused("scale both\n", {"scale takes 'layer' or 'global'"});
  expect_refused("scale layer 1\n", {"then optionally LO HI"});
  // Finite but beyond what the viewer's int/int64/float casts hold: refused, not undefined.
  expect_refused("frames 1e300\n", {"'1e300' is out of range", "'frames'"});
  expect_refused("resize 1e10 600\n", {"out of range"});
  expect_refused("resize 0 600\n", {"out of range"});
  expect_refused("drag 1e39 0\n", {"out of range"});
  expect_refused("scale global 0 1e300\n", {"out of range"});
}

TEST(ViewerScript, EveryKeyNameParses) {
  for (const std::string& k : script_key_names()) EXPECT_NO_THROW(parse_script("key " + k + "\n", "s.txt")) << k;
  EXPECT_EQ(script_key_names().size(), 24u);
}

TEST(ViewerScript, MissingFileIsAnIoError) {
  try {
    read_script("/nonexistent/netlens.script");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/netlens.script"), std::string::npos);
  }
}

// Fuzzer finds (scripts/run-fuzz.sh fuzz_viewer_script / fuzz_camera_json keep them here): each
// must parse or fail with one netlens::Error line, as the fuzz entries require.
TEST(FuzzRegressions, ViewerScript) {
  const fs::path dir = fs::path(NETLENS_VIZ_INPUTS) / "script";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    try {
      for (const auto& c : parse_script(read_file(e.path()), e.path().filename().string()))
        for (double v : c.nums) EXPECT_TRUE(std::isfinite(v) && std::fabs(v) <= 1e9) << e.path();
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), ErrorKind::Usage) << e.path() << ": " << err.what();
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << e.path();
    }
    ++n;
  }
  EXPECT_GT(n, 0) << dir << " is empty";
}

TEST(FuzzRegressions, CameraJson) {
  const fs::path dir = fs::path(NETLENS_VIZ_INPUTS) / "camera";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    try {
      const Camera c = camera_from_json(read_file(e.path()), e.path().filename().string());
      // Accepted: the writer and the reader agree on it.
      const Camera back = camera_from_json(camera_to_json(c), "round trip");
      EXPECT_EQ(back.target, c.target) << e.path();
      EXPECT_EQ(back.distance, c.distance) << e.path();
      EXPECT_EQ(back.cut, c.cut) << e.path();
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << e.path();
    }
    ++n;
  }
  EXPECT_GT(n, 0) << dir << " is empty";
}
