// Session::run(inputs, RunControl&): the cancel flag stops a real model's run between two nodes
// (the hook has seen fewer nodes than the graph runs), from this thread or another, and the session
// stays usable: a later run gives bit for bit the output of a fresh session that never was
// cancelled. MobileNetV2 on the CPU backend; a missing model fails.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace netlens {
namespace {

struct Model {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::unique_ptr<Session> s;
  std::map<std::string, Tensor> inputs;
  size_t executed = 0;  // nodes a complete run executes (not folded)
};

Model load() {
  const std::filesystem::path p = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  if (!std::filesystem::exists(p)) throw std::runtime_error("missing " + p.string() + " (scripts/fetch-models.sh)");
  Model m;
  m.s = std::make_unique<Session>(load_onnx(p.string()), std::vector<Backend*>{m.cpu.get()});
  const ValueInfo& in = m.s->graph().inputs.at(0);
  Tensor x(DType::Float32, {1, 3, 224, 224});
  float* d = x.data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) d[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;  // in [-1, 1)
  m.inputs[in.name] = x;
  m.s->prepare({{in.name, x.shape()}});
  RunControl count;
  count.on_node = [&m](size_t, size_t) { ++m.executed; };
  m.s->run(m.inputs, count);
  return m;
}

std::vector<float> output(const Session& s) {
  const Tensor t = s.activations().fetch(s.graph().outputs.at(0).name);
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.numel());
}

TEST(cancel, stops_between_nodes_and_the_session_stays_usable) {
  Model ref = load();  // never cancelled
  const std::vector<float> expected = output(*ref.s);
  ASSERT_GT(ref.executed, 50u);
  ASSERT_LE(ref.executed, ref.s->graph().nodes.size());

  Model m = load();
  RunControl ctl;
  size_t seen = 0, last_index = 0;
  ctl.on_node = [&](size_t node, size_t total) {
    EXPECT_EQ(total, m.s->graph().nodes.size());
    if (seen) EXPECT_GT(node, last_index);  // in graph order
    last_index = node;
    if (++seen == 10) ctl.cancel.store(true);
  };
  EXPECT_THROW(m.s->run(m.inputs, ctl), Cancelled);
  EXPECT_EQ(seen, 10u);  // stopped before the 11th node
  EXPECT_LT(seen, m.executed);
  // A partial run is not a run: no gradients of it.
  EXPECT_THROW(m.s->backward({}), Error);

  // Usable after: a plain run and a controlled one both give the never-cancelled session's output.
  m.s->run(m.inputs);
  EXPECT_EQ(output(*m.s), expected);
  RunControl again;
  size_t n = 0;
  again.on_node = [&n](size_t, size_t) { ++n; };
  std::memset(m.s->activations().device_view(m.s->graph().outputs.at(0).name).data, 0,
              expected.size() * sizeof(float));  // so the comparison below sees this run's values
  m.s->run(m.inputs, again);
  EXPECT_EQ(n, m.executed);
  EXPECT_EQ(output(*m.s), expected);
}

TEST(cancel, set_before_the_run_runs_no_node) {
  Model m = load();
  RunControl ctl;
  size_t seen = 0;
  ctl.on_node = [&seen](size_t, size_t) { ++seen; };
  ctl.cancel.store(true);
  EXPECT_THROW(m.s->run(m.inputs, ctl), Cancelled);
  EXPECT_EQ(seen, 0u);
}

// The cancel flag set by another thread while this one runs the session (the viewer's Esc, a
// SIGINT handler): the run stops with fewer nodes than the graph runs.
TEST(cancel, from_another_thread) {
  Model m = load();
  RunControl ctl;
  std::atomic<size_t> seen{0};
  ctl.on_node = [&](size_t, size_t) {
    seen.fetch_add(1);
    // Hold the run at node 5 until the other thread has cancelled it (no timing involved).
    if (seen.load() == 5)
      while (!ctl.cancel.load()) std::this_thread::yield();
  };
  std::thread canceller([&] {
    while (seen.load() < 5) std::this_thread::yield();
    ctl.cancel.store(true);
  });
  EXPECT_THROW(m.s->run(m.inputs, ctl), Cancelled);
  canceller.join();
  EXPECT_EQ(seen.load(), 5u);
  EXPECT_LT(seen.load(), m.executed);
}

}  // namespace
}  // namespace netlens
