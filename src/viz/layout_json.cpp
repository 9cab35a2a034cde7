#include "netlens/viz/layout_json.hpp"

#include <cstdio>

#include "netlens/viz/layout_edges.hpp"

namespace netlens::viz {

namespace {

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') { o += '\\'; o += ch; }
    else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else o += ch;
  }
  return o + "\"";
}

std::string num(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", double(v));
  return b;
}

}  // namespace

std::string layout_json(const Layout& l, const std::vector<std::string>& groups, const std::vector<LayerLabel>& labels) {
  std::string o = "{\"layers\": [";
  for (size_t i = 0; i < l.layers.size(); ++i) {
    const auto& v = l.layers[i];
    const std::string g = i < groups.size() && !groups[i].empty() ? groups[i] : v.tensor.group;
    glm::vec3 c = v.center();
    o += std::string(i ? ",\n  " : "\n  ") + "{\"tensor\": " + quote(v.tensor.name) + ", \"group\": " + quote(g) +
         ", \"op\": " + quote(v.tensor.op) + ", \"center\": [" + num(c.x) + ", " + num(c.y) + ", " + num(c.z) +
         "], \"size\": [" + num(v.size.x) + ", " + num(v.size.y) + ", " + num(v.size.z) +
         "], \"level\": " + std::to_string(v.level) + ", \"row\": " + std::to_string(v.row) +
         ", \"lane\": " + std::to_string(v.lane) + ", \"dir\": " + std::to_string(v.dir) +
         ", \"spine\": " + (v.spine ? "true" : "false") + ", \"folded\": " + std::to_string(v.tensor.folded) + "}";
  }
  o += "],\n\"edges\": [";
  const auto edges = route_edges(l);
  for (size_t i = 0; i < edges.size(); ++i) {
    const auto& e = edges[i];
    const char* k = e.kind == EdgeKind::Flow ? "flow" : e.kind == EdgeKind::Arc ? "arc" : "bridge";
    o += std::string(i ? ",\n  " : "\n  ") + "{\"from\": " + std::to_string(e.from) + ", \"to\": " + std::to_string(e.to) +
         ", \"kind\": \"" + k + "\", \"length\": " + num(e.length()) + "}";
  }
  o += "],\n\"labels\": [";
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& b = labels[i];
    o += std::string(i ? ",\n  " : "\n  ") + "{\"text\": " + quote(b.title) + ", \"detail\": " + quote(b.detail) +
         ", \"layer\": " + std::to_string(b.layer) + ", \"rect\": [" + num(b.rect.x) + ", " + num(b.rect.y) + ", " +
         num(b.rect.z) + ", " + num(b.rect.w) + "]}";
  }
  o += "],\n\"rows\": " + std::to_string(l.rows) + ", \"u_shape\": " + (l.u_shape ? "true" : "false") + "}\n";
  return o;
}

}  // namespace netlens::viz
