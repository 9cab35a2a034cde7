#include "scene.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace netlens::viz {

int64_t Scene::neurons() const {
  int64_t n = 0;
  for (const auto& l : layout.layers) n += l.dims.count;
  return n;
}

Scene build_scene_from_values(Layout layout, std::vector<std::vector<float>> values) {
  Scene s;
  s.layout = std::move(layout);
  const size_t n = s.layout.layers.size();
  if (values.size() != n) throw Error(ErrorKind::Internal, "build_scene: one value array per layer expected");
  s.layers.resize(n);
  uint64_t total0 = 0, totalp = 0;
  std::vector<std::vector<LevelDims>> lv(n);
  for (size_t i = 0; i < n; ++i) {
    const VolumeDims& d = s.layout.layers[i].dims;
    total0 += static_cast<uint64_t>(d.C * d.H * d.W);
    lv[i] = pyramid_levels(d.H, d.W);
    for (auto& l : lv[i]) totalp += static_cast<uint64_t>(d.C * l.h * l.w);
  }
  s.codes0.resize(total0);
  s.codes_max.resize(totalp);
  s.codes_mean.resize(totalp);
  uint64_t o0 = 0, op = 0;
  for (size_t i = 0; i < n; ++i) {
    const VolumeDims& d = s.layout.layers[i].dims;
    SceneLayer& L = s.layers[i];
    L.values = std::move(values[i]);
    if (static_cast<int64_t>(L.values.size()) != d.count)
      throw Error(ErrorKind::Internal, "build_scene: layer '" + s.layout.layers[i].tensor.name + "' has " +
                                           std::to_string(L.values.size()) + " values, expected " +
                                           std::to_string(d.count));
    L.scale = robust_scale(L.values);
    L.code0_offset = o0;
    const int64_t cells = d.C * d.H * d.W;
    for (int64_t k = 0; k < cells; ++k)
      s.codes0[o0 + k] = k < d.count ? encode(L.values[k], L.scale) : kCodeEmpty;
    o0 += static_cast<uint64_t>(cells);
    FloatPyramid p = build_pyramid(L.values.data(), d);
    L.levels = static_cast<int>(p.dims.size());
    for (size_t k = 0; k < p.dims.size(); ++k) {
      L.level_offset[k + 1] = op;
      for (size_t j = 0; j < p.max[k].size(); ++j) {
        bool e = p.empty[k][j];
        s.codes_max[op + j] = e ? kCodeEmpty : encode(p.max[k][j], L.scale);
        s.codes_mean[op + j] = e ? kCodeEmpty : encode(p.mean[k][j], L.scale);
      }
      op += p.max[k].size();
    }
  }
  return s;
}

Scene build_scene(Layout layout, const std::function<Tensor(const std::string&)>& fetch) {
  std::vector<std::vector<float>> values;
  values.reserve(layout.layers.size());
  for (const auto& l : layout.layers) {
    Tensor t = fetch(l.tensor.name);
    if (!t.defined() || !is_float(t.dtype()))
      throw Error(ErrorKind::Input, "render: tensor '" + l.tensor.name + "' is not a float tensor");
    std::vector<float> v;
    const float* src = nullptr;
    Tensor f32 = t.dtype() == DType::Float32 ? t : t.cast(DType::Float32);
    src = f32.data_as<float>();
    // Batch 0 is the first d.count elements for every shape volume_dims accepts.
    int64_t n = std::min<int64_t>(l.dims.count, f32.numel());
    v.assign(src, src + n);
    v.resize(static_cast<size_t>(l.dims.count), 0.0f);
    values.push_back(std::move(v));
  }
  return build_scene_from_values(std::move(layout), std::move(values));
}

std::vector<VizTensor> synthetic_tensors(const std::vector<Shape>& shapes) {
  std::vector<VizTensor> t;
  for (size_t i = 0; i < shapes.size(); ++i) {
    VizTensor v;
    v.name = i == 0 ? "input" : "layer" + std::to_string(i);
    v.op = i == 0 ? "Input" : (shapes[i].size() == 2 ? "Gemm" : (i % 2 ? "Relu" : "Conv"));
    v.node = i == 0 ? "" : v.op + "_" + std::to_string(i);
    v.shape = shapes[i];
    if (i) v.inputs = {static_cast<int>(i - 1)};
    v.node_index = static_cast<int>(i) - 1;
    t.push_back(std::move(v));
  }
  return t;
}

Scene synthetic_scene(const std::vector<Shape>& shapes, uint32_t seed) {
  Layout L = layout_tensors(synthetic_tensors(shapes));
  std::vector<std::vector<float>> values;
  std::mt19937 rng(seed);
  for (size_t i = 0; i < L.layers.size(); ++i) {
    const VolumeDims& d = L.layers[i].dims;
    std::vector<float> v(static_cast<size_t>(d.count));
    // Smooth blobs plus noise so the pictures look like feature maps, not static.
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const bool relu = i % 2 == 1;
    for (int64_t c = 0; c < d.C; ++c) {
      float fx = 0.05f + 0.4f * u(rng), fy = 0.05f + 0.4f * u(rng), ph = 6.28f * u(rng), amp = 0.5f + u(rng);
      for (int64_t y = 0; y < d.H; ++y)
        for (int64_t x = 0; x < d.W; ++x) {
          int64_t k = flat_of(d, c, y, x);
          if (k >= d.count) continue;
          float s = amp * std::sin(fx * float(x) + ph) * std::cos(fy * float(y) - ph) + 0.35f * (u(rng) - 0.5f);
          v[static_cast<size_t>(k)] = relu ? std::max(0.0f, s - 0.1f) : s;
        }
    }
    values.push_back(std::move(v));
  }
  return build_scene_from_values(std::move(L), std::move(values));
}

std::vector<Shape> vgg16_shapes() {
  std::vector<Shape> s = {{1, 3, 224, 224}};
  int64_t hw = 224;
  const int blocks[5][2] = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
  for (auto& b : blocks) {
    for (int i = 0; i < b[1]; ++i) s.push_back({1, b[0], hw, hw});  // conv+relu (fused view)
    hw /= 2;
    s.push_back({1, b[0], hw, hw});  // pool
  }
  s.push_back({1, 4096});
  s.push_back({1, 4096});
  s.push_back({1, 1000});
  return s;
}

std::vector<Shape> synthetic_vgg_shapes(int64_t neurons) {
  // VGG's pattern with channel base b and input side S: find the S (multiple of 8) whose total is
  // closest to the target, shrinking the channel base for tiny targets.
  auto build = [](int64_t S, int64_t b) {
    std::vector<Shape> s = {{1, 3, S, S}};
    int64_t hw = S;
    for (int blk = 0; blk < 5 && hw >= 2; ++blk) {
      int64_t c = b << std::min(blk, 3);
      for (int i = 0; i < (blk < 2 ? 2 : 3); ++i) s.push_back({1, c, hw, hw});
      hw /= 2;
      s.push_back({1, c, hw, hw});
    }
    s.push_back({1, 16 * b});
    s.push_back({1, 10});
    return s;
  };
  auto total = [](const std::vector<Shape>& s) {
    int64_t n = 0;
    for (auto& x : s) n += numel(x);
    return n;
  };
  std::vector<Shape> best;
  double best_err = 1e300;
  for (int64_t b : {4, 8, 16, 32, 64})
    for (int64_t S = 8; S <= 4096; S += 8) {
      auto s = build(S, b);
      double err = std::fabs(std::log(double(total(s)) / double(neurons)));
      if (err < best_err) { best_err = err; best = s; }
    }
  return best;
}

}  // namespace netlens::viz
