// Loader robustness and correctness (bad files of every kind, external data, initializer encodings,
// topological sorting), .npy round trips and image preprocessing.
// Models are built here with ONNX's own protobuf classes so each test states exactly what is in the
// file; real models come from ONNX's node test suite.
// Longer than about 600 lines: one short case per kind of bad or unusual file, all on this file's
// protobuf-building helpers; splitting it would only move those helpers to a header.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <stb_image_write.h>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "netlens/io.hpp"
#include "../test_util.hpp"
#include "netlens/onnx.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using netlens::test::TempDir;

namespace {

const fs::path kNodeData = fs::path(NETLENS_ONNX_TESTDATA) / "node";


void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Calls fn, expects a netlens::Error of `kind` whose one-line message contains every `needle`.
template <class Fn>
void expect_error(Fn fn, ErrorKind kind, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' missing in: " << msg;
  }
}

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, int elem, std::vector<int64_t> dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* sh = tt->mutable_shape();
  for (int64_t d : dims) sh->add_dim()->set_dim_value(d);
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in,
                          std::vector<std::string> out, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (auto& s : in) n->add_input(s);
  for (auto& s : out) n->add_output(s);
  return n;
}

// x(float 2x2) → Relu → y; opset 13.
onnx::ModelProto relu_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("netlens-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  set_tensor_type(g->add_input(), "x", onnx::TensorProto_DataType_FLOAT, {2, 2});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto_DataType_FLOAT, {2, 2});
  add_node(g, "Relu", {"x"}, {"y"}, "relu");
  return m;
}

std::string serialize(const onnx::ModelProto& m) {
  std::string s;
  EXPECT_TRUE(m.SerializeToString(&s));
  return s;
}

fs::path save(const TempDir& d, const onnx::ModelProto& m, const std::string& name = "model.onnx") {
  const fs::path p = d / name;
  write_file(p, serialize(m));
  return p;
}

// A float32 initializer W (2x2, values 1..4) added to x: y = x + W.
onnx::TensorProto* add_weight(onnx::ModelProto& m) {
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_op_type("Add");
  g->mutable_node(0)->add_input("W");
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto_DataType_FLOAT);
  w->add_dims(2);
  w->add_dims(2);
  return w;
}

// --------------------------------------------------------------------------------------------
// Bad files.

TEST(Loader, MissingFile) {
  TempDir d;
  expect_error([&] { load_onnx((d / "nope.onnx").string()); }, ErrorKind::Io, {"nope.onnx", "not found"});
}

TEST(Loader, EmptyFile) {
  TempDir d;
  write_file(d / "empty.onnx", "");
  expect_error([&] { load_onnx((d / "empty.onnx").string()); }, ErrorKind::Model, {"empty.onnx", "empty"});
}

TEST(Loader, TruncatedRealModel) {
  const fs::path src = kNodeData / "test_conv_with_strides_padding" / "model.onnx";
  ASSERT_TRUE(fs::exists(src)) << src;
  const std::string bytes = read_bytes(src);
  ASSERT_GT(bytes.size(), 20u);
  TempDir d;
  write_file(d / "half.onnx", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { load_onnx((d / "half.onnx").string()); }, ErrorKind::Model, {"half.onnx"});
  // Every prefix must be refused with an Error (or, where it happens to end on a field boundary and
  // still forms a valid model, load); nothing may crash.
  for (size_t n = 1; n < bytes.size(); ++n) {
    try {
      load_onnx_bytes(std::string_view(bytes).substr(0, n), "", "prefix");
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("prefix: ", 0), 0u) << e.what();
    }
  }
}

TEST(Loader, RealModelWholeAndTruncated) {
  // A real exported CNN (scripts/fetch-models.sh puts it in the cache); skipped when not fetched.
  const fs::path src = fs::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  if (!fs::exists(src)) GTEST_SKIP() << src << " not fetched";
  const Graph g = load_onnx(src.string());
  EXPECT_GT(g.nodes.size(), 50u);
  EXPECT_GT(g.parameter_count(), 3000000);
  ASSERT_EQ(g.inputs.size(), 1u);
  // Topological order: every input is empty, a weight, a graph input or an earlier node's output.
  std::set<std::string> available;
  for (const auto& [name, t] : g.initializers) available.insert(name);
  for (const auto& v : g.inputs) available.insert(v.name);
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs) EXPECT_TRUE(in.empty() || available.count(in)) << n.describe() << " " << in;
    for (const auto& out : n.outputs) available.insert(out);
  }
  const std::string bytes = read_bytes(src);
  TempDir d;
  write_file(d / "half.onnx", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { load_onnx((d / "half.onnx").string()); }, ErrorKind::Model, {"half.onnx"});
}

// A regular file is mapped, anything else read through a growing buffer: a model fed through a FIFO
// (14 MB, many buffer doublings) must give the same graph, weight for weight, as the bytes parsed
// from memory (read here with ifstream, the reference path).
TEST(Loader, PipeLoadsLikeTheMappedFile) {
  const fs::path src = fs::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  ASSERT_TRUE(fs::exists(src)) << src << " is missing: run scripts/fetch-models.sh";
  const std::string bytes = read_bytes(src);
  const Graph ref = load_onnx_bytes(bytes, src.parent_path().string(), "memory");
  const Graph mapped = load_onnx(src.string());
  TempDir d;
  const fs::path fifo = d / "model.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    std::ofstream f(fifo, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
  const Graph piped = load_onnx(fifo.string());
  writer.join();
  for (const Graph* g : {&mapped, &piped}) {
    ASSERT_EQ(g->nodes.size(), ref.nodes.size());
    ASSERT_EQ(g->initializers.size(), ref.initializers.size());
    for (const auto& [name, t] : ref.initializers) {
      const Tensor& u = g->initializers.at(name);
      ASSERT_EQ(u.nbytes(), t.nbytes()) << name;
      EXPECT_EQ(std::memcmp(u.data(), t.data(), t.nbytes()), 0) << name;
    }
  }
}

