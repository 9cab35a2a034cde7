// Targets, token grids, resizing and the gradient-flow rule on tiny graphs built with the Graph API:
// - parse_target: every form, and malformed text as one Error{Usage} naming what was expected;
// - Target::seed against central finite differences of Target::value for every transform
//   (identity, softmax, sigmoid, −log softmax, −log), relative error ≤ 1e-6 in double;
// - resolve_target on a classifier ending in Softmax: logits seeded through the Softmax, labels,
//   probability and loss variants, range errors;
// - layer_grid on a ViT-like patch embedding: the token grid found from the Conv's stride, the
//   class token detected, and LayerGrid::at reading a token tensor exactly where the Conv output holds
//   the same value;
// - occlusion windows reach the border; resize_bilinear against hand-computed half-pixel values; gradient_flow flags a ×1e-4 step as
//   vanishing and a ×1e4 step as exploding (the stated 1e-3 / 1e3 rule).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "netlens/cpu.hpp"
#include "netlens/explain.hpp"
#include "netlens/runtime.hpp"
#include "test_util.hpp"

using namespace netlens;
using namespace netlens::explain;
using netlens::test::error_of;

namespace {

ValueInfo vi(const std::string& name, const Shape& dims) {
  ValueInfo v{name, DType::Float32, {}, true};
  for (int64_t d : dims) v.dims.push_back(Dim{d, ""});
  return v;
}

Node node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
          std::map<std::string, AttrValue> attrs = {}) {
  Node n;
  n.op_type = op;
  n.name = op + "_" + out[0];
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attrs = std::move(attrs);
  return n;
}

Tensor random_tensor(Shape s, uint32_t seed, float lo = -1, float hi = 1) {
  Tensor t(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
  return t;
}

struct Ran {
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Session> s;
};
Ran run(Graph g, const std::map<std::string, Tensor>& in) {
  Ran r;
  r.cpu = make_cpu_backend();
  r.s = std::make_unique<Session>(std::move(g), std::vector<Backend*>{r.cpu.get()});
  r.s->run(in);
  return r;
}

// x [1,3,8,8] → Flatten → MatMul W[192,5] → logits → Softmax → probs (the output).
Graph classifier() {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", {1, 3, 8, 8}));
  g.initializers["W"] = random_tensor({192, 5}, 7);
  g.nodes.push_back(node("Flatten", {"x"}, {"flat"}));
  g.nodes.push_back(node("MatMul", {"flat", "W"}, {"logits"}));
  g.nodes.push_back(node("Softmax", {"logits"}, {"probs"}, {{"axis", int64_t{-1}}}));
  g.outputs.push_back(vi("probs", {1, 5}));
  return g;
}

}  // namespace

TEST(Targets, ParsesEveryForm) {
  using K = TargetSpec::Kind;
  EXPECT_EQ(parse_target("").kind, K::Default);
  TargetSpec t = parse_target("class:281");
  EXPECT_EQ(t.kind, K::Class);
  EXPECT_EQ(t.cls, 281);
  t = parse_target("class:tabby, tabby cat");
  EXPECT_EQ(t.label, "tabby, tabby cat");
  EXPECT_EQ(parse_target("loss:3").kind, K::Loss);
  t = parse_target("output:a:b:1,2,3");  // tensor names may hold ':'
  EXPECT_EQ(t.tensor, "a:b");
  EXPECT_EQ(t.index, (std::vector<int64_t>{1, 2, 3}));
  t = parse_target("output:logits:[0, 4]");  // as --pick prints indices
  EXPECT_EQ(t.tensor, "logits");
  EXPECT_EQ(t.index, (std::vector<int64_t>{0, 4}));
  t = parse_target("output:logits");
  EXPECT_EQ(t.tensor, "logits");
  EXPECT_TRUE(t.index.empty());
  t = parse_target("region:sigmoid_0.tmp_0:10,20,30,40");
  EXPECT_EQ(t.kind, K::Region);
  EXPECT_EQ(t.tensor, "sigmoid_0.tmp_0");
  EXPECT_EQ(t.x0 + t.y0 + t.x1 + t.y1, 100);
  EXPECT_EQ(t.channel, -1);
  t = parse_target("region:map:0,0,4,4:2");
  EXPECT_EQ(t.channel, 2);
  EXPECT_EQ(t.tensor, "map");
  t = parse_target("ctc:out:12");
  EXPECT_EQ(t.kind, K::Ctc);
  EXPECT_EQ(t.tensor, "out");
  EXPECT_EQ(t.step, 12);
  EXPECT_EQ(parse_target("ctc:7").step, 7);
  EXPECT_EQ(parse_target("ctc").kind, K::CtcAll);
  EXPECT_EQ(parse_target("ctc:out").kind, K::CtcAll);
  t = parse_target("char:3");
  EXPECT_EQ(t.kind, K::CtcChar);
  EXPECT_EQ(t.char_index, 3);
  EXPECT_EQ(parse_target("char:out:3").tensor, "out");
  EXPECT_EQ(parse_target("class:1", Score::Probability).score, Score::Probability);
}

