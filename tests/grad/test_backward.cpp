// Session::backward's own semantics, on tiny graphs whose gradients are written down by hand here
// (exact in float32: small integers and halves): accumulation over a tensor's readers, aliasing
// (Mul(x, x)), zeros where the target does not depend on a tensor, initializer gradients on request,
// seeds' validation, every undifferentiable node listed at once, the memory budget checked before
// allocating, nodes that ran on a device differentiated on host copies, and gradients belonging to
// one run.
#include <gtest/gtest.h>

#include <cstring>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"
#include "test_util.hpp"

using namespace netlens;
using netlens::test::error_of;

namespace {

Node node(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

ValueInfo vec_input(const std::string& name, int64_t n) { return ValueInfo{name, DType::Float32, {Dim{n, ""}}, true}; }

// a = x * x; b = a + x; c = Relu(w * x) with w an initializer; u = x + 1 (an unused branch).
Graph square_plus() {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vec_input("x", 4));
  g.initializers["w"] = Tensor::from_f32({4}, {2, -1, 3, 0.5f});
  g.initializers["one"] = Tensor::from_f32({1}, {1});
  g.nodes = {node("sq", "Mul", {"x", "x"}, {"a"}),
             node("plus", "Add", {"a", "x"}, {"b"}),
             node("wx", "Mul", {"w", "x"}, {"wx"}),
             node("relu", "Relu", {"wx"}, {"c"}),
             node("unused", "Add", {"x", "one"}, {"u"})};
  g.outputs = {vec_input("b", 4), vec_input("c", 4), vec_input("u", 4)};
  return g;
}

const Tensor kX = Tensor::from_f32({4}, {1, 2, -3, 0.5f});

std::vector<float> grad(const Session& s, const std::string& name) { return s.gradients().fetch(name).to_f32_vector(); }

// A host-memory backend that calls itself a device and differentiates nothing: nodes on it must be
// differentiated by the CPU backend on copies fetched through copy_to_host (counted).
class FakeDevice final : public Backend {
 public:
  FakeDevice() : cpu_(make_cpu_backend()) {}
  std::string name() const override { return "fake-device"; }
  DeviceKind device() const override { return DeviceKind::Cuda; }
  std::optional<std::string> unsupported_reason(const NodeContext& c) const override { return cpu_->unsupported_reason(c); }
  std::unique_ptr<Kernel> plan(const NodeContext& c) override { return cpu_->plan(c); }
  size_t available_memory() const override { return cpu_->available_memory(); }
  DeviceBuffer allocate(size_t b) override { return cpu_->allocate(b); }
  void copy_from_host(void* d, const void* s, size_t b) override { std::memcpy(d, s, b); }
  void copy_to_host(void* d, const void* s, size_t b) override {
    ++copies_to_host;
    std::memcpy(d, s, b);
  }
  void synchronize() override {}
  int copies_to_host = 0;

 private:
  std::unique_ptr<Backend> cpu_;
};

// The CPU backend without any backward: every node it runs is undifferentiable.
class ForwardOnly final : public Backend {
 public:
  ForwardOnly() : cpu_(make_cpu_backend()) {}
  std::string name() const override { return "forward-only"; }
  DeviceKind device() const override { return DeviceKind::Host; }
  std::optional<std::string> unsupported_reason(const NodeContext& c) const override { return cpu_->unsupported_reason(c); }
  std::unique_ptr<Kernel> plan(const NodeContext& c) override { return cpu_->plan(c); }
  size_t available_memory() const override { return cpu_->available_memory(); }
  DeviceBuffer allocate(size_t b) override { return cpu_->allocate(b); }
  void copy_from_host(void* d, const void* s, size_t b) override { std::memcpy(d, s, b); }
  void copy_to_host(void* d, const void* s, size_t b) override { std::memcpy(d, s, b); }
  void synchronize() override {}

 private:
  std::unique_ptr<Backend> cpu_;
};

}  // namespace

