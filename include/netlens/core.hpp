// netlens core types: DType, Shape, Tensor, errors.
// Contract: Tensor is a host-memory n-d array with shared (reference-counted) storage. Copies are
// shallow; clone() deep-copies. A Tensor made with Tensor::view() does not own its memory: the
// caller keeps that memory alive for the tensor's lifetime.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace netlens {

// ---------------------------------------------------------------------------------------------
// Errors. User-facing failures are exceptions carrying one clear line; the CLI maps the kind to an
// exit status (Usage → 2, everything else → 1). Invariants use assert.
enum class ErrorKind { Usage, Io, Model, Unsupported, Input, Memory, Device, Internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// ---------------------------------------------------------------------------------------------
enum class DType : uint8_t {
  Undefined,
  Float32,
  Float16,
  Float64,
  BFloat16,
  Int8,
  UInt8,
  Int16,
  UInt16,
  Int32,
  UInt32,
  Int64,
  UInt64,
  Bool,  // one byte per element, 0 or 1
};

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // "float32", "float16", "int64", ... (numpy names)
bool is_float(DType t);                // Float32/16/64, BFloat16
bool is_integer(DType t);              // signed or unsigned integer types (not Bool)
bool is_signed(DType t);

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even, saturating to inf like IEEE
float bfloat16_to_float(uint16_t b);
uint16_t float_to_bfloat16(float f);

// ---------------------------------------------------------------------------------------------
using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);            // 1 for a scalar (rank 0); Error{Model} when it overflows int64
std::string shape_str(const Shape& s);    // "1x3x224x224", "scalar" for rank 0
Shape parse_shape(std::string_view text);  // "1x3x224x224" (throws Error{Usage})
std::vector<int64_t> strides_of(const Shape& s);  // row-major element strides
// A 16-byte device UUID as "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (how nvidia-smi and CUDA tools
// print it, without "GPU-"); used for CUDA and Vulkan devices alike.
std::string uuid_string(const std::array<uint8_t, 16>& u);

// ---------------------------------------------------------------------------------------------
class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialised host storage (64-byte aligned).
  Tensor(DType dtype, Shape shape);
  // Non-owning view over caller memory.
  static Tensor view(DType dtype, Shape shape, void* data);
  // Scalars and small vectors, handy for tests and constant folding.
  static Tensor scalar_f32(float v);
  static Tensor from_f32(Shape shape, const std::vector<float>& v);
  static Tensor from_i64(Shape shape, const std::vector<int64_t>& v);

  bool defined() const { return dtype_ != DType::Undefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
  int64_t numel() const { return netlens::numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T> T* data_as() { return static_cast<T*>(data_); }
  template <class T> const T* data_as() const { return static_cast<const T*>(data_); }

  Tensor clone() const;
  // Same storage, new shape of equal element count.
  Tensor reshaped(Shape shape) const;
  // Element i (row-major) converted to double / int64, whatever the dtype. Slow; for small
  // tensors (shape arithmetic, tests, statistics printing).
  double get_f64(int64_t i) const;
  int64_t get_i64(int64_t i) const;
  std::vector<int64_t> to_i64_vector() const;
  std::vector<float> to_f32_vector() const;
  // Converts to another dtype (new storage). Float16/BFloat16 go through float.
  Tensor cast(DType to) const;

 private:
  DType dtype_ = DType::Undefined;
  Shape shape_;
  std::shared_ptr<std::byte> storage_;
  void* data_ = nullptr;
};

}  // namespace netlens