TEST(Targets, MalformedTextIsOneUsageError) {
  for (const char* bad : {"klass:1", "class:", "class:-3", "output:", "region:map:1,2,3", "region:map:5,0,5,4",
                          "region:1,2,3,4", "char:x", "char:", "region:map:a,b,c,d"}) {
    ErrorKind k = ErrorKind::Internal;
    const std::string msg = error_of([&] { parse_target(bad); }, &k);
    EXPECT_EQ(k, ErrorKind::Usage) << bad;
    EXPECT_NE(msg.find("bad --target"), std::string::npos) << bad << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << bad;
  }
  EXPECT_NE(error_of([] { parse_score("odds"); }), "");
}

// A fuzz find (the Python API's corpus replay): an output without elements. Every target kind
// reads at least one element of it, so resolving any of them is one Usage error, not a read past
// the end (the CLI's `infer --gradients` crashed on such a model).
TEST(Targets, AnOutputWithoutElementsIsOneUsageError) {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", {3, 0}));
  g.nodes.push_back(node("Relu", {"x"}, {"y"}));
  g.outputs.push_back(vi("y", {3, 0}));
  Ran r = run(std::move(g), {{"x", Tensor(DType::Float32, Shape{3, 0})}});
  for (const char* spec : {"", "output:y", "output:y:0,0", "region:y:0,0,1,1", "class:0"}) {
    ErrorKind k = ErrorKind::Internal;
    const std::string msg = error_of([&] { resolve_target(*r.s, parse_target(spec)); }, &k);
    EXPECT_EQ(k, ErrorKind::Usage) << spec << ": " << msg;
    EXPECT_NE(msg.find("'y' has no elements"), std::string::npos) << spec << ": " << msg;
  }
}

TEST(Targets, SeedIsTheDerivativeOfTheValue) {
  using T = Target::Transform;
  const Shape shape{2, 3, 4};
  for (T tr : {T::Identity, T::Softmax, T::Sigmoid, T::NegLogSoftmax, T::NegLog}) {
    Target t;
    t.tensor = "t";
    t.shape = shape;
    t.transform = tr;
    t.axis_stride = 1, t.axis_len = 4;  // rows along the last axis
    t.weights = {{5, 1.0}, {6, -0.5}, {13, 2.0}};  // two in one row, one in another
    const Tensor x = random_tensor(shape, 11, 0.1f, 1.0f);
    const Tensor g = t.seed(x);
    const double h = 1e-3;
    for (int64_t i = 0; i < x.numel(); ++i) {
      Tensor p = x.clone(), m = x.clone();
      p.data_as<float>()[i] += static_cast<float>(h);
      m.data_as<float>()[i] -= static_cast<float>(h);
      const double hp = p.data_as<float>()[i] - x.data_as<float>()[i], hm = x.data_as<float>()[i] - m.data_as<float>()[i];
      const double fd = (t.value(p) - t.value(m)) / (hp + hm);
      EXPECT_NEAR(g.data_as<float>()[i], fd, 2e-3 * std::max(1.0, std::abs(fd))) << "transform " << int(tr) << " elem " << i;
    }
  }
}

