// The Diff panel of an A/B comparison (`render --diff MODEL_B | --input-b FILE --ui`): the layers
// ranked by divergence (rel_l2_diff, inspect/diff.hpp), most divergent first, each with its figure
// and a bar scaled by the largest. Drawn as the panels' host panel (Panels::set_extra).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "netlens/ui/panels.hpp"

namespace netlens::ui {

struct DiffRow {
  std::string tensor;  // full name (the tooltip)
  std::string label;   // what the row shows (viz::display_name, as the 3D labels)
  double rel_l2 = 0;   // NaN: undefined (an all-zero A)
};
// `ranking`: most divergent first. Copied into the panel.
Panels::ExtraPanel diff_panel(std::vector<DiffRow> ranking);

}  // namespace netlens::ui