TEST(Loader, TruncatedInsideInitializer) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  for (int i = 0; i < 4; ++i) w->add_float_data(static_cast<float>(i));
  const std::string bytes = serialize(m);
  TempDir d;
  write_file(d / "cut.onnx", bytes.substr(0, bytes.size() - 3));
  expect_error([&] { load_onnx((d / "cut.onnx").string()); }, ErrorKind::Model, {"cut.onnx"});
}

TEST(Loader, RandomBytes) {
  TempDir d;
  std::mt19937 rng(1234);
  for (size_t size : {1u, 7u, 64u, 1000u, 65536u}) {
    std::string junk(size, '\0');
    for (char& c : junk) c = static_cast<char>(rng() & 0xff);
    write_file(d / "junk.onnx", junk);
    expect_error([&] { load_onnx((d / "junk.onnx").string()); }, ErrorKind::Model, {"junk.onnx"});
  }
}

TEST(Loader, PngIsNotOnnx) {
  TempDir d;
  const unsigned char px[4 * 4 * 3] = {255, 0, 0};
  ASSERT_NE(stbi_write_png((d / "image.png").c_str(), 4, 4, 3, px, 4 * 3), 0);
  expect_error([&] { load_onnx((d / "image.png").string()); }, ErrorKind::Model, {"image.png"});
}

TEST(Loader, TextIsNotOnnx) {
  TempDir d;
  write_file(d / "notes.txt", "This is not a model.\nJust some text.\n");
  expect_error([&] { load_onnx((d / "notes.txt").string()); }, ErrorKind::Model, {"notes.txt"});
}

TEST(Loader, ModelWithoutGraph) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("nothing");
  TempDir d;
  const auto p = save(d, m, "nograph.onnx");
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"nograph.onnx", "no graph"});
}

TEST(Loader, WrongInitializerRawSize) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  w->set_raw_data(std::string(12, '\0'));  // 2x2 float32 needs 16
  TempDir d;
  const auto p = save(d, m);
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"model.onnx", "'W'", "12", "16"});
}

TEST(Loader, WrongInitializerTypedCount) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  for (int i = 0; i < 5; ++i) w->add_float_data(1.0f);
  TempDir d;
  const auto p = save(d, m);
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"model.onnx", "'W'", "float_data", "5"});
}

TEST(Loader, InitializerWithoutData) {
  onnx::ModelProto m = relu_model();
  add_weight(m);
  TempDir d;
  const auto p = save(d, m);
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"model.onnx", "'W'"});
}

TEST(Loader, NegativeAndHugeDims) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  w->set_dims(0, -3);
  expect_error([&] { load_onnx_bytes(serialize(m), "", "neg.onnx"); }, ErrorKind::Model, {"neg.onnx", "negative", "'W'"});
  w->set_dims(0, int64_t{1} << 40);
  w->set_dims(1, int64_t{1} << 40);
  expect_error([&] { load_onnx_bytes(serialize(m), "", "huge.onnx"); }, ErrorKind::Model, {"huge.onnx", "'W'"});
}

TEST(Loader, StringTensorIsUnsupported) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  w->set_data_type(onnx::TensorProto_DataType_STRING);
  for (int i = 0; i < 4; ++i) w->add_string_data("s");
  expect_error([&] { load_onnx_bytes(serialize(m), "", "str.onnx"); }, ErrorKind::Unsupported,
               {"str.onnx", "string", "'W'"});
}

TEST(Loader, SequenceInputIsUnsupported) {
  onnx::ModelProto m = relu_model();
  auto* in = m.mutable_graph()->mutable_input(0);
  in->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
  expect_error([&] { load_onnx_bytes(serialize(m), "", "seq.onnx"); }, ErrorKind::Unsupported, {"seq.onnx", "sequence", "'x'"});
}

// --------------------------------------------------------------------------------------------
// External data.

onnx::ModelProto external_model(const std::string& location, int64_t offset, int64_t length) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  auto* kv = w->add_external_data();
  kv->set_key("location");
  kv->set_value(location);
  if (offset >= 0) {
    kv = w->add_external_data();
    kv->set_key("offset");
    kv->set_value(std::to_string(offset));
  }
  if (length >= 0) {
    kv = w->add_external_data();
    kv->set_key("length");
    kv->set_value(std::to_string(length));
  }
  return m;
}

TEST(Loader, ExternalDataLoads) {
  TempDir d;
  const float vals[4] = {1.5f, -2.0f, 3.25f, 1e-3f};
  std::string side(8, 'x');  // 8 bytes of padding before the tensor
  side.append(reinterpret_cast<const char*>(vals), sizeof vals);
  side.append("tail");
  fs::create_directories(d / "weights");
  write_file(d / "weights" / "w.bin", side);
  const auto p = save(d, external_model("weights/w.bin", 8, 16));
  const Graph g = load_onnx(p.string());
  ASSERT_EQ(g.initializers.count("W"), 1u);
  const Tensor& w = g.initializers.at("W");
  ASSERT_EQ(w.dtype(), DType::Float32);
  ASSERT_EQ(w.shape(), (Shape{2, 2}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(w.data_as<float>()[i], vals[i]);
}

TEST(Loader, ExternalDataWholeFile) {
  TempDir d;
  const float vals[4] = {4, 3, 2, 1};
  write_file(d / "w.bin", std::string(reinterpret_cast<const char*>(vals), sizeof vals));
  const auto p = save(d, external_model("w.bin", -1, -1));
  const Graph g = load_onnx(p.string());
  EXPECT_EQ(g.initializers.at("W").to_f32_vector(), (std::vector<float>{4, 3, 2, 1}));
}

TEST(Loader, MissingExternalData) {
  TempDir d;
  const auto p = save(d, external_model("weights.bin", 0, 16));
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Io, {"model.onnx", "weights.bin", "'W'"});
}

TEST(Loader, ExternalDataTooShort) {
  TempDir d;
  write_file(d / "w.bin", std::string(10, '\0'));
  const auto p = save(d, external_model("w.bin", 0, 16));
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"model.onnx", "w.bin", "'W'"});
}

