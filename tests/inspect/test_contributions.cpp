// Neuron contributions against brute-force loops written here (the ONNX definitions of Conv, Gemm and
// MatMul, output-centric, independent of the library's tap walk), on a hand-made model with known
// random values, and on ResNet-50 and PP-OCRv4 det (real weights, random inputs; det's chains include
// Mul by a constant, a decomposed HardSigmoid and Relu).
// Tolerances: hand-made model |sum − pre-activation| ≤ 1e-5·max(|pre|, Σ|terms|) (float32 engine vs
// double sum); real models the same bound with 1e-4 (deep float32 accumulations, oneDNN's order).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "netlens/inspect/contributions.hpp"
#include "inspect_test_util.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;

namespace {

// x[1,4,7,6] → Conv(group 2, stride (2,1), dilation (1,2), pads (1,2,0,1), bias) → y → Relu → r
//   r → Conv(auto_pad SAME_UPPER, stride 2, no bias) → z
//   r → Flatten → f[1,90] → Gemm(transB, alpha 0.5, beta 2, C[8]) → g
// a[2,1,3,4] @ b[3,4,5] → m[2,3,3,5] (batched, broadcast, two activations)
// a @ Wm[4,2] → mw[2,1,3,2] (constant weight)
Graph hand_graph() {
  Graph g;
  g.opsets[""] = 17;
  g.inputs = {vi("x", {1, 4, 7, 6}), vi("a", {2, 1, 3, 4}), vi("b", {3, 4, 5})};
  g.initializers["W"] = random_tensor({6, 2, 3, 3}, 1);
  g.initializers["B"] = random_tensor({6}, 2);
  g.initializers["W2"] = random_tensor({3, 6, 2, 2}, 3);
  g.initializers["Wg"] = random_tensor({8, 90}, 4);
  g.initializers["Cg"] = random_tensor({8}, 5);
  g.initializers["Wm"] = random_tensor({4, 2}, 6);
  g.nodes.push_back(node("Conv", "conv", {"x", "W", "B"}, {"y"},
                         {{"group", int64_t(2)}, {"strides", std::vector<int64_t>{2, 1}},
                          {"dilations", std::vector<int64_t>{1, 2}}, {"pads", std::vector<int64_t>{1, 2, 0, 1}}}));
  g.nodes.push_back(node("Relu", "relu", {"y"}, {"r"}));
  g.nodes.push_back(node("Conv", "conv2", {"r", "W2"}, {"z"},
                         {{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{2, 2}}}));
  g.nodes.push_back(node("Flatten", "flatten", {"r"}, {"f"}, {{"axis", int64_t(1)}}));
  g.nodes.push_back(node("Gemm", "gemm", {"f", "Wg", "Cg"}, {"gm"},
                         {{"transB", int64_t(1)}, {"alpha", 0.5f}, {"beta", 2.0f}}));
  g.nodes.push_back(node("MatMul", "matmul", {"a", "b"}, {"m"}));
  g.nodes.push_back(node("MatMul", "matmul_w", {"a", "Wm"}, {"mw"}));
  g.outputs = {vi("z", {1, 3, 2, 3}), vi("gm", {1, 8}), vi("m", {2, 3, 3, 5}), vi("mw", {2, 1, 3, 2})};
  return g;
}

Ran run_hand() {
  return run_graph(hand_graph(), {{"x", random_tensor({1, 4, 7, 6}, 10)}, {"a", random_tensor({2, 1, 3, 4}, 11)},
                                  {"b", random_tensor({3, 4, 5}, 12)}});
}

// (input flat, weight flat, term) triples of a neuron, brute force.
using Triple = std::tuple<int64_t, int64_t, double>;

// Conv 2-D, written from the ONNX definition: out[n,m,oy,ox] = Σ_{c,ky,kx} W[m,c,ky,kx]·
// X[n, g·Cg+c, oy·sy − py + ky·dy, ox·sx − px + kx·dx] (+ B[m]).
std::vector<Triple> conv_terms(const Tensor& X, const Tensor& W, int64_t group, int64_t sy, int64_t sx, int64_t dy,
                               int64_t dx, int64_t py, int64_t px, int64_t n, int64_t m, int64_t oy, int64_t ox) {
  std::vector<Triple> out;
  const int64_t C = X.dim(1), H = X.dim(2), Wd = X.dim(3), M = W.dim(0), Cg = W.dim(1), KH = W.dim(2), KW = W.dim(3);
  const int64_t g = m / (M / group);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t ky = 0; ky < KH; ++ky)
      for (int64_t kx = 0; kx < KW; ++kx) {
        const int64_t iy = oy * sy - py + ky * dy, ix = ox * sx - px + kx * dx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
        const int64_t xi = ((n * C + g * Cg + c) * H + iy) * Wd + ix;
        const int64_t wi = ((m * Cg + c) * KH + ky) * KW + kx;
        out.emplace_back(xi, wi, double(X.data_as<float>()[xi]) * W.data_as<float>()[wi]);
      }
  return out;
}

