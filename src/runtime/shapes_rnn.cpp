// Shape inference for LSTM, GRU and RNN (opsets 7..22: layout from 14), and the attribute/shape
// decoding the CPU kernels share (shapes_rnn.hpp).
#include "netlens/runtime/shapes_rnn.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <variant>

#include "netlens/runtime/shape_util.hpp"
#include "shapes.hpp"

namespace netlens::rnn {

namespace {

[[noreturn]] void fail(const Node& n, const std::string& msg) { throw Error(ErrorKind::Model, n.describe() + ": " + msg); }

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

struct ActInfo {
  Activation::Kind kind;
  bool takes_alpha, takes_beta;
  float alpha, beta;  // defaults when activation_alpha/beta run out (the ONNX ops' own defaults)
};

const ActInfo* act_info(const std::string& name) {
  using K = Activation::Kind;
  static const std::vector<std::pair<std::string, ActInfo>> table = {
      {"sigmoid", {K::Sigmoid, false, false, 0, 0}},
      {"tanh", {K::Tanh, false, false, 0, 0}},
      {"relu", {K::Relu, false, false, 0, 0}},
      {"affine", {K::Affine, true, true, 1.0f, 0.0f}},
      {"leakyrelu", {K::LeakyRelu, true, false, 0.01f, 0}},
      {"thresholdedrelu", {K::ThresholdedRelu, true, false, 1.0f, 0}},
      {"scaledtanh", {K::ScaledTanh, true, true, 1.0f, 1.0f}},
      {"hardsigmoid", {K::HardSigmoid, true, true, 0.2f, 0.5f}},
      {"elu", {K::Elu, true, false, 1.0f, 0}},
      {"softsign", {K::Softsign, false, false, 0, 0}},
      {"softplus", {K::Softplus, false, false, 0, 0}},
  };
  const std::string l = lower(name);
  for (const auto& [k, v] : table)
    if (k == l) return &v;
  return nullptr;
}

std::vector<std::string> attr_strings(const Node& n, const std::string& k) {
  auto it = n.attrs.find(k);
  if (it == n.attrs.end()) return {};
  if (const auto* v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
  if (const auto* s = std::get_if<std::string>(&it->second)) return {*s};
  fail(n, "attribute '" + k + "' must be a list of strings");
}

void expect_shape(const Node& n, const char* what, const Shape& got, const Shape& want) {
  if (got != want) fail(n, std::string(what) + " has shape " + shape_str(got) + ", expected " + shape_str(want));
}

}  // namespace

float Activation::operator()(float x) const {
  switch (kind) {
    case Kind::Sigmoid: return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x));
    case Kind::Tanh: return std::tanh(x);
    case Kind::Relu: return std::max(x, 0.0f);
    case Kind::Affine: return alpha * x + beta;
    case Kind::LeakyRelu: return x >= 0 ? x : alpha * x;
    case Kind::ThresholdedRelu: return x > alpha ? x : 0.0f;
    case Kind::ScaledTanh: return alpha * std::tanh(beta * x);
    case Kind::HardSigmoid: return std::clamp(alpha * x + beta, 0.0f, 1.0f);
    case Kind::Elu: return x >= 0 ? x : alpha * (std::exp(x) - 1.0f);
    case Kind::Softsign: return x / (1.0f + std::fabs(x));
    case Kind::Softplus: return x > 20.0f ? x : std::log1p(std::exp(x));
  }
  return x;
}

Shape Spec::y_shape() const { return layout1 ? Shape{batch, seq, dirs, hidden} : Shape{seq, dirs, batch, hidden}; }
Shape Spec::state_shape() const { return layout1 ? Shape{batch, dirs, hidden} : Shape{dirs, batch, hidden}; }

