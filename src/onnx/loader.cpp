// ONNX protobuf → netlens::Graph. See include/netlens/onnx.hpp for the contract.
//
// Everything read from the file is untrusted: sizes are checked against the bytes actually present
// before anything is allocated, names are quoted and clipped before they go into a message (a name
// may contain newlines or megabytes of junk), and every failure is one Error line of the form
// "<file>: <what is wrong> (<where>)".
// Longer than ~600 lines: the checks of every TensorProto/attribute/node field belong together (the
// wire-format scan that keeps weights out of protobuf lives in wire_scan.cpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <queue>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>  // defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1)

#include "netlens/onnx.hpp"
#include "wire_scan.hpp"

static_assert(std::endian::native == std::endian::little,
              "the loader copies ONNX raw_data (little-endian) straight into host tensors");

namespace netlens {

namespace {

namespace fs = std::filesystem;

// A string from the file made safe for a one-line message: control characters escaped, clipped.
std::string esc(const std::string& s) {
  std::string out;
  const size_t limit = 96;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}
std::string q(const std::string& s) {
  std::string out(1, '\'');  // built with += : GCC 12 warns falsely (-Wrestrict) on "'" + std::string
  out += esc(s);
  out += '\'';
  return out;
}
// Node::describe() ("Conv node 'conv1'") made safe the same way.
std::string desc(const Node& n) { return esc(n.op_type) + " node " + q(n.name); }

// Everything the converters need to say where they are.
struct Ctx {
  std::string label;     // file name (or caller's label) leading every message
  std::string base_dir;  // external data root; "" = external data not allowed
};

[[noreturn]] void fail(const Ctx& c, ErrorKind kind, const std::string& what, const std::string& where) {
  std::string msg = c.label + ": " + what;
  if (!where.empty()) msg += " (" + where + ")";
  throw Error(kind, msg);
}

// ONNX TensorProto.DataType → DType. Undefined for the types netlens has no DType for.
DType dtype_from_onnx(int32_t t) {
  switch (t) {
    case onnx::TensorProto_DataType_FLOAT: return DType::Float32;
    case onnx::TensorProto_DataType_UINT8: return DType::UInt8;
    case onnx::TensorProto_DataType_INT8: return DType::Int8;
    case onnx::TensorProto_DataType_UINT16: return DType::UInt16;
    case onnx::TensorProto_DataType_INT16: return DType::Int16;
    case onnx::TensorProto_DataType_INT32: return DType::Int32;
    case onnx::TensorProto_DataType_INT64: return DType::Int64;
    case onnx::TensorProto_DataType_BOOL: return DType::Bool;
    case onnx::TensorProto_DataType_FLOAT16: return DType::Float16;
    case onnx::TensorProto_DataType_DOUBLE: return DType::Float64;
    case onnx::TensorProto_DataType_UINT32: return DType::UInt32;
    case onnx::TensorProto_DataType_UINT64: return DType::UInt64;
    case onnx::TensorProto_DataType_BFLOAT16: return DType::BFloat16;
    default: return DType::Undefined;
  }
}

std::string onnx_type_name(int32_t t) {
  switch (t) {
    case onnx::TensorProto_DataType_UNDEFINED: return "undefined";
    case onnx::TensorProto_DataType_STRING: return "string";
    case onnx::TensorProto_DataType_COMPLEX64: return "complex64";
    case onnx::TensorProto_DataType_COMPLEX128: return "complex128";
    // Types added after ONNX 1.12 (this libonnx predates them); named so the message is clear.
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    default: {
      const DType d = dtype_from_onnx(t);
      return d == DType::Undefined ? "unknown type " + std::to_string(t) : std::string(dtype_name(d));
    }
  }
}

// Element count of a dims list, refusing negative dims and counts whose byte size overflows.
int64_t checked_numel(const Ctx& c, const google::protobuf::RepeatedField<int64_t>& dims, size_t elem_size,
                      const std::string& where) {
  int64_t n = 1;
  const int64_t max_bytes = std::numeric_limits<int64_t>::max() / 2;
  for (int64_t d : dims) {
    if (d < 0) fail(c, ErrorKind::Model, "negative dimension " + std::to_string(d), where);
    if (d != 0 && n > max_bytes / static_cast<int64_t>(elem_size) / d)
      fail(c, ErrorKind::Model, "tensor size overflows", where);
    n *= d;
  }
  return n;
}

// Reads `length` bytes at `offset` of a side file named in the tensor's external_data.
std::string read_external(const Ctx& c, const onnx::TensorProto& tp, size_t expected_bytes,
                          const std::string& where) {
  std::string location;
  int64_t offset = 0, length = -1;
  auto parse_int = [&](const std::string& key, const std::string& v) {
    try {
      size_t used = 0;
      const long long x = std::stoll(v, &used);
      if (used != v.size() || x < 0) throw std::invalid_argument("bad");
      return static_cast<int64_t>(x);
    } catch (const std::exception&) {
      fail(c, ErrorKind::Model, "external data " + key + " " + q(v) + " is not a non-negative integer", where);
    }
  };
  for (const auto& kv : tp.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = parse_int("offset", kv.value());
    else if (kv.key() == "length") length = parse_int("length", kv.value());
    // "checksum" and unknown keys are informational.
  }
  if (location.empty()) fail(c, ErrorKind::Model, "external data without a location", where);
  if (c.base_dir.empty())
    fail(c, ErrorKind::Model, "external data " + q(location) + " cannot be resolved for an in-memory model", where);

  // The location is relative to the model's folder and must stay inside it: a model must not be
  // able to make us read /etc/passwd or ../../secrets. The check is lexical (like ONNX's own
  // checker): symlinks inside the folder are followed, as in a Hugging Face cache whose files are
  // links into a blob store.
  const fs::path rel = fs::path(location).lexically_normal();
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    fail(c, ErrorKind::Model, "external data location " + q(location) + " is an absolute path", where);
  if (!rel.empty() && *rel.begin() == "..")
    fail(c, ErrorKind::Model, "external data location " + q(location) + " escapes the model's folder", where);
  const fs::path full = fs::path(c.base_dir) / rel;
  std::error_code ec;
  std::ifstream f(full, std::ios::binary);
  if (!f || fs::is_directory(full, ec))
    fail(c, ErrorKind::Io, "external data file " + esc(full.string()) + " is missing or unreadable", where);
  const auto file_size = static_cast<int64_t>(fs::file_size(full, ec));
  if (ec) fail(c, ErrorKind::Io, "cannot stat external data file " + esc(full.string()), where);
  if (offset > file_size)
    fail(c, ErrorKind::Model,
         "external data offset " + std::to_string(offset) + " is past the end of " + esc(full.string()) + " (" +
             std::to_string(file_size) + " bytes)",
         where);
  if (length < 0) length = file_size - offset;
  if (length != static_cast<int64_t>(expected_bytes))
    fail(c, ErrorKind::Model,
         "external data length " + std::to_string(length) + " does not match the tensor's " +
             std::to_string(expected_bytes) + " bytes",
         where);
  if (offset + length > file_size)
    fail(c, ErrorKind::Model,
         "external data file " + esc(full.string()) + " is too short (" + std::to_string(file_size) + " bytes, need " +
             std::to_string(offset + length) + ")",
         where);
  std::string buf(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(buf.data(), length);
  if (!f) fail(c, ErrorKind::Io, "failed reading external data file " + esc(full.string()), where);
  return buf;
}

// TensorProto → Tensor (owned host memory). `what` names the tensor for messages
// ("initializer 'W'", "attribute 'value' of Constant node 'c'"). `raw`, when present, is the
// tensor's raw_data left in the file's bytes by the wire scan (tp then has no raw_data of its own);
// `release`, when set, is handed each part of it once copied (so that a mapped file's pages can be
// dropped while a large tensor is still being copied: VGG-16's 411 MB fc6 weight).
using Release = std::function<void(std::string_view)>;
Tensor tensor_from_proto(const Ctx& c, const onnx::TensorProto& tp, const std::string& what,
                         const onnx_wire::RawRef& raw = {}, const Release& release = {}) {
  const int32_t onnx_type = tp.data_type();
  const DType dt = dtype_from_onnx(onnx_type);
  if (dt == DType::Undefined) {
    if (onnx_type == onnx::TensorProto_DataType_UNDEFINED)
      fail(c, ErrorKind::Model, "tensor has no data type", what);
    if (onnx_type == onnx::TensorProto_DataType_STRING || onnx_type == onnx::TensorProto_DataType_COMPLEX64 ||
        onnx_type == onnx::TensorProto_DataType_COMPLEX128 || (onnx_type >= 17 && onnx_type <= 23))
      fail(c, ErrorKind::Unsupported, onnx_type_name(onnx_type) + " tensors are not supported", what);
    fail(c, ErrorKind::Model, "tensor has unknown data type " + std::to_string(onnx_type), what);
  }
  if (tp.has_segment()) fail(c, ErrorKind::Unsupported, "segmented tensors are not supported", what);
  const size_t esize = dtype_size(dt);
  const int64_t n = checked_numel(c, tp.dims(), esize, what);
  const size_t nbytes = static_cast<size_t>(n) * esize;
  Shape shape(tp.dims().begin(), tp.dims().end());
  const std::string desc = std::string(dtype_name(dt)) + " " + shape_str(shape);

  auto from_bytes = [&](std::string_view bytes, const char* source, const Release& done = {}) {
    if (bytes.size() != nbytes)
      fail(c, ErrorKind::Model,
           std::string(source) + " holds " + std::to_string(bytes.size()) + " bytes, expected " +
               std::to_string(nbytes) + " for " + desc,
           what);
    Tensor t(dt, shape);
    constexpr size_t kChunk = size_t{32} << 20;
    for (size_t at = 0; at < nbytes; at += kChunk) {
      const size_t n = std::min(kChunk, nbytes - at);
      std::memcpy(static_cast<char*>(t.data()) + at, bytes.data() + at, n);
      if (done) done(bytes.substr(at, n));
    }
    if (done) done(bytes);  // the pages straddling two parts
    return t;
  };
  if (tp.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
    return from_bytes(read_external(c, tp, nbytes, what), "external data");
  if (tp.has_raw_data()) return from_bytes(tp.raw_data(), "raw_data");
  if (raw.present) return from_bytes(raw.bytes, "raw_data", release);

  // Typed fields. The count must match exactly (a scalar has one element).
  auto check_count = [&](int count, const char* field) {
    if (count != n)
      fail(c, ErrorKind::Model,
           std::string(field) + " holds " + std::to_string(count) + " values, expected " + std::to_string(n) +
               " for " + desc,
           what);
  };
  Tensor t;
  switch (dt) {
    case DType::Float32:
      check_count(tp.float_data_size(), "float_data");
      t = Tensor(dt, shape);
      std::copy(tp.float_data().begin(), tp.float_data().end(), t.data_as<float>());
      break;
    case DType::Float64:
      check_count(tp.double_data_size(), "double_data");
      t = Tensor(dt, shape);
      std::copy(tp.double_data().begin(), tp.double_data().end(), t.data_as<double>());
      break;
    case DType::Int64:
      check_count(tp.int64_data_size(), "int64_data");
      t = Tensor(dt, shape);
      std::copy(tp.int64_data().begin(), tp.int64_data().end(), t.data_as<int64_t>());
      break;
    case DType::UInt32:
      check_count(tp.uint64_data_size(), "uint64_data");
      t = Tensor(dt, shape);
      for (int64_t i = 0; i < n; ++i) t.data_as<uint32_t>()[i] = static_cast<uint32_t>(tp.uint64_data(static_cast<int>(i)));
      break;
    case DType::UInt64:
      check_count(tp.uint64_data_size(), "uint64_data");
      t = Tensor(dt, shape);
      std::copy(tp.uint64_data().begin(), tp.uint64_data().end(), t.data_as<uint64_t>());
      break;
    case DType::Int32:
      check_count(tp.int32_data_size(), "int32_data");
      t = Tensor(dt, shape);
      std::copy(tp.int32_data().begin(), tp.int32_data().end(), t.data_as<int32_t>());
      break;
    // The narrow types live in int32_data, one value per entry; float16/bfloat16 as their bit
    // pattern in the low 16 bits.
    case DType::Float16: case DType::BFloat16: case DType::Int16: case DType::UInt16:
      check_count(tp.int32_data_size(), "int32_data");
      t = Tensor(dt, shape);
      for (int64_t i = 0; i < n; ++i) t.data_as<uint16_t>()[i] = static_cast<uint16_t>(tp.int32_data(static_cast<int>(i)));
      break;
    case DType::Int8: case DType::UInt8:
      check_count(tp.int32_data_size(), "int32_data");
      t = Tensor(dt, shape);
      for (int64_t i = 0; i < n; ++i) t.data_as<uint8_t>()[i] = static_cast<uint8_t>(tp.int32_data(static_cast<int>(i)));
      break;
    case DType::Bool:
      check_count(tp.int32_data_size(), "int32_data");
      t = Tensor(dt, shape);
      for (int64_t i = 0; i < n; ++i) t.data_as<uint8_t>()[i] = tp.int32_data(static_cast<int>(i)) != 0 ? 1 : 0;
      break;
    case DType::Undefined: break;
  }
  return t;
}

// Parses a protobuf message from bytes with the total-size limit raised to the 2 GiB maximum (the
// historical default of 64 MiB refuses large models).
template <class Msg>
bool parse_message(Msg& msg, std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return false;
  google::protobuf::io::CodedInputStream cis(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             static_cast<int>(bytes.size()));
  cis.SetTotalBytesLimit(INT_MAX);
  return msg.ParseFromCodedStream(&cis) && cis.ConsumedEntireMessage();
}

// A file's bytes for parsing. A regular file is mapped read-only, not pre-faulted: the wire scan
// reads only the model's structure, and each weight's pages are faulted in by its one copy and
// dropped right after (release()), so VGG-16's 528 MB of weights are never resident twice (peak RSS
// of the load 1086 -> 567 MB; MAP_POPULATE made it 948 MB at the same speed). Mapping means no
// copy and no zero-filled buffer (ResNet-50's 102 MB took 280-500 ms to read into a zeroed
// std::string on the loaded 2-core CI machine, 3-30 ms to map). Anything else (a pipe, /dev/stdin)
// or a failed map is read into a buffer that is not zero-filled first. Contract as with any mapped
// file (onnxruntime maps external data the same way): the file must not be truncated while it is
// being loaded. The mapping lives until the initializers are built from it.
class FileBytes {
 public:
  FileBytes(const std::string& path, const char* what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(ErrorKind::Io, path + ": " + what + " file not found");
    if (fs::is_directory(path, ec)) throw Error(ErrorKind::Io, path + ": is a directory, not a " + what + " file");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::Io, path + ": cannot open " + what + " file");
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED) {
        map_ = m;
        size_ = static_cast<size_t>(st.st_size);
        ::close(fd);
        return;
      }
    }
    // Not mappable: read to the end, growing a buffer that is never zero-filled.
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) : size_t{1} << 20;
    buf_ = std::make_unique_for_overwrite<char[]>(cap);
    for (;;) {
      if (size_ == cap) {
        // An endless source (/dev/zero, a pipe that never closes) stops here, not at the allocator:
        // protobuf cannot parse more than 2 GiB in one message anyway.
        if (size_ > static_cast<size_t>(INT_MAX)) {
          ::close(fd);
          throw Error(ErrorKind::Io, path + ": more than 2 GiB read from a " + what +
                                         " stream without its end; protobuf cannot parse it");
        }
        auto bigger = std::make_unique_for_overwrite<char[]>(cap * 2);
        std::memcpy(bigger.get(), buf_.get(), size_);
        buf_ = std::move(bigger);
        cap *= 2;
      }
      const ssize_t r = ::read(fd, buf_.get() + size_, cap - size_);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        ::close(fd);
        throw Error(ErrorKind::Io, path + ": read error");
      }
      if (r == 0) break;
      size_ += static_cast<size_t>(r);
    }
    ::close(fd);
  }
  ~FileBytes() {
    if (map_) ::munmap(map_, size_);
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  std::string_view view() const { return {map_ ? static_cast<const char*>(map_) : buf_.get(), size_}; }
  // Drops the mapped pages lying wholly inside `range` (a part of view() no longer needed) from this
  // process. A read buffer is kept whole.
  void release(std::string_view range) const {
    const auto b = reinterpret_cast<uintptr_t>(range.data());
    const auto m = reinterpret_cast<uintptr_t>(map_);
    if (!map_ || b < m || b + range.size() > m + size_ || range.size() < kPage) return;
    const uintptr_t first = (b + kPage - 1) / kPage * kPage;
    const uintptr_t last = (b + range.size()) / kPage * kPage;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }

 private:
  static constexpr uintptr_t kPage = 4096;  // a multiple of it would do as well: only whole pages go
  void* map_ = nullptr;
  std::unique_ptr<char[]> buf_;
  size_t size_ = 0;
};

