#include "netlens/cli/frame_flags.hpp"

#include "netlens/core.hpp"
#include "netlens/viz/picking.hpp"

namespace netlens::cli {

std::pair<int, int> parse_size(const std::string& text, const std::string& flag) {
  auto x = text.find('x');
  if (x == std::string::npos) throw Error(ErrorKind::Usage, flag + " expects WIDTHxHEIGHT, got '" + text + "'");
  int w = viz::parse_flag_int(text.substr(0, x), flag), h = viz::parse_flag_int(text.substr(x + 1), flag);
  if (w < 16 || h < 16 || w > 8192 || h > 8192)
    throw Error(ErrorKind::Usage, flag + " " + text + " is out of range (16..8192 per side)");
  return {w, h};
}

std::pair<int, int> parse_xy(const std::string& text, const std::string& flag) {
  auto c = text.find(',');
  if (c == std::string::npos) throw Error(ErrorKind::Usage, flag + " expects X,Y, got '" + text + "'");
  return {viz::parse_flag_int(text.substr(0, c), flag), viz::parse_flag_int(text.substr(c + 1), flag)};
}

}  // namespace netlens::cli
