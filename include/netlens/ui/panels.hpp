// The panels over the 3D view (Dear ImGui windows docked along both sides of the frame, the
// network's centre left clear): model tree, input chooser, view settings (colour scale,
// normalisation, screenshot), layer inspector (every channel's feature map as one texture with a
// shared colour scale, sortable), neuron inspector (value, position, receptive field, fan-out), and
// the panels of the inspect analyses as they exist in this build.
//
// Contract: Panels borrows the session, the scene and the ImGuiLayer (all must outlive it, or be
// replaced with set_scene before they go). draw() runs between ImGuiLayer::begin_frame and
// end_frame on the UI thread; actions are called from inside draw() (the caller applies them after
// the frame or at once: nothing in Panels depends on their effect until the next draw()). The
// panels never compute an analysis themselves: values come from the scene (viz) and netlens_inspect.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netlens/ui/feature_maps.hpp"
#include "netlens/ui/imgui_layer.hpp"
#include "netlens/inspect/model_view.hpp"
#include "netlens/runtime.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/viz/values.hpp"

namespace netlens::inspect {
struct AttentionMap;  // attention.hpp
}

namespace netlens::ui {

// Colour-map and normalisation settings of the panels (and, where the host supports it, the 3D view).
struct ViewSettings {
  float lo_pct = 1.0f, hi_pct = 99.0f;  // percentile range of the colour scales (the scene's default)
  bool global_scale = false;            // one scale over every layer instead of one per layer
  bool lod_mean = false;                // 3D: far layers aggregate by mean instead of max |v|
  bool operator==(const ViewSettings&) const = default;
};

// What the panels ask of their host (the viewer, or nothing offscreen). An empty function greys the
// control that would call it out.
struct PanelActions {
  std::function<void(int layer)> focus_layer;                // model tree click: fly to that layer
  std::function<void(int layer, int64_t flat)> select;       // a cell clicked in a feature map
  std::function<void(const std::string& path)> load_input;   // input chooser: run on this file
  std::function<void(int step)> step_input;                  // previous (-1) / next (+1) file of the folder
  std::function<void()> screenshot;                          // save the frame as PNG
  std::function<void(const ViewSettings&)> settings_changed; // colour map / normalisation changed
  // View panel: show activations, gradients or gradient x activation of `target` (explain's grammar:
  // "" = the top class, class:N, output:TENSOR[:c,y,x], ...). The host runs the backward pass and
  // calls set_value_mode with what it shows.
  std::function<void(viz::ValueMode mode, const std::string& target)> value_mode;
  // Model tree, a group's row (viz/layout_groups.hpp): its arrow folds (collapse = true) or unfolds
  // the group in the 3D view, its name flies to the group. The host applies a fold after the frame.
  std::function<void(const std::string& group, bool collapse)> collapse_group;
  std::function<void(const std::string& group)> focus_group;
};

// A panel's window in frame pixels (after a draw()).
struct PanelRect {
  std::string name;
  float x = 0, y = 0, w = 0, h = 0;
};

// Width in pixels of each side column for a frame of width×height (both columns are equal, so the
// central region stays centred and a camera framed for its aspect is centred too).
int column_width(int width, int height);

class Panels {
 public:
  Panels(ImGuiLayer& ui, const Session& s, const viz::Scene& scene);
  ~Panels();

  // New activations (another input): every texture and cached value is rebuilt on the next draw.
  // nodes_done < the graph's node count: the run stopped there (cancelled), so only the outputs of
  // nodes [0, nodes_done) and the graph inputs hold values; the panels say "not computed" for the
  // others instead of reading them (their arena slots hold zeros or an earlier run's values).
  void set_scene(const Session& s, const viz::Scene& scene, size_t nodes_done = SIZE_MAX);
  void set_focus(int layer);  // the layer inspector's layer (-1: the selection's, else none)
  int focus() const { return focus_; }
  // The selected neuron and its highlighted regions (render::make_selection), or layer < 0 for none.
  void set_selection(const render::Selection& sel);
  void set_input_path(const std::string& path);
  void set_status(const std::string& line);  // one line shown in the input panel (e.g. "saved shot.png")
  // Class labels / CTC dictionary for the predictions panel (inspect::read_labels), may be empty.
  void set_labels(std::vector<std::string> labels);
  // The tokens of a --text input (TextTokens::labels) and the graph input they went into: the
  // Attention panel labels the query/key axes of maps over them (inspect::AttentionOptions::tokens).
  void set_text_tokens(std::vector<std::string> tokens, std::string input);
  const ViewSettings& settings() const { return settings_; }
  // The value mode the 3D view shows and, for gradient modes, what they are gradients of (one line).
  void set_value_mode(viz::ValueMode m, const std::string& what);
  viz::ValueMode value_mode() const { return value_mode_; }
  void set_settings(const ViewSettings& v);

