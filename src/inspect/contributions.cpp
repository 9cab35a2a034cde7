#include "netlens/inspect/contributions.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <map>
#include <set>

#include "netlens/inspect/activation_fn.hpp"
#include "netlens/viz/receptive_field.hpp"

namespace netlens::inspect {

namespace {

// Ops that map one element to the element at the same index (given a constant other operand for the
// binary ones). The chain walk requires equal shapes, so broadcasting the activation never happens.
const std::set<std::string> kUnary = {"Relu", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh",
                                      "Clip", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish",
                                      "ThresholdedRelu", "Identity", "Dropout", "Neg", "Abs", "Exp", "Erf",
                                      "PRelu", "Cast"};
const std::set<std::string> kBinary = {"Add", "Sub", "Mul", "Div", "Pow"};
const std::set<std::string> kFlatKeeping = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"};

bool is_linear(const std::string& op) { return op == "Conv" || op == "Gemm" || op == "MatMul"; }

// A nonlinearity written as several nodes (x·Clip(x+3,0,6)/6, x·Sigmoid(x)...; activation_fn.hpp)
// ending at `t`, elementwise on an activation of t's shape.
std::optional<Activation> decomposed_activation(const ModelView& v, const std::string& t) {
  auto act = recognize_tensor(v, t);
  if (!act || !act->decomposed || act->input.empty() || v.is_constant(act->input) ||
      v.info(act->input).shape != v.info(t).shape)
    return std::nullopt;
  return act;
}

std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> c(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    c[d] = s[d] ? flat % s[d] : 0;
    flat = s[d] ? flat / s[d] : 0;
  }
  return c;
}

int64_t ravel(const std::vector<int64_t>& c, const Shape& s) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + c[d];
  return f;
}

// Flat index in `src` (right-aligned, size-1 dims broadcast) of full coordinates `c`.
int64_t broadcast_index(const std::vector<int64_t>& c, const Shape& src) {
  int64_t f = 0;
  const size_t off = c.size() - src.size();
  for (size_t d = 0; d < src.size(); ++d) f = f * src[d] + (src[d] == 1 ? 0 : c[off + d]);
  return f;
}

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::Float32 ? t : t.cast(DType::Float32); }

// The non-constant input of an elementwise chain node, or "" when the node does not qualify.
std::string chain_input(const ModelView& v, const Node& n) {
  if (n.outputs.empty() || !v.has(n.outputs[0])) return "";
  const Shape& os = v.info(n.outputs[0]).shape;
  std::string act;
  if (kUnary.count(n.op_type)) {
    act = n.input(0);
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (n.has_input(i) && !v.is_constant(n.inputs[i])) return "";
  } else if (kBinary.count(n.op_type) && n.inputs.size() == 2) {
    const bool c0 = v.is_constant(n.input(0)), c1 = v.is_constant(n.input(1));
    if (c0 == c1) return "";
    act = c0 ? n.input(1) : n.input(0);
  } else {
    return "";
  }
  if (act.empty() || v.is_constant(act) || v.info(act).shape != os) return "";
  return act;
}

// One linear node, seen as y[o] = Σ w·x (+ bias), with the operands resolved.
struct Linear {
  const Node* node = nullptr;
  std::string op;
  std::string x_name, w_name;  // operand names as reported (x = activation)
  Tensor a, b;                 // operand values (float32): Conv X/W, Gemm A/B, MatMul A/B
  Shape as, bs, ys;            // shapes
  bool x_is_a = true;          // whether operand A is reported as the activation
  // Conv
  int64_t group = 1;
  std::vector<int64_t> strides, dil, pad_begin;
  // Gemm
  bool trans_a = false, trans_b = false;
  double alpha = 1, beta = 1;
  Tensor c;  // bias (Conv B, Gemm C), undefined when absent
  std::string c_name;
};