TEST(Loader, ExternalDataLengthMismatch) {
  TempDir d;
  write_file(d / "w.bin", std::string(64, '\0'));
  const auto p = save(d, external_model("w.bin", 0, 12));
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"model.onnx", "12", "16", "'W'"});
}

TEST(Loader, ExternalDataEscapingFolderIsRefused) {
  TempDir d;
  fs::create_directories(d / "m");
  write_file(d / "secret.bin", std::string(16, '\0'));
  const auto p = save(d, external_model("../secret.bin", 0, 16), "m/model.onnx");
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"model.onnx", "escapes", "'W'"});
  const auto q = save(d, external_model((d / "secret.bin").string(), 0, 16), "m/abs.onnx");
  expect_error([&] { load_onnx(q.string()); }, ErrorKind::Model, {"abs.onnx", "absolute", "'W'"});
}

TEST(Loader, ExternalDataPathForms) {
  TempDir d;
  const float vals[4] = {1, 2, 3, 4};
  fs::create_directories(d / "m" / "sub");
  write_file(d / "m" / "w.bin", std::string(reinterpret_cast<const char*>(vals), sizeof vals));
  // "sub/../w.bin" stays inside the folder.
  auto p = save(d, external_model("sub/../w.bin", 0, 16), "m/a.onnx");
  EXPECT_EQ(load_onnx(p.string()).initializers.at("W").to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
  // "sub/../../w.bin" does not.
  p = save(d, external_model("sub/../../w.bin", 0, 16), "m/b.onnx");
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"b.onnx", "escapes"});
  // A symlink inside the folder is followed (Hugging Face caches link files into a blob store).
  fs::create_directories(d / "blobs");
  write_file(d / "blobs" / "abc", std::string(reinterpret_cast<const char*>(vals), sizeof vals));
  fs::create_symlink(d / "blobs" / "abc", d / "m" / "linked.bin");
  p = save(d, external_model("linked.bin", 0, 16), "m/c.onnx");
  EXPECT_EQ(load_onnx(p.string()).initializers.at("W").to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
  // A directory is not a data file.
  p = save(d, external_model("sub", 0, 16), "m/e.onnx");
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Io, {"e.onnx", "sub", "'W'"});
  // Offsets must be integers.
  p = save(d, external_model("w.bin", 0, 16), "m/f.onnx");
  onnx::ModelProto m = external_model("w.bin", 0, 16);
  m.mutable_graph()->mutable_initializer(0)->mutable_external_data(1)->set_value("12abc");
  p = save(d, m, "m/f.onnx");
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"f.onnx", "offset", "12abc"});
}

TEST(Loader, NamesWithControlCharactersStayOnOneLine) {
  onnx::ModelProto m = relu_model();
  m.mutable_graph()->mutable_node(0)->set_input(0, "evil\nname");
  m.mutable_graph()->mutable_node(0)->set_name("line1\nline2");
  expect_error([&] { load_onnx_bytes(serialize(m), "", "ctl.onnx"); }, ErrorKind::Model,
               {"ctl.onnx", "evil\\x0aname", "line1\\x0aline2"});
}

TEST(Loader, ExternalDataRefusedInMemoryWithoutBaseDir) {
  expect_error([&] { load_onnx_bytes(serialize(external_model("w.bin", 0, 16)), "", "mem"); }, ErrorKind::Model,
               {"mem", "w.bin"});
}

// --------------------------------------------------------------------------------------------
// Graph structure.

TEST(Loader, UnsortedNodesAreSorted) {
  onnx::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  // File order: c (needs b), b (needs a), a (needs x).
  add_node(g, "Relu", {"b"}, {"y"}, "c");
  add_node(g, "Neg", {"a"}, {"b"}, "b");
  add_node(g, "Abs", {"x"}, {"a"}, "a");
  const Graph out = load_onnx_bytes(serialize(m), "", "unsorted");
  ASSERT_EQ(out.nodes.size(), 3u);
  EXPECT_EQ(out.nodes[0].name, "a");
  EXPECT_EQ(out.nodes[1].name, "b");
  EXPECT_EQ(out.nodes[2].name, "c");
}

TEST(Loader, SortKeepsFileOrderOfIndependentNodes) {
  onnx::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  add_node(g, "Abs", {"x"}, {"p"}, "n0");
  add_node(g, "Neg", {"x"}, {"q"}, "n1");
  add_node(g, "Add", {"p", "q"}, {"y"}, "n2");
  const Graph out = load_onnx_bytes(serialize(m), "", "ordered");
  EXPECT_EQ(out.nodes[0].name, "n0");
  EXPECT_EQ(out.nodes[1].name, "n1");
  EXPECT_EQ(out.nodes[2].name, "n2");
}

