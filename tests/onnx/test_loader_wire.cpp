// The loader's wire scan (src/onnx/wire_scan.cpp) against protobuf's own parse.
//
// The loader leaves initializers' raw_data in the file's bytes and copies each weight once; the
// reference here is the plain protobuf parse (onnx::ModelProto::ParseFromString) with each
// TensorProto decoded in the test itself. Real models must agree bit for bit, initializer for
// initializer (and Constant-node tensors); every prefix and many corrupted copies of a small model
// must load exactly when protobuf accepts them, and otherwise fail with the loader's one-line parse
// error, never a partial model.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "../test_util.hpp"
#include "netlens/onnx.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using netlens::test::TempDir;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool protobuf_parses(const std::string& bytes, onnx::ModelProto& m) {
  google::protobuf::io::CodedInputStream cis(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             static_cast<int>(bytes.size()));
  cis.SetTotalBytesLimit(INT_MAX);
  return m.ParseFromCodedStream(&cis) && cis.ConsumedEntireMessage();
}

// A TensorProto's little-endian bytes, decoded here without the loader (raw_data or the typed
// field real exporters use: float_data, int64_data, int32_data for 32-bit ints).
std::string reference_bytes(const onnx::TensorProto& tp) {
  if (tp.has_raw_data()) return tp.raw_data();
  auto bytes_of = [](const auto& field) {
    return std::string(reinterpret_cast<const char*>(field.data()), field.size() * sizeof(*field.data()));
  };
  switch (tp.data_type()) {
    case onnx::TensorProto_DataType_FLOAT: return bytes_of(tp.float_data());
    case onnx::TensorProto_DataType_INT64: return bytes_of(tp.int64_data());
    case onnx::TensorProto_DataType_INT32: return bytes_of(tp.int32_data());
    case onnx::TensorProto_DataType_DOUBLE: return bytes_of(tp.double_data());
    default: ADD_FAILURE() << "test decodes no typed field of type " << tp.data_type() << " (" << tp.name() << ")";
  }
  return {};
}

std::string tensor_bytes(const Tensor& t) { return std::string(static_cast<const char*>(t.data()), t.nbytes()); }

// Every initializer and every Constant node's tensor of g equals protobuf's, bit for bit.
// Returns the number of weight bytes compared.
size_t expect_same_tensors(const Graph& g, const onnx::ModelProto& m, const std::string& label) {
  size_t compared = 0;
  const auto& gp = m.graph();
  EXPECT_EQ(g.initializers.size(), static_cast<size_t>(gp.initializer_size())) << label;
  for (const auto& tp : gp.initializer()) {
    auto it = g.initializers.find(tp.name());
    if (it == g.initializers.end()) {
      ADD_FAILURE() << label << ": initializer " << tp.name() << " missing";
      continue;
    }
    const Shape dims(tp.dims().begin(), tp.dims().end());
    EXPECT_EQ(it->second.shape(), dims) << label << " " << tp.name();
    const std::string ref = reference_bytes(tp);
    const std::string got = tensor_bytes(it->second);
    EXPECT_TRUE(ref == got) << label << ": initializer " << tp.name() << " differs (" << got.size() << " vs "
                            << ref.size() << " bytes)";
    compared += ref.size();
  }
  std::map<std::string, const Node*> by_output;
  for (const Node& n : g.nodes)
    if (!n.outputs.empty()) by_output[n.outputs[0]] = &n;
  for (const auto& np : gp.node()) {
    if (np.op_type() != "Constant" || np.output_size() == 0) continue;
    for (const auto& ap : np.attribute()) {
      if (ap.name() != "value") continue;
      const Node* n = by_output.at(np.output(0));
      const Tensor& t = std::get<Tensor>(n->attrs.at("value"));
      EXPECT_TRUE(reference_bytes(ap.t()) == tensor_bytes(t)) << label << ": Constant " << np.output(0);
      compared += t.nbytes();
    }
  }
  return compared;
}

// Protobuf wire helpers for hand-made encodings.
std::string varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  s += static_cast<char>(v);
  return s;
}
std::string len_field(uint32_t number, const std::string& payload) {
  return varint(uint64_t{number} << 3 | 2) + varint(payload.size()) + payload;
}