Linear make_linear(const ModelView& v, const Node& n) {
  Linear L;
  L.node = &n;
  L.op = n.op_type;
  L.a = as_f32(v.value(n.input(0)));
  L.b = as_f32(v.value(n.input(1)));
  L.as = L.a.shape();
  L.bs = L.b.shape();
  L.ys = v.info(n.outputs[0]).shape;
  if (n.has_input(2)) {
    L.c = as_f32(v.value(n.input(2)));
    L.c_name = n.input(2);
  }
  const bool ca = v.is_constant(n.input(0)), cb = v.is_constant(n.input(1));
  L.x_is_a = !(ca && !cb);
  L.x_name = L.x_is_a ? n.input(0) : n.input(1);
  L.w_name = L.x_is_a ? n.input(1) : n.input(0);
  if (L.op == "Conv") {
    const size_t k = L.bs.size() - 2;
    L.group = n.attr_int("group", 1);
    L.strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
    L.dil = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
    std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
    const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    L.pad_begin.assign(k, 0);
    for (size_t d = 0; d < k; ++d) {
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        // ONNX: output = ceil(in / stride); the total padding is split, the odd one at the end for
        // SAME_UPPER and at the beginning for SAME_LOWER.
        const int64_t in = L.as[2 + d], out = L.ys[2 + d];
        const int64_t total = std::max<int64_t>(0, (out - 1) * L.strides[d] + (L.bs[2 + d] - 1) * L.dil[d] + 1 - in);
        L.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      } else if (auto_pad == "VALID") {
        L.pad_begin[d] = 0;
      } else {
        L.pad_begin[d] = pads[d];
      }
    }
  } else if (L.op == "Gemm") {
    L.trans_a = n.attr_int("transA", 0) != 0;
    L.trans_b = n.attr_int("transB", 0) != 0;
    L.alpha = n.attr_float("alpha", 1.0f);
    L.beta = n.attr_float("beta", 1.0f);
  }
  return L;
}

// MatMul: full (rank ≥ 2) operand shapes and the output coordinates mapped to the full output.
struct MatMulDims {
  Shape a2, b2;
  std::vector<int64_t> full;  // output coords with the dropped M/N dims reinstated
};
MatMulDims matmul_dims(const Linear& L, const std::vector<int64_t>& yc) {
  MatMulDims m;
  m.a2 = L.as.size() == 1 ? Shape{1, L.as[0]} : L.as;
  m.b2 = L.bs.size() == 1 ? Shape{L.bs[0], 1} : L.bs;
  m.full = yc;
  if (L.as.size() == 1) m.full.insert(m.full.end() - (L.bs.size() == 1 ? 0 : 1), 0);
  if (L.bs.size() == 1) m.full.push_back(0);
  return m;
}

