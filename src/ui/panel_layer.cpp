// Panels about the focused layer and the selected neuron: layer inspector (colour bar, feature maps), neuron inspector, activation function, predictions.
#include "panels_internal.hpp"

#include <cfloat>
#include <cmath>

namespace netlens::ui {

namespace {

ImU32 col(glm::vec3 c, float a = 1.0f) { return ImGui::ColorConvertFloat4ToU32(ImVec4(c.x, c.y, c.z, a)); }

}  // namespace

void Panels::colour_bar(const viz::ColorScale& s, float width) {
  viz::LegendData ld = viz::legend_data(s, 32, 3);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImVec2 p = ImGui::GetCursorScreenPos();
  const float h = std::round(ImGui::GetFontSize() * 0.7f);
  const size_t n = ld.stops.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    float x0 = p.x + width * float(i) / float(n - 1), x1 = p.x + width * float(i + 1) / float(n - 1);
    dl->AddRectFilledMultiColor(ImVec2(x0, p.y), ImVec2(x1, p.y + h), col(ld.stops[i]), col(ld.stops[i + 1]),
                                col(ld.stops[i + 1]), col(ld.stops[i]));
  }
  ImGui::Dummy(ImVec2(width, h));
  // Ticks: first left-aligned, last right-aligned, the rest centred.
  float y = ImGui::GetCursorScreenPos().y;
  for (size_t i = 0; i < ld.ticks.size(); ++i) {
    const auto& [t, text] = ld.ticks[i];
    float tw = ImGui::CalcTextSize(text.c_str()).x;
    float x = p.x + t * width - (i == 0 ? 0.0f : i + 1 == ld.ticks.size() ? tw : 0.5f * tw);
    dl->AddText(ImVec2(x, y), ImGui::GetColorU32(kDim), text.c_str());
  }
  ImGui::Dummy(ImVec2(width, ImGui::GetTextLineHeight()));
}

