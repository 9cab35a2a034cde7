// Token labels along sequence axes (token_labels.hpp).
#include "netlens/viz/token_labels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "netlens/viz/camera.hpp"

namespace netlens::viz {

std::vector<TokenAxis> token_axes(const Layout& layout, size_t n_tokens) {
  std::vector<TokenAxis> out;
  if (n_tokens < 2) return out;
  const auto n = static_cast<int64_t>(n_tokens);
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    const LayerVolume& l = layout.layers[i];
    if (l.dims.grid) continue;  // a vector wrapped row-major: its rows are not positions
    const bool rows = l.dims.H == n;
    // [N, T, D] with D == T: D is features. Recurrent sheets ([T, dirs·hidden]) are rows only too.
    const bool sheet = l.tensor.shape.size() == 3 || l.tensor.op == "LSTM" || l.tensor.op == "GRU" || l.tensor.op == "RNN";
    const bool cols = l.dims.W == n && !(sheet && rows);
    if (rows) out.push_back({static_cast<int>(i), TokenAxisKind::Rows});
    if (cols) out.push_back({static_cast<int>(i), TokenAxisKind::Columns});
  }
  return out;
}

glm::vec3 token_anchor(const LayerVolume& l, TokenAxisKind kind, int64_t i, bool far) {
  if (kind == TokenAxisKind::Rows) {
    const float y = l.origin.y + l.size.y - (float(i) + 0.5f) * l.cell;
    return {l.origin.x, y, far ? l.origin.z + l.size.z : l.origin.z};
  }
  return {l.origin.x, l.origin.y + l.size.y, l.origin.z + (float(i) + 0.5f) * l.cell_z};
}

std::string token_label_text(const std::string& token) {
  std::string s;
  for (char c : token) {
    if (c == ' ') s += '_';
    else if (c == '\n') s += "\\n";
    else if (c == '\t') s += "\\t";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) s += '?';
    else s += c;
  }
  if (s.empty()) s = "''";
  if (s.size() > 12) s = s.substr(0, 11) + "~";
  return s;
}

namespace {
bool overlaps(const glm::vec4& a, const glm::vec4& b, glm::vec2 sp) {
  return a.x < b.x + b.z + sp.x && b.x < a.x + a.z + sp.x && a.y < b.y + b.w + sp.y && b.y < a.y + a.w + sp.y;
}
}  // namespace

