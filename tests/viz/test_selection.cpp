// Which neurons a selection highlights, without Vulkan: make_selection + highlight_regions +
// highlight_of (the host twin of the shader's highlight()) against brute-force kernel-tap walks over
// small conv graphs, through hidden plumbing, with dilated (non-box) fan-outs below and above
// kMaxFanOutCells, and the region order/cap the GPU list relies on.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "netlens/viz/layout.hpp"
#include "netlens/viz/receptive_field.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/viz/selection.hpp"

using namespace netlens;
using namespace netlens::viz;

namespace {

// A graph built node by node with its shapes, laid out with the default tensor selection.
struct Net {
  Graph g;
  std::map<std::string, Shape> shapes;
  std::vector<PlannedTensor> planned;
  Layout layout;
  ShapeFn shape_of() const {
    return [this](const std::string& n) -> std::optional<Shape> {
      auto it = shapes.find(n);
      return it == shapes.end() ? std::nullopt : std::optional<Shape>(it->second);
    };
  }
  void input(const std::string& name, Shape s) {
    g.inputs.push_back({name, DType::Float32, {}, true});
    shapes[name] = s;
    planned.push_back({name, {DType::Float32, s}, -1, false});
  }
  void weight(const std::string& name, Shape s) {
    g.initializers[name] = Tensor(DType::Float32, s);
    planned.push_back({name, {DType::Float32, s}, -1, true});
  }
  void node(const std::string& op, std::vector<std::string> in, const std::string& out, Shape s,
            std::map<std::string, std::vector<int64_t>> attrs = {}) {
    Node n;
    n.name = op + "_" + out;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    for (auto& [k, v] : attrs) n.attrs[k] = v;
    planned.push_back({out, {DType::Float32, s}, static_cast<int>(g.nodes.size()), false});
    g.nodes.push_back(n);
    shapes[out] = s;
  }
  void finish(const std::string& output) {
    g.outputs.push_back({output, DType::Float32, {}, true});
    layout = layout_tensors(select_tensors(g, planned));
  }
};

using Cell = std::tuple<int64_t, int64_t, int64_t>;  // (c, y, x)

// Conv taps (square kernel k, stride s, pad p, dilation d, every input channel) between two NCHW
// shapes: the inputs output (c, y, x) reads, and the outputs input (c, y, x) feeds.
struct Taps {
  int64_t k, s, p, d;
  std::set<Cell> inputs_of(const Cell& o, const Shape& in) const {
    std::set<Cell> r;
    auto [c, y, x] = o;
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx) {
        int64_t iy = y * s - p + ky * d, ix = x * s - p + kx * d;
        if (iy < 0 || ix < 0 || iy >= in[2] || ix >= in[3]) continue;
        for (int64_t ic = 0; ic < in[1]; ++ic) r.insert({ic, iy, ix});
      }
    (void)c;
    return r;
  }
  std::set<Cell> outputs_of(const Cell& i, const Shape& in, const Shape& out) const {
    std::set<Cell> r;
    for (int64_t oc = 0; oc < out[1]; ++oc)
      for (int64_t oy = 0; oy < out[2]; ++oy)
        for (int64_t ox = 0; ox < out[3]; ++ox)
          if (inputs_of({oc, oy, ox}, in).count(i)) r.insert({oc, oy, ox});
    return r;
  }
};

// Every neuron of every layer: highlight_of must give `want(layer, cell)`.
template <class Want>
int check_all(const Layout& L, const Selection& sel, const Want& want) {
  const HighlightList list = highlight_regions(sel, L.layers.size(), 4096);
  int errors = 0;
  for (size_t li = 0; li < L.layers.size(); ++li) {
    const auto& d = L.layers[li].dims;
    for (int64_t f = 0; f < d.count; ++f) {
      const CellIndex c = cell_of(d, f);
      const Highlight got = highlight_of(sel, list, static_cast<int>(li), d, f);
      const Highlight exp = want(static_cast<int>(li), Cell{c.c, c.y, c.x});
      if (got != exp && ++errors <= 10)
        ADD_FAILURE() << L.layers[li].tensor.name << " [" << c.c << ", " << c.y << ", " << c.x << "]: highlight "
                      << static_cast<int>(got) << ", expected " << static_cast<int>(exp);
    }
  }
  return errors;
}

}  // namespace

