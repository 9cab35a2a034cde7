// Scene-building time on real activations: each model runs once on the CPU backend, then the shown
// tensors' scene is built (viz::build_scene: fetch copies, colour scales, codes, max/mean pyramids)
// three ways, each the median of --runs builds:
//   before:   the single-threaded build_scene_from_values of commit 9a6a45c, copied below verbatim
//             (robust_scale with two full nth_element passes, encode with lround, build_pyramid's float
//             levels: lod.cpp's refactor kept build_pyramid's arithmetic, checked by the byte comparison)
//   1 thread: today's build_scene with SceneOptions::threads = 1
//   threads:  today's build_scene on every hardware thread
// (and, for its cost, the global scale on every thread: SceneOptions::global_scale)
// and every byte of the three scenes is compared (exit 1 if any differs). Not a test (seconds per
// model and the models are large): docs/PERFORMANCE.md "Scene building" quotes its table.
// Usage: netlens_scene_bench [MODEL.onnx ...] [--runs N]   (default: resnet50 + vgg16 from .cache)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "netlens/cpu.hpp"
#include "netlens/graph.hpp"
#include "netlens/onnx.hpp"
#include "netlens/viz/scene.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

// --- before: commit 9a6a45c's robust_scale and build_scene_from_values, unchanged -------------
ColorScale old_robust_scale(std::span<const float> values, float lo_pct = 1.0f, float hi_pct = 99.0f,
                            size_t max_samples = 1u << 20) {
  std::vector<float> s;
  size_t stride = std::max<size_t>(1, values.size() / std::max<size_t>(1, max_samples));
  s.reserve(values.size() / stride + 1);
  bool negative = false;
  for (size_t i = 0; i < values.size(); i += stride) {
    float v = values[i];
    if (!std::isfinite(v)) continue;
    negative |= v < 0.0f;
    s.push_back(v);
  }
  if (!negative && stride > 1)
    for (float v : values) if (v < 0.0f) { negative = true; break; }
  ColorScale out;
  if (s.empty()) return out;
  auto pct = [&](float p) {
    size_t k = static_cast<size_t>(std::lround(double(p) / 100.0 * double(s.size() - 1)));
    k = std::min(k, s.size() - 1);
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
    return s[k];
  };
  if (negative) {
    for (float& v : s) v = std::fabs(v);
    float m = pct(hi_pct);
    if (!(m > 0.0f)) m = *std::max_element(s.begin(), s.end());
    if (!(m > 0.0f)) m = 1.0f;
    out = {ColorMapKind::Diverging, -m, m};
  } else {
    std::erase_if(s, [](float v) { return v == 0.0f; });
    if (s.empty()) return {ColorMapKind::Sequential, 0.0f, 1.0f};
    float lo = pct(lo_pct), hi = pct(hi_pct);
    if (!(hi > lo)) { lo = 0.0f; hi = std::max(hi, 1e-30f); }
    if (lo < 0.25f * hi) lo = 0.0f;
    out = {ColorMapKind::Sequential, lo, hi};
  }
  return out;
}

uint8_t old_encode(float v, const ColorScale& s) {
  if (!std::isfinite(v)) return kCodeNonFinite;
  if (v == 0.0f) return kCodeZero;
  float t = s.normalize(v);
  auto c = static_cast<int>(std::lround(t * float(kCodeMaxColor)));
  return static_cast<uint8_t>(std::clamp(c, 0, int(kCodeMaxColor)));
}

Scene old_build_scene_from_values(Layout layout, std::vector<std::vector<float>> values) {
  Scene s;
  s.layout = std::move(layout);
  const size_t n = s.layout.layers.size();
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
    L.scale = old_robust_scale(L.values);
    L.code0_offset = o0;
    const int64_t cells = d.C * d.H * d.W;
    for (int64_t k = 0; k < cells; ++k) s.codes0[o0 + k] = k < d.count ? old_encode(L.values[k], L.scale) : kCodeEmpty;
    o0 += static_cast<uint64_t>(cells);
    FloatPyramid p = build_pyramid(L.values.data(), d);  // same arithmetic as before (lod.cpp refactor)
    L.levels = static_cast<int>(p.dims.size());
    for (size_t k = 0; k < p.dims.size(); ++k) {
      L.level_offset[k + 1] = op;
      for (size_t j = 0; j < p.max[k].size(); ++j) {
        bool e = p.empty[k][j];
        s.codes_max[op + j] = e ? kCodeEmpty : old_encode(p.max[k][j], L.scale);
        s.codes_mean[op + j] = e ? kCodeEmpty : old_encode(p.mean[k][j], L.scale);
      }
      op += p.max[k].size();
    }
  }
  return s;
}

