// The Renderer's overlay geometry (see renderer_impl.hpp): screen-space text and panels (layer labels
// placed nearest first without overlaps, title, legend, selected-neuron panel) and world-space lines
// (connection bundles, receptive-field wireframes and cones, fan-out). Plain functions of the scene,
// the options and the selection: no Vulkan object is touched here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "netlens/viz/camera.hpp"
#include "netlens/render/font.hpp"
#include "netlens/viz/labels.hpp"
#include "netlens/viz/layout_edges.hpp"
#include "renderer_impl.hpp"
#include "netlens/viz/token_labels.hpp"

namespace netlens::render {

namespace {

// Text quads in screen pixels: `px` is the em size, `baseline` the y of the baseline.
void add_text(std::vector<gpu::TextVertex>& text, float x, float baseline, float px, const std::string& s, glm::vec4 c) {
  const FontAtlas& fa = font_atlas();
  const float k = px / fa.em_px;
  for (char ch : s) {
    const FontGlyph& g = fa.glyph(ch);
    float w = float(g.x1 - g.x0) * k, h = float(g.y1 - g.y0) * k;
    if (w > 0 && h > 0) {
      float x0 = x + float(g.xoff) * k, y0 = baseline + float(g.yoff) * k;
      float u0 = float(g.x0) / float(fa.width), v0 = float(g.y0) / float(fa.height);
      float u1 = float(g.x1) / float(fa.width), v1 = float(g.y1) / float(fa.height);
      gpu::TextVertex q[4] = {{{x0, y0}, {u0, v0}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}},
                              {{x0 + w, y0}, {u1, v0}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}},
                              {{x0 + w, y0 + h}, {u1, v1}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}},
                              {{x0, y0 + h}, {u0, v1}, {c.r, c.g, c.b, c.a}, {0, 0, 0, 0}}};
      for (int i : {0, 1, 2, 0, 2, 3}) text.push_back(q[i]);
    }
    x += g.advance * k;
  }
}

// A rounded rectangle of radius r (text.frag mode 1).
void add_panel(std::vector<gpu::TextVertex>& text, float x, float y, float w, float h, float r, glm::vec4 c) {
  gpu::TextVertex q[4] = {{{x, y}, {0, 0}, {c.r, c.g, c.b, c.a}, {1, w, h, r}},
                          {{x + w, y}, {1, 0}, {c.r, c.g, c.b, c.a}, {1, w, h, r}},
                          {{x + w, y + h}, {1, 1}, {c.r, c.g, c.b, c.a}, {1, w, h, r}},
                          {{x, y + h}, {0, 1}, {c.r, c.g, c.b, c.a}, {1, w, h, r}}};
  for (int i : {0, 1, 2, 0, 2, 3}) text.push_back(q[i]);
}

// A colour-map bar (text.frag modes 2 and 3: sequential, diverging).
void add_bar(std::vector<gpu::TextVertex>& text, float x, float y, float w, float h, bool diverging) {
  float m = diverging ? 3.0f : 2.0f;
  gpu::TextVertex q[4] = {{{x, y}, {0, 0}, {1, 1, 1, 1}, {m, 0, 0, 0}},
                          {{x + w, y}, {1, 0}, {1, 1, 1, 1}, {m, 0, 0, 0}},
                          {{x + w, y + h}, {1, 1}, {1, 1, 1, 1}, {m, 0, 0, 0}},
                          {{x, y + h}, {0, 1}, {1, 1, 1, 1}, {m, 0, 0, 0}}};
  for (int i : {0, 1, 2, 0, 2, 3}) text.push_back(q[i]);
}

