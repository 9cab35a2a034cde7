// Groups, collapsing, label placement and names on small hand-made tensor lists (no model files).
#include <gtest/gtest.h>

#include <random>

#include "netlens/viz/labels.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/viz/layout_edges.hpp"
#include "netlens/viz/layout_groups.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

// in → [blk.0: conv, relu, add(in)] → [blk.1: conv, relu, add] → head, with module paths.
std::vector<VizTensor> two_blocks() {
  return {{"in", "Input", "", {1, 8, 8, 8}, {}, -1},
          {"c0", "Conv", "/blk/blk.0/conv/Conv", {1, 8, 8, 8}, {0}, 0},
          {"r0", "Relu", "/blk/blk.0/relu/Relu", {1, 8, 8, 8}, {1}, 1},
          {"a0", "Add", "/blk/blk.0/Add", {1, 8, 8, 8}, {0, 2}, 2},
          {"c1", "Conv", "/blk/blk.1/conv/Conv", {1, 8, 8, 8}, {3}, 3},
          {"r1", "Relu", "/blk/blk.1/relu/Relu", {1, 8, 8, 8}, {4}, 4},
          {"a1", "Add", "/blk/blk.1/Add", {1, 8, 8, 8}, {3, 5}, 5},
          {"fc", "Gemm", "/head/Gemm", {1, 10}, {6}, 6}};
}

}  // namespace

TEST(LayoutGroups, ModulePathsRepeatsAndCollapse) {
  EXPECT_EQ(module_path("/layer1/layer1.0/conv1/Conv"), (std::vector<std::string>{"layer1", "layer1.0", "conv1"}));
  EXPECT_TRUE(module_path("Conv_12").empty());
  auto t = two_blocks();
  Hierarchy h = build_hierarchy(t);
  // "blk" (6 tensors), "blk/blk.0", "blk/blk.1" (3 each); one-tensor modules are not groups.
  ASSERT_EQ(h.groups.size(), 3u);
  EXPECT_EQ(h.groups[0].path, "blk");
  EXPECT_EQ(h.groups[1].path, "blk/blk.0");
  EXPECT_EQ(h.groups[1].parent, 0);
  EXPECT_EQ(h.groups[2].repeat, 1);
  EXPECT_EQ(h.groups[2].repeats, 2);
  EXPECT_EQ(h.groups[1].output, 3);  // a0: read by blk.1
  EXPECT_EQ(h.groups[1].neurons, 3 * 512);
  EXPECT_EQ(h.path_of(5), "blk/blk.1");
  EXPECT_EQ(h.path_of(0), "");
  // Collapse both blocks: in, blk.0 (shows a0), blk.1 (shows a1), fc.
  Collapsed c = collapse_groups(t, h, {1, 2});
  ASSERT_EQ(c.tensors.size(), 4u);
  EXPECT_EQ(c.tensors[1].name, "a0");
  EXPECT_EQ(c.tensors[1].group, "blk/blk.0");
  EXPECT_EQ(c.tensors[1].folded, 3);
  EXPECT_EQ(c.tensors[1].inputs, std::vector<int>{0});
  EXPECT_EQ(c.tensors[2].inputs, std::vector<int>{1});
  EXPECT_EQ(c.tensors[3].inputs, std::vector<int>{2});
  EXPECT_EQ(c.source, (std::vector<int>{0, 3, 6, 7}));
  // Collapsing the outer group folds the inner ones into it.
  Collapsed o = collapse_groups(t, h, {0, 1});
  ASSERT_EQ(o.tensors.size(), 3u);
  EXPECT_EQ(o.tensors[1].folded, 6);
  EXPECT_EQ(o.tensors[1].name, "a1");
  // Nothing collapsed: the same list.
  Collapsed n = collapse_groups(t, h, {});
  ASSERT_EQ(n.tensors.size(), t.size());
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(n.tensors[i].inputs, t[i].inputs);
  // Specs.
  EXPECT_EQ(parse_collapse("none", h, t.size()), std::vector<int>{});
  EXPECT_EQ(parse_collapse("depth:2", h, t.size()), (std::vector<int>{1, 2}));
  EXPECT_EQ(parse_collapse("blk.1", h, t.size()), std::vector<int>{2});
  EXPECT_THROW(parse_collapse("depth:0", h, t.size()), Error);
  EXPECT_THROW(parse_collapse("nope", h, t.size()), Error);
  EXPECT_TRUE(auto_collapse(h, t.size()).empty());  // small: nothing collapsed
  EXPECT_EQ(auto_collapse(h, t.size(), 5), (std::vector<int>{1, 2}));  // 4 shown at depth 2
}