std::vector<Triple> terms_of(const Contributions& c) {
  std::vector<Triple> t;
  for (const auto& x : c.terms) t.emplace_back(x.input_index, x.weight_index, x.term);
  return t;
}

void expect_same_terms(std::vector<Triple> got, std::vector<Triple> want) {
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(std::get<0>(got[i]), std::get<0>(want[i])) << i;
    EXPECT_EQ(std::get<1>(got[i]), std::get<1>(want[i])) << i;
    EXPECT_NEAR(std::get<2>(got[i]), std::get<2>(want[i]), 1e-12) << i;
  }
}

double abs_sum(const Contributions& c) {
  double s = std::abs(c.bias);
  for (const auto& t : c.terms) s += std::abs(t.term);
  return s;
}

void expect_sums(const Contributions& c, double rel) {
  const double bound = rel * std::max(std::abs(c.pre_activation), abs_sum(c));
  EXPECT_LE(std::abs(c.sum - c.pre_activation), bound) << c.tensor << "[" << c.index << "]";
  EXPECT_DOUBLE_EQ(c.difference, c.sum - c.pre_activation);
  EXPECT_NEAR(c.positive_total + c.negative_total + c.bias, c.sum, 1e-9 * abs_sum(c));
  // top: sorted by |term| and no term outside it is larger than its last.
  for (size_t i = 1; i < c.top.size(); ++i)
    EXPECT_GE(std::abs(c.terms[c.top[i - 1]].term), std::abs(c.terms[c.top[i]].term));
  if (!c.top.empty()) {
    const double last = std::abs(c.terms[c.top.back()].term);
    std::set<size_t> in(c.top.begin(), c.top.end());
    for (size_t i = 0; i < c.terms.size(); ++i)
      if (!in.count(i)) {
        EXPECT_LE(std::abs(c.terms[i].term), last);
      }
  }
}

}  // namespace

TEST(Contributions, ConvWithGroupsStridesPadsDilationsThroughRelu) {
  auto r = run_hand();
  const Tensor X = r.value("x"), W = r.value("W"), B = r.value("B"), Y = r.value("y"), R = r.value("r");
  ASSERT_EQ(Y.shape(), (Shape{1, 6, 3, 5}));
  int checked_chain = 0;
  for (int64_t idx = 0; idx < Y.numel(); idx += 7) {
    const int64_t m = idx / 15, oy = idx / 5 % 3, ox = idx % 5;
    const Contributions c = contributions(*r.view, "r", idx, 5);
    EXPECT_EQ(c.node, "conv");
    EXPECT_EQ(c.linear_tensor, "y");
    ASSERT_EQ(c.chain, std::vector<std::string>{"Relu"});
    ++checked_chain;
    EXPECT_EQ(c.value, R.data_as<float>()[idx]);
    EXPECT_EQ(c.pre_activation, Y.data_as<float>()[idx]);
    EXPECT_EQ(c.bias, B.data_as<float>()[m]);
    const auto want = conv_terms(X, W, 2, 2, 1, 1, 2, 1, 2, 0, m, oy, ox);
    expect_same_terms(terms_of(c), want);
    // Padding taps: 2 channels × 9 taps in all.
    EXPECT_EQ(static_cast<int64_t>(c.terms.size()) + c.padding_taps, 2 * 9);
    for (const auto& t : c.terms) {
      EXPECT_EQ(t.input, "x");
      EXPECT_EQ(t.weight, "W");
      EXPECT_EQ(t.activation, X.data_as<float>()[t.input_index]);
      EXPECT_EQ(t.weight_value, W.data_as<float>()[t.weight_index]);
      ASSERT_EQ(t.input_coords.size(), 4u);
      EXPECT_EQ(((t.input_coords[0] * 4 + t.input_coords[1]) * 7 + t.input_coords[2]) * 6 + t.input_coords[3],
                t.input_index);
    }
    expect_sums(c, 1e-5);
  }
  EXPECT_GT(checked_chain, 5);
}

