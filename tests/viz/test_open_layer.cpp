// Open layers (include/netlens/viz/open_layer.hpp) without Vulkan: at t = 0 every channel's tile is its closed
// slab exactly (built here from the layout's own slab formula, origin.x + c·pitch); at t = 1 the
// tiles are coplanar, pairwise disjoint (checked box against box), cover every channel once, and the
// grid is centred on the layer and near-square; in between each coordinate moves monotonically.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "netlens/viz/layout.hpp"
#include "netlens/viz/open_layer.hpp"
#include "netlens/viz/scene.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

// A ResNet-like chain: an image, early, middle and late convolutions, pooled vector, logits.
Layout chain() {
  return layout_tensors(synthetic_tensors(
      {{1, 3, 224, 224}, {1, 64, 112, 112}, {1, 64, 56, 56}, {1, 24, 56, 56}, {1, 512, 28, 28}, {1, 2048, 7, 7},
       {1, 2048, 1, 1}, {1, 1000}, {1, 5, 13, 40}}));
}

bool overlap(const TileBox& a, const TileBox& b) {
  for (int k = 0; k < 3; ++k)
    if (a.origin[k] + a.size[k] <= b.origin[k] || b.origin[k] + b.size[k] <= a.origin[k]) return false;
  return true;
}

}  // namespace

TEST(OpenLayer, ClosedIsTheStackedVolumeExactly) {
  const Layout L = chain();
  for (const auto& l : L.layers) {
    const auto tiles = open_layer_tiles(l, 0.0f);
    ASSERT_EQ(static_cast<int64_t>(tiles.size()), l.dims.C) << l.tensor.name;
    for (int64_t c = 0; c < l.dims.C; ++c) {
      const auto& b = tiles[static_cast<size_t>(c)];
      EXPECT_EQ(b.origin.x, l.origin.x + float(c) * l.pitch);
      EXPECT_EQ(b.origin.y, l.origin.y);
      EXPECT_EQ(b.origin.z, l.origin.z);
      EXPECT_EQ(b.size.x, l.thickness);
      EXPECT_EQ(b.size.y, l.size.y);
      EXPECT_EQ(b.size.z, l.size.z);
    }
    // Negative t clamps to closed.
    EXPECT_EQ(open_layer_tiles(l, -0.5f)[0].origin, tiles[0].origin);
    // The closed neurons: slab c's box holds neuron_center(c, y, x).
    const glm::vec3 n = neuron_center(l, l.dims.C - 1, l.dims.H - 1, 0);
    const auto& last = tiles.back();
    for (int k = 0; k < 3; ++k) {
      EXPECT_GE(n[k], last.origin[k]);
      EXPECT_LE(n[k], last.origin[k] + last.size[k]);
    }
  }
}

TEST(OpenLayer, OpenTilesAreDisjointCoplanarCentredAndNearSquare) {
  const Layout L = chain();
  for (const auto& l : L.layers) {
    const auto tiles = open_layer_tiles(l, 1.0f);
    ASSERT_EQ(static_cast<int64_t>(tiles.size()), l.dims.C);
    const OpenGrid g = open_grid(l);
    EXPECT_GE(g.rows * g.cols, l.dims.C);
    EXPECT_LT((g.rows - 1) * g.cols, l.dims.C) << "an empty last row";
    EXPECT_GT(g.gap, 0.0f);
    for (size_t a = 0; a < tiles.size(); ++a) {
      EXPECT_EQ(tiles[a].origin.x, tiles[0].origin.x) << "coplanar";
      for (size_t b = a + 1; b < tiles.size(); ++b) {
        ASSERT_FALSE(overlap(tiles[a], tiles[b])) << l.tensor.name << " tiles " << a << " and " << b;
        // At least the gap apart along Y or Z.
        const float dy = std::max(tiles[b].origin.y - (tiles[a].origin.y + tiles[a].size.y),
                                  tiles[a].origin.y - (tiles[b].origin.y + tiles[b].size.y));
        const float dz = std::max(tiles[b].origin.z - (tiles[a].origin.z + tiles[a].size.z),
                                  tiles[a].origin.z - (tiles[b].origin.z + tiles[b].size.z));
        ASSERT_GE(std::max(dy, dz), 0.999f * g.gap);
      }
    }
    // Reading order: channel 0 top left, channel 1 to its right (+Z) when there are two columns.
    if (l.dims.C > 1 && g.cols > 1) {
      EXPECT_GT(tiles[1].origin.z, tiles[0].origin.z);
      EXPECT_EQ(tiles[1].origin.y, tiles[0].origin.y);
      EXPECT_LT(tiles[static_cast<size_t>(g.cols)].origin.y, tiles[0].origin.y);
    }
    // Centred on the layer (up to a missing tail of the last row: the full grid is centred).
    const glm::vec3 lc = l.center();
    EXPECT_NEAR(tiles[0].origin.x + 0.5f * l.thickness, lc.x, 1e-3f * std::max(1.0f, std::fabs(lc.x)));
    const glm::vec3 gs = g.size();
    EXPECT_NEAR(tiles[0].origin.y + tiles[0].size.y, lc.y + 0.5f * gs.y, 1e-2f);
    EXPECT_NEAR(tiles[0].origin.z, lc.z - 0.5f * gs.z, 1e-2f);
    if (l.dims.C >= 16) {
      const TileBox bb = open_layer_bounds(l, 1.0f);
      const float aspect = bb.size.y / bb.size.z;
      EXPECT_GT(aspect, 0.5f) << l.tensor.name;
      EXPECT_LT(aspect, 2.0f) << l.tensor.name;
    }
  }
}

