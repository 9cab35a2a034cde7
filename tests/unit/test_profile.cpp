// SessionOptions::profile times every node even on a backend that replays recorded runs (the CUDA
// backend's graphs): a replaying backend skips its kernels, so a profiled run must ask it to run
// eagerly. The fake backend below replays whenever it is allowed to, by doing nothing in end_run.
#include <gtest/gtest.h>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;

namespace {

class Replaying final : public Backend {
 public:
  Replaying() : cpu_(make_cpu_backend()) {}
  std::string name() const override { return "replaying"; }
  DeviceKind device() const override { return DeviceKind::Host; }
  std::optional<std::string> unsupported_reason(const NodeContext& c) const override { return cpu_->unsupported_reason(c); }
  std::unique_ptr<Kernel> plan(const NodeContext& c) override { return cpu_->plan(c); }
  size_t available_memory() const override { return cpu_->available_memory(); }
  DeviceBuffer allocate(size_t b) override { return cpu_->allocate(b); }
  void copy_from_host(void* d, const void* s, size_t b) override { cpu_->copy_from_host(d, s, b); }
  void copy_to_host(void* d, const void* s, size_t b) override { cpu_->copy_to_host(d, s, b); }
  void synchronize() override {}
  bool begin_run(bool whole_graph) override {
    asked_whole_graph = whole_graph;
    return whole_graph;  // "replay": the session skips the kernels, end_run does nothing
  }
  bool asked_whole_graph = false;

 private:
  std::unique_ptr<Backend> cpu_;
};

Graph relu_add() {
  Graph g;
  g.opsets[""] = 17;
  ValueInfo x{"x", DType::Float32, {Dim{1, ""}, Dim{4, ""}}, true};
  g.inputs.push_back(x);
  g.initializers["b"] = Tensor::from_f32({4}, {1, 2, 3, 4});
  Node relu{.name = "relu", .op_type = "Relu", .inputs = {"x"}, .outputs = {"r"}};
  Node add{.name = "add", .op_type = "Add", .inputs = {"r", "b"}, .outputs = {"y"}};
  g.nodes = {relu, add};
  g.outputs.push_back(ValueInfo{"y", DType::Float32, {Dim{1, ""}, Dim{4, ""}}, true});
  return g;
}

}  // namespace

TEST(Profile, RunsEveryNodeEagerlyOnAReplayingBackend) {
  const Tensor x = Tensor::from_f32({1, 4}, {-1, 5, -2, 7});
  {  // Without profiling the fake replays: nothing is computed (the check below can fail).
    Replaying b;
    Session s(relu_add(), {&b});
    s.run({{"x", x}});
    EXPECT_TRUE(b.asked_whole_graph);
  }
  Replaying b;
  SessionOptions o;
  o.profile = true;
  Session s(relu_add(), {&b}, o);
  s.run({{"x", x}});
  EXPECT_FALSE(b.asked_whole_graph) << "a profiled run must not let the backend replay";
  EXPECT_EQ(s.activations().fetch("y").to_f32_vector(), (std::vector<float>{1, 7, 3, 11}));
  ASSERT_EQ(s.node_times_ms().size(), 2u);
  for (double ms : s.node_times_ms()) EXPECT_GT(ms, 0.0);
}