TEST(Backward, AccumulatesOverReadersAndAliasedInputs) {
  auto cpu = make_cpu_backend();
  Session s(square_plus(), {cpu.get()});
  s.run({{"x", kX}});
  // S = Σ b = Σ x² + x  →  dS/dx = 2x + 1; dS/da = 1.
  s.backward({{"b", Tensor::from_f32({4}, {1, 1, 1, 1})}});
  EXPECT_EQ(grad(s, "x"), (std::vector<float>{3, 5, -5, 2}));
  EXPECT_EQ(grad(s, "a"), (std::vector<float>{1, 1, 1, 1}));
  // Tensors S does not depend on have zero gradients, not stale or missing ones.
  EXPECT_EQ(grad(s, "c"), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(grad(s, "u"), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(s.backward_report().differentiated_nodes, 2);
  EXPECT_FALSE(s.gradients().contains("w")) << "initializer gradients only on request";
}

TEST(Backward, TwoSeedsAndInitializerGradients) {
  auto cpu = make_cpu_backend();
  Session s(square_plus(), {cpu.get()});
  s.run({{"x", kX}});
  // S = Σ 2·b + Σ Relu(w·x) → dS/dx = 2(2x+1) + w·[w·x > 0]; dS/dw = x·[w·x > 0].
  // w·x = {2, -2, -9, 0.25}: the relu passes elements 0 and 3.
  s.backward({{"b", Tensor::from_f32({4}, {2, 2, 2, 2})}, {"c", Tensor::from_f32({4}, {1, 1, 1, 1})}}, GradientOptions{.weights = true});
  EXPECT_EQ(grad(s, "x"), (std::vector<float>{6 + 2, 10, -10, 4 + 0.5f}));
  EXPECT_EQ(grad(s, "w"), (std::vector<float>{1, 0, 0, 0.5f}));
  EXPECT_FALSE(s.gradients().contains("one")) << "'one' feeds only a node S does not depend on";
}

TEST(Backward, GradientsBelongToOneRun) {
  auto cpu = make_cpu_backend();
  Session s(square_plus(), {cpu.get()});
  EXPECT_NE(error_of([&] { s.backward({{"b", kX}}); }).find("needs a run() first"), std::string::npos);
  s.run({{"x", kX}});
  s.backward({{"b", Tensor::from_f32({4}, {1, 1, 1, 1})}});
  EXPECT_TRUE(s.has_gradients());
  s.run({{"x", Tensor::from_f32({4}, {0, 0, 0, 0})}});
  EXPECT_FALSE(s.has_gradients()) << "a new run invalidates the previous run's gradients";
  s.backward({{"b", Tensor::from_f32({4}, {1, 1, 1, 1})}});
  EXPECT_EQ(grad(s, "x"), (std::vector<float>{1, 1, 1, 1}));
}

TEST(Backward, SeedsAreValidated) {
  auto cpu = make_cpu_backend();
  Session s(square_plus(), {cpu.get()});
  s.run({{"x", kX}});
  ErrorKind kind{};
  EXPECT_NE(error_of([&] { s.backward({{"nope", kX}}); }, &kind).find("'nope': no such tensor"), std::string::npos);
  EXPECT_EQ(kind, ErrorKind::Usage);
  EXPECT_NE(error_of([&] { s.backward({{"w", kX}}); }).find("a constant of the model"), std::string::npos);
  EXPECT_NE(error_of([&] { s.backward({{"b", Tensor::from_f32({2}, {1, 1})}}); }).find("must be a float tensor of shape 4"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.backward({}); }).find("at least one seed"), std::string::npos);
}

TEST(Backward, ListsEveryUndifferentiableNodeAtOnce) {
  ForwardOnly b;
  Session s(square_plus(), {&b});
  s.run({{"x", kX}});
  ErrorKind kind{};
  const std::string msg = error_of(
      [&] { s.backward({{"b", Tensor::from_f32({4}, {1, 1, 1, 1})}, {"c", Tensor::from_f32({4}, {1, 1, 1, 1})}}); }, &kind);
  EXPECT_EQ(kind, ErrorKind::Unsupported);
  EXPECT_NE(msg.find("cannot differentiate 4 nodes"), std::string::npos) << msg;
  for (const char* node : {"'sq'", "'plus'", "'wx'", "'relu'"}) EXPECT_NE(msg.find(node), std::string::npos) << node << ": " << msg;
  EXPECT_EQ(msg.find("'unused'"), std::string::npos) << "S does not depend on it: " << msg;
}

TEST(Backward, MemoryBudgetCheckedBeforeAllocating) {
  auto cpu = make_cpu_backend();
  // Large enough to make the gradient arena, not the forward, the one over budget.
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vec_input("x", 1 << 20));
  g.nodes = {node("r", "Relu", {"x"}, {"y"})};
  g.outputs = {vec_input("y", 1 << 20)};
  SessionOptions o;
  o.max_memory = 9u << 20;  // forward: two 4 MiB tensors; gradients: two more
  Session s(g, {cpu.get()}, o);
  Tensor x(DType::Float32, {1 << 20});
  s.run({{"x", x}});
  ErrorKind kind{};
  const std::string msg = error_of([&] { s.backward({{"y", Tensor(DType::Float32, {1 << 20})}}); }, &kind);
  EXPECT_EQ(kind, ErrorKind::Memory);
  EXPECT_NE(msg.find("the gradients need 8.0 MiB"), std::string::npos) << msg;
}

TEST(Backward, DeviceNodesAreDifferentiatedOnHostCopies) {
  FakeDevice dev;
  auto cpu = make_cpu_backend();
  Session s(square_plus(), {&dev, cpu.get()});
  s.run({{"x", kX}});
  const int before = dev.copies_to_host;
  s.backward({{"b", Tensor::from_f32({4}, {1, 1, 1, 1})}});
  EXPECT_EQ(grad(s, "x"), (std::vector<float>{3, 5, -5, 2}));
  EXPECT_EQ(s.backward_report().host_fallback_nodes.size(), 2u);
  EXPECT_GT(dev.copies_to_host, before) << "the forward values of device nodes come through copy_to_host";
}

TEST(Backward, WeightsFromConstantNodesToo) {
  // PaddlePaddle's exporter stores weights as Constant nodes: with weights on they are
  // differentiated like initializers. y = x * k, k = Constant([3, -2]); S = Σ y → dS/dk = x.
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vec_input("x", 2));
  Node k = node("k", "Constant", {}, {"k"});
  k.attrs["value"] = Tensor::from_f32({2}, {3, -2});
  g.nodes = {k, node("mul", "Mul", {"x", "k"}, {"y"})};
  g.outputs = {vec_input("y", 2)};
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  s.run({{"x", Tensor::from_f32({2}, {5, 7})}});
  s.backward({{"y", Tensor::from_f32({2}, {1, 1})}}, GradientOptions{.weights = true});
  EXPECT_EQ(grad(s, "k"), (std::vector<float>{5, 7}));
  EXPECT_EQ(grad(s, "x"), (std::vector<float>{3, -2}));
}