std::string ellipsize(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }
// Exported tensor names are often paths ("/features/features.1/conv/conv.0/Conv_output_0"): keep
// the block and the last parts, which say where in the model and what op, and drop "_output_0".
std::string short_name(std::string s) {
  const std::string suffix = "_output_0";
  if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.resize(s.size() - suffix.size());
  std::vector<std::string> parts;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find('/', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) parts.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  // The first part is usually a container repeated in the second ("features/features.4").
  if (parts.size() >= 3) parts.erase(parts.begin());
  std::string out;
  if (parts.size() <= 3) {
    for (auto& p : parts) out += (out.empty() ? "" : "/") + p;
  } else {
    out = parts.front() + "/../" + parts[parts.size() - 2] + "/" + parts.back();
  }
  return out.empty() ? s : out;
}
}  // namespace

void build_labels(std::vector<gpu::TextVertex>& text, const viz::Scene& scene, const RenderOptions& opts,
                  const Selection& selection, const glm::mat4& vp, const viz::Camera& cam,
                  const std::vector<int>& order, const viz::OpenLabels& open) {
  const float W = float(opts.width), H = float(opts.height);
  const float ui = std::clamp(H / 1000.0f, 0.6f, 4.0f);
  const FontAtlas& fa = font_atlas();
  // Side panels drawn over the frame (RenderOptions::inset_*): 2D overlays live between them.
  const float L0 = float(std::max(opts.inset_left, 0)), R0 = W - float(std::max(opts.inset_right, 0));
  // Per-layer bars (RenderOptions::layer_bars): a labelled layer's bar runs along the foot of its
  // label (width = the figure, over a dark track); every other layer gets a bar standing on its
  // volume (height = the figure), drawn before the labels so that labels stay readable over them.
  auto bar_of = [&](size_t i) {
    const float v = i < opts.layer_bars.size() ? opts.layer_bars[i] : std::nanf("");
    return std::isfinite(v) ? std::optional<float>(std::clamp(v, 0.0f, 1.0f)) : std::nullopt;
  };
  const glm::vec4 warn(kBarWarnColour[0], kBarWarnColour[1], kBarWarnColour[2], kBarWarnColour[3]);
  const glm::vec4 warn_track(0.55f * warn.r, 0.55f * warn.g, 0.55f * warn.b, 0.95f);
  auto warned = [&](size_t i) { return i < opts.layer_bar_warn.size() && opts.layer_bar_warn[i] != 0; };
  auto standing_bars = [&](const std::vector<bool>& labelled) {
    const float bw = 7.0f * ui, bh = 46.0f * ui;
    for (size_t i = 0; i < scene.layout.layers.size(); ++i) {
      const auto f = bar_of(i);
      if (!f || (i < labelled.size() && labelled[i])) continue;
      const auto& l = scene.layout.layers[i];
      const auto p = viz::project_to_pixel(vp, glm::vec3(l.center().x, l.max().y, l.center().z), opts.width, opts.height);
      if (!p || p->x < L0 || p->x > R0 || p->y < bh || p->y > H) continue;
      const float x = p->x - 0.5f * bw, y = p->y - bh - 3.0f * ui;
      add_panel(text, x - 1.5f * ui, y - 1.5f * ui, bw + 3.0f * ui, bh + 3.0f * ui, 2.0f * ui,
                warned(i) ? warn_track : glm::vec4(0.05f, 0.06f, 0.08f, 0.85f));
      if (*f > 0) add_panel(text, x, y + bh * (1.0f - *f), bw, bh * *f, 1.0f * ui, warned(i) ? warn : glm::vec4(1.0f, 0.62f, 0.18f, 1.0f));
    }
  };
  if (!opts.labels && !opts.layer_bars.empty()) standing_bars({});
  if (opts.labels) {
    const float p1 = 17.0f * ui, p2 = 14.0f * ui, pad = 7.0f * ui;
    std::vector<glm::vec4> placed;  // x0, y0, x1, y1
    // Reserve the title, legend and selection panels so labels never cover them.
    if (!opts.title.empty()) placed.emplace_back(L0, 0.0f, L0 + 560.0f * ui, 90.0f * ui);
    if (opts.legend) placed.emplace_back(L0, H - 260.0f * ui, L0 + 360.0f * ui, H);
    if (selection.layer >= 0) placed.emplace_back(R0 - 520.0f * ui, 0.0f, R0, 100.0f * ui);
    // Placement and names from viz (labels.hpp): the same boxes `render --layout-json` writes.
    viz::LabelStyle st;
    st.ui = ui;
    std::vector<glm::vec4> reserved;  // x, y, w, h
    for (const auto& r : placed) reserved.emplace_back(r.x, r.y, r.z - r.x, r.w - r.y);
    const auto labels = viz::place_layer_labels(
        scene.layout, order, vp, opts.width, opts.height, [&](const std::string& t, float px) { return fa.text_width(t, px); }, st,
        reserved, {L0, R0}, [&](int li) { return cam.cut && scene.layout.layers[static_cast<size_t>(li)].max().x < cam.cut_x; }, open);
    if (!opts.layer_bars.empty()) {
      std::vector<bool> labelled(scene.layout.layers.size(), false);
      for (const auto& lb : labels)
        if (lb.layer >= 0 && static_cast<size_t>(lb.layer) < labelled.size()) labelled[static_cast<size_t>(lb.layer)] = true;
      standing_bars(labelled);
    }
    for (const auto& lb : labels) {
      const float x0 = lb.rect.x, y0 = lb.rect.y, w = lb.rect.z, h = lb.rect.w;
      add_panel(text, x0, y0, w, h, 6.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.78f));
      if (const auto f = lb.layer >= 0 ? bar_of(static_cast<size_t>(lb.layer)) : std::nullopt) {
        const float bh = 5.0f * ui;
        const bool wl = warned(static_cast<size_t>(lb.layer));
        add_panel(text, x0, y0 + h - bh, w, bh, 1.0f * ui, wl ? warn_track : glm::vec4(0.02f, 0.02f, 0.03f, 0.9f));
        if (*f > 0) add_panel(text, x0, y0 + h - bh, w * *f, bh, 1.0f * ui, wl ? warn : glm::vec4(1.0f, 0.62f, 0.18f, 1.0f));
      } else {
        add_panel(text, x0, y0 + h - 2.0f * ui, w, 2.0f * ui, 1.0f * ui, glm::vec4(0.35f, 0.75f, 1.0f, 0.55f));
      }
      add_text(text, x0 + pad, y0 + pad + 0.8f * p1, p1, lb.title, glm::vec4(0.95f, 0.96f, 0.98f, 1.0f));
      add_text(text, x0 + pad, y0 + pad + p1 + 0.9f * p2 + 0.2f * pad, p2, lb.detail, glm::vec4(0.62f, 0.70f, 0.80f, 1.0f));
      // A small tick from the label down to the volume.
      add_panel(text, lb.anchor.x - 0.75f * ui, y0 + h, 1.5f * ui, std::max(0.0f, lb.anchor.y - y0 - h), 0.5f,
                glm::vec4(0.35f, 0.75f, 1.0f, 0.55f));
    }
    if (!opts.tokens.empty()) {
      // Token labels along sequence axes (viz/token_labels.hpp): kept off the layer labels, the
      // title and legend; an axis is labelled only where all its tokens fit.
      for (const auto& lb : labels) reserved.push_back(lb.rect);
      if (open.layer >= 0 && open.t > 0.0f)
        if (const glm::vec4 g = viz::open_grid_rect(scene.layout, open, vp, opts.width, opts.height); g.z > 0.0f) reserved.push_back(g);
      viz::TokenLabelStyle ts;
      ts.ui = ui;
      const auto toks = viz::place_token_labels(
          scene.layout, opts.tokens, order, vp, opts.width, opts.height, [&](const std::string& t, float px) { return fa.text_width(t, px); },
          ts, reserved, {L0, R0}, [&](int li) { return cam.cut && scene.layout.layers[static_cast<size_t>(li)].max().x < cam.cut_x; });
      const float tp = ts.px * ui, tpad = ts.pad * ui;
      for (const auto& t : toks) {
        add_panel(text, t.rect.x, t.rect.y, t.rect.z, t.rect.w, 3.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.72f));
        add_text(text, t.rect.x + tpad, t.rect.y + 0.5f * tpad + 0.8f * tp, tp, t.text, glm::vec4(0.98f, 0.90f, 0.62f, 1.0f));
      }
    }
  }
  if (std::any_of(opts.layer_bar_warn.begin(), opts.layer_bar_warn.end(), [](uint8_t w) { return w != 0; })) {
    // The warning colour's legend entry, bottom right (the per-layer legend is bottom left).
    const float p = 14.0f * ui, sw = 12.0f * ui, pad = 8.0f * ui;
    const float tw = fa.text_width(opts.bar_warn_note, p);
    const float pw = sw + tw + 3.0f * pad, ph = p + 2.0f * pad;
    const float x = R0 - pw - 20.0f * ui, y = H - ph - 20.0f * ui;
    add_panel(text, x, y, pw, ph, 6.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.8f));
    add_panel(text, x + pad, y + 0.5f * (ph - sw), sw, sw, 2.0f * ui, warn);
    add_text(text, x + 2.0f * pad + sw, y + pad + 0.8f * p, p, opts.bar_warn_note, glm::vec4(0.9f, 0.92f, 0.96f, 1.0f));
  }
  if (!opts.title.empty()) {
    float p = 26.0f * ui;
    add_text(text, L0 + 24.0f * ui, 24.0f * ui + p, p, opts.title, glm::vec4(0.96f, 0.97f, 1.0f, 1.0f));
    std::string sub = !opts.subtitle.empty() ? opts.subtitle
                                             : std::to_string(scene.layout.layers.size()) + " layers, " +
                                                   std::to_string(scene.neurons()) + " activations";
    add_text(text, L0 + 24.0f * ui, 24.0f * ui + p + 22.0f * ui, 15.0f * ui, sub, glm::vec4(0.6f, 0.68f, 0.78f, 1.0f));
  }
  if (opts.legend && !opts.scale_note.empty()) {
    // One scale shared by every layer: its range, the name of the values and what non-finite means.
    const float p = 13.0f * ui, bw = 260.0f * ui, bh = 12.0f * ui, pad = 12.0f * ui;
    const float pw = bw + 2 * pad, ph = 3 * pad + 4.6f * p + bh + 1.6f * p;
    const float x = L0 + 20.0f * ui, y = H - ph - 20.0f * ui;
    add_panel(text, x, y, pw, ph, 8.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.8f));
    const glm::vec4 tc(0.9f, 0.92f, 0.96f, 1.0f), dim(0.6f, 0.65f, 0.72f, 1.0f);
    float cy = y + pad;
    add_text(text, x + pad, cy + 1.2f * p, 1.2f * p, opts.value_name, tc);
    cy += 1.9f * p;
    add_bar(text, x + pad, cy, bw, bh, opts.scale_diverging);
    const std::string lo = viz::format_value(opts.scale_lo), hi = viz::format_value(opts.scale_hi);
    add_text(text, x + pad, cy + bh + 1.1f * p, 0.95f * p, lo, dim);
    add_text(text, x + pad + bw - fa.text_width(hi, 0.95f * p), cy + bh + 1.1f * p, 0.95f * p, hi, dim);
    cy += bh + 1.8f * p;
    const float s = bh * 1.2f;
    glm::vec3 z = viz::zero_color(opts.scale_diverging ? viz::ColorMapKind::Diverging : viz::ColorMapKind::Sequential),
              nf = viz::non_finite_color();
    add_panel(text, x + pad, cy, s, s, 2.0f * ui, glm::vec4(z, 1.0f));
    add_text(text, x + pad + s + 5.0f * ui, cy + s * 0.95f, 0.9f * p, "= 0", dim);
    const float x2 = x + pad + s + 5.0f * ui + fa.text_width("= 0", 0.9f * p) + 14.0f * ui;
    add_panel(text, x2, cy, s, s, 2.0f * ui, glm::vec4(nf, 1.0f));
    add_text(text, x2 + s + 5.0f * ui, cy + s * 0.95f, 0.9f * p, "no value", dim);
    add_text(text, x + pad, y + ph - pad * 0.7f, 0.85f * p, opts.scale_note, dim);
  } else if (opts.legend) {
    const float p = 13.0f * ui, bw = 200.0f * ui, bh = 10.0f * ui, pad = 12.0f * ui;
    const float pw = bw + 2 * pad + 90.0f * ui, ph = 4 * pad + 2 * (bh + 2.2f * p) + p + 1.8f * p;
    float x = L0 + 20.0f * ui, y = H - ph - 20.0f * ui;
    add_panel(text, x, y, pw, ph, 8.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.8f));
    float cy = y + pad;
    glm::vec4 tc(0.78f, 0.82f, 0.88f, 1.0f), dim(0.55f, 0.6f, 0.68f, 1.0f);
    add_text(text, x + pad, cy + p, p, opts.value_name + " >= 0", tc);
    cy += 1.3f * p;
    add_bar(text, x + pad, cy, bw, bh, false);
    add_text(text, x + pad, cy + bh + 1.1f * p, 0.9f * p, "0", dim);
    add_text(text, x + pad + bw - fa.text_width("p99", 0.9f * p), cy + bh + 1.1f * p, 0.9f * p, "p99", dim);
    cy += bh + 1.6f * p + pad * 0.5f;
    add_text(text, x + pad, cy + p, p, opts.value_name == "activation" ? std::string("signed") : "signed " + opts.value_name, tc);
    cy += 1.3f * p;
    add_bar(text, x + pad, cy, bw, bh, true);
    add_text(text, x + pad, cy + bh + 1.1f * p, 0.9f * p, "-p99", dim);
    add_text(text, x + pad + 0.5f * bw - fa.text_width("0", 0.9f * p) * 0.5f, cy + bh + 1.1f * p, 0.9f * p, "0", dim);
    add_text(text, x + pad + bw - fa.text_width("+p99", 0.9f * p), cy + bh + 1.1f * p, 0.9f * p, "+p99", dim);
    // Special values.
    float sx = x + pad + bw + 16.0f * ui, sy = y + pad + 1.3f * p;
    glm::vec3 z = viz::zero_color(viz::ColorMapKind::Sequential), nf = viz::non_finite_color();
    add_panel(text, sx, sy, bh * 1.4f, bh * 1.4f, 2.0f * ui, glm::vec4(z, 1.0f));
    add_text(text, sx + bh * 1.4f + 6.0f * ui, sy + bh * 1.3f, 0.9f * p, "= 0", dim);
    sy += 2.6f * p;
    add_panel(text, sx, sy, bh * 1.4f, bh * 1.4f, 2.0f * ui, glm::vec4(nf, 1.0f));
    add_text(text, sx + bh * 1.4f + 6.0f * ui, sy + bh * 1.3f, 0.9f * p, "NaN/Inf", dim);
    // Selection highlight colours (the tints of shaders/shared/common.glsl apply_highlight).
    {
      float ky = cy + bh + 1.6f * p + pad * 0.5f + 0.2f * p, kx = x + pad, s = bh * 1.4f;
      const std::pair<glm::vec3, const char*> keys[] = {{glm::vec3(1.0f), "selected"},
                                                        {glm::vec3(0.30f, 0.95f, 1.0f), "receptive field"},
                                                        {glm::vec3(1.0f, 0.55f, 0.10f), "fan-out"}};
      for (const auto& [col, name] : keys) {
        add_panel(text, kx, ky, s, s, 2.0f * ui, glm::vec4(col, 1.0f));
        add_text(text, kx + s + 5.0f * ui, ky + s * 0.95f, 0.9f * p, name, dim);
        kx += s + 5.0f * ui + fa.text_width(name, 0.9f * p) + 12.0f * ui;
      }
    }
    add_text(text, x + pad, y + ph - pad * 0.6f, 0.85f * p, "per-layer robust scale (p1-p99)", dim);
  }
  if (opts.labels && selection.layer >= 0 && selection.layer < static_cast<int>(scene.layout.layers.size())) {
    const auto& v = scene.layout.layers[static_cast<size_t>(selection.layer)];
    auto c = viz::cell_of(v.dims, selection.flat);
    std::string l1 = ellipsize(short_name(v.tensor.name), 40) + " [" + std::to_string(c.c) + ", " + std::to_string(c.y) + ", " +
                     std::to_string(c.x) + "]";
    // A layer without host values is one a progressive or cancelled run has not computed (a
    // zero-copy owner keeps the selected layer's): it says so instead of "value nan".
    std::string l2 = "not computed";
    if (scene.has_values(selection.layer)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "value %.6g", double(scene.value(selection.layer, selection.flat)));
      l2 = buf;
    }
    std::string l3;  // the fan-out, when there is one
    if (!selection.fanout_count.empty()) {
      const auto& [fl, fn] = selection.fanout_count.front();
      l3 = "fan-out " + (fn >= 0 ? std::to_string(fn) : std::string("<box>")) + " in " +
           ellipsize(short_name(scene.layout.layers[static_cast<size_t>(fl)].tensor.name), 28);
      if (selection.fanout_count.size() > 1) l3 += " +" + std::to_string(selection.fanout_count.size() - 1) + " layers";
    }
    const float p = 16.0f * ui, pad = 10.0f * ui;
    float w = std::max({fa.text_width(l1, p), fa.text_width(l2, p), fa.text_width(l3, p)}) + 2 * pad,
          h = (l3.empty() ? 2.4f : 3.6f) * p + 2 * pad;
    float x = R0 - w - 20.0f * ui, y = 20.0f * ui;
    add_panel(text, x, y, w, h, 8.0f * ui, glm::vec4(0.07f, 0.08f, 0.11f, 0.85f));
    add_panel(text, x, y, 3.0f * ui, h, 1.5f * ui, glm::vec4(0.30f, 0.95f, 1.0f, 0.9f));
    add_text(text, x + pad, y + pad + p, p, l1, glm::vec4(0.95f, 0.97f, 1.0f, 1.0f));
    add_text(text, x + pad, y + pad + 2.2f * p, p, l2, glm::vec4(0.30f, 0.95f, 1.0f, 1.0f));
    if (!l3.empty()) add_text(text, x + pad, y + pad + 3.4f * p, p, l3, glm::vec4(1.0f, 0.62f, 0.20f, 1.0f));
  }
}