void Panels::layer_inspector() {
  const auto& layers = scene_->layout.layers;
  if (focus_ < 0 || focus_ >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Pick a layer in the model tree, or press F over one.");
    return;
  }
  const auto& v = layers[static_cast<size_t>(focus_)];
  const auto& sl = scene_->layers[static_cast<size_t>(focus_)];
  ImGui::TextColored(kAccent, "%s", v.tensor.op.c_str());
  ImGui::SameLine();
  ImGui::TextUnformatted(v.tensor.name.c_str());
  ImGui::TextColored(kDim, "%s  %s  (%lld values)", shape_text(v.tensor.shape).c_str(),
                     sl.scale.kind == viz::ColorMapKind::Sequential ? "non-negative" : "signed",
                     (long long)v.dims.count);
  if (not_computed(v.tensor.name)) return;
  viz::ColorScale scale = panel_scale(focus_);
  const float avail_w = ImGui::GetContentRegionAvail().x;

  Cache& c = *cache_;
  // Statistics (inspect::tensor_stats), with every channel ranked: the grid's sort keys.
  if (!c.stats.count(focus_) && !c.stats_error.count(focus_)) {
    try {
      inspect::StatsOptions so;
      so.top_k = std::max<int64_t>(v.dims.C, 1);
      inspect::TensorStats ts = inspect::tensor_stats(*view_, v.tensor.name, so);
      if (ts.channels == v.dims.C && !v.dims.grid) {
        std::vector<float> mean(static_cast<size_t>(ts.channels), NAN), mx(static_cast<size_t>(ts.channels), NAN);
        for (const auto& ch : ts.top_by_mean) mean[static_cast<size_t>(ch.channel)] = float(ch.mean);
        for (const auto& ch : ts.top_by_max) mx[static_cast<size_t>(ch.channel)] = float(ch.max);
        c.channel_mean[focus_] = std::move(mean);
        c.channel_max[focus_] = std::move(mx);
      }
      c.stats.emplace(focus_, std::move(ts));
    } catch (const Error& e) {
      c.stats_error[focus_] = e.what();
    }
  }
  if (auto it = c.stats.find(focus_); it != c.stats.end()) {
    const inspect::TensorStats& ts = it->second;
    ImGui::Text("min %s  max %s  mean %s  std %s", viz::format_value(float(ts.min)).c_str(),
                viz::format_value(float(ts.max)).c_str(), viz::format_value(float(ts.mean)).c_str(),
                viz::format_value(float(ts.std)).c_str());
    std::string line = "zeros " + std::to_string(int(std::lround(ts.zero_fraction * 100))) + "%";
    if (ts.dead) line += "   dead channels " + std::to_string(ts.dead->dead) + "/" + std::to_string(ts.dead->channels);
    if (ts.saturation)
      line += "   saturated " + std::to_string(int(std::lround(ts.saturation->fraction * 100))) + "%";
    const int64_t bad = ts.nan + ts.pos_inf + ts.neg_inf;
    ImGui::TextColored(bad ? ImVec4(1.0f, 0.35f, 0.3f, 1.0f) : kDim, "%s   NaN/Inf %lld", line.c_str(), (long long)bad);
    const auto& h = ts.histogram;
    if (!h.counts.empty()) {
      std::vector<float> counts(h.counts.begin(), h.counts.end());
      ImVec2 hp = ImGui::GetCursorScreenPos();
      const float hh = std::round(ImGui::GetFontSize() * 2.6f);
      ImGui::PlotHistogram("##hist", counts.data(), static_cast<int>(counts.size()), 0, nullptr, 0.0f, FLT_MAX,
                           ImVec2(avail_w, hh));
      // The range, inside the plot's top corners.
      const std::string lo = viz::format_value(float(h.lo)), hi = viz::format_value(float(h.hi));
      ImDrawList* dl = ImGui::GetWindowDrawList();
      dl->AddText(ImVec2(hp.x + 4, hp.y + 2), ImGui::GetColorU32(kDim), lo.c_str());
      dl->AddText(ImVec2(hp.x + avail_w - ImGui::CalcTextSize(hi.c_str()).x - 4, hp.y + 2), ImGui::GetColorU32(kDim),
                  hi.c_str());
    }
  } else {
    ImGui::TextColored(kDim, "statistics: %s", c.stats_error[focus_].c_str());
  }
  ImGui::TextColored(kDim, "sort channels");
  ImGui::SameLine();
  int o = static_cast<int>(order_);
  ImGui::RadioButton("index", &o, 0);
  ImGui::BeginDisabled(!c.channel_mean.count(focus_));
  ImGui::SameLine();
  ImGui::RadioButton("mean", &o, 1);
  ImGui::SameLine();
  ImGui::RadioButton("max", &o, 2);
  ImGui::EndDisabled();
  order_ = static_cast<ChannelOrder>(o);
  colour_bar(scale, avail_w);
  const float avail_h = ImGui::GetContentRegionAvail().y - ImGui::GetTextLineHeightWithSpacing();
  const float aspect = std::max(0.2f, avail_w / std::max(avail_h, 1.0f));
  auto it = c.grids.find(focus_);
  if (order_ != ChannelOrder::Index && !c.channel_mean.count(focus_)) order_ = ChannelOrder::Index;
  if (it == c.grids.end() || it->second.order != order_ || std::fabs(it->second.aspect - aspect) > 0.05f * aspect) {
    std::span<const float> key;
    if (order_ == ChannelOrder::MeanDesc) key = c.channel_mean[focus_];
    if (order_ == ChannelOrder::MaxDesc) key = c.channel_max[focus_];
    std::vector<float> scratch;  // a borrowing scene's float16 layer, converted for the grid only
    const std::span<const float> vals = scene_->has_values(focus_) ? scene_->floats(focus_, scratch) : std::span<const float>();
    Cache::Grid g{order_, aspect, feature_grid(v.dims, vals, scale, order_, key, aspect), -1};
    g.tex = ui_.upload_texture(g.grid.width, g.grid.height, g.grid.rgba, it == c.grids.end() ? -1 : it->second.tex);
    g.grid.rgba.clear();
    g.grid.rgba.shrink_to_fit();
    it = c.grids.insert_or_assign(focus_, std::move(g)).first;
  }
  const FeatureGrid& g = it->second.grid;
  // Integer texel scale when the grid is smaller than the panel (crisp blocks), else fit.
  float s = std::min(avail_w / float(g.width), avail_h / float(g.height));
  if (s >= 2.0f) s = std::floor(s);
  ImVec2 size(float(g.width) * s, float(g.height) * s);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ui_.image(it->second.tex, size);
  grid_view_ = GridView{p0, s, &g, focus_};
  // The selected neuron, when it is in this layer: a cyan frame around its cell.
  if (sel_.layer == focus_) {
    auto cc = viz::cell_of(v.dims, sel_.flat);
    int t = g.tile_of(cc.c);
    if (t >= 0) {
      float x = p0.x + (float((t % g.cols) * (g.tile_w + 1)) + float(cc.x)) * s;
      float y = p0.y + (float((t / g.cols) * (g.tile_h + 1)) + float(cc.y)) * s;
      const float pad = std::max(2.0f, s * 0.5f);
      ImGui::GetWindowDrawList()->AddRect(ImVec2(x - pad, y - pad), ImVec2(x + s + pad, y + s + pad),
                                          ImGui::GetColorU32(kCyan), 0.0f, 0, 2.0f);
    }
  }
  // Hover: the cell under the mouse; click selects it.
  if (ImGui::IsItemHovered()) {
    ImVec2 m = ImGui::GetMousePos();
    int tx = static_cast<int>((m.x - p0.x) / s), ty = static_cast<int>((m.y - p0.y) / s);
    int col_ = tx / (g.tile_w + 1), row = ty / (g.tile_h + 1), x = tx % (g.tile_w + 1), y = ty % (g.tile_h + 1);
    size_t t = static_cast<size_t>(row * g.cols + col_);
    if (x < g.tile_w && y < g.tile_h && t < g.order.size()) {
      int64_t ch = g.order[t], flat = viz::flat_of(v.dims, ch, y, x);
      if (flat < v.dims.count) {
        ImGui::SetTooltip("channel %lld  [%d, %d]  = %.6g", (long long)ch, y, x,
                          scene_->has_values(focus_) ? double(scene_->value(focus_, flat)) : std::nan(""));
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left) && actions.select) actions.select(focus_, flat);
      }
    }
  }
  if (static_cast<int64_t>(g.order.size()) < g.channels)
    ImGui::TextColored(kDim, "first %zu of %lld channels (texture budget)", g.order.size(), (long long)g.channels);
  else
    ImGui::TextColored(kDim, "%lld channels of %dx%d, one shared scale", (long long)g.channels, g.tile_h, g.tile_w);
}

