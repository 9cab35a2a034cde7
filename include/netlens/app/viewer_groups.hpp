// The model tree's group actions on a View (ui::PanelActions::collapse_group and focus_group), as
// the window applies them; here so that tests drive the same code.
//  - Unfolding a collapsed group is View::expand_block on its block: exactly what a click on the
//    block in 3D does (one level opens).
//  - Folding a group collapses it, and the groups inside it, into one block (viz::collapse_group).
//  - A group's camera frames its shown layers (the overview camera of those layers alone).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "netlens/app/view.hpp"

namespace netlens::app {

// The layer of `l` that shows group `path` collapsed (a block), else -1.
int group_block(const viz::Layout& l, const std::string& path);
// Folds (collapse) or unfolds group `path` of the view. Returns whether the layout changed: false
// when it already was so or no group has that path.
bool set_group_collapsed(View& v, const std::string& path, bool collapse);
// The shown layers inside group `path` (its block when collapsed), ascending; empty when none.
std::vector<int> group_layers(const View& v, const std::string& path);
// The camera framing those layers for a frame of this aspect; nullopt when there are none.
std::optional<viz::Camera> group_camera(const View& v, const std::string& path, float aspect);

}  // namespace netlens::app