  // Draws every panel for a frame of width×height frame pixels.
  void draw(int width, int height);
  // The selected neuron's top contributions (after a draw(): the Neuron panel computed them), as
  // (input tensor, index in its shape); empty when there are none.
  std::vector<std::pair<std::string, std::vector<int64_t>>> contributor_cells() const;
  const std::vector<PanelRect>& rects() const { return rects_; }
  // Where the last draw() put the Layer panel's feature-map grid (ImGui units): its top-left corner,
  // screen units per texel and the grid's layout; nullptr before one was drawn.
  struct GridView {
    ImVec2 origin;
    float scale = 1;
    const FeatureGrid* grid = nullptr;
    int layer = -1;
  };
  const GridView* grid_view() const { return grid_view_.grid ? &grid_view_ : nullptr; }
  // Model-tree rows the last draw() showed: layer → its row's screen rectangle (x0, y0, x1, y1).
  const std::map<int, ImVec4>& tree_rows() const { return tree_rows_; }
  // Group rows the last draw() showed: group path → (x0, y0, x1, y1), x0 where its arrow starts.
  const std::map<std::string, ImVec4>& group_rows() const { return group_rows_; }

  PanelActions actions;

  // A host's own panel (the timeline's): drawn in the right column below Layer and Neuron, in place
  // of Weights and Activation function; `body` runs inside its ImGui window, `overlay` once per frame
  // after the panels (e.g. on ImGui's background draw list). Empty name: none.
  struct ExtraPanel {
    std::string name;
    std::function<void()> body;
    std::function<void(int width, int height, float pixel_scale)> overlay;
  };
  void set_extra(ExtraPanel p) { extra_ = std::move(p); }

 private:
  struct Cache;
  void model_tree();
  // The group hierarchy as a tree (panel_model.cpp); false (nothing drawn) for a model without groups.
  bool group_tree(const std::function<void(int layer)>& layer_row);
  void input_chooser();
  void view_settings();
  void layer_inspector();
  void neuron_inspector();
  void activation_fn();
  void predictions();
  void weights();
  void attention();
  void attention_tokens(const inspect::AttentionMap& m);  // a map with token labels (text models)
  void build_groups();
  int texture(const std::string& key, int w, int h, const std::vector<uint8_t>& rgba);
  void colour_bar(const viz::ColorScale& s, float width);
  viz::ColorScale panel_scale(int layer);
  void begin_panel(const char* name, float x, float y, float w, float h);
  void end_panel();
  // After a cancelled run: true (and one dim line drawn in the current panel) when `tensor` was
  // not computed (set_scene's nodes_done).
  bool not_computed(const std::string& tensor);

  ImGuiLayer& ui_;
  const Session* s_;
  const viz::Scene* scene_;
  std::unique_ptr<inspect::ModelView> view_;
  size_t nodes_done_ = SIZE_MAX;  // set_scene's
  // Model tree: shown layers grouped into blocks, each led by a linear layer (Conv, Gemm, MatMul)
  // or an input, followed by what comes after it up to the next one (norms, activations, adds...).
  std::vector<std::vector<int>> groups_;
  int focus_ = -1;
  render::Selection sel_;
  std::string input_path_, status_;
  std::vector<std::string> labels_;
  std::array<int, 4> attn_grid_{1, 1, 1, 1};  // attention tiles: cols, rows, texture width, height
  std::vector<std::string> text_tokens_;  // set_text_tokens
  std::string text_input_;
  int attn_head_ = -1;  // the labelled map's head (-1: the mean over heads)
  ViewSettings settings_;
  ChannelOrder order_ = ChannelOrder::Index;
  char filter_[128] = {};
  char path_buf_[1024] = {};
  bool scroll_tree_ = true;
  float style_px_ = 0;
  std::vector<PanelRect> rects_;
  GridView grid_view_;
  std::map<int, ImVec4> tree_rows_;
  std::map<std::string, ImVec4> group_rows_;
  std::unique_ptr<Cache> cache_;
  ExtraPanel extra_;
  viz::ValueMode value_mode_ = viz::ValueMode::Activation;
  std::string value_what_;
  char target_buf_[256] = {};
};

// `sel` plus its top contributors (Panels::contributor_cells) as regions of the shown layers that
// hold them (Selection::contributors: magenta in 3D).
render::Selection with_contributors(render::Selection sel, const viz::Scene& scene, const Panels& p);

}  // namespace netlens::ui