TEST(Targets, ClassifierTargetsSeedTheLogitsThroughTheSoftmax) {
  const Tensor x = random_tensor({1, 3, 8, 8}, 3);
  Ran r = run(classifier(), {{"x", x}});
  const Tensor logits = r.s->activations().fetch("logits");
  const std::vector<float> z = logits.to_f32_vector();
  const int64_t top = std::max_element(z.begin(), z.end()) - z.begin();

  Target t = resolve_target(*r.s, parse_target(""));
  EXPECT_EQ(t.output, "probs");
  EXPECT_EQ(t.tensor, "logits");
  EXPECT_EQ(t.cls, top);
  EXPECT_DOUBLE_EQ(t.value(*r.s), z[static_cast<size_t>(top)]);
  EXPECT_NE(t.description.find("top class"), std::string::npos) << t.description;

  const std::vector<std::string> labels = {"zero", "one", "tabby, tabby cat", "three", "four"};
  t = resolve_target(*r.s, parse_target("class:tabby cat"), labels);
  EXPECT_EQ(t.cls, 2);
  EXPECT_NE(t.description.find("tabby"), std::string::npos);
  // Probability: the model's own softmax, differentiated as is.
  t = resolve_target(*r.s, parse_target("class:1", Score::Probability));
  EXPECT_EQ(t.tensor, "probs");
  EXPECT_EQ(t.transform, Target::Transform::Identity);
  EXPECT_NEAR(t.value(*r.s), r.s->activations().fetch("probs").get_f64(1), 1e-9);
  // Loss at a label: −log softmax on the logits.
  t = resolve_target(*r.s, parse_target("loss:4"));
  EXPECT_EQ(t.tensor, "logits");
  EXPECT_NEAR(t.value(*r.s), -std::log(r.s->activations().fetch("probs").get_f64(4)), 1e-5);
  // Probability on the logits themselves: netlens's softmax equals the model's.
  t = resolve_target(*r.s, parse_target("output:logits:0,3", Score::Probability));
  EXPECT_EQ(t.transform, Target::Transform::Softmax);
  EXPECT_NEAR(t.value(*r.s), r.s->activations().fetch("probs").get_f64(3), 1e-6);

  ErrorKind k = ErrorKind::Internal;
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("class:5")); }, &k).find("out of range"), std::string::npos);
  EXPECT_EQ(k, ErrorKind::Usage);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("class:cat")); }).find("label file"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("class:dog"), labels); }).find("no label"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("region:probs:0,0,9,1")); }).find("outside"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("ctc:probs:0")); }).find("[N, T, C]"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("output:nope")); }).find("no tensor named 'nope'"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("output:W")); }).find("constant"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("output:logits:0,9")); }).find("out of range"), std::string::npos);
}

