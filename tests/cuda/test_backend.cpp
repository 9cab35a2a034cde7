// Backend-level behaviour: the no-device message, memory, copies, and a small in-memory graph run
// repeatedly through a Session (first run eager + recorded, later runs replay a CUDA graph).
#include <gtest/gtest.h>

#include <random>

#include "cuda_test_util.hpp"

namespace netlens::test {
namespace {

TEST(CudaBackendNoDevice, FailsWithOneClearLine) {
  // Where there is a device, an out-of-range index must fail the same way.
  const int device = cuda_backend(nullptr) ? 1000 : 0;
  try {
    auto b = make_cuda_backend(device);
    FAIL() << "make_cuda_backend(" << device << ") did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Device);
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("no usable CUDA device: cudaError", 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

class CudaBackendTest : public CudaTest {};

TEST_F(CudaBackendTest, AllocateAlignedAndRoundTrip) {
  if (cuda_->name() != "cuda") GTEST_SKIP() << "harness self-check mode: not the CUDA backend";
  EXPECT_GT(cuda_->available_memory(), size_t{1} << 20);
  EXPECT_EQ(cuda_->name(), "cuda");
  EXPECT_EQ(cuda_->device(), DeviceKind::Cuda);
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f;
  DeviceBuffer b = cuda_->allocate(host.size() * sizeof(float));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.get()) % 256, 0u);
  cuda_->copy_from_host(b.get(), host.data(), host.size() * sizeof(float));
  std::vector<float> back(host.size());
  cuda_->copy_to_host(back.data(), b.get(), back.size() * sizeof(float));
  EXPECT_EQ(back, host);
  EXPECT_THROW(cuda_->allocate(size_t{1} << 62), Error);
}

Graph small_cnn() {
  std::mt19937 g(3);
  std::uniform_real_distribution<float> d(-0.3f, 0.3f);
  auto rnd = [&](Shape s) {
    Tensor t(DType::Float32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(g);
    return t;
  };
  Graph gr;
  gr.name = "small_cnn";
  gr.opsets[""] = 17;
  gr.inputs.push_back(ValueInfo{"x", DType::Float32, {{1, ""}, {3, ""}, {19, ""}, {17, ""}}, true});
  gr.initializers["w1"] = rnd({8, 3, 3, 3});
  gr.initializers["b1"] = rnd({8});
  gr.initializers["w2"] = rnd({8, 1, 3, 3});
  gr.initializers["w3"] = rnd({10, 8});
  gr.initializers["b3"] = rnd({10});
  auto node = [](std::string op, std::vector<std::string> in, std::string out, std::map<std::string, AttrValue> a = {}) {
    Node n;
    n.name = out + "_node";
    n.op_type = std::move(op);
    n.inputs = std::move(in);
    n.outputs = {std::move(out)};
    n.attrs = std::move(a);
    return n;
  };
  using V = std::vector<int64_t>;
  gr.nodes.push_back(node("Conv", {"x", "w1", "b1"}, "c1", {{"pads", V{1, 1, 1, 1}}, {"strides", V{2, 2}}}));
  gr.nodes.push_back(node("Relu", {"c1"}, "r1"));
  gr.nodes.push_back(node("Conv", {"r1", "w2"}, "c2", {{"pads", V{1, 1, 1, 1}}, {"group", int64_t{8}}}));
  gr.nodes.push_back(node("Add", {"c2", "r1"}, "s2"));
  gr.nodes.push_back(node("Sigmoid", {"s2"}, "g2"));
  gr.nodes.push_back(node("GlobalAveragePool", {"g2"}, "p"));
  gr.nodes.push_back(node("Flatten", {"p"}, "f"));
  gr.nodes.push_back(node("Gemm", {"f", "w3", "b3"}, "y", {{"transB", int64_t{1}}}));
  gr.nodes.push_back(node("Softmax", {"y"}, "prob"));
  gr.outputs.push_back(ValueInfo{"prob", DType::Float32, {{1, ""}, {10, ""}}, true});
  return gr;
}

TEST_F(CudaBackendTest, RepeatedRunsReplayWithNewInputs) {
  const Graph gr = small_cnn();
  Session ref(gr, {cpu_backend()});
  Session gpu(gr, {cuda_, cpu_backend()});
  ref.prepare();
  gpu.prepare();
  EXPECT_TRUE(gpu.report().fallback_nodes.empty());
  for (size_t i = 0; i < gr.nodes.size(); ++i) EXPECT_EQ(gpu.node_backend(i), 0) << gr.nodes[i].name;
  std::mt19937 g(5);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  Tensor first_prob;
  for (int run = 0; run < 4; ++run) {
    Tensor x(DType::Float32, {1, 3, 19, 17});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = d(g);
    ref.run({{"x", x}});
    gpu.run({{"x", x}});
    for (const char* name : {"c1", "r1", "c2", "s2", "g2", "p", "f", "y", "prob"}) {
      const Compare r = compare_tensors(gpu.activations().fetch(name), ref.activations().fetch(name), 1e-5);
      EXPECT_TRUE(r.problem.empty()) << "run " << run << ", tensor " << name << ": " << r.problem;
    }
    // Different inputs must give different outputs (a replay that ignored new inputs would not).
    const Tensor prob = gpu.activations().fetch("prob").clone();
    if (run == 0) first_prob = prob;
    else EXPECT_NE(std::memcmp(prob.data(), first_prob.data(), prob.nbytes()), 0) << "run " << run;
  }
}

}  // namespace
}  // namespace netlens::test