TEST(Contributions, ConvAutoPadSameUpper) {
  auto r = run_hand();
  const Tensor R = r.value("r"), W2 = r.value("W2"), Z = r.value("z");
  ASSERT_EQ(Z.shape(), (Shape{1, 3, 2, 3}));
  // in 3x5, stride 2, k 2: out 2x3; total pad rows (2−1)·2+2−3 = 1 → top 0; cols (3−1)·2+2−5 = 1 → left 0.
  for (int64_t idx = 0; idx < Z.numel(); ++idx) {
    const Contributions c = contributions(*r.view, "z", idx, 3);
    EXPECT_TRUE(c.chain.empty());
    EXPECT_TRUE(c.bias_tensor.empty());
    const int64_t m = idx / 6, oy = idx / 3 % 2, ox = idx % 3;
    expect_same_terms(terms_of(c), conv_terms(R, W2, 1, 2, 2, 1, 1, 0, 0, 0, m, oy, ox));
    expect_sums(c, 1e-5);
  }
}

TEST(Contributions, GemmTransBAlphaBeta) {
  auto r = run_hand();
  const Tensor F = r.value("f"), Wg = r.value("Wg"), Cg = r.value("Cg"), G = r.value("gm");
  for (int64_t n = 0; n < 8; ++n) {
    const Contributions c = contributions(*r.view, "gm", n, 10);
    EXPECT_EQ(c.op, "Gemm");
    std::vector<Triple> want;
    for (int64_t k = 0; k < 90; ++k)
      want.emplace_back(k, n * 90 + k, 0.5 * double(F.data_as<float>()[k]) * Wg.data_as<float>()[n * 90 + k]);
    expect_same_terms(terms_of(c), want);
    EXPECT_EQ(c.bias_index, n);
    EXPECT_DOUBLE_EQ(c.bias, 2.0 * Cg.data_as<float>()[n]);
    EXPECT_EQ(c.top.size(), 10u);
    expect_sums(c, 1e-5);
  }
}

TEST(Contributions, BatchedBroadcastMatMul) {
  auto r = run_hand();
  const Tensor A = r.value("a"), Bm = r.value("b"), M = r.value("m"), Wm = r.value("Wm");
  ASSERT_EQ(M.shape(), (Shape{2, 3, 3, 5}));
  for (int64_t idx = 0; idx < M.numel(); idx += 5) {
    const int64_t i = idx / 45, j = idx / 15 % 3, mm = idx / 5 % 3, nn = idx % 5;
    const Contributions c = contributions(*r.view, "m", idx, 4);
    std::vector<Triple> want;  // a[i,0,mm,k] · b[j,k,nn]
    for (int64_t k = 0; k < 4; ++k) {
      const int64_t ai = (i * 3 + mm) * 4 + k, bi = (j * 4 + k) * 5 + nn;
      want.emplace_back(ai, bi, double(A.data_as<float>()[ai]) * Bm.data_as<float>()[bi]);
    }
    expect_same_terms(terms_of(c), want);
    expect_sums(c, 1e-5);
  }
  const Contributions c = contributions(*r.view, "mw", 7, 4);  // [1,0,0,1]: a[1,0,0,:]·Wm[:,1]
  std::vector<Triple> want;
  for (int64_t k = 0; k < 4; ++k) want.emplace_back(12 + k, k * 2 + 1, double(A.data_as<float>()[12 + k]) * Wm.data_as<float>()[k * 2 + 1]);
  expect_same_terms(terms_of(c), want);
  EXPECT_EQ(c.terms[0].weight, "Wm");
}

