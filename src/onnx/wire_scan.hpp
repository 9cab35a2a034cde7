// Private to src/onnx: a protobuf parse of an ONNX model that leaves the initializers' raw_data
// bytes where they are.
//
// Why: protobuf copies every `bytes` field into a fresh std::string, and the loader then copied it
// again into the Tensor's storage. For weight-heavy models (VGG-16: 528 MB) those two copies into
// fresh memory were most of the load time. scan_model() walks the wire format of ModelProto →
// GraphProto (field 7) → TensorProto initializers (field 5) itself, hands every other byte range
// to protobuf (merging ranges of whole fields is, by protobuf's definition, the same as parsing the
// whole message), and records where each initializer's raw_data (field 9) payload lies in `bytes`,
// so the loader copies each weight byte once, straight into the Tensor.
//
// Contract: on true, `model` equals protobuf's parse of `bytes` except that no
// graph.initializer[i] has raw_data; raw[i] (one entry per initializer) says where its raw_data
// payload is (the last one, as protobuf keeps the last occurrence of a singular field). On false
// (anything the scan does not handle: malformed or truncated varints and lengths, groups, tag 0,
// or protobuf refusing a range), `model` is in an unspecified state and the caller must parse the
// whole message with protobuf alone, which then decides, with its usual error, whether the file is
// valid. Every read is bounds-checked against `bytes`; nothing is allocated from a length in the
// file before that length is checked against the bytes present.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <onnx/onnx_pb.h>

namespace netlens::onnx_wire {

// Where an initializer's raw_data payload lies in the scanned bytes.
struct RawRef {
  std::string_view bytes;  // empty view with present = true: an empty raw_data field
  bool present = false;
};

bool scan_model(std::string_view bytes, onnx::ModelProto& model, std::vector<RawRef>& raw);
// The same for a lone TensorProto (the ONNX test suite's input_0.pb files), depth 0.
bool scan_tensor(std::string_view bytes, onnx::TensorProto& tensor, RawRef& raw);

}  // namespace netlens::onnx_wire