// x (1x2x16x16) → Conv k3 s2 p1 → c1 (1x4x8x8) → Relu → r1 → Conv k3 s2 p1 → c2 (1x3x4x4).
TEST(Selection, ConvChainHighlightsExactlyTheBruteForceFieldAndFanOut) {
  Net n;
  n.input("x", {1, 2, 16, 16});
  n.weight("w1", {4, 2, 3, 3});
  n.weight("w2", {3, 4, 3, 3});
  const std::map<std::string, std::vector<int64_t>> conv = {
      {"kernel_shape", {3, 3}}, {"strides", {2, 2}}, {"pads", {1, 1, 1, 1}}, {"dilations", {1, 1}}};
  n.node("Conv", {"x", "w1"}, "c1", {1, 4, 8, 8}, conv);
  n.node("Relu", {"c1"}, "r1", {1, 4, 8, 8});
  n.node("Conv", {"r1", "w2"}, "c2", {1, 3, 4, 4}, conv);
  n.finish("c2");
  const Layout& L = n.layout;
  ASSERT_EQ(L.layers.size(), 4u);
  const int ix = L.find("x"), ic1 = L.find("c1"), ir1 = L.find("r1"), ic2 = L.find("c2");
  const Taps taps{3, 2, 1, 1};
  const Shape sx = n.shapes["x"], s1 = n.shapes["c1"], s2 = n.shapes["c2"];

  for (const auto& [layer, cell] : std::vector<std::pair<int, Cell>>{
           {ir1, {1, 3, 4}}, {ir1, {0, 0, 0}}, {ir1, {3, 7, 7}}, {ic1, {2, 5, 0}}, {ic2, {2, 3, 1}}, {ix, {1, 15, 15}}}) {
    SCOPED_TRACE(L.layers[static_cast<size_t>(layer)].tensor.name);
    const auto& d = L.layers[static_cast<size_t>(layer)].dims;
    auto [c, y, x] = cell;
    Selection sel = make_selection(L, layer, flat_of(d, c, y, x), &n.g, n.shape_of());
    // Brute force. Receptive field: c1 and r1 are the same elementwise map; conv taps go back to x.
    std::map<int, std::set<Cell>> field;
    if (layer == ic2) {
      field[ir1] = taps.inputs_of(cell, s1);
      field[ic1] = field[ir1];
      for (const Cell& m : field[ir1])
        for (const Cell& i : taps.inputs_of(m, sx)) field[ix].insert(i);
    } else if (layer == ir1) {
      field[ic1] = {cell};
      field[ix] = taps.inputs_of(cell, sx);
    } else if (layer == ic1) {
      field[ix] = taps.inputs_of(cell, sx);
    }
    // Fan-out: the direct shown consumers only.
    std::map<int, std::set<Cell>> fan;
    if (layer == ix) fan[ic1] = taps.outputs_of(cell, sx, s1);
    if (layer == ic1) fan[ir1] = {cell};
    if (layer == ir1) fan[ic2] = taps.outputs_of(cell, s1, s2);
    // For conv stacks the dependency sets are boxes, so the bounding-box regions are exact.
    EXPECT_EQ(check_all(L, sel, [&](int li, const Cell& k) {
                if (li == layer) return k == cell ? Highlight::Selected : Highlight::None;
                if (field.count(li) && field[li].count(k)) return Highlight::ReceptiveField;
                if (fan.count(li) && fan[li].count(k)) return Highlight::FanOut;
                return Highlight::None;
              }),
              0);
    // The fan-out lines and the panel's count name the same cells.
    std::set<std::pair<int, int64_t>> lines(sel.fanout_cells.begin(), sel.fanout_cells.end()), expect_lines;
    for (const auto& [li, cs] : fan)
      for (const auto& [a, b, e] : cs) expect_lines.insert({li, flat_of(L.layers[static_cast<size_t>(li)].dims, a, b, e)});
    EXPECT_EQ(lines, expect_lines);
    ASSERT_EQ(sel.fanout_count.size(), fan.size());
    for (const auto& [li, count] : sel.fanout_count) EXPECT_EQ(count, static_cast<int64_t>(fan[li].size()));
  }
}

