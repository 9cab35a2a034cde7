// Placement of sized volumes (layout.cpp sizes them and gives each its level): the structure-revealing
// part of the layout. Deterministic: every choice below is a function of the tensor list only, ties
// broken by list index.
//
//  1. The spine: the longest input-to-output chain, one volume per level, centred on z = 0. Every
//     other volume of a level sits beside it in a lane (+1, -1, +2, ...); a branch keeps its lane
//     along its length (Inception's branches, a downsample shortcut, FPN laterals run side by side).
//  2. Rows. An encoder-decoder (the spine's spatial size falls to a bottleneck and rises again, and a
//     skip joins tensors of equal size across it) is folded into a U: the encoder flows along +X,
//     the decoder comes back along -X underneath, each resolution's decoder part under the encoder
//     part of the same size, so the skips are short vertical bridges (FPN decoders too: a lateral
//     branch stays in its stage's column; a long encoder's columns are folded into sub-rows stacked
//     over the decoder, PP-OCRv4 det). Any other long network is
//     wrapped into rows that run back and forth, cut at gaps crossed by no skip (stage boundaries)
//     where possible, so that each row break is one short turn.
//  3. Lanes get one width per row, so that side-by-side branches stay parallel.
#include "layout_place.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace netlens::viz::detail {