TEST(Loader, CycleIsRefused) {
  onnx::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  add_node(g, "Add", {"x", "b"}, {"a"}, "first");
  add_node(g, "Relu", {"a"}, {"b"}, "second");
  add_node(g, "Relu", {"a"}, {"y"}, "out");
  TempDir d;
  const auto p = save(d, m, "cycle.onnx");
  expect_error([&] { load_onnx(p.string()); }, ErrorKind::Model, {"cycle.onnx", "cycle", "node '"});
  try {
    load_onnx(p.string());
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("'first'") != std::string::npos || msg.find("'second'") != std::string::npos) << msg;
    EXPECT_TRUE(msg.find("'a'") != std::string::npos || msg.find("'b'") != std::string::npos) << msg;
  }
}

TEST(Loader, SelfLoopIsRefused) {
  onnx::ModelProto m = relu_model();
  add_node(m.mutable_graph(), "Add", {"x", "z"}, {"z"}, "loop");
  expect_error([&] { load_onnx_bytes(serialize(m), "", "self.onnx"); }, ErrorKind::Model, {"self.onnx", "'loop'", "'z'"});
}

TEST(Loader, UndefinedTensorIsRefused) {
  onnx::ModelProto m = relu_model();
  m.mutable_graph()->mutable_node(0)->set_input(0, "ghost");
  expect_error([&] { load_onnx_bytes(serialize(m), "", "undef.onnx"); }, ErrorKind::Model,
               {"undef.onnx", "'relu'", "'ghost'"});
}

TEST(Loader, UnproducedOutputIsRefused) {
  onnx::ModelProto m = relu_model();
  set_tensor_type(m.mutable_graph()->add_output(), "nowhere", 1, {1});
  expect_error([&] { load_onnx_bytes(serialize(m), "", "out.onnx"); }, ErrorKind::Model, {"out.onnx", "'nowhere'"});
}

TEST(Loader, DuplicateProducerIsRefused) {
  onnx::ModelProto m = relu_model();
  add_node(m.mutable_graph(), "Neg", {"x"}, {"y"}, "again");
  expect_error([&] { load_onnx_bytes(serialize(m), "", "dup.onnx"); }, ErrorKind::Model, {"dup.onnx", "'y'", "'again'"});
}

TEST(Loader, GraphMetadataAndValueInfo) {
  onnx::ModelProto m = relu_model();
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
  m.set_producer_version("1.2");
  auto* g = m.mutable_graph();
  // Symbolic batch on the input, a value_info for an intermediate.
  auto* dim = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
  dim->set_dim_param("batch");
  g->clear_node();
  add_node(g, "Abs", {"x"}, {"t"});
  add_node(g, "Relu", {"t"}, {"y"});
  set_tensor_type(g->add_value_info(), "t", onnx::TensorProto_DataType_FLOAT, {3, 2});
  const Graph out = load_onnx_bytes(serialize(m), "", "meta");
  EXPECT_EQ(out.name, "g");
  EXPECT_EQ(out.producer, "netlens-test 1.2");
  EXPECT_EQ(out.ir_version, 8);
  EXPECT_EQ(out.opset(), 13);
  EXPECT_EQ(out.opsets.at("com.microsoft"), 1);
  ASSERT_EQ(out.inputs.size(), 1u);
  ASSERT_EQ(out.inputs[0].dims.size(), 2u);
  EXPECT_FALSE(out.inputs[0].dims[0].fixed());
  EXPECT_EQ(out.inputs[0].dims[0].param, "batch");
  EXPECT_EQ(out.inputs[0].dims[1].value, 2);
  EXPECT_EQ(out.inputs[0].dtype, DType::Float32);
  EXPECT_TRUE(out.inputs[0].has_shape);
  ASSERT_EQ(out.outputs.size(), 1u);
  EXPECT_EQ(out.outputs[0].name, "y");
  ASSERT_EQ(out.value_info.count("t"), 1u);
  EXPECT_EQ(out.value_info.at("t").dims[0].value, 3);
  // Unnamed nodes are named "<OpType>_<index>".
  EXPECT_EQ(out.nodes[0].name, "Abs_0");
  EXPECT_EQ(out.nodes[1].name, "Relu_1");
}

TEST(Loader, InitializerThatIsAlsoInputIsNotAnInput) {
  onnx::ModelProto m = relu_model();
  auto* w = add_weight(m);
  for (int i = 0; i < 4; ++i) w->add_float_data(static_cast<float>(i));
  set_tensor_type(m.mutable_graph()->add_input(), "W", onnx::TensorProto_DataType_FLOAT, {2, 2});
  const Graph g = load_onnx_bytes(serialize(m), "", "both");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  EXPECT_EQ(g.initializers.count("W"), 1u);
  EXPECT_EQ(g.parameter_count(), 4);
}

// --------------------------------------------------------------------------------------------
// Initializer encodings: typed fields and raw_data for every dtype.

struct Typed {
  int onnx_type;
  DType dtype;
};

