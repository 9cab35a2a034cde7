// Hostile models: shapes and constants built to exhaust memory or overflow size arithmetic must be
// refused at prepare time with one line, before anything large is allocated. Also replays every
// fuzzer find (tests/onnx/inputs) through load + prepare + run, exactly as the fuzzer does.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../fuzz/onnx_prepare.hpp"
#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace fs = std::filesystem;
using namespace netlens;

namespace {

// Builds a model from nodes over int64 initializers; opset 17.
struct ModelBuilder {
  onnx::ModelProto m;
  ModelBuilder() {
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    m.mutable_graph()->set_name("hostile");
  }
  void i64(const std::string& name, std::vector<int64_t> dims, std::vector<int64_t> values) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
  }
  void f32(const std::string& name, std::vector<int64_t> dims, std::vector<float> values) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
  }
  void input(const std::string& name, std::vector<int64_t> dims) {
    auto* v = m.mutable_graph()->add_input();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (d >= 0) dim->set_dim_value(d);
      else dim->set_dim_param("n");
    }
  }
  void node(const std::string& op, const std::string& name, std::vector<std::string> in, const std::string& out) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& s : in) n->add_input(s);
    n->add_output(out);
    m.mutable_graph()->add_output()->set_name(out);
  }
  Graph graph() const {
    std::string bytes;
    EXPECT_TRUE(m.SerializeToString(&bytes));
    return load_onnx_bytes(bytes, "", "hostile.onnx");
  }
};