// Calls f(a_flat, b_flat, a_coords) for every product term of output neuron yc; returns the number
// of conv taps on padding.
template <class F>
int64_t for_each_term(const Linear& L, const std::vector<int64_t>& yc, F&& f) {
  if (L.op == "Conv") {
    const size_t k = L.bs.size() - 2;
    const int64_t M = L.bs[0], Cg = L.bs[1];
    const int64_t g = yc[1] / (M / L.group);
    std::vector<int64_t> xc(L.as.size()), wc(L.bs.size()), kc(k, 0);
    xc[0] = yc[0];
    wc[0] = yc[1];
    int64_t taps = 1, padding = 0;
    for (size_t d = 0; d < k; ++d) taps *= L.bs[2 + d];
    for (int64_t c = 0; c < Cg; ++c) {
      xc[1] = g * Cg + c;
      wc[1] = c;
      for (int64_t t = 0; t < taps; ++t) {
        int64_t rem = t;
        bool inside = true;
        for (size_t d = k; d-- > 0;) {
          kc[d] = rem % L.bs[2 + d];
          rem /= L.bs[2 + d];
        }
        for (size_t d = 0; d < k; ++d) {
          xc[2 + d] = yc[2 + d] * L.strides[d] - L.pad_begin[d] + kc[d] * L.dil[d];
          wc[2 + d] = kc[d];
          if (xc[2 + d] < 0 || xc[2 + d] >= L.as[2 + d]) inside = false;
        }
        if (!inside) { ++padding; continue; }
        f(ravel(xc, L.as), ravel(wc, L.bs), xc);
      }
    }
    return padding;
  }
  if (L.op == "Gemm") {
    const int64_t K = L.trans_a ? L.as[0] : L.as[1];
    std::vector<int64_t> ac(2);
    for (int64_t kk = 0; kk < K; ++kk) {
      ac = L.trans_a ? std::vector<int64_t>{kk, yc[0]} : std::vector<int64_t>{yc[0], kk};
      const int64_t bi = L.trans_b ? yc[1] * L.bs[1] + kk : kk * L.bs[1] + yc[1];
      f(ravel(ac, L.as), bi, ac);
    }
    return 0;
  }
  // MatMul
  const MatMulDims m = matmul_dims(L, yc);
  const size_t r = m.full.size();
  const int64_t K = m.a2.back();
  std::vector<int64_t> ac(m.a2.size()), bc(m.b2.size());
  const size_t aoff = r - m.a2.size(), boff = r - m.b2.size();
  for (size_t d = 0; d + 2 < m.a2.size(); ++d) ac[d] = m.a2[d] == 1 ? 0 : m.full[aoff + d];
  for (size_t d = 0; d + 2 < m.b2.size(); ++d) bc[d] = m.b2[d] == 1 ? 0 : m.full[boff + d];
  ac[ac.size() - 2] = m.full[r - 2];
  bc[bc.size() - 1] = m.full[r - 1];
  for (int64_t kk = 0; kk < K; ++kk) {
    ac.back() = kk;
    bc[bc.size() - 2] = kk;
    const int64_t ai = ravel(ac, m.a2), bi = ravel(bc, m.b2);
    if (L.as.size() == 1) f(kk, bi, std::vector<int64_t>{kk});
    else f(ai, bi, ac);
  }
  return 0;
}

// The weight (flat index in the other operand) linking element `xc` of operand `slot` (0 = A/X,
// 1 = B) to output neuron `yc`, or -1 when they are not linked.
int64_t link(const Linear& L, int slot, const std::vector<int64_t>& xc, const std::vector<int64_t>& yc) {
  if (L.op == "Conv") {
    if (slot != 0) return -1;
    const size_t k = L.bs.size() - 2;
    const int64_t M = L.bs[0], Cg = L.bs[1];
    const int64_t g = yc[1] / (M / L.group);
    if (xc[0] != yc[0] || xc[1] / Cg != g) return -1;
    std::vector<int64_t> wc(L.bs.size());
    wc[0] = yc[1];
    wc[1] = xc[1] - g * Cg;
    for (size_t d = 0; d < k; ++d) {
      const int64_t num = xc[2 + d] - yc[2 + d] * L.strides[d] + L.pad_begin[d];
      if (num < 0 || num % L.dil[d] != 0 || num / L.dil[d] >= L.bs[2 + d]) return -1;
      wc[2 + d] = num / L.dil[d];
    }
    return ravel(wc, L.bs);
  }
  if (L.op == "Gemm") {
    if (slot == 0) {
      const int64_t m = L.trans_a ? xc[1] : xc[0], kk = L.trans_a ? xc[0] : xc[1];
      if (m != yc[0]) return -1;
      return L.trans_b ? yc[1] * L.bs[1] + kk : kk * L.bs[1] + yc[1];
    }
    const int64_t kk = L.trans_b ? xc[1] : xc[0], n = L.trans_b ? xc[0] : xc[1];
    if (n != yc[1]) return -1;
    return L.trans_a ? kk * L.as[1] + yc[0] : yc[0] * L.as[1] + kk;
  }
  // MatMul: find the term of yc that reads xc.
  int64_t found = -1;
  const Shape& s = slot == 0 ? L.as : L.bs;
  const int64_t want = ravel(xc, s);
  for_each_term(L, yc, [&](int64_t ai, int64_t bi, const std::vector<int64_t>&) {
    if (found < 0 && (slot == 0 ? ai : bi) == want) found = slot == 0 ? bi : ai;
  });
  return found;
}

