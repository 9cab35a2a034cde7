// Small float32 graphs built in tests of the CPU backend's sessions (fused chains, deferred clamps):
// a graph builder with seeded weights, convs from a spec with their double-precision reference
// geometry (cpu_reference.hpp), random inputs, bit comparisons and a relative L2 distance.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "cpu_reference.hpp"
#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

namespace netlens::cpu_test {

inline bool same_bits(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

inline std::vector<float> random_values(size_t n, uint32_t seed, float scale = 8.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct GraphBuilder {
  Graph g;
  uint32_t seed = 1;
  GraphBuilder() { g.opsets[""] = 13; }
  void input(const std::string& name, Shape s) {
    ValueInfo v;
    v.name = name;
    v.dtype = DType::Float32;
    for (int64_t d : s) v.dims.push_back(Dim{d, ""});
    v.has_shape = true;
    g.inputs.push_back(v);
  }
  std::string scalar(float v) {
    std::string name = "c";  // appended, not "c" + ...: GCC 12 warns (-Wrestrict) on that
    name += std::to_string(g.initializers.size());
    g.initializers[name] = Tensor::from_f32({}, {v});
    return name;
  }
  std::string weight(Shape s, float scale) {
    std::string name = "w";
    name += std::to_string(g.initializers.size());
    Tensor t(DType::Float32, s);
    std::mt19937 rng(seed++);
    std::uniform_real_distribution<float> d(-scale, scale);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
    g.initializers[name] = t;
    return name;
  }
  std::string node(const std::string& op, std::vector<std::string> in, std::map<std::string, AttrValue> attrs = {}) {
    Node n;
    n.name = op;
    n.name += std::to_string(g.nodes.size());
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {n.name};
    n.outputs[0] += "_out";
    n.attrs = std::move(attrs);
    g.nodes.push_back(n);
    return n.outputs[0];
  }
  void output(const std::string& name) {
    ValueInfo v;
    v.name = name;
    g.outputs.push_back(v);
  }
  // x -> Add(3) -> Clip(0, 6) -> Mul(x, .) -> Div(6): hard-swish as PaddlePaddle exports it.
  // A transformer's GELU as exporters write it, x * (1 + erf(x / sqrt2)) * 0.5: Div, Erf, Add, Mul, Mul.
  struct Gelu {
    std::string div, erf, add, mul, out;
  };
  Gelu gelu(const std::string& x) {
    Gelu r;
    r.div = node("Div", {x, scalar(1.41421354f)});
    r.erf = node("Erf", {r.div});
    r.add = node("Add", {r.erf, scalar(1.f)});
    r.mul = node("Mul", {x, r.add});
    r.out = node("Mul", {r.mul, scalar(0.5f)});
    return r;
  }
  // A graph of GELU alone: input "x" of `shape` -> gelu(x), the graph's output.
  Gelu gelu_graph(const Shape& shape) {
    input("x", shape);
    const Gelu r = gelu("x");
    output(r.out);
    return r;
  }
  std::string hardswish(const std::string& x) {
    const std::string a = node("Add", {x, scalar(3.f)});
    const std::string c = node("Clip", {a, scalar(0.f), scalar(6.f)});
    const std::string m = node("Mul", {x, c});
    return node("Div", {m, scalar(6.f)});
  }
};

// GELU's tensors (GraphBuilder::gelu) of input x: Div, Add and both Muls their float32 definitions
// applied to the given values (bit for bit), Erf within 4 ulps of double erf with its sign (NaN
// where Div is NaN). `what` names the case in failures.
inline void expect_gelu_definitions(const std::vector<float>& x, const float* d, const float* e, const float* a,
                                    const float* m, const float* g, const std::string& what) {
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(same_bits(d[i], x[i] / 1.41421354f)) << what << ": Div at " << i;
    if (std::isnan(d[i])) {
      ASSERT_TRUE(std::isnan(e[i])) << what << ": Erf at " << i;
    } else {
      const double want = std::erf(static_cast<double>(d[i]));
      const float w = static_cast<float>(std::fabs(want));
      const double ulp = std::min(std::nextafter(w, INFINITY) - w, w - std::nextafter(w, 0.f));
      ASSERT_LE(std::fabs(e[i] - want), 4 * ulp) << what << ": erf(" << d[i] << ") = " << e[i] << ", want " << want;
      ASSERT_EQ(std::signbit(e[i]), std::signbit(d[i])) << what << ": erf(" << d[i] << ")";
    }
    ASSERT_TRUE(same_bits(a[i], e[i] + 1.f)) << what << ": Add at " << i;
    ASSERT_TRUE(same_bits(m[i], x[i] * a[i])) << what << ": Mul at " << i;
    ASSERT_TRUE(same_bits(g[i], m[i] * 0.5f)) << what << ": last Mul at " << i;
  }
}

// Every tensor of the store, copied.
inline std::map<std::string, Tensor> snapshot(const Session& s) {
  std::map<std::string, Tensor> m;
  for (const PlannedTensor& t : s.activations().tensors())
    if (!t.constant) m[t.name] = s.activations().fetch(t.name).clone();
  return m;
}

// Every tensor of one run of g on a backend that fuses nothing (each op on its own kernel): the
// reference of the fused runs. (A fused session's chains are bound at prepare, so even its first
// run is fused.)
inline std::map<std::string, Tensor> unfused_run(const Graph& g, const std::map<std::string, Tensor>& inputs) {
  auto backend = make_cpu_backend({.fuse = false});
  Session s(g, {backend.get()});
  s.run(inputs);
  return snapshot(s);
}

// ||got - want|| / ||want|| (over want's elements; got must have as many).
inline double rel_l2(const Tensor& got, const std::vector<double>& want) {
  EXPECT_EQ(static_cast<size_t>(got.numel()), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = got.get_f64(static_cast<int64_t>(i)) - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Two snapshots (name -> tensor) hold the same tensors with the same bytes.
inline void expect_same_bits(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.nbytes(), u.nbytes()) << name;
    EXPECT_EQ(0, std::memcmp(t.data(), u.data(), t.nbytes())) << name << " differs between the unfused and fused runs";
  }
}

inline Tensor random_input(Shape s, uint32_t seed) {
  Tensor t(DType::Float32, s);
  const std::vector<float> v = random_values(static_cast<size_t>(t.numel()), seed, 2.f);
  std::memcpy(t.data(), v.data(), t.nbytes());
  return t;
}

struct ConvSpec {
  Shape x;       // input
  int64_t oc, group, k, stride, dilation, pad;
};

// The reference convolution's geometry for a spec (square kernel, equal pads) and its output shape.
inline std::pair<cpuref::Geo, Shape> conv_geometry(const ConvSpec& c) {
  cpuref::Geo g;
  Shape y{c.x[0], c.oc};
  for (int i = 0; i < 2; ++i) {
    g.k.push_back(c.k);
    g.s.push_back(c.stride);
    g.d.push_back(c.dilation);
    g.pb.push_back(c.pad);
    g.pe.push_back(c.pad);
    y.push_back((c.x[2 + i] + 2 * c.pad - ((c.k - 1) * c.dilation + 1)) / c.stride + 1);
  }
  return {g, y};
}

// The spec's Conv on a graph input "x" of shape c.x, its weights and bias made by the builder (seeded):
// returns the conv's output; w and bias get the initializers' names.
inline std::string spec_conv(GraphBuilder& b, const ConvSpec& c, uint32_t seed, std::string& w, std::string& bias) {
  b.seed = seed;
  b.input("x", c.x);
  w = b.weight({c.oc, c.x[1] / c.group, c.k, c.k}, 0.5f);
  bias = b.weight({c.oc}, 0.2f);
  const std::vector<int64_t> s2{c.stride, c.stride}, d2{c.dilation, c.dilation}, p4(4, c.pad);
  return b.node("Conv", {"x", w, bias}, {{"group", c.group}, {"strides", s2}, {"dilations", d2}, {"pads", p4}});
}

}  // namespace netlens::cpu_test
