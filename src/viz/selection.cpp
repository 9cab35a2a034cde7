// Selection graph walking (receptive field, fan-out through hidden plumbing) and the highlight
// rules the renderer's shaders apply; see selection.hpp.
#include "netlens/viz/selection.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "netlens/viz/scene.hpp"

namespace netlens::viz {

namespace {

// Fan-out of one neuron into the shown layers. A consumer whose output is hidden plumbing is followed
// cell by cell (a few hops, a bounded number of cells) so e.g. pool → Flatten → Gemm reaches the Gemm.
void add_fanout(Selection& sel, const Layout& layout, const Graph& g, const ShapeFn& shapes,
                const std::string& tensor, const std::vector<int64_t>& index) {
  const auto& L = layout.layers;
  std::map<std::string, int> shown;
  for (size_t i = 0; i < L.size(); ++i) shown[L[i].tensor.name] = static_cast<int>(i);
  std::map<int, std::set<std::vector<int64_t>>> cells;  // shown layer → fan-out cells (tensor indices)
  std::map<int, TensorRegion> boxes;                // shown layer → incomplete fan-out's superset box
  constexpr size_t kMaxHiddenCells = 4096;
  std::vector<std::pair<std::string, std::vector<int64_t>>> frontier = {{tensor, index}};
  for (int hop = 0; hop < 4 && !frontier.empty(); ++hop) {
    std::map<std::string, std::set<std::vector<int64_t>>> hidden;
    for (const auto& [t, idx] : frontier)
      for (auto& f : fan_out(g, shapes, t, idx)) {
        auto it = shown.find(f.tensor);
        if (it != shown.end()) {
          if (!f.complete) {
            auto [b, fresh] = boxes.emplace(it->second, f.box);
            if (!fresh)
              for (size_t d = 0; d < f.box.lo.size(); ++d) {
                b->second.lo[d] = std::min(b->second.lo[d], f.box.lo[d]);
                b->second.hi[d] = std::max(b->second.hi[d], f.box.hi[d]);
              }
          }
          cells[it->second].insert(f.cells.begin(), f.cells.end());
        } else if (f.complete) {
          auto& h = hidden[f.tensor];
          h.insert(f.cells.begin(), f.cells.end());
        }
      }
    frontier.clear();
    size_t total = 0;
    for (const auto& [t, hs] : hidden) total += hs.size();
    if (total > kMaxHiddenCells) break;  // a huge hidden fan-out: stop rather than stall the click
    for (const auto& [t, hs] : hidden)
      for (const auto& c : hs) frontier.emplace_back(t, c);
  }
  for (const auto& [li, b] : boxes)
    if (auto r = volume_region(L[static_cast<size_t>(li)], b)) {
      sel.fanout.emplace_back(li, *r);
      sel.fanout_count.emplace_back(li, -1);
    }
  for (const auto& [li, cs] : cells) {
    if (boxes.count(li) || cs.empty()) continue;
    const auto& v = L[static_cast<size_t>(li)];
    std::vector<std::pair<VolumeRegion, int64_t>> vr;  // one-cell regions (batch 0) and flat indices
    TensorRegion box;
    box.lo = box.hi = *cs.begin();
    for (const auto& c : cs) {
      for (size_t d = 0; d < c.size(); ++d) {
        box.lo[d] = std::min(box.lo[d], c[d]);
        box.hi[d] = std::max(box.hi[d], c[d] + 1);
      }
      TensorRegion one;
      one.lo = one.hi = c;
      for (auto& h : one.hi) ++h;
      auto r = volume_region(v, one);
      if (!r) continue;
      int64_t f = r->flat ? r->lo : flat_of(v.dims, r->c0, r->y0, r->x0);
      vr.emplace_back(*r, f);
    }
    if (vr.empty()) continue;
    sel.fanout_count.emplace_back(li, static_cast<int64_t>(vr.size()));
    const bool is_box = box.count() == static_cast<int64_t>(cs.size());
    if (is_box || vr.size() > kMaxFanOutCells) {
      if (auto r = volume_region(v, box)) sel.fanout.emplace_back(li, *r);
    } else {
      for (const auto& [r, f] : vr) sel.fanout.emplace_back(li, r);
    }
    if (vr.size() <= kMaxFanOutLines)
      for (const auto& [r, f] : vr) sel.fanout_cells.emplace_back(li, f);
  }
}

}  // namespace

Selection make_selection(const Layout& layout, int layer, int64_t flat, const Graph* g, const ShapeFn& shapes) {
  const auto& L = layout.layers;
  if (layer < 0 || layer >= static_cast<int>(L.size()))
    throw Error(ErrorKind::Usage, "select: no layer " + std::to_string(layer));
  const auto& v = L[static_cast<size_t>(layer)];
  if (flat < 0 || flat >= v.dims.count)
    throw Error(ErrorKind::Usage, "select: index " + std::to_string(flat) + " is out of range for tensor '" +
                                      v.tensor.name + "' (" + std::to_string(v.dims.count) + " neurons)");
  Selection sel;
  sel.layer = layer;
  sel.flat = flat;
  if (g && shapes) {
    auto regions = receptive_field(*g, shapes, v.tensor.name, tensor_index(v, flat));
    for (size_t i = 0; i < L.size(); ++i) {
      if (static_cast<int>(i) == layer) continue;
      auto it = regions.find(L[i].tensor.name);
      if (it == regions.end()) continue;
      if (auto r = volume_region(L[i], it->second)) sel.regions.emplace_back(static_cast<int>(i), *r);
    }
    add_fanout(sel, layout, *g, shapes, v.tensor.name, tensor_index(v, flat));
  }
  return sel;
}


Selection make_selection(const Scene& s, int layer, int64_t flat, const Graph* g, const ShapeFn& shapes) {
  return make_selection(s.layout, layer, flat, g, shapes);
}

HighlightList highlight_regions(const Selection& sel, size_t layers, size_t max_regions) {
  // (layer, region, kind), contributors first: stable-sorted by layer, a cell takes its layer's
  // first matching region, and contributors lie inside the receptive field.
  std::vector<std::tuple<int, const VolumeRegion*, Highlight>> sorted;
  auto add = [&](const std::vector<std::pair<int, VolumeRegion>>& rs, Highlight kind) {
    for (const auto& [li, r] : rs)
      if (li >= 0 && static_cast<size_t>(li) < layers) sorted.emplace_back(li, &r, kind);
  };
  add(sel.contributors, Highlight::Contributor);
  add(sel.regions, Highlight::ReceptiveField);
  add(sel.fanout, Highlight::FanOut);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  HighlightList out;
  out.ranges.assign(layers, {0u, 0u});
  for (const auto& [li, rp, kind] : sorted) {
    if (out.regions.size() >= max_regions) break;
    auto& range = out.ranges[static_cast<size_t>(li)];
    if (range.second == 0) range.first = static_cast<uint32_t>(out.regions.size());
    ++range.second;
    out.regions.push_back({li, *rp, kind});
  }
  return out;
}

Highlight highlight_of(const Selection& sel, const HighlightList& list, int layer, const VolumeDims& d, int64_t flat) {
  if (layer == sel.layer && flat == sel.flat) return Highlight::Selected;
  if (layer < 0 || static_cast<size_t>(layer) >= list.ranges.size()) return Highlight::None;
  const auto [first, count] = list.ranges[static_cast<size_t>(layer)];
  const CellIndex c = cell_of(d, flat);
  for (uint32_t i = first; i < first + count; ++i) {
    const VolumeRegion& r = list.regions[i].region;
    const bool in = r.flat ? flat >= r.lo && flat < r.hi
                           : c.c >= r.c0 && c.c < r.c1 && c.y >= r.y0 && c.y < r.y1 && c.x >= r.x0 && c.x < r.x1;
    if (in) return list.regions[i].kind;
  }
  return Highlight::None;
}

}  // namespace netlens::viz