std::optional<Shape> activation_shape(const ModelView& v, const std::string& t) {
  const PlannedTensor* p = v.session().activations().find(t);
  if (!p || p->constant) return std::nullopt;
  return p->info.shape;
}

void fill_fed(const ModelView& v, const std::string& tensor, int64_t index, size_t top_k, Contributions& r) {
  // Forward through elementwise chains and flat-keeping reshapes to the linear consumers.
  std::vector<std::string> frontier{tensor};
  std::set<std::string> seen{tensor};
  std::vector<FedNeuron> all;
  const Graph& g = v.graph();
  std::multimap<std::string, std::string> decomposed;  // input → output of multi-node nonlinearities
  for (const Activation& a : find_activations(v))
    if (a.decomposed && !a.input.empty() && v.has(a.output) && v.has(a.input) && v.info(a.input).shape == v.info(a.output).shape)
      decomposed.emplace(a.input, a.output);
  while (!frontier.empty()) {
    const std::string t = frontier.back();
    frontier.pop_back();
    bool has_linear = false;
    for (size_t ni : v.consumers(t)) {
      const Node& n = g.nodes[ni];
      if (n.outputs.empty() || n.outputs[0].empty() || !activation_shape(v, n.outputs[0])) continue;
      if (is_linear(n.op_type)) { has_linear = true; continue; }
      const bool passes = kFlatKeeping.count(n.op_type) ? n.input(0) == t : chain_input(v, n) == t;
      if (passes && seen.insert(n.outputs[0]).second) frontier.push_back(n.outputs[0]);
    }
    for (auto [it, end] = decomposed.equal_range(t); it != end; ++it)
      if (seen.insert(it->second).second) frontier.push_back(it->second);
    if (!has_linear) continue;
    const Shape ts = v.info(t).shape;
    const std::vector<int64_t> tc = unravel(index, ts);
    const double x = as_f32(v.value(t)).data_as<float>()[index];
    const auto shape_of = [&](const std::string& name) { return activation_shape(v, name); };
    for (const viz::FanOut& fo : viz::fan_out(g, shape_of, t, tc)) {
      const auto pi = v.producer(fo.tensor);
      if (!pi) continue;
      const Node& n = g.nodes[*pi];
      if (!is_linear(n.op_type)) continue;
      const Linear L = make_linear(v, n);
      for (int slot = 0; slot < 2; ++slot) {
        if (n.input(static_cast<size_t>(slot)) != t) continue;
        const Tensor& w = slot == 0 ? L.b : L.a;
        const std::string& wname = n.input(slot == 0 ? 1 : 0);
        for (const auto& yc : fo.cells) {
          const int64_t wi = link(L, slot, tc, yc);
          if (wi < 0) continue;
          FedNeuron f;
          f.node = n.name;
          f.tensor = fo.tensor;
          f.coords = yc;
          f.index = ravel(yc, L.ys);
          f.weight = wname;
          f.weight_index = wi;
          f.weight_value = w.data_as<float>()[wi];
          f.activation = x;
          f.term = (L.op == "Gemm" ? L.alpha : 1.0) * f.weight_value * x;
          all.push_back(std::move(f));
        }
      }
    }
  }
  r.fed_count = static_cast<int64_t>(all.size());
  const size_t k = std::min(top_k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    [](const FedNeuron& p, const FedNeuron& q) { return std::abs(p.term) > std::abs(q.term); });
  all.resize(k);
  r.fed_by_next = std::move(all);
}

}  // namespace