TEST(Loader, TypedFieldsEveryDtype) {
  onnx::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  auto add = [&](const std::string& name, int type) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(3);
    return t;
  };
  using TP = onnx::TensorProto;
  auto* f32 = add("f32", TP::FLOAT);
  for (float v : {1.5f, -2.0f, 1e30f}) f32->add_float_data(v);
  auto* f64 = add("f64", TP::DOUBLE);
  for (double v : {1e300, -0.125, 3.0}) f64->add_double_data(v);
  auto* i64 = add("i64", TP::INT64);
  for (int64_t v : {int64_t{-9000000000}, int64_t{0}, int64_t{7}}) i64->add_int64_data(v);
  auto* u64 = add("u64", TP::UINT64);
  for (uint64_t v : {uint64_t{18000000000000000000u}, uint64_t{1}, uint64_t{2}}) u64->add_uint64_data(v);
  auto* u32 = add("u32", TP::UINT32);
  for (uint64_t v : {uint64_t{4000000000u}, uint64_t{1}, uint64_t{2}}) u32->add_uint64_data(v);
  auto* i32 = add("i32", TP::INT32);
  for (int v : {-5, 100000, 3}) i32->add_int32_data(v);
  auto* f16 = add("f16", TP::FLOAT16);
  for (float v : {1.0f, -2.5f, 65504.0f}) f16->add_int32_data(float_to_half(v));
  auto* bf16 = add("bf16", TP::BFLOAT16);
  for (float v : {1.0f, -2.5f, 3.0f}) bf16->add_int32_data(float_to_bfloat16(v));
  auto* i8 = add("i8", TP::INT8);
  for (int v : {-128, 5, 127}) i8->add_int32_data(v);
  auto* u8 = add("u8", TP::UINT8);
  for (int v : {255, 0, 9}) u8->add_int32_data(v);
  auto* i16 = add("i16", TP::INT16);
  for (int v : {-32768, 1, 32767}) i16->add_int32_data(v);
  auto* u16 = add("u16", TP::UINT16);
  for (int v : {65535, 0, 2}) u16->add_int32_data(v);
  auto* b = add("b", TP::BOOL);
  for (int v : {1, 0, 1}) b->add_int32_data(v);

  const Graph out = load_onnx_bytes(serialize(m), "", "typed");
  auto get = [&](const std::string& n, DType dt) {
    const Tensor& t = out.initializers.at(n);
    EXPECT_EQ(t.dtype(), dt) << n;
    EXPECT_EQ(t.shape(), Shape{3}) << n;
    return t;
  };
  EXPECT_EQ(get("f32", DType::Float32).to_f32_vector(), (std::vector<float>{1.5f, -2.0f, 1e30f}));
  Tensor t = get("f64", DType::Float64);
  EXPECT_EQ(t.data_as<double>()[0], 1e300);
  EXPECT_EQ(t.data_as<double>()[1], -0.125);
  EXPECT_EQ(get("i64", DType::Int64).to_i64_vector(), (std::vector<int64_t>{-9000000000, 0, 7}));
  EXPECT_EQ(get("u64", DType::UInt64).data_as<uint64_t>()[0], 18000000000000000000u);
  EXPECT_EQ(get("u32", DType::UInt32).data_as<uint32_t>()[0], 4000000000u);
  EXPECT_EQ(get("i32", DType::Int32).to_i64_vector(), (std::vector<int64_t>{-5, 100000, 3}));
  EXPECT_EQ(get("f16", DType::Float16).to_f32_vector(), (std::vector<float>{1.0f, -2.5f, 65504.0f}));
  EXPECT_EQ(get("bf16", DType::BFloat16).to_f32_vector(), (std::vector<float>{1.0f, -2.5f, 3.0f}));
  EXPECT_EQ(get("i8", DType::Int8).to_i64_vector(), (std::vector<int64_t>{-128, 5, 127}));
  EXPECT_EQ(get("u8", DType::UInt8).to_i64_vector(), (std::vector<int64_t>{255, 0, 9}));
  EXPECT_EQ(get("i16", DType::Int16).to_i64_vector(), (std::vector<int64_t>{-32768, 1, 32767}));
  EXPECT_EQ(get("u16", DType::UInt16).to_i64_vector(), (std::vector<int64_t>{65535, 0, 2}));
  EXPECT_EQ(get("b", DType::Bool).to_i64_vector(), (std::vector<int64_t>{1, 0, 1}));
}

TEST(Loader, RawDataEveryDtype) {
  const std::vector<Typed> types = {
      {onnx::TensorProto::FLOAT, DType::Float32},   {onnx::TensorProto::FLOAT16, DType::Float16},
      {onnx::TensorProto::DOUBLE, DType::Float64},  {onnx::TensorProto::BFLOAT16, DType::BFloat16},
      {onnx::TensorProto::INT8, DType::Int8},       {onnx::TensorProto::UINT8, DType::UInt8},
      {onnx::TensorProto::INT16, DType::Int16},     {onnx::TensorProto::UINT16, DType::UInt16},
      {onnx::TensorProto::INT32, DType::Int32},     {onnx::TensorProto::UINT32, DType::UInt32},
      {onnx::TensorProto::INT64, DType::Int64},     {onnx::TensorProto::UINT64, DType::UInt64},
      {onnx::TensorProto::BOOL, DType::Bool}};
  for (const auto& ty : types) {
    onnx::ModelProto m = relu_model();
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name("r");
    t->set_data_type(ty.onnx_type);
    t->add_dims(2);
    t->add_dims(3);
    std::string raw(6 * dtype_size(ty.dtype), '\0');
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(ty.dtype == DType::Bool ? i % 2 : i * 7 + 1);
    t->set_raw_data(raw);
    const Graph g = load_onnx_bytes(serialize(m), "", "raw");
    const Tensor& r = g.initializers.at("r");
    EXPECT_EQ(r.dtype(), ty.dtype) << dtype_name(ty.dtype);
    EXPECT_EQ(r.shape(), (Shape{2, 3}));
    ASSERT_EQ(r.nbytes(), raw.size());
    EXPECT_EQ(std::memcmp(r.data(), raw.data(), raw.size()), 0) << dtype_name(ty.dtype);
  }
}

TEST(Loader, ScalarInitializer) {
  onnx::ModelProto m = relu_model();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("s");
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_int64_data(42);
  const Graph g = load_onnx_bytes(serialize(m), "", "scalar");
  EXPECT_EQ(g.initializers.at("s").rank(), 0);
  EXPECT_EQ(g.initializers.at("s").get_i64(0), 42);
}

// --------------------------------------------------------------------------------------------
// Attributes.