// pool → Flatten (hidden) → Gemm: the fan-out walks through the hidden Flatten and reaches every
// Gemm output (each reads every input), counted and lined.
TEST(Selection, FanOutFollowsHiddenPlumbing) {
  Net n;
  n.input("x", {1, 2, 4, 4});
  n.node("MaxPool", {"x"}, "p", {1, 2, 2, 2}, {{"kernel_shape", {2, 2}}, {"strides", {2, 2}}});
  n.node("Flatten", {"p"}, "f", {1, 8});
  n.weight("w", {8, 5});
  n.node("Gemm", {"f", "w"}, "y", {1, 5});
  n.finish("y");
  const Layout& L = n.layout;
  ASSERT_EQ(L.find("f"), -1) << "Flatten is plumbing, not shown";
  const int ip = L.find("p"), iy = L.find("y"), ix = L.find("x");
  ASSERT_GE(ip, 0);
  ASSERT_GE(iy, 0);
  const auto& dp = L.layers[static_cast<size_t>(ip)].dims;
  const int64_t flat = flat_of(dp, 1, 0, 1);
  Selection sel = make_selection(L, ip, flat, &n.g, n.shape_of());
  ASSERT_EQ(sel.fanout_count.size(), 1u);
  EXPECT_EQ(sel.fanout_count[0], (std::pair<int, int64_t>{iy, 5}));
  EXPECT_EQ(sel.fanout_cells.size(), 5u);
  EXPECT_EQ(check_all(L, sel, [&](int li, const Cell& k) {
              if (li == ip) return cell_of(dp, flat).c == std::get<0>(k) && cell_of(dp, flat).y == std::get<1>(k) &&
                                           cell_of(dp, flat).x == std::get<2>(k)
                                       ? Highlight::Selected
                                       : Highlight::None;
              if (li == iy) return Highlight::FanOut;
              // MaxPool k2 s2: p[1, 0, 1] reads x[1, 0..1, 2..3].
              if (li == ix)
                return std::get<0>(k) == 1 && std::get<1>(k) < 2 && std::get<2>(k) >= 2 ? Highlight::ReceptiveField
                                                                                       : Highlight::None;
              return Highlight::None;
            }),
            0);
}

// A dilated conv (k3, d2, pad 2) spreads one input neuron over rows/columns y-2, y, y+2: not a box.
// With C channels that is 9C cells: one region per cell up to kMaxFanOutCells (exact), beyond it the
// bounding box (a superset) and no lines.
TEST(Selection, NonBoxFanOutIsExactUpToTheCapThenItsBoundingBox) {
  for (int64_t C : {4, 8}) {
    SCOPED_TRACE("channels " + std::to_string(C));
    Net n;
    n.input("x", {1, 1, 9, 9});
    n.weight("w", {C, 1, 3, 3});
    n.node("Conv", {"x", "w"}, "c", {1, C, 9, 9},
           {{"kernel_shape", {3, 3}}, {"strides", {1, 1}}, {"pads", {2, 2, 2, 2}}, {"dilations", {2, 2}}});
    n.finish("c");
    const Layout& L = n.layout;
    const int ix = L.find("x"), ic = L.find("c");
    const Cell sel_cell{0, 4, 3};
    const Taps taps{3, 1, 2, 2};
    const std::set<Cell> fan = taps.outputs_of(sel_cell, n.shapes["x"], n.shapes["c"]);
    ASSERT_EQ(fan.size(), static_cast<size_t>(9 * C));
    Selection sel = make_selection(L, ix, flat_of(L.layers[static_cast<size_t>(ix)].dims, 0, 4, 3), &n.g, n.shape_of());
    ASSERT_EQ(sel.fanout_count.size(), 1u);
    EXPECT_EQ(sel.fanout_count[0].second, 9 * C);
    const bool exact = static_cast<size_t>(9 * C) <= kMaxFanOutCells;
    EXPECT_EQ(sel.fanout.size(), exact ? static_cast<size_t>(9 * C) : 1u);
    EXPECT_EQ(sel.fanout_cells.size(), static_cast<size_t>(9 * C) <= kMaxFanOutLines ? static_cast<size_t>(9 * C) : 0u);
    EXPECT_EQ(check_all(L, sel, [&](int li, const Cell& k) {
                if (li == ix) return k == sel_cell ? Highlight::Selected : Highlight::None;
                if (li != ic) return Highlight::None;
                if (exact) return fan.count(k) ? Highlight::FanOut : Highlight::None;
                // The bounding box: rows 2..6, columns 1..5, every channel.
                auto [c, y, x] = k;
                (void)c;
                return y >= 2 && y <= 6 && x >= 1 && x <= 5 ? Highlight::FanOut : Highlight::None;
              }),
              0);
  }
}