TEST(OpenLayer, PositionsMoveMonotonicallyWithT) {
  const Layout L = chain();
  const auto& l = L.layers[4];  // 512 x 28 x 28
  const auto t0 = open_layer_tiles(l, 0.0f), t1 = open_layer_tiles(l, 1.0f);
  std::vector<TileBox> prev = t0;
  for (int i = 1; i <= 40; ++i) {
    const float t = float(i) / 40.0f;
    const auto cur = open_layer_tiles(l, t);
    for (size_t c = 0; c < cur.size(); ++c)
      for (int k = 0; k < 3; ++k) {
        const float dir = t1[c].origin[k] - t0[c].origin[k];
        const float step = cur[c].origin[k] - prev[c].origin[k];
        ASSERT_GE(step * (dir >= 0.0f ? 1.0f : -1.0f), -1e-4f) << "channel " << c << " axis " << k << " t " << t;
        // Between the closed and the open position.
        ASSERT_LE(std::fabs(cur[c].origin[k] - t0[c].origin[k]), std::fabs(dir) + 1e-3f);
      }
    prev = cur;
  }
  // Eased: halfway in t is halfway in space; the ends are flat (the first step is small).
  EXPECT_FLOAT_EQ(open_ease(0.5f), 0.5f);
  EXPECT_LT(open_ease(0.05f), 0.05f);
  EXPECT_EQ(open_ease(1.0f), 1.0f);
  EXPECT_EQ(open_ease(2.0f), 1.0f);
}

// The open-layer camera (issue 16: the overview sees the grid edge-on): every tile corner of every
// layer's open grid projects inside the frame, along the grid's tighter side its screen rectangle spans
// more than 90 % of the frame (it is framed with a 6 % margin: ~94 %), channel 0 is top left, the
// first row runs left to right and the last row is lowest, and the cutaway lies upstream of the tiles
// (so the camera never clips them) — for a wide and a square frame.
TEST(OpenLayer, CameraFacesTheGridAndFramesIt) {
  const Layout L = chain();
  for (const float aspect : {16.0f / 9.0f, 1.0f}) {
    const int W = aspect > 1.0f ? 1600 : 900, H = 900;
    for (size_t li = 0; li < L.layers.size(); ++li) {
      const auto& l = L.layers[li];
      if (l.dims.C < 2) continue;
      const Camera cam = open_layer_camera(L, static_cast<int>(li), aspect);
      const glm::mat4 vp = camera_view_proj(cam, aspect, scene_radius(L));
      const auto tiles = open_layer_tiles(l, 1.0f);
      EXPECT_TRUE(cam.cut);
      glm::vec2 lo(1e9f), hi(-1e9f);
      for (const auto& t : tiles) {
        EXPECT_LT(cam.cut_x, t.origin.x) << l.tensor.name;
        for (int k = 0; k < 4; ++k) {
          const glm::vec3 p = t.origin + glm::vec3(0.0f, (k & 1) ? t.size.y : 0.0f, (k & 2) ? t.size.z : 0.0f);
          const auto px = project_to_pixel(vp, p, W, H);
          ASSERT_TRUE(px) << l.tensor.name;
          EXPECT_GE(px->x, 0.0f) << l.tensor.name;
          EXPECT_LE(px->x, float(W)) << l.tensor.name;
          EXPECT_GE(px->y, 0.0f) << l.tensor.name;
          EXPECT_LE(px->y, float(H)) << l.tensor.name;
          lo = glm::min(lo, *px);
          hi = glm::max(hi, *px);
        }
      }
      const float fw = (hi.x - lo.x) / float(W), fh = (hi.y - lo.y) / float(H);
      EXPECT_GT(std::max(fw, fh), 0.90f) << l.tensor.name << " covers " << fw << " x " << fh;
      // Reading order on screen: channel 0's tile is left of the first row's last tile and above the
      // last channel's.
      auto centre_px = [&](const TileBox& t) { return *project_to_pixel(vp, t.origin + 0.5f * t.size, W, H); };
      const int64_t cols = open_grid(l).cols;
      const glm::vec2 first = centre_px(tiles.front()), row_end = centre_px(tiles[static_cast<size_t>(cols - 1)]),
                      last = centre_px(tiles.back());
      if (cols > 1) EXPECT_LT(first.x, row_end.x) << l.tensor.name;
      if (open_grid(l).rows > 1) EXPECT_LT(first.y, last.y) << l.tensor.name;
    }
  }
}
