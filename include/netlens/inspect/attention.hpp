// Attention maps: found in the graph, measured, projected back onto the input image, rolled out.
//
// Detection: a Softmax whose input comes from a MatMul of two activations (queries × keysᵀ), possibly
// through Mul/Div by a constant (the 1/√d scale), Add/Sub of anything (a mask or a position bias),
// Reshape, Transpose, Squeeze, Unsqueeze, Cast or Identity. A MatMul with a constant operand (a
// classifier head before its softmax) is not attention.
// Axes: the softmax axis is the key-token axis, the axis before it the query-token axis; among the
// remaining axes of size > 1 the one right before the query axis (else the first) is the head axis;
// every other axis is read at index 0 (batch item 0). Opset < 13 Softmax flattens from its axis; such
// a node is taken only when its axis is the last one (then both definitions agree).
//
// Per map and head: the mean over query rows of the row entropy −Σ p·ln p (nats), and the largest
// |Σ_k p − 1| over all rows (a Softmax gives ≤ 1e-6). Display matrices (for panels and JSON) are
// T_q×T_k when both are ≤ max_display, else downsampled by blocks of ⌈T/max_display⌉: a cell is the
// mean over the block's query rows of the sum over its key columns, so display rows still sum to 1.
//
// Token grid: when the key tokens come from a 4-D feature map [N, C, H', W'] flattened into tokens
// (the nearest Reshape/Flatten of a rank-4 activation upstream of the queries, found by a
// breadth-first walk over producers) with T_k = H'·W' + prefix, prefix 0 or 1 (a class token
// prepended, as in ViT), key token prefix + y·W' + x is the feature-map cell (y, x). Its image region
// is taken as the cell scaled by H/H', W/W' of the 4-D graph input (a stride approximation: the true
// receptive field is larger; viz::receptive_field has it exactly).
//
// Token labels: when the model ran on text (AttentionOptions::tokens, the tokenizer's labels, and
// token_input, the graph input they went into), a map whose queries (resp. keys) descend from that
// input (breadth-first over producers) and whose T_q (resp. T_k) equals the token count is labelled
// with the tokens on that axis; rollouts of such maps too. Positions are not re-checked beyond the
// count: a model that reorders or adds tokens inside the graph would be labelled wrongly.
//
// Rollout (Abnar & Zuidema 2020): for maps with T_q = T_k = T, grouped by T in graph order: per layer
// the head mean A, A' = 0.5·A + 0.5·I with rows renormalised, R = A'_L ··· A'_1.
//
// Contract: pure functions of a ModelView whose session has run; values are read at call time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"

namespace netlens::inspect {

struct TokenGrid {
  std::string feature_map;   // the [N, C, H', W'] tensor flattened into tokens
  int64_t h = 0, w = 0;      // H', W'
  int64_t prefix = 0;        // tokens before the grid (1 = class token)
  std::string image;         // the 4-D graph input ("" when there is none)
  int64_t image_h = 0, image_w = 0;
  double scale_y = 0, scale_x = 0;  // image pixels per feature-map cell (H/H', W/W')
};

struct AttentionMap {
  std::string softmax_node, tensor;   // the Softmax and its output
  std::string matmul_node, queries, keys;  // the scores MatMul and its two inputs
  std::vector<std::string> path;      // ops between the MatMul and the Softmax, in data-flow order
  Shape shape;
  int64_t key_axis = 0, query_axis = 0, head_axis = -1;  // head_axis −1: a single head
  int64_t heads = 1, tq = 0, tk = 0;
  std::vector<double> entropy;        // per head, nats
  double max_row_error = 0;           // max |row sum − 1|
  int64_t block_q = 1, block_k = 1;   // display block sizes
  std::vector<std::vector<float>> display;  // per head, (tq/block_q)×(tk/block_k) row-major (ceil)
  std::optional<TokenGrid> grid;
  std::vector<std::string> query_tokens, key_tokens;  // text labels per axis (empty when unknown)
};

struct AttentionOptions {
  int64_t max_display = 64;
  std::vector<std::string> tokens;  // the text input's token labels (see "Token labels")
  std::string token_input;          // the graph input the tokens went into
};

std::vector<AttentionMap> find_attention(const ModelView& view, const AttentionOptions& opt = {});

// Full T_q×T_k matrix of one head (batch 0), row-major, in double. head −1 = mean over heads.
std::vector<double> head_matrix(const ModelView& view, const AttentionMap& map, int64_t head);

// The attention of query token `query` over the key tokens, laid out on the token grid (H'×W',
// prefix tokens dropped). head −1 = mean over heads. Error{Usage} when the map has no grid or the
// query is out of range.
struct Projection {
  std::string tensor;
  int64_t query = 0, head = -1;
  TokenGrid grid;
  std::vector<double> values;  // H'×W' row-major
  double prefix_mass = 0;      // attention on the prefix tokens (not on the grid)
};
Projection project_query(const ModelView& view, const AttentionMap& map, int64_t query, int64_t head = -1);
// The same row of any T_q×T_k matrix (e.g. a rollout) on a map's grid.
Projection project_row(const std::vector<double>& matrix, int64_t tk, const TokenGrid& grid, int64_t query);
// Nearest-neighbour upsampling of a projection to the image (image_h × image_w, row-major): pixel
// (y, x) takes cell (⌊y/scale_y⌋, ⌊x/scale_x⌋), clamped.
std::vector<float> projection_image(const Projection& p);

struct Rollout {
  int64_t t = 0;
  std::vector<std::string> layers;  // Softmax outputs, in order
  std::vector<double> matrix;       // T×T row-major
  std::optional<TokenGrid> grid;    // the last layer's grid
  std::vector<std::string> tokens;  // text labels (when its maps have them on both axes)
};
// One rollout per group of square maps of equal T (groups of one map included).
std::vector<Rollout> attention_rollout(const ModelView& view, const std::vector<AttentionMap>& maps);

// `query` is the token projected for the JSON (maps and rollouts with a grid); −1 = none. Maps and
// rollouts with token labels carry them ("query_tokens"/"key_tokens", "tokens"; null otherwise) and,
// for `query`, "token_attention": its head-mean row as [{"token", "weight"}] over the key tokens.
nlohmann::json to_json(const AttentionMap& m);
nlohmann::json to_json(const Projection& p);
nlohmann::json to_json(const Rollout& r, int64_t max_display = 64);
nlohmann::json attention_json(const ModelView& view, const AttentionOptions& opt, int64_t query);

}  // namespace netlens::inspect
