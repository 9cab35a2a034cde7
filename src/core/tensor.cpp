#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <new>

#include "netlens/core.hpp"

namespace netlens {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float64: case DType::Int64: case DType::UInt64: return 8;
    case DType::Float32: case DType::Int32: case DType::UInt32: return 4;
    case DType::Float16: case DType::BFloat16: case DType::Int16: case DType::UInt16: return 2;
    case DType::Int8: case DType::UInt8: case DType::Bool: return 1;
    case DType::Undefined: return 0;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float16: return "float16";
    case DType::Float64: return "float64";
    case DType::BFloat16: return "bfloat16";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Int16: return "int16";
    case DType::UInt16: return "uint16";
    case DType::Int32: return "int32";
    case DType::UInt32: return "uint32";
    case DType::Int64: return "int64";
    case DType::UInt64: return "uint64";
    case DType::Bool: return "bool";
    case DType::Undefined: return "undefined";
  }
  return "undefined";
}

bool is_float(DType t) {
  return t == DType::Float32 || t == DType::Float16 || t == DType::Float64 || t == DType::BFloat16;
}
bool is_integer(DType t) {
  switch (t) {
    case DType::Int8: case DType::UInt8: case DType::Int16: case DType::UInt16:
    case DType::Int32: case DType::UInt32: case DType::Int64: case DType::UInt64: return true;
    default: return false;
  }
}
bool is_signed(DType t) {
  return is_float(t) || t == DType::Int8 || t == DType::Int16 || t == DType::Int32 || t == DType::Int64;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400u) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u);
  }
  if (absx >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow to inf
  if (absx < 0x38800000u) {                        // subnormal or zero in half
    if (absx < 0x33000000u) return sign;           // < 2^-25 rounds to zero
    const uint32_t e = absx >> 23;
    uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    // value = mant * 2^(e-150); the half subnormal unit is 2^-24, so h = mant * 2^(e-126).
    const uint32_t s = 126 - e;  // right shift, 14..24
    uint32_t h = mant >> s;
    const uint32_t rem = mant & ((1u << s) - 1);
    const uint32_t halfway = 1u << (s - 1);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;
    return sign | static_cast<uint16_t>(h);
  }
  uint32_t h = ((absx >> 13) - (112u << 10));
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

int64_t numel(const Shape& s) {
  // Checked: shapes come from model files and command lines, and a wrapped count would size a
  // buffer smaller than the loops that fill it.
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw Error(ErrorKind::Model, "shape " + shape_str(s) + " has more elements than a 64-bit count holds");
  return n;
}

std::string shape_str(const Shape& s) {
  if (s.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

Shape parse_shape(std::string_view text) {
  Shape s;
  if (text == "scalar") return s;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of("x,", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(pos, end - pos);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v < 0)
      throw Error(ErrorKind::Usage, "bad shape '" + std::string(text) + "' (expected e.g. 1x3x224x224)");
    s.push_back(v);
    pos = end + 1;
  }
  return s;
}

std::string uuid_string(const std::array<uint8_t, 16>& u) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[u[i] >> 4];
    s += hex[u[i] & 15];
  }
  return s;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

namespace {
std::shared_ptr<std::byte> alloc_storage(size_t bytes) {
  const size_t n = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n == 0 ? 64 : n);
  if (!p) throw Error(ErrorKind::Memory, "out of host memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, n == 0 ? 64 : n);
  return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error(ErrorKind::Internal, "negative dimension in tensor shape " + shape_str(shape_));
  size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<size_t>(numel()), dtype_size(dtype_), &bytes) || bytes > SIZE_MAX / 2)
    throw Error(ErrorKind::Memory, "a tensor of shape " + shape_str(shape_) + " is too large to allocate");
  storage_ = alloc_storage(bytes);
  data_ = storage_.get();
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::scalar_f32(float v) {
  Tensor t(DType::Float32, {});
  *t.data_as<float>() = v;
  return t;
}

Tensor Tensor::from_f32(Shape shape, const std::vector<float>& v) {
  Tensor t(DType::Float32, std::move(shape));
  assert(static_cast<int64_t>(v.size()) == t.numel());
  if (!v.empty()) std::memcpy(t.data(), v.data(), v.size() * 4);  // memcpy(p, nullptr, 0) is UB
  return t;
}

Tensor Tensor::from_i64(Shape shape, const std::vector<int64_t>& v) {
  Tensor t(DType::Int64, std::move(shape));
  assert(static_cast<int64_t>(v.size()) == t.numel());
  if (!v.empty()) std::memcpy(t.data(), v.data(), v.size() * 8);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data(), data_, nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (netlens::numel(shape) != numel())
    throw Error(ErrorKind::Internal, "reshape " + shape_str(shape_) + " → " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

double Tensor::get_f64(int64_t i) const {
  const std::byte* p = static_cast<const std::byte*>(data_) + static_cast<size_t>(i) * dtype_size(dtype_);
  auto ld = [&](auto tag) { decltype(tag) v; std::memcpy(&v, p, sizeof v); return v; };
  switch (dtype_) {
    case DType::Float32: return ld(float{});
    case DType::Float64: return ld(double{});
    case DType::Float16: return half_to_float(ld(uint16_t{}));
    case DType::BFloat16: return bfloat16_to_float(ld(uint16_t{}));
    case DType::Int8: return ld(int8_t{});
    case DType::UInt8: return ld(uint8_t{});
    case DType::Int16: return ld(int16_t{});
    case DType::UInt16: return ld(uint16_t{});
    case DType::Int32: return ld(int32_t{});
    case DType::UInt32: return ld(uint32_t{});
    case DType::Int64: return static_cast<double>(ld(int64_t{}));
    case DType::UInt64: return static_cast<double>(ld(uint64_t{}));
    case DType::Bool: return ld(uint8_t{}) ? 1.0 : 0.0;
    case DType::Undefined: break;
  }
  return 0.0;
}

int64_t Tensor::get_i64(int64_t i) const {
  const std::byte* p = static_cast<const std::byte*>(data_) + static_cast<size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::Int64: { int64_t v; std::memcpy(&v, p, 8); return v; }
    case DType::UInt64: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<int64_t>(v); }
    case DType::Int32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    default: return static_cast<int64_t>(get_f64(i));
  }
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) v[static_cast<size_t>(i)] = get_i64(i);
  return v;
}

