#include "netlens/viz/scene.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

namespace netlens::viz {

int64_t Scene::neurons() const {
  int64_t n = 0;
  for (const auto& l : layout.layers) n += l.dims.count;
  return n;
}

namespace {

// Elements [b, e) of a borrowed source as float32 into out (zeros past its end). Float32, float16
// and bfloat16 convert exactly (Tensor::cast's conversions), so codes and scales equal a copy's.
void source_floats(const Tensor& t, int64_t b, int64_t e, float* out) {
  const int64_t n = std::min(e, t.numel());
  int64_t i = b;
  switch (t.dtype()) {
    case DType::Float32: {
      const float* p = t.data_as<float>();
      for (; i < n; ++i) *out++ = p[i];
      break;
    }
    case DType::Float16: {
      const uint16_t* p = t.data_as<uint16_t>();
      for (; i < n; ++i) *out++ = half_to_float(p[i]);
      break;
    }
    case DType::BFloat16: {
      const uint16_t* p = t.data_as<uint16_t>();
      for (; i < n; ++i) *out++ = bfloat16_to_float(p[i]);
      break;
    }
    default: throw Error(ErrorKind::Internal, "scene: a borrowed source must be float32, float16 or bfloat16");
  }
  for (i = std::max(i, b); i < e; ++i) *out++ = 0.0f;
}

// Layer `layer`'s neurons [b, e) as float32: in place where the copy or a float32 source holds them,
// else converted into scratch.
const float* layer_range(const Scene& s, size_t layer, int64_t b, int64_t e, std::vector<float>& scratch) {
  const SceneLayer& L = s.layers[layer];
  if (!L.values.empty()) return L.values.data() + b;
  if (!L.source.defined()) throw Error(ErrorKind::Internal, "scene: layer '" + s.layout.layers[layer].tensor.name + "' has no host values");
  if (L.source.dtype() == DType::Float32 && e <= L.source.numel()) return L.source.data_as<float>() + b;
  scratch.resize(static_cast<size_t>(e - b));
  source_floats(L.source, b, e, scratch.data());
  return scratch.data();
}

}  // namespace

float Scene::value(int layer, int64_t flat) const {
  const SceneLayer& L = layers.at(static_cast<size_t>(layer));
  if (flat < 0 || flat >= layout.layers.at(static_cast<size_t>(layer)).dims.count)
    throw std::out_of_range("scene: neuron " + std::to_string(flat) + " out of range");
  if (!L.values.empty()) return L.values.at(static_cast<size_t>(flat));
  if (!L.source.defined()) throw std::out_of_range("scene: layer without host values");
  float v;
  source_floats(L.source, flat, flat + 1, &v);
  return v;
}

bool Scene::has_values(int layer) const {
  const SceneLayer& L = layers.at(static_cast<size_t>(layer));
  const int64_t n = layout.layers.at(static_cast<size_t>(layer)).dims.count;
  return (n > 0 && static_cast<int64_t>(L.values.size()) == n) || L.source.defined();
}

std::span<const float> Scene::floats(int layer, std::vector<float>& scratch) const {
  const int64_t n = layout.layers.at(static_cast<size_t>(layer)).dims.count;
  if (!has_values(layer)) throw Error(ErrorKind::Internal, "scene: layer '" + layout.layers[static_cast<size_t>(layer)].tensor.name + "' has no host values");
  return {layer_range(*this, static_cast<size_t>(layer), 0, n, scratch), static_cast<size_t>(n)};
}

uint64_t Scene::host_bytes() const {
  uint64_t b = codes0.capacity() + codes_max.capacity() + codes_mean.capacity();
  for (const auto& L : layers) {
    b += L.values.capacity() * sizeof(float);
    if (L.codes) b += L.codes->codes0.capacity() + L.codes->codes_max.capacity() + L.codes->codes_mean.capacity();
  }
  return b;
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

namespace {

// One scale over several layers' samples: their concatenation in layer order (SceneOptions' rule).
ColorScale merged_scale(std::vector<ScaleSample> samples, const SceneOptions& opts) {
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

// Neurons converted at a time where a borrowed source is not float32 (a quarter MiB of floats).
constexpr int64_t kChunkNeurons = int64_t(1) << 16;

// scale_sample(layer i's d.count values, max_samples), without a float32 copy of the layer: the
// same stride, the same samples in the same order, the same sign rule.
ScaleSample layer_sample(const Scene& s, size_t i, size_t max_samples) {
  const SceneLayer& L = s.layers[i];
  const int64_t n = s.layout.layers[i].dims.count;
  if (!s.has_values(static_cast<int>(i))) return {};  // a GPU-made scene: nothing to sample
  std::vector<float> buf;
  if (!L.values.empty() || (L.source.dtype() == DType::Float32 && L.source.numel() >= n))
    return scale_sample(std::span<const float>(layer_range(s, i, 0, n, buf), static_cast<size_t>(n)), max_samples);
  const int64_t stride = static_cast<int64_t>(std::max<size_t>(1, static_cast<size_t>(n) / std::max<size_t>(1, max_samples)));
  ScaleSample out;
  out.values.reserve(static_cast<size_t>(n / stride + 1));
  bool sampled_negative = false, any_negative = false;
  for (int64_t b = 0; b < n; b += kChunkNeurons) {
    const int64_t e = std::min(n, b + kChunkNeurons);
    const float* p = layer_range(s, i, b, e, buf);
    for (int64_t j = (b + stride - 1) / stride * stride; j < e; j += stride) {
      const float v = p[j - b];
      if (!std::isfinite(v)) continue;
      sampled_negative |= v < 0.0f;
      out.values.push_back(v);
    }
    if (stride > 1 && !any_negative)
      for (int64_t j = b; j < e; ++j)
        if (p[j - b] < 0.0f) { any_negative = true; break; }
  }
  out.negative = sampled_negative || (stride > 1 && any_negative);
  return out;
}

// Layer indices, largest first (a sample's nth_element dominates a scale's time).
std::vector<size_t> largest_first(const Scene& s) {
  std::vector<size_t> by_size(s.layers.size());
  for (size_t i = 0; i < by_size.size(); ++i) by_size[i] = i;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](size_t a, size_t b) { return s.layout.layers[a].dims.count > s.layout.layers[b].dims.count; });
  return by_size;
}

// Every layer's scale by opts, from its host values.
void compute_scales(Scene& s, const SceneOptions& opts) {
  const size_t n = s.layers.size();
  const std::vector<size_t> by_size = largest_first(s);
  if (!opts.global_scale) {
    parallel_for(static_cast<int64_t>(n), thread_count(opts), [&](int64_t t) {
      const size_t i = by_size[static_cast<size_t>(t)];
      s.layers[i].scale = scale_from_sample(layer_sample(s, i, opts.max_samples), opts.lo_pct, opts.hi_pct);
    });
  } else if (n) {
    const ColorScale g = global_scale(s, opts);
    for (auto& L : s.layers) L.scale = g;
  }
}

// Code offsets and pyramid levels of every layer (serial, cheap); the flat arrays' sizes.
std::pair<uint64_t, uint64_t> place_codes(Scene& s) {
  uint64_t o0 = 0, op = 0;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const VolumeDims& d = s.layout.layers[i].dims;
    SceneLayer& L = s.layers[i];
    L.code0_offset = o0;
    o0 += static_cast<uint64_t>(d.C * d.H * d.W);
    const std::vector<LevelDims> lv = pyramid_levels(d.H, d.W);
    L.levels = static_cast<int>(lv.size());
    for (size_t k = 0; k < lv.size(); ++k) {
      L.level_offset[k + 1] = op;
      op += static_cast<uint64_t>(d.C * lv[k].h * lv[k].w);
    }
  }
  return {o0, op};
}

// write_codes, from the host values (from_values) or copied from the scene's codes.
void write_codes_impl(const Scene& s, std::span<const CodeTarget> targets, int threads, bool from_values) {
  // Per run of channels (channels are independent at every level).
  struct Task { size_t target; int64_t c0, c1; };
  std::vector<Task> tasks;
  for (size_t ti = 0; ti < targets.size(); ++ti) {
    const CodeTarget& T = targets[ti];
    const VolumeDims& d = s.layout.layers.at(static_cast<size_t>(T.layer)).dims;
    const int64_t per = std::max<int64_t>(1, kTaskNeurons / std::max<int64_t>(1, d.H * d.W));
    for (int64_t c = T.c0; c < T.c1; c += per) tasks.push_back({ti, c, std::min(T.c1, c + per)});
  }
  parallel_for(static_cast<int64_t>(tasks.size()), threads, [&](int64_t t) {
    const Task& k = tasks[static_cast<size_t>(t)];
    const CodeTarget& T = targets[k.target];
    const size_t li = static_cast<size_t>(T.layer);
    const VolumeDims& d = s.layout.layers[li].dims;
    const SceneLayer& L = s.layers[li];
    const int64_t hw = d.H * d.W;
    const std::vector<LevelDims> lv = pyramid_levels(d.H, d.W);
    std::array<uint8_t*, kMaxLevels> dm{}, da{};
    for (size_t j = 0; j < lv.size(); ++j) {
      const int64_t per = lv[j].h * lv[j].w;
      dm[j + 1] = T.max[j + 1] + (k.c0 - T.c0) * per;
      da[j + 1] = T.mean[j + 1] + (k.c0 - T.c0) * per;
    }
    uint8_t* out0 = T.level0 + (k.c0 - T.c0) * hw;
    // Copied: from the scene's codes, or from the layer's own one-layer scene of codes (a piece).
    const bool own = from_values && L.codes && L.codes->has_codes() && L.codes->layers.size() == 1 && L.codes->layers[0].levels == L.levels;
    if (!from_values || own) {
      const Scene& src = own ? *L.codes : s;
      const SceneLayer& SL = own ? src.layers[0] : L;
      std::memcpy(out0, src.codes0.data() + SL.code0_offset + static_cast<uint64_t>(k.c0 * hw), static_cast<size_t>((k.c1 - k.c0) * hw));
      for (size_t j = 0; j < lv.size(); ++j) {
        const int64_t per = lv[j].h * lv[j].w;
        const uint64_t at = SL.level_offset[j + 1] + static_cast<uint64_t>(k.c0 * per);
        std::memcpy(dm[j + 1], src.codes_max.data() + at, static_cast<size_t>((k.c1 - k.c0) * per));
        std::memcpy(da[j + 1], src.codes_mean.data() + at, static_cast<size_t>((k.c1 - k.c0) * per));
      }
      return;
    }
    // The run's neurons as float32 (in place, or converted: the only scratch besides the pyramid's).
    const int64_t b = k.c0 * hw, e = std::min(k.c1 * hw, d.count);
    std::vector<float> scratch;
    const float* p = b < e ? layer_range(s, li, b, e, scratch) : nullptr;
    for (int64_t j = b; j < k.c1 * hw; ++j) out0[j - b] = j < d.count ? encode(p[j - b], L.scale) : kCodeEmpty;
    pyramid_codes_at(p, d, k.c0, k.c1, L.scale, dm.data(), da.data());
  });
}

// Targets covering every layer's whole codes in the scene's own flat arrays.
std::vector<CodeTarget> whole_scene_targets(Scene& s) {
  std::vector<CodeTarget> t(s.layers.size());
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const SceneLayer& L = s.layers[i];
    t[i].layer = static_cast<int>(i);
    t[i].c1 = s.layout.layers[i].dims.C;
    t[i].level0 = s.codes0.data() + L.code0_offset;
    for (int k = 1; k <= L.levels; ++k) {
      t[i].max[static_cast<size_t>(k)] = s.codes_max.data() + L.level_offset[static_cast<size_t>(k)];
      t[i].mean[static_cast<size_t>(k)] = s.codes_mean.data() + L.level_offset[static_cast<size_t>(k)];
    }
  }
  return t;
}

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
  return merged_scale(std::move(samples), opts);
}