namespace {

// Spatial size of a 4-D activation for the encoder/decoder test; 0 when not spatial (vectors,
// token sheets) or 1x1 (global pooling, squeeze-excitation: a transient, not a stage).
int64_t spatial(const LayerVolume& v) {
  if (v.tensor.shape.size() < 4 || v.dims.grid) return 0;
  const int64_t hw = v.dims.H * v.dims.W;
  return hw > 1 ? hw : 0;
}

struct Slot {  // one level's place along X
  float x0 = 0.0f, depth = 0.0f, height = 0.0f;
};

// Wraps the laid-out tracks (one straight row, or a U's encoder over its decoder) into rows of about
// the aspect o.wrap_aspect. Cuts are X positions in the gaps between levels of the first track that
// no volume straddles; among them the cuts that leave the rows' lengths most even, with a penalty
// per skip edge (longer than one level) cut and a bonus at stage boundaries (spatial size changes).
// Every other row is mirrored (flows along -X) and starts under the end of the row above: one short
// turn per row break.
void wrap_rows(std::vector<LayerVolume>& V, const std::vector<std::vector<int>>& at, std::vector<Slot>& slot,
               const std::vector<int64_t>& res, std::vector<int>& row_of, std::vector<float>& level_y,
               std::vector<int>& dir, Layout& L, const LayoutOptions& o) {
  const int levels = static_cast<int>(slot.size());
  const int tracks = L.u_shape ? 2 : 1;
  float x_min = 1e30f, x_max = -1e30f, top = -1e30f, bottom = 1e30f;
  std::vector<float> hs, ws;
  for (int lv = 0; lv < levels; ++lv) {
    const Slot& s = slot[static_cast<size_t>(lv)];
    x_min = std::min(x_min, s.x0);
    x_max = std::max(x_max, s.x0 + s.depth);
    top = std::max(top, level_y[static_cast<size_t>(lv)] + 0.5f * s.height);
    bottom = std::min(bottom, level_y[static_cast<size_t>(lv)] - 0.5f * s.height);
    hs.push_back(s.height);
    float w = 0.0f;
    for (int id : at[static_cast<size_t>(lv)]) w += V[static_cast<size_t>(id)].size.z;
    ws.push_back(w);
  }
  std::sort(hs.begin(), hs.end());
  std::sort(ws.begin(), ws.end());
  const float typical = std::max(1.0f, hs[hs.size() * 3 / 4]), hmax = hs.back();
  // Rows of volumes much wider than tall (text-line maps) get more room, so that seen from above at
  // an angle one row does not hide the next.
  const float extra = 0.45f * std::max(0.0f, ws[ws.size() * 3 / 4] - typical);
  const float row_gap = o.gap_min + 1.2f * typical + 10.0f + extra;
  const float total = x_max - x_min;
  // A row's height: one track of typical volumes, or the U's two tracks.
  const float band = tracks == 1 ? typical : std::max(typical, 0.5f * (top - bottom));
  // Candidate cuts: after level g of the first track, where nothing of the other track straddles.
  struct Cut { float x; float cost; };
  std::vector<Cut> cand;
  std::vector<int> long_cross(static_cast<size_t>(levels), 0);
  for (auto& v : V)
    for (int s : v.tensor.inputs) {
      if (s < 0) continue;
      int a = V[static_cast<size_t>(s)].level, b = v.level;
      if (b - a >= 2 && row_of[static_cast<size_t>(a)] == row_of[static_cast<size_t>(b)])
        for (int g = a; g < b; ++g) ++long_cross[static_cast<size_t>(g)];
    }
  for (int g = 1; g + 2 < levels; ++g) {
    if (row_of[static_cast<size_t>(g)] != 0 || row_of[static_cast<size_t>(g + 1)] != 0) continue;
    const float xc = 0.5f * (slot[static_cast<size_t>(g)].x0 + slot[static_cast<size_t>(g)].depth + slot[static_cast<size_t>(g + 1)].x0);
    bool clear = true;
    for (int lv = 0; lv < levels && clear; ++lv)
      if (row_of[static_cast<size_t>(lv)] != 0 && slot[static_cast<size_t>(lv)].x0 - 0.5f * o.gap_min < xc &&
          slot[static_cast<size_t>(lv)].x0 + slot[static_cast<size_t>(lv)].depth + 0.5f * o.gap_min > xc)
        clear = false;
    if (!clear) continue;
    float cost = 0.6f * float(std::min(long_cross[static_cast<size_t>(g)], 3)) -
                 (res[static_cast<size_t>(g)] != res[static_cast<size_t>(g + 1)] ? 0.15f : 0.0f);
    cand.push_back({xc, cost});
  }
  // Best cuts for each row count by dynamic programming (rows' length deviation + cut costs), then
  // the row count whose block comes closest to the aspect.
  const int C = static_cast<int>(cand.size());
  int best_rows = 1;
  std::vector<float> best_cuts;
  float best_score = std::fabs(std::log((total / (band + hmax - typical + 1e-3f)) / o.wrap_aspect));
  for (int r = 2; r <= std::min(12, C + 1); ++r) {
    const float target = total / float(r);
    auto dev = [&](float a, float b) { float d = (b - a - target) / target; return d * d; };
    // dp[k][j]: best cost with k cuts, the last at candidate j.
    std::vector<std::vector<float>> dp(static_cast<size_t>(r), std::vector<float>(static_cast<size_t>(C), 1e30f));
    std::vector<std::vector<int>> from(static_cast<size_t>(r), std::vector<int>(static_cast<size_t>(C), -1));
    for (int j = 0; j < C; ++j) dp[1][static_cast<size_t>(j)] = dev(x_min, cand[static_cast<size_t>(j)].x) + cand[static_cast<size_t>(j)].cost;
    for (int k = 2; k < r; ++k)
      for (int j = 0; j < C; ++j)
        for (int i = 0; i < j; ++i) {
          float c = dp[static_cast<size_t>(k - 1)][static_cast<size_t>(i)] + dev(cand[static_cast<size_t>(i)].x, cand[static_cast<size_t>(j)].x) +
                    cand[static_cast<size_t>(j)].cost;
          if (c < dp[static_cast<size_t>(k)][static_cast<size_t>(j)]) {
            dp[static_cast<size_t>(k)][static_cast<size_t>(j)] = c;
            from[static_cast<size_t>(k)][static_cast<size_t>(j)] = i;
          }
        }
    int bj = -1;
    float bc = 1e30f;
    for (int j = 0; j < C; ++j) {
      float c = dp[static_cast<size_t>(r - 1)][static_cast<size_t>(j)] + dev(cand[static_cast<size_t>(j)].x, x_max);
      if (c < bc) { bc = c; bj = j; }
    }
    if (bj < 0) continue;
    std::vector<float> cuts;
    for (int k = r - 1, j = bj; k >= 1; j = from[static_cast<size_t>(k)][static_cast<size_t>(j)], --k) cuts.push_back(cand[static_cast<size_t>(j)].x);
    std::reverse(cuts.begin(), cuts.end());
    float max_len = 0.0f;
    for (int k = 0; k < r; ++k)
      max_len = std::max(max_len, (k + 1 < r ? cuts[static_cast<size_t>(k)] : x_max) - (k ? cuts[static_cast<size_t>(k - 1)] : x_min));
    const float height = float(r) * band + float(r - 1) * row_gap + hmax - typical;
    const float score = std::fabs(std::log((max_len / height) / o.wrap_aspect)) + 0.25f * bc;
    if (score < best_score) { best_score = score; best_rows = r; best_cuts = cuts; }
  }
  if (best_rows == 1) return;
  // Ribbon k: levels whose slot centre lies between cuts k-1 and k.
  std::vector<int> ribbon(static_cast<size_t>(levels), 0);
  for (int lv = 0; lv < levels; ++lv) {
    const float c = slot[static_cast<size_t>(lv)].x0 + 0.5f * slot[static_cast<size_t>(lv)].depth;
    int k = 0;
    while (k < static_cast<int>(best_cuts.size()) && c > best_cuts[static_cast<size_t>(k)]) ++k;
    ribbon[static_cast<size_t>(lv)] = k;
  }
  std::vector<float> r_top(static_cast<size_t>(best_rows), -1e30f), r_bot(static_cast<size_t>(best_rows), 1e30f),
      r_x0(static_cast<size_t>(best_rows), 1e30f), r_x1(static_cast<size_t>(best_rows), -1e30f);
  for (int lv = 0; lv < levels; ++lv) {
    const size_t k = static_cast<size_t>(ribbon[static_cast<size_t>(lv)]);
    const Slot& s = slot[static_cast<size_t>(lv)];
    r_top[k] = std::max(r_top[k], level_y[static_cast<size_t>(lv)] + 0.5f * s.height);
    r_bot[k] = std::min(r_bot[k], level_y[static_cast<size_t>(lv)] - 0.5f * s.height);
    r_x0[k] = std::min(r_x0[k], s.x0);
    r_x1[k] = std::max(r_x1[k], s.x0 + s.depth);
  }
  // Stack downwards. Rows are justified to the longest one's length by spreading their volumes (at
  // most 1.6x the gaps' share), forward rows from the left edge, mirrored rows from the right edge,
  // so each row starts under the end of the row above: the turn is a short vertical step.
  float longest = 0.0f;
  for (int k = 0; k < best_rows; ++k) longest = std::max(longest, r_x1[static_cast<size_t>(k)] - r_x0[static_cast<size_t>(k)]);
  std::vector<float> dy(static_cast<size_t>(best_rows), 0.0f), stretch(static_cast<size_t>(best_rows), 1.0f);
  for (int k = 0; k < best_rows; ++k) {
    if (k > 0)
      dy[static_cast<size_t>(k)] = dy[static_cast<size_t>(k - 1)] + r_bot[static_cast<size_t>(k - 1)] - row_gap - r_top[static_cast<size_t>(k)];
    const float len = r_x1[static_cast<size_t>(k)] - r_x0[static_cast<size_t>(k)];
    // Scaling slot starts by s >= 1 (sizes kept) only widens the gaps: nothing can overlap.
    float last_depth = 0.0f, last_x0 = -1e30f;
    for (int lv = 0; lv < levels; ++lv)
      if (ribbon[static_cast<size_t>(lv)] == k && slot[static_cast<size_t>(lv)].x0 > last_x0) {
        last_x0 = slot[static_cast<size_t>(lv)].x0;
        last_depth = slot[static_cast<size_t>(lv)].depth;
      }
    const float span = len - last_depth;  // start of the first slot to start of the last
    if (span > 0.0f) stretch[static_cast<size_t>(k)] = std::clamp((longest - last_depth) / span, 1.0f, 1.6f);
  }
  for (int lv = 0; lv < levels; ++lv) {
    const int k = ribbon[static_cast<size_t>(lv)];
    Slot& s = slot[static_cast<size_t>(lv)];
    const float rel = (s.x0 - r_x0[static_cast<size_t>(k)]) * stretch[static_cast<size_t>(k)];
    s.x0 = k % 2 ? longest - rel - s.depth : rel;
    level_y[static_cast<size_t>(lv)] += dy[static_cast<size_t>(k)];
    if (k % 2) dir[static_cast<size_t>(lv)] = -dir[static_cast<size_t>(lv)];
    row_of[static_cast<size_t>(lv)] = k * tracks + row_of[static_cast<size_t>(lv)];
  }
  L.rows = best_rows * tracks;
}

}  // namespace

