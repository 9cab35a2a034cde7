#include "netlens/viz/picking.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "netlens/viz/receptive_field.hpp"

namespace netlens::viz {

std::optional<PickResult> decode_pick(const Scene& s, uint32_t id_x, uint32_t id_y) {
  if (id_x == 0 || id_x > s.layout.layers.size()) return std::nullopt;
  PickResult p;
  p.layer = static_cast<int>(id_x - 1);
  const LayerVolume& l = s.layout.layers[static_cast<size_t>(p.layer)];
  if (static_cast<int64_t>(id_y) >= l.dims.count) return std::nullopt;
  p.tensor = l.tensor.name;
  p.flat = id_y;
  p.cell = cell_of(l.dims, p.flat);
  p.index = tensor_index(l, p.flat);
  p.value = s.has_values(p.layer) ? s.value(p.layer, p.flat) : std::numeric_limits<float>::quiet_NaN();
  return p;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else o += c;
  }
  return o;
}

std::string pick_to_json(const std::optional<PickResult>& p, const Scene& s) {
  if (!p) return "null";
  const LayerVolume& l = s.layout.layers[static_cast<size_t>(p->layer)];
  std::string v;
  if (std::isfinite(p->value)) {
    char b[32];
    std::snprintf(b, sizeof b, "%.9g", double(p->value));
    v = b;
  } else {
    v = std::isnan(p->value) ? "\"nan\"" : (p->value > 0 ? "\"inf\"" : "\"-inf\"");
  }
  std::string idx;
  for (size_t i = 0; i < p->index.size(); ++i) idx += (i ? ", " : "") + std::to_string(p->index[i]);
  return "{\"tensor\": \"" + json_escape(p->tensor) + "\", \"op\": \"" + json_escape(l.tensor.op) +
         "\", \"index\": [" + std::to_string(p->cell.c) + ", " + std::to_string(p->cell.y) + ", " +
         std::to_string(p->cell.x) + "], \"tensor_index\": [" + idx + "], \"value\": " + v + "}";
}

int parse_flag_int(const std::string& s, const std::string& flag) {
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

std::pair<int, int64_t> parse_neuron(const Layout& l, const std::string& text, const std::string& flag) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw Error(ErrorKind::Usage, flag + " expects TENSOR:INDEX, TENSOR:c,y,x or TENSOR:[c, y, x], got '" + text + "'");
  std::string name = text.substr(0, colon), idx;
  // Accept exactly what --pick prints ("index": [c, y, x]) as well as c,y,x: brackets and spaces go.
  for (char ch : text.substr(colon + 1))
    if (ch != ' ' && ch != '\t') idx += ch;
  if (idx.size() >= 2 && idx.front() == '[' && idx.back() == ']') idx = idx.substr(1, idx.size() - 2);
  int layer = l.find(name);
  if (layer < 0) throw Error(ErrorKind::Usage, flag + ": no shown tensor named '" + name + "'");
  const auto& d = l.layers[static_cast<size_t>(layer)].dims;
  std::vector<int64_t> parts;
  std::stringstream ss(idx);
  std::string p;
  while (std::getline(ss, p, ',')) parts.push_back(parse_flag_int(p, flag));
  int64_t flat = -1;
  if (parts.size() == 1) flat = parts[0];
  else if (parts.size() == 3 && parts[0] >= 0 && parts[0] < d.C && parts[1] >= 0 && parts[1] < d.H && parts[2] >= 0 &&
           parts[2] < d.W)
    flat = flat_of(d, parts[0], parts[1], parts[2]);
  if (flat < 0 || flat >= d.count)
    throw Error(ErrorKind::Usage, flag + ": index '" + idx + "' is out of range for '" + name + "' (" +
                                      std::to_string(d.C) + "x" + std::to_string(d.H) + "x" + std::to_string(d.W) + ")");
  return {layer, flat};
}

}  // namespace netlens::viz
