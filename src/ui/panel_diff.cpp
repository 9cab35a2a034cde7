// The Diff panel: layers ranked by divergence (see panel_diff.hpp).
#include "netlens/ui/panel_diff.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include <imgui.h>

namespace netlens::ui {

Panels::ExtraPanel diff_panel(std::vector<DiffRow> ranking) {
  auto rows = std::make_shared<const std::vector<DiffRow>>(std::move(ranking));
  double top = 0;
  for (const DiffRow& r : *rows)
    if (std::isfinite(r.rel_l2)) top = std::max(top, r.rel_l2);
  Panels::ExtraPanel p;
  p.name = "Diff";
  p.body = [rows, top] {
    ImGui::TextDisabled("%zu layers by rel L2 |a-b|/|a|", rows->size());
    const ImGuiTableFlags f = ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
    if (!ImGui::BeginTable("diff_rank", 4, f)) return;
    ImGui::TableSetupColumn("#");
    ImGui::TableSetupColumn("layer", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("rel L2");
    ImGui::TableSetupColumn("", ImGuiTableColumnFlags_WidthFixed, 3.0f * ImGui::GetFontSize());
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableHeadersRow();
    for (size_t i = 0; i < rows->size(); ++i) {
      const DiffRow& r = (*rows)[i];
      const double v = r.rel_l2;
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::Text("%zu", i + 1);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(r.label.c_str());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.tensor.c_str());
      ImGui::TableNextColumn();
      if (std::isfinite(v)) ImGui::Text("%.3g", v);
      else ImGui::TextUnformatted("undef.");
      ImGui::TableNextColumn();
      const float frac = std::isfinite(v) && top > 0 ? float(v / top) : 1.0f;
      ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ImVec4(1.0f, 0.62f, 0.18f, 1.0f));
      ImGui::ProgressBar(frac, ImVec2(-1.0f, 0.6f * ImGui::GetFontSize()), "");
      ImGui::PopStyleColor();
    }
    ImGui::EndTable();
  };
  return p;
}

}  // namespace netlens::ui
