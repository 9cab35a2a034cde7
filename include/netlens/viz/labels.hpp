// Layer labels: what they say and where they go on screen, as pure functions of the layout, the
// camera matrix and a text-width measure (the renderer passes its font's; tests pass any). The
// renderer draws exactly the boxes place_layer_labels returns, and `render --layout-json` writes them,
// so the two agree by construction.
//
// Contract of place_labels: the returned rectangles lie inside the viewport, never overlap each other
// or a reserved rectangle (each grown by the spacing), and are chosen greedily by priority (then by
// index): deterministic. A label that fits nowhere is left out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <glm/mat4x4.hpp>
#include <glm/vec2.hpp>
#include <glm/vec4.hpp>

#include "netlens/viz/layout.hpp"

namespace netlens::viz {

// A readable name for a shown tensor: exporters' suffixes ("_output_0", "_output_cast_0", ".tmp_0")
// dropped, a purely numeric tensor name ("1892") replaced by its producing node's name, module paths
// shortened to their last parts ("layer1.0/conv2/Conv"), at most `max_chars` characters. A collapsed
// group (VizTensor::group) is named by its path's last parts.
std::string display_name(const VizTensor& t, size_t max_chars = 34);
// Second line: "Conv  64x56x56", or for a collapsed group "7 layers  256x56x56".
std::string detail_line(const VizTensor& t);

struct LabelCandidate {
  glm::vec2 anchor{0.0f};  // pixel the label points at (above its volume)
  glm::vec2 size{0.0f};    // w, h in pixels
  float priority = 0.0f;   // higher first
};
struct PlacedLabel {
  int candidate = -1;
  glm::vec4 rect{0.0f};  // x, y, w, h in pixels (y down)
};
// Tries, in order: centred above the anchor, shifted left, shifted right.
std::vector<PlacedLabel> place_labels(const std::vector<LabelCandidate>& candidates, const std::vector<glm::vec4>& reserved,
                                      glm::vec4 viewport /* x0, y0, x1, y1 */, glm::vec2 spacing, float tick = 6.0f);

struct LabelStyle {
  float title_px = 17.0f, detail_px = 14.0f, pad = 7.0f, tick = 6.0f;  // at ui scale 1
  glm::vec2 spacing{14.0f, 10.0f};
  float ui = 1.0f;  // scale (the renderer's height / 1000, clamped)
};
struct LayerLabel {
  int layer = -1;
  std::string title, detail;
  glm::vec4 rect{0.0f};  // x, y, w, h
  glm::vec2 anchor{0.0f};
};
using TextWidth = std::function<float(const std::string& text, float px)>;
// A layer opened into a grid of tiles (viz/open_layer.hpp) at openness t > 0; layer -1: none.
struct OpenLabels {
  int layer = -1;
  float t = 0.0f;
};
// The open layer's grid on screen: the bounding rectangle (x, y, w, h) of its tiles' corners
// projected with view_proj, clipped to the frame; w = 0 when it is not in front of the camera.
glm::vec4 open_grid_rect(const Layout& layout, const OpenLabels& open, const glm::mat4& view_proj, int width, int height);
// Labels of the layers in `order` (e.g. nearest first; priority follows that order unless a layer
// is on the spine or a collapsed group, which come first), skipping layers whose anchor is off
// screen or for which `skip` says so.
std::vector<LayerLabel> place_layer_labels(const Layout& layout, const std::vector<int>& order, const glm::mat4& view_proj,
                                           int width, int height, const TextWidth& text_width, const LabelStyle& style,
                                           const std::vector<glm::vec4>& reserved, glm::vec2 x_range,
                                           const std::function<bool(int)>& skip = {}, const OpenLabels& open = {});
// With `open` (t > 0): the grid's screen rectangle is kept free of other labels, a layer whose anchor
// falls on the grid and lies behind it (farther along the view than the grid's centre) is not
// labelled (its volume is hidden by the tiles), and the open layer's own label comes first, centred
// on the grid's top edge (above it when there is room, else just inside it).

}  // namespace netlens::viz
