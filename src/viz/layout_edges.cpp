#include "netlens/viz/layout_edges.hpp"

#include <algorithm>
#include <cmath>

#include <glm/geometric.hpp>

namespace netlens::viz {

float EdgeRoute::length() const {
  float s = 0.0f;
  for (size_t i = 1; i < points.size(); ++i) s += glm::length(points[i] - points[i - 1]);
  return s;
}

glm::vec3 entry_point(const LayerVolume& v) {
  return {v.dir >= 0 ? v.origin.x : v.max().x, v.center().y, v.center().z};
}
glm::vec3 exit_point(const LayerVolume& v) {
  return {v.dir >= 0 ? v.max().x : v.origin.x, v.center().y, v.center().z};
}

std::vector<EdgeRoute> route_edges(const Layout& layout) {
  const auto& L = layout.layers;
  std::vector<EdgeRoute> out;
  for (size_t i = 0; i < L.size(); ++i)
    for (int s : L[i].tensor.inputs) {
      if (s < 0 || static_cast<size_t>(s) >= L.size()) continue;
      const LayerVolume& a = L[static_cast<size_t>(s)];
      const LayerVolume& b = L[i];
      EdgeRoute e;
      e.from = s;
      e.to = static_cast<int>(i);
      if (a.row != b.row) {
        e.kind = EdgeKind::Bridge;
        const bool down = b.center().y < a.center().y;
        e.points = {{a.center().x, down ? a.origin.y : a.max().y, a.center().z},
                    {b.center().x, down ? b.max().y : b.origin.y, b.center().z}};
      } else if (b.level - a.level <= 1) {
        e.kind = EdgeKind::Flow;
        e.points = {exit_point(a), entry_point(b)};
      } else {
        // An arc over every volume of the row between the two (in X), a little above the tallest.
        e.kind = EdgeKind::Arc;
        const float x0 = std::min(a.center().x, b.center().x), x1 = std::max(a.center().x, b.center().x);
        float top = std::max(a.max().y, b.max().y);
        for (const auto& v : L)
          if (v.row == a.row && v.max().x > x0 && v.origin.x < x1) top = std::max(top, v.max().y);
        const glm::vec3 p0(a.center().x, a.max().y, a.center().z), p3(b.center().x, b.max().y, b.center().z);
        // Rise: clear the volumes passed over, plus a fraction of the span capped at about half the
        // endpoints' height, so long skips (DenseNet's concatenations) stay near the row instead of
        // forming a dome over the picture.
        const float hcap = 0.5f * std::max(a.size.y, b.size.y) + 4.0f;
        const float rise = (top - std::max(p0.y, p3.y)) + 2.0f + std::min(0.12f * (x1 - x0), hcap);
        const glm::vec3 p1(p0.x, std::max(p0.y, p3.y) + rise * 1.33f, p0.z), p2(p3.x, p1.y, p3.z);
        constexpr int kSteps = 16;  // cubic Bézier, sampled
        for (int k = 0; k <= kSteps; ++k) {
          float t = float(k) / kSteps, u = 1.0f - t;
          e.points.push_back(u * u * u * p0 + 3.0f * u * u * t * p1 + 3.0f * u * t * t * p2 + t * t * t * p3);
        }
      }
      out.push_back(std::move(e));
    }
  return out;
}

}  // namespace netlens::viz
