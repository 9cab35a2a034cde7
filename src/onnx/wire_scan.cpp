// Wire-format scan of ONNX models. See wire_scan.hpp for the contract.
//
// The scan is deliberately stricter than protobuf (tags of at most 5 bytes, lengths of at most
// INT_MAX, no groups, no tag 0): whatever it does not accept goes back to protobuf's own parse of
// the whole message, so a file the scan accepts is one protobuf accepts too, with the same content,
// and a file it refuses gets exactly the loader's usual answer.
#include "wire_scan.hpp"

#include <climits>
#include <cstdint>

#include <google/protobuf/io/coded_stream.h>

namespace netlens::onnx_wire {

namespace {

using Byte = uint8_t;

// Field numbers and wire types of the three messages the scan walks (onnx-ml.proto).
constexpr uint32_t kModelGraph = 7;         // ModelProto.graph
constexpr uint32_t kGraphInitializer = 5;   // GraphProto.initializer
constexpr uint32_t kTensorRawData = 9;      // TensorProto.raw_data
constexpr int kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5;

// Reads a varint of at most max_bytes bytes. False when it runs past `end` or is longer.
bool read_varint(const Byte*& p, const Byte* end, int max_bytes, uint64_t& v) {
  v = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (p == end) return false;
    const Byte b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return true;
  }
  return false;
}

struct Field {
  uint32_t number = 0;
  int wire_type = 0;
  const Byte* begin = nullptr;    // the tag's first byte
  const Byte* payload = nullptr;  // length-delimited fields: the payload's first byte
  const Byte* end = nullptr;      // one past the field's last byte
};

// Steps over the field starting at p. False for anything malformed or not handled here.
bool next_field(const Byte*& p, const Byte* end, Field& f) {
  f.begin = p;
  uint64_t tag = 0;
  if (!read_varint(p, end, 5, tag) || tag > UINT32_MAX) return false;
  f.number = static_cast<uint32_t>(tag >> 3);
  f.wire_type = static_cast<int>(tag & 7);
  if (f.number == 0) return false;
  uint64_t v = 0;
  switch (f.wire_type) {
    case kVarint:
      if (!read_varint(p, end, 10, v)) return false;
      break;
    case kFixed64:
      if (end - p < 8) return false;
      p += 8;
      break;
    case kFixed32:
      if (end - p < 4) return false;
      p += 4;
      break;
    case kLen:
      if (!read_varint(p, end, 10, v) || v > static_cast<uint64_t>(INT_MAX) ||
          v > static_cast<uint64_t>(end - p))
        return false;
      f.payload = p;
      p += v;
      break;
    default: return false;  // groups (3, 4) and the invalid wire types 6, 7
  }
  f.end = p;
  return true;
}

// Merges the whole fields in [b, e) into msg, as protobuf would at nesting `depth`.
template <class Msg>
bool merge_range(Msg& msg, const Byte* b, const Byte* e, int depth) {
  if (b == e) return true;
  google::protobuf::io::CodedInputStream cis(b, static_cast<int>(e - b));
  cis.SetTotalBytesLimit(INT_MAX);
  cis.SetRecursionLimit(google::protobuf::io::CodedInputStream::GetDefaultRecursionLimit() - depth);
  return msg.MergeFromCodedStream(&cis) && cis.ConsumedEntireMessage();
}

// Walks the fields of one message in [b, e): each field `special` answers true for goes to
// `handle`; runs of the other fields are merged into msg in order.
template <class Msg, class Special, class Handle>
bool walk(Msg& msg, const Byte* b, const Byte* e, int depth, Special special, Handle handle) {
  const Byte* run = b;
  const Byte* p = b;
  while (p < e) {
    Field f;
    if (!next_field(p, e, f)) return false;
    if (f.wire_type != kLen || !special(f.number)) continue;
    if (!merge_range(msg, run, f.begin, depth) || !handle(f)) return false;
    run = p;
  }
  return merge_range(msg, run, e, depth);
}

bool scan_tensor_at(const Byte* b, const Byte* e, onnx::TensorProto& t, RawRef& raw, int depth) {
  return walk(t, b, e, depth, [](uint32_t n) { return n == kTensorRawData; },
              [&](const Field& f) {
                raw.bytes = std::string_view(reinterpret_cast<const char*>(f.payload),
                                             static_cast<size_t>(f.end - f.payload));
                raw.present = true;
                return true;
              });
}

bool scan_graph(const Byte* b, const Byte* e, onnx::GraphProto& g, std::vector<RawRef>& raw, int depth) {
  return walk(g, b, e, depth, [](uint32_t n) { return n == kGraphInitializer; },
              [&](const Field& f) {
                onnx::TensorProto& t = *g.add_initializer();
                raw.resize(static_cast<size_t>(g.initializer_size()));
                return scan_tensor_at(f.payload, f.end, t, raw.back(), depth + 1);
              });
}

const Byte* ubegin(std::string_view s) { return reinterpret_cast<const Byte*>(s.data()); }

}  // namespace

bool scan_model(std::string_view bytes, onnx::ModelProto& model, std::vector<RawRef>& raw) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return false;
  raw.clear();
  const Byte* b = ubegin(bytes);
  return walk(model, b, b + bytes.size(), 0, [](uint32_t n) { return n == kModelGraph; },
              [&](const Field& f) {
                // Every initializer before this graph field keeps its raw entry: merged graph
                // fields append to the same initializer list.
                onnx::GraphProto& g = *model.mutable_graph();
                raw.resize(static_cast<size_t>(g.initializer_size()));
                return scan_graph(f.payload, f.end, g, raw, 1);
              });
}

bool scan_tensor(std::string_view bytes, onnx::TensorProto& tensor, RawRef& raw) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return false;
  raw = RawRef{};
  const Byte* b = ubegin(bytes);
  return scan_tensor_at(b, b + bytes.size(), tensor, raw, 0);
}

}  // namespace netlens::onnx_wire
