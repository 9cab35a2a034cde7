// `render --layout-json FILE`: the laid-out scene for tests and users' own tooling.
//   {"layers": [{"tensor", "group", "center": [x, y, z], "size": [w, h, d], "level", "row", "lane",
//                "dir", "spine", "folded"}...],
//    "edges": [{"from", "to", "kind": "flow"|"arc"|"bridge", "length"}...],
//    "labels": [{"text", "detail", "layer", "rect": [x, y, w, h]}...],
//    "rows", "u_shape"}
// World boxes in layout units; label rectangles in pixels of the rendered frame (y down).
#pragma once

#include <string>
#include <vector>

#include "netlens/viz/labels.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

// `groups`: per layer, its group path ("" for none); may be empty (then a collapsed entry's own path).
std::string layout_json(const Layout& layout, const std::vector<std::string>& groups, const std::vector<LayerLabel>& labels);

}  // namespace netlens::viz
