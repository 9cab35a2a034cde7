// ONNX → netlens::Graph.
// Contract: load_onnx reads the file (and any external-data side files, resolved relative to the
// model's folder), validates it and returns a Graph that owns all its tensors (host memory).
// Every failure is an Error with one line naming the file and what is wrong: Io (missing or
// unreadable file, missing external data), Model (empty, truncated, not ONNX, inconsistent),
// Unsupported (a tensor data type or feature the engine does not implement).
#pragma once

#include <string>
#include <string_view>

#include "netlens/graph.hpp"

namespace netlens {

Graph load_onnx(const std::string& path);
// Parses an in-memory model. base_dir resolves external data ("" = no external data allowed).
Graph load_onnx_bytes(std::string_view bytes, const std::string& base_dir, const std::string& label);
// A single ONNX TensorProto (as in the ONNX test suite's input_0.pb files).
Tensor load_onnx_tensor(const std::string& path);

}  // namespace netlens