ColorScale layer_scale(const Scene& s, int layer, const SceneOptions& opts) {
  return scale_from_sample(layer_sample(s, static_cast<size_t>(layer), opts.max_samples), opts.lo_pct, opts.hi_pct);
}

ColorScale global_scale(const Scene& s, const SceneOptions& opts) {
  const size_t n = s.layers.size();
  const std::vector<size_t> by_size = largest_first(s);
  std::vector<ScaleSample> samples(n);
  parallel_for(static_cast<int64_t>(n), thread_count(opts), [&](int64_t t) {
    const size_t i = by_size[static_cast<size_t>(t)];
    samples[i] = layer_sample(s, i, opts.max_samples);
  });
  return merged_scale(std::move(samples), opts);
}

void write_codes(const Scene& s, std::span<const CodeTarget> targets, int threads) {
  SceneOptions o;
  o.threads = threads;
  write_codes_impl(s, targets, thread_count(o), !s.has_codes());
}

Scene build_scene_from_values(Layout layout, std::vector<std::vector<float>> values, const SceneOptions& opts) {
  Scene s;
  s.layout = std::move(layout);
  s.options = opts;
  s.options.borrow_values = false;  // the values are the scene's own
  const size_t n = s.layout.layers.size();
  if (values.size() != n) throw Error(ErrorKind::Internal, "build_scene: one value array per layer expected");
  s.layers.resize(n);
  for (size_t i = 0; i < n; ++i) {
    SceneLayer& L = s.layers[i];
    L.values = std::move(values[i]);
    if (static_cast<int64_t>(L.values.size()) != s.layout.layers[i].dims.count)
      throw Error(ErrorKind::Internal, "build_scene: layer '" + s.layout.layers[i].tensor.name + "' has " +
                                           std::to_string(L.values.size()) + " values, expected " +
                                           std::to_string(s.layout.layers[i].dims.count));
  }
  // Offsets first: every later task writes its own disjoint range.
  const auto [o0, op] = place_codes(s);
  s.codes0.resize(o0);
  s.codes_max.resize(op);
  s.codes_mean.resize(op);
  compute_scales(s, opts);
  const std::vector<CodeTarget> targets = whole_scene_targets(s);
  write_codes_impl(s, targets, thread_count(opts), true);
  return s;
}

