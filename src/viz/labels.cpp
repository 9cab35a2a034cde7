#include "netlens/viz/labels.hpp"

#include <algorithm>
#include <cctype>

#include "netlens/viz/camera.hpp"
#include "netlens/viz/open_layer.hpp"

namespace netlens::viz {

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> parts;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find('/', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) parts.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return parts;
}

std::string strip_noise(std::string s) {
  // ONNX exporters' and Paddle's suffixes: they say nothing to a reader.
  for (const char* suf : {"_output_cast_0", "_output_0", ".tmp_0", ".tmp_1", ".tmp_2", ".tmp_3", ".tmp_4"})
    if (ends_with(s, suf)) { s.resize(s.size() - std::string(suf).size()); break; }
  return s;
}

bool numeric(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string shorten_path(const std::string& s) {
  auto parts = split_path(s);
  // A container repeated in the next part says nothing ("features/features.4", "branch4/branch4.1").
  for (size_t i = 0; i + 1 < parts.size();)
    if (parts[i + 1].rfind(parts[i], 0) == 0) parts.erase(parts.begin() + static_cast<long>(i));
    else ++i;
  // The innermost three say which block and which op ("denselayer1/conv2/Conv", "layer1.0/conv2/Conv").
  if (parts.size() > 3) parts.erase(parts.begin(), parts.end() - 3);
  std::string out;
  for (auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out.empty() ? s : out;
}

std::string ellipsize(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

}  // namespace

std::string display_name(const VizTensor& t, size_t max_chars) {
  if (!t.group.empty()) {
    auto parts = split_path(t.group);
    std::string s = parts.back();
    if (parts.size() >= 2 && s.rfind(parts[parts.size() - 2], 0) != 0) s = parts[parts.size() - 2] + "/" + s;
    return ellipsize(s, max_chars);
  }
  std::string s = strip_noise(t.name);
  // A bare number ("1892"), or a tensor named after its node with the output suffix: the node says more.
  if ((numeric(s) || s.find('/') == std::string::npos) && !t.node.empty() && t.node.find('/') != std::string::npos)
    s = strip_noise(t.node);
  else if (numeric(s) && !t.node.empty())
    s = t.node;
  return ellipsize(shorten_path(s), max_chars);
}

std::string detail_line(const VizTensor& t) {
  const Shape& s = t.shape;
  std::string dims;
  for (size_t i = (s.size() >= 2 && s[0] == 1) ? 1 : 0; i < s.size(); ++i) dims += (dims.empty() ? "" : "x") + std::to_string(s[i]);
  if (dims.empty()) dims = "scalar";
  if (t.folded > 0) return std::to_string(t.folded) + " layers  " + dims;
  return t.op + "  " + dims;
}

std::vector<PlacedLabel> place_labels(const std::vector<LabelCandidate>& c, const std::vector<glm::vec4>& reserved,
                                      glm::vec4 vp, glm::vec2 spacing, float tick) {
  std::vector<int> order(c.size());
  for (size_t i = 0; i < c.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return c[static_cast<size_t>(a)].priority > c[static_cast<size_t>(b)].priority;
  });
  std::vector<glm::vec4> taken = reserved;  // x, y, w, h
  std::vector<PlacedLabel> out;
  auto clashes = [&](glm::vec4 r) {
    if (r.x < vp.x || r.y < vp.y || r.x + r.z > vp.z || r.y + r.w > vp.w) return true;
    for (const auto& q : taken)
      if (r.x < q.x + q.z + spacing.x && r.x + r.z + spacing.x > q.x && r.y < q.y + q.w + spacing.y && r.y + r.w + spacing.y > q.y)
        return true;
    return false;
  };
  for (int i : order) {
    const auto& k = c[static_cast<size_t>(i)];
    const float w = k.size.x, h = k.size.y;
    if (k.anchor.x < vp.x || k.anchor.x > vp.z || k.anchor.y < vp.y || k.anchor.y > vp.w + h) continue;
    const float y = k.anchor.y - h - tick;
    // Only beside the anchor: a label lifted over another one floats far from its volume (looked
    // at on ResNet-50: a second tier of labels read as clutter), so it is left out instead.
    const glm::vec4 tries[3] = {{k.anchor.x - 0.5f * w, y, w, h},
                                {k.anchor.x - 0.9f * w, y, w, h},
                                {k.anchor.x - 0.1f * w, y, w, h}};
    for (auto r : tries) {
      // Volumes at the picture's edge keep a readable label: clamp into the viewport first.
      r.x = std::clamp(r.x, vp.x + 4.0f, std::max(vp.x + 4.0f, vp.z - w - 4.0f));
      if (clashes(r)) continue;
      taken.push_back(r);
      out.push_back({i, r});
      break;
    }
  }
  return out;
}

glm::vec4 open_grid_rect(const Layout& layout, const OpenLabels& open, const glm::mat4& vp, int width, int height) {
  if (open.layer < 0 || static_cast<size_t>(open.layer) >= layout.layers.size() || !(open.t > 0.0f)) return glm::vec4(0.0f);
  const TileBox b = open_layer_bounds(layout.layers[static_cast<size_t>(open.layer)], open.t);
  glm::vec2 lo(1e30f), hi(-1e30f);
  for (int k = 0; k < 8; ++k) {
    const glm::vec3 p = b.origin + b.size * glm::vec3(k & 1 ? 1.0f : 0.0f, k & 2 ? 1.0f : 0.0f, k & 4 ? 1.0f : 0.0f);
    const glm::vec4 c = vp * glm::vec4(p, 1.0f);
    if (c.w <= 1e-6f) return glm::vec4(0.0f);  // behind the eye: no usable rectangle
    const glm::vec2 s((c.x / c.w * 0.5f + 0.5f) * float(width), (c.y / c.w * 0.5f + 0.5f) * float(height));
    lo = glm::min(lo, s);
    hi = glm::max(hi, s);
  }
  lo = glm::max(lo, glm::vec2(0.0f));
  hi = glm::min(hi, glm::vec2(float(width), float(height)));
  if (hi.x <= lo.x || hi.y <= lo.y) return glm::vec4(0.0f);
  return {lo.x, lo.y, hi.x - lo.x, hi.y - lo.y};
}

std::vector<LayerLabel> place_layer_labels(const Layout& layout, const std::vector<int>& order, const glm::mat4& vp,
                                           int width, int height, const TextWidth& text_width, const LabelStyle& st,
                                           const std::vector<glm::vec4>& reserved_in, glm::vec2 x_range,
                                           const std::function<bool(int)>& skip, const OpenLabels& open) {
  const float ui = st.ui, p1 = st.title_px * ui, p2 = st.detail_px * ui, pad = st.pad * ui;
  std::vector<LabelCandidate> cand;
  std::vector<LayerLabel> info;
  std::vector<glm::vec4> reserved = reserved_in;
  std::vector<LayerLabel> out;
  const glm::vec4 grid = open_grid_rect(layout, open, vp, width, height);
  float grid_depth = 0.0f;
  if (grid.z > 0.0f) {
    // The open layer's own label first, on the grid's top edge; then the grid is kept free.
    const auto& v = layout.layers[static_cast<size_t>(open.layer)];
    const TileBox b = open_layer_bounds(v, open.t);
    grid_depth = (vp * glm::vec4(b.origin + 0.5f * b.size, 1.0f)).w;
    LayerLabel l;
    l.layer = open.layer;
    l.title = display_name(v.tensor);
    l.detail = detail_line(v.tensor);
    const float w = std::max(text_width(l.title, p1), text_width(l.detail, p2)) + 2 * pad;
    const float h = p1 + p2 + 2.2f * pad;
    const float above = grid.y - st.tick * ui;
    l.anchor = {grid.x + 0.5f * grid.z, above - h >= 0.0f ? grid.y : grid.y + h + st.tick * ui + 4.0f * ui};
    const auto pl = place_labels({{l.anchor, {w, h}, 1.0f}}, reserved, {x_range.x, 0.0f, x_range.y, float(height)},
                                 st.spacing * ui, st.tick * ui);
    if (!pl.empty()) {
      l.rect = pl.front().rect;
      reserved.push_back(l.rect);
      out.push_back(l);
    }
    reserved.push_back(grid);
  }
  const float n = float(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const int li = order[k];
    if (li < 0 || static_cast<size_t>(li) >= layout.layers.size()) continue;
    if (skip && skip(li)) continue;
    if (grid.z > 0.0f && li == open.layer) continue;  // placed above
    const auto& v = layout.layers[static_cast<size_t>(li)];
    glm::vec3 a(v.center().x, v.max().y + 0.04f * v.size.y + 0.5f, v.center().z);
    auto p = project_to_pixel(vp, a, width, height);
    if (!p) continue;
    if (grid.z > 0.0f && p->x >= grid.x && p->x <= grid.x + grid.z && p->y >= grid.y && p->y <= grid.y + grid.w &&
        (vp * glm::vec4(v.center(), 1.0f)).w > grid_depth)
      continue;  // behind the tiles
    LayerLabel l;
    l.layer = li;
    l.title = display_name(v.tensor);
    l.detail = detail_line(v.tensor);
    l.anchor = *p;
    const float w = std::max(text_width(l.title, p1), text_width(l.detail, p2)) + 2 * pad;
    const float h = p1 + p2 + 2.2f * pad;
    // The caller's order first (nearest first); collapsed groups and the spine ahead of branches.
    float pr = (n - float(k)) / std::max(1.0f, n);
    if (v.tensor.folded > 0) pr += 2.0f;
    if (v.spine) pr += 1.0f;
    cand.push_back({*p, {w, h}, pr});
    info.push_back(l);
  }
  auto placed = place_labels(cand, reserved, {x_range.x, 0.0f, x_range.y, float(height)}, st.spacing * ui, st.tick * ui);
  std::sort(placed.begin(), placed.end(), [](const PlacedLabel& a, const PlacedLabel& b) { return a.candidate < b.candidate; });
  for (const auto& pl : placed) {
    LayerLabel l = info[static_cast<size_t>(pl.candidate)];
    l.rect = pl.rect;
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace netlens::viz
