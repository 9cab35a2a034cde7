// Token labels in 3D (issue 18): when the input is text (--text), a sequence tensor's token axis —
// the rows of a [1, T, D] sheet or of an LSTM's Y, the query rows and key columns of a [1, heads, T, T]
// attention map — is labelled with the tokens, one small label per row (left of the row) or column
// (above it). Pure functions of the layout, the camera matrix and a text-width measure, like
// labels.hpp: the renderer draws exactly what place_token_labels returns and `render --layout-json`
// writes the same boxes ("token_labels"), so tests check the drawn placement without Vulkan.
//
// Contract of place_token_labels: an axis is labelled all or nothing — every token of it, in order,
// or none (a partial run of tokens would read as the wrong positions); its rectangles lie inside the
// viewport and overlap neither each other, nor any reserved rectangle (the layer labels, title,
// legend), nor the layer's other axis's, nor the screen box of a layer nearer to the camera (earlier
// in `order`: labels seen through the focused layer would read as its own). Row labels sit left of
// their row (else right of it), column labels above their column (else below it), staggered over up
// to 3 lines when wider than it. One layer at most is labelled: the first in `order` (nearest first)
// with an axis that fits — labels of several layers side by side read as one layer's, over each
// other's volumes. So the overview (rows a pixel apart) shows no token labels and a close-up of one
// layer shows its tokens. Deterministic: axes are tried in `order`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <glm/mat4x4.hpp>
#include <glm/vec2.hpp>
#include <glm/vec3.hpp>
#include <glm/vec4.hpp>

#include "netlens/viz/labels.hpp"
#include "netlens/viz/layout.hpp"

namespace netlens::viz {

enum class TokenAxisKind { Rows, Columns };  // Rows: volume y (world -Y); Columns: volume x (world +Z)
struct TokenAxis {
  int layer = -1;
  TokenAxisKind kind = TokenAxisKind::Rows;
};
// The layers with a token axis for `n_tokens` tokens (n_tokens >= 2; fewer: none), in layer order,
// rows before columns. A layer qualifies when its volume is a sheet/stack (not a vector wrapped into
// a grid) and its rows (H) or columns (W) number n_tokens. A rank-3 [N, T, D] sheet whose D happens
// to equal T gets rows only (D is features, not time).
std::vector<TokenAxis> token_axes(const Layout& layout, size_t n_tokens);
// World anchor of token `i` on an axis: Rows: the row's centre line at the volume's entry face
// (x = origin.x), at its z-min end (`far` = false) or z-max end (true). Columns: the column's centre
// at the top edge of the entry face.
glm::vec3 token_anchor(const LayerVolume& l, TokenAxisKind kind, int64_t i, bool far = false);

struct TokenLabel {
  int layer = -1;
  TokenAxisKind kind = TokenAxisKind::Rows;
  int token = -1;
  std::string text;
  glm::vec4 rect{0.0f};  // x, y, w, h in pixels (y down)
  glm::vec2 anchor{0.0f};
};
struct TokenLabelStyle {
  float px = 15.0f, pad = 1.5f, gap = 4.0f;  // text size, padding (each side; half of it above and below), gap to the volume (ui 1)
  glm::vec2 spacing{2.0f, 0.5f};              // kept free between two labels
  float ui = 1.0f;
};
// The label text of a token: control characters and spaces made visible ("␣" is not in the ASCII
// label font: a space reads "_", a newline "\n", a tab "\t"), at most 12 characters.
std::string token_label_text(const std::string& token);
// Places the labels of every axis of token_axes(layout, tokens.size()) whose layer is in `order`
// (e.g. nearest first) and not skipped (`skip`: layers not drawn, e.g. cut away; they hide nothing); `reserved` (x, y, w, h) stays free; x_range bounds x.
std::vector<TokenLabel> place_token_labels(const Layout& layout, const std::vector<std::string>& tokens, const std::vector<int>& order,
                                           const glm::mat4& view_proj, int width, int height, const TextWidth& text_width,
                                           const TokenLabelStyle& style, const std::vector<glm::vec4>& reserved, glm::vec2 x_range,
                                           const std::function<bool(int)>& skip = {});
// The "token_labels" array of `render --layout-json`: [{"layer", "axis": "rows"|"columns", "token",
// "text", "rect": [x, y, w, h]}...].
std::string token_labels_json(const std::vector<TokenLabel>& labels);

}  // namespace netlens::viz