Scene rebuild_scene(Scene s, const SceneOptions& opts) {
  for (size_t i = 0; i < s.layers.size(); ++i)
    if (!s.has_values(static_cast<int>(i)))
      throw Error(ErrorKind::Internal, "rebuild_scene: layer '" + s.layout.layers[i].tensor.name + "' has no host values");
  SceneOptions o = opts;
  o.borrow_values = s.options.borrow_values;
  if (!o.borrow_values) {
    std::vector<std::vector<float>> values;
    for (auto& L : s.layers) values.push_back(std::move(L.values));
    return build_scene_from_values(std::move(s.layout), std::move(values), o);
  }
  s.options = o;
  compute_scales(s, o);
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
  if (opts.borrow_values) {
    Scene s;
    s.layout = std::move(layout);
    s.options = opts;
    s.layers.resize(s.layout.layers.size());
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const std::string& name = s.layout.layers[i].tensor.name;
      Tensor t = fetch(name);  // on this thread only, as layer_values
      if (!t.defined() || !is_float(t.dtype()))
        throw Error(ErrorKind::Input, "render: tensor '" + name + "' is not a float tensor");
      if (t.dtype() != DType::Float32 && t.dtype() != DType::Float16 && t.dtype() != DType::BFloat16) t = t.cast(DType::Float32);
      s.layers[i].source = std::move(t);
    }
    place_codes(s);  // levels (the renderer's packing reads them); the flat arrays stay empty
    compute_scales(s, opts);
    return s;
  }
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