Contributions contributions(const ModelView& v, const std::string& tensor, int64_t index, size_t top_k) {
  Contributions r;
  r.tensor = tensor;
  r.index = index;
  const TensorInfo& info = v.info(tensor);
  if (v.is_constant(tensor))
    throw Error(ErrorKind::Usage, "contributions: '" + tensor + "' is a constant (weights), not a neuron");
  if (index < 0 || index >= numel(info.shape))
    throw Error(ErrorKind::Usage, "contributions: index " + std::to_string(index) + " is outside '" + tensor +
                                      "' (" + shape_str(info.shape) + ", " + std::to_string(numel(info.shape)) +
                                      " elements)");
  r.coords = unravel(index, info.shape);
  r.value = as_f32(v.value(tensor)).data_as<float>()[index];

  // Back through the elementwise chain to the linear node.
  std::string t = tensor;
  std::vector<std::string> chain;
  for (;;) {
    const auto pi = v.producer(t);
    if (!pi) throw Error(ErrorKind::Usage, "contributions: '" + tensor + "' is a graph input, not computed by a layer");
    const Node& n = v.graph().nodes[*pi];
    if (is_linear(n.op_type)) {
      r.node = n.name;
      r.op = n.op_type;
      break;
    }
    // A multi-node pattern first: its last node (Div by 6 of a HardSwish) would pass as a chain step.
    std::string in;
    if (const auto act = decomposed_activation(v, t)) {
      chain.push_back(act->name());
      in = act->input;
    } else if (!(in = chain_input(v, n)).empty()) {
      chain.push_back(n.op_type);
    } else {
      throw Error(ErrorKind::Usage, "contributions: '" + tensor + "' comes from " + n.describe() +
                                        ", not from a Conv/Gemm/MatMul (directly or through an elementwise op)");
    }
    t = in;
  }
  std::reverse(chain.begin(), chain.end());
  r.chain = std::move(chain);
  r.linear_tensor = t;

  const Node& n = v.graph().nodes[v.node_index(r.node)];
  const Linear L = make_linear(v, n);
  r.pre_activation = as_f32(v.value(t)).data_as<float>()[index];
  const std::vector<int64_t> yc = unravel(index, L.ys);
  const float* pa = L.a.data_as<float>();
  const float* pb = L.b.data_as<float>();
  const double scale = L.op == "Gemm" ? L.alpha : 1.0;
  r.padding_taps = for_each_term(L, yc, [&](int64_t ai, int64_t bi, const std::vector<int64_t>& ac) {
    ContributionTerm c;
    const double av = pa[ai], bv = pb[bi];
    if (L.x_is_a) {
      c.input_index = ai;
      c.input_coords = ac;
      c.weight_index = bi;
      c.activation = av;
      c.weight_value = bv;
    } else {
      c.input_index = bi;
      c.input_coords = unravel(bi, L.bs);
      c.weight_index = ai;
      c.activation = bv;
      c.weight_value = av;
    }
    c.input = L.x_name;
    c.weight = L.w_name;
    c.term = scale * c.weight_value * c.activation;
    r.terms.push_back(std::move(c));
  });
  if (L.c.defined()) {
    r.bias_tensor = L.c_name;
    if (L.op == "Conv") {
      r.bias_index = yc[1];
      r.bias = L.c.data_as<float>()[yc[1]];
    } else {  // Gemm: C broadcast to [M, N]
      r.bias_index = broadcast_index(yc, L.c.shape());
      r.bias = L.beta * L.c.data_as<float>()[r.bias_index];
    }
  }
  double sum = r.bias;
  for (const auto& c : r.terms) {
    sum += c.term;
    (c.term >= 0 ? r.positive_total : r.negative_total) += c.term;
  }
  r.sum = sum;
  r.difference = sum - r.pre_activation;
  r.top.resize(r.terms.size());
  for (size_t i = 0; i < r.top.size(); ++i) r.top[i] = i;
  const size_t k = std::min(top_k, r.top.size());
  std::partial_sort(r.top.begin(), r.top.begin() + static_cast<std::ptrdiff_t>(k), r.top.end(), [&](size_t p, size_t q) {
    return std::abs(r.terms[p].term) > std::abs(r.terms[q].term);
  });
  r.top.resize(k);
  fill_fed(v, tensor, index, top_k, r);
  return r;
}

