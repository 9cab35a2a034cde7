// The `netlens render` work, independent of the CLI's flag parsing: given a session that has run,
// lay out its tensors, render one frame offscreen, write the PNG and answer a pick.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "netlens/runtime.hpp"
#include "renderer.hpp"
#include "values.hpp"

namespace netlens::render {

// Something drawn over the frame by a module render does not link (the UI panels of `--ui`, from
// netlens_ui): render_session leaves it the side columns it asks for (the camera is framed for the
// region between them, 2D overlays move inside it) and attaches it once the renderer exists.
struct FrameDecoration {
  virtual ~FrameDecoration() = default;
  // Width in pixels of each side column it covers (equal on both sides), for a w×h frame.
  virtual int inset(int w, int h) const = 0;
  // Before the first frame: install an overlay on `r` (Renderer::set_overlay) and prepare it.
  // `selection` is what the frame highlights (layer < 0: none); `focus` the layer of --view layer:NAME or -1.
  virtual void attach(Context& ctx, Renderer& r, const viz::Scene& scene, const Selection& selection, int focus) = 0;
  // After the PNG is written.
  virtual void finish() {}
  // Before the renderer's context goes (also on errors): frees every Vulkan object it made.
  virtual void detach() = 0;
};

struct RenderArgs {
  std::string out = "frame.png";
  int width = 1920, height = 1080;
  std::string camera_file;       // --camera cam.json
  std::string view = "overview"; // overview | layer:NAME
  std::string select;            // TENSOR:INDEX (flat index in batch 0, or c,y,x)
  std::optional<std::pair<int, int>> pick;  // --pick X,Y
  std::string save_camera;       // --save-camera FILE: the camera used, as JSON
  int gpu = -1;
  bool validation = false;       // require validation layers (always on in debug builds)
  bool lod_mean = false;
  std::string title;
  std::string subtitle;          // the line under the title; "" = the renderer's layer/neuron count
  int frames = 0;                // --frames N: render N more frames, print their times on stderr
  viz::ValueMode values = viz::ValueMode::Activation;  // --values: gradient modes need Session::backward run first
  std::shared_ptr<FrameDecoration> decoration;  // --ui: the panels (set by the CLI)
};

// "1920x1080" → (w, h); "X,Y" → (x, y). Error{Usage} naming the flag on bad text.
std::pair<int, int> parse_size(const std::string& text, const std::string& flag);
std::pair<int, int> parse_xy(const std::string& text, const std::string& flag);

// The camera for a view: overview, layer:NAME, or a JSON file.
viz::Camera choose_camera(const viz::Layout& l, const RenderArgs& a);
// "TENSOR:INDEX" or "TENSOR:c,y,x" → (layer, flat index) in the layout; Error{Usage} otherwise.
std::pair<int, int64_t> parse_select(const viz::Layout& l, const std::string& text);

// Renders and writes a.out; prints the pick line on stdout when a.pick is set. Returns 0.
// Throws Error (Usage/Io/Device) with one line on failure.
int render_session(const Session& s, const RenderArgs& a);

}  // namespace netlens::render