ValueInfo value_info_from_proto(const Ctx& c, const onnx::ValueInfoProto& vp, const char* role, bool strict) {
  ValueInfo v;
  v.name = vp.name();
  const std::string where = std::string(role) + " " + q(vp.name());
  if (!vp.has_type()) return v;  // declared without a type (allowed for intermediates)
  const onnx::TypeProto& tp = vp.type();
  switch (tp.value_case()) {
    case onnx::TypeProto::kTensorType: break;
    case onnx::TypeProto::kSequenceType:
      if (strict) fail(c, ErrorKind::Unsupported, "sequence-typed values are not supported", where);
      return v;
    case onnx::TypeProto::kMapType:
      if (strict) fail(c, ErrorKind::Unsupported, "map-typed values are not supported", where);
      return v;
    case onnx::TypeProto::kOptionalType:
      if (strict) fail(c, ErrorKind::Unsupported, "optional-typed values are not supported", where);
      return v;
    case onnx::TypeProto::kSparseTensorType:
      if (strict) fail(c, ErrorKind::Unsupported, "sparse tensors are not supported", where);
      return v;
    default: return v;
  }
  const auto& tt = tp.tensor_type();
  const int32_t et = tt.elem_type();
  v.dtype = dtype_from_onnx(et);
  if (v.dtype == DType::Undefined && et != onnx::TensorProto_DataType_UNDEFINED && strict) {
    if (onnx_type_name(et).rfind("unknown", 0) == 0)
      fail(c, ErrorKind::Model, "tensor has unknown element type " + std::to_string(et), where);
    fail(c, ErrorKind::Unsupported, onnx_type_name(et) + " tensors are not supported", where);
  }
  if (tt.has_shape()) {
    v.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      Dim dim;
      // A negative size is not valid ONNX; some exporters write -1 for "unknown", so treat it so.
      if (d.has_dim_value() && d.dim_value() >= 0) dim.value = d.dim_value();
      else if (d.has_dim_param()) dim.param = d.dim_param();
      v.dims.push_back(std::move(dim));
    }
  }
  return v;
}

