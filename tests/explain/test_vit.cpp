// Grad-CAM on a transformer without a hand-written reshape: torchvision's ViT-B/16 (random weights,
// scripts/export-torchvision.sh) on chelsea. The default layer is a token layer [1, 197, 768] laid on
// the 14 × 14 grid of its 16-pixel patches with the class token dropped (found from the patch
// embedding Conv), and the CAM on that grid equals a direct computation in this test that reshapes by
// hand (tokens 1..196 row-major onto 14 × 14): max difference ≤ 1e-5 of the largest value.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "netlens/cpu.hpp"
#include "netlens/explain.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"

using namespace netlens;
using namespace netlens::explain;

TEST(Vit, GradCamFindsTheTokenGridItself) {
  const std::string model = std::string(NETLENS_CACHE_DIR) + "/models/vit_b_16.onnx";
  ASSERT_TRUE(std::filesystem::exists(model)) << model << " missing: run scripts/export-torchvision.sh";
  auto cpu = make_cpu_backend();
  Graph g = load_onnx(model);
  const std::string in = g.inputs.at(0).name;
  Session s(std::move(g), {cpu.get()});
  ImagePreprocess pp;
  pp.width = pp.height = 224;
  pp.mean = {0.485f, 0.456f, 0.406f};
  pp.std = {0.229f, 0.224f, 0.225f};
  const std::map<std::string, Tensor> inputs = {{in, load_image("/usr/lib/python3/dist-packages/skimage/data/chelsea.png", pp)}};
  s.run(inputs);
  const Target t = resolve_target(s, parse_target("class:281"));
  MethodOptions o;
  o.method = Method::GradCam;
  const Explanation e = explain::explain(s, inputs, t, o);
  std::printf("default layer %s: %s grid %lldx%lld, class token %d, patch %lld, %lld channels\n", e.layer.tensor.c_str(),
              e.layer.tokens ? "tokens" : "nchw", static_cast<long long>(e.layer.h), static_cast<long long>(e.layer.w),
              e.layer.class_token, static_cast<long long>(e.layer.patch), static_cast<long long>(e.layer.channels));
  ASSERT_TRUE(e.layer.tokens);
  EXPECT_TRUE(e.layer.class_token);
  EXPECT_EQ(e.layer.h, 14);
  EXPECT_EQ(e.layer.w, 14);
  EXPECT_EQ(e.layer.patch, 16);
  EXPECT_EQ(e.layer.channels, 768);
  const Shape shape = s.info(e.layer.tensor).shape;  // [1, T, D], or [T, 1, D] (sequence first)
  ASSERT_TRUE(shape == (Shape{1, 197, 768}) || shape == (Shape{197, 1, 768})) << shape_str(shape);
  // Not a slice of the attention's Q/K/V: a layer of the residual stream (LayerNorm or Add).
  const int producer = s.activations().find(e.layer.tensor)->producer;
  const std::string op = s.graph().nodes[static_cast<size_t>(producer)].op_type;
  EXPECT_TRUE(op == "LayerNormalization" || op == "Add") << op;

  // Direct: A[y][x][c] = tokens[1 + 14y + x][c] (both layouts hold token t at t·768).
  const std::vector<float> a = s.activations().fetch(e.layer.tensor).to_f32_vector();
  const std::vector<float> gr = s.gradients().fetch(e.layer.tensor).to_f32_vector();
  std::vector<double> w(768, 0.0);
  for (int tok = 1; tok < 197; ++tok)
    for (int c = 0; c < 768; ++c) w[static_cast<size_t>(c)] += gr[static_cast<size_t>(tok * 768 + c)] / 196.0;
  std::vector<double> ref(196, 0.0);
  double top = 0;
  for (int tok = 1; tok < 197; ++tok) {
    double v = 0;
    for (int c = 0; c < 768; ++c) v += w[static_cast<size_t>(c)] * a[static_cast<size_t>(tok * 768 + c)];
    ref[static_cast<size_t>(tok - 1)] = std::max(v, 0.0);
    top = std::max(top, ref[static_cast<size_t>(tok - 1)]);
  }
  ASSERT_GT(top, 0) << "the CAM is zero everywhere: the patch tokens get no gradient on this layer";
  std::vector<float> grid;
  const Heatmap h = grad_cam(s, e.layer, false, 224, 224, &grid);
  ASSERT_EQ(grid.size(), 196u);
  double err = 0;
  for (size_t i = 0; i < 196; ++i) err = std::max(err, std::abs(grid[i] - ref[i]));
  std::printf("token Grad-CAM vs the hand reshape: max |difference| / max = %.3g\n", err / top);
  EXPECT_LE(err / top, 1e-5);
  EXPECT_EQ(h.values.size(), 224u * 224u);
}
