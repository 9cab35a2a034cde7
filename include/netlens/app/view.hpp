// The one frame driver: model → layout → scene → renderer → selection → panels, for every target
// (the offscreen frames of `render` and `render --input`, and the window of `view`). A target adds
// only what is its own: where the frame goes (a PNG, a swapchain), the camera's motion, input
// handling. So a new view mode (a value source, a panel, an overlay) is written once, here.
//
// Ownership: a View owns the Scene (at a fixed address for its whole life), the Renderer drawing
// it, the selection and, when opened, the ImGui layer and the panels. It borrows the Vulkan context
// and the session. Every read of the session goes through the SessionAccess given at construction
// (the live pipeline's lock, or a direct call), so a view never reads a session that another thread
// is running.
//
// Values: what the cells show is a property of the view (viz::ValueMode, the value source). The
// scene is rebuilt from the session on demand (set_values), or handed a new scene of the same
// layout (show_scene, e.g. a live result); either way the renderer is told explicitly and the panels
// are pointed at the new values. A later value source (a difference of two runs, an explanation) is
// a new ValueMode that viz::value_fetch reads, plus nothing else here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlens/viz/camera.hpp"
#include "netlens/render/types.hpp"
#include "netlens/explain.hpp"
#include "netlens/runtime.hpp"
#include "netlens/viz/scene.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/viz/values.hpp"

struct GLFWwindow;

namespace netlens::ui {
class ImGuiLayer;
class Panels;
}  // namespace netlens::ui

namespace netlens::app {

// Runs fn with the session while no other thread runs it (LivePipeline::with_session); empty: the
// session is read directly (nothing else runs it).
using SessionAccess = std::function<void(const std::function<void(const Session&)>&)>;

// A camera as the user named it, resolved against the layout.
struct CameraSpec {
  std::string view = "overview";  // overview | layer:NAME
  std::string file;               // a camera JSON file (exclusive with `view`)
};
// The camera for a width×height frame region. Error{Usage} for an unknown layer or view, Error{Io}
// for an unreadable file.
viz::Camera choose_camera(const viz::Layout& l, const CameraSpec& c, int width, int height);
// The layer `view layer:NAME` names when no camera file is given, else -1.
int focus_layer(const viz::Layout& l, const CameraSpec& c);
// Every tensor a view may show, uncollapsed: viz::select_tensors over the session's graph less the
// graph inputs a FrameSpec hides (FrameSpec::hidden_inputs).
std::vector<viz::VizTensor> view_tensors(const Session& s, const std::vector<std::string>& hidden_inputs);

struct FrameSpec {
  int width = 1280, height = 720;
  CameraSpec camera;
  std::string select;  // TENSOR:INDEX | TENSOR:c,y,x | TENSOR:[c, y, x] (viz::parse_neuron); "" none
  int inset = 0;       // side columns (panels) reserved from the first frame: the camera frames the rest
  bool lod_mean = false;
  bool readback = true;  // offscreen frames read their pixels back; a window does not
  std::string title;     // "" = the graph's name, else "netlens"
  std::string subtitle;  // "" = the renderer's layer/neuron count
  viz::ValueMode values = viz::ValueMode::Activation;
  viz::ValueSources sources;  // the Difference and Metric modes' run B / metric, legend name and bars
  // Gradient modes: the gradient-flow strip (per-layer bars of the gradient norm). Opt-in: on a
  // network of hundreds of layers a bar on every volume crowds the frame.
  bool flow_strip = false;
  std::string collapse = "none";  // groups shown as one block (viz::parse_collapse: none|auto|depth:N|PATH,...)
  bool overlays = true;     // title, legend, labels and layer bars (a tiled still places them for the whole frame)
  int64_t cell_budget = 0;  // individual cells per frame (0: the renderer's default)
  // Graph inputs not drawn (a timeline's weights, fed to one prepared session as inputs): left out of
  // the layout as if they were initializers.
  std::vector<std::string> hidden_inputs;
  // The scene starts as the structure only (every value 0: the neutral zero colour), without reading
  // the session's values: a prepared session that has not run yet (render --progressive's first frame,
  // view's progressive start). Expanding or collapsing keeps it so; set_values ends it.
  bool structure_only = false;
  // The scene borrows the session's values instead of copying them (viz::SceneOptions::borrow_values:
  // no float32 copy, codes made as the renderer uploads them): for a host that runs the session no
  // more while the view lives (render_frame). Not for live views: their session runs the next input.
  bool borrow_values = false;
  // --text's tokens: labels along sequence tensors' token axes in 3D (viz/token_labels.hpp).
  std::vector<std::string> tokens;
};

// The panels (netlens_ui) over the frame.
struct PanelSpec {
  std::string input_path;           // shown by the input chooser
  std::vector<std::string> labels;  // for the predictions panel
  std::vector<std::string> text_tokens;  // --text's tokens and their graph input: the Attention panel's labels
  std::string text_input;
  GLFWwindow* window = nullptr;     // the window whose input ImGui reads; null offscreen
  bool view_settings = false;       // the View panel starts from the view's LOD setting
};

// The ResultSink of the live path: live results reach the view through explicit calls.
// The drawn height in [0, 1] of a gradient-flow bar of norm v (log scale between the smallest
// non-zero norm `low` and the largest `top`; 0 for a zero norm).
double flow_bar_height(double v, double low, double top);

class View final : public live::ResultSink {
 public:
  // Lays out the session's shown tensors and builds the scene in spec.values; the renderer draws it
  // and spec.select is selected. Error{Input} when the model has no float tensor to show; the
  // errors of choose_camera and viz::parse_neuron for bad flags.
  View(render::Context& ctx, const Session& s, const FrameSpec& spec, SessionAccess access = {});
  ~View() override;
  View(const View&) = delete;
  View& operator=(const View&) = delete;