// x(float 4) + W → y, W float32 [4] with the given serialized TensorProto fields appended after its
// name/type/dims; the graph's other fields come before the initializer.
std::string model_with_tensor_fields(const std::string& extra_tensor_fields) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("W");
  n->add_output("y");
  for (const char* name : {"x", "y"}) {
    auto* v = name[0] == 'x' ? g->add_input() : g->add_output();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(4);
  }
  onnx::TensorProto w;
  w.set_name("W");
  w.set_data_type(onnx::TensorProto_DataType_FLOAT);
  w.add_dims(4);
  std::string graph_bytes, tensor_bytes_;
  EXPECT_TRUE(g->SerializeToString(&graph_bytes));
  EXPECT_TRUE(w.SerializeToString(&tensor_bytes_));
  m.clear_graph();
  std::string model_bytes;
  EXPECT_TRUE(m.SerializeToString(&model_bytes));
  graph_bytes += len_field(5, tensor_bytes_ + extra_tensor_fields);
  return model_bytes + len_field(7, graph_bytes);
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// Loads bytes from memory and from a mapped file: both must agree with protobuf, or both fail.
// Returns true when it loaded.
bool load_like_protobuf(const std::string& bytes, const std::string& label) {
  onnx::ModelProto ref;
  const bool pb_ok = protobuf_parses(bytes, ref);
  try {
    const Graph g = load_onnx_bytes(bytes, "", label);
    EXPECT_TRUE(pb_ok) << label << ": loaded although protobuf refuses the bytes";
    if (pb_ok) expect_same_tensors(g, ref, label);
    return true;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(label + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    if (!pb_ok) EXPECT_NE(msg.find("protobuf parse failed"), std::string::npos) << msg;
    else EXPECT_EQ(msg.find("protobuf parse failed"), std::string::npos) << label << ": protobuf accepts it: " << msg;
    return false;
  }
}

}  // namespace

