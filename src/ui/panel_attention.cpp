// The Attention panel: attention maps as tiles, or one token-labelled matrix for text models (attention_tokens).
#include "panels_internal.hpp"

namespace netlens::ui {

void Panels::attention() {
  Cache& c = *cache_;
  if (!c.attn && c.attn_error.empty()) {
    try {
      inspect::AttentionOptions o;
      o.max_display = 64;
      o.tokens = text_tokens_;
      o.token_input = text_input_;
      c.attn = inspect::find_attention(*view_, o);
    } catch (const Error& e) {
      c.attn_error = e.what();
    }
  }
  if (!c.attn || c.attn->empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("%s", c.attn ? "No attention in this model (a Softmax over a MatMul of two activations)."
                                    : c.attn_error.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const auto& maps = *c.attn;
  // The map of the focused layer when it is one, else the first.
  size_t mi = 0;
  const auto& layers = scene_->layout.layers;
  if (focus_ >= 0 && focus_ < static_cast<int>(layers.size()))
    for (size_t i = 0; i < maps.size(); ++i)
      if (maps[i].tensor == layers[static_cast<size_t>(focus_)].tensor.name) mi = i;
  const inspect::AttentionMap& m = maps[mi];
  if (not_computed(m.tensor)) return;
  ImGui::TextColored(kDim, "%zu maps; map %zu:", maps.size(), mi + 1);
  ImGui::SameLine();
  ImGui::TextUnformatted(m.tensor.c_str());
  if (!m.key_tokens.empty() && !m.query_tokens.empty() && m.block_q == 1 && m.block_k == 1) return attention_tokens(m);
  ImGui::TextColored(kDim, "%lld queries x %lld keys", (long long)m.tq, (long long)m.tk);
  // Every head's display matrix as one tile of a grid (one shared scale: probabilities).
  const int64_t rows = (m.tq + m.block_q - 1) / m.block_q, cols = (m.tk + m.block_k - 1) / m.block_k;
  const int64_t heads = static_cast<int64_t>(m.display.size());
  std::vector<float> all;
  float mx = 0;
  for (const auto& h : m.display) {
    all.insert(all.end(), h.begin(), h.end());
    for (float v : h) mx = std::max(mx, v);
  }
  double e0 = INFINITY, e1 = -INFINITY;
  for (double e : m.entropy) {
    e0 = std::min(e0, e);
    e1 = std::max(e1, e);
  }
  if (!m.entropy.empty())
    ImGui::TextColored(kDim, "entropy %.2f..%.2f nats (uniform %.2f)", e0, e1, std::log(double(m.tk)));
  viz::VolumeDims d{.C = heads, .H = rows, .W = cols, .count = heads * rows * cols};
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float box_h = std::max(1.0f, avail.y - ImGui::GetTextLineHeightWithSpacing());
  const std::string key = "a:" + m.tensor;
  if (!cache_->textures.count(key)) {
    FeatureGrid g = feature_grid(d, all, viz::ColorScale{viz::ColorMapKind::Sequential, 0.0f, std::max(mx, 1e-30f)},
                                 ChannelOrder::Index, {}, avail.x / box_h);
    attn_grid_ = {g.cols, g.rows, g.width, g.height};
    texture(key, g.width, g.height, g.rgba);
  }
  const auto [gc, gr, gw, gh] = attn_grid_;
  float s = std::min(avail.x / float(gw), box_h / float(gh));
  if (s >= 2.0f) s = std::floor(s);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ui_.image(cache_->textures.at(key), ImVec2(float(gw) * s, float(gh) * s));
  if (ImGui::IsItemHovered()) {
    ImVec2 mp = ImGui::GetMousePos();
    int hx = static_cast<int>((mp.x - p0.x) / s) / int(cols + 1), hy = static_cast<int>((mp.y - p0.y) / s) / int(rows + 1);
    size_t h = static_cast<size_t>(hy * gc + hx);
    if (h < m.entropy.size()) ImGui::SetTooltip("head %zu: entropy %.2f nats", h, m.entropy[h]);
  }
  ImGui::TextColored(kDim, "%lld heads; rows: queries, columns: keys%s", (long long)heads,
                     m.block_q > 1 || m.block_k > 1 ? " (blocks)" : "");
}

// A text model's map: one head (or their mean) as a T_q×T_k matrix with the query tokens down the
// left and the key tokens along the top (turned 90°: ImGui draws only horizontal text, so the
// glyph quads just added to the draw list are rotated), and above it the strongest keys of the
// first query ([CLS] in BERT-like models). Labels thinner than a text line are thinned out.
void Panels::attention_tokens(const inspect::AttentionMap& m) {
  const int64_t heads = static_cast<int64_t>(m.display.size()), tq = m.tq, tk = m.tk;
  if (heads > 1) {
    attn_head_ = std::clamp(attn_head_, -1, static_cast<int>(heads) - 1);
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
    ImGui::SliderInt("head", &attn_head_, -1, static_cast<int>(heads) - 1, attn_head_ < 0 ? "mean of heads" : "head %d");
  }
  std::vector<float> a(static_cast<size_t>(tq * tk), 0.0f);
  for (int64_t h = 0; h < heads; ++h)
    if (attn_head_ < 0 || attn_head_ == h)
      for (size_t i = 0; i < a.size(); ++i) a[i] += m.display[static_cast<size_t>(h)][i] / float(attn_head_ < 0 ? heads : 1);
  float mx = 0;
  for (float v : a) mx = std::max(mx, v);
  const std::string key = "at:" + m.tensor + ":" + std::to_string(attn_head_);
  if (!cache_->textures.count(key))
    texture(key, static_cast<int>(tk), static_cast<int>(tq),
            colour_matrix(tq, tk, a, viz::ColorScale{viz::ColorMapKind::Sequential, 0.0f, std::max(mx, 1e-30f)}));
  // The first query's strongest keys, as words.
  std::vector<int64_t> order(static_cast<size_t>(tk));
  for (int64_t k = 0; k < tk; ++k) order[static_cast<size_t>(k)] = k;
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[static_cast<size_t>(x)] > a[static_cast<size_t>(y)]; });
  std::string top = "'" + m.query_tokens[0] + "' looks at:";
  for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " %s %.2f", m.key_tokens[static_cast<size_t>(order[i])].c_str(), a[static_cast<size_t>(order[i])]);
    top += buf;
  }
  ImGui::TextWrapped("%s", top.c_str());
  // Sizes: label strips as wide as the longest token (at most a third of the panel), square cells.
  const float fh = ImGui::GetFontSize(), line = ImGui::GetTextLineHeightWithSpacing();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  float lw = 0;
  for (const auto* list : {&m.query_tokens, &m.key_tokens})
    for (const std::string& t : *list) lw = std::max(lw, ImGui::CalcTextSize(t.c_str()).x);
  lw = std::min(lw + 4.0f, avail.x / 3.0f);
  // Cells fill the panel, but stay at least a text line high while the width allows (the panel
  // then scrolls): labels thinned out are a last resort.
  const float wcell = (avail.x - lw) / float(tk), hcell = (avail.y - lw - 2.0f * line) / float(tq);
  const float cell = std::max(1.0f, std::max(std::min(wcell, hcell), std::min(wcell, fh * 1.1f)));
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  const ImVec2 m0(p0.x + lw, p0.y + lw);  // the matrix's top-left corner
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 text_col = ImGui::GetColorU32(ImGuiCol_Text);
  const int step_q = std::max(1, static_cast<int>(std::ceil(fh / cell))), step_k = step_q;
  auto clipped = [&](const std::string& t) {  // a token cut to the label strip
    std::string s = t;
    while (s.size() > 1 && ImGui::CalcTextSize(s.c_str()).x > lw - 4.0f) s.pop_back();
    return s;
  };
  for (int64_t q = 0; q < tq; q += step_q) {
    const std::string t = clipped(m.query_tokens[static_cast<size_t>(q)]);
    const float w = ImGui::CalcTextSize(t.c_str()).x;
    dl->AddText(ImVec2(m0.x - 4.0f - w, m0.y + (float(q) + 0.5f) * cell - fh * 0.5f), text_col, t.c_str());
  }
  for (int64_t k = 0; k < tk; k += step_k) {
    const std::string t = clipped(m.key_tokens[static_cast<size_t>(k)]);
    const int v0 = dl->VtxBuffer.Size;
    const ImVec2 pivot(m0.x + (float(k) + 0.5f) * cell - fh * 0.5f, m0.y - 4.0f);
    dl->AddText(pivot, text_col, t.c_str());
    for (int i = v0; i < dl->VtxBuffer.Size; ++i) {  // (x, y) → (pivot.x + (y − pivot.y), pivot.y − (x − pivot.x))
      ImDrawVert& v = dl->VtxBuffer[i];
      const float x = v.pos.x - pivot.x, y = v.pos.y - pivot.y;
      v.pos = ImVec2(pivot.x + y, pivot.y - x);
    }
  }
  ImGui::Dummy(ImVec2(lw, lw));
  ImGui::SetCursorScreenPos(m0);
  ui_.image(cache_->textures.at(key), ImVec2(float(tk) * cell, float(tq) * cell));
  if (ImGui::IsItemHovered()) {
    const ImVec2 mp = ImGui::GetMousePos();
    const int64_t q = std::clamp<int64_t>(static_cast<int64_t>((mp.y - m0.y) / cell), 0, tq - 1);
    const int64_t k = std::clamp<int64_t>(static_cast<int64_t>((mp.x - m0.x) / cell), 0, tk - 1);
    ImGui::SetTooltip("'%s' -> '%s': %.3f", m.query_tokens[static_cast<size_t>(q)].c_str(), m.key_tokens[static_cast<size_t>(k)].c_str(),
                      a[static_cast<size_t>(q * tk + k)]);
  }
  ImGui::SetCursorScreenPos(ImVec2(p0.x, ImGui::GetCursorScreenPos().y));
  ImGui::TextColored(kDim, "%lld tokens; rows: queries, columns: keys (%s)", (long long)tq,
                     attn_head_ < 0 && heads > 1 ? "mean of heads" : "one head");
}

void Panels::set_text_tokens(std::vector<std::string> tokens, std::string input) {
  text_tokens_ = std::move(tokens);
  text_input_ = std::move(input);
  if (cache_) cache_->attn.reset(), cache_->attn_error.clear();
}

}  // namespace netlens::ui
