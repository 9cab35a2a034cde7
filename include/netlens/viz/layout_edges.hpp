// How each data-flow edge of a layout is drawn: a polyline in world space, computed from the layout
// only (deterministic). The renderer draws these instead of straight back-face-to-front-face lines,
// which cross the picture in wrapped rows and in a U:
//   Flow   — to the next level of the same row: straight, from the source's exit face to the
//            destination's entry face (faces follow the row's direction, LayerVolume::dir).
//   Arc    — a skip within a row (residual, dense connections): a short arc over the volumes it skips,
//            from the source's top to the destination's top.
//   Bridge — between rows: a U's skip between matching resolutions, or a wrapped row's turn; a short
//            straight line from the source's bottom to the destination's top.
#pragma once

#include <vector>

#include <glm/vec3.hpp>

#include "netlens/viz/layout.hpp"

namespace netlens::viz {

enum class EdgeKind { Flow, Arc, Bridge };

struct EdgeRoute {
  int from = -1, to = -1;  // layer indices
  EdgeKind kind = EdgeKind::Flow;
  std::vector<glm::vec3> points;  // at least 2
  float length() const;
};

std::vector<EdgeRoute> route_edges(const Layout& layout);

// Where data enters / leaves a volume along its row's flow (the centre of that face).
glm::vec3 entry_point(const LayerVolume& v);
glm::vec3 exit_point(const LayerVolume& v);

}  // namespace netlens::viz