TEST(Targets, CtcCharactersAreReadByGreedyDecoding) {
  // A [1, 6, 4] "recogniser" output given directly as the graph input's identity.
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", {1, 6, 4}));
  g.nodes.push_back(node("Identity", {"x"}, {"y"}));
  g.outputs.push_back(vi("y", {1, 6, 4}));
  // argmax per step: 2 2 0 3 3 1  → characters 2 (step 0), 3 (step 3), 1 (step 5).
  const int cls[6] = {2, 2, 0, 3, 3, 1};
  Tensor x(DType::Float32, {1, 6, 4});
  for (int t = 0; t < 6; ++t)
    for (int c = 0; c < 4; ++c) x.data_as<float>()[t * 4 + c] = c == cls[t] ? 5.0f + t : 0.1f * c;
  Ran r = run(g, {{"x", x}});
  const std::vector<CtcChar> chars = ctc_greedy(x);
  ASSERT_EQ(chars.size(), 3u);
  EXPECT_EQ(chars[1].cls, 3);
  EXPECT_EQ(chars[1].first_step, 3);
  EXPECT_EQ(chars[1].steps, 2);
  const std::vector<std::string> dict = {"a", "b", "c"};
  Target t = resolve_target(*r.s, parse_target("char:1"), dict);
  EXPECT_EQ(t.weights, (std::vector<std::pair<int64_t, double>>{{3 * 4 + 3, 1.0}}));
  EXPECT_NE(t.description.find("'c'"), std::string::npos) << t.description;
  t = resolve_target(*r.s, parse_target("ctc:y:5"), dict);
  EXPECT_EQ(t.cls, 1);
  t = resolve_target(*r.s, parse_target(""), dict);  // default: every decoded character
  EXPECT_EQ(t.weights.size(), 3u);
  EXPECT_DOUBLE_EQ(t.value(*r.s), 5.0 + 8.0 + 10.0);
  EXPECT_NE(error_of([&] { resolve_target(*r.s, parse_target("char:3")); }).find("out of range"), std::string::npos);
}

TEST(Grid, TokenGridComesFromThePatchEmbedding) {
  // x [1,3,8,12] → Conv 4x4 stride 4 (D=6) → [1,6,2,3] → Reshape [1,6,6] → Transpose → tokens [1,6,6]
  // → Concat(class token) → [1,7,6].
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", {1, 3, 8, 12}));
  g.initializers["W"] = random_tensor({6, 3, 4, 4}, 5);
  g.initializers["shape"] = Tensor::from_i64({3}, {1, 6, 6});
  g.initializers["cls"] = random_tensor({1, 1, 6}, 9);
  g.nodes.push_back(node("Conv", {"x", "W"}, {"patches"},
                         {{"kernel_shape", std::vector<int64_t>{4, 4}}, {"strides", std::vector<int64_t>{4, 4}}}));
  g.nodes.push_back(node("Reshape", {"patches", "shape"}, {"flat"}));
  g.nodes.push_back(node("Transpose", {"flat"}, {"tokens"}, {{"perm", std::vector<int64_t>{0, 2, 1}}}));
  g.nodes.push_back(node("Concat", {"cls", "tokens"}, {"with_cls"}, {{"axis", int64_t{1}}}));
  g.outputs.push_back(vi("with_cls", {1, 7, 6}));
  Ran r = run(g, {{"x", random_tensor({1, 3, 8, 12}, 2)}});
  const LayerGrid conv = layer_grid(*r.s, "patches");
  EXPECT_FALSE(conv.tokens);
  EXPECT_EQ(conv.h, 2);
  EXPECT_EQ(conv.w, 3);
  const LayerGrid tok = layer_grid(*r.s, "tokens");
  EXPECT_TRUE(tok.tokens);
  EXPECT_FALSE(tok.class_token);
  EXPECT_EQ(tok.patch, 4);
  const LayerGrid wc = layer_grid(*r.s, "Concat_with_cls");  // by node name
  EXPECT_TRUE(wc.class_token);
  EXPECT_EQ(wc.h * wc.w, 6);
  const std::vector<float> p = r.s->activations().fetch("patches").to_f32_vector();
  const std::vector<float> t = r.s->activations().fetch("tokens").to_f32_vector();
  const std::vector<float> c = r.s->activations().fetch("with_cls").to_f32_vector();
  for (int64_t ch = 0; ch < 6; ++ch)
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 0; x < 3; ++x) {
        EXPECT_EQ(tok.at(t.data(), ch, y, x), conv.at(p.data(), ch, y, x));
        EXPECT_EQ(wc.at(c.data(), ch, y, x), conv.at(p.data(), ch, y, x));
      }
  EXPECT_NE(error_of([&] { layer_grid(*r.s, "W"); }).find("a weight"), std::string::npos);  // a weight
  EXPECT_NE(error_of([&] { layer_grid(*r.s, "cls_missing"); }).find("no tensor or node"), std::string::npos);
}

