#include "netlens/viz/scene.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>
#include <thread>

namespace netlens::viz {

int64_t Scene::neurons() const {
  int64_t n = 0;
  for (const auto& l : layout.layers) n += l.dims.count;
  return n;
}

namespace {

int thread_count(const SceneOptions& o) {
  return o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// body(i) for every i in [0, n), tasks taken in order by up to `threads` threads (the caller is
// one of them). Plain threads that exit when the tasks run out, not OpenMP: on a loaded machine
// (other builds, the live view's inference) OpenMP's spinning barriers burnt the CPU time that a
// descheduled worker needed, and 2 threads were no faster than 1. The first exception is rethrown.
template <class F>
void parallel_for(int64_t n, int threads, F&& body) {
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex m;
  auto work = [&] {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> g(m);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int64_t>(threads, n); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// Channels per code task: about this many neurons, so that one big layer (VGG's 3.2M-neuron convs)
// spreads over every thread, while a task stays large enough to amortise its scheduling.
constexpr int64_t kTaskNeurons = int64_t(1) << 16;

}  // namespace

ColorScale global_scale(const std::vector<std::span<const float>>& layers, const SceneOptions& opts) {
  const size_t n = layers.size();
  std::vector<size_t> by_size(n);
  for (size_t i = 0; i < n; ++i) by_size[i] = i;
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) { return layers[a].size() > layers[b].size(); });
  std::vector<ScaleSample> samples(n);
  parallel_for(static_cast<int64_t>(n), thread_count(opts), [&](int64_t t) {
    const size_t i = by_size[static_cast<size_t>(t)];
    samples[i] = scale_sample(layers[i], opts.max_samples);
  });
  ScaleSample all;
  size_t total = 0;
  for (const auto& x : samples) total += x.values.size();
  all.values.reserve(total);
  for (auto& x : samples) {
    all.values.insert(all.values.end(), x.values.begin(), x.values.end());
    all.negative |= x.negative;
    x.values = {};
  }
  return scale_from_sample(std::move(all), opts.lo_pct, opts.hi_pct);
}

Scene build_scene_from_values(Layout layout, std::vector<std::vector<float>> values, const SceneOptions& opts) {
  Scene s;
  s.layout = std::move(layout);
  s.options = opts;
  const size_t n = s.layout.layers.size();
  if (values.size() != n) throw Error(ErrorKind::Internal, "build_scene: one value array per layer expected");
  s.layers.resize(n);
  const int threads = thread_count(opts);
  // Offsets first (serial, cheap): every later task writes its own disjoint range.
  uint64_t o0 = 0, op = 0;
  for (size_t i = 0; i < n; ++i) {
    const VolumeDims& d = s.layout.layers[i].dims;
    SceneLayer& L = s.layers[i];
    L.values = std::move(values[i]);
    if (static_cast<int64_t>(L.values.size()) != d.count)
      throw Error(ErrorKind::Internal, "build_scene: layer '" + s.layout.layers[i].tensor.name + "' has " +
                                           std::to_string(L.values.size()) + " values, expected " +
                                           std::to_string(d.count));
    L.code0_offset = o0;
    o0 += static_cast<uint64_t>(d.C * d.H * d.W);
    const std::vector<LevelDims> lv = pyramid_levels(d.H, d.W);
    L.levels = static_cast<int>(lv.size());
    for (size_t k = 0; k < lv.size(); ++k) {
      L.level_offset[k + 1] = op;
      op += static_cast<uint64_t>(d.C * lv[k].h * lv[k].w);
    }
  }
  s.codes0.resize(o0);
  s.codes_max.resize(op);
  s.codes_mean.resize(op);

  // Scales: one task per layer, largest first (the sample's nth_element dominates).
  std::vector<size_t> by_size(n);
  for (size_t i = 0; i < n; ++i) by_size[i] = i;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](size_t a, size_t b) { return s.layers[a].values.size() > s.layers[b].values.size(); });
  if (!opts.global_scale) {
    parallel_for(static_cast<int64_t>(n), threads, [&](int64_t t) {
      SceneLayer& L = s.layers[by_size[static_cast<size_t>(t)]];
      L.scale = robust_scale(L.values, opts.lo_pct, opts.hi_pct, opts.max_samples);
    });
  } else if (n) {
    std::vector<std::span<const float>> all;
    for (const auto& L : s.layers) all.emplace_back(L.values);
    const ColorScale g = global_scale(all, opts);
    for (auto& L : s.layers) L.scale = g;
  }

  // Codes: level 0 and both pyramids, per run of channels (channels are independent at every level).
  struct Task { size_t layer; int64_t c0, c1; };
  std::vector<Task> tasks;
  for (size_t i = 0; i < n; ++i) {
    const VolumeDims& d = s.layout.layers[i].dims;
    const int64_t per = std::max<int64_t>(1, kTaskNeurons / std::max<int64_t>(1, d.H * d.W));
    for (int64_t c = 0; c < d.C; c += per) tasks.push_back({i, c, std::min(d.C, c + per)});
  }
  parallel_for(static_cast<int64_t>(tasks.size()), threads, [&](int64_t t) {
    const Task& k = tasks[static_cast<size_t>(t)];
    const VolumeDims& d = s.layout.layers[k.layer].dims;
    const SceneLayer& L = s.layers[k.layer];
    const int64_t hw = d.H * d.W;
    uint8_t* out = s.codes0.data() + L.code0_offset;
    for (int64_t j = k.c0 * hw; j < k.c1 * hw; ++j)
      out[j] = j < d.count ? encode(L.values[static_cast<size_t>(j)], L.scale) : kCodeEmpty;
    pyramid_codes(L.values.data(), d, k.c0, k.c1, L.scale, L.level_offset.data(), s.codes_max.data(),
                  s.codes_mean.data());
  });
  return s;
}

std::vector<std::vector<float>> layer_values(const Layout& layout, const std::function<Tensor(const std::string&)>& fetch,
                                             const SceneOptions& opts) {
  // fetch on this thread only (a session's store is not promised to be thread-safe); the tensors
  // are views of host activations, so holding them all costs nothing.
  std::vector<Tensor> tensors;
  tensors.reserve(layout.layers.size());
  for (const auto& l : layout.layers) {
    Tensor t = fetch(l.tensor.name);
    if (!t.defined() || !is_float(t.dtype()))
      throw Error(ErrorKind::Input, "render: tensor '" + l.tensor.name + "' is not a float tensor");
    tensors.push_back(std::move(t));
  }
  std::vector<std::vector<float>> values(layout.layers.size());
  parallel_for(static_cast<int64_t>(tensors.size()), thread_count(opts), [&](int64_t i) {
    const auto& l = layout.layers[static_cast<size_t>(i)];
    Tensor& t = tensors[static_cast<size_t>(i)];
    if (t.dtype() != DType::Float32) t = t.cast(DType::Float32);
    const float* src = t.data_as<float>();
    // Batch 0 is the first d.count elements for every shape volume_dims accepts.
    const int64_t k = std::min<int64_t>(l.dims.count, t.numel());
    std::vector<float>& v = values[static_cast<size_t>(i)];
    v.reserve(static_cast<size_t>(l.dims.count));
    v.assign(src, src + k);
    v.resize(static_cast<size_t>(l.dims.count), 0.0f);
    t = Tensor();  // a converted copy is freed as soon as it is read
  });
  return values;
}

Scene build_scene(Layout layout, const std::function<Tensor(const std::string&)>& fetch, const SceneOptions& opts) {
  std::vector<std::vector<float>> values = layer_values(layout, fetch, opts);
  return build_scene_from_values(std::move(layout), std::move(values), opts);
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