void Panels::neuron_inspector() {
  const auto& layers = scene_->layout.layers;
  if (sel_.layer < 0 || sel_.layer >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Click a neuron (or --select TENSOR:INDEX).");
    return;
  }
  const auto& v = layers[static_cast<size_t>(sel_.layer)];
  auto c = viz::cell_of(v.dims, sel_.flat);
  ImGui::TextColored(kAccent, "%s", v.tensor.op.c_str());
  ImGui::SameLine();
  ImGui::Text("%s [%lld, %lld, %lld]", v.tensor.name.c_str(), (long long)c.c, (long long)c.y, (long long)c.x);
  if (not_computed(v.tensor.name)) return;
  std::vector<int64_t> ti = viz::tensor_index(v, sel_.flat);
  ImGui::TextColored(kCyan, "value %.6g", double(scene_->value(sel_.layer, sel_.flat)));
  if (ImGui::IsItemHovered()) {
    std::string tis;
    for (size_t i = 0; i < ti.size(); ++i) tis += (i ? ", " : "") + std::to_string(ti[i]);
    ImGui::SetTooltip("tensor index [%s]", tis.c_str());
  }
  // Receptive field: its extent in the earliest shown layer it reaches (the input, for a CNN).
  int first = -1;
  for (const auto& [l, r] : sel_.regions)
    if (l != sel_.layer && (first < 0 || l < first)) first = l;
  if (first >= 0) {
    for (const auto& [l, r] : sel_.regions) {
      if (l != first) continue;
      const auto& fv = layers[static_cast<size_t>(l)];
      ImGui::SameLine();
      if (r.flat)
        ImGui::TextColored(kCyan, "  receptive field %lld values of %s", (long long)(r.hi - r.lo), fv.tensor.name.c_str());
      else
        ImGui::TextColored(kCyan, "  receptive field %lldx%lld in %s", (long long)(r.y1 - r.y0), (long long)(r.x1 - r.x0),
                           fv.tensor.name.c_str());
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%lld channels; reaches %zu shown layers", (long long)(r.c1 - r.c0), sel_.regions.size());
      break;
    }
  }
  if (!sel_.fanout_count.empty()) {
    const auto& [fl, fn] = sel_.fanout_count.front();
    ImGui::TextColored(kOrange, "fan-out %s in %s", fn >= 0 ? std::to_string(fn).c_str() : "(box)",
                       layers[static_cast<size_t>(fl)].tensor.name.c_str());
  }
  // Contributions (inspect::contributions): the terms w·x that make this neuron.
  Cache& cc = *cache_;
  if (cc.contrib_key != std::make_pair(sel_.layer, sel_.flat)) {
    cc.contrib_key = {sel_.layer, sel_.flat};
    cc.contrib.reset();
    cc.contrib_error.clear();
    try {
      int64_t flat = 0;  // row-major in the tensor's own shape
      for (size_t d = 0; d < ti.size(); ++d) flat = flat * v.tensor.shape[d] + ti[d];
      cc.contrib = inspect::contributions(*view_, v.tensor.name, flat, 8);
    } catch (const Error& e) {
      cc.contrib_error = e.what();
    }
  }
  if (!cc.contrib) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    // inspect's messages name the analysis already ("contributions: ...").
    ImGui::TextWrapped("%s", cc.contrib_error.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const inspect::Contributions& k = *cc.contrib;
  std::string chain;
  for (const auto& op : k.chain) chain += (chain.empty() ? " then " : ", ") + op;
  ImGui::TextColored(kDim, "%s: %zu terms%s = %s (+%s %s)%s", k.op.c_str(), k.terms.size(),
                     k.bias_tensor.empty() ? "" : " + bias", viz::format_value(float(k.sum)).c_str(),
                     viz::format_value(float(k.positive_total)).c_str(), viz::format_value(float(k.negative_total)).c_str(),
                     chain.c_str());
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("the input cells of the largest terms are magenta in 3D");
  if (ImGui::BeginTable("terms", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_ScrollY)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("input cell");
    ImGui::TableSetupColumn("w");
    ImGui::TableSetupColumn("x");
    ImGui::TableSetupColumn("w*x");
    ImGui::TableHeadersRow();
    double biggest = 0;
    for (size_t t : k.top) biggest = std::max(biggest, std::fabs(k.terms[t].term));
    for (size_t t : k.top) {
      const auto& term = k.terms[t];
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      std::string cell;
      for (size_t d = term.input_coords.size() > 3 ? 1 : 0; d < term.input_coords.size(); ++d)
        cell += (cell.empty() ? "" : ",") + std::to_string(term.input_coords[d]);
      ImGui::Text("[%s]", cell.c_str());
      ImGui::TableSetColumnIndex(1);
      ImGui::TextUnformatted(viz::format_value(float(term.weight_value)).c_str());
      ImGui::TableSetColumnIndex(2);
      ImGui::TextUnformatted(viz::format_value(float(term.activation)).c_str());
      ImGui::TableSetColumnIndex(3);
      // A bar for |w·x| relative to the largest term: orange positive, blue negative.
      ImVec2 p = ImGui::GetCursorScreenPos();
      float w = ImGui::GetContentRegionAvail().x, lh = ImGui::GetTextLineHeight();
      float f = biggest > 0 ? float(std::fabs(term.term) / biggest) : 0.0f;
      ImGui::GetWindowDrawList()->AddRectFilled(
          ImVec2(p.x, p.y + 0.15f * lh), ImVec2(p.x + f * w, p.y + 0.85f * lh),
          ImGui::GetColorU32(term.term >= 0 ? ImVec4(0.85f, 0.45f, 0.15f, 0.55f) : ImVec4(0.25f, 0.5f, 0.85f, 0.55f)));
      ImGui::TextUnformatted(viz::format_value(float(term.term)).c_str());
    }
    ImGui::EndTable();
  }
}

void Panels::activation_fn() {
  const auto& layers = scene_->layout.layers;
  if (focus_ < 0 || focus_ >= static_cast<int>(layers.size())) {
    ImGui::TextColored(kDim, "Pick a layer.");
    return;
  }
  if (not_computed(layers[static_cast<size_t>(focus_)].tensor.name)) return;
  Cache& c = *cache_;
  if (!c.act.count(focus_)) {
    // The focused layer's nonlinearity: the layer itself when a recognised activation produced it,
    // else the first recognised one reading it (a Conv's output → its HardSwish).
    Cache::Act a;
    const std::string& name = layers[static_cast<size_t>(focus_)].tensor.name;
    try {
      // The outermost recognised pattern (find_activations: a HardSwish, not the Clip inside it)
      // that produces the layer or that a breadth-first walk over its readers meets within six nodes
      // (Conv → BatchNorm → a decomposed HardSwish).
      if (!c.all_acts) c.all_acts = inspect::find_activations(*view_);
      std::optional<inspect::Activation> act;
      for (const auto& x : *c.all_acts)
        if (x.output == name) act = x;
      std::vector<std::string> frontier{name};
      for (int hop = 0; hop < 6 && !act && !frontier.empty(); ++hop) {
        std::vector<std::string> next;
        for (const auto& t : frontier)
          for (size_t n : view_->consumers(t)) {
            for (const auto& x : *c.all_acts)
              if (!act && std::find(x.nodes.begin(), x.nodes.end(), n) != x.nodes.end()) act = x;
            for (const auto& o : view_->graph().nodes[n].outputs) next.push_back(o);
          }
        frontier = std::move(next);
      }
      if (act) a.a = inspect::analyze_activation(*view_, *act, 128);
      else a.note = "no recognised nonlinearity produces " + name + " or follows it within six nodes";
    } catch (const Error& e) {
      a.note = e.what();
    }
    c.act.emplace(focus_, std::move(a));
  }
  const Cache::Act& a = c.act.at(focus_);
  if (!a.a) {
    ImGui::TextWrapped("%s", a.note.c_str());
    return;
  }
  const inspect::ActivationAnalysis& an = *a.a;
  ImGui::TextColored(kAccent, "%s", an.act.name().c_str());
  ImGui::SameLine();
  ImGui::TextColored(kDim, "%s -> %s%s", an.act.input.c_str(), an.act.output.c_str(), an.act.decomposed ? " (decomposed)" : "");
  std::string line = "flat " + std::to_string(int(std::lround(an.flat_fraction * 100))) + "%";
  line += an.saturated_fraction ? "   saturated " + std::to_string(int(std::lround(*an.saturated_fraction * 100))) + "%"
                                : std::string("   saturation n/a");
  ImGui::TextUnformatted(line.c_str());
  // The curve y = f(x) over the inputs' range, on the inputs' histogram (bars, own scale).
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float lh = ImGui::GetTextLineHeight();
  ImVec2 p0 = ImGui::GetCursorScreenPos(),
         size(avail.x, std::max(std::floor(avail.y - lh - 2 * ImGui::GetStyle().ItemSpacing.y - 1), lh * 2));
  ImGui::Dummy(size);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), ImGui::GetColorU32(ImVec4(0.04f, 0.05f, 0.07f, 1.0f)));
  if (an.curve.size() < 2) return;
  double x0 = an.curve.front().x, x1 = an.curve.back().x, y0 = an.curve.front().y, y1 = y0;
  for (const auto& pt : an.curve) {
    y0 = std::min(y0, pt.y);
    y1 = std::max(y1, pt.y);
  }
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) y1 = y0 + 1;
  const double ypad = 0.08 * (y1 - y0);
  y0 -= ypad;
  y1 += ypad;
  auto px = [&](double x) { return p0.x + float((x - x0) / (x1 - x0)) * size.x; };
  auto py = [&](double y) { return p0.y + size.y - float((y - y0) / (y1 - y0)) * size.y; };
  const auto& h = an.input_histogram;
  int64_t hmax = 1;
  for (auto n : h.counts) hmax = std::max(hmax, n);
  const ImU32 bar = ImGui::GetColorU32(ImVec4(0.45f, 0.50f, 0.60f, 0.45f));
  for (size_t i = 0; i < h.counts.size(); ++i) {
    double b0 = h.lo + double(i) * h.bin_width(), b1 = b0 + h.bin_width();
    float top = p0.y + size.y - float(double(h.counts[i]) / double(hmax)) * size.y * 0.9f;
    dl->AddRectFilled(ImVec2(px(b0), top), ImVec2(std::max(px(b1), px(b0) + 1.0f), p0.y + size.y), bar);
  }
  const ImU32 axis = ImGui::GetColorU32(ImVec4(0.35f, 0.40f, 0.48f, 1.0f));
  if (x0 < 0 && x1 > 0) dl->AddLine(ImVec2(px(0), p0.y), ImVec2(px(0), p0.y + size.y), axis);
  if (y0 < 0 && y1 > 0) dl->AddLine(ImVec2(p0.x, py(0)), ImVec2(p0.x + size.x, py(0)), axis);
  std::vector<ImVec2> pts;
  for (const auto& pt : an.curve) pts.emplace_back(px(pt.x), py(pt.y));
  dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), ImGui::GetColorU32(kAccent), 0, 2.0f);
  const std::string l = "x " + viz::format_value(float(an.x_min)), r = viz::format_value(float(an.x_max));
  ImGui::TextColored(kDim, "%s", l.c_str());
  ImGui::SameLine(std::max(0.0f, ImGui::GetWindowContentRegionMax().x - ImGui::CalcTextSize(r.c_str()).x));
  ImGui::TextColored(kDim, "%s", r.c_str());
}