TEST(Resize, BilinearUsesHalfPixelCentres) {
  // 2x2 → 4x4: output centres at input coords -0.25 (clamped to 0), 0.25, 0.75, 1.25 (→ 1).
  const std::vector<float> src = {0, 1, 2, 3};
  const std::vector<float> out = resize_bilinear(src, 2, 2, 4, 4);
  const float row0[4] = {0, 0.25f, 0.75f, 1};
  for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(out[static_cast<size_t>(x)], row0[x]);
  EXPECT_FLOAT_EQ(out[1 * 4 + 1], 0.25f + 2 * 0.25f);
  EXPECT_FLOAT_EQ(out[3 * 4 + 3], 3.0f);
}

TEST(Occlusion, WindowsCoverTheInputToItsBorder) {
  InputLayout l;
  l.channels = 3, l.height = 50, l.width = 224;
  MethodOptions o;
  OcclusionGrid g = occlusion_grid(l, o);  // defaults: min(32, ceil(50 / 4)) = 13, stride 6
  EXPECT_EQ(g.patch, 13);
  EXPECT_EQ(g.stride, 6);
  EXPECT_EQ(g.ys, (std::vector<int64_t>{0, 6, 12, 18, 24, 30, 36, 37}));  // 37 + 13 = 50: the border
  EXPECT_EQ(g.xs.back(), 224 - 13);
  l.height = l.width = 224;
  g = occlusion_grid(l, o);
  EXPECT_EQ(g.patch, 32);
  EXPECT_EQ(g.windows(), 13 * 13);
  o.patch = 300;  // larger than the input: one window
  EXPECT_EQ(occlusion_grid(l, o).windows(), 1);
}

TEST(Flow, FlagsVanishingAndExplodingSteps) {
  // x → Mul 1e-4 → a → Mul 1e4 → b → Mul 1 → y [1,4]: dS/dx = 1e-4 dS/da (vanishing at x),
  // dS/da = 1e4 dS/db (exploding at a), dS/db = dS/dy (ratio 1).
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", {1, 4}));
  g.initializers["c1"] = Tensor::scalar_f32(1e-4f);
  g.initializers["c2"] = Tensor::scalar_f32(1e4f);
  g.initializers["c3"] = Tensor::scalar_f32(1.0f);
  g.nodes.push_back(node("Mul", {"x", "c1"}, {"a"}));
  g.nodes.push_back(node("Mul", {"a", "c2"}, {"b"}));
  g.nodes.push_back(node("Mul", {"b", "c3"}, {"y"}));
  g.outputs.push_back(vi("y", {1, 4}));
  Ran r = run(g, {{"x", random_tensor({1, 4}, 1)}});
  const Target t = resolve_target(*r.s, parse_target(""));
  r.s->backward(t.seeds(*r.s));
  const GradientFlow f = gradient_flow(*r.s, t.tensor);
  ASSERT_EQ(f.entries.size(), 4u);
  EXPECT_EQ(f.entries[0].tensor, "y");
  EXPECT_EQ(f.entries[3].tensor, "x");
  EXPECT_EQ(f.entries[1].flag, "");
  EXPECT_NEAR(f.entries[1].step_ratio, 1.0, 1e-6);
  EXPECT_EQ(f.entries[2].flag, "exploding");
  EXPECT_NEAR(f.entries[2].step_ratio, 1e4, 1);
  EXPECT_EQ(f.entries[3].flag, "vanishing");
  EXPECT_NEAR(f.entries[3].step_ratio, 1e-4, 1e-8);
  EXPECT_EQ(f.vanishing, 1);
  EXPECT_EQ(f.exploding, 1);
  EXPECT_NEAR(f.entries[0].grad_norm, 1.0, 1e-12);  // a one-hot seed
}