Scene old_build_scene(Layout layout, const std::function<Tensor(const std::string&)>& fetch) {
  std::vector<std::vector<float>> values;
  for (const auto& l : layout.layers) {
    Tensor t = fetch(l.tensor.name);
    Tensor f32 = t.dtype() == DType::Float32 ? t : t.cast(DType::Float32);
    const float* src = f32.data_as<float>();
    int64_t n = std::min<int64_t>(l.dims.count, f32.numel());
    std::vector<float> v(src, src + n);
    v.resize(static_cast<size_t>(l.dims.count), 0.0f);
    values.push_back(std::move(v));
  }
  return old_build_scene_from_values(std::move(layout), std::move(values));
}
// --- end of the copy ---------------------------------------------------------------------------

bool same(const Scene& a, const Scene& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const SceneLayer &x = a.layers[i], &y = b.layers[i];
    if (x.scale.kind != y.scale.kind || std::memcmp(&x.scale.lo, &y.scale.lo, 4) || std::memcmp(&x.scale.hi, &y.scale.hi, 4) ||
        x.code0_offset != y.code0_offset || x.levels != y.levels || x.level_offset != y.level_offset ||
        x.values.size() != y.values.size() ||
        std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)))
      return false;
  }
  return a.codes0 == b.codes0 && a.codes_max == b.codes_max && a.codes_mean == b.codes_mean;
}

template <class F>
double median_ms(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models;
  int runs = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else models.push_back(a);
  }
  if (models.empty())
    for (const char* m : {"resnet50.onnx", "vgg16.onnx"}) models.push_back(std::string(NETLENS_CACHE_DIR) + "/models/" + m);
  std::printf("| model | layers | neurons | before (1 thread) | now, 1 thread | now, %d threads | speed-up | cores busy | global scale, threads | bytes equal |\n",
              std::thread::hardware_concurrency());
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  bool all_equal = true;
  for (const std::string& path : models) {
    try {
      std::unique_ptr<Backend> cpu = make_cpu_backend();
      Session session(load_onnx(path), {cpu.get()});
      const ValueInfo& in = session.graph().inputs.at(0);
      Shape shape;  // symbolic dims: batch 1, spatial 224
      for (size_t k = 0; k < in.dims.size(); ++k) shape.push_back(in.dims[k].fixed() ? in.dims[k].value : k == 0 ? 1 : 224);
      session.prepare({{in.name, shape}});
      // A deterministic smooth image-like input (values in ImageNet's normalised range).
      Tensor x(DType::Float32, shape);
      std::mt19937 rng(1);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = nd(rng);
      session.run({{in.name, x}});
      const Layout layout = layout_tensors(select_tensors(session.graph(), session.planned()));
      auto fetch = [&](const std::string& n) { return session.activations().fetch(n); };
      Scene before, serial, threaded;
      const double t_before = median_ms(runs, [&] { before = old_build_scene(layout, fetch); });
      const double t_serial = median_ms(runs, [&] { serial = build_scene(layout, fetch, {.threads = 1}); });
      const std::clock_t c0 = std::clock();
      const double t_threads = median_ms(runs, [&] { threaded = build_scene(layout, fetch); });
      // Cores the threaded builds kept busy (process CPU time / wall): below the thread count when
      // other processes hold the cores.
      const double cores = double(std::clock() - c0) / CLOCKS_PER_SEC * 1000.0 / (t_threads * runs);
      Scene glob;
      const double t_global = median_ms(runs, [&] { glob = build_scene(layout, fetch, {.global_scale = true}); });
      const bool eq = same(before, serial) && same(before, threaded);
      all_equal &= eq;
      std::printf("| %s | %zu | %lld | %.0f ms | %.0f ms | %.0f ms | %.2fx | %.1f | %.0f ms | %s |\n",
                  std::filesystem::path(path).filename().c_str(), layout.layers.size(),
                  static_cast<long long>(before.neurons()), t_before, t_serial, t_threads, t_before / t_threads, cores,
                  t_global, eq ? "yes" : "NO");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "netlens_scene_bench: %s: %s\n", path.c_str(), e.what());
      return 1;
    }
  }
  return all_equal ? 0 : 1;
}