// Every neuron of conv2 and gemm that reads r[idx], found by scanning all their terms.
TEST(Contributions, FedByNextMatchesAScanOfTheNextLayers) {
  auto r = run_hand();
  const Tensor R = r.value("r");
  for (int64_t idx : {0, 17, 44, 89}) {
    const Contributions c = contributions(*r.view, "r", idx, 1000);
    std::map<std::pair<std::string, int64_t>, double> want;
    for (const std::string t : {"z", "gm"}) {
      const int64_t n = r.view->info(t).shape == Shape{1, 8} ? 8 : 18;
      for (int64_t o = 0; o < n; ++o)
        for (const auto& term : contributions(*r.view, t, o, 0).terms)
          if (term.input_index == idx) want[{t, o}] += term.term;
    }
    EXPECT_EQ(c.fed_count, static_cast<int64_t>(want.size())) << idx;
    ASSERT_EQ(c.fed_by_next.size(), want.size());
    for (const auto& f : c.fed_by_next) {
      const auto key = std::make_pair(f.tensor, f.index);
      ASSERT_TRUE(want.count(key)) << f.tensor << " " << f.index;
      EXPECT_NEAR(f.term, want[key], 1e-12);
      EXPECT_EQ(f.activation, R.data_as<float>()[idx]);
    }
    const Contributions top2 = contributions(*r.view, "r", idx, 2);
    ASSERT_EQ(top2.fed_by_next.size(), 2u);
    EXPECT_EQ(top2.fed_by_next[0].term, c.fed_by_next[0].term);
  }
}

TEST(Contributions, ParsesNeuronSpecsAndRejectsNonLinearTensors) {
  auto r = run_hand();
  std::string t;
  EXPECT_EQ(parse_neuron_index(*r.view, "r:17", t), 17);
  EXPECT_EQ(t, "r");
  EXPECT_EQ(parse_neuron_index(*r.view, "r:0,1,2,3", t), 15 + 2 * 5 + 3);
  EXPECT_THROW(parse_neuron_index(*r.view, "r:0,1,2", t), Error);
  EXPECT_THROW(parse_neuron_index(*r.view, "r:90", t), Error);
  EXPECT_THROW(parse_neuron_index(*r.view, "nope:1", t), Error);
  EXPECT_THROW(contributions(*r.view, "f", 0), Error);   // Flatten output
  EXPECT_THROW(contributions(*r.view, "x", 0), Error);   // graph input
  EXPECT_THROW(contributions(*r.view, "W", 0), Error);   // weights
  EXPECT_THROW(contributions(*r.view, "r", 90), Error);  // out of range
  const auto j = to_json(contributions(*r.view, "r", 17, 3));
  EXPECT_EQ(j["top"].size(), 3u);
  EXPECT_EQ(j["chain"][0], "Relu");
  EXPECT_FALSE(j.contains("terms"));
}