  const Session& session() const { return s_; }
  const viz::Scene& scene() const override { return *scene_; }
  render::Renderer& renderer() override { return *r_; }
  const render::Renderer& renderer() const { return *r_; }
  render::Context& context() { return ctx_; }
  const FrameSpec& spec() const { return spec_; }
  // The camera of spec.camera for the frame between the insets.
  const viz::Camera& initial_camera() const { return camera_; }
  // Runs fn(session) through the view's SessionAccess.
  void with_session(const std::function<void(const Session&)>& fn) const;

  // --- values -------------------------------------------------------------------------------------
  viz::ValueMode values() const { return spec_.values; }
  // Rebuilds the scene from the session's values in mode `m` (same layout, the current colour-scale
  // options) and redraws from it; the panels follow. Error{Usage} when `m` needs gradients the
  // session does not hold.
  void set_values(viz::ValueMode m);
  // The input slab's heat in the gradient modes: a map the host computed (the Explain panel's method,
  // e.g. Grad-CAM or IG, over the input's H x W), or nullopt for the default (saliency in the gradient
  // mode, gradient x input in the attribution mode). Takes effect at the next set_values.
  void set_input_heat(std::optional<explain::Heatmap> h) { input_heat_ = std::move(h); }
  const std::optional<explain::Heatmap>& input_heat() const { return input_heat_; }
  // The per-layer bars drawn (tensor name -> value >= 0, unscaled): spec.sources.layer_bars when
  // given; else, in the gradient and attribution modes with FrameSpec::flow_strip, the gradient-flow strip: each tensor's
  // gradient L2 norm (explain::gradient_flow's grad_norm, as `inspect --gradients` reports it), with
  // the tensors its vanishing/exploding rule flags in flow_flagged() (the frame keeps the host's subtitle).
  const std::map<std::string, double>& layer_bars() const { return bars_; }
  const std::vector<std::string>& flow_flagged() const { return flagged_; }
  // live::ResultSink. A new scene of the same layout (a live result): moved in, the renderer's
  // buffers rewritten in place (Renderer::update_values), the selection kept. The panels are left
  // for the caller (refresh_panels), which may first change the scales. Live results hold
  // activations: Error{Unsupported} when the view shows another value mode (a live gradient mode
  // needs the pipeline's capture to make it first).
  const viz::Layout& layout() const override { return scene_->layout; }
  render::UploadStats show_scene(viz::Scene next) override;
  // After Renderer::update_values_from_device (the zero-copy interop path): the GPU's colour scales,
  // and host values only for the layers host_layers() asked for; every other layer's host values are
  // dropped. The selected neuron's layer and the panels' layer are read now if the result lacks them
  // (that tensor only); a pick elsewhere reads its one value (Renderer::set_value_reader). Until the
  // next host scene (show_scene, set_values, a collapse) the colour scales stay the GPU's.
  void show_device_values(std::vector<viz::ColorScale> scales, std::map<int, std::vector<float>> host) override;
  // The layers whose host values a device result should carry: the selection's and the panels' layer.
  std::vector<int> host_layers() const override;
  // Bytes this view copied back from the session on its own on the zero-copy path (layers read on
  // demand, single picked values), since it was made.
  uint64_t host_read_bytes() const { return host_read_bytes_; }
  // Progressive runs (app/progressive.hpp): `patch` edits some layers of the shown scene in place
  // (values, colour scales, codes; never its layout: app::patch_scene) and returns their indices;
  // only those layers' bytes are uploaded (Renderer::update_layers), so a patch costs its layers,
  // not the scene. A layer `patch` changes must be in its list. The panels are left for the caller.
  render::UploadStats patch_scene(const std::function<std::vector<int>(viz::Scene&)>& patch);
  // The colour scales (View panel): the scene rebuilt from its own host values when `o` changes
  // them; a scene without host values (GPU-made) keeps its scales. Returns whether it changed.
  bool set_scales(const viz::SceneOptions& o);
  // Far-layer aggregation (max |v| or mean): a new renderer (the option is fixed per renderer),
  // same size, selection and panels.
  void set_lod_mean(bool mean);