// prepare() must throw Error of `kind` with a one-line message holding every needle.
void expect_refused(const Graph& g, size_t max_memory, ErrorKind kind, std::vector<std::string> needles,
                    const std::map<std::string, Shape>& shapes = {}) {
  auto cpu = make_cpu_backend();
  SessionOptions o;
  o.max_memory = max_memory;
  Session s(g, {cpu.get()}, o);
  try {
    s.prepare(shapes);
    ADD_FAILURE() << "prepare() accepted the model";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' missing in: " << msg;
  }
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

// ConstantOfShape([2e9]) folds to 8 GB of float zeros. Under a 1 GiB budget prepare() refuses it by
// name, bytes and budget, and the process's peak RSS shows nothing near 8 GB was touched (the
// fold would memset the whole buffer, so an allocate-then-check order raises the peak by 8 GB).
TEST(HostileModels, HugeFoldRefusedByBudgetBeforeAllocating) {
  ModelBuilder b;
  b.i64("shape", {1}, {2000000000});
  b.node("ConstantOfShape", "huge_fill", {"shape"}, "y");
  const Graph g = b.graph();
  const long before = peak_rss_kib();
  expect_refused(g, size_t{1} << 30, ErrorKind::Memory, {"huge_fill", "8000000000 bytes", "budget", "1024.0 MiB"});
  EXPECT_LT(peak_rss_kib() - before, 256 * 1024) << "peak RSS grew by " << (peak_rss_kib() - before) << " KiB";
}

// Without --max-memory the host's available memory is the budget: 2^40 floats (4 TiB) are under
// the planner's 1 PiB sanity cap, so only the default budget stops this one.
TEST(HostileModels, HugeFoldRefusedByAvailableMemoryByDefault) {
  ModelBuilder b;
  b.i64("shape", {1}, {int64_t{1} << 40});
  b.node("ConstantOfShape", "tebibytes", {"shape"}, "y");
  const long before = peak_rss_kib();
  expect_refused(b.graph(), 0, ErrorKind::Memory, {"tebibytes", "4398046511104 bytes", "available memory"});
  EXPECT_LT(peak_rss_kib() - before, 256 * 1024);
}

// Folded constants count against the budget together with the arenas: 1000 floats (4000 bytes,
// 4096 aligned) fold under a 1 MiB budget but not under 4000 bytes.
TEST(HostileModels, FoldedBytesCountAgainstTheBudget) {
  ModelBuilder b;
  b.i64("shape", {1}, {1000});
  b.node("ConstantOfShape", "small_fill", {"shape"}, "y");
  const Graph g = b.graph();
  expect_refused(g, 4000, ErrorKind::Memory, {"small_fill", "4096 bytes", "budget"});
  auto cpu = make_cpu_backend();
  SessionOptions o;
  o.max_memory = size_t{1} << 20;
  Session s(g, {cpu.get()}, o);
  s.prepare();
  EXPECT_EQ(s.report().folded_nodes, 1);
  EXPECT_EQ(s.activations().fetch("y").numel(), 1000);
}

// Shapes whose element counts overflow int64 are refused with a line naming the node, whatever
// the budget (and never reach a multiplication that wraps).
TEST(HostileModels, OverflowingShapesAreRefused) {
  const int64_t big = int64_t{1} << 40;
  {
    ModelBuilder b;
    b.i64("shape", {2}, {big, big});
    b.node("ConstantOfShape", "square", {"shape"}, "y");
    expect_refused(b.graph(), 0, ErrorKind::Model, {"square", "impossibly large"});
  }
  {
    // Zero hides the size from a plain product: 0 x 2^40 x 2^40 x 2^40.
    ModelBuilder b;
    b.i64("shape", {4}, {0, big, big, big});
    b.node("ConstantOfShape", "zero_hides", {"shape"}, "y");
    expect_refused(b.graph(), 0, ErrorKind::Model, {"zero_hides"});
  }
  {
    // Range over the whole int64 span: limit - start does not fit int64.
    ModelBuilder b;
    b.i64("start", {}, {INT64_MIN});
    b.i64("limit", {}, {INT64_MAX});
    b.i64("delta", {}, {1});
    b.node("Range", "everything", {"start", "limit", "delta"}, "y");
    expect_refused(b.graph(), 0, ErrorKind::Model, {"everything", "elements"});
  }
  {
    // Range with a huge but representable length: refused by the budget before folding.
    ModelBuilder b;
    b.i64("start", {}, {0});
    b.i64("limit", {}, {int64_t{1} << 45});
    b.i64("delta", {}, {1});
    b.node("Range", "long_range", {"start", "limit", "delta"}, "y");
    expect_refused(b.graph(), size_t{1} << 30, ErrorKind::Memory, {"long_range", "budget"});
  }
  {
    ModelBuilder b;
    b.input("x", {1, 1});
    b.i64("shape", {3}, {big, big, big});
    b.node("Expand", "expand_huge", {"x", "shape"}, "y");
    expect_refused(b.graph(), 0, ErrorKind::Model, {"expand_huge", "impossibly large"});
  }
  {
    ModelBuilder b;
    b.input("x", {2, 3});
    b.i64("reps", {2}, {INT64_MAX / 2, 3});
    b.node("Tile", "tile_huge", {"x", "reps"}, "y");
    expect_refused(b.graph(), 0, ErrorKind::Model, {"tile_huge"});
  }
  {
    // A bound input shape (what --input-shape gives) that overflows.
    ModelBuilder b;
    b.input("x", {-1, -1, -1});
    b.node("Relu", "relu", {"x"}, "y");
    expect_refused(b.graph(), 0, ErrorKind::Model, {"input 'x'", "overflows"}, {{"x", {big, big, big}}});
  }
}

TEST(HostileModels, NumelRefusesOverflow) {
  EXPECT_EQ(numel({int64_t{1} << 31, int64_t{1} << 31}), int64_t{1} << 62);
  EXPECT_THROW(numel({int64_t{1} << 32, int64_t{1} << 32}), Error);
  EXPECT_EQ(numel({0, int64_t{1} << 40, int64_t{1} << 40}), 0);  // a zero first: the product stays 0
  EXPECT_THROW(Tensor(DType::Float32, {int64_t{1} << 31, int64_t{1} << 31}), Error);  // 2^64 bytes
}

// Inputs found by the fuzzer (tests/onnx/inputs/*), replayed through what the fuzzer does with them
// (load, prepare under 256 MiB, run when small): each must pass or fail with one-line netlens::Error.
TEST(HostileModels, FuzzRegressionsPrepare) {
  const fs::path dir = NETLENS_TEST_INPUTS;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no regression inputs in " << dir;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream f(e.path(), std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    const std::string label = e.path().filename().string();
    try {
      fuzz::load_prepare_run(ss.str(), label);
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << label << ": " << err.what();
    }
    ++n;
  }
  EXPECT_GT(n, 0) << "regression folder " << dir << " is empty";
}