TEST(Contributions, ResNet50NeuronsSumToTheirValues) {
  const std::string path = std::string(NETLENS_CACHE_DIR) + "/models/resnet50.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " missing (scripts/export-torchvision.sh)";
  Graph model = load_onnx(path);
  const std::string input = model.inputs[0].name;
  const Ran ran = run_graph(std::move(model), {{input, random_tensor({1, 3, 224, 224}, 77)}});
  const Session& s = *ran.session;
  const ModelView& v = *ran.view;
  // A first-layer conv neuron (through Relu), a 3x3 conv in layer 3, a 1x1 projection and the fc.
  struct Pick { std::string tensor; int64_t index; };
  std::vector<Pick> picks;
  for (const Node& n : s.graph().nodes) {
    if (n.name == "/relu/Relu") picks.push_back({n.outputs[0], 64 * 112 * 112 / 2 + 57 * 112 + 33});
    if (n.name == "/layer3/layer3.1/relu_1/Relu") picks.push_back({n.outputs[0], 200 * 14 * 14 + 7 * 14 + 3});
    if (n.name == "/layer4/layer4.0/downsample/downsample.0/Conv") picks.push_back({n.outputs[0], 1000});
    if (n.op_type == "Gemm") picks.push_back({n.outputs[0], 281});
  }
  ASSERT_EQ(picks.size(), 4u);
  for (const auto& p : picks) {
    const Contributions c = contributions(v, p.tensor, p.index, 10);
    EXPECT_GT(c.terms.size(), 100u);
    expect_sums(c, 1e-4);
    if (c.op == "Gemm") {
      EXPECT_EQ(c.terms.size(), 2048u);
    }
    if (p.tensor.find("layer3") != std::string::npos) {  // feeds conv3 of its block (1x1, 1024 filters)
      EXPECT_EQ(c.fed_count, 1024);
      EXPECT_EQ(c.fed_by_next.size(), 10u);
    }
  }
}

