// `netlens` as a user runs it: bad input gets one clear line and a non-zero exit, never a crash.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>  // defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1)
#include <sys/wait.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <stb_image_write.h>

#include "netlens/io.hpp"

namespace fs = std::filesystem;
using namespace netlens;

namespace {

struct Result {
  int status = -1;
  std::string out;
};

Result run(const std::string& args) {
  Result r;
  const std::string cmd = std::string(NETLENS_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("netlens_cli_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& f) const { return (dir / f).string(); }
  fs::path dir;
};

void set_type(onnx::ValueInfoProto* v, const std::string& name, int elem, std::vector<int64_t> dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  for (int64_t d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else dim->set_dim_param("n");
  }
}

// x[1,2,3] → Relu → "relu/out:0" → Mul(·, w) → y ; optional extra nodes of unknown ops.
onnx::ModelProto model(std::vector<int64_t> in_dims = {1, 2, 3}) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  m.set_producer_name("netlens-test");
  auto* g = m.mutable_graph();
  g->set_name("g");
  set_type(g->add_input(), "x", onnx::TensorProto::FLOAT, in_dims);
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(3);
  for (float v : {1.0f, 2.0f, -1.0f}) w->add_float_data(v);
  auto* n1 = g->add_node();
  n1->set_op_type("Relu");
  n1->set_name("relu");
  n1->add_input("x");
  n1->add_output("relu/out:0");
  auto* n2 = g->add_node();
  n2->set_op_type("Mul");
  n2->set_name("mul");
  n2->add_input("relu/out:0");
  n2->add_input("w");
  n2->add_output("y");
  set_type(g->add_output(), "y", onnx::TensorProto::FLOAT, in_dims);
  return m;
}

void save(const onnx::ModelProto& m, const std::string& p) {
  std::ofstream f(p, std::ios::binary);
  ASSERT_TRUE(m.SerializeToOstream(&f));
}

void save_npy(const std::string& p, std::vector<float> v, Shape s) { write_npy(p, Tensor::from_f32(s, v)); }

}  // namespace

TEST_F(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").status, 2);
  EXPECT_EQ(run("frobnicate").status, 2);
  Result r = run("infer " + path("m.onnx") + " --no-such-flag 1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("unknown option --no-such-flag"), std::string::npos) << r.out;
  EXPECT_EQ(run("--help").status, 0);
}

TEST_F(Cli, MissingModelFile) {
  Result r = run("info " + path("absent.onnx"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("absent.onnx"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
}

TEST_F(Cli, CorruptModelIsOneLine) {
  static const char kBytes[] = "\x08\x07garbage\xff\xfe not onnx";
  std::ofstream(path("bad.onnx"), std::ios::binary) << std::string(kBytes, sizeof kBytes - 1);
  Result r = run("infer " + path("bad.onnx") + " --input " + path("x.npy"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("bad.onnx"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
}

// A model "file" that never ends (/dev/zero: not a regular file, so it is read, not mapped) stops
// at protobuf's 2 GiB limit with one line, not at the allocator.
TEST_F(Cli, EndlessModelStreamIsOneLine) {
  Result r = run("info /dev/zero");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("/dev/zero: more than 2 GiB"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
}

TEST_F(Cli, InferComputesAndDumpsEveryTensor) {
  save(model(), path("m.onnx"));
  save_npy(path("x.npy"), {-1, 2, -3, 4, 0.5f, -0.5f}, {1, 2, 3});
  Result r = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu --dump " + path("d") + " --all");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("output     y"), std::string::npos) << r.out;
  // Names are sanitised: "relu/out:0" → "relu_out_0.npy".
  Tensor relu = read_npy(path("d/relu_out_0.npy"));
  EXPECT_EQ(relu.to_f32_vector(), (std::vector<float>{0, 2, 0, 4, 0.5f, 0}));
  Tensor y = read_npy(path("d/y.npy"));
  EXPECT_EQ(y.to_f32_vector(), (std::vector<float>{0, 4, 0, 4, 1.0f, 0}));
  std::ifstream idx(path("d/index.json"));
  std::string json((std::istreambuf_iterator<char>(idx)), {});
  EXPECT_NE(json.find("\"relu/out:0\": {\"file\": \"relu_out_0.npy\", \"shape\": [1,2,3], \"dtype\": \"float32\", "
                      "\"producer\": \"relu\", \"op_type\": \"Relu\"}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"x\""), std::string::npos) << json;
}

// "relu/out:0", "relu:out/0" and "Relu_out_0" sanitise to the same file name (the last one up to
// letter case): each gets its own file, the index says which, and each file holds its own tensor.
TEST_F(Cli, DumpNamesThatCollideGetDistinctFiles) {
  onnx::ModelProto m = model();
  for (auto [op, out] : {std::pair{"Neg", "relu:out/0"}, std::pair{"Sqrt", "Relu_out_0"}}) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(std::string("my_") + op);
    n->add_input("relu/out:0");
    n->add_output(out);
  }
  save(m, path("m.onnx"));
  save_npy(path("x.npy"), {-1, 4, -3, 9, 0.25f, -0.5f}, {1, 2, 3});
  Result r = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu --dump " + path("dc") + " --all");
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream idx(path("dc/index.json"));
  std::string json((std::istreambuf_iterator<char>(idx)), {});
  // Files named in the index, read back and compared with the values each tensor must hold.
  auto file_of = [&](const std::string& tensor) {
    const std::string key = "\"" + tensor + "\": {\"file\": \"";
    const size_t at = json.find(key);
    if (at == std::string::npos) return std::string();
    const size_t b = at + key.size();
    return json.substr(b, json.find('"', b) - b);
  };
  const std::string f_relu = file_of("relu/out:0"), f_neg = file_of("relu:out/0"), f_sqrt = file_of("Relu_out_0");
  ASSERT_FALSE(f_relu.empty() || f_neg.empty() || f_sqrt.empty()) << json;
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  EXPECT_NE(lower(f_relu), lower(f_neg));
  EXPECT_NE(lower(f_relu), lower(f_sqrt));
  EXPECT_NE(lower(f_neg), lower(f_sqrt));
  EXPECT_EQ(read_npy(path("dc/" + f_relu)).to_f32_vector(), (std::vector<float>{0, 4, 0, 9, 0.25f, 0}));
  EXPECT_EQ(read_npy(path("dc/" + f_neg)).to_f32_vector(), (std::vector<float>{-0.0f, -4, -0.0f, -9, -0.25f, -0.0f}));
  EXPECT_EQ(read_npy(path("dc/" + f_sqrt)).to_f32_vector(), (std::vector<float>{0, 2, 0, 3, 0.5f, 0}));
}

TEST_F(Cli, UnsupportedOpsAreAllListed) {
  onnx::ModelProto m = model();
  for (const char* op : {"Frobnicate", "Wibble"}) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(std::string("my_") + op);
    n->add_input("y");
    n->add_output(std::string(op) + "_out");
  }
  save(m, path("m.onnx"));
  save_npy(path("x.npy"), {1, 2, 3, 4, 5, 6}, {1, 2, 3});
  Result r = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("Frobnicate (node 'my_Frobnicate', opset 17)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Wibble (node 'my_Wibble', opset 17)"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  Result info = run("info " + path("m.onnx"));
  EXPECT_EQ(info.status, 0) << info.out;
  EXPECT_NE(info.out.find("unsupported 2 node(s)"), std::string::npos) << info.out;
}

TEST_F(Cli, WrongInputShapeRankAndDtype) {
  save(model(), path("m.onnx"));
  save_npy(path("rank.npy"), {1, 2, 3, 4, 5, 6}, {2, 3});
  save_npy(path("shape.npy"), {1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 4});
  write_npy(path("dtype.npy"), Tensor(DType::Int64, {1, 2, 3}));
  for (const char* f : {"rank.npy", "shape.npy", "dtype.npy"}) {
    Result r = run("infer " + path("m.onnx") + " --input " + path(f) + " --backend cpu");
    EXPECT_EQ(r.status, 1) << f << ": " << r.out;
    EXPECT_NE(r.out.find("input 'x'"), std::string::npos) << f << ": " << r.out;
    EXPECT_EQ(count_lines(r.out), 1) << r.out;
  }
}

TEST_F(Cli, AbsurdMemoryIsRefusedBeforeAllocating) {
  save(model({1, 2, 3}), path("m.onnx"));
  save_npy(path("x.npy"), {1, 2, 3, 4, 5, 6}, {1, 2, 3});
  Result budget = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu --max-memory 32");
  EXPECT_EQ(budget.status, 1) << budget.out;
  EXPECT_NE(budget.out.find("budget"), std::string::npos) << budget.out;
  // Declared shape needing petabytes: info refuses cleanly.
  onnx::ModelProto big = model({1, 2, 3});
  auto* t = big.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  t->mutable_dim(0)->set_dim_value(1 << 20);
  t->mutable_dim(1)->set_dim_value(1 << 20);
  save(big, path("big.onnx"));
  Result r = run("info " + path("big.onnx"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("memory"), std::string::npos) << r.out;
}

// --max-memory is parsed strictly: values std::stod would take (inf, nan, exponents, signs) or
// that do not fit a byte count are usage errors (exit 2, one line naming the value), not undefined
// casts to size_t.
TEST_F(Cli, MaxMemoryEdgeValuesAreUsageErrors) {
  save(model({1, 2, 3}), path("m.onnx"));
  save_npy(path("x.npy"), {1, 2, 3, 4, 5, 6}, {1, 2, 3});
  for (const std::string v : {"inf", "nan", "1e30G", "-1G", "garbage", "0", "0.0001", "", "1.G", " 2G", "2G ",
                              "0x10", "2GB", "2048T", "1e3"}) {
    Result r = run("infer " + path("m.onnx") + " --backend cpu --max-memory '" + v + "'");
    EXPECT_EQ(r.status, 2) << "'" << v << "': " << r.out;
    EXPECT_NE(r.out.find("--max-memory"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("'" + v + "'"), std::string::npos) << r.out;
    EXPECT_EQ(count_lines(r.out), 2) << r.out;  // the error and the usage line
  }
  // Accepted forms: the model needs a few KiB, so each of these runs.
  for (const std::string v : {"1G", "512M", "1.5G", "4096K", "1T", "65536", "1024T", "2GiB", "100000B"}) {
    Result r = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu --max-memory " + v);
    EXPECT_EQ(r.status, 0) << v << ": " << r.out;
  }
  // A budget below what the plan needs is refused with the budget named.
  Result small = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu --max-memory 16B");
  EXPECT_EQ(small.status, 1) << small.out;
  EXPECT_NE(small.out.find("budget"), std::string::npos) << small.out;
}

// A model whose constant folding would allocate 8 GB: refused at prepare time under --max-memory,
// with one line naming the node, the bytes and the budget.
TEST_F(Cli, HugeConstantIsRefusedByTheBudget) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* shape = g->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(1);
  shape->add_int64_data(2000000000);
  auto* n = g->add_node();
  n->set_op_type("ConstantOfShape");
  n->set_name("huge");
  n->add_input("shape");
  n->add_output("y");
  set_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {2000000000});
  save(m, path("huge.onnx"));
  // `info` prints the model's summary (stdout) and the refusal (stderr): find the error's line.
  Result r = run("info " + path("huge.onnx") + " --backend cpu --max-memory 1G");
  EXPECT_EQ(r.status, 1) << r.out;
  const size_t at = r.out.find("netlens info: error: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  for (const char* needle : {"huge", "8000000000 bytes", "budget", "1024.0 MiB"})
    EXPECT_NE(line.find(needle), std::string::npos) << needle << " missing in: " << line;
}

TEST_F(Cli, NonFiniteInputRunsAndIsCounted) {
  save(model(), path("m.onnx"));
  save_npy(path("x.npy"), {NAN, 2, INFINITY, 4, -INFINITY, NAN}, {1, 2, 3});
  Result r = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cpu");
  ASSERT_EQ(r.status, 0) << r.out;
  // x: 2 NaN, 2 Inf. Relu: NaN stays NaN, +Inf stays, -Inf → 0. y = relu * [1,2,-1]: 2 NaN, 1 Inf.
  EXPECT_NE(r.out.find("x                                        2 NaN, 2 Inf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("y                                        2 NaN, 1 Inf"), std::string::npos) << r.out;
  Result info = run("info " + path("m.onnx") + " --input " + path("x.npy"));
  ASSERT_EQ(info.status, 0) << info.out;
  EXPECT_NE(info.out.find("2 NaN, 1 Inf"), std::string::npos) << info.out;
}

// The in-place float16/float64 scans name each non-finite tensor with the same counts as a
// per-element check: x -> Cast(fp16) -> Log -> Cast(double).
TEST_F(Cli, NonFiniteFp16AndFloat64TensorsNamed) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  set_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {1, 2, 3});
  const auto add = [&](const char* op, const char* in, const char* out, int to) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(out);
    n->add_input(in);
    n->add_output(out);
    if (to) {
      auto* a = n->add_attribute();
      a->set_name("to");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(to);
    }
  };
  add("Cast", "x", "half_x", onnx::TensorProto::FLOAT16);
  add("Log", "half_x", "half_log", 0);
  add("Cast", "half_log", "double_log", onnx::TensorProto::DOUBLE);
  set_type(g->add_output(), "double_log", onnx::TensorProto::DOUBLE, {1, 2, 3});
  save(m, path("h.onnx"));
  // float16: 70000 overflows to +Inf. half_x: 1 NaN, 2 Inf. Log: -1 -> NaN, 0 -> -Inf, 1 -> 0,
  // +Inf -> +Inf, NaN -> NaN: 2 NaN, 3 Inf, kept by the cast to double.
  save_npy(path("x.npy"), {-1, 0, 1, 70000, NAN, INFINITY}, {1, 2, 3});
  Result r = run("infer " + path("h.onnx") + " --input " + path("x.npy") + " --backend cpu");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("non-finite values:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  x                                        1 NaN, 1 Inf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  half_x                                   1 NaN, 2 Inf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  half_log                                 2 NaN, 3 Inf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  double_log                               2 NaN, 3 Inf"), std::string::npos) << r.out;
  // A finite input: the check says so.
  save_npy(path("f.npy"), {1, 2, 3, 4, 5, 6}, {1, 2, 3});
  Result ok = run("infer " + path("h.onnx") + " --input " + path("f.npy") + " --backend cpu");
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("non-finite none (all 4 tensors finite)"), std::string::npos) << ok.out;
}

TEST_F(Cli, InfoPrintsShapesFlopsAndMemory) {
  save(model({-1, 2, 3}), path("m.onnx"));
  Result r = run("info " + path("m.onnx"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("shapes     not bound"), std::string::npos) << r.out;
  r = run("info " + path("m.onnx") + " --input-shape x=4x2x3");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("4x2x3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("activations 288 B kept"), std::string::npos) << r.out;  // 3 tensors × 24 floats
  EXPECT_NE(r.out.find("unsupported none"), std::string::npos) << r.out;
}

TEST_F(Cli, CudaBackendWithoutADeviceIsOneLine) {
  save(model(), path("m.onnx"));
  save_npy(path("x.npy"), {1, 2, 3, 4, 5, 6}, {1, 2, 3});
  Result r = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend cuda");
  if (r.status == 0) GTEST_SKIP() << "a CUDA device is usable here";
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no usable CUDA device"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  // auto falls back to the CPU and says why, then runs.
  Result a = run("infer " + path("m.onnx") + " --input " + path("x.npy") + " --backend auto");
  EXPECT_EQ(a.status, 0) << a.out;
  EXPECT_NE(a.out.find("using the CPU backend (no usable CUDA device"), std::string::npos) << a.out;
}

TEST_F(Cli, InfoSystemNamesDevicesAndTheDataPath) {
  Result r = run("info --system");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("cuda       "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inference  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data path: "), std::string::npos) << r.out;
  const bool cuda = r.out.find("cuda       none:") == std::string::npos;
  const bool vulkan = r.out.find("vulkan     not built") == std::string::npos;
  if (!vulkan) EXPECT_NE(r.out.find("data path: none (this netlens was built without the Vulkan renderer)"), std::string::npos) << r.out;
  if (!cuda && vulkan)
    EXPECT_NE(r.out.find("data path: cpu + staging upload (no usable CUDA device"), std::string::npos) << r.out;
  if (!cuda || !vulkan) {
    // Interop cannot be forced without CUDA or without the renderer: one line naming why, exit 1.
    Result on = run("info --system --interop on");
    EXPECT_EQ(on.status, 1) << on.out;
    EXPECT_NE(on.out.find(vulkan ? "error: --interop on: no usable CUDA device" : "error: --interop on: this netlens was built without"),
              std::string::npos) << on.out;
  }
  Result bad = run("info --system --interop maybe");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("--interop must be auto, on or off"), std::string::npos) << bad.out;
}

// A 1-channel image model needs no --mean/--std: the defaults follow the channel count (they were
// three values, and load_image refused them: "mean has 3 values"). The input tensor is checked
// against stb's grey conversion done here ((77 r + 150 g + 29 b) >> 8, then /255; the image already
// has the model's 3x4 size, so nothing is resized), and the output against relu(x)·w. Exact up to
// float rounding (1e-6).
TEST_F(Cli, OneChannelImageModelNeedsNoMeanOrStd) {
  save(model({1, 1, 4, 3}), path("grey.onnx"));  // w = {1, 2, -1} along the last axis
  const int W = 3, H = 4;
  std::vector<uint8_t> px(W * H * 3);
  for (int i = 0; i < W * H; ++i) {
    px[size_t(i) * 3 + 0] = uint8_t(20 * i + 5);
    px[size_t(i) * 3 + 1] = uint8_t(255 - 17 * i);
    px[size_t(i) * 3 + 2] = uint8_t((i * 53) % 256);
  }
  ASSERT_NE(stbi_write_png(path("in.png").c_str(), W, H, 3, px.data(), W * 3), 0);
  Result r = run("infer " + path("grey.onnx") + " --input " + path("in.png") + " --backend cpu --quiet --dump " +
                 path("d") + " --all");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<float> x = read_npy(path("d/x.npy")).to_f32_vector();
  const std::vector<float> y = read_npy(path("d/y.npy")).to_f32_vector();
  ASSERT_EQ(x.size(), size_t(W * H));
  ASSERT_EQ(y.size(), size_t(W * H));
  const float w[3] = {1.0f, 2.0f, -1.0f};
  for (int i = 0; i < W * H; ++i) {
    const int grey = (77 * px[size_t(i) * 3] + 150 * px[size_t(i) * 3 + 1] + 29 * px[size_t(i) * 3 + 2]) >> 8;
    EXPECT_NEAR(x[size_t(i)], float(grey) / 255.0f, 1e-6f) << "pixel " << i;
    EXPECT_NEAR(y[size_t(i)], std::max(x[size_t(i)], 0.0f) * w[i % 3], 1e-6f) << "pixel " << i;
  }
  // One value applies to the one channel; three values for one channel stay a usage error.
  Result one = run("infer " + path("grey.onnx") + " --input " + path("in.png") + " --backend cpu --quiet --mean 0.5 "
                   "--std 0.25 --dump " + path("d2") + " --all");
  ASSERT_EQ(one.status, 0) << one.out;
  const std::vector<float> x2 = read_npy(path("d2/x.npy")).to_f32_vector();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x2[i], (x[i] - 0.5f) / 0.25f, 1e-5f) << "pixel " << i;
  Result three = run("infer " + path("grey.onnx") + " --input " + path("in.png") + " --backend cpu --mean 0.1,0.2,0.3");
  EXPECT_EQ(three.status, 2) << three.out;  // a usage error: its line, then the command's usage line
  const std::string first_line = three.out.substr(0, three.out.find('\n'));
  EXPECT_NE(first_line.find("mean has 3 values, expected 1"), std::string::npos) << three.out;
}

// y = Relu(x) for x of 1x3xHxW with H and W left to the input: an image keeps its own size.
onnx::ModelProto relu_image_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* x = g->add_input();
  x->set_name("x");
  auto* tt = x->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_value(1);
  tt->mutable_shape()->add_dim()->set_dim_value(3);
  tt->mutable_shape()->add_dim()->set_dim_param("h");
  tt->mutable_shape()->add_dim()->set_dim_param("w");
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  g->add_output()->set_name("y");
  return m;
}

// An ordinary photo never crashes the command: scikit-image's chelsea.png (451x300) resized to
// 224x224 aborted inside Debian's stb_image_resize (assertion in
// stbir__normalize_downsample_coefficients). Now exit 0, and the dumped input is the resized photo:
// 3x224x224, finite, in [0, 1] (scale 1/255, no mean/std), not constant. A PNG whose header claims
// 100000x100000 is refused by its size in one line, exit 1, before anything is decoded.
TEST_F(Cli, PhotoResizedForAModelAndImageBombs) {
  const std::string photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
  if (!fs::exists(photo)) GTEST_SKIP() << "python3-skimage's chelsea.png is missing";
  save(relu_image_model(), path("img.onnx"));

  Result r = run("infer " + path("img.onnx") + " --input " + photo + " --size 224x224 --backend cpu --quiet --dump " +
                 path("d") + " --all");
  ASSERT_EQ(r.status, 0) << r.out;
  const Tensor t = read_npy(path("d/x.npy"));
  ASSERT_EQ(t.shape(), (Shape{1, 3, 224, 224}));
  const std::vector<float> v = t.to_f32_vector();
  float lo = 1, hi = 0;
  for (float f : v) {
    ASSERT_TRUE(std::isfinite(f) && f >= 0.0f && f <= 1.0f) << f;
    lo = std::min(lo, f);
    hi = std::max(hi, f);
  }
  EXPECT_GT(hi - lo, 0.5f) << "a photo resized to a constant image";

  // The header of a 100000x100000 RGB PNG (signature + IHDR with its CRC) and nothing else.
  const unsigned char bomb[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0, 0x27, 0x30, 0x9C, 0x9F};
  std::ofstream(path("bomb.png"), std::ios::binary).write(reinterpret_cast<const char*>(bomb), sizeof bomb);
  Result b = run("infer " + path("img.onnx") + " --input " + path("bomb.png") + " --size 224x224 --backend cpu");
  EXPECT_EQ(b.status, 1) << b.out;
  EXPECT_EQ(count_lines(b.out), 1) << b.out;
  EXPECT_NE(b.out.find("bomb.png"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("100000x100000"), std::string::npos) << b.out;
}

// An --input is told by its first bytes, not its name: a camera's upper-case PHOTO.PNG, a photo
// saved without extension, a BMP (README lists it; infer refused ".bmp" by name) and an array
// without ".npy" load, each to exactly what the plain-named file gives (the BMP: its pixels / 255,
// no resize). A text file named .png, a run-length BMP and a folder get one line each.
TEST_F(Cli, InputsAreToldByContent) {
  const std::string photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
  if (!fs::exists(photo)) GTEST_SKIP() << "python3-skimage's chelsea.png is missing";
  save(relu_image_model(), path("img.onnx"));
  auto input_of = [&](const std::string& file, const std::string& dir) {
    Result r = run("infer " + path("img.onnx") + " --input " + file + " --size 40x30 --backend cpu --quiet --dump " +
                   path(dir) + " --all");
    EXPECT_EQ(r.status, 0) << file << ": " << r.out;
    return r.status == 0 ? read_npy(path(dir + "/x.npy")).to_f32_vector() : std::vector<float>{};
  };
  const std::vector<float> ref = input_of(photo, "ref");
  ASSERT_EQ(ref.size(), 3u * 40 * 30);
  fs::copy_file(photo, path("PHOTO.PNG"));
  fs::copy_file(photo, path("photo"));
  EXPECT_EQ(input_of(path("PHOTO.PNG"), "upper"), ref);
  EXPECT_EQ(input_of(path("photo"), "noext"), ref);

  const int W = 5, H = 3;
  std::vector<uint8_t> px(W * H * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37 % 256);
  ASSERT_NE(stbi_write_bmp(path("in.bmp").c_str(), W, H, 3, px.data()), 0);
  Result b = run("infer " + path("img.onnx") + " --input " + path("in.bmp") + " --backend cpu --quiet --dump " +
                 path("bmp") + " --all");
  ASSERT_EQ(b.status, 0) << b.out;
  const std::vector<float> x = read_npy(path("bmp/x.npy")).to_f32_vector();
  ASSERT_EQ(x.size(), px.size());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < W * H; ++i) EXPECT_FLOAT_EQ(x[size_t(c * W * H + i)], px[size_t(i * 3 + c)] / 255.0f);

  save_npy(path("array.data"), ref, {1, 3, 30, 40});
  EXPECT_EQ(input_of(path("array.data"), "npy"), ref);

  auto one_line = [&](const std::string& file, int status, const std::string& says) {
    Result r = run("infer " + path("img.onnx") + " --input " + file + " --backend cpu");
    EXPECT_EQ(r.status, status) << r.out;
    const std::string first = r.out.substr(0, r.out.find('\n'));
    EXPECT_NE(first.find(says), std::string::npos) << r.out;
    if (status == 1) EXPECT_EQ(count_lines(r.out), 1) << r.out;
  };
  std::ofstream(path("notes.png")) << "not an image\n";
  one_line(path("notes.png"), 1, "notes.png: neither a .npy array nor a PNG, JPEG or BMP image");
  std::string bmp;
  {
    std::ifstream f(path("in.bmp"), std::ios::binary);
    bmp.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bmp.size(), 34u);
  bmp[30] = 1;  // biCompression = BI_RLE8
  std::ofstream(path("rle.bmp"), std::ios::binary) << bmp;
  one_line(path("rle.bmp"), 1, "rle.bmp: run-length compressed (RLE8) BMP images are not supported");
  fs::create_directories(path("folder"));
  one_line(path("folder"), 2, "folder: is a folder, not an input file");
}
