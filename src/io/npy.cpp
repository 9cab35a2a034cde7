// .npy read/write (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
// Supported: format versions 1.0, 2.0 and 3.0 headers, little-endian, C order, every netlens dtype.
// bfloat16 has no numpy descr; it is written as the two-byte void type '<V2' (what numpy saves for
// ml_dtypes.bfloat16) and '<V2'/'|V2' is read back as bfloat16.
#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "netlens/io.hpp"

namespace netlens {

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Error(ErrorKind::Input, path + ": " + what);
}

std::string descr_of(DType t) {
  switch (t) {
    case DType::Float32: return "<f4";
    case DType::Float16: return "<f2";
    case DType::Float64: return "<f8";
    case DType::BFloat16: return "<V2";
    case DType::Int8: return "|i1";
    case DType::UInt8: return "|u1";
    case DType::Int16: return "<i2";
    case DType::UInt16: return "<u2";
    case DType::Int32: return "<i4";
    case DType::UInt32: return "<u4";
    case DType::Int64: return "<i8";
    case DType::UInt64: return "<u8";
    case DType::Bool: return "|b1";
    case DType::Undefined: break;
  }
  return "";
}

DType dtype_of_descr(const std::string& path, const std::string& d) {
  if (d.size() < 3) bad(path, "unsupported dtype '" + d + "'");
  const char order = d[0];
  const std::string code = d.substr(1);
  if (order == '>') bad(path, "big-endian data ('" + d + "') is not supported; save it little-endian");
  if (order != '<' && order != '|' && order != '=') bad(path, "unsupported dtype '" + d + "'");
  static const std::map<std::string, DType> codes = {
      {"f4", DType::Float32}, {"f2", DType::Float16}, {"f8", DType::Float64}, {"V2", DType::BFloat16},
      {"i1", DType::Int8},    {"u1", DType::UInt8},   {"i2", DType::Int16},   {"u2", DType::UInt16},
      {"i4", DType::Int32},   {"u4", DType::UInt32},  {"i8", DType::Int64},   {"u8", DType::UInt64},
      {"b1", DType::Bool}};
  auto it = codes.find(code);
  if (it == codes.end()) bad(path, "unsupported dtype '" + d + "'");
  return it->second;
}

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
// This parses exactly that subset: string keys, and string / True / False / tuple-of-int values.
struct HeaderParser {
  const std::string& path;
  const std::string& s;
  size_t i = 0;