// AttributeProto → netlens attribute. Returns false when the attribute is deliberately not stored
// (subgraphs, type protos, tensor lists: the runtime reports their ops as unsupported).
bool convert_attribute(const Ctx& c, const onnx::AttributeProto& ap, const std::string& node_desc, AttrValue& out) {
  const std::string where = "attribute " + q(ap.name()) + " of " + node_desc;
  using A = onnx::AttributeProto;
  int type = ap.type();
  if (type == A::UNDEFINED) {
    // IR version 1 files may leave `type` unset: infer it from the field that is present.
    if (ap.has_f()) type = A::FLOAT;
    else if (ap.has_i()) type = A::INT;
    else if (ap.has_s()) type = A::STRING;
    else if (ap.has_t()) type = A::TENSOR;
    else if (ap.has_g()) type = A::GRAPH;
    else if (ap.floats_size()) type = A::FLOATS;
    else if (ap.ints_size()) type = A::INTS;
    else if (ap.strings_size()) type = A::STRINGS;
    else if (ap.tensors_size()) type = A::TENSORS;
    else if (ap.graphs_size()) type = A::GRAPHS;
    else if (!ap.ref_attr_name().empty())
      fail(c, ErrorKind::Unsupported, "attribute references (function bodies) are not supported", where);
    else fail(c, ErrorKind::Model, "attribute has no type and no value", where);
  }
  switch (type) {
    case A::FLOAT: out = ap.f(); return true;
    case A::INT: out = ap.i(); return true;
    case A::STRING: out = ap.s(); return true;
    case A::TENSOR: out = tensor_from_proto(c, ap.t(), where); return true;
    case A::FLOATS: out = std::vector<float>(ap.floats().begin(), ap.floats().end()); return true;
    case A::INTS: out = std::vector<int64_t>(ap.ints().begin(), ap.ints().end()); return true;
    case A::STRINGS: out = std::vector<std::string>(ap.strings().begin(), ap.strings().end()); return true;
    case A::SPARSE_TENSOR: case A::SPARSE_TENSORS:
      fail(c, ErrorKind::Unsupported, "sparse tensor attributes are not supported", where);
    case A::GRAPH: case A::GRAPHS: case A::TENSORS: case A::TYPE_PROTO: case A::TYPE_PROTOS: return false;
    default: fail(c, ErrorKind::Model, "attribute has unknown type " + std::to_string(type), where);
  }
}

