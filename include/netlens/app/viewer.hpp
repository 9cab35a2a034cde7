// The interactive viewer (`netlens view`): a GLFW window with a Vulkan swapchain showing the
// network of a session that has run, with orbit/fly camera modes, animated flights, picking,
// receptive-field selection, camera/screenshot saving.
//
// Contract: require_display() throws Error{Device} with ONE line when no window can be opened
// (no DISPLAY/WAYLAND_DISPLAY, glfwInit fails, no Vulkan presentation), naming `netlens render` as
// the offscreen way; call it before the (slow) model run. run_viewer() returns the exit code: 0, or
// 1 when validation was on and reported errors (leaked objects included). Never blocks forever:
// a minimised window polls, --frames bounds the loop, a script ends with `close`.
//
// Keys: Tab orbit/fly mode; fly: WASD move, Q/E down/up, drag to look, scroll for speed; orbit:
// drag to orbit, right/middle drag to pan, scroll to zoom; F focus the layer under the cursor;
// O or Home overview; click select the neuron under the cursor (its JSON line on stdout, receptive
// field highlighted); Esc clear the selection (while a progressive start's run is in flight: cancel
// the run); C save the camera JSON; P save a PNG; V vsync on/off;
// H or F1 hide/show the panels (docs/ui.md), which take the mouse and keys while they are hovered
// or typed in.
// Tours and presenting (viewer_tour.cpp, docs/present.md): K adds the current view (camera,
// selection, value mode) as a keyframe captioned "stop N" (the Tour window edits its caption, notes and
// times while the panels are shown), T saves the tour (--tour-out FILE, else
// netlens-tour.json); with --tour FILE the tour plays (eased flights, timed captions): PageDown or
// Right next stop, PageUp or Left previous stop (the arrows step images instead with a live
// input), Space pause/play. B blank screen, L pointer highlight following the mouse, F11 full
// screen, F2 speaker notes (the presenter's overlay only; never recorded).
// Live input: Right or N next image, Left previous image (folders), Space pause/resume (videos,
// cameras); the frame's subtitle shows the input and the live statistics. The Input panel's Load, a
// file dropped on the window and the script's `open PATH` run the model on that file (open_input).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::live {
class LivePipeline;
class SourceFeeder;
class ResultUploader;
}  // namespace netlens::live

namespace netlens::viz {
struct Camera;
}  // namespace netlens::viz

namespace netlens::render {
class Context;
struct ContextOptions;
}  // namespace netlens::render

namespace netlens::app {

class View;

struct ViewerOptions {
  int width = 1280, height = 800;  // initial window size (screen coordinates)
  bool vsync = true;
  int64_t frames = 0;       // exit after this many frames (0: until the window is closed)
  std::string script;       // file of commands run between frames (tests; see viewer.cpp)
  std::string title;        // shown in the window title and top-left of the frame
  std::string view = "overview";  // initial view: overview | layer:NAME
  std::string camera_file;  // initial camera JSON (exclusive with view)
  std::string select;       // initial selection TENSOR:INDEX
  int gpu = -1;
  bool validation = false;  // require validation layers (debug builds turn them on anyway)
  bool lod_mean = false;
  bool flow_strip = false;  // FrameSpec::flow_strip (gradient modes: per-layer gradient-norm bars)
  // FrameSpec::collapse; "" = viz::start_collapse: a model of more than 150 shown layers starts with
  // `auto` (unless --select or --view layer:NAME names a layer), else nothing collapsed.
  std::string collapse;
  // Live input (`view --input DIR|VIDEO|camera`, see include/netlens/live/pipeline.hpp; a single image input has `live` and
  // `uploader` too, for the files it opens, and no `feeder`); all null without a loader. The
  // newest result is taken at the start of a frame and handed to `uploader`; keys and script
  // commands step `feeder`. The session is then only read through live->with_session.
  live::LivePipeline* live = nullptr;
  live::SourceFeeder* feeder = nullptr;
  live::ResultUploader* uploader = nullptr;
  std::string first_input;  // name of the input the session ran before run_viewer
  // Runs the model on this file (the Input panel's path box, files dropped on the window, the script's
  // `open`); unset: those controls are off. Set by whoever owns the input; called on the UI thread.
  // Throws Error (one line) for a file it cannot take: the viewer shows it in the Input panel and on
  // stderr and keeps the view; a failure later (in the run) comes through live->error().
  std::function<void(const std::string&)> open_input;
  std::string labels;       // label file / CTC dictionary for the Predictions panel ("" for none)
  std::vector<std::string> text_tokens;  // --text's tokens and their graph input (Attention panel labels)
  std::string text_input;
  std::string tour;         // a tour to play (viz/tour.hpp JSON); "" none
  std::string tour_out;     // where T saves the keyframes added with K ("" netlens-tour.json)
  // A host's own view mode (`view --timeline`): graph inputs left out of the layout
  // (FrameSpec::hidden_inputs); `on_view` once the view and its panels exist (add a panel);
  // `before_frame` at the start of every frame (before a live result is taken) with the camera shown (apply what the panel asked
  // for: View::set_values etc.; true: draw the next frame too, e.g. while playing); `on_key` first
  // for every key press, true when it took the key.
  std::vector<std::string> hidden_inputs;
  std::function<void(View&)> on_view;
  std::function<bool(View&, const viz::Camera&)> before_frame;
  std::function<bool(int glfw_key)> on_key;

  // Progressive start (docs/progressive.md): `first_run_session` (the session run_viewer shows,
  // writable) is prepared and has not run. The window shows the laid-out structure (grey layers) at
  // its first frame, then runs the session with `first_run_inputs` on its own thread
  // (app::BackgroundRun), filling each layer as it is computed, a progress bar at the bottom (nodes
  // done of the total, the last node, layers filled); the panels come when the run has ended. Esc
  // cancels the run: the window stays, showing what was computed. Keys and hooks of the host
  // (on_key, before_frame) wait for the end of the run. `after_first_run` is then called on the UI
  // thread with whether the run completed; it may set live, uploader, open_input and the hooks
  // (on_view is called after it). Times on stderr are measured from `start`.
  Session* first_run_session = nullptr;
  std::map<std::string, Tensor> first_run_inputs;
  std::function<void(ViewerOptions& o, bool completed)> after_first_run;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  // The Vulkan context to draw with, not owned (it must outlive run_viewer): the CUDA-Vulkan interop
  // path's, on the CUDA device's GPU, made from window_context_options so that it can present.
  // Null: the viewer makes its own.
  render::Context* context = nullptr;
};

// The context options a window needs (GLFW's surface extensions, a swapchain, a queue family that
// presents) on device `gpu` (-1: automatic), validation required when `validation`. Initialises
// GLFW (run_viewer terminates it).
void window_context_options(render::ContextOptions& co, int gpu, bool validation);

void require_display();
int run_viewer(const Session& s, const ViewerOptions& o);

}  // namespace netlens::app