TEST(Loader, ConstantAttributesAreConverted) {
  onnx::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  auto constant = [&](const std::string& out) { return add_node(g, "Constant", {}, {out}, out); };
  auto* a = constant("c_tensor")->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(2);
  a->mutable_t()->add_float_data(0.5f);
  a->mutable_t()->add_float_data(-1.0f);
  a = constant("c_float")->add_attribute();
  a->set_name("value_float");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(2.5f);
  a = constant("c_floats")->add_attribute();
  a->set_name("value_floats");
  a->set_type(onnx::AttributeProto::FLOATS);
  a->add_floats(1.0f);
  a->add_floats(2.0f);
  a = constant("c_int")->add_attribute();
  a->set_name("value_int");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(-7);
  a = constant("c_ints")->add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(3);
  a->add_ints(4);
  // An IR-version-1 style attribute without `type`: inferred from the field present.
  a = add_node(g, "Elu", {"x"}, {"e"}, "elu")->add_attribute();
  a->set_name("alpha");
  a->set_f(0.25f);

  const Graph out = load_onnx_bytes(serialize(m), "", "const");
  auto node = [&](const std::string& n) -> const Node& {
    for (const auto& x : out.nodes)
      if (x.name == n) return x;
    throw std::runtime_error("node " + n + " missing");
  };
  const Tensor* t = node("c_tensor").attr_tensor("value");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape(), Shape{2});
  EXPECT_EQ(t->to_f32_vector(), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(node("c_float").attr_float("value_float", 0), 2.5f);
  EXPECT_EQ(node("c_floats").attr_floats("value_floats"), (std::vector<float>{1, 2}));
  EXPECT_EQ(node("c_int").attr_int("value_int", 0), -7);
  EXPECT_EQ(node("c_ints").attr_ints("value_ints"), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(node("elu").attr_float("alpha", 1.0f), 0.25f);
  EXPECT_EQ(node("c_tensor").op_type, "Constant");
}

TEST(Loader, GraphAttributesAreDropped) {
  onnx::ModelProto m = relu_model();
  auto* n = add_node(m.mutable_graph(), "If", {"x"}, {"z"}, "branch");
  auto* a = n->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("then");
  auto* s = n->add_attribute();
  s->set_name("note");
  s->set_type(onnx::AttributeProto::STRING);
  s->set_s("kept");
  const Graph out = load_onnx_bytes(serialize(m), "", "if");
  ASSERT_EQ(out.nodes.size(), 2u);
  const Node& node = out.nodes[1];
  EXPECT_EQ(node.op_type, "If");
  EXPECT_FALSE(node.has_attr("then_branch"));
  EXPECT_EQ(node.attr_string("note", ""), "kept");
}

TEST(Loader, AttributeTensorWithBadSizeNamesNode) {
  onnx::ModelProto m = relu_model();
  auto* a = add_node(m.mutable_graph(), "Constant", {}, {"c"}, "cst")->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(4);
  a->mutable_t()->set_raw_data(std::string(3, '\0'));
  expect_error([&] { load_onnx_bytes(serialize(m), "", "attr.onnx"); }, ErrorKind::Model,
               {"attr.onnx", "'value'", "'cst'"});
}

// --------------------------------------------------------------------------------------------
// Real files from ONNX's test suite.

TEST(Loader, NodeSuiteModelAndTensors) {
  // test_abs: y = abs(x). Checks model structure, and that the two tensor files agree with each
  // other through abs (an independent check of load_onnx_tensor on both).
  const fs::path dir = kNodeData / "test_abs";
  const Graph g = load_onnx((dir / "model.onnx").string());
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Abs");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].dtype, DType::Float32);
  const Tensor x = load_onnx_tensor((dir / "test_data_set_0" / "input_0.pb").string());
  const Tensor y = load_onnx_tensor((dir / "test_data_set_0" / "output_0.pb").string());
  ASSERT_EQ(x.shape(), (Shape{3, 4, 5}));
  ASSERT_EQ(y.shape(), x.shape());
  bool any_negative = false;
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(y.data_as<float>()[i], std::fabs(x.data_as<float>()[i])) << i;
    any_negative |= x.data_as<float>()[i] < 0;
  }
  EXPECT_TRUE(any_negative);
}

TEST(Loader, EveryNodeSuiteModelLoadsOrIsUnsupported) {
  // The loader must accept every valid model of the suite, refusing only features it does not
  // implement (strings, sequences, optional, sparse) with Error{Unsupported}.
  int loaded = 0, unsupported = 0;
  for (const auto& e : fs::directory_iterator(kNodeData)) {
    const fs::path p = e.path() / "model.onnx";
    if (!fs::exists(p)) continue;
    try {
      load_onnx(p.string());
      ++loaded;
    } catch (const Error& err) {
      EXPECT_EQ(static_cast<int>(err.kind()), static_cast<int>(ErrorKind::Unsupported)) << err.what();
      ++unsupported;
    }
  }
  EXPECT_GT(loaded, 800);
  std::cout << "node suite models: " << loaded << " loaded, " << unsupported << " unsupported\n";
}

TEST(Loader, TensorFileErrors) {
  TempDir d;
  expect_error([&] { load_onnx_tensor((d / "none.pb").string()); }, ErrorKind::Io, {"none.pb"});
  write_file(d / "empty.pb", "");
  expect_error([&] { load_onnx_tensor((d / "empty.pb").string()); }, ErrorKind::Input, {"empty.pb"});
  write_file(d / "bad.pb", "\xff\xff\xff\xff\xff");
  expect_error([&] { load_onnx_tensor((d / "bad.pb").string()); }, ErrorKind::Input, {"bad.pb"});
}