// Orders nodes so every node comes after the producers of its inputs, keeping the file's order
// where it is already valid (Kahn's algorithm, lowest file index first).
std::vector<Node> topo_sort(const Ctx& c, std::vector<Node> nodes, const std::unordered_set<std::string>& external,
                            const std::string& graph_where) {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs) {
      if (o.empty()) continue;
      if (external.count(o))
        fail(c, ErrorKind::Model,
             desc(nodes[i]) + " writes " + q(o) + ", which is already a graph input or initializer", graph_where);
      auto [it, fresh] = producer.emplace(o, i);
      if (!fresh)
        fail(c, ErrorKind::Model,
             "tensor " + q(o) + " is produced by both " + desc(nodes[it->second]) + " and " + desc(nodes[i]),
             graph_where);
    }
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<size_t>> consumers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<size_t> deps;  // a node reading the same tensor twice depends on its producer once
    for (const auto& in : nodes[i].inputs) {
      if (in.empty() || external.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        fail(c, ErrorKind::Model, desc(nodes[i]) + " reads undefined tensor " + q(in), graph_where);
      if (it->second == i)
        fail(c, ErrorKind::Model, desc(nodes[i]) + " reads its own output " + q(in) + " (a cycle)", graph_where);
      deps.insert(it->second);
    }
    pending[i] = static_cast<int>(deps.size());
    for (size_t d : deps) consumers[d].push_back(i);
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<size_t> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t j : consumers[i])
      if (--pending[j] == 0) ready.push(j);
  }
  if (order.size() != nodes.size()) {
    // Name the first node left waiting and the input it waits for.
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (pending[i] == 0) continue;
      for (const auto& in : nodes[i].inputs) {
        auto it = in.empty() ? producer.end() : producer.find(in);
        if (it != producer.end() && pending[it->second] != 0)
          fail(c, ErrorKind::Model,
               "cycle: " + desc(nodes[i]) + " depends on its own result through tensor " + q(in), graph_where);
      }
    }
    fail(c, ErrorKind::Model, "the graph contains a cycle", graph_where);
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (size_t i : order) sorted.push_back(std::move(nodes[i]));
  return sorted;
}

