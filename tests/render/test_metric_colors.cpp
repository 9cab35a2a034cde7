// The metric overlay (ValueMode::Metric) drawn by the real renderer: MobileNetV2 on a real photo, a
// {name: value} JSON whose values are a shuffled permutation (half the keys node names, half tensor
// names), read by viz::tensor_metric as `render --metric FILE.json` reads it, the scene built as
// app::View builds it (value_fetch + mode_scene_options) and drawn on lavapipe with lighting, grid
// lines, labels, legend and connections off, so a pixel's colour is exactly its code's colour-map
// entry. Per layer, the code read back from its pixels (through the ID buffer) must be the code of
// its JSON value on the one shared scale, so the rank order of the layers' drawn colours is the rank
// order of the values (checked directly too); the input, which has no value, is drawn "no value".
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/viz/metrics.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/viz/values.hpp"

using namespace netlens;

namespace {

render::Context& context() {
  static render::Context ctx(render::ContextOptions{.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = false});
  return ctx;
}

// The code whose colour-map entry is nearest to a pixel (exact when nothing shades the colour).
int nearest_code(const std::array<glm::vec3, 256>& lut, const uint8_t* px, int* dist) {
  int best = -1, bd = 1 << 30;
  for (int c = 0; c < 256; ++c) {
    int d = 0;
    for (int k = 0; k < 3; ++k) {
      const int v = static_cast<int>(std::lround(std::clamp(lut[static_cast<size_t>(c)][k], 0.0f, 1.0f) * 255.0f));
      d += (v - px[k]) * (v - px[k]);
    }
    if (d < bd) bd = d, best = c;
  }
  *dist = bd;
  return best;
}

TEST(MetricOverlay, DrawnColoursFollowTheValues) {
  const auto model = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  ASSERT_TRUE(std::filesystem::exists(model)) << model << " missing: run scripts/test.sh (it exports the models)";
  ImagePreprocess pp{.width = 224, .height = 224, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  const Tensor x = load_image("/usr/lib/python3/dist-packages/skimage/data/chelsea.png", pp);
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(load_onnx(model.string()), {cpu.get()});
  s.prepare({{"input", x.shape()}});
  s.run({{"input", x}});
  viz::Layout layout = viz::layout_tensors(viz::shown_tensors(s.graph(), s.planned()).tensors);
  ASSERT_GT(layout.layers.size(), 50u);

  // Values: a shuffled permutation of 1..n, scaled; layer 0 (the input) gets none.
  const size_t n = layout.layers.size();
  std::vector<double> perm(n - 1);
  std::iota(perm.begin(), perm.end(), 1.0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
  std::map<std::string, double> want;  // tensor → value
  const auto path = std::filesystem::temp_directory_path() / "netlens_metric_colors.json";
  {
    std::ofstream f(path);
    f << "{";
    for (size_t i = 1; i < n; ++i) {
      const std::string& t = layout.layers[i].tensor.name;
      const PlannedTensor* pt = s.activations().find(t);
      ASSERT_TRUE(pt && pt->producer >= 0) << t;
      // Half by node name (as `bench --profile` names nodes), half by tensor name.
      const std::string key = i % 2 ? s.graph().nodes[static_cast<size_t>(pt->producer)].name : t;
      const double v = 0.25 * perm[i - 1] + 3.0;
      want[t] = v;
      f << (i > 1 ? ", " : "") << "\"" << key << "\": " << v;
    }
    f << ", \"not_in_the_graph\": 1}";
  }
  std::vector<std::string> names;
  for (const auto& l : layout.layers) names.push_back(l.tensor.name);
  const viz::MetricValues mv = viz::tensor_metric(s, names, viz::parse_metric(path.string()));
  std::filesystem::remove(path);
  EXPECT_EQ(mv.by_tensor, want);  // a node's multi-output? none here: each node key gives its tensor
  EXPECT_EQ(mv.unknown, std::vector<std::string>{"not_in_the_graph"});

  viz::ValueSources src;
  src.metric = mv.by_tensor;
  const viz::Scene scene = viz::build_scene(layout, viz::value_fetch(s, viz::ValueMode::Metric, src),
                                            viz::mode_scene_options(viz::ValueMode::Metric, {}));
  const viz::ColorScale sc = scene.layers[1].scale;
  EXPECT_EQ(sc.kind, viz::ColorMapKind::Sequential);
  const int W = 1600, H = 900;
  render::Renderer r(context(), scene,
                     render::RenderOptions{.width = W, .height = H, .msaa = 1, .lighting = false, .grid_lines = false,
                                           .labels = false, .legend = false, .connections = false, .selection_lines = false});
  r.render(viz::overview_camera(layout, float(W) / float(H)));
  const auto lut = viz::code_lut(sc.kind);
  std::vector<std::map<int, int64_t>> codes(n);  // per layer: code → pixels
  int worst = 0;
  for (int y = 0; y < H; ++y)
    for (int xx = 0; xx < W; ++xx) {
      const auto [id, flat] = r.id_at(xx, y);
      if (id == 0) continue;
      int d = 0;
      const int c = nearest_code(lut, &r.rgba()[(static_cast<size_t>(y) * W + static_cast<size_t>(xx)) * 4], &d);
      worst = std::max(worst, d);
      ++codes[id - 1][c];
    }
  EXPECT_LE(worst, 3) << "a pixel's colour is no colour-map entry (something shades the colours)";
  std::vector<std::pair<double, int>> drawn;  // (value, drawn code) of every visible layer
  for (size_t i = 0; i < n; ++i) {
    if (codes[i].empty()) continue;
    const int mode = std::max_element(codes[i].begin(), codes[i].end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
    if (i == 0) {
      EXPECT_EQ(mode, viz::kCodeNonFinite) << "the input has no value";
      continue;
    }
    const double v = want[layout.layers[i].tensor.name];
    EXPECT_EQ(mode, viz::encode(static_cast<float>(v), sc)) << layout.layers[i].tensor.name << " value " << v;
    drawn.emplace_back(v, mode);
  }
  ASSERT_GT(drawn.size(), n * 3 / 4) << "most layers must be visible in the overview";
  std::sort(drawn.begin(), drawn.end());
  int strict = 0;
  for (size_t k = 1; k < drawn.size(); ++k) {
    EXPECT_LE(drawn[k - 1].second, drawn[k].second) << "values " << drawn[k - 1].first << " < " << drawn[k].first
                                                    << " drawn in codes " << drawn[k - 1].second << " > " << drawn[k].second;
    strict += drawn[k - 1].second < drawn[k].second;
  }
  // 251 colour steps over ~100 distinct values: nearly every step is a different colour.
  EXPECT_GT(strict, static_cast<int>(drawn.size()) * 9 / 10);
  std::printf("%zu visible layers, %d strictly increasing colour steps, lowest code %d, highest %d\n", drawn.size(), strict,
              drawn.front().second, drawn.back().second);
  EXPECT_EQ(context().validation_error_count(), 0u);
}

}  // namespace