// Inputs found by the fuzzer (tests/onnx/inputs/*): each must load or fail with netlens::Error.
TEST(Loader, FuzzRegressions) {
  const fs::path dir = NETLENS_TEST_INPUTS;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no regression inputs in " << dir;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string bytes = read_bytes(e.path());
    const std::string label = e.path().filename().string();
    try {
      load_onnx_bytes(bytes, "", label);
    } catch (const Error& err) {
      const std::string msg = err.what();
      EXPECT_EQ(msg.rfind(label + ": ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    ++n;
  }
  EXPECT_GT(n, 0) << "regression folder " << dir << " is empty";
}

// --------------------------------------------------------------------------------------------
// .npy

TEST(Npy, RoundTripEveryDtype) {
  TempDir d;
  const DType all[] = {DType::Float32, DType::Float16, DType::Float64, DType::BFloat16, DType::Int8,
                       DType::UInt8,   DType::Int16,   DType::UInt16,  DType::Int32,    DType::UInt32,
                       DType::Int64,   DType::UInt64,  DType::Bool};
  for (DType dt : all) {
    for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3, 4}, Shape{0, 3}}) {
      Tensor t(dt, shape);
      auto* bytes = static_cast<unsigned char*>(t.data());
      for (size_t i = 0; i < t.nbytes(); ++i)
        bytes[i] = static_cast<unsigned char>(dt == DType::Bool ? (i * 5) % 3 == 0 : i * 37 + 11);
      const fs::path p = d / "t.npy";
      write_npy(p.string(), t);
      // The data starts on a 64-byte boundary (numpy's layout).
      const std::string file = read_bytes(p);
      EXPECT_EQ((file.size() - t.nbytes()) % 64, 0u);
      const Tensor r = read_npy(p.string());
      EXPECT_EQ(r.dtype(), dt) << dtype_name(dt);
      EXPECT_EQ(r.shape(), shape) << dtype_name(dt) << " " << shape_str(shape);
      ASSERT_EQ(r.nbytes(), t.nbytes());
      if (t.nbytes()) {
        EXPECT_EQ(std::memcmp(r.data(), t.data(), t.nbytes()), 0) << dtype_name(dt);
      }
    }
  }
}

// A version-1.0 file laid out the way numpy.save writes it (header padded with spaces to a 64-byte
// boundary, ending in a newline).
std::string numpy_file(const std::string& dict, const std::string& data) {
  std::string header = dict;
  const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

TEST(Npy, ReadsNumpyLayout) {
  TempDir d;
  std::string data;
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<float>(i);
    data.append(reinterpret_cast<const char*>(&f), 4);
  }
  write_file(d / "a.npy", numpy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data));
  const Tensor t = read_npy((d / "a.npy").string());
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_f32_vector(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  // Our writer produces the same bytes numpy does.
  write_npy((d / "b.npy").string(), t);
  EXPECT_EQ(read_bytes(d / "b.npy"), read_bytes(d / "a.npy"));
  // 1-D shape "(6,)" and bool '|b1'.
  write_file(d / "c.npy", numpy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\1\0\1", 3)));
  const Tensor c = read_npy((d / "c.npy").string());
  EXPECT_EQ(c.dtype(), DType::Bool);
  EXPECT_EQ(c.to_i64_vector(), (std::vector<int64_t>{1, 0, 1}));
}

TEST(Npy, RefusesBadFiles) {
  TempDir d;
  expect_error([&] { read_npy((d / "missing.npy").string()); }, ErrorKind::Io, {"missing.npy"});
  write_file(d / "text.npy", "hello, not numpy");
  expect_error([&] { read_npy((d / "text.npy").string()); }, ErrorKind::Input, {"text.npy", "not a .npy"});
  write_file(d / "fortran.npy", numpy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0')));
  expect_error([&] { read_npy((d / "fortran.npy").string()); }, ErrorKind::Input, {"fortran.npy", "Fortran"});
  write_file(d / "be.npy", numpy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0')));
  expect_error([&] { read_npy((d / "be.npy").string()); }, ErrorKind::Input, {"be.npy", "big-endian"});
  write_file(d / "short.npy", numpy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", std::string(12, '\0')));
  expect_error([&] { read_npy((d / "short.npy").string()); }, ErrorKind::Input, {"short.npy", "12", "16"});
  write_file(d / "obj.npy", numpy_file("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')));
  expect_error([&] { read_npy((d / "obj.npy").string()); }, ErrorKind::Input, {"obj.npy", "dtype"});
  write_file(d / "huge.npy",
             numpy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }", ""));
  expect_error([&] { read_npy((d / "huge.npy").string()); }, ErrorKind::Input, {"huge.npy"});
  write_file(d / "junkhdr.npy", numpy_file("{'descr': '<f4', 'shape': (2, x), }", ""));
  expect_error([&] { read_npy((d / "junkhdr.npy").string()); }, ErrorKind::Input, {"junkhdr.npy", "header"});
}

// --------------------------------------------------------------------------------------------
// Images

// Writes a w x h RGB PNG whose pixel (x, y) is f(x, y).
template <class F>
fs::path write_png(const TempDir& d, const std::string& name, int w, int h, F f) {
  std::vector<unsigned char> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const auto rgb = f(x, y);
      for (int c = 0; c < 3; ++c) px[static_cast<size_t>((y * w + x) * 3 + c)] = rgb[c];
    }
  const fs::path p = d / name;
  EXPECT_NE(stbi_write_png(p.c_str(), w, h, 3, px.data(), w * 3), 0);
  return p;
}

std::array<unsigned char, 3> pattern(int x, int y) {
  return {static_cast<unsigned char>(10 * x + y), static_cast<unsigned char>(200 - 5 * y), static_cast<unsigned char>(x * y)};
}

TEST(Image, DefaultNchwScaled) {
  TempDir d;
  const auto p = write_png(d, "a.png", 4, 3, pattern);
  const Tensor t = load_image(p.string(), {});
  ASSERT_EQ(t.dtype(), DType::Float32);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 3, 4}));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x)
        EXPECT_FLOAT_EQ(t.data_as<float>()[(c * 3 + y) * 4 + x], pattern(x, y)[c] / 255.0f);
}

TEST(Image, MeanStdBgrNhwc) {
  TempDir d;
  const auto p = write_png(d, "a.png", 4, 3, pattern);
  ImagePreprocess pp;
  pp.mean = {0.1f, 0.2f, 0.3f};
  pp.std = {0.5f, 0.25f, 2.0f};
  pp.bgr = true;
  pp.nhwc = true;
  const Tensor t = load_image(p.string(), pp);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 4, 3}));
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) {
        const float expected = (pattern(x, y)[2 - c] / 255.0f - pp.mean[c]) / pp.std[c];
        EXPECT_NEAR(t.data_as<float>()[(y * 4 + x) * 3 + c], expected, 1e-6f) << x << "," << y << "," << c;
      }
}

