// `netlens record`: a camera tour played offscreen, frame by frame, through the one frame driver
// (app::View), into an H.264 MP4 (media::VideoEncoder) and/or a PNG sequence. Frames are
// deterministic: frame i shows the tour at time i/fps (viz::tour_state), rendered at the job's size
// with no window, so a recording depends on the model, the input, the tour and the size only.
//
// Captions: the tour's caption is drawn into each frame (after the renderer, on the host, with the
// renderer's SDF label font): centred near the bottom on a dark band, fading as tour.hpp states.
// Speaker notes are never drawn into a recording.
//
// Live input (a folder of images or a video): the activations follow the input over the video.
// The input shown at time t is frame floor(t·rate) of the source (rate: the video's frame rate;
// for a folder, its images spread evenly over the tour); each is run through a LivePipeline and
// shown before the output frame at t is drawn, so the result is deterministic too. A source that
// ends early keeps its last input on screen.
//
// Errors: one line (Error{Usage|Io|Input|...}); a partial MP4 is removed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "netlens/live/feeder.hpp"
#include "netlens/app/headless.hpp"
#include "netlens/viz/tour.hpp"

namespace netlens::app {

struct RecordJob {
  FrameSpec frame;          // size, title, collapse, LOD, initial values
  HeadlessOptions device;
  std::optional<viz::Tour> tour;  // none: viz::default_tour of the view's layout
  std::string tour_name = "tour";  // for error lines ("tour.json: keyframe 3: ...")
  std::string out;          // MP4 path ("" none)
  std::string frames_dir;   // PNG sequence DIR/000000.png ... ("" none)
  int fps = 30;
  int crf = 16;
  int64_t max_frames = 0;   // stop after this many frames (0: the whole tour)
  std::string save_tour;    // the tour played, as JSON ("" none)
  bool quiet = false;       // no progress line per second
};

// What record() measured (also printed on stderr).
struct RecordStats {
  int64_t frames = 0;
  double seconds = 0;            // wall time of the whole loop
  double render_ms_median = 0;   // per frame: state + render + readback + caption
  double encode_ms_median = 0;   // per frame: colour conversion + H.264 + PNG writing
  double input_ms_total = 0;     // live input: runs and uploads
};

// The live part of a recording (`--input DIR|VIDEO`): as render_live takes it.
struct RecordLive {
  live::LiveConfig cfg;
  live::LiveInput* input = nullptr;
  live::ResultUploader* uploader = nullptr;
  std::string start_line;
};

// `s` has run (gradient value modes in the tour need Session::backward too; a live recording
// shows activations only: Error{Usage} otherwise). Keyframe layers and selections are checked
// against the layout before anything is written (Error{Usage} naming the keyframe).
RecordStats record(Session& s, const RecordJob& job, RecordLive* live = nullptr);

// A still at any size (`record --still`, e.g. a 15360x8640 poster): rendered in tiles of at most
// max_tile pixels a side, each with the off-axis part of the full frame's projection
// (viz::Camera::tile) and the full frame's pixel scale for the level of detail, stitched into one
// PNG. The camera: the tour's at time `at` (its selection and value mode too), else the overview
// of the full frame. Tiles draw the network only: title, legend and labels are placed per frame in
// 2D and are left out (of a one-piece still too, so the two are the same picture). The per-frame
// cell budget is scaled by the number of tiles.
struct StillJob {
  FrameSpec frame;   // width × height: the whole still, 16..32768 a side, at most 2^28 pixels
  HeadlessOptions device;
  std::optional<viz::Tour> tour;
  std::string tour_name = "tour";
  double at = 0.0;
  std::string out;   // PNG
  int max_tile = 4096;
};
void record_still(Session& s, const StillJob& job);

// Draws `text` into an RGBA8 frame: centred near the bottom, on a dark band, opacity `alpha`
// (0..1). Sized to the frame height (3.6 %), shrunk to fit 90 % of the width.
void draw_caption(uint8_t* rgba, int width, int height, const std::string& text, float alpha);

}  // namespace netlens::app