void Panels::predictions() {
  for (const ValueInfo& o : s_->graph().outputs)
    if (not_computed(o.name)) return;
  Cache& c = *cache_;
  if (!c.preds && c.preds_error.empty()) {
    try {
      c.preds = inspect::predictions(*view_, labels_, 5);
    } catch (const Error& e) {
      c.preds_error = e.what();
    }
  }
  if (!c.preds) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("%s", c.preds_error.c_str());
    ImGui::PopStyleColor();
    return;
  }
  const inspect::Predictions& p = *c.preds;
  for (const auto& d : p.ctc) {
    if (!d.text.empty()) {
      ImGui::TextColored(kAccent, "\"%s\"", d.text[0].c_str());
      ImGui::TextColored(kDim, "confidence %.3f, CTC over %lld steps", d.confidence[0], (long long)d.steps);
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("greedy CTC decoding of %s", d.tensor.c_str());
    }
  }
  for (const auto& cl : p.classifications) {
    ImGui::TextColored(kDim, "%s%s", cl.tensor.c_str(), cl.softmax_applied ? " (softmax applied)" : "");
    if (cl.top.empty()) continue;
    const float w = ImGui::GetContentRegionAvail().x;
    for (const auto& r : cl.top[0]) {
      std::string name = r.label.empty() ? "class " + std::to_string(r.index) : r.label;
      ImVec2 q = ImGui::GetCursorScreenPos();
      const float lh = ImGui::GetTextLineHeight();
      ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(q.x, q.y + 0.1f * lh),
                                                ImVec2(q.x + float(std::clamp(r.score, 0.0, 1.0)) * w, q.y + 0.95f * lh),
                                                ImGui::GetColorU32(ImVec4(0.20f, 0.45f, 0.70f, 0.55f)));
      ImGui::Text("%5.1f%%  %s", r.score * 100.0, name.c_str());
    }
  }
  if (p.ctc.empty() && p.classifications.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kDim);
    ImGui::TextWrapped("No class scores or CTC text among the outputs (maps are in the Layer panel).");
    ImGui::PopStyleColor();
  }
}

}  // namespace netlens::ui
