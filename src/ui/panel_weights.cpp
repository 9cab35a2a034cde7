// The Weights panel: the focused layer's filters (norms, heatmap or patches).
#include "panels_internal.hpp"

#include <cfloat>

namespace netlens::ui {

void Panels::weights() {
  const auto& layers = scene_->layout.layers;
  if (focus_ < 0 || focus_ >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Pick a layer.");
    return;
  }
  Cache& c = *cache_;
  if (!c.weights.count(focus_)) {
    // The linear node behind the focused layer: its producer, or the nearest Conv/Gemm/MatMul up the
    // data flow through single-activation-input nodes (BatchNorm, Relu...), four nodes at most.
    Cache::Weights w;
    const Graph& g = view_->graph();
    std::string t = layers[static_cast<size_t>(focus_)].tensor.name;
    std::optional<size_t> node;
    for (int hop = 0; hop < 4; ++hop) {
      auto pn = view_->producer(t);
      if (!pn) break;
      const Node& n = g.nodes[*pn];
      if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") {
        node = pn;
        break;
      }
      std::string next;
      int activations = 0;
      for (const auto& in : n.inputs)
        if (!in.empty() && !view_->is_constant(in)) {
          next = in;
          ++activations;
        }
      if (activations != 1) break;
      t = next;
    }
    if (!node) {
      w.note = "no Conv/Gemm/MatMul right before " + layers[static_cast<size_t>(focus_)].tensor.name;
    } else {
      try {
        inspect::WeightsOptions o;
        o.max_filters = 32;
        o.max_channels = 8;
        o.max_heatmap = 128;
        w.w = inspect::weights(*view_, g.nodes[*node].name, o);
      } catch (const Error& e) {
        w.note = e.what();
      }
    }
    c.weights.emplace(focus_, std::move(w));
  }
  const Cache::Weights& cw = c.weights.at(focus_);
  if (!cw.w) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("%s", cw.note.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const inspect::WeightsReport& w = *cw.w;
  ImGui::TextColored(kAccent, "%s", w.op.c_str());
  ImGui::SameLine();
  ImGui::Text("%s  %s", w.weight.c_str(), shape_text(w.shape).c_str());
  ImGui::TextColored(w.near_zero.empty() ? kDim : kOrange, "%zu filters, %zu near zero, median L2 %s",
                     w.filter_norms.size(), w.near_zero.size(), viz::format_value(float(w.median_norm)).c_str());
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("max |w| %s: the patches' symmetric scale", viz::format_value(float(w.max_abs)).c_str());
  // Left: the filters (patches or heatmap); right: the filter norms, one bar per output unit.
  const ImVec2 full = ImGui::GetContentRegionAvail();
  const float gap = ImGui::GetStyle().ItemSpacing.x;
  ImVec2 avail(std::floor(full.x * 0.55f), std::max(1.0f, full.y - 2.0f));
  const ImVec2 start = ImGui::GetCursorPos();
  ImGui::SetCursorPos(ImVec2(start.x + avail.x + gap, start.y));
  std::vector<float> norms(w.filter_norms.begin(), w.filter_norms.end());
  ImGui::PlotHistogram("##norms", norms.data(), static_cast<int>(norms.size()), 0, nullptr, 0.0f, FLT_MAX,
                       ImVec2(full.x - avail.x - gap, avail.y));
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("L2 norm of each filter (output unit)");
  ImGui::SetCursorPos(start);
  const std::string key = "w:" + w.node;
  int tex = -1, tw = 0, th = 0;
  if (w.heatmap) {
    const auto& h = *w.heatmap;
    float m = 0;
    for (float v : h.values) m = std::max(m, std::fabs(v));
    tw = static_cast<int>(h.cols);
    th = static_cast<int>(h.rows);
    tex = texture(key, tw, th,
                  colour_matrix(h.rows, h.cols, h.values, viz::ColorScale{viz::ColorMapKind::Diverging, -m, std::max(m, 1e-30f)}));
  } else if (!w.patches.empty()) {
    // Patches in filter order (a filter's channels next to each other; RGB patches: one per filter),
    // one-texel gaps. Grey values 0.5 + 0.5·v/max|W| go through the
    // diverging map so that zero stays neutral; RGB patches are shown as colours.
    const auto& p0 = w.patches.front();
    const int64_t ph = p0.h, pw = p0.w;
    if (ph == 1 && pw == 1 && !w.rgb) {
      // 1x1 kernels: a filters x channels matrix (no gaps), same colours.
      int64_t per = 0;
      for (const auto& p : w.patches)
        if (p.filter == p0.filter) ++per;
      const int64_t nf = static_cast<int64_t>(w.patches.size()) / std::max<int64_t>(per, 1);
      // Transposed (a column per filter): panels are wider than tall.
      std::vector<float> vals(w.patches.size());
      for (size_t i = 0; i < w.patches.size(); ++i) {
        const int64_t f = int64_t(i) / per, ch = int64_t(i) % per;
        vals[size_t(ch * nf + f)] = 2.0f * w.patches[i].pixels[0] - 1.0f;
      }
      tw = static_cast<int>(nf);
      th = static_cast<int>(per);
      tex = texture(key, tw, th, colour_matrix(per, nf, vals, viz::ColorScale{viz::ColorMapKind::Diverging, -1.0f, 1.0f}));
    }
  }
  if (tex < 0 && !w.patches.empty()) {
    const auto& p0 = w.patches.front();
    const int64_t ph = p0.h, pw = p0.w;
    // Patches per row: the count that shows them largest in the space left.
    const int64_t np = static_cast<int64_t>(w.patches.size());
    int64_t per_row = 1;
    double best = -1;
    for (int64_t c = 1; c <= np; ++c) {
      const int64_t r = (np + c - 1) / c;
      const double sc = std::min(double(avail.x) / double(c * (pw + 1)), double(avail.y) / double(r * (ph + 1)));
      if (sc > best * (1 + 1e-9)) {
        best = sc;
        per_row = c;
      }
    }
    const int64_t rows = (static_cast<int64_t>(w.patches.size()) + per_row - 1) / per_row;
    tw = static_cast<int>(per_row * (pw + 1) - 1);
    th = static_cast<int>(rows * (ph + 1) - 1);
    std::vector<uint8_t> rgba(size_t(tw) * size_t(th) * 4, 0);
    const auto lut = viz::code_lut(viz::ColorMapKind::Diverging);
    const viz::ColorScale sc{viz::ColorMapKind::Diverging, -1.0f, 1.0f};
    for (size_t i = 0; i < w.patches.size(); ++i) {
      const auto& p = w.patches[i];
      const int64_t ox = (int64_t(i) % per_row) * (pw + 1), oy = (int64_t(i) / per_row) * (ph + 1);
      for (int64_t y = 0; y < p.h; ++y)
        for (int64_t x = 0; x < p.w; ++x) {
          uint8_t* q = &rgba[(size_t(oy + y) * size_t(tw) + size_t(ox + x)) * 4];
          const float* v = &p.pixels[size_t((y * p.w + x) * p.channels)];
          glm::vec3 colr = p.channels == 3 ? glm::vec3(v[0], v[1], v[2])
                                           : lut[viz::encode(2.0f * v[0] - 1.0f, sc)];
          for (int k = 0; k < 3; ++k) q[k] = static_cast<uint8_t>(std::lround(std::clamp(colr[k], 0.0f, 1.0f) * 255.0f));
          q[3] = 255;
        }
    }
    tex = texture(key, tw, th, rgba);
  }
  if (tex >= 0 && tw > 0 && th > 0) {
    float s = std::min(avail.x / float(tw), (avail.y - 2.0f) / float(th));
    if (s >= 2.0f) s = std::floor(s);
    ui_.image(tex, ImVec2(float(tw) * s, float(th) * s));
  }
}

}  // namespace netlens::ui