size_t build_lines(std::vector<gpu::LineVertex>& lines, const viz::Layout& layout, const RenderOptions& opts,
                   const Selection& selection, const std::vector<uint8_t>& visible) {
  const auto& L = layout.layers;
  size_t overlay_first = SIZE_MAX;  // no overlay unless the fan-out adds some
  auto push = [&](glm::vec3 a, glm::vec3 b, glm::vec4 c) {
    lines.push_back({{a.x, a.y, a.z}, {c.r, c.g, c.b, c.a}});
    lines.push_back({{b.x, b.y, b.z}, {c.r, c.g, c.b, c.a}});
  };
  if (opts.connections) {
    // Routed edges (viz/layout_edges.hpp): to the next level a frustum between the faces the row's
    // flow direction gives; skips as arcs over the row; row turns and a U's skip bridges as short lines.
    const glm::vec4 col(0.45f, 0.60f, 0.85f, 0.30f), axis(0.55f, 0.70f, 0.95f, 0.45f);
    for (const auto& e : viz::route_edges(layout)) {
      const size_t i = static_cast<size_t>(e.to), s = static_cast<size_t>(e.from);
      if (!(visible[i] || visible[s])) continue;
      if (e.kind == viz::EdgeKind::Flow) {
        const auto& a = L[s];
        const auto& b = L[i];
        const float xa = a.dir >= 0 ? a.max().x : a.origin.x, xb = b.dir >= 0 ? b.origin.x : b.max().x;
        for (int k = 0; k < 4; ++k) {
          float ya = (k & 1) ? a.max().y : a.origin.y, za = (k & 2) ? a.max().z : a.origin.z;
          float yb = (k & 1) ? b.max().y : b.origin.y, zb = (k & 2) ? b.max().z : b.origin.z;
          push({xa, ya, za}, {xb, yb, zb}, col);
        }
      }
      for (size_t k = 1; k < e.points.size(); ++k) push(e.points[k - 1], e.points[k], axis);
    }
  }
  if (opts.selection_lines && selection.layer >= 0) {
    // The receptive-field cone: from each highlighted region to the regions feeding it.
    std::vector<const viz::VolumeRegion*> reg(L.size(), nullptr);
    viz::VolumeRegion self;
    auto c = viz::cell_of(L[static_cast<size_t>(selection.layer)].dims, selection.flat);
    self.c0 = c.c; self.c1 = c.c + 1; self.y0 = c.y; self.y1 = c.y + 1; self.x0 = c.x; self.x1 = c.x + 1;
    for (const auto& [li, r] : selection.regions) reg[static_cast<size_t>(li)] = &r;
    reg[static_cast<size_t>(selection.layer)] = &self;
    auto box = [&](size_t li, const viz::VolumeRegion& r, bool front, glm::vec3 corners[4]) {
      const auto& v = L[li];
      int64_t c0 = r.c0, c1 = r.c1, y0 = r.y0, y1 = r.y1, x0 = r.x0, x1 = r.x1;
      if (r.flat) {  // grid: bounding rows of the flat range
        c0 = 0; c1 = 1; y0 = r.lo / v.dims.W; y1 = (r.hi - 1) / v.dims.W + 1; x0 = 0; x1 = v.dims.W;
        if (y1 - y0 == 1) { x0 = r.lo % v.dims.W; x1 = (r.hi - 1) % v.dims.W + 1; }
      }
      float x = front ? v.origin.x + float(c0) * v.pitch : v.origin.x + float(c1 - 1) * v.pitch + v.thickness;
      float ytop = v.max().y - float(y0) * v.cell, ybot = v.max().y - float(y1) * v.cell;
      float zl = v.origin.z + float(x0) * v.cell_z, zr = v.origin.z + float(x1) * v.cell_z;
      corners[0] = {x, ytop, zl}; corners[1] = {x, ytop, zr}; corners[2] = {x, ybot, zl}; corners[3] = {x, ybot, zr};
    };
    const glm::vec4 col(0.30f, 0.95f, 1.0f, 0.75f);
    // Wireframe of each highlighted region (a 3D box through the slabs it covers), so the
    // receptive field reads from any angle, not only where it touches a visible face.
    auto wire = [&](size_t li, const viz::VolumeRegion& r, glm::vec4 c) {
      glm::vec3 f[4], b[4];
      box(li, r, true, f);
      box(li, r, false, b);
      const auto& v = L[li];
      const float e = 0.15f * v.cell;  // a little outside the cells so the lines are not hidden
      for (glm::vec3* q : {f, b})
        for (int k = 0; k < 4; ++k) {
          q[k].y += (k < 2 ? e : -e);
          q[k].z += (k % 2 ? e : -e);
        }
      for (int k = 0; k < 4; ++k) { f[k].x -= e; b[k].x += e; }
      const int ring[4] = {0, 1, 3, 2};
      for (int k = 0; k < 4; ++k) {
        push(f[ring[k]], f[ring[(k + 1) % 4]], c);
        push(b[ring[k]], b[ring[(k + 1) % 4]], c);
        push(f[k], b[k], c);
      }
    };
    for (size_t i = 0; i < L.size(); ++i)
      if (reg[i]) wire(i, *reg[i], static_cast<int>(i) == selection.layer ? glm::vec4(1.0f, 1.0f, 1.0f, 0.95f)
                                                                          : glm::vec4(0.30f, 0.95f, 1.0f, 0.9f));
    for (size_t i = 0; i < L.size(); ++i) {
      if (!reg[i]) continue;
      for (int s : L[i].tensor.inputs) {
        if (s < 0 || !reg[static_cast<size_t>(s)]) continue;
        glm::vec3 a[4], b[4];
        box(static_cast<size_t>(s), *reg[static_cast<size_t>(s)], false, a);
        box(i, *reg[i], true, b);
        for (int k = 0; k < 4; ++k) push(a[k], b[k], col);
      }
    }
    // Fan-out: an orange wireframe per fan-out region and thin lines from the selected cell to each
    // fan-out cell (at most kMaxFanOutLines per layer), else to the front corners of the layer's
    // fan-out bounding box. A few hundred vertices at most, whatever the layer size.
    const glm::vec4 fo_col(1.0f, 0.55f, 0.10f, 0.9f), fo_line(1.0f, 0.62f, 0.20f, 0.7f);
    const glm::vec3 from = viz::neuron_center(L[static_cast<size_t>(selection.layer)], c.c, c.y, c.x);
    std::map<int, viz::VolumeRegion> fo_box;  // per layer, the bounding box of its fan-out regions
    for (const auto& [li, r] : selection.fanout) {
      if (li < 0 || static_cast<size_t>(li) >= L.size()) continue;
      viz::VolumeRegion b = r;
      if (r.flat) {  // grid rows spanned by the flat range
        const auto& d = L[static_cast<size_t>(li)].dims;
        b.flat = false; b.c0 = 0; b.c1 = 1; b.y0 = r.lo / d.W; b.y1 = (r.hi - 1) / d.W + 1; b.x0 = 0; b.x1 = d.W;
        if (b.y1 - b.y0 == 1) { b.x0 = r.lo % d.W; b.x1 = (r.hi - 1) % d.W + 1; }
      }
      auto [it, fresh] = fo_box.emplace(li, b);
      if (!fresh) {
        auto& m = it->second;
        m.c0 = std::min(m.c0, b.c0); m.c1 = std::max(m.c1, b.c1); m.y0 = std::min(m.y0, b.y0);
        m.y1 = std::max(m.y1, b.y1); m.x0 = std::min(m.x0, b.x0); m.x1 = std::max(m.x1, b.x1);
      }
    }
    overlay_first = lines.size();
    for (const auto& [li, b] : fo_box) wire(static_cast<size_t>(li), b, fo_col);
    std::set<int> with_cells;
    for (const auto& [li, f] : selection.fanout_cells) {
      if (li < 0 || static_cast<size_t>(li) >= L.size()) continue;
      const auto& v = L[static_cast<size_t>(li)];
      auto fc = viz::cell_of(v.dims, f);
      glm::vec3 to = viz::neuron_center(v, fc.c, fc.y, fc.x);
      to.x = v.origin.x + float(fc.c) * v.pitch;  // the cell's front face, where the line is seen to land
      push(from, to, fo_line);
      with_cells.insert(li);
    }
    for (const auto& [li, b] : fo_box) {
      if (with_cells.count(li)) continue;
      glm::vec3 q[4];
      box(static_cast<size_t>(li), b, true, q);
      for (const auto& p : q) push(from, p, fo_line);
    }
  }
  return overlay_first;
}

}  // namespace netlens::render