Spec decode(const Node& n, int64_t opset, const std::vector<const TensorInfo*>& in) {
  Spec s;
  if (n.op_type == "LSTM") s.cell = Cell::Lstm, s.gates = 4, s.acts_per_dir = 3;
  else if (n.op_type == "GRU") s.cell = Cell::Gru, s.gates = 3, s.acts_per_dir = 2;
  else s.cell = Cell::Rnn, s.gates = 1, s.acts_per_dir = 1;
  auto has = [&](size_t i) { return i < in.size() && in[i] != nullptr; };
  for (size_t i = 0; i < 3; ++i)
    if (!has(i)) fail(n, std::string("input ") + (i == 0 ? "X" : i == 1 ? "W" : "R") + " is missing");
  const TensorInfo &x = *in[0], &w = *in[1], &r = *in[2];
  if (!is_float(x.dtype)) throw Error(ErrorKind::Unsupported, n.describe() + ": X must be float, got " + std::string(dtype_name(x.dtype)));
  if (x.shape.size() != 3) fail(n, "X has shape " + shape_str(x.shape) + ", expected rank 3");
  if (w.shape.size() != 3) fail(n, "W has shape " + shape_str(w.shape) + ", expected rank 3");
  if (r.shape.size() != 3) fail(n, "R has shape " + shape_str(r.shape) + ", expected rank 3");

  const int64_t layout = opset >= 14 ? n.attr_int("layout", 0) : 0;
  if (layout != 0 && layout != 1) fail(n, "layout must be 0 or 1, got " + std::to_string(layout));
  s.layout1 = layout == 1;
  s.seq = s.layout1 ? x.shape[1] : x.shape[0];
  s.batch = s.layout1 ? x.shape[0] : x.shape[1];
  s.input = x.shape[2];

  const std::string dir = n.attr_string("direction", "forward");
  if (dir == "forward") s.dirs = 1;
  else if (dir == "reverse") s.dirs = 1, s.reverse_only = true;
  else if (dir == "bidirectional") s.dirs = 2;
  else fail(n, "direction must be forward, reverse or bidirectional, got '" + dir + "'");

  s.hidden = n.has_attr("hidden_size") ? n.attr_int("hidden_size", 0) : r.shape[2];
  if (s.hidden <= 0) fail(n, "hidden_size must be positive, got " + std::to_string(s.hidden));
  const int64_t gh = s.gates * s.hidden;
  if (w.shape[0] != s.dirs || w.shape[1] != gh || w.shape[2] != s.input)
    fail(n, "W has shape " + shape_str(w.shape) + ", expected " + shape_str({s.dirs, gh, s.input}) + " (" +
                std::to_string(s.dirs) + " direction(s), " + std::to_string(s.gates) + " gates x hidden_size " +
                std::to_string(s.hidden) + ", input size " + std::to_string(s.input) + ")");
  expect_shape(n, "R", r.shape, {s.dirs, gh, s.hidden});
  s.has_bias = has(3);
  if (s.has_bias) expect_shape(n, "B", in[3]->shape, {s.dirs, 2 * gh});
  s.has_lens = has(4);
  if (s.has_lens) {
    if (in[4]->dtype != DType::Int32) fail(n, "sequence_lens must be int32, got " + std::string(dtype_name(in[4]->dtype)));
    expect_shape(n, "sequence_lens", in[4]->shape, {s.batch});
  }
  s.has_h0 = has(5);
  if (s.has_h0) expect_shape(n, "initial_h", in[5]->shape, s.state_shape());
  if (s.cell == Cell::Lstm) {
    s.has_c0 = has(6);
    if (s.has_c0) expect_shape(n, "initial_c", in[6]->shape, s.state_shape());
    s.has_peep = has(7);
    if (s.has_peep) expect_shape(n, "P", in[7]->shape, {s.dirs, 3 * s.hidden});
    s.input_forget = n.attr_int("input_forget", 0) != 0;
  }
  if (s.cell == Cell::Gru) s.linear_before_reset = n.attr_int("linear_before_reset", 0) != 0;
  s.clip = n.attr_float("clip", 0.0f);
  if (n.has_attr("clip") && !(s.clip > 0.0f)) fail(n, "clip must be positive, got " + std::to_string(s.clip));

  std::vector<std::string> names = attr_strings(n, "activations");
  if (names.empty()) {
    static const char* kDefaults[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    for (int64_t d = 0; d < s.dirs; ++d)
      for (int k = 0; k < s.acts_per_dir; ++k) names.push_back(kDefaults[s.acts_per_dir - 1][k]);
  } else if (s.dirs == 2 && static_cast<int>(names.size()) == s.acts_per_dir) {
    // One direction's list for a bidirectional node: both directions use it (as onnxruntime does).
    const std::vector<std::string> one = names;
    names.insert(names.end(), one.begin(), one.end());
  }
  if (static_cast<int64_t>(names.size()) != s.dirs * s.acts_per_dir)
    fail(n, "activations has " + std::to_string(names.size()) + " entries, expected " +
                std::to_string(s.dirs * s.acts_per_dir) + " (" + std::to_string(s.acts_per_dir) + " per direction)");
  const std::vector<float> alphas = n.attr_floats("activation_alpha"), betas = n.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  for (const std::string& name : names) {
    const ActInfo* a = act_info(name);
    if (!a)
      fail(n, "unknown activation '" + name +
                  "' (known: Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, "
                  "Softsign, Softplus)");
    Activation act{a->kind, a->alpha, a->beta};
    if (a->takes_alpha && ai < alphas.size()) act.alpha = alphas[ai++];
    if (a->takes_beta && bi < betas.size()) act.beta = betas[bi++];
    s.acts.push_back(act);
  }
  return s;
}

void check_lengths(const Node& n, const int32_t* lens, int64_t batch, int64_t seq) {
  for (int64_t b = 0; b < batch; ++b)
    if (lens[b] < 0 || lens[b] > seq)
      throw Error(ErrorKind::Input, n.describe() + ": sequence_lens[" + std::to_string(b) + "] = " +
                                        std::to_string(lens[b]) + " is outside [0, " + std::to_string(seq) +
                                        "] (the sequence length of X)");
}

std::vector<std::pair<std::string, TensorInfo>> aux_outputs(const Spec& s, DType dtype) {
  std::vector<std::pair<std::string, TensorInfo>> out;
  Shape gates = s.y_shape();
  gates.back() = s.gates * s.hidden;
  if (s.cell == Cell::Lstm) out.push_back({"cell", TensorInfo{dtype, s.y_shape()}});
  if (s.cell != Cell::Rnn) out.push_back({"gates", TensorInfo{dtype, gates}});
  return out;
}

}  // namespace netlens::rnn

namespace netlens {

namespace {

std::vector<TensorInfo> infer_rnn(const InferContext& c) {
  const rnn::Spec s = rnn::decode(c.node, c.opset, c.inputs);
  if (s.has_lens)
    if (const Tensor* lens = c.constant(4)) rnn::check_lengths(c.node, static_cast<const int32_t*>(lens->data()), s.batch, s.seq);
  const DType t = c.in(0).dtype;
  std::vector<TensorInfo> out{TensorInfo{t, s.y_shape()}, TensorInfo{t, s.state_shape()}};
  if (s.cell == rnn::Cell::Lstm) out.push_back(TensorInfo{t, s.state_shape()});
  return out;
}

std::vector<std::pair<std::string, TensorInfo>> aux_rnn(const InferContext& c, const std::vector<TensorInfo>&) {
  return rnn::aux_outputs(rnn::decode(c.node, c.opset, c.inputs), c.in(0).dtype);
}

}  // namespace

void register_rnn_shapes(OpRegistry& r) {
  for (const char* op : {"LSTM", "GRU", "RNN"}) {
    r.add(op, infer_rnn);
    r.add_aux(op, aux_rnn);
  }
}

}  // namespace netlens