int64_t parse_neuron_index(const ModelView& v, const std::string& spec, std::string& tensor) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
    throw Error(ErrorKind::Usage, "--neuron '" + spec + "': expected TENSOR:INDEX (flat) or TENSOR:i,j,k,l");
  tensor = spec.substr(0, colon);
  const Shape& s = v.info(tensor).shape;
  std::vector<int64_t> parts;
  std::string cur = spec.substr(colon + 1);
  size_t pos = 0;
  try {
    while (pos <= cur.size()) {
      const size_t comma = cur.find(',', pos);
      const std::string p = cur.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      size_t used = 0;
      parts.push_back(std::stoll(p, &used));
      if (used != p.size()) throw std::invalid_argument(p);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  } catch (const std::exception&) {
    throw Error(ErrorKind::Usage, "--neuron '" + spec + "': the index must be an integer or comma-separated coordinates");
  }
  int64_t flat = 0;
  if (parts.size() == 1) {
    flat = parts[0];
  } else {
    if (parts.size() != s.size())
      throw Error(ErrorKind::Usage, "--neuron '" + spec + "': " + std::to_string(parts.size()) + " coordinates for a rank-" +
                                        std::to_string(s.size()) + " tensor (" + shape_str(s) + ")");
    for (size_t d = 0; d < s.size(); ++d)
      if (parts[d] < 0 || parts[d] >= s[d])
        throw Error(ErrorKind::Usage, "--neuron '" + spec + "': coordinate " + std::to_string(d) + " outside " + shape_str(s));
    flat = ravel(parts, s);
  }
  if (flat < 0 || flat >= numel(s))
    throw Error(ErrorKind::Usage, "--neuron '" + spec + "': index outside '" + tensor + "' (" + shape_str(s) + ")");
  return flat;
}

nlohmann::json to_json(const Contributions& c, bool all_terms) {
  using nlohmann::json;
  auto term_json = [](const ContributionTerm& t) {
    return json{{"input", t.input},   {"input_index", t.input_index}, {"input_coords", t.input_coords},
                {"weight", t.weight}, {"weight_index", t.weight_index}, {"weight_value", t.weight_value},
                {"activation", t.activation}, {"term", t.term}};
  };
  json j{{"tensor", c.tensor},
         {"index", c.index},
         {"coords", c.coords},
         {"value", c.value},
         {"chain", c.chain},
         {"linear_tensor", c.linear_tensor},
         {"node", c.node},
         {"op", c.op},
         {"pre_activation", c.pre_activation},
         {"bias_tensor", c.bias_tensor},
         {"bias_index", c.bias_index},
         {"bias", c.bias},
         {"sum", c.sum},
         {"difference", c.difference},
         {"positive_total", c.positive_total},
         {"negative_total", c.negative_total},
         {"term_count", c.terms.size()},
         {"padding_taps", c.padding_taps}};
  json top = json::array();
  for (size_t i : c.top) top.push_back(term_json(c.terms[i]));
  j["top"] = std::move(top);
  if (all_terms) {
    json all = json::array();
    for (const auto& t : c.terms) all.push_back(term_json(t));
    j["terms"] = std::move(all);
  }
  json fed = json::array();
  for (const auto& f : c.fed_by_next)
    fed.push_back(json{{"node", f.node}, {"tensor", f.tensor}, {"index", f.index}, {"coords", f.coords},
                       {"weight", f.weight}, {"weight_index", f.weight_index}, {"weight_value", f.weight_value},
                       {"activation", f.activation}, {"term", f.term}});
  j["fed_by_next"] = std::move(fed);
  j["fed_count"] = c.fed_count;
  return j;
}

}  // namespace netlens::inspect
