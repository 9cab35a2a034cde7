// Progressive frames (`netlens render --progressive DIR`): the laid-out structure drawn before the
// run, then each layer filled as inference reaches it, the last frame the complete one.
//  - Frame 0 is drawn after prepare() and before the first node: every shown layer is in place,
//    unfilled layers drawn in the neutral zero colour (viz::zero_color: slate grey) and the
//    subtitle says how far the run is ("computing: node K of N, L of M layers filled").
//  - Frames 1..frames-1 are drawn from inside the run (Session::run's RunControl::on_node) when the
//    node count passes k * N / frames: layers whose producer has run show their values on their own
//    colour scale (the per-layer scale a complete frame uses, so a filled layer never changes colour
//    later); the others stay grey.
//  - The last frame is the scene rebuilt from the finished run with the frame's own subtitle: the
//    same frame `render` writes for the same flags.
// Threads: everything runs on the calling thread (the frames are drawn between two nodes), so the
// session is never read while a node runs. `cancel` may be set from any thread (a SIGINT handler):
// the run stops before its next node and Cancelled propagates after the frames so far are written.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>

#include "netlens/app/headless.hpp"

namespace netlens::app {

struct ProgressiveJob {
  FrameSpec frame;        // activations only (the value modes need a finished run)
  HeadlessOptions device;
  std::string out_dir;    // DIR/000000.png (structure) ... DIR/NNNNNN.png (complete), DIR/progress.json
  int frames = 8;         // frames drawn before the complete one (the structure frame included), >= 1
  std::atomic<bool>* cancel = nullptr;  // set (from any thread) to stop the run; may be null
  // The clock the report's times are measured from (the command's start: loading counts).
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

struct ProgressiveReport {
  double view_ms = 0;            // the view (layout, structure scene, renderer) made, from job.start
  double first_frame_ms = 0;     // structure frame written, from job.start
  double complete_frame_ms = 0;  // complete frame written (0 when cancelled)
  int frames_written = 0;
  size_t nodes_run = 0, nodes_total = 0;
};

// Layer i of the layout is filled after node `done - 1` has run: its tensor is a graph input or the
// output of a node with index < done. (Used by the frames and by the tests.)
bool layer_filled(const Session& s, const std::string& tensor, size_t done);

// `s` is prepared for `inputs` (the shapes of the run). Writes the frames and DIR/progress.json
// ({"frames": [{"file", "nodes_done", "nodes_total", "layers_filled", "layers_total", "ms"}...]});
// throws Cancelled (after writing what it drew) when job.cancel was set, Error{Io} for an unwritable
// folder, the View's errors for bad flags.
ProgressiveReport render_progressive(Session& s, const std::map<std::string, Tensor>& inputs, const ProgressiveJob& job);

}  // namespace netlens::app
