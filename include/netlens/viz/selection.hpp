// A selected neuron and what it highlights: its receptive field in the earlier shown layers, its
// fan-out in the later ones, and (set by the UI) its top contributors. Pure data and graph walking:
// the renderer only packs the result into its GPU region list (highlight_regions) and tints the
// cells the way highlight_of says, so what a selection highlights is decided and tested here.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "netlens/graph.hpp"
#include "netlens/viz/layout.hpp"
#include "netlens/viz/receptive_field.hpp"

namespace netlens::viz {

struct Scene;

// A selected neuron and the regions to highlight, per layer: its receptive field (cyan) and its
// fan-out in the next shown layers (orange).
struct Selection {
  int layer = -1;
  int64_t flat = 0;
  std::vector<std::pair<int, VolumeRegion>> regions;
  // Fan-out cells: one box when the fan-out set of a layer is a box, else one region per cell (at
  // most kMaxFanOutCells per layer, since fragments loop over their layer's regions; beyond that the
  // bounding box, a superset).
  std::vector<std::pair<int, VolumeRegion>> fanout;
  // (layer, flat cell) of every fan-out cell, for the lines from the selected cell; left empty for
  // a layer with more than kMaxFanOutLines cells (the lines then go to its bounding box's corners).
  std::vector<std::pair<int, int64_t>> fanout_cells;
  // (layer, number of fan-out cells in it; -1 when only a superset box is known), for the panel.
  std::vector<std::pair<int, int64_t>> fanout_count;
  // The neuron's largest contributions w·x (the UI's neuron inspector), as cells of the layers they
  // are read from: tinted magenta, over the receptive field that contains them.
  std::vector<std::pair<int, VolumeRegion>> contributors;
};
inline constexpr size_t kMaxFanOutCells = 64, kMaxFanOutLines = 64;  // bounds the per-fragment region loop

// Selection of neuron `flat` of layer `layer`: with a graph, its receptive field in every shown
// layer and its fan-out (fan_out) in each shown layer that reads it, through hidden plumbing
// (Reshape, Flatten, ...) when that plumbing's fan-out is small (at most 4 hops and 4096 hidden
// cells); without one (synthetic scenes), the neuron alone. Error{Usage} for a layer or index out
// of range.
Selection make_selection(const Layout& layout, int layer, int64_t flat, const Graph* g = nullptr,
                         const ShapeFn& shapes = {});
Selection make_selection(const Scene& s, int layer, int64_t flat, const Graph* g = nullptr,
                         const ShapeFn& shapes = {});

// What a cell shows. The values are the shader's codes (shaders/shared/common.glsl highlight()).
enum class Highlight : uint32_t { None = 0, ReceptiveField = 1, Selected = 2, FanOut = 3, Contributor = 4 };

// The selection's regions in the order the fragment shader tests them: sorted by layer (stable),
// within a layer contributors first (they lie inside the receptive field, and a cell takes its
// layer's first matching region), then receptive field, then fan-out; at most `max_regions` (the
// GPU buffer's capacity; later regions are dropped). `ranges[layer]` = (first, count) into
// `regions`, (0, 0) for a layer without one. Regions naming a layer outside [0, layers) are skipped.
struct HighlightRegion {
  int layer = 0;
  VolumeRegion region;
  Highlight kind = Highlight::ReceptiveField;  // ReceptiveField, FanOut or Contributor
};
struct HighlightList {
  std::vector<HighlightRegion> regions;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
};
HighlightList highlight_regions(const Selection& sel, size_t layers, size_t max_regions);

// The highlight of neuron `flat` (cell `c`, y, x of `d`) of `layer`: the host twin of the shader's
// highlight(), over a list made by highlight_regions.
Highlight highlight_of(const Selection& sel, const HighlightList& list, int layer, const VolumeDims& d, int64_t flat);

}  // namespace netlens::viz