std::vector<TokenLabel> place_token_labels(const Layout& layout, const std::vector<std::string>& tokens, const std::vector<int>& order,
                                           const glm::mat4& view_proj, int width, int height, const TextWidth& text_width,
                                           const TokenLabelStyle& style, const std::vector<glm::vec4>& reserved, glm::vec2 x_range,
                                           const std::function<bool(int)>& skip) {
  std::vector<TokenLabel> out;
  const auto axes = token_axes(layout, tokens.size());
  if (axes.empty()) return out;
  const float ui = style.ui, px = style.px * ui, pad = style.pad * ui, gap = style.gap * ui;
  const glm::vec2 sp = style.spacing * ui;
  std::vector<std::string> texts;
  std::vector<float> widths;
  for (const auto& t : tokens) {
    texts.push_back(token_label_text(t));
    widths.push_back(text_width(texts.back(), px) + 2.0f * pad);
  }
  const float h = px + pad;  // half a pad above and below: dense sheets' rows are barely taller than the text
  std::vector<glm::vec4> taken = reserved;
  std::vector<int> rank(layout.layers.size(), -1);
  for (size_t k = 0; k < order.size(); ++k)
    if (order[k] >= 0 && static_cast<size_t>(order[k]) < rank.size() && rank[static_cast<size_t>(order[k])] < 0)
      rank[static_cast<size_t>(order[k])] = static_cast<int>(k);
  std::vector<TokenAxis> sorted;
  for (const auto& a : axes)
    if (rank[static_cast<size_t>(a.layer)] >= 0 && !(skip && skip(a.layer))) sorted.push_back(a);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const TokenAxis& a, const TokenAxis& b) { return rank[static_cast<size_t>(a.layer)] < rank[static_cast<size_t>(b.layer)]; });
  // Screen bounding rectangle of a layer's box (all 8 corners in front of the camera), else none.
  auto box_rect = [&](const LayerVolume& l) -> std::optional<glm::vec4> {
    glm::vec2 lo(1e30f), hi(-1e30f);
    for (int c = 0; c < 8; ++c) {
      const glm::vec3 w = l.origin + l.size * glm::vec3(float(c & 1), float((c >> 1) & 1), float((c >> 2) & 1));
      const auto p = project_to_pixel(view_proj, w, width, height);
      if (!p) return std::nullopt;
      lo = glm::min(lo, *p), hi = glm::max(hi, *p);
    }
    return glm::vec4(lo, hi - lo);
  };
  int labelled = -1;  // the one layer labelled: the first in `order` with an axis that fits
  for (const TokenAxis& a : sorted) {
    if (labelled >= 0 && a.layer != labelled) break;
    const LayerVolume& l = layout.layers[static_cast<size_t>(a.layer)];
    // A layer's labels never cover a volume nearer to the camera (one earlier in `order`): the
    // labels of layers seen through the focused one would read as its own.
    std::vector<glm::vec4> nearer;
    for (int li : order) {
      if (li == a.layer) break;
      if (li < 0 || static_cast<size_t>(li) >= layout.layers.size() || (skip && skip(li))) continue;  // skipped: not drawn (cut away)
      if (const auto r = box_rect(layout.layers[static_cast<size_t>(li)])) nearer.push_back(*r);
    }
    // Anchors: rows at whichever end of the row (entry or exit face, z-min or z-max) is furthest
    // left on screen, or, when the labels do not fit there, furthest right (side 1: `below` means
    // "the other side"); columns at the top edge point (entry or exit face) highest on screen, or
    // at the bottom edge point lowest on screen.
    auto anchors_of = [&](bool below) {
      std::vector<glm::vec2> anchors;
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::optional<glm::vec2> best;
        for (int c = 0; c < 4; ++c) {
          glm::vec3 w = token_anchor(l, a.kind, static_cast<int64_t>(i), (c & 1) != 0);
          if (c & 2) w.x += l.size.x;
          if (below && a.kind == TokenAxisKind::Columns) w.y = l.origin.y;
          const auto p = project_to_pixel(view_proj, w, width, height);
          if (!p) return std::vector<glm::vec2>{};
          const bool better = best && (a.kind == TokenAxisKind::Rows ? (below ? p->x > best->x : p->x < best->x) : below ? p->y > best->y : p->y < best->y);
          if (!best || better) best = p;
        }
        anchors.push_back(*best);
      }
      return anchors;
    };
    // Columns whose labels are wider than the column pitch are staggered over up to 3 lines.
    const int max_levels = a.kind == TokenAxisKind::Columns ? 3 : 1;
    bool placed = false;
    for (int side = 0; side < 2 && !placed; ++side) {
      const bool below = side == 1;
      const std::vector<glm::vec2> anchors = anchors_of(below);
      if (anchors.size() != tokens.size()) continue;
      for (int levels = 1; levels <= max_levels && !placed; ++levels) {
        std::vector<TokenLabel> axis;
        bool ok = true;
        for (size_t i = 0; i < tokens.size() && ok; ++i) {
          const glm::vec2 p = anchors[i];
          const float w = widths[i];
          const float lift = float(static_cast<int>(i) % levels) * (h + sp.y);
          // Whole-pixel corners: small text on a fractional offset loses its thin vertical strokes.
          const glm::vec4 r = a.kind == TokenAxisKind::Rows ? (below ? glm::vec4(std::ceil(p.x + gap), std::round(p.y - 0.5f * h), w, h)
                                                                    : glm::vec4(std::floor(p.x - gap - w), std::round(p.y - 0.5f * h), w, h))
                              : below                        ? glm::vec4(std::round(p.x - 0.5f * w), std::round(p.y + gap + lift), w, h)
                                                             : glm::vec4(std::round(p.x - 0.5f * w), std::round(p.y - gap - h - lift), w, h);
          if (r.x < x_range.x || r.x + r.z > x_range.y || r.y < 0.0f || r.y + r.w > float(height)) ok = false;
          for (size_t k = 0; ok && k < taken.size(); ++k) ok = !overlaps(r, taken[k], sp);
          for (size_t k = 0; ok && k < nearer.size(); ++k) ok = !overlaps(r, nearer[k], glm::vec2(0.0f));
          for (size_t k = 0; ok && k < axis.size(); ++k) ok = !overlaps(r, axis[k].rect, sp);
          if (ok) axis.push_back({a.layer, a.kind, static_cast<int>(i), texts[i], r, p});
        }
        if (!ok) continue;
        for (auto& t : axis) taken.push_back(t.rect), out.push_back(std::move(t));
        placed = true;
        labelled = a.layer;
      }
    }
  }
  return out;
}

std::string token_labels_json(const std::vector<TokenLabel>& labels) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& t : labels)
    a.push_back({{"layer", t.layer}, {"axis", t.kind == TokenAxisKind::Rows ? "rows" : "columns"}, {"token", t.token},
                 {"text", t.text}, {"rect", {t.rect.x, t.rect.y, t.rect.z, t.rect.w}}});
  return a.dump();
}

}  // namespace netlens::viz
