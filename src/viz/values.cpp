// Value modes: the tensors a scene is built from.
#include "values.hpp"

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

}  // namespace netlens::viz
