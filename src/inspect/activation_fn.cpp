#include "netlens/inspect/activation_fn.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>

namespace netlens::inspect {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kSqrt2OverPi = 0.7978845608028654;
// Sigmoid(x) within 0.01 of 0 or 1 ⇔ |x| > ln 99; tanh within 0.01 of ±1 ⇔ |x| > atanh 0.99.
const double kSigmoidSat = std::log(99.0);
const double kTanhSat = std::atanh(0.99);
// Elu/Selu within 1% of their lower asymptote −α ⇔ eˣ < 0.01.
const double kEluSat = std::log(0.01);

bool approx(double a, double b) { return std::fabs(a - b) <= 1e-4 * std::max(1e-12, std::fabs(b)); }

bool default_domain(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

// The value of a constant tensor whose elements are all equal (a scalar in effect).
std::optional<double> scalar_const(const ModelView& v, const std::string& t) {
  if (t.empty() || !v.has(t) || !v.is_constant(t)) return std::nullopt;
  const Tensor c = v.value(t);
  if (c.numel() < 1 || !(is_float(c.dtype()) || is_integer(c.dtype()))) return std::nullopt;
  const double first = c.get_f64(0);
  for (int64_t i = 1; i < c.numel(); ++i)
    if (c.get_f64(i) != first) return std::nullopt;
  return first;
}

const Node* producer_of(const ModelView& v, const std::string& t, size_t* index = nullptr) {
  auto p = v.producer(t);
  if (!p) return nullptr;
  if (index) *index = *p;
  return &v.graph().nodes[*p];
}

bool is_graph_output(const ModelView& v, const std::string& t) {
  for (const auto& o : v.graph().outputs)
    if (o.name == t) return true;
  return false;
}

// An intermediate of a pattern: read by exactly one node and not a graph output, so folding it
// into the pattern hides nothing.
bool internal(const ModelView& v, const std::string& t) { return v.consumers(t).size() == 1 && !is_graph_output(v, t); }

// A product of Mul/Div nodes flattened into non-constant factors and one constant coefficient.
struct Product {
  std::vector<std::string> leaves;
  double k = 1;
  std::vector<size_t> nodes;
};

bool flatten(const ModelView& v, size_t node, Product& p);

void add_factor(const ModelView& v, const std::string& t, Product& p) {
  if (auto c = scalar_const(v, t)) {
    p.k *= *c;
    return;
  }
  size_t idx = 0;
  const Node* n = producer_of(v, t, &idx);
  if (n && default_domain(*n) && (n->op_type == "Mul" || n->op_type == "Div") && internal(v, t)) {
    Product inner;
    if (flatten(v, idx, inner)) {
      p.leaves.insert(p.leaves.end(), inner.leaves.begin(), inner.leaves.end());
      p.k *= inner.k;
      p.nodes.insert(p.nodes.end(), inner.nodes.begin(), inner.nodes.end());
      return;
    }
  }
  p.leaves.push_back(t);
}

// node is Mul(a, b) or Div(a, c) with c a constant (a non-constant divisor is not a product).
bool flatten(const ModelView& v, size_t node, Product& p) {
  const Node& n = v.graph().nodes[node];
  if (!default_domain(n) || n.inputs.size() != 2 || n.outputs.empty()) return false;
  if (n.op_type == "Mul") {
    add_factor(v, n.inputs[0], p);
    add_factor(v, n.inputs[1], p);
  } else if (n.op_type == "Div") {
    auto c = scalar_const(v, n.inputs[1]);
    if (!c || *c == 0) return false;
    add_factor(v, n.inputs[0], p);
    p.k /= *c;
  } else {
    return false;
  }
  p.nodes.push_back(node);
  return true;
}

// Product rooted at the producer of t, when t is internal and made by Mul/Div.
std::optional<Product> product_of(const ModelView& v, const std::string& t) {
  size_t idx = 0;
  const Node* n = producer_of(v, t, &idx);
  if (!n || !internal(v, t) || (n->op_type != "Mul" && n->op_type != "Div")) return std::nullopt;
  Product p;
  if (!flatten(v, idx, p)) return std::nullopt;
  return p;
}

// Clip bounds: attributes before opset 11, constant inputs 1 and 2 after (absent = unbounded).
bool clip_bounds(const ModelView& v, const Node& n, double& lo, double& hi) {
  lo = -kInf;
  hi = kInf;
  const int64_t opset = v.graph().opset();
  if (opset < 11) {
    if (n.has_attr("min")) lo = n.attr_float("min", 0);
    if (n.has_attr("max")) hi = n.attr_float("max", 0);
    return true;
  }
  if (n.has_input(1)) {
    auto c = scalar_const(v, n.inputs[1]);
    if (!c) return false;
    lo = *c;
  }
  if (n.has_input(2)) {
    auto c = scalar_const(v, n.inputs[2]);
    if (!c) return false;
    hi = *c;
  }
  return true;
}

// t = Add(x, b) / Add(b, x) with b a scalar constant: returns x and b, and the node.
bool add_const(const ModelView& v, const std::string& t, std::string& x, double& b, size_t& node) {
  const Node* n = producer_of(v, t, &node);
  if (!n || !default_domain(*n) || n->op_type != "Add" || n->inputs.size() != 2 || !internal(v, t)) return false;
  for (int i = 0; i < 2; ++i)
    if (auto c = scalar_const(v, n->inputs[static_cast<size_t>(1 - i)])) {
      if (scalar_const(v, n->inputs[static_cast<size_t>(i)])) return false;
      x = n->inputs[static_cast<size_t>(i)];
      b = *c;
      return true;
    }
  return false;
}

// g = Clip(Add(x, b), 0, m): x·g/m is HardSwish(1/m, b/m), g/m is HardSigmoid(1/m, b/m).
bool shifted_relu_n(const ModelView& v, const std::string& g, std::string& x, double& b, double& m,
                    std::vector<size_t>& nodes) {
  size_t clip_idx = 0;
  const Node* clip = producer_of(v, g, &clip_idx);
  if (!clip || !default_domain(*clip) || clip->op_type != "Clip" || !internal(v, g)) return false;
  double lo = 0, hi = 0;
  if (!clip_bounds(v, *clip, lo, hi) || lo != 0 || !std::isfinite(hi) || hi <= 0) return false;
  size_t add_idx = 0;
  if (!add_const(v, clip->inputs[0], x, b, add_idx)) return false;
  m = hi;
  nodes.push_back(clip_idx);
  nodes.push_back(add_idx);
  return true;
}

// g = Add(Erf(u), 1) with u = x/√2 (Div by √2 or a product with coefficient 1/√2).
bool erf_term(const ModelView& v, const std::string& g, const std::string& x, std::vector<size_t>& nodes) {
  std::string e;
  double one = 0;
  size_t add_idx = 0;
  if (!add_const(v, g, e, one, add_idx) || !approx(one, 1)) return false;
  size_t erf_idx = 0;
  const Node* erf = producer_of(v, e, &erf_idx);
  if (!erf || !default_domain(*erf) || erf->op_type != "Erf" || !internal(v, e)) return false;
  auto p = product_of(v, erf->inputs[0]);
  if (!p || p->leaves.size() != 1 || p->leaves[0] != x || !approx(p->k, 1 / kSqrt2)) return false;
  nodes.push_back(add_idx);
  nodes.push_back(erf_idx);
  nodes.insert(nodes.end(), p->nodes.begin(), p->nodes.end());
  return true;
}

// x³ as Pow(x, 3) (leaf) or x·x·x (three leaves).
bool is_cube(const ModelView& v, const Product& p, const std::string& x, std::vector<size_t>& nodes) {
  if (p.leaves.size() == 3) return std::all_of(p.leaves.begin(), p.leaves.end(), [&](const auto& l) { return l == x; });
  if (p.leaves.size() != 1) return false;
  size_t pow_idx = 0;
  const Node* pw = producer_of(v, p.leaves[0], &pow_idx);
  if (!pw || pw->op_type != "Pow" || !internal(v, p.leaves[0]) || pw->inputs.size() != 2 || pw->inputs[0] != x) return false;
  auto e = scalar_const(v, pw->inputs[1]);
  if (!e || *e != 3) return false;
  nodes.push_back(pow_idx);
  return true;
}

// g = Add(Tanh(√(2/π)·(x + 0.044715·x³)), 1).
bool tanh_term(const ModelView& v, const std::string& g, const std::string& x, std::vector<size_t>& nodes) {
  std::string t;
  double one = 0;
  size_t add_idx = 0;
  if (!add_const(v, g, t, one, add_idx) || !approx(one, 1)) return false;
  size_t tanh_idx = 0;
  const Node* th = producer_of(v, t, &tanh_idx);
  if (!th || th->op_type != "Tanh" || !internal(v, t)) return false;
  auto outer = product_of(v, th->inputs[0]);
  if (!outer || outer->leaves.size() != 1 || !approx(outer->k, kSqrt2OverPi)) return false;
  size_t sum_idx = 0;
  const Node* sum = producer_of(v, outer->leaves[0], &sum_idx);
  if (!sum || sum->op_type != "Add" || sum->inputs.size() != 2 || !internal(v, outer->leaves[0])) return false;
  for (int i = 0; i < 2; ++i) {
    if (sum->inputs[static_cast<size_t>(i)] != x) continue;
    auto cube = product_of(v, sum->inputs[static_cast<size_t>(1 - i)]);
    std::vector<size_t> cube_nodes;
    if (!cube || !approx(cube->k, 0.044715) || !is_cube(v, *cube, x, cube_nodes)) continue;
    nodes.insert(nodes.end(), {add_idx, tanh_idx, sum_idx});
    nodes.insert(nodes.end(), outer->nodes.begin(), outer->nodes.end());
    nodes.insert(nodes.end(), cube->nodes.begin(), cube->nodes.end());
    nodes.insert(nodes.end(), cube_nodes.begin(), cube_nodes.end());
    return true;
  }
  return false;
}

std::optional<Activation> single_op(const ModelView& v, size_t idx) {
  const Node& n = v.graph().nodes[idx];
  if (!default_domain(n) || n.inputs.empty() || n.outputs.empty()) return std::nullopt;
  Activation a;
  a.input = n.inputs[0];
  a.output = n.outputs[0];
  a.nodes = {idx};
  const std::string& op = n.op_type;
  if (op == "Relu") {
    a.kind = ActKind::Relu;
  } else if (op == "LeakyRelu") {
    a.kind = ActKind::LeakyRelu;
    a.alpha = n.attr_float("alpha", 0.01f);
  } else if (op == "PRelu") {
    if (!n.has_input(1) || !v.has(n.inputs[1]) || !v.is_constant(n.inputs[1])) return std::nullopt;
    a.kind = ActKind::PRelu;
    a.slope = v.value(n.inputs[1]).to_f32_vector();
    if (a.slope.empty()) return std::nullopt;
  } else if (op == "Sigmoid") {
    a.kind = ActKind::Sigmoid;
  } else if (op == "Tanh") {
    a.kind = ActKind::Tanh;
  } else if (op == "HardSigmoid") {
    a.kind = ActKind::HardSigmoid;
    a.alpha = n.attr_float("alpha", 0.2f);
    a.beta = n.attr_float("beta", 0.5f);
  } else if (op == "HardSwish") {
    a.kind = ActKind::HardSwish;
    a.alpha = 1.0 / 6.0;
    a.beta = 0.5;
  } else if (op == "Softplus") {
    a.kind = ActKind::Softplus;
  } else if (op == "Elu") {
    a.kind = ActKind::Elu;
    a.alpha = n.attr_float("alpha", 1.0f);
  } else if (op == "Selu") {
    a.kind = ActKind::Selu;
    a.alpha = n.attr_float("alpha", 1.67326319217681884765625f);
    a.gamma = n.attr_float("gamma", 1.05070102214813232421875f);
  } else if (op == "Gelu") {
    a.kind = n.attr_string("approximate", "none") == "tanh" ? ActKind::GeluTanh : ActKind::Gelu;
  } else if (op == "Clip") {
    a.kind = ActKind::Clip;
    if (!clip_bounds(v, n, a.min, a.max)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return a;
}

// Patterns whose last node is a Mul or Div: a product of x and a gate, or a scaled gate alone.
std::optional<Activation> product_pattern(const ModelView& v, size_t idx) {
  const Node& root = v.graph().nodes[idx];
  if (root.outputs.empty()) return std::nullopt;
  Product p;
  if (!flatten(v, idx, p)) return std::nullopt;
  Activation a;
  a.output = root.outputs[0];
  std::vector<size_t> extra;
  auto done = [&](ActKind kind, const std::string& x) {
    a.kind = kind;
    a.input = x;
    a.nodes = p.nodes;
    a.nodes.insert(a.nodes.end(), extra.begin(), extra.end());
    return a;
  };
  if (p.leaves.size() == 1) {
    // Clip(x + b, 0, m) / m → HardSigmoid(1/m, b/m).
    std::string x;
    double b = 0, m = 0;
    if (shifted_relu_n(v, p.leaves[0], x, b, m, extra) && approx(p.k, 1 / m)) {
      a.alpha = 1 / m;
      a.beta = b / m;
      return done(ActKind::HardSigmoid, x);
    }
    return std::nullopt;
  }
  if (p.leaves.size() != 2) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    const std::string& x = p.leaves[static_cast<size_t>(i)];
    const std::string& g = p.leaves[static_cast<size_t>(1 - i)];
    extra.clear();
    size_t gi = 0;
    const Node* gn = producer_of(v, g, &gi);
    if (!gn || !internal(v, g) || !default_domain(*gn)) continue;
    if (gn->op_type == "Sigmoid" && approx(p.k, 1)) {
      // x·sigmoid(x), or Swish x·sigmoid(βx) with βx a product of x and constants (Paddle's swish).
      if (gn->inputs[0] == x) {
        extra.push_back(gi);
        a.beta = 1;
        return done(ActKind::Silu, x);
      }
      auto bx = product_of(v, gn->inputs[0]);
      if (bx && bx->leaves.size() == 1 && bx->leaves[0] == x) {
        extra.push_back(gi);
        extra.insert(extra.end(), bx->nodes.begin(), bx->nodes.end());
        a.beta = bx->k;
        return done(ActKind::Silu, x);
      }
    }
    if (gn->op_type == "HardSigmoid" && gn->inputs[0] == x && approx(p.k, 1)) {
      extra.push_back(gi);
      a.alpha = gn->attr_float("alpha", 0.2f);
      a.beta = gn->attr_float("beta", 0.5f);
      return done(ActKind::HardSwish, x);
    }
    std::string inner;
    double b = 0, m = 0;
    if (gn->op_type == "Clip" && shifted_relu_n(v, g, inner, b, m, extra) && inner == x && approx(p.k, 1 / m)) {
      a.alpha = 1 / m;
      a.beta = b / m;
      return done(ActKind::HardSwish, x);
    }
    extra.clear();
    if (gn->op_type == "Add" && approx(p.k, 0.5)) {
      if (erf_term(v, g, x, extra)) return done(ActKind::Gelu, x);
      extra.clear();
      if (tanh_term(v, g, x, extra)) return done(ActKind::GeluTanh, x);
    }
  }
  return std::nullopt;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

std::string act_kind_name(ActKind k) {
  switch (k) {
    case ActKind::Relu: return "Relu";
    case ActKind::LeakyRelu: return "LeakyRelu";
    case ActKind::PRelu: return "PRelu";
    case ActKind::Sigmoid: return "Sigmoid";
    case ActKind::Tanh: return "Tanh";
    case ActKind::HardSigmoid: return "HardSigmoid";
    case ActKind::HardSwish: return "HardSwish";
    case ActKind::Silu: return "Silu";
    case ActKind::Gelu: return "Gelu";
    case ActKind::GeluTanh: return "GeluTanh";
    case ActKind::Clip: return "Clip";
    case ActKind::Softplus: return "Softplus";
    case ActKind::Elu: return "Elu";
    case ActKind::Selu: return "Selu";
  }
  return "?";
}

double Activation::eval(double x, int64_t channel) const {
  switch (kind) {
    case ActKind::Relu: return x > 0 ? x : 0;
    case ActKind::LeakyRelu: return x < 0 ? alpha * x : x;
    case ActKind::PRelu: {
      double s = 0;
      if (channel < 0 || slope.size() == 1) {
        s = slope.size() == 1 ? slope[0] : std::accumulate(slope.begin(), slope.end(), 0.0) / static_cast<double>(slope.size());
      } else {
        s = slope[static_cast<size_t>(channel) % slope.size()];
      }
      return x < 0 ? s * x : x;
    }
    case ActKind::Sigmoid: return sigmoid(x);
    case ActKind::Tanh: return std::tanh(x);
    case ActKind::HardSigmoid: return std::clamp(alpha * x + beta, 0.0, 1.0);
    case ActKind::HardSwish: return x * std::clamp(alpha * x + beta, 0.0, 1.0);
    case ActKind::Silu: return x * sigmoid(beta * x);
    case ActKind::Gelu: return 0.5 * x * (1 + std::erf(x / kSqrt2));
    case ActKind::GeluTanh: return 0.5 * x * (1 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
    case ActKind::Clip: return std::clamp(x, min, max);
    case ActKind::Softplus: return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));  // no overflow
    case ActKind::Elu: return x < 0 ? alpha * std::expm1(x) : x;
    case ActKind::Selu: return gamma * (x < 0 ? alpha * std::expm1(x) : x);
  }
  return x;
}

bool Activation::flat_at(double x) const {
  switch (kind) {
    case ActKind::Relu: return x < 0;
    case ActKind::Clip: return x < min || x > max;
    case ActKind::HardSigmoid: return alpha * x + beta < 0 || alpha * x + beta > 1;
    case ActKind::HardSwish: return alpha * x + beta < 0;
    default: return false;
  }
}

bool Activation::has_saturation() const {
  switch (kind) {
    case ActKind::Sigmoid:
    case ActKind::Tanh:
    case ActKind::HardSigmoid:
    case ActKind::Elu:
    case ActKind::Selu: return true;
    case ActKind::Clip: return std::isfinite(min) && std::isfinite(max);
    default: return false;
  }
}

bool Activation::saturated_at(double x) const {
  switch (kind) {
    case ActKind::Sigmoid: return std::fabs(x) > kSigmoidSat;
    case ActKind::Tanh: return std::fabs(x) > kTanhSat;
    case ActKind::HardSigmoid: return flat_at(x);
    case ActKind::Clip: return has_saturation() && flat_at(x);
    case ActKind::Elu:
    case ActKind::Selu: return x < kEluSat;
    default: return false;
  }
}

bool Activation::outputs_exact_zeros() const {
  return kind == ActKind::Relu || kind == ActKind::HardSwish || (kind == ActKind::Clip && min == 0);
}

std::string Activation::saturation_kind() const {
  if (kind == ActKind::Sigmoid || kind == ActKind::Tanh || kind == ActKind::HardSigmoid) return name();
  return "";
}

std::optional<Activation> recognize_node(const ModelView& view, size_t node) {
  assert(node < view.graph().nodes.size());
  std::optional<Activation> a = single_op(view, node);
  if (!a) a = product_pattern(view, node);
  if (!a) return std::nullopt;
  std::sort(a->nodes.begin(), a->nodes.end());
  a->nodes.erase(std::unique(a->nodes.begin(), a->nodes.end()), a->nodes.end());
  a->decomposed = a->nodes.size() > 1;
  return a;
}

std::optional<Activation> recognize_tensor(const ModelView& view, const std::string& tensor) {
  auto p = view.producer(tensor);
  if (!p || view.graph().nodes[*p].outputs.empty() || view.graph().nodes[*p].outputs[0] != tensor) return std::nullopt;
  return recognize_node(view, *p);
}

std::vector<Activation> find_activations(const ModelView& view) {
  std::vector<Activation> all;
  for (size_t i = 0; i < view.graph().nodes.size(); ++i)
    if (auto a = recognize_node(view, i)) all.push_back(std::move(*a));
  std::vector<Activation> outer;
  for (size_t i = 0; i < all.size(); ++i) {
    bool nested = false;
    for (size_t j = 0; j < all.size() && !nested; ++j)
      nested = j != i && all[j].nodes.size() > all[i].nodes.size() &&
               std::includes(all[j].nodes.begin(), all[j].nodes.end(), all[i].nodes.begin(), all[i].nodes.end());
    if (!nested) outer.push_back(std::move(all[i]));
  }
  return outer;
}

ActivationAnalysis analyze_activation(const ModelView& view, const Activation& act, int samples) {
  assert(samples >= 2);
  ActivationAnalysis r;
  r.act = act;
  const Tensor x = view.value(act.input);
  std::vector<float> vals = x.dtype() == DType::Float32 ? std::vector<float>(x.data_as<float>(), x.data_as<float>() + x.numel())
                                                        : x.to_f32_vector();
  r.inputs = static_cast<int64_t>(vals.size());
  std::erase_if(vals, [](float f) { return !std::isfinite(f); });
  r.finite = static_cast<int64_t>(vals.size());
  int64_t flat = 0, sat = 0;
  double lo = kInf, hi = -kInf;
  for (float f : vals) {
    lo = std::min<double>(lo, f);
    hi = std::max<double>(hi, f);
    flat += act.flat_at(f);
    sat += act.saturated_at(f);
  }
  if (vals.empty()) lo = hi = 0;
  r.x_min = lo;
  r.x_max = hi;
  const double n = std::max<double>(1, static_cast<double>(r.finite));
  r.flat_fraction = static_cast<double>(flat) / n;
  if (act.has_saturation()) r.saturated_fraction = static_cast<double>(sat) / n;
  const double span = hi > lo ? hi - lo : 1.0;
  const double c0 = lo - 0.1 * span, c1 = hi + 0.1 * span;
  r.curve.reserve(static_cast<size_t>(samples));
  for (int i = 0; i < samples; ++i) {
    const double xi = c0 + (c1 - c0) * i / (samples - 1);
    r.curve.push_back({xi, act.eval(xi, -1)});
  }
  r.input_histogram = make_histogram(vals);
  return r;
}

nlohmann::json to_json(const Activation& a, const ModelView* view) {
  nlohmann::json j;
  j["kind"] = a.name();
  j["decomposed"] = a.decomposed;
  nlohmann::json p = nlohmann::json::object();
  auto bound = [](double b) { return std::isfinite(b) ? nlohmann::json(b) : nlohmann::json(nullptr); };
  switch (a.kind) {
    case ActKind::LeakyRelu:
    case ActKind::Elu: p["alpha"] = a.alpha; break;
    case ActKind::Selu: p["alpha"] = a.alpha; p["gamma"] = a.gamma; break;
    case ActKind::HardSigmoid:
    case ActKind::HardSwish: p["alpha"] = a.alpha; p["beta"] = a.beta; break;
    case ActKind::Silu: p["beta"] = a.beta; break;
    case ActKind::Clip: p["min"] = bound(a.min); p["max"] = bound(a.max); break;
    case ActKind::PRelu: {
      p["slope"] = a.slope;
      break;
    }
    default: break;
  }
  j["params"] = p;
  j["input"] = a.input;
  j["output"] = a.output;
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t i : a.nodes) {
    nlohmann::json n = {{"index", i}};
    if (view) {
      n["name"] = view->graph().nodes[i].name;
      n["op"] = view->graph().nodes[i].op_type;
    }
    nodes.push_back(n);
  }
  j["nodes"] = nodes;
  return j;
}

nlohmann::json to_json(const ActivationAnalysis& a, const ModelView* view) {
  nlohmann::json j = to_json(a.act, view);
  j["inputs"] = a.inputs;
  j["finite_inputs"] = a.finite;
  j["x_min"] = a.x_min;
  j["x_max"] = a.x_max;
  j["flat_fraction"] = a.flat_fraction;
  j["saturated_fraction"] = a.saturated_fraction ? nlohmann::json(*a.saturated_fraction) : nlohmann::json(nullptr);
  nlohmann::json xs = nlohmann::json::array(), ys = nlohmann::json::array();
  for (const CurvePoint& c : a.curve) {
    xs.push_back(c.x);
    ys.push_back(c.y);
  }
  j["curve"] = {{"x", xs}, {"y", ys}};
  j["input_histogram"] = to_json(a.input_histogram);
  return j;
}

}  // namespace netlens::inspect
