// Value modes: the tensors a scene is built from.
#include "values.hpp"

#include <map>
#include <string_view>

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
  }
  return "?";
}

std::function<Tensor(const std::string&)> value_fetch(const Session& s, ValueMode m) {
  if (m == ValueMode::Activation) return [&s](const std::string& n) { return s.activations().fetch(n); };
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
