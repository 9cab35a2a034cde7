// Value modes: the tensors a scene is built from.
#include "netlens/viz/values.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <string_view>

#include "netlens/runtime/shapes_quant.hpp"

namespace netlens::viz {

ValueMode parse_value_mode(const std::string& text, const std::string& flag) {
  if (text == "activation") return ValueMode::Activation;
  if (text == "gradient") return ValueMode::Gradient;
  if (text == "attribution") return ValueMode::Attribution;
  throw Error(ErrorKind::Usage, flag + " expects activation, gradient or attribution, got '" + text + "'");
}

const char* value_mode_name(ValueMode m) {
  switch (m) {
    case ValueMode::Activation: return "activation";
    case ValueMode::Gradient: return "gradient";
    case ValueMode::Attribution: return "attribution";
    case ValueMode::Difference: return "difference";
    case ValueMode::Metric: return "metric";
  }
  return "?";
}

Tensor difference_values(const std::string& name, const Tensor& a_in, const Tensor& b_in, bool relative) {
  if (!is_float(a_in.dtype()) || !is_float(b_in.dtype()))
    throw Error(ErrorKind::Input, "difference: tensor '" + name + "' is not a float tensor in both runs");
  if (a_in.shape() != b_in.shape())
    throw Error(ErrorKind::Input, "difference: tensor '" + name + "' has shape " + shape_str(a_in.shape()) + " in A but " +
                                      shape_str(b_in.shape()) + " in B");
  const Tensor a = a_in.dtype() == DType::Float32 ? a_in : a_in.cast(DType::Float32);
  const Tensor b = b_in.dtype() == DType::Float32 ? b_in : b_in.cast(DType::Float32);
  const float* pa = a.data_as<float>();
  const float* pb = b.data_as<float>();
  Tensor out(DType::Float32, a.shape());
  float* o = out.data_as<float>();
  double amax = 0;
  if (relative)
    for (int64_t i = 0; i < a.numel(); ++i)
      if (std::isfinite(pa[i])) amax = std::max(amax, std::abs(double(pa[i])));
  const double eps = 1e-6 * amax;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = pa[i], y = pb[i];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      o[i] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const double e = std::abs(x - y);
    o[i] = static_cast<float>(relative ? (e == 0 ? 0.0 : e / (std::abs(x) + eps)) : e);
  }
  return out;
}

SceneOptions mode_scene_options(ValueMode m, SceneOptions base) {
  if (m == ValueMode::Difference || m == ValueMode::Metric) base.global_scale = true;
  if (m == ValueMode::Metric) base.lo_pct = 0.0f, base.hi_pct = 100.0f;
  return base;
}

std::string value_label(ValueMode m, const ValueSources& src) { return src.name.empty() ? value_mode_name(m) : src.name; }

namespace {
Tensor filled(const Shape& shape, float v) {
  Tensor t(DType::Float32, shape);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = v;
  return t;
}
}  // namespace

std::function<Tensor(const std::string&)> value_fetch(const Session& s, ValueMode m, const ValueSources& src) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (m == ValueMode::Difference) {
    if (!src.b) throw Error(ErrorKind::Usage, "showing differences needs a second run (--diff MODEL_B or --input-b FILE)");
    return [&s, &src, nan](const std::string& n) {
      Tensor a = s.activations().fetch(n);
      const PlannedTensor* tb = src.b->activations().find(n);
      if (!tb || tb->constant || tb->info.shape != a.shape() || !is_float(tb->info.dtype)) return filled(a.shape(), nan);
      return difference_values(n, a, src.b->activations().fetch(n), src.relative);
    };
  }
  if (m == ValueMode::Metric) {
    if (src.metric.empty()) throw Error(ErrorKind::Usage, "showing a metric needs per-layer values (--metric)");
    return [&s, &src, nan](const std::string& n) {
      auto it = src.metric.find(n);
      return filled(s.activations().find(n) ? s.activations().find(n)->info.shape : Shape{1},
                    it == src.metric.end() ? nan : static_cast<float>(it->second));
    };
  }
  if (m == ValueMode::Activation)
    return [&s](const std::string& n) {
      Tensor t = s.activations().fetch(n);
      if (t.dtype() != DType::Int8 && t.dtype() != DType::UInt8) return t;
      // A quantized tensor is drawn by its real values, (q - zero point) * scale; without known
      // parameters, by its integers.
      const std::optional<TensorQuantization> q = tensor_quantization(s, n);
      return q ? dequantized(t, *q) : t.cast(DType::Float32);
    };
  if (!s.has_gradients())
    throw Error(ErrorKind::Usage, std::string("showing ") + value_mode_name(m) + "s needs the gradients of a target (none computed)");
  if (m == ValueMode::Gradient) return [&s](const std::string& n) { return s.gradients().fetch(n); };
  return [&s](const std::string& n) {
    Tensor g = s.gradients().fetch(n);
    Tensor a = s.activations().fetch(n);
    if (a.dtype() != DType::Float32) a = a.cast(DType::Float32);  // fp16 models: gradients are float32
    Tensor out(DType::Float32, g.shape());
    float* o = out.data_as<float>();
    const float* gp = g.data_as<float>();
    const float* ap = a.data_as<float>();
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = gp[i] * ap[i];
    return out;
  };
}

std::vector<uint64_t> arena_offsets(const Layout& layout, const std::vector<PlannedTensor>& planned,
                                    int backend) {
  std::map<std::string_view, const PlannedTensor*> by_name;
  for (const auto& t : planned) by_name[t.name] = &t;
  std::vector<uint64_t> out;
  for (const auto& l : layout.layers) {
    auto it = by_name.find(l.tensor.name);
    const PlannedTensor* t = it == by_name.end() ? nullptr : it->second;
    const char* why = !t ? "is not in the plan"
                      : t->constant ? "is a constant"
                      : t->backend != backend ? "lives on another backend"
                      : t->info.dtype != DType::Float32 ? "is not float32" : nullptr;
    if (why) throw Error(ErrorKind::Unsupported, "arena_offsets: tensor '" + l.tensor.name + "' " + why +
                                                     " (not in backend " + std::to_string(backend) + "'s arena)");
    out.push_back(t->offset);
  }
  return out;
}

}  // namespace netlens::viz
