// The set-up the gradient-mode view tests share (test_flow_strip, test_input_heat,
// test_explain_panel): MobileNetV2 run on the CPU on chelsea.png (224x224, ImageNet mean/std), the
// input also written as DIR/x.npy for the `netlens` processes the tests compare with.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace netlens::test {

struct MobileNetRun {
  std::filesystem::path model, dir;  // dir: a fresh folder under the test's temporary directory
  Tensor x;                          // the preprocessed photo, as DIR/x.npy holds it
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Session> s;        // prepared and run once on x
  std::string input;                 // the model's input name
};

// Fills r (call through ASSERT_NO_FATAL_FAILURE: a missing model or photo fails the test).
inline void run_mobilenet_on_chelsea(const std::string& dir_name, MobileNetRun& r) {
  namespace fs = std::filesystem;
  r.model = fs::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  const fs::path photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
  ASSERT_TRUE(fs::exists(r.model)) << r.model;
  ASSERT_TRUE(fs::exists(photo)) << photo;
  r.dir = fs::path(::testing::TempDir()) / dir_name;
  fs::create_directories(r.dir);
  ImagePreprocess pp{.width = 224, .height = 224, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  r.x = load_image(photo.string(), pp);
  write_npy((r.dir / "x.npy").string(), r.x);
  r.cpu = make_cpu_backend();
  r.s = std::make_unique<Session>(load_onnx(r.model.string()), std::vector<Backend*>{r.cpu.get()});
  r.input = r.s->graph().inputs.front().name;
  r.s->prepare({{r.input, r.x.shape()}});
  r.s->run({{r.input, r.x}});
}

}  // namespace netlens::test
