#include "picking.hpp"

#include <cmath>
#include <cstdio>

#include "receptive_field.hpp"

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
  p.value = s.value(p.layer, p.flat);
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

}  // namespace netlens::viz