// The region list: per layer, contributors before the receptive field that contains them, then
// fan-out; ranges index the list; regions past the cap and on unknown layers are dropped.
TEST(Selection, HighlightRegionsOrderRangesAndCap) {
  VolumeDims d{.C = 2, .H = 4, .W = 4, .count = 32};
  Selection sel;
  sel.layer = 2;
  sel.flat = 5;
  sel.regions = {{1, VolumeRegion{.c0 = 0, .c1 = 2, .y0 = 0, .y1 = 4, .x0 = 0, .x1 = 4}},
                 {0, VolumeRegion{.c0 = 0, .c1 = 1, .y0 = 1, .y1 = 3, .x0 = 1, .x1 = 3}},
                 {7, VolumeRegion{.c0 = 0, .c1 = 1, .y0 = 0, .y1 = 1, .x0 = 0, .x1 = 1}}};  // no layer 7
  sel.contributors = {{1, VolumeRegion{.c0 = 1, .c1 = 2, .y0 = 2, .y1 = 3, .x0 = 2, .x1 = 3}}};
  sel.fanout = {{3, VolumeRegion{.flat = true, .lo = 3, .hi = 9}}};
  const HighlightList list = highlight_regions(sel, 4, 4096);
  ASSERT_EQ(list.regions.size(), 4u);
  EXPECT_EQ(list.regions[0].layer, 0);
  EXPECT_EQ(list.regions[1].layer, 1);
  EXPECT_EQ(list.regions[1].kind, Highlight::Contributor);
  EXPECT_EQ(list.regions[2].kind, Highlight::ReceptiveField);
  EXPECT_EQ(list.regions[3].kind, Highlight::FanOut);
  ASSERT_EQ(list.ranges.size(), 4u);
  EXPECT_EQ(list.ranges[0], (std::pair<uint32_t, uint32_t>{0, 1}));
  EXPECT_EQ(list.ranges[1], (std::pair<uint32_t, uint32_t>{1, 2}));
  EXPECT_EQ(list.ranges[2], (std::pair<uint32_t, uint32_t>{0, 0}));
  EXPECT_EQ(list.ranges[3], (std::pair<uint32_t, uint32_t>{3, 1}));
  // Layer 1: the contributor cell is magenta, the rest of the field cyan.
  for (int64_t f = 0; f < d.count; ++f) {
    const bool contrib = f == flat_of(d, 1, 2, 2);
    EXPECT_EQ(highlight_of(sel, list, 1, d, f), contrib ? Highlight::Contributor : Highlight::ReceptiveField) << f;
    EXPECT_EQ(highlight_of(sel, list, 3, d, f), f >= 3 && f < 9 ? Highlight::FanOut : Highlight::None) << f;
    EXPECT_EQ(highlight_of(sel, list, 2, d, f), f == 5 ? Highlight::Selected : Highlight::None) << f;
  }
  EXPECT_EQ(highlight_of(sel, list, 9, d, 0), Highlight::None);
  // Capped at 2: layer 1's receptive field and the fan-out are dropped (sorted by layer first).
  const HighlightList capped = highlight_regions(sel, 4, 2);
  ASSERT_EQ(capped.regions.size(), 2u);
  EXPECT_EQ(capped.ranges[1], (std::pair<uint32_t, uint32_t>{1, 1}));
  EXPECT_EQ(capped.ranges[3], (std::pair<uint32_t, uint32_t>{0, 0}));
  EXPECT_EQ(highlight_of(sel, capped, 1, d, flat_of(d, 0, 0, 0)), Highlight::None);
  EXPECT_EQ(highlight_of(sel, capped, 3, d, 4), Highlight::None);
}

TEST(Selection, WithoutAGraphOnlyTheNeuronAndOutOfRangeIsAnError) {
  Layout L = layout_tensors(synthetic_tensors({{1, 3, 5, 5}, {1, 4, 3, 3}}));
  Selection sel = make_selection(L, 1, 7);
  EXPECT_EQ(sel.layer, 1);
  EXPECT_EQ(sel.flat, 7);
  EXPECT_TRUE(sel.regions.empty() && sel.fanout.empty() && sel.fanout_cells.empty() && sel.contributors.empty());
  EXPECT_EQ(check_all(L, sel, [&](int li, const Cell& k) {
              return li == 1 && flat_of(L.layers[1].dims, std::get<0>(k), std::get<1>(k), std::get<2>(k)) == 7
                         ? Highlight::Selected
                         : Highlight::None;
            }),
            0);
  EXPECT_THROW(make_selection(L, 2, 0), Error);
  EXPECT_THROW(make_selection(L, -1, 0), Error);
  EXPECT_THROW(make_selection(L, 0, 75), Error);
  EXPECT_THROW(make_selection(L, 0, -1), Error);
}