  // --- hierarchy (viz/layout_groups.hpp) -------------------------------------------------------------
  // Shows the groups of a --collapse spec folded (a new layout, scene and renderer; the selection
  // is cleared). Error{Usage} for an unknown group, the view unchanged.
  void set_collapse(const std::string& spec);
  // A click on a collapsed block: expands it one level (viz::expand_group). False (nothing done)
  // when `layer` is not a collapsed block.
  bool expand_block(int layer);
  // Collapses the innermost group holding `layer` (for a collapsed block: the group around it).
  // False when there is none.
  bool collapse_block(int layer);

  // --- selection -------------------------------------------------------------------------------------
  const render::Selection& selection() const { return selection_; }
  // Neuron `flat` of `layer` (its receptive field and fan-out walked through the graph).
  void select(int layer, int64_t flat);
  void clear_selection();

  // --- panels ----------------------------------------------------------------------------------------
  // Opens the ImGui layer and the panels over the frame (after a window's own callbacks: ImGui chains
  // them). `focus`: the layer inspector's layer (-1 none).
  void open_panels(const PanelSpec& p, int focus);
  ui::Panels* panels() { return panels_.get(); }
  ui::ImGuiLayer* gui() { return gui_.get(); }
  // Offscreen: two ImGui frames (the first sizes what ImGui measures), the Neuron panel's top
  // contributions marked in 3D, and the overlay installed for the frames that follow.
  void settle_panels();
  // A window's frame: the panels drawn (or hidden: no overlay, no insets) before the renderer's
  // frame. `readable`: whether the session may be read now (a live run in flight holds it: the
  // panels then keep their last ImGui frame).
  void draw_panels(bool shown, const std::function<bool(const std::function<void()>&)>& when_readable);
  // Drawn inside every ImGui frame after the panels, or alone while they are hidden (a window's
  // presenter overlay: captions, pointer, blank screen, speaker notes); empty: none.
  void set_presenter_overlay(std::function<void(int width, int height)> fn) { presenter_ = std::move(fn); }
  // The panels' analyses redone for the scene shown now (after update_values), the selection kept.
  void refresh_panels();
  // The scene shown is a cancelled run's (nodes [0, nodes_done) computed): the panels say "not
  // computed" for later tensors (ui::Panels::set_scene). Cleared by the next scene of values
  // (show_scene, set_values). Call refresh_panels() after it.
  void set_partial_run(size_t nodes_done) { partial_nodes_ = nodes_done; }
  // Layer `layer` of the shown scene holds no values yet: neither codes, host values nor device
  // values (a progressive run's structure scene before its node ran, a cancelled run's uncomputed
  // layer). Its neurons draw in the zero colour and pick as NaN.
  bool layer_unfilled(int layer) const {
    return !device_values_ && !scene_->has_codes() && !scene_->has_values(layer);
  }
  // Offscreen: the panel rectangles as JSON ({"frame", "font_px", "panels": [...]}) to `path`.
  void write_panel_rects(const std::string& path) const;

 private:
  void make_renderer();
  render::UploadStats replace_scene(viz::Scene next);  // moved in, renderer updated in place
  // The zero-copy path: host values of `layers` read from the session where the shown result lacks
  // them; one neuron's value for a pick on a layer without them.
  // `session_held`: the caller already holds the session (inside draw_panels' when_readable), so it
  // is read directly instead of through the SessionAccess (which would lock it again).
  void ensure_host_values(const std::vector<int>& layers, bool session_held = false);
  std::optional<float> device_value(int layer, int64_t flat);
  size_t partial_nodes_ = SIZE_MAX;  // set_partial_run's; SIZE_MAX: a complete run
  bool device_values_ = false;  // the scene's codes and scales came from the GPU (show_device_values)
  std::optional<std::pair<std::pair<int, int64_t>, float>> last_read_;  // device_value's last answer
  uint64_t host_read_bytes_ = 0;
  void check_live_values() const;

  render::Context& ctx_;
  const Session& s_;
  FrameSpec spec_;
  SessionAccess access_;
  std::unique_ptr<viz::Scene> scene_;
  viz::ShapeFn shapes_;
  viz::Camera camera_;
  std::unique_ptr<render::Renderer> r_;
  render::Selection selection_;
  std::unique_ptr<ui::ImGuiLayer> gui_;
  std::unique_ptr<ui::Panels> panels_;
  std::vector<std::pair<std::string, std::vector<int64_t>>> contrib_shown_;  // marked in 3D
  std::map<std::string, double> bars_;  // layer_bars(): set by make_renderer
  std::vector<std::string> flagged_;
  std::optional<explain::Heatmap> input_heat_;  // set_input_heat
  std::function<void(int, int)> presenter_;
};

}  // namespace netlens::app