// Real models, bit for bit against protobuf: VGG-16 (528 MB of raw_data), ResNet-50, ISNet fp16
// (float16 raw_data), PP-OCRv4 det (Constant nodes), MobileNetV2. Mapped file and in-memory bytes.
TEST(LoaderWire, RealModelsEqualProtobuf) {
  const fs::path dir = fs::path(NETLENS_CACHE_DIR) / "models";
  int checked = 0;
  for (const char* name : {"mobilenet_v2.onnx", "ppocrv4_det.onnx", "isnet_fp16.onnx", "resnet50.onnx",
                           "vgg16.onnx"}) {
    const fs::path p = dir / name;
    if (!fs::exists(p)) {
      std::cout << p << " not fetched; skipped\n";
      continue;
    }
    size_t compared = 0;
    {
      const std::string bytes = read_all(p);
      onnx::ModelProto ref;
      ASSERT_TRUE(protobuf_parses(bytes, ref)) << p;
      {
        const Graph mem = load_onnx_bytes(bytes, dir.string(), "memory");
        expect_same_tensors(mem, ref, std::string(name) + " (memory)");
      }
      const Graph mapped = load_onnx(p.string());
      compared = expect_same_tensors(mapped, ref, std::string(name) + " (mapped)");
    }
    EXPECT_GT(compared, 1000000u) << name;
    std::cout << name << ": " << compared << " weight bytes equal\n";
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no model fetched in " << dir;
}

// The scan follows protobuf's merge rules: the last raw_data of a tensor wins, a graph field given
// twice is merged (initializers of both), a field 9 that is not length-delimited is not raw_data.
TEST(LoaderWire, MergeRulesAsProtobuf) {
  const std::string a = floats({1, 2, 3, 4}), b = floats({5, 6, 7, 8});
  // Two raw_data fields: protobuf keeps the second.
  EXPECT_TRUE(load_like_protobuf(model_with_tensor_fields(len_field(9, a) + len_field(9, b)), "twice"));
  {
    const Graph g = load_onnx_bytes(model_with_tensor_fields(len_field(9, a) + len_field(9, b)), "", "twice");
    EXPECT_EQ(g.initializers.at("W").to_f32_vector(), (std::vector<float>{5, 6, 7, 8}));
  }
  // raw_data then float_data: raw_data wins in the loader (as before the scan).
  {
    std::string fd;  // float_data (field 4) packed
    fd = len_field(4, b);
    EXPECT_TRUE(load_like_protobuf(model_with_tensor_fields(len_field(9, a) + fd), "raw+float"));
    const Graph g = load_onnx_bytes(model_with_tensor_fields(len_field(9, a) + fd), "", "raw+float");
    EXPECT_EQ(g.initializers.at("W").to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
  }
  // Field 9 as a varint: an unknown field to protobuf, so W has no data.
  EXPECT_FALSE(load_like_protobuf(model_with_tensor_fields(varint(9 << 3) + varint(5)), "varint9"));
  // An empty raw_data for a 4-element tensor: the loader's size error, not a parse error.
  EXPECT_FALSE(load_like_protobuf(model_with_tensor_fields(len_field(9, "")), "empty"));
  // The graph field split in two (one initializer in the second part): both merged.
  {
    const std::string whole = model_with_tensor_fields(len_field(9, a));
    onnx::ModelProto extra;
    auto* w2 = extra.mutable_graph()->add_initializer();
    w2->set_name("W2");
    w2->set_data_type(onnx::TensorProto_DataType_FLOAT);
    w2->add_dims(4);
    w2->set_raw_data(b);
    std::string tail;
    ASSERT_TRUE(extra.SerializeToString(&tail));
    EXPECT_TRUE(load_like_protobuf(whole + tail, "split"));
    const Graph g = load_onnx_bytes(whole + tail, "", "split");
    EXPECT_EQ(g.initializers.at("W").to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(g.initializers.at("W2").to_f32_vector(), (std::vector<float>{5, 6, 7, 8}));
  }
}

// Every prefix of a model with raw_data weights (cuts inside raw_data payloads, length varints
// and tags included) loads only where protobuf accepts the prefix, else gives the parse error.
TEST(LoaderWire, EveryPrefixAsProtobuf) {
  const std::string bytes = model_with_tensor_fields(len_field(9, floats({1, 2, 3, 4})));
  int loaded = 0;
  for (size_t n = 1; n <= bytes.size(); ++n) loaded += load_like_protobuf(bytes.substr(0, n), "prefix");
  EXPECT_GE(loaded, 1);  // the whole model
}

// Corrupted copies (random bytes overwritten, lengths pointing past the end, huge varints): the
// loader agrees with protobuf on accepting them and never returns a partial model.
TEST(LoaderWire, CorruptedCopiesAsProtobuf) {
  const std::string good = model_with_tensor_fields(len_field(9, floats({1, 2, 3, 4})));
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) bad[rng() % bad.size()] = static_cast<char>(rng() & 0xff);
    load_like_protobuf(bad, "corrupt");
  }
  // raw_data's length varint pointing past the end of the file (and of the enclosing messages).
  const std::string tail = varint(9 << 3 | 2) + varint(1u << 30);
  EXPECT_FALSE(load_like_protobuf(model_with_tensor_fields(tail), "past_end"));
  // A 10-byte length varint and an 11-byte one.
  EXPECT_FALSE(load_like_protobuf(model_with_tensor_fields(varint(9 << 3 | 2) + std::string(9, '\xff') + '\x01'),
                                  "huge_len"));
  EXPECT_FALSE(load_like_protobuf(model_with_tensor_fields(varint(9 << 3 | 2) + std::string(10, '\xff') + '\x01'),
                                  "long_len"));
}

// A real model cut inside a big raw_data payload, as a mapped file: one line, parse error.
TEST(LoaderWire, RealModelCutInsideRawData) {
  const fs::path src = fs::path(NETLENS_CACHE_DIR) / "models" / "mobilenet_v2.onnx";
  if (!fs::exists(src)) GTEST_SKIP() << src << " not fetched";
  const std::string bytes = read_all(src);
  onnx::ModelProto ref;
  ASSERT_TRUE(protobuf_parses(bytes, ref));
  // The largest initializer's payload, found by its bytes (unique in practice).
  const onnx::TensorProto* big = nullptr;
  for (const auto& tp : ref.graph().initializer())
    if (!big || tp.raw_data().size() > big->raw_data().size()) big = &tp;
  ASSERT_NE(big, nullptr);
  const size_t at = bytes.find(big->raw_data());
  ASSERT_NE(at, std::string::npos);
  TempDir d;
  for (size_t cut : {at + 1, at + big->raw_data().size() / 2, at + big->raw_data().size() - 1}) {
    write_all(d / "cut.onnx", bytes.substr(0, cut));
    try {
      load_onnx((d / "cut.onnx").string());
      ADD_FAILURE() << "cut at " << cut << " loaded";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::Model) << msg;
      EXPECT_NE(msg.find("cut.onnx: not a valid ONNX model (protobuf parse failed"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}
