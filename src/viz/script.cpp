#include "netlens/viz/script.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "netlens/core.hpp"

namespace netlens::viz {

namespace {

// Bounds for numeric arguments: far beyond any sensible value, and within int, int64 and float.
constexpr double kMaxCoord = 1e7;     // pixels, drags, scrolls, moves
constexpr double kMaxFrames = 1e9;    // about a year at 30 fps
constexpr double kMaxWindow = 32768;  // window sizes

void check(ScriptCommand& c, const std::string& where) {
  const auto& w = c.args;
  auto fail = [&](const std::string& what) { throw Error(ErrorKind::Usage, where + ": " + what); };
  auto need = [&](size_t n) {
    if (w.size() != n) fail("'" + c.name + "' takes " + std::to_string(n) + " argument(s)");
  };
  // Parses argument i as a number in [lo, hi] and appends it to nums.
  auto num = [&](size_t i, double lo, double hi) {
    double v = 0;
    try {
      size_t pos = 0;
      v = std::stod(w[i], &pos);
      if (pos != w[i].size() || !std::isfinite(v)) throw std::invalid_argument("");
    } catch (...) {
      fail("'" + w[i] + "' is not a number");
    }
    if (v < lo || v > hi) {
      std::ostringstream r;
      r << "'" << w[i] << "' is out of range [" << lo << ", " << hi << "] for '" << c.name << "'";
      fail(r.str());
    }
    c.nums.push_back(v);
  };
  const std::string& n = c.name;
  if (n == "frames") { need(1); num(0, -kMaxFrames, kMaxFrames); }
  else if (n == "resize") { need(2); num(0, 1, kMaxWindow); num(1, 1, kMaxWindow); }
  else if (n == "cursor" || n == "click" || n == "focus" || n == "drag") {
    need(2);
    num(0, -kMaxCoord, kMaxCoord);
    num(1, -kMaxCoord, kMaxCoord);
  } else if (n == "scroll") { need(1); num(0, -kMaxCoord, kMaxCoord); }
  else if (n == "move") {
    need(4);
    for (size_t i = 0; i < 4; ++i) num(i, -kMaxCoord, kMaxCoord);
  } else if (n == "key") {
    need(1);
    const auto& keys = script_key_names();
    if (std::find(keys.begin(), keys.end(), w[0]) == keys.end()) fail("unknown key '" + w[0] + "'");
  } else if (n == "wait-nodes") { need(1); num(0, 0, kMaxFrames); }
  else if (n == "save-camera" || n == "screenshot" || n == "open") { need(1); }
  else if (n == "lod") {
    need(1);
    if (w[0] != "max" && w[0] != "mean") fail("lod takes 'max' or 'mean'");
  } else if (n == "scale") {
    if (w.size() != 1 && w.size() != 3) fail("scale takes 'layer' or 'global', then optionally LO HI");
    if (w[0] != "layer" && w[0] != "global") fail("scale takes 'layer' or 'global'");
    if (w.size() == 3) {
      num(1, -kMaxCoord, kMaxCoord);
      num(2, -kMaxCoord, kMaxCoord);
    }
  } else if (n == "settle" || n == "iconify" || n == "restore" || n == "close" || n == "next" || n == "prev" ||
             n == "pause" || n == "wait-input") {
    need(0);
  } else {
    fail("unknown command '" + n + "'");
  }
}

}  // namespace

const std::vector<std::string>& script_key_names() {
  static const std::vector<std::string> names = {"tab", "f", "o",     "home", "esc", "c", "p",
                                                 "v",   "h", "right", "left", "space", "n", "b", "g",
                                                 "k",   "t", "l", "pagedown", "pageup", "f2", "f11", "e", "x"};
  return names;
}

std::vector<ScriptCommand> parse_script(std::string_view text, const std::string& where) {
  std::vector<ScriptCommand> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream ss(line);
    ScriptCommand c;
    c.line = n;
    if (!(ss >> c.name)) continue;
    for (std::string w; ss >> w;) c.args.push_back(w);
    check(c, where + ":" + std::to_string(n));
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ScriptCommand> read_script(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::Io, "cannot read viewer script '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_script(ss.str(), path);
}

}  // namespace netlens::viz