// A parsed model and, from the wire scan, where each initializer's raw_data lies in the file's bytes
// (raw is empty when protobuf parsed the whole file: then the protos hold their own raw_data).
struct ParsedModel {
  onnx::ModelProto model;
  std::vector<onnx_wire::RawRef> raw;
};

// Consumes the model: each initializer's bytes are released once converted (its proto's copy freed,
// or its mapped pages handed back through `file`), so a large model is not held twice in memory.
Graph graph_from_model(const Ctx& c, ParsedModel& pm, const FileBytes* file = nullptr) {
  onnx::ModelProto& m = pm.model;
  if (!m.has_graph()) fail(c, ErrorKind::Model, "not an ONNX model (it has no graph)", "");
  onnx::GraphProto& gp = *m.mutable_graph();
  const std::string gwhere = "graph " + q(gp.name());
  Graph g;
  g.name = gp.name();
  g.producer = m.producer_name();
  if (!m.producer_version().empty()) g.producer += (g.producer.empty() ? "" : " ") + m.producer_version();
  g.ir_version = m.ir_version();
  for (const auto& op : m.opset_import()) {
    const std::string dom = op.domain() == "ai.onnx" ? "" : op.domain();
    g.opsets[dom] = op.version();
  }
  if (gp.sparse_initializer_size())
    fail(c, ErrorKind::Unsupported, "sparse initializers are not supported",
         "initializer " + q(gp.sparse_initializer(0).values().name()));

  for (int i = 0; i < gp.initializer_size(); ++i) {
    onnx::TensorProto& tp = *gp.mutable_initializer(i);
    const std::string where = "initializer " + q(tp.name());
    if (tp.name().empty()) fail(c, ErrorKind::Model, "initializer without a name", gwhere);
    if (g.initializers.count(tp.name())) fail(c, ErrorKind::Model, "duplicate initializer", where);
    const auto ui = static_cast<size_t>(i);
    const onnx_wire::RawRef raw = ui < pm.raw.size() ? pm.raw[ui] : onnx_wire::RawRef{};
    Release release;
    if (file) release = [file](std::string_view r) { file->release(r); };
    g.initializers.emplace(tp.name(), tensor_from_proto(c, tp, where, raw, release));
    std::string().swap(*tp.mutable_raw_data());
    tp.clear_float_data();
  }

  std::unordered_set<std::string> external;  // names available before any node runs
  for (const auto& [name, t] : g.initializers) external.insert(name);
  std::set<std::string> seen_inputs;
  for (const auto& vp : gp.input()) {
    if (vp.name().empty()) fail(c, ErrorKind::Model, "graph input without a name", gwhere);
    if (!seen_inputs.insert(vp.name()).second) fail(c, ErrorKind::Model, "duplicate graph input " + q(vp.name()), gwhere);
    if (g.initializers.count(vp.name())) continue;  // a default value, not a true input
    g.inputs.push_back(value_info_from_proto(c, vp, "graph input", true));
    external.insert(vp.name());
  }
  for (const auto& vp : gp.output()) {
    if (vp.name().empty()) fail(c, ErrorKind::Model, "graph output without a name", gwhere);
    g.outputs.push_back(value_info_from_proto(c, vp, "graph output", true));
  }
  for (const auto& vp : gp.value_info()) {
    ValueInfo v = value_info_from_proto(c, vp, "value_info", false);
    if (!v.name.empty()) g.value_info[v.name] = std::move(v);
  }

  std::vector<Node> nodes;
  nodes.reserve(static_cast<size_t>(gp.node_size()));
  for (int i = 0; i < gp.node_size(); ++i) {
    const onnx::NodeProto& np = gp.node(i);
    Node n;
    n.op_type = np.op_type();
    if (n.op_type.empty()) fail(c, ErrorKind::Model, "node without an op type", "node " + std::to_string(i) + " of " + gwhere);
    n.name = np.name().empty() ? n.op_type + "_" + std::to_string(i) : np.name();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    const std::string node_desc = desc(n);
    for (const auto& ap : np.attribute()) {
      if (ap.name().empty()) fail(c, ErrorKind::Model, "attribute without a name", node_desc);
      AttrValue v;
      if (convert_attribute(c, ap, node_desc, v)) n.attrs[ap.name()] = std::move(v);
    }
    nodes.push_back(std::move(n));
  }
  g.nodes = topo_sort(c, std::move(nodes), external, gwhere);

  std::unordered_set<std::string> defined = external;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) defined.insert(o);
  for (const auto& o : g.outputs)
    if (!defined.count(o.name))
      fail(c, ErrorKind::Model, "graph output " + q(o.name) + " is not produced by any node", gwhere);
  return g;
}