std::vector<float> Tensor::to_f32_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  if (dtype_ == DType::Float32) {
    if (!v.empty()) std::memcpy(v.data(), data_, v.size() * 4);
    return v;
  }
  for (int64_t i = 0; i < numel(); ++i) v[static_cast<size_t>(i)] = static_cast<float>(get_f64(i));
  return v;
}

namespace {
template <class T> void store_as(void* dst, int64_t i, double v) {
  static_cast<T*>(dst)[i] = static_cast<T>(v);
}
}  // namespace

Tensor Tensor::cast(DType to) const {
  Tensor out(to, shape_);
  const int64_t n = numel();
  if (to == dtype_) {
    if (n) std::memcpy(out.data(), data_, nbytes());
    return out;
  }
  // Fast paths for the float16 <-> float32 conversions that fp16 models use everywhere.
  if (dtype_ == DType::Float16 && to == DType::Float32) {
    const uint16_t* s = data_as<uint16_t>();
    float* d = out.data_as<float>();
    for (int64_t i = 0; i < n; ++i) d[i] = half_to_float(s[i]);
    return out;
  }
  if (dtype_ == DType::Float32 && to == DType::Float16) {
    const float* s = data_as<float>();
    uint16_t* d = out.data_as<uint16_t>();
    for (int64_t i = 0; i < n; ++i) d[i] = float_to_half(s[i]);
    return out;
  }
  const bool src_int = is_integer(dtype_) && (dtype_ == DType::Int64 || dtype_ == DType::UInt64);
  for (int64_t i = 0; i < n; ++i) {
    if (src_int && is_integer(to)) {  // keep 64-bit integers exact
      const int64_t v = get_i64(i);
      switch (to) {
        case DType::Int64: out.data_as<int64_t>()[i] = v; break;
        case DType::UInt64: out.data_as<uint64_t>()[i] = static_cast<uint64_t>(v); break;
        case DType::Int32: out.data_as<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DType::UInt32: out.data_as<uint32_t>()[i] = static_cast<uint32_t>(v); break;
        case DType::Int16: out.data_as<int16_t>()[i] = static_cast<int16_t>(v); break;
        case DType::UInt16: out.data_as<uint16_t>()[i] = static_cast<uint16_t>(v); break;
        case DType::Int8: out.data_as<int8_t>()[i] = static_cast<int8_t>(v); break;
        case DType::UInt8: out.data_as<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        default: break;
      }
      continue;
    }
    const double v = get_f64(i);
    switch (to) {
      case DType::Float32: store_as<float>(out.data(), i, v); break;
      case DType::Float64: store_as<double>(out.data(), i, v); break;
      case DType::Float16: out.data_as<uint16_t>()[i] = float_to_half(static_cast<float>(v)); break;
      case DType::BFloat16: out.data_as<uint16_t>()[i] = float_to_bfloat16(static_cast<float>(v)); break;
      case DType::Bool: out.data_as<uint8_t>()[i] = v != 0.0 ? 1 : 0; break;
      case DType::Int8: store_as<int8_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::UInt8: store_as<uint8_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::Int16: store_as<int16_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::UInt16: store_as<uint16_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::Int32: store_as<int32_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::UInt32: store_as<uint32_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::Int64: store_as<int64_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::UInt64: store_as<uint64_t>(out.data(), i, std::isfinite(v) ? v : 0); break;
      case DType::Undefined: break;
    }
  }
  return out;
}

}  // namespace netlens
