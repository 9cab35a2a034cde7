// The headless targets of the frame driver (app::View): offscreen frames written as PNG files.
//  - render_frame: one frame of a session that has run (`netlens render`), optionally with the
//    panels, timed repeats and a pick.
//  - render_live: one frame per input of a live source (`netlens render --input DIR|VIDEO`), the
//    results reaching the view through a ResultUploader (staging or interop).
// The command line's flags are parsed by the CLI; these take typed values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlens/live/inference_thread.hpp"
#include "netlens/live/feeder.hpp"
#include "netlens/live/pipeline.hpp"
#include "netlens/live/uploader.hpp"
#include "netlens/viz/picking.hpp"
#include "netlens/app/view.hpp"

namespace netlens::app {

struct HeadlessOptions {
  int gpu = -1;             // Vulkan device index (-1: the best)
  bool validation = false;  // require validation layers (always on in debug builds)
};

struct FrameJob {
  FrameSpec frame;
  HeadlessOptions device;
  std::string out = "frame.png";
  int frames = 0;                // render this many more frames and print their times on stderr
  std::string save_camera;       // the camera used, as JSON ("" none)
  bool panels = false;           // the viewer's panels drawn into the frame
  PanelSpec panel;
  std::string panel_rects;       // with panels: their rectangles as JSON to this file ("" none)
  std::optional<std::pair<int, int>> pick;  // a pixel inside the frame (the CLI checks the range)
  // Called with the pick at `pick` once the PNG is written (the CLI prints it).
  std::function<void(const std::optional<viz::PickResult>&, const viz::Scene&)> on_pick;
  // Called once the view (and, with `panels`, its panels) exist, before the frame: a host adds its
  // own panel (the timeline's, Panels::set_extra).
  std::function<void(View&)> setup;
  // Called after setup: the camera to draw with instead of the view's initial one (render --open
  // frames the opened grid with viz::open_layer_camera).
  std::function<viz::Camera(const View&)> camera;
};

// Renders `s` (which has run; gradient value modes need Session::backward too) and writes job.out.
// Throws Error (Usage/Io/Device/Input) with one line on failure, Error{Internal} when validation
// reported errors.
void render_frame(const Session& s, const FrameJob& job);

struct LiveJob {
  FrameSpec frame;
  HeadlessOptions device;
  std::string out_dir;      // DIR/000000.png, DIR/000001.png, ...
  int64_t max_inputs = 0;   // 0 = until the source ends
};

// `s` has run `in.first`; that frame is drawn first, then every further frame of the source (at most
// job.max_inputs in all) goes through a LivePipeline and `up` into the same view, one PNG per input.
// `cfg.layout` is set from the view. Prints a start line (`start_line`; the source) and a summary on
// stderr; Error with one line on failure (a frame that cannot be decoded or run included).
// `ctx`: the Vulkan context to render with (the interop path's, on the CUDA device's GPU); null makes
// one from job.device. `thread`: the inference thread `s` was prepared and run on (prepared once:
// the pipeline runs there); null: `s` was prepared on this thread and the pipeline plans it again.
void render_live(Session& s, live::LiveConfig cfg, live::LiveInput& in, const LiveJob& job, live::ResultUploader& up,
                 const std::string& start_line, render::Context* ctx = nullptr, live::InferenceThread* thread = nullptr);

}  // namespace netlens::app
