// Session::backward's gradient placement across backends (src/runtime/backward.cpp), checked on the
// CPU alone: HostAsDevice is a CPU backend that calls itself a device (DeviceKind::Cuda), so the
// Session gives it its own activation and gradient arenas and moves data through its copy and
// fill_zero calls, exactly as it would for the CUDA backend. Nodes it refuses to run go to the real
// host backend; nodes it refuses to differentiate (backward_unsupported_reason, or plan_backward
// throwing Error{Unsupported}) are differentiated on the host with the warning. Its kernels are the
// CPU's, so every gradient must equal a CPU-only session's bit for bit: the staging of partial sums
// between arenas changes where additions happen, never their order.
// What this proves about the CUDA backend: nothing about its kernels (tests/conformance's
// OtherBackendsVsCpu and tests/cuda do that on a GPU); everything about the runtime's arenas,
// staging, seeding, fetching and fallback bookkeeping that the CUDA backend relies on.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace netlens {
namespace {

class HostAsDevice final : public Backend {
 public:
  HostAsDevice(std::set<std::string> no_forward, std::set<std::string> no_backward, std::set<std::string> refuse_plan = {})
      : cpu_(make_cpu_backend()), no_forward_(std::move(no_forward)), no_backward_(std::move(no_backward)),
        refuse_plan_(std::move(refuse_plan)) {}
  std::string name() const override { return "host-as-device"; }
  DeviceKind device() const override { return DeviceKind::Cuda; }
  std::optional<std::string> unsupported_reason(const NodeContext& c) const override {
    if (no_forward_.count(c.node.op_type)) return "test: forward refused";
    return cpu_->unsupported_reason(c);
  }
  std::unique_ptr<Kernel> plan(const NodeContext& c) override { return cpu_->plan(c); }
  std::optional<std::string> backward_unsupported_reason(const NodeContext& c) const override {
    if (no_backward_.count(c.node.op_type) || no_backward_.count("*")) return "test: no backward for " + c.node.op_type;
    return cpu_->backward_unsupported_reason(c);
  }
  std::unique_ptr<GradKernel> plan_backward(const NodeContext& c, const std::vector<bool>& need) override {
    if (refuse_plan_.count(c.node.op_type)) throw Error(ErrorKind::Unsupported, c.node.describe() + ": test: plan refused");
    return cpu_->plan_backward(c, need);
  }
  size_t available_memory() const override { return available_ ? available_ : cpu_->available_memory(); }
  DeviceBuffer allocate(size_t b) override { return cpu_->allocate(b); }
  void copy_from_host(void* d, const void* s, size_t b) override {
    ++copies_in;
    std::memcpy(d, s, b);
  }
  void copy_to_host(void* d, const void* s, size_t b) override {
    ++copies_out;
    std::memcpy(d, s, b);
  }
  void fill_zero(void* d, size_t b) override {
    ++zero_fills;
    std::memset(d, 0, b);
  }
  void synchronize() override {}
  int copies_in = 0, copies_out = 0, zero_fills = 0;
  size_t available_ = 0;

 private:
  std::unique_ptr<Backend> cpu_;
  std::set<std::string> no_forward_, no_backward_, refuse_plan_;
};

Node node(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

ValueInfo vec(const std::string& name, int64_t n) { return ValueInfo{name, DType::Float32, {Dim{n, ""}}, true}; }

// x → Relu → a (device); b = a * w (host: Mul refused); c = a + b (device); d = Sigmoid(c)
// (device, differentiated on the host); e = d * x (host). a is read on both backends, x too, and w
// is a weight read on the host only.
Graph mixed_graph() {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vec("x", 6));
  g.initializers["w"] = Tensor::from_f32({6}, {0.5f, -1.5f, 2.0f, 0.25f, -0.75f, 1.0f});
  g.nodes = {node("relu", "Relu", {"x"}, {"a"}), node("mulw", "Mul", {"a", "w"}, {"b"}), node("add", "Add", {"a", "b"}, {"c"}),
             node("sig", "Sigmoid", {"c"}, {"d"}), node("mulx", "Mul", {"d", "x"}, {"e"})};
  g.outputs = {vec("e", 6)};
  return g;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.data());
  return std::vector<uint8_t>(p, p + t.nbytes());
}