  void ws() { while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i; }
  [[noreturn]] void err(const std::string& what) { bad(path, "malformed .npy header: " + what); }
  void expect(char ch) {
    ws();
    if (i >= s.size() || s[i] != ch) err(std::string("expected '") + ch + "'");
    ++i;
  }
  bool peek(char ch) { ws(); return i < s.size() && s[i] == ch; }
  std::string str() {
    ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) err("expected a string");
    const char quote = s[i++];
    const size_t end = s.find(quote, i);
    if (end == std::string::npos) err("unterminated string");
    std::string v = s.substr(i, end - i);
    i = end + 1;
    return v;
  }
  bool boolean() {
    ws();
    if (s.compare(i, 4, "True") == 0) { i += 4; return true; }
    if (s.compare(i, 5, "False") == 0) { i += 5; return false; }
    err("expected True or False");
  }
  Shape tuple() {
    expect('(');
    Shape shape;
    while (!peek(')')) {
      ws();
      int64_t v = 0;
      size_t digits = 0;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) err("dimension too large");
        v = v * 10 + (s[i++] - '0');
        ++digits;
      }
      if (!digits) err("expected a non-negative integer in the shape");
      // numpy may write long integers as 3L (Python 2 files).
      if (i < s.size() && s[i] == 'L') ++i;
      shape.push_back(v);
      if (peek(',')) ++i;
      else if (!peek(')')) err("expected ',' or ')' in the shape");
    }
    ++i;
    return shape;
  }
};

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::Io, path + ": cannot open .npy file (missing or unreadable)");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string bytes = std::move(ss).str();

  static const char magic[] = "\x93NUMPY";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0) bad(path, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(path, "truncated .npy header");
    header_len = 0;
    for (int k = 0; k < 4; ++k) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
    header_start = 12;
  } else {
    bad(path, "unsupported .npy format version " + std::to_string(major));
  }
  if (header_start + header_len > bytes.size()) bad(path, "truncated .npy header");
  const std::string header = bytes.substr(header_start, header_len);

  HeaderParser p{path, header};
  std::string descr;
  bool fortran = false, have_descr = false, have_shape = false;
  Shape shape;
  p.expect('{');
  while (!p.peek('}')) {
    const std::string key = p.str();
    p.expect(':');
    if (key == "descr") { descr = p.str(); have_descr = true; }
    else if (key == "fortran_order") fortran = p.boolean();
    else if (key == "shape") { shape = p.tuple(); have_shape = true; }
    else p.err("unexpected key '" + key + "'");
    if (p.peek(',')) ++p.i;
    else if (!p.peek('}')) p.err("expected ',' or '}'");
  }
  if (!have_descr || !have_shape) bad(path, "malformed .npy header: 'descr' or 'shape' missing");
  if (fortran) bad(path, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
  const DType dt = dtype_of_descr(path, descr);

  const size_t esize = dtype_size(dt);
  const size_t payload = bytes.size() - header_start - header_len;
  size_t n = 1;
  bool overflow = false;
  for (int64_t d : shape) overflow |= __builtin_mul_overflow(n, static_cast<size_t>(d), &n);
  size_t nbytes = 0;
  overflow |= __builtin_mul_overflow(n, esize, &nbytes);
  if (overflow || nbytes != payload)
    bad(path, "holds " + std::to_string(payload) + " data bytes, expected " +
                  (overflow ? std::string("more") : std::to_string(nbytes)) + " for " + std::string(dtype_name(dt)) +
                  " " + shape_str(shape));
  Tensor t(dt, shape);
  if (payload) std::memcpy(t.data(), bytes.data() + header_start + header_len, payload);
  if (dt == DType::Bool)  // numpy bools are 0/1 bytes; normalise anything else
    for (size_t k = 0; k < n; ++k) t.data_as<uint8_t>()[k] = t.data_as<uint8_t>()[k] ? 1 : 0;
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  static_assert(std::endian::native == std::endian::little, ".npy files are written little-endian");
  if (!t.defined()) throw Error(ErrorKind::Io, path + ": cannot write an undefined tensor");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (i) shape += ", ";
    shape += std::to_string(t.shape()[i]);
  }
  if (t.shape().size() == 1) shape += ",";
  shape += ")";
  std::string header = "{'descr': '" + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and end with '\n' so the data starts on a 64-byte boundary.
  const bool v2 = header.size() + 1 + 10 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';

  std::string out = "\x93NUMPY";
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const size_t hl = header.size();
  out += static_cast<char>(hl & 0xff);
  out += static_cast<char>((hl >> 8) & 0xff);
  if (v2) {
    out += static_cast<char>((hl >> 16) & 0xff);
    out += static_cast<char>((hl >> 24) & 0xff);
  }
  out += header;

  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(ErrorKind::Io, path + ": cannot create .npy file");
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (t.nbytes()) f.write(static_cast<const char*>(t.data()), static_cast<std::streamsize>(t.nbytes()));
  f.close();
  if (!f) throw Error(ErrorKind::Io, path + ": write failed");
}

std::vector<std::string> unique_file_stems(const std::vector<std::string>& names) {
  auto folded = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::set<std::string> taken;  // case-folded stems already given out
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const std::string& name : names) {
    const std::string base = sanitize_tensor_name(name);
    std::string stem = base;
    for (int k = 2; taken.count(folded(stem)); ++k) stem = base + "-" + std::to_string(k);
    taken.insert(folded(stem));
    out.push_back(stem);
  }
  return out;
}

}  // namespace netlens
