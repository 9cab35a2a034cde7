#include "frame_flags.hpp"

#include "netlens/core.hpp"

namespace netlens::cli {

namespace {
int to_int(const std::string& s, const std::string& flag) {
  size_t pos = 0;
  int v = 0;
  try {
    v = std::stoi(s, &pos);
  } catch (...) {
    pos = 0;
  }
  if (s.empty() || pos != s.size()) throw Error(ErrorKind::Usage, flag + ": '" + s + "' is not an integer");
  return v;
}
}  // namespace

std::pair<int, int> parse_size(const std::string& text, const std::string& flag) {
  auto x = text.find('x');
  if (x == std::string::npos) throw Error(ErrorKind::Usage, flag + " expects WIDTHxHEIGHT, got '" + text + "'");
  int w = to_int(text.substr(0, x), flag), h = to_int(text.substr(x + 1), flag);
  if (w < 16 || h < 16 || w > 8192 || h > 8192)
    throw Error(ErrorKind::Usage, flag + " " + text + " is out of range (16..8192 per side)");
  return {w, h};
}

std::pair<int, int> parse_xy(const std::string& text, const std::string& flag) {
  auto c = text.find(',');
  if (c == std::string::npos) throw Error(ErrorKind::Usage, flag + " expects X,Y, got '" + text + "'");
  return {to_int(text.substr(0, c), flag), to_int(text.substr(c + 1), flag)};
}

}  // namespace netlens::cli