// x → Conv → c → x·Clip(x+3, 0, 6)/6 (HardSwish as four nodes, as PaddlePaddle exports it) → hs → Conv → z.
TEST(Contributions, ThroughADecomposedHardSwish) {
  Graph g;
  g.opsets[""] = 17;
  g.inputs = {vi("x", {1, 2, 5, 5})};
  g.initializers["W"] = random_tensor({3, 2, 3, 3}, 21);
  g.initializers["W2"] = random_tensor({4, 3, 3, 3}, 22);
  g.initializers["three"] = Tensor::scalar_f32(3.0f);
  g.initializers["zero"] = Tensor::scalar_f32(0.0f);
  g.initializers["six"] = Tensor::scalar_f32(6.0f);
  g.nodes.push_back(node("Conv", "conv", {"x", "W"}, {"c"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  g.nodes.push_back(node("Add", "add3", {"c", "three"}, {"c3"}));
  g.nodes.push_back(node("Clip", "clip", {"c3", "zero", "six"}, {"cl"}));
  g.nodes.push_back(node("Mul", "mul", {"c", "cl"}, {"m"}));
  g.nodes.push_back(node("Div", "div", {"m", "six"}, {"hs"}));
  g.nodes.push_back(node("Conv", "conv2", {"hs", "W2"}, {"z"}));
  g.outputs = {vi("z", {1, 4, 3, 3})};
  const Ran ran = run_graph(g, {{"x", random_tensor({1, 2, 5, 5}, 23)}});
  const ModelView& v = *ran.view;
  const Tensor C = v.value("c"), HS = v.value("hs");
  for (int64_t idx : {0, 12, 31, 74}) {
    const Contributions r = contributions(v, "hs", idx, 100);
    EXPECT_EQ(r.chain, std::vector<std::string>{"HardSwish"});
    EXPECT_EQ(r.linear_tensor, "c");
    EXPECT_EQ(r.value, HS.data_as<float>()[idx]);
    EXPECT_EQ(r.pre_activation, C.data_as<float>()[idx]);
    expect_sums(r, 1e-5);
    // Fed: every z neuron whose terms read hs[idx], found by scanning z.
    std::map<int64_t, double> want;
    for (int64_t o = 0; o < 36; ++o)
      for (const auto& t : contributions(v, "z", o, 0).terms)
        if (t.input_index == idx) want[o] += t.term;
    ASSERT_EQ(r.fed_count, static_cast<int64_t>(want.size())) << idx;
    EXPECT_GT(r.fed_count, 0);
    for (const auto& f : r.fed_by_next) EXPECT_NEAR(f.term, want[f.index], 1e-12);
    // From the Conv output itself, forward through the pattern to the same neurons.
    EXPECT_EQ(contributions(v, "c", idx, 100).fed_count, r.fed_count);
  }
  // Inside the pattern, Clip(c + 3) is an ordinary elementwise chain of the same conv neuron.
  const Contributions inner = contributions(v, "cl", 12, 3);
  EXPECT_EQ(inner.chain, (std::vector<std::string>{"Add", "Clip"}));
  EXPECT_EQ(inner.pre_activation, C.data_as<float>()[12]);
  EXPECT_THROW(contributions(v, "m", 0), Error);  // half a HardSwish: x·Clip(x+3) is not elementwise in one input
}

// Gemm with transA (A is [K, M]) and a column bias C [M, 1] broadcast over N.
TEST(Contributions, GemmTransAColumnBias) {
  Graph g;
  g.opsets[""] = 17;
  g.inputs = {vi("p", {3, 2})};
  g.initializers["Bw"] = random_tensor({3, 4}, 31);
  g.initializers["Cc"] = random_tensor({2, 1}, 32);
  g.nodes.push_back(node("Gemm", "gemm_ta", {"p", "Bw", "Cc"}, {"y"}, {{"transA", int64_t(1)}}));
  g.outputs = {vi("y", {2, 4})};
  const Tensor P = random_tensor({3, 2}, 33);
  const Ran ran = run_graph(g, {{"p", P}});
  const ModelView& v = *ran.view;
  const Tensor Bw = v.value("Bw"), Cc = v.value("Cc");
  for (int64_t m = 0; m < 2; ++m)
    for (int64_t n = 0; n < 4; ++n) {
      const Contributions c = contributions(v, "y", m * 4 + n, 3);
      std::vector<Triple> want;  // y[m,n] = Σ_k p[k,m]·B[k,n] + C[m,0]
      for (int64_t k = 0; k < 3; ++k)
        want.emplace_back(k * 2 + m, k * 4 + n, double(P.data_as<float>()[k * 2 + m]) * Bw.data_as<float>()[k * 4 + n]);
      expect_same_terms(terms_of(c), want);
      EXPECT_EQ(c.bias_index, m);
      EXPECT_EQ(c.bias, Cc.data_as<float>()[m]);
      expect_sums(c, 1e-5);
    }
}

// PP-OCRv4 det (fetched by scripts/fetch-models.sh, so present where ResNet-50 may not be) at 64×64:
// every 8th Conv, one neuron each, through its decomposed HardSwish where it has one.
TEST(Contributions, PpocrDetNeuronsSumToTheirValues) {
  const std::string path = std::string(NETLENS_CACHE_DIR) + "/models/ppocrv4_det.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " missing (scripts/fetch-models.sh)";
  const Ran ran = run_graph(load_onnx(path), {{"x", random_tensor({1, 3, 64, 64}, 88)}});
  const Session& s = *ran.session;
  const ModelView& v = *ran.view;
  int convs = 0, checked = 0, through_chain = 0;
  for (const Node& n : s.graph().nodes) {
    if (n.op_type != "Conv" || convs++ % 8 != 0) continue;
    std::string t = n.outputs[0];
    for (size_t ci : v.consumers(t))  // prefer the activation after it, when contributions accepts it
      for (const auto& o : s.graph().nodes[ci].outputs)
        if (v.has(o) && v.info(o).shape == v.info(t).shape) {
          try {
            if (contributions(v, o, 0, 1).linear_tensor == t) t = o;
          } catch (const Error&) {
          }
        }
    const int64_t idx = numel(v.info(t).shape) / 3;
    const Contributions c = contributions(v, t, idx, 5);
    EXPECT_EQ(c.node, n.name);
    expect_sums(c, 1e-4);
    ++checked;
    through_chain += !c.chain.empty();
  }
  EXPECT_GE(checked, 5);
  EXPECT_GE(through_chain, 1);
}
