// Session mechanics on hand-made graphs: every tensor kept and addressable, constant folding,
// unsupported-node listing, budgets, input validation, cross-backend copies, and the arena pages
// committed at prepare.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;

namespace {

ValueInfo vi(const std::string& name, DType t, std::vector<int64_t> dims) {
  ValueInfo v{name, t, {}, true};
  for (int64_t d : dims) v.dims.push_back(d >= 0 ? Dim{d, ""} : Dim{-1, "n"});
  return v;
}

Node node(const std::string& op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.op_type = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

// x → Relu → r ; r + bias → y ; Shape(y) → s (folded)
Graph small_graph() {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", DType::Float32, {1, 2, 3}));
  g.initializers["bias"] = Tensor::from_f32({3}, {10, 20, 30});
  g.nodes.push_back(node("Relu", "relu", {"x"}, {"r"}));
  g.nodes.push_back(node("Add", "add", {"r", "bias"}, {"y"}));
  g.nodes.push_back(node("Shape", "shape", {"y"}, {"s"}));
  g.outputs.push_back(vi("y", DType::Float32, {1, 2, 3}));
  return g;
}

// A host backend that only runs Relu, to exercise per-node backend choice and mirror copies.
class ReluOnly final : public Backend {
 public:
  ReluOnly() : cpu_(make_cpu_backend()) {}
  std::string name() const override { return "relu-only"; }
  DeviceKind device() const override { return DeviceKind::Host; }
  std::optional<std::string> unsupported_reason(const NodeContext& c) const override {
    if (c.node.op_type != "Relu") return std::string("only Relu");
    return std::nullopt;
  }
  std::unique_ptr<Kernel> plan(const NodeContext& c) override { return cpu_->plan(c); }
  size_t available_memory() const override { return cpu_->available_memory(); }
  DeviceBuffer allocate(size_t b) override { ++allocations; return cpu_->allocate(b); }
  void copy_from_host(void* d, const void* s, size_t b) override { ++copies; cpu_->copy_from_host(d, s, b); }
  void copy_to_host(void* d, const void* s, size_t b) override { ++copies; cpu_->copy_to_host(d, s, b); }
  void synchronize() override {}
  int allocations = 0, copies = 0;

 private:
  std::unique_ptr<Backend> cpu_;
};

}  // namespace

TEST(Session, KeepsEveryTensorAndComputesIt) {
  auto cpu = make_cpu_backend();
  Session s(small_graph(), {cpu.get()});
  Tensor x = Tensor::from_f32({1, 2, 3}, {-1, 2, -3, 4, 0.5f, -0.5f});
  s.run({{"x", x}});
  const ActivationStore& a = s.activations();
  for (const char* name : {"x", "r", "y", "s"}) EXPECT_TRUE(a.contains(name)) << name;
  EXPECT_EQ(a.fetch("r").to_f32_vector(), (std::vector<float>{0, 2, 0, 4, 0.5f, 0}));
  EXPECT_EQ(a.fetch("y").to_f32_vector(), (std::vector<float>{10, 22, 30, 14, 20.5f, 30}));
  EXPECT_EQ(a.fetch("s").to_i64_vector(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(a.find("s")->constant);  // Shape folds at prepare time
  EXPECT_EQ(a.node_outputs(1), (std::vector<std::string>{"y"}));
  EXPECT_EQ(s.report().folded_nodes, 1);
  // Every non-constant tensor is kept: x, r, y (3 × 6 floats, no reuse).
  EXPECT_EQ(s.report().activation_bytes, 3u * 6 * 4);
  // A second run with a new input overwrites in place and stays correct.
  s.run({{"x", Tensor::from_f32({1, 2, 3}, {1, 1, 1, 1, 1, 1})}});
  EXPECT_EQ(a.fetch("y").to_f32_vector(), (std::vector<float>{11, 21, 31, 11, 21, 31}));
}

// Reshape, Flatten, Squeeze, Unsqueeze and Identity keep their output in their input's bytes on a
// host backend (nothing copied, one arena slot); every tensor still reads as its own, with the
// values a direct computation gives, run after run. Ops that move bytes (Transpose) and ops that
// compute (Mul) get slots of their own.
TEST(Session, ShapeOnlyOpsShareTheirInputsBytes) {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", DType::Float32, {2, 3, 4}));
  g.initializers["shape64"] = Tensor::from_i64({2}, {6, 4});
  g.initializers["shape24"] = Tensor::from_i64({1}, {24});
  g.initializers["axis0"] = Tensor::from_i64({1}, {0});
  g.initializers["two"] = Tensor::from_f32({1}, {2});
  g.nodes.push_back(node("Relu", "relu", {"x"}, {"r"}));
  g.nodes.push_back(node("Reshape", "reshape", {"r", "shape64"}, {"rs"}));
  g.nodes.push_back(node("Unsqueeze", "unsqueeze", {"rs", "axis0"}, {"u"}));
  g.nodes.push_back(node("Squeeze", "squeeze", {"u", "axis0"}, {"sq"}));
  g.nodes.push_back(node("Identity", "identity", {"sq"}, {"id"}));
  g.nodes.push_back(node("Flatten", "flatten", {"id"}, {"f"}));
  g.nodes.push_back(node("Mul", "mul", {"f", "two"}, {"m"}));
  g.nodes.push_back(node("Transpose", "transpose", {"f"}, {"t"}));
  g.nodes.push_back(node("Reshape", "reshape_x", {"x", "shape24"}, {"xr"}));
  g.outputs.push_back(vi("m", DType::Float32, {6, 4}));
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  for (int round = 0; round < 2; ++round) {
    std::vector<float> xv(24);
    for (int i = 0; i < 24; ++i) xv[i] = static_cast<float>((i * 7 + round * 5) % 11) - 5.0f;
    s.run({{"x", Tensor::from_f32({2, 3, 4}, xv)}});
    const ActivationStore& a = s.activations();
    std::vector<float> relu(24), twice(24), transposed(24);
    for (int i = 0; i < 24; ++i) relu[i] = std::max(xv[i], 0.0f);
    for (int i = 0; i < 24; ++i) twice[i] = 2 * relu[i];
    for (int r = 0; r < 6; ++r)
      for (int c = 0; c < 4; ++c) transposed[c * 6 + r] = relu[r * 4 + c];
    for (const char* name : {"rs", "u", "sq", "id", "f"}) {
      EXPECT_EQ(a.fetch(name).to_f32_vector(), relu) << name << ", round " << round;
      EXPECT_EQ(a.find(name)->offset, a.find("r")->offset) << name;
    }
    EXPECT_EQ(a.fetch("u").shape(), (Shape{1, 6, 4}));
    EXPECT_EQ(a.fetch("m").to_f32_vector(), twice);
    EXPECT_EQ(a.fetch("t").to_f32_vector(), transposed);
    EXPECT_EQ(a.fetch("xr").to_f32_vector(), xv);
    EXPECT_EQ(a.find("xr")->offset, a.find("x")->offset);
    EXPECT_NE(a.find("m")->offset, a.find("r")->offset);
    EXPECT_NE(a.find("t")->offset, a.find("r")->offset);
  }
  // Slots for x, r, m and t only (256-byte aligned); every tensor still counts as kept.
  EXPECT_EQ(s.report().bytes_per_backend.at("cpu"), 4u * 256);
  EXPECT_EQ(s.report().activation_bytes, 10u * 24 * 4);
}

// Pages of [p, p + bytes) in memory, and all the pages it spans (mincore).
std::pair<size_t, size_t> resident_pages(const void* p, size_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const size_t n = (reinterpret_cast<uintptr_t>(p) + bytes - lo + page - 1) / page;
  std::vector<unsigned char> in(n);
  if (mincore(reinterpret_cast<void*>(lo), n * page, in.data()) != 0) return {0, n};
  return {static_cast<size_t>(std::count_if(in.begin(), in.end(), [](unsigned char c) { return c & 1; })), n};
}

TEST(Session, PrepareCommitsTheArenaItsRunsWrite) {
  // 12 MiB tensors, 36 MiB of arena: more than glibc's largest mmap threshold (32 MiB), so the
  // arena is fresh memory, none of it in RAM until written. After prepare, before any run, every
  // page of every activation is (Backend::prefault): the first run's parallel kernels then do not
  // fault them in (two threads faulting the same transparent huge page stall each other).
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(vi("x", DType::Float32, {3, 1024, 1024}));
  g.initializers["two"] = Tensor::from_f32({1}, {2});
  g.nodes.push_back(node("Relu", "relu", {"x"}, {"r"}));
  g.nodes.push_back(node("Mul", "mul", {"r", "two"}, {"y"}));
  g.outputs.push_back(vi("y", DType::Float32, {3, 1024, 1024}));
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  s.prepare();
  // r, the Relu that only the Mul after it in its fused chain reads, is not written by the run
  // (deferred, runtime.hpp): not committed either, but for the huge pages it shares with x and y.
  const std::vector<std::string>& deferred = s.report().deferred_tensors;
  ASSERT_EQ(deferred, std::vector<std::string>{"r"});
  // (Addresses from the plan: device_view would write r.)
  const ActivationStore& a = s.activations();
  const std::byte* arena = static_cast<const std::byte*>(a.device_view("x").data) - a.find("x")->offset;
  for (const char* name : {"x", "r", "y"}) {
    const PlannedTensor& t = *a.find(name);
    const auto [in, all] = resident_pages(arena + t.offset, t.info.nbytes());
    if (std::string(name) == "r")
      EXPECT_LE(in, all / 2) << "the deferred r: " << in << " of " << all << " pages in memory after prepare";
    else
      EXPECT_EQ(in, all) << name << ": " << in << " of " << all << " pages in memory after prepare";
  }
  // And the run writes over them as before: y = 2 max(x, 0), bit for bit.
  const int64_t n = 3 << 20;
  std::vector<float> xv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) xv[static_cast<size_t>(i)] = static_cast<float>(i % 13) - 6.5f;
  s.run({{"x", Tensor::from_f32({3, 1024, 1024}, xv)}});
  const Tensor y = s.activations().fetch("y");
  const float* yp = static_cast<const float*>(y.data());
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) wrong += yp[i] != 2.0f * std::max(xv[static_cast<size_t>(i)], 0.0f);
  EXPECT_EQ(wrong, 0);
}

TEST(Session, ListsEveryUnsupportedNodeAtOnce) {
  Graph g = small_graph();
  g.nodes.insert(g.nodes.begin() + 1, node("FancyOp", "fancy1", {"r"}, {"f1"}));
  g.nodes.push_back(node("OtherOp", "other2", {"y"}, {"f2"}));
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  try {
    s.prepare();
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    const std::string m = e.what();
    EXPECT_NE(m.find("2 unsupported nodes"), std::string::npos) << m;
    EXPECT_NE(m.find("FancyOp (node 'fancy1', opset 17)"), std::string::npos) << m;
    EXPECT_NE(m.find("OtherOp (node 'other2', opset 17)"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line";
  }
}

TEST(Session, ValidatesInputs) {
  auto cpu = make_cpu_backend();
  Session s(small_graph(), {cpu.get()});
  auto kind_of = [&](const std::map<std::string, Tensor>& in) {
    try {
      s.run(in);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  EXPECT_EQ(kind_of({{"x", Tensor(DType::Float64, {1, 2, 3})}}), ErrorKind::Input);   // dtype
  EXPECT_EQ(kind_of({{"x", Tensor(DType::Float32, {1, 2, 3, 1})}}), ErrorKind::Input);  // rank
  EXPECT_EQ(kind_of({{"x", Tensor(DType::Float32, {1, 2, 4})}}), ErrorKind::Input);     // fixed dim
  EXPECT_EQ(kind_of({}), ErrorKind::Input);                                              // missing
  EXPECT_EQ(kind_of({{"x", Tensor(DType::Float32, {1, 2, 3})}, {"nope", Tensor()}}), ErrorKind::Input);
}

TEST(Session, DynamicDimsNeedAShape) {
  Graph g = small_graph();
  g.inputs[0] = vi("x", DType::Float32, {-1, 2, 3});
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  EXPECT_THROW(s.prepare(), Error);
  s.prepare({{"x", {4, 2, 3}}});
  EXPECT_EQ(s.info("y").shape, (Shape{4, 2, 3}));
}

TEST(Session, RefusesOverBudgetAndAbsurdShapesBeforeAllocating) {
  Graph g = small_graph();
  auto cpu = make_cpu_backend();
  {
    SessionOptions o;
    o.max_memory = 16;  // bytes
    Session s(g, {cpu.get()}, o);
    try {
      s.prepare();
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Memory);
      EXPECT_NE(std::string(e.what()).find("budget"), std::string::npos) << e.what();
    }
  }
  g.inputs[0] = vi("x", DType::Float32, {1, 100000, 100000, 100000});
  g.initializers["bias"] = Tensor::from_f32({1}, {1});
  Session s(g, {cpu.get()});
  try {
    s.prepare();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Memory) << e.what();
  }
}

TEST(Session, RunsNodesOnTheFirstBackendThatSupportsThemAndCopiesBetween) {
  ReluOnly relu;
  auto cpu = make_cpu_backend();
  Graph g = small_graph();
  // x → Relu (relu-only) → r → Add (cpu) → y → Relu (relu-only) → z
  g.nodes.push_back(node("Relu", "relu2", {"y"}, {"z"}));
  Session s(g, {&relu, cpu.get()});
  s.run({{"x", Tensor::from_f32({1, 2, 3}, {-1, 2, -3, 4, 0.5f, -0.5f})}});
  EXPECT_EQ(s.node_backend(0), 0);
  EXPECT_EQ(s.node_backend(1), 1);
  EXPECT_EQ(s.node_backend(3), 0);
  EXPECT_EQ(s.report().fallback_nodes.size(), 1u);
  EXPECT_EQ(s.activations().fetch("z").to_f32_vector(), (std::vector<float>{10, 22, 30, 14, 20.5f, 30}));
  EXPECT_GE(relu.copies, 2);  // input upload + mirror copies in and out of the Add
}

// The window's progressive start lays out from a shape plan and prepares later on the run's thread.
TEST(Session, PlanShapesAnswersShapesWithoutAllocatingAndPrepareKeepsThePlan) {
  ReluOnly relu;
  auto cpu = make_cpu_backend();
  Session s(small_graph(), {&relu, cpu.get()});
  s.plan_shapes();
  EXPECT_FALSE(s.prepared());
  EXPECT_EQ(relu.allocations, 0) << "plan_shapes allocated an arena";
  EXPECT_EQ(s.info("y").shape, (Shape{1, 2, 3}));
  EXPECT_EQ(s.info("bias").shape, (Shape{3}));
  ASSERT_NE(s.activations().find("r"), nullptr);
  EXPECT_EQ(s.activations().find("r")->backend, 0);  // Relu on relu-only, the Add on the CPU
  EXPECT_EQ(s.activations().find("y")->backend, 1);
  EXPECT_TRUE(s.activations().find("s")->constant);  // folded at plan time
  EXPECT_EQ(s.report().activation_bytes, 3u * 6 * 4);
  EXPECT_EQ(s.report().folded_nodes, 1);
  const std::vector<PlannedTensor> plan = s.planned();

  // prepare() on another thread, with the same shapes: the plan is kept (the same tensors, byte
  // offsets and backends), the arenas are made once, and the run computes the right values.
  std::thread t([&] {
    s.prepare();
    s.run({{"x", Tensor::from_f32({1, 2, 3}, {-1, 2, -3, 4, 0.5f, -0.5f})}});
  });
  t.join();
  EXPECT_TRUE(s.prepared());
  EXPECT_EQ(relu.allocations, 1);  // its arena (r, x's mirror is on the CPU's side)
  ASSERT_EQ(s.planned().size(), plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(s.planned()[i].name, plan[i].name);
    EXPECT_EQ(s.planned()[i].offset, plan[i].offset) << plan[i].name;
    EXPECT_EQ(s.planned()[i].backend, plan[i].backend) << plan[i].name;
  }
  EXPECT_EQ(s.activations().fetch("y").to_f32_vector(), (std::vector<float>{10, 22, 30, 14, 20.5f, 30}));
  // Preparing again (a prepared session handed to a new thread) re-plans the kernels and stays right.
  s.prepare();
  s.run({{"x", Tensor::from_f32({1, 2, 3}, {1, 1, 1, 1, 1, 1})}});
  EXPECT_EQ(s.activations().fetch("y").to_f32_vector(), (std::vector<float>{11, 21, 31, 11, 21, 31}));
}

TEST(Session, PlanShapesChecksLikePrepareAndOtherShapesPlanAgain) {
  Graph g = small_graph();
  g.inputs[0] = vi("x", DType::Float32, {-1, 2, 3});
  auto cpu = make_cpu_backend();
  {
    Session s(g, {cpu.get()});
    EXPECT_THROW(s.plan_shapes(), Error);  // a dynamic dim without a shape
    s.plan_shapes({{"x", {4, 2, 3}}});
    EXPECT_EQ(s.info("y").shape, (Shape{4, 2, 3}));
    s.prepare({{"x", {2, 2, 3}}});  // other shapes: planned again
    EXPECT_EQ(s.info("y").shape, (Shape{2, 2, 3}));
    s.run({{"x", Tensor::from_f32({2, 2, 3}, std::vector<float>(12, -1.0f))}});
    EXPECT_EQ(s.activations().fetch("y").to_f32_vector()[0], 10.0f);
  }
  SessionOptions o;
  o.max_memory = 16;  // bytes: the budget is checked by the plan, before anything is allocated
  Session s(g, {cpu.get()}, o);
  try {
    s.plan_shapes({{"x", {4, 2, 3}}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Memory) << e.what();
  }
}

TEST(Session, ComputedWithinSaysWhatACancelledRunWrote) {
  auto cpu = make_cpu_backend();
  Session s(small_graph(), {cpu.get()});
  s.prepare();
  const ActivationStore& a = s.activations();
  // Nodes: 0 relu → r, 1 add → y, 2 shape → s (folded: a constant).
  EXPECT_TRUE(a.computed_within("x", 0));  // a graph input is copied in before the first node
  EXPECT_FALSE(a.computed_within("r", 0));
  EXPECT_TRUE(a.computed_within("r", 1));
  EXPECT_FALSE(a.computed_within("y", 1));
  EXPECT_TRUE(a.computed_within("y", 2));
  EXPECT_TRUE(a.computed_within("s", 0));  // folded at prepare
  EXPECT_FALSE(a.computed_within("nope", 3));
}