// Every gradient of `got` equals `want`'s byte for byte; returns how many were compared.
int expect_same_gradients(const Session& got, const Session& want) {
  int n = 0;
  EXPECT_EQ(got.gradients().tensors().size(), want.gradients().tensors().size());
  for (const PlannedTensor& t : want.gradients().tensors()) {
    if (!got.gradients().contains(t.name)) {
      ADD_FAILURE() << "no gradient for '" << t.name << "'";
      continue;
    }
    EXPECT_EQ(bytes_of(got.gradients().fetch(t.name)), bytes_of(want.gradients().fetch(t.name))) << "gradient of '" << t.name << "'";
    ++n;
  }
  return n;
}

TEST(GradPlacement, MixedBackendsEqualTheCpuBitForBit) {
  HostAsDevice dev({"Mul"}, {"Sigmoid"});
  auto cpu = make_cpu_backend();
  auto cpu_only = make_cpu_backend();
  Session s(mixed_graph(), {&dev, cpu.get()});
  Session ref(mixed_graph(), {cpu_only.get()});
  const Tensor x = Tensor::from_f32({6}, {1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 2.5f});
  const Tensor seed = Tensor::from_f32({6}, {1.0f, 2.0f, -1.0f, 0.5f, 1.5f, -2.0f});
  s.run({{"x", x}});
  ref.run({{"x", x}});
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reuses the arenas and kernels
    SCOPED_TRACE("pass " + std::to_string(pass));
    const int zero_before = dev.zero_fills;
    s.backward({{"e", seed}}, GradientOptions{true});
    ref.backward({{"e", seed}}, GradientOptions{true});
    EXPECT_EQ(expect_same_gradients(s, ref), 7);  // x, a, b, c, d, e and the weight w
    // Where each gradient lives: with its activation (a, c, d on the device; b, e on the host); the
    // weight w where its reader (Mul on the host) is differentiated.
    const ActivationStore& gs = s.gradients();
    EXPECT_EQ(gs.find("a")->backend, 0);
    EXPECT_EQ(gs.find("c")->backend, 0);
    EXPECT_EQ(gs.find("d")->backend, 0);
    EXPECT_EQ(gs.find("b")->backend, 1);
    EXPECT_EQ(gs.find("e")->backend, 1);
    ASSERT_TRUE(gs.contains("w"));
    EXPECT_EQ(gs.find("w")->backend, 1);
    EXPECT_EQ(dev.zero_fills, zero_before + 1) << "the device arena is zeroed through fill_zero";
    ASSERT_EQ(s.backward_report().host_fallback_nodes.size(), 1u);
    EXPECT_NE(s.backward_report().host_fallback_nodes[0].find("'sig'"), std::string::npos);
    EXPECT_NE(s.backward_report().host_fallback_nodes[0].find("test: no backward for Sigmoid"), std::string::npos)
        << s.backward_report().host_fallback_nodes[0];
    EXPECT_EQ(s.backward_report().differentiated_nodes, ref.backward_report().differentiated_nodes);
  }
}

TEST(GradPlacement, RefusedPlanFallsBackToTheHost) {
  HostAsDevice dev({"Mul"}, {}, {"Add", "Relu"});
  auto cpu = make_cpu_backend();
  auto cpu_only = make_cpu_backend();
  Session s(mixed_graph(), {&dev, cpu.get()});
  Session ref(mixed_graph(), {cpu_only.get()});
  const Tensor x = Tensor::from_f32({6}, {1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 2.5f});
  s.run({{"x", x}});
  ref.run({{"x", x}});
  const Tensor seed = Tensor::from_f32({6}, {1, 1, 1, 1, 1, 1});
  s.backward({{"e", seed}});
  ref.backward({{"e", seed}});
  expect_same_gradients(s, ref);
  std::set<std::string> fell;
  for (const std::string& f : s.backward_report().host_fallback_nodes) fell.insert(f.substr(0, f.find(" (")));
  EXPECT_EQ(s.backward_report().host_fallback_nodes.size(), 2u);
  for (const std::string& f : s.backward_report().host_fallback_nodes)
    EXPECT_NE(f.find("test: plan refused"), std::string::npos) << f;
}