TEST(LayoutGroups, ResidualSkipIsAnArcOverTheSpine) {
  Layout l = layout_tensors(two_blocks());
  int arcs = 0;
  for (const auto& e : route_edges(l)) {
    if (e.kind != EdgeKind::Arc) continue;
    ++arcs;
    // The arc clears every volume it passes over.
    float top = -1e30f;
    for (const auto& p : e.points) top = std::max(top, p.y);
    for (const auto& v : l.layers) {
      if (v.level > l.layers[static_cast<size_t>(e.from)].level && v.level < l.layers[static_cast<size_t>(e.to)].level) {
        EXPECT_GT(top, v.max().y);
      }
    }
  }
  EXPECT_EQ(arcs, 2);
  for (const auto& v : l.layers) EXPECT_TRUE(v.spine || v.tensor.name == "in" || v.lane != 0);
}

TEST(Labels, PlacementNeverOverlapsAndIsDeterministic) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> x(0, 1000), y(0, 600), w(40, 200);
  std::vector<LabelCandidate> c;
  for (int i = 0; i < 300; ++i) c.push_back({{x(rng), y(rng)}, {w(rng), 30.0f}, float(i % 7)});
  const std::vector<glm::vec4> reserved = {{0, 0, 300, 80}};
  auto a = place_labels(c, reserved, {0, 0, 1000, 600}, {8, 6});
  auto b = place_labels(c, reserved, {0, 0, 1000, 600}, {8, 6});
  ASSERT_EQ(a.size(), b.size());
  EXPECT_GT(a.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].candidate, b[i].candidate);
    EXPECT_EQ(a[i].rect, b[i].rect);
    const auto& r = a[i].rect;
    EXPECT_GE(r.x, 0.0f);
    EXPECT_LE(r.x + r.z, 1000.0f);
    EXPECT_GE(r.y, 0.0f);
    EXPECT_FALSE(r.x < 300 && r.y < 80) << "over the reserved rectangle";
    for (size_t j = i + 1; j < a.size(); ++j) {
      const auto& q = a[j].rect;
      EXPECT_FALSE(r.x < q.x + q.z + 8 && q.x < r.x + r.z + 8 && r.y < q.y + q.w + 6 && q.y < r.y + r.w + 6) << i << " " << j;
    }
  }
  // Higher priority wins a contested spot.
  std::vector<LabelCandidate> two = {{{500, 300}, {900, 30}, 1.0f}, {{500, 300}, {900, 30}, 2.0f}};
  auto p = place_labels(two, {}, {0, 0, 1000, 600}, {8, 6});
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p.front().candidate, 1);
}

TEST(Labels, DisplayNames) {
  VizTensor t{"/layer1/layer1.0/conv2/Conv_output_0", "Conv", "/layer1/layer1.0/conv2/Conv", {1, 64, 56, 56}, {}, 0};
  EXPECT_EQ(display_name(t), "layer1.0/conv2/Conv");
  VizTensor n{"1892", "Resize", "/decoder/up3/Resize", {1, 8, 4, 4}, {}, 0};
  EXPECT_EQ(display_name(n), "decoder/up3/Resize");
  VizTensor inc{"x", "Relu", "/inception3a/branch4/branch4.1/Relu", {1, 8, 4, 4}, {}, 0};
  EXPECT_EQ(display_name(inc), "inception3a/branch4.1/Relu");  // branch4 is repeated in branch4.1
  VizTensor dense{"x", "Conv", "/features/denseblock2/denselayer3/conv2/Conv", {1, 8, 4, 4}, {}, 0};
  EXPECT_EQ(display_name(dense), "denselayer3/conv2/Conv");
  VizTensor cast{"Resize_10_output_cast_0", "Resize", "Resize_10", {1, 8, 4, 4}, {}, 0};
  EXPECT_EQ(display_name(cast), "Resize_10");
  VizTensor paddle{"conv2d_450.tmp_0", "Conv", "p2o.Conv.0", {1, 8, 4, 4}, {}, 0};
  EXPECT_EQ(display_name(paddle), "conv2d_450");
  VizTensor g = t;
  g.group = "layer1/layer1.0";
  g.folded = 7;
  EXPECT_EQ(display_name(g), "layer1.0");
  EXPECT_EQ(detail_line(g), "7 layers  64x56x56");
  EXPECT_EQ(detail_line(t), "Conv  64x56x56");
  EXPECT_LE(display_name(VizTensor{std::string(80, 'a'), "Conv", "", {1}, {}, 0}).size(), 34u);
}