void place_volumes(Layout& L, const LayoutOptions& o) {
  auto& V = L.layers;
  const int n = static_cast<int>(V.size());
  if (n == 0) return;
  int levels = 0;
  for (auto& v : V) levels = std::max(levels, v.level + 1);
  std::vector<std::vector<int>> at(static_cast<size_t>(levels));
  for (int i = 0; i < n; ++i) at[static_cast<size_t>(V[static_cast<size_t>(i)].level)].push_back(i);

  // 1. Spine: from the last volume of the deepest level back through the first input one level up.
  std::vector<int> spine(static_cast<size_t>(levels), -1);
  {
    int cur = at.back().back();
    while (cur >= 0) {
      auto& v = V[static_cast<size_t>(cur)];
      v.spine = true;
      spine[static_cast<size_t>(v.level)] = cur;
      int next = -1;
      for (int s : v.tensor.inputs)
        if (s >= 0 && s < cur && V[static_cast<size_t>(s)].level == v.level - 1) { next = s; break; }
      cur = next;
    }
  }
  // Lanes: a branch continues the lane of its first off-spine input when that lane is free.
  for (int lv = 0; lv < levels; ++lv) {
    std::vector<int> used;
    if (spine[static_cast<size_t>(lv)] >= 0) used.push_back(0);
    for (int id : at[static_cast<size_t>(lv)]) {
      auto& v = V[static_cast<size_t>(id)];
      if (v.spine) { v.lane = 0; continue; }
      int pref = 0;
      for (int s : v.tensor.inputs)
        if (s >= 0 && !V[static_cast<size_t>(s)].spine) { pref = V[static_cast<size_t>(s)].lane; break; }
      auto is_free = [&](int l) { return l != 0 && std::find(used.begin(), used.end(), l) == used.end(); };
      int lane = 0;
      if (pref != 0 && is_free(pref)) lane = pref;
      for (int k = 1; lane == 0; ++k) {
        // Around the preferred lane on its own side first, else +1, -1, +2, -2, ...
        int a = pref == 0 ? k : pref + (pref > 0 ? k : -k), b = pref == 0 ? -k : pref - (pref > 0 ? k : -k);
        if (is_free(a)) lane = a;
        else if (is_free(b)) lane = b;
      }
      v.lane = lane;
      used.push_back(lane);
    }
  }

  // Level slots along X, as one straight row.
  std::vector<Slot> slot(static_cast<size_t>(levels));
  for (int lv = 0; lv < levels; ++lv) {
    for (int id : at[static_cast<size_t>(lv)]) {
      slot[static_cast<size_t>(lv)].depth = std::max(slot[static_cast<size_t>(lv)].depth, V[static_cast<size_t>(id)].size.x);
      slot[static_cast<size_t>(lv)].height = std::max(slot[static_cast<size_t>(lv)].height, V[static_cast<size_t>(id)].size.y);
    }
  }
  auto gap_between = [&](int a, int b) {  // gap before level b when it follows level a
    return o.gap_min + o.gap_rel * std::max(slot[static_cast<size_t>(a)].height, slot[static_cast<size_t>(b)].height);
  };
  // Pack the levels [first, last] from x0 along +X; returns the end.
  auto pack = [&](int first, int last, float x0) {
    float x = x0;
    for (int lv = first; lv <= last; ++lv) {
      if (lv > first) x += gap_between(lv - 1, lv);
      slot[static_cast<size_t>(lv)].x0 = x;
      x += slot[static_cast<size_t>(lv)].depth;
    }
    return x;
  };
  pack(0, levels - 1, 0.0f);

  std::vector<int> row_of(static_cast<size_t>(levels), 0);
  // Lanes get one width per (row, band): a U's columns are bands of their own, so that a 1/4-size
  // column's lateral lane is not pushed out by the input's width (bridges stay short along Z).
  std::vector<int> band(static_cast<size_t>(levels), 0);
  std::vector<float> row_y(1, 0.0f);
  std::vector<float> level_y(static_cast<size_t>(levels), 0.0f);  // centre line of each level
  std::vector<int> dir(static_cast<size_t>(levels), 1);

  // 2a. Encoder-decoder → U.
  std::vector<int64_t> res(static_cast<size_t>(levels), 0);  // spine's spatial size per level
  for (int lv = 0; lv < levels; ++lv) {
    int s = spine[static_cast<size_t>(lv)];
    res[static_cast<size_t>(lv)] = s >= 0 ? spatial(V[static_cast<size_t>(s)]) : 0;
    if (res[static_cast<size_t>(lv)] == 0 && lv > 0) res[static_cast<size_t>(lv)] = res[static_cast<size_t>(lv - 1)];
  }
  int bottleneck_end = -1;
  if (o.fold_u && levels >= 6) {
    int64_t lo = std::numeric_limits<int64_t>::max();
    for (int lv = 0; lv < levels; ++lv)
      if (res[static_cast<size_t>(lv)] > 0 && res[static_cast<size_t>(lv)] < lo) lo = res[static_cast<size_t>(lv)];
    int first_lo = -1, last_lo = -1;
    for (int lv = 0; lv < levels; ++lv)
      if (res[static_cast<size_t>(lv)] == lo) { if (first_lo < 0) first_lo = lv; last_lo = lv; }
    // Bottleneck run: the levels at the minimum size contiguous with its first occurrence.
    int m = first_lo;
    while (m >= 0 && m + 1 < levels && res[static_cast<size_t>(m + 1)] == lo) ++m;
    int64_t start = 0, later = 0;
    for (int lv = 0; lv < first_lo && lv >= 0; ++lv) start = std::max(start, res[static_cast<size_t>(lv)]);
    for (int lv = m + 1; m >= 0 && lv < levels; ++lv) later = std::max(later, res[static_cast<size_t>(lv)]);
    bool rises = first_lo > 0 && later >= 4 * lo && start >= 4 * lo && 4 * later >= start;
    bool skip = false;  // an edge across the bottleneck between equal spatial sizes
    if (rises)
      for (int i = 0; i < n && !skip; ++i) {
        const auto& t = V[static_cast<size_t>(i)];
        if (t.level <= m || spatial(t) == 0) continue;
        for (int s : t.tensor.inputs)
          if (s >= 0 && V[static_cast<size_t>(s)].level < first_lo && spatial(V[static_cast<size_t>(s)]) == spatial(t)) skip = true;
      }
    (void)last_lo;
    if (rises && skip) bottleneck_end = m;
  }

  if (bottleneck_end >= 0) {
    L.u_shape = true;
    L.rows = 2;
    const int m = bottleneck_end;
    // Columns: the encoder's runs of equal spatial size, left to right. Each decoder run joins the
    // column of its size when that keeps the decoder moving leftwards, else the current column.
    std::vector<int64_t> col_res;
    std::vector<int> col_of(static_cast<size_t>(levels), 0);
    for (int lv = 0; lv <= m; ++lv) {
      if (col_res.empty() || res[static_cast<size_t>(lv)] != col_res.back()) col_res.push_back(res[static_cast<size_t>(lv)]);
      col_of[static_cast<size_t>(lv)] = static_cast<int>(col_res.size()) - 1;
    }
    const int cols = static_cast<int>(col_res.size());
    // An FPN's lateral branch (PP-OCRv4 det's RSE layers) leaves a stage's output and runs beside
    // the next stage's first levels at the old size: those levels stay in the old size's column,
    // so the lateral ends over the decoder part it joins (a short bridge, not one from the next
    // column's far end). Looked for within the next column's first 16 levels.
    for (int lv = 1; lv <= m; ++lv) {
      const int c = col_of[static_cast<size_t>(lv)];
      if (c == 0 || col_of[static_cast<size_t>(lv - 1)] != c - 1) continue;
      int last = -1;
      for (int k = lv; k <= m && k < lv + 16 && col_of[static_cast<size_t>(k)] == c; ++k)
        for (int id : at[static_cast<size_t>(k)])
          if (!V[static_cast<size_t>(id)].spine && spatial(V[static_cast<size_t>(id)]) == col_res[static_cast<size_t>(c - 1)]) last = k;
      for (int k = lv; k <= last; ++k) col_of[static_cast<size_t>(k)] = c - 1;
      if (last >= lv) lv = last;
    }
    int cur = cols - 1;
    for (int lv = m + 1; lv < levels; ++lv) {
      // The smallest size at the level, not only the spine's: an FPN's top lateral (PP-OCRv4 det's
      // in5 at 1/32) runs beside the first upsampling, and should start under the bottleneck.
      int64_t r = res[static_cast<size_t>(lv)];
      for (int id : at[static_cast<size_t>(lv)]) {
        const int64_t sp = spatial(V[static_cast<size_t>(id)]);
        if (sp > 0 && sp < r) r = sp;
      }
      int want = -1;
      for (int c = cur; c >= 0; --c)
        if (col_res[static_cast<size_t>(c)] == r) { want = c; break; }
      if (want >= 0) cur = want;
      col_of[static_cast<size_t>(lv)] = cur;
    }
    band = col_of;
    // Column widths: the longer of its encoder and decoder parts.
    std::vector<int> enc_first(static_cast<size_t>(cols), -1), enc_last(static_cast<size_t>(cols), -1),
        dec_first(static_cast<size_t>(cols), -1), dec_last(static_cast<size_t>(cols), -1);
    for (int lv = 0; lv < levels; ++lv) {
      int c = col_of[static_cast<size_t>(lv)];
      auto& f = lv <= m ? enc_first : dec_first;
      auto& l = lv <= m ? enc_last : dec_last;
      if (f[static_cast<size_t>(c)] < 0) f[static_cast<size_t>(c)] = lv;
      l[static_cast<size_t>(c)] = lv;
    }
    auto span = [&](int first, int last) {
      if (first < 0) return 0.0f;
      float w = 0.0f;
      for (int lv = first; lv <= last; ++lv) w += slot[static_cast<size_t>(lv)].depth + (lv > first ? gap_between(lv - 1, lv) : 0.0f);
      return w;
    };
    // A long encoder (PP-OCRv4 det: a 228-level backbone over a 25-level FPN) would make a needle of
    // the U. Each column's encoder part is then folded into k (odd) sub-rows stacked upwards, a
    // serpentine that enters at the top and leaves at the bottom right, over the decoder: the U
    // keeps its proportions and the skips (each column's last volume) stay short bridges. k per
    // column from one target width, the one whose block comes closest to o.wrap_aspect.
    std::vector<int> parts(static_cast<size_t>(cols), 1);
    std::vector<float> pitch(static_cast<size_t>(cols), 0.0f);
    {
      float enc_h = 0.0f, dec_h = 0.0f, total = 0.0f;
      std::vector<float> es(static_cast<size_t>(cols)), ds(static_cast<size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        const size_t cc = static_cast<size_t>(c);
        es[cc] = span(enc_first[cc], enc_last[cc]);
        ds[cc] = span(dec_first[cc], dec_last[cc]);
        float h = 0.0f;
        for (int lv = enc_first[cc]; lv >= 0 && lv <= enc_last[cc]; ++lv) h = std::max(h, slot[static_cast<size_t>(lv)].height);
        for (int lv = dec_first[cc]; lv >= 0 && lv <= dec_last[cc]; ++lv) dec_h = std::max(dec_h, slot[static_cast<size_t>(lv)].height);
        pitch[cc] = h + o.gap_min + o.gap_rel * h + 4.0f;
        enc_h = std::max(enc_h, h);
        total += std::max(es[cc], ds[cc]) + (c ? o.gap_min + o.gap_rel * h : 0.0f);
      }
      const float height = enc_h + dec_h + o.gap_min + o.gap_rel * std::max(enc_h, dec_h);
      if (total > 3.0f * o.wrap_aspect * height) {
        auto ks = [&](float target, std::vector<int>& k) {  // odd k with es/k <= target
          float w = 0.0f, top = 0.0f;
          for (int c = 0; c < cols; ++c) {
            const size_t cc = static_cast<size_t>(c);
            int kc = 1;
            while (es[cc] / float(kc) > target && kc < 15) kc += 2;
            k[cc] = kc;
            w += std::max(es[cc] / float(kc), ds[cc]) + (c ? o.gap_min + o.gap_rel * enc_h : 0.0f);
            top = std::max(top, float(kc - 1) * pitch[cc]);
          }
          return std::fabs(std::log((w / (height + top)) / o.wrap_aspect));
        };
        float best = 1e30f;
        std::vector<int> k(static_cast<size_t>(cols), 1);
        for (int c = 0; c < cols; ++c)
          for (int kc = 1; kc <= 15; kc += 2) {
            const float score = ks(es[static_cast<size_t>(c)] / float(kc) + 1e-3f, k);
            if (score < best - 1e-6f) { best = score; parts = k; }
          }
      }
    }
    float x = 0.0f;
    std::vector<float> col_x(static_cast<size_t>(cols)), col_w(static_cast<size_t>(cols));
    for (int c = 0; c < cols; ++c) {
      const size_t cc = static_cast<size_t>(c);
      if (c > 0) {
        int a = enc_last[static_cast<size_t>(c - 1)], b = enc_first[cc];
        x += gap_between(a, b);
      }
      col_x[cc] = x;
      // Split the encoder part into parts[c] runs of about equal length (by the one-row packing).
      const int f = enc_first[cc], l = enc_last[cc], k = parts[cc];
      const float whole = span(f, l);
      std::vector<int> first{f};
      for (int lv = f + 1; lv <= l && static_cast<int>(first.size()) < k; ++lv)
        if (span(f, lv) > whole * float(first.size()) / float(k) + 1e-3f) first.push_back(lv);
      first.push_back(l + 1);
      const int np = static_cast<int>(first.size()) - 1;  // odd unless the column is too short
      float we = 0.0f;
      for (int p = 0; p < np; ++p) we = std::max(we, span(first[static_cast<size_t>(p)], first[static_cast<size_t>(p + 1)] - 1));
      col_w[cc] = std::max(we, span(dec_first[cc], dec_last[cc]));
      const float right = x + col_w[cc];
      // Part p lies j = np-1-p sub-rows above the bottom one; even j flow +X packed against the
      // column's right edge (the bottom one ends over the decoder's start, where the skip arrives),
      // odd j flow -X ending at the encoder block's left edge: each turn is a short vertical step.
      for (int p = 0; p < np; ++p) {
        const int j = np - 1 - p, a = first[static_cast<size_t>(p)], b = first[static_cast<size_t>(p + 1)] - 1;
        if (j % 2 == 0) {
          pack(a, b, right - span(a, b));
        } else {
          float r = right - we + span(a, b);
          for (int lv = a; lv <= b; ++lv) {
            if (lv > a) r -= gap_between(lv - 1, lv);
            slot[static_cast<size_t>(lv)].x0 = r - slot[static_cast<size_t>(lv)].depth;
            r -= slot[static_cast<size_t>(lv)].depth;
          }
        }
        for (int lv = a; lv <= b; ++lv) {
          level_y[static_cast<size_t>(lv)] = float(j) * pitch[cc];
          dir[static_cast<size_t>(lv)] = j % 2 ? -1 : 1;
          row_of[static_cast<size_t>(lv)] = j == 0 ? 0 : j + 1;  // row 1 is the decoder's
        }
        L.rows = std::max(L.rows, j == 0 ? 2 : j + 2);
      }
      x += col_w[cc];
    }
    // Decoder: each column's part packed from the column's right edge leftwards.
    for (int c = 0; c < cols; ++c) {
      int f = dec_first[static_cast<size_t>(c)], l = dec_last[static_cast<size_t>(c)];
      if (f < 0) continue;
      float right = col_x[static_cast<size_t>(c)] + col_w[static_cast<size_t>(c)];
      for (int lv = f; lv <= l; ++lv) {
        if (lv > f) right -= gap_between(lv - 1, lv);
        slot[static_cast<size_t>(lv)].x0 = right - slot[static_cast<size_t>(lv)].depth;
        right -= slot[static_cast<size_t>(lv)].depth;
        dir[static_cast<size_t>(lv)] = -1;
        row_of[static_cast<size_t>(lv)] = 1;
      }
    }
    // Decoder heights: each column's part hangs a gap below the lowest encoder volume over it.
    for (int c = 0; c < cols; ++c) {
      int f = dec_first[static_cast<size_t>(c)], l = dec_last[static_cast<size_t>(c)];
      if (f < 0) continue;
      float x0 = 1e30f, x1 = -1e30f, h = 0.0f;
      for (int lv = f; lv <= l; ++lv) {
        x0 = std::min(x0, slot[static_cast<size_t>(lv)].x0);
        x1 = std::max(x1, slot[static_cast<size_t>(lv)].x0 + slot[static_cast<size_t>(lv)].depth);
        h = std::max(h, slot[static_cast<size_t>(lv)].height);
      }
      float bottom = 0.0f, above = 0.0f;
      for (int lv = 0; lv <= m; ++lv) {
        const Slot& s = slot[static_cast<size_t>(lv)];
        if (s.x0 > x1 + o.gap_min || s.x0 + s.depth < x0 - o.gap_min) continue;
        bottom = std::min(bottom, level_y[static_cast<size_t>(lv)] - 0.5f * s.height);
        above = std::max(above, s.height);
      }
      float gap = o.gap_min + o.gap_rel * std::max(h, above);
      for (int lv = f; lv <= l; ++lv) level_y[static_cast<size_t>(lv)] = bottom - gap - 0.5f * h;
    }
  }
  // A U still much longer than tall after folding its encoder (a decoder as long as a long encoder)
  // would be a needle across the frame: such a network is wrapped instead.
  if (L.u_shape) {
    float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
    for (int lv = 0; lv < levels; ++lv) {
      const Slot& s = slot[static_cast<size_t>(lv)];
      x0 = std::min(x0, s.x0);
      x1 = std::max(x1, s.x0 + s.depth);
      y0 = std::min(y0, level_y[static_cast<size_t>(lv)] - 0.5f * s.height);
      y1 = std::max(y1, level_y[static_cast<size_t>(lv)] + 0.5f * s.height);
    }
    if ((x1 - x0) > 3.0f * o.wrap_aspect * (y1 - y0)) {
      L.u_shape = false;
      L.rows = 1;
      pack(0, levels - 1, 0.0f);
      std::fill(level_y.begin(), level_y.end(), 0.0f);
      std::fill(dir.begin(), dir.end(), 1);
      std::fill(row_of.begin(), row_of.end(), 0);
      std::fill(band.begin(), band.end(), 0);
    }
  }
  // 2b. A long network is wrapped into rows that run back and forth. A U is not: its decoder would
  // turn back across the encoder at every row break (a long U is better collapsed: layout_groups).
  if (o.wrap && levels > 8 && !L.u_shape) wrap_rows(V, at, slot, res, row_of, level_y, dir, L, o);

  // 3. Lanes along Z: one width per (row, lane), lanes packed outwards from the spine's lane.
  std::map<std::pair<int, int>, float> lane_w;
  float width_sum = 0.0f;
  for (auto& v : V) {
    float& w = lane_w[{row_of[static_cast<size_t>(v.level)] * 4096 + band[static_cast<size_t>(v.level)], v.lane}];
    w = std::max(w, v.size.z);
    width_sum += v.size.z;
  }
  const float lane_gap = o.gap_min + o.lane_gap_rel * width_sum / float(n);
  std::map<std::pair<int, int>, float> lane_z;  // centre of each lane
  for (const auto& [key, w] : lane_w) {
    auto [row, lane] = key;
    if (lane == 0) { lane_z[key] = 0.0f; continue; }
    const int step = lane > 0 ? 1 : -1;
    float z = 0.5f * (lane_w.count({row, 0}) ? lane_w[{row, 0}] : 0.0f);
    for (int l = step; l != lane; l += step) z += lane_gap + (lane_w.count({row, l}) ? lane_w[{row, l}] : 0.0f);
    z += lane_gap + 0.5f * w;
    lane_z[key] = float(step) * z;
  }
  for (auto& v : V) {
    const size_t lv = static_cast<size_t>(v.level);
    v.row = row_of[lv];
    v.dir = dir[lv];
    v.origin = glm::vec3(slot[lv].x0 + 0.5f * (slot[lv].depth - v.size.x), level_y[lv] - 0.5f * v.size.y,
                         lane_z[{v.row * 4096 + band[lv], v.lane}] - 0.5f * v.size.z);
  }
}

}  // namespace netlens::viz::detail