TEST(GradPlacement, ADeviceThatDifferentiatesNothingKeepsNoGradients) {
  HostAsDevice dev({"Mul"}, {"*"});
  auto cpu = make_cpu_backend();
  auto cpu_only = make_cpu_backend();
  Session s(mixed_graph(), {&dev, cpu.get()});
  Session ref(mixed_graph(), {cpu_only.get()});
  const Tensor x = Tensor::from_f32({6}, {1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 2.5f});
  s.run({{"x", x}});
  ref.run({{"x", x}});
  s.backward({{"e", Tensor::from_f32({6}, {1, 2, 3, 4, 5, 6})}});
  ref.backward({{"e", Tensor::from_f32({6}, {1, 2, 3, 4, 5, 6})}});
  expect_same_gradients(s, ref);
  for (const PlannedTensor& t : s.gradients().tensors()) EXPECT_EQ(t.backend, 1) << t.name;
  EXPECT_EQ(dev.zero_fills, 0);
  EXPECT_EQ(s.backward_report().host_fallback_nodes.size(), 3u);  // relu, add, sig ran on the device
}

TEST(GradPlacement, DeviceMemoryCheckedBeforeAllocating) {
  HostAsDevice dev({"Mul"}, {});
  auto cpu = make_cpu_backend();
  Session s(mixed_graph(), {&dev, cpu.get()});
  s.run({{"x", Tensor::from_f32({6}, {1, 2, 3, 4, 5, 6})}});
  dev.available_ = 256;  // the device's gradients need several 256-byte slots
  try {
    s.backward({{"e", Tensor::from_f32({6}, {1, 1, 1, 1, 1, 1})}});
    ADD_FAILURE() << "expected Error{Memory}";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Memory);
    EXPECT_NE(std::string(e.what()).find("on host-as-device"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(s.has_gradients());
}

// A real model with every kind of crossing: MobileNetV2 (random torchvision weights) with its
// GlobalAveragePool run on the host, Add differentiated on the host, Gemm's plan refused; weight
// gradients on. Every gradient must equal the CPU-only session's.
TEST(GradPlacement, MobileNetV2MixedEqualsCpu) {
  const std::string path = std::string(NETLENS_CACHE_DIR) + "/models/mobilenet_v2.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "model not present: " << path << " (scripts/fetch-models.sh)";
  const Graph g = load_onnx(path);
  HostAsDevice dev({"GlobalAveragePool"}, {"Add"}, {"Gemm"});
  auto cpu = make_cpu_backend();
  auto cpu_only = make_cpu_backend();
  Session s(g, {&dev, cpu.get()});
  Session ref(g, {cpu_only.get()});
  const std::string in = g.inputs.at(0).name;
  Tensor x(DType::Float32, {1, 3, 224, 224});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = d(rng);
  s.run({{in, x}});
  ref.run({{in, x}});
  const std::string out = g.outputs.at(0).name;
  const Tensor y = ref.activations().fetch(out);
  Tensor seed(DType::Float32, y.shape());
  std::memset(seed.data(), 0, seed.nbytes());
  int64_t top = 0;
  for (int64_t i = 1; i < y.numel(); ++i)
    if (y.data_as<float>()[i] > y.data_as<float>()[top]) top = i;
  seed.data_as<float>()[top] = 1.0f;
  s.backward({{out, seed}}, GradientOptions{true});
  ref.backward({{out, seed}}, GradientOptions{true});
  const int n = expect_same_gradients(s, ref);
  EXPECT_GT(n, 250);  // 277 in the torchvision export (activations and weights)
  int adds = 0, gemms = 0;
  for (const Node& nd : g.nodes) {
    adds += nd.op_type == "Add";
    gemms += nd.op_type == "Gemm";
  }
  EXPECT_GT(adds, 0);
  EXPECT_EQ(s.backward_report().host_fallback_nodes.size(), static_cast<size_t>(adds + gemms));
  EXPECT_GT(dev.copies_in, 0) << "partial sums staged back into the device arena";
  std::printf("[placement] MobileNetV2: %d gradients equal to the CPU's; %zu nodes differentiated on the host; %d copies in, "
              "%d out\n",
              n, s.backward_report().host_fallback_nodes.size(), dev.copies_in, dev.copies_out);
}

}  // namespace
}  // namespace netlens