std::string parent_dir(const std::string& path) {
  fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

// Parses the model bytes. The wire scan leaves the initializers' raw_data in `bytes`, which must
// outlive graph_from_model(); where the scan does not apply, protobuf parses the whole file and
// decides whether it is valid.
ParsedModel parse_model(const Ctx& c, std::string_view bytes) {
  if (bytes.empty()) fail(c, ErrorKind::Model, "file is empty, not an ONNX model", "");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    fail(c, ErrorKind::Unsupported,
         "model is larger than 2 GiB; protobuf cannot parse it (store the weights as external data)", "");
  ParsedModel pm;
  if (onnx_wire::scan_model(bytes, pm.model, pm.raw)) return pm;
  pm = ParsedModel{};
  if (!parse_message(pm.model, bytes))
    fail(c, ErrorKind::Model, "not a valid ONNX model (protobuf parse failed: truncated or corrupt file)",
         std::to_string(bytes.size()) + " bytes");
  return pm;
}

}  // namespace

Graph load_onnx_bytes(std::string_view bytes, const std::string& base_dir, const std::string& label) {
  const Ctx c{label, base_dir};
  ParsedModel pm = parse_model(c, bytes);
  return graph_from_model(c, pm);
}

Graph load_onnx(const std::string& path) {
  const Ctx c{path, parent_dir(path)};
  const FileBytes bytes(path, "model");
  ParsedModel pm = parse_model(c, bytes.view());
  return graph_from_model(c, pm, &bytes);
}

Tensor load_onnx_tensor(const std::string& path) {
  const FileBytes file(path, "tensor");
  const std::string_view bytes = file.view();
  const Ctx c{path, parent_dir(path)};
  if (bytes.empty()) fail(c, ErrorKind::Input, "file is empty, not an ONNX tensor", "");
  onnx::TensorProto tp;
  onnx_wire::RawRef raw;
  if (!onnx_wire::scan_tensor(bytes, tp, raw)) {
    tp.Clear();
    raw = {};
    if (!parse_message(tp, bytes))
      fail(c, ErrorKind::Input, "not a valid ONNX TensorProto (protobuf parse failed)",
           std::to_string(bytes.size()) + " bytes");
  }
  return tensor_from_proto(c, tp, "tensor " + q(tp.name()), raw);
}

}  // namespace netlens