TEST(Image, ScaleAndGrayscale) {
  TempDir d;
  const auto p = write_png(d, "g.png", 2, 2, [](int x, int y) {
    const unsigned char v = static_cast<unsigned char>(50 + 100 * x + 20 * y);
    return std::array<unsigned char, 3>{v, v, v};
  });
  ImagePreprocess pp;
  pp.channels = 1;
  pp.scale = 1.0f;
  pp.mean = {10};
  pp.std = {2};
  const Tensor t = load_image(p.string(), pp);
  ASSERT_EQ(t.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(t.data_as<float>()[0], (50 - 10) / 2.0f);
  EXPECT_FLOAT_EQ(t.data_as<float>()[1], (150 - 10) / 2.0f);
  EXPECT_FLOAT_EQ(t.data_as<float>()[2], (70 - 10) / 2.0f);
  EXPECT_FLOAT_EQ(t.data_as<float>()[3], (170 - 10) / 2.0f);
}

TEST(Image, ResizeBilinear) {
  TempDir d;
  // Left column 0, right column 200: enlarging 2x horizontally interpolates between them with
  // pixel centres at (x + 0.5) / 2 - 0.5 in the source: 0, 0.25, 0.75, 1 of the way across.
  const auto p = write_png(d, "r.png", 2, 2, [](int x, int) {
    const unsigned char v = static_cast<unsigned char>(200 * x);
    return std::array<unsigned char, 3>{v, v, v};
  });
  ImagePreprocess pp;
  pp.width = 4;
  pp.height = 3;
  pp.scale = 1.0f;
  const Tensor t = load_image(p.string(), pp);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 3, 4}));
  const float expected[4] = {0, 50, 150, 200};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) EXPECT_NEAR(t.data_as<float>()[(c * 3 + y) * 4 + x], expected[x], 0.5f) << x;
  // Shrinking a uniform image keeps its value.
  const auto u = write_png(d, "u.png", 9, 7, [](int, int) { return std::array<unsigned char, 3>{30, 60, 90}; });
  pp = {};
  pp.width = 3;
  pp.height = 2;
  const Tensor s = load_image(u.string(), pp);
  ASSERT_EQ(s.shape(), (Shape{1, 3, 2, 3}));
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(s.data_as<float>()[i], 30 / 255.0f, 1e-3f);
    EXPECT_NEAR(s.data_as<float>()[12 + i], 90 / 255.0f, 1e-3f);
  }
}

TEST(Image, JpegLoads) {
  TempDir d;
  const fs::path p = d / "a.jpg";
  std::vector<unsigned char> px(8 * 8 * 3, 128);
  ASSERT_NE(stbi_write_jpg(p.c_str(), 8, 8, 3, px.data(), 95), 0);
  const Tensor t = load_image(p.string(), {});
  ASSERT_EQ(t.shape(), (Shape{1, 3, 8, 8}));
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_NEAR(t.data_as<float>()[i], 128 / 255.0f, 3 / 255.0f);
}

TEST(Image, Errors) {
  TempDir d;
  expect_error([&] { load_image((d / "none.png").string(), {}); }, ErrorKind::Io, {"none.png"});
  write_file(d / "bad.png", "definitely not a png");
  expect_error([&] { load_image((d / "bad.png").string(), {}); }, ErrorKind::Input, {"bad.png"});
  const auto p = write_png(d, "a.png", 2, 2, pattern);
  ImagePreprocess pp;
  pp.mean = {1, 2};
  expect_error([&] { load_image(p.string(), pp); }, ErrorKind::Usage, {"a.png", "mean"});
  pp = {};
  pp.channels = 4;
  expect_error([&] { load_image(p.string(), pp); }, ErrorKind::Usage, {"a.png", "channels"});
  pp = {};
  pp.width = 200000;
  pp.height = 200000;
  expect_error([&] { load_image(p.string(), pp); }, ErrorKind::Usage, {"a.png", "too large"});
  pp = {};
  pp.std = {1, 0, 1};
  expect_error([&] { load_image(p.string(), pp); }, ErrorKind::Usage, {"a.png", "std"});
}

TEST(Io, SanitizeTensorName) {
  EXPECT_EQ(sanitize_tensor_name("conv1/Relu:0"), "conv1_Relu_0");
  EXPECT_EQ(sanitize_tensor_name("a.b-c_D9"), "a.b-c_D9");
  EXPECT_EQ(sanitize_tensor_name("x y\n\xc3\xa9"), "x_y___");
  EXPECT_EQ(sanitize_tensor_name(""), "_");
}

}  // namespace
