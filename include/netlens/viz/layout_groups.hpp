// The hierarchy of a shown tensor list: groups from the module paths exporters write into node names
// ("/layer1/layer1.0/conv1/Conv" → layer1 ⊃ layer1/layer1.0), or, for graphs without such names
// (PaddleOCR's "p2o.Conv.12"), from the structure: stages of equal spatial size and, inside them,
// blocks spanned by skip connections. Repeated blocks (consecutive siblings with the same op
// sequence: ResNet's bottlenecks, ViT's encoder layers) are numbered k of n.
//
// A group can be collapsed into one block: collapse_groups returns the tensor list with each
// collapsed group replaced by its output tensor (the data leaving the group, so the scene shows real
// activations for it), marked with the group's path and how many tensors it folds. Pure data, no
// camera, deterministic.
#pragma once

#include <string>
#include <vector>

#include "netlens/viz/layout.hpp"

namespace netlens::viz {

struct Group {
  std::string path;          // '/'-joined ("layer1/layer1.0"); structural groups: "stage2", "stage2/block1"
  std::string name;          // the last part, for labels
  int parent = -1;           // index in Hierarchy::groups, -1 at the top
  int depth = 1;             // 1 at the top
  std::vector<int> children;
  std::vector<int> members;  // every tensor inside, descendants' included, ascending
  int output = -1;           // the member whose data leaves the group (its last member read outside)
  int64_t neurons = 0;       // activations inside (Σ over members of C·H·W of batch 0)
  int repeat = 0;            // k (0-based) of `repeats` consecutive siblings with the same op sequence
  int repeats = 1;
  bool structural = false;   // from the graph's structure, not from names
};

struct Hierarchy {
  std::vector<Group> groups;  // parents before children, siblings in data-flow order
  std::vector<int> group_of;  // per tensor: its innermost group, -1 for none
  int find(const std::string& path) const;  // -1 when absent
  std::string path_of(int tensor) const;    // "" when in no group
  int max_depth() const;
};

// Module path of a node name: its '/'-separated parts without the last one (the op's own name);
// empty when the name has no '/'.
std::vector<std::string> module_path(const std::string& node_name);

Hierarchy build_hierarchy(const std::vector<VizTensor>& tensors);

struct Collapsed {
  std::vector<VizTensor> tensors;  // to lay out; inputs re-indexed, topologically ordered
  std::vector<int> source;         // per entry: the tensor of the original list it shows
};
// Collapses the given groups (indices into h.groups; a group inside another collapsed one is folded
// into the outer). An empty list returns the input unchanged.
Collapsed collapse_groups(const std::vector<VizTensor>& tensors, const Hierarchy& h, const std::vector<int>& groups);

// The level a large model starts at: nothing for up to `target` tensors, else every group of the
// deepest depth whose collapsed view shows at most `target` entries (the top level if none does).
std::vector<int> auto_collapse(const Hierarchy& h, size_t tensor_count, size_t target = 48);

// --collapse SPEC: "none", "auto", "depth:N" (every group of depth N), or a comma-separated list of
// group paths (a path may also be given by its last part when that is unique). Error{Usage} naming
// the unknown group otherwise.
std::vector<int> parse_collapse(const std::string& spec, const Hierarchy& h, size_t tensor_count);

// Interactive expansion (the viewer's click on a collapsed block, a key on a focused layer, a model
// tree's toggles) as edits of a collapsed set (indices into h.groups, as parse_collapse returns):
// - expand_group: `group` no longer collapsed; its child groups are collapsed in its place, so one
//   click opens one level (a block with no child groups shows its layers).
// - collapse_group: `group` collapsed; collapsed groups inside it are dropped from the set.
// - collapse_spec: the set as a --collapse spec ("none", or the groups' paths joined by ','), so
//   that parse_collapse(collapse_spec(h, s), h, n) == s sorted. Results sorted, without duplicates;
//   an index out of range is Error{Usage}.
std::vector<int> expand_group(const Hierarchy& h, const std::vector<int>& collapsed, int group);
std::vector<int> collapse_group(const Hierarchy& h, const std::vector<int>& collapsed, int group);
std::string collapse_spec(const Hierarchy& h, const std::vector<int>& collapsed);

// The viewer's start: "auto" when more than `threshold` layers are shown and no layer is named
// (an initial selection or layer view would name a layer a block may hide), else "none".
std::string start_collapse(size_t shown_layers, bool names_a_layer, size_t threshold = 150);

// What a frame shows: select_tensors, then the groups of `collapse` (a parse_collapse spec) folded.
// `groups`: per shown entry, its innermost group's path (a collapsed entry: its own path).
struct ShownTensors {
  std::vector<VizTensor> tensors;
  std::vector<std::string> groups;
};
ShownTensors shown_tensors(const Graph& g, const std::vector<PlannedTensor>& planned, const std::string& collapse = "none");

}  // namespace netlens::viz
