// tensor_quantization / dequantized (shapes_quant.hpp): the scale and zero point of an int8/uint8
// tensor of a run, for the views that draw quantized tensors by their real values and the panels
// that show the integers beside their scale and zero point.
#include <cstring>
#include <map>

#include "netlens/runtime/shapes_quant.hpp"

namespace netlens {

namespace {

std::vector<float> floats_of(const Tensor& t) { return t.cast(DType::Float32).to_f32_vector(); }

// The store's value of `name` (constants included), or an undefined tensor.
Tensor value_of(const ActivationStore& a, const std::string& name) {
  if (name.empty()) return {};
  try {
    return a.fetch(name);
  } catch (const Error&) {
    return {};
  }
}

std::optional<TensorQuantization> from_params(const Session& s, const Node& n, const std::string& scale,
                                              const std::string& zp, const Shape& shape, bool with_axis) {
  const Tensor st = value_of(s.activations(), scale);
  if (!st.defined() || !is_float(st.dtype()) || st.numel() == 0) return std::nullopt;
  TensorQuantization q;
  q.scale = floats_of(st);
  q.zero_point.assign(q.scale.size(), 0);
  if (const Tensor zt = value_of(s.activations(), zp); zt.defined()) {
    if (zt.numel() != static_cast<int64_t>(q.scale.size())) return std::nullopt;
    for (int64_t i = 0; i < zt.numel(); ++i) q.zero_point[static_cast<size_t>(i)] = static_cast<int32_t>(zt.get_i64(i));
  }
  if (q.scale.size() > 1) {
    if (!with_axis) return std::nullopt;  // per-channel y parameters: not an ONNX form
    TensorInfo si{st.dtype(), st.shape()};
    q.axis = quant_axis(n, s.graph().opset(), shape, si, nullptr);
  }
  q.node = n.describe();
  return q;
}

}  // namespace

std::optional<TensorQuantization> tensor_quantization(const Session& s, const std::string& tensor) {
  const PlannedTensor* t = s.activations().find(tensor);
  if (!t || !is_quant8(t->info.dtype)) return std::nullopt;
  const Graph& g = s.graph();
  if (t->producer >= 0) {
    const Node& n = g.nodes[static_cast<size_t>(t->producer)];
    if (n.op_type == "QuantizeLinear" && n.outputs[0] == tensor)
      return from_params(s, n, n.input(1), n.input(2), t->info.shape, true);
    if ((n.op_type == "QLinearConv" || n.op_type == "QLinearMatMul") && n.outputs[0] == tensor)
      return from_params(s, n, n.input(6), n.input(7), t->info.shape, false);
    if (n.op_type == "DynamicQuantizeLinear" && n.outputs[0] == tensor && n.outputs.size() >= 3)
      return from_params(s, n, n.outputs[1], n.outputs[2], t->info.shape, false);
    // com.microsoft QLinear ops: the output's scale and zero point inputs.
    if (n.domain == "com.microsoft" && n.outputs[0] == tensor) {
      static const std::map<std::string, size_t> kYScale = {
          {"QLinearAdd", 6}, {"QLinearMul", 6}, {"QLinearSigmoid", 3}, {"QLinearLeakyRelu", 3},
          {"QLinearGlobalAveragePool", 3}, {"QLinearAveragePool", 3}, {"QLinearConcat", 0}};
      if (auto it = kYScale.find(n.op_type); it != kYScale.end())
        return from_params(s, n, n.input(it->second), n.input(it->second + 1), t->info.shape, false);
    }
  }
  for (const Node& n : g.nodes)
    if (n.op_type == "DequantizeLinear" && n.input(0) == tensor)
      return from_params(s, n, n.input(1), n.input(2), t->info.shape, true);
  return std::nullopt;
}

Tensor dequantized(const Tensor& q, const TensorQuantization& p) {
  Tensor out(DType::Float32, q.shape());
  float* o = out.data_as<float>();
  const bool s8 = q.dtype() == DType::Int8;
  const int64_t n = q.numel();
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = p.axis.per_axis ? static_cast<size_t>((i / p.axis.inner) % p.axis.channels) : 0;
    const int32_t v = s8 ? q.data_as<int8_t>()[i] : q.data_as<uint8_t>()[i];
    o[i] = static_cast<float>(v - p.zero_point[c]) * p.scale[c];
  }
  return out;
}

}  // namespace netlens
