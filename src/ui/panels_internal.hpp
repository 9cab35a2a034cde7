// Private to the Panels sources (panels*.cpp / panel_*.cpp): the shared colours and text helpers, and Panels::Cache.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <imgui.h>

#include "netlens/inspect/activation_fn.hpp"
#include "netlens/inspect/attention.hpp"
#include "netlens/viz/colormap.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/inspect/contributions.hpp"
#include "netlens/inspect/predictions.hpp"
#include "netlens/inspect/weights.hpp"
#include "netlens/inspect/model_view.hpp"
#include "netlens/inspect/stats.hpp"
#include "netlens/inspect/structure.hpp"
#include "netlens/ui/panels.hpp"

namespace netlens::ui {

inline const ImVec4 kAccent(0.35f, 0.75f, 1.0f, 1.0f);
inline const ImVec4 kDim(0.60f, 0.66f, 0.74f, 1.0f);
inline const ImVec4 kCyan(0.30f, 0.95f, 1.0f, 1.0f);
inline const ImVec4 kOrange(1.0f, 0.62f, 0.20f, 1.0f);

inline std::string shape_text(const Shape& s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t.empty() ? "scalar" : t;
}

// Values derived from the scene for the current settings, rebuilt when either changes.
struct Panels::Cache {
  ViewSettings settings;
  bool have_global = false;
  viz::ColorScale global;
  std::map<int, viz::ColorScale> scales;
  struct Grid {
    ChannelOrder order;
    float aspect;
    FeatureGrid grid;
    int tex = -1;
  };
  std::map<int, Grid> grids;
  // The analyses (netlens_inspect), computed on first use; an analysis that refuses a tensor
  // leaves its one-line reason instead.
  std::optional<inspect::Structure> structure;
  // Model tree: the group hierarchy of every shown tensor (viz::build_hierarchy) and its rows.
  struct Tree {
    struct Item {
      bool group = false;
      int index = 0;  // into h.groups, or into all
      int first = 0;  // its first tensor: items are in data-flow order
    };
    std::vector<viz::VizTensor> all;
    viz::Hierarchy h;
    std::vector<std::vector<Item>> items;  // per parent group + 1 (0: the top level)
    std::map<std::string, int> layer_of;   // shown layer by tensor name (blocks excluded)
    std::map<std::string, int> block_of;   // shown block by group path
  };
  std::optional<Tree> tree;
  std::map<int, inspect::TensorStats> stats;
  std::map<int, std::string> stats_error;
  std::map<int, std::vector<float>> channel_mean, channel_max;  // sort keys, from stats' rankings
  struct Act {
    std::optional<inspect::ActivationAnalysis> a;
    std::string note;
  };
  std::map<int, Act> act;
  std::optional<std::vector<inspect::Activation>> all_acts;
  std::optional<inspect::Predictions> preds;
  std::string preds_error;
  struct Weights {
    std::optional<inspect::WeightsReport> w;
    std::string note;
  };
  std::map<int, Weights> weights;  // by layer (the linear node behind it)
  std::optional<std::vector<inspect::AttentionMap>> attn;
  std::string attn_error;
  std::map<std::string, int> textures;  // small textures by what they show (weights, attention)
  std::pair<int, int64_t> contrib_key{-1, -1};
  std::optional<inspect::Contributions> contrib;
  std::string contrib_error;
};

}  // namespace netlens::ui
