// Progressive frames (`netlens render --progressive DIR`): the laid-out structure drawn before the
// run, then each layer filled as inference reaches it, the last frame the complete one.
//  - Frame 0 is drawn after prepare() and before the first node: every shown layer is in place,
//    unfilled layers drawn in the neutral zero colour (viz::zero_color: slate grey) and the
//    subtitle says how far the run is ("computing: node K of N, L of M layers filled").
//  - Frames 1..frames-1 are drawn from inside the run (Session::run's RunControl::on_node) when the
//    node count passes k * N / frames: layers whose producer has run show their values on their own
//    colour scale (the per-layer scale a complete frame uses, so a filled layer never changes colour
//    later); the others stay grey. Each layer's piece (FilledTensor, below) is built once, after its
//    node, and patched into the scene: a frame costs the new layers, not the whole scene.
//  - The last frame is the scene rebuilt from the finished run with the frame's own subtitle: the
//    same frame `render` writes for the same flags.
// Threads: everything runs on the calling thread (the frames are drawn between two nodes), so the
// session is never read while a node runs. `cancel` may be set from any thread (a SIGINT handler):
// the run stops before its next node and Cancelled propagates after the frames so far are written.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// ------------------------------------------------------------------------------------------------
// Pieces of a scene built as a run reaches them (shared by render --progressive and the window's
// progressive start).

// One shown tensor's piece of a scene: a one-layer scene (its batch-0 values, colour scale, level-0
// codes and both pyramids) built exactly as build_scene builds that layer with the same options, so
// patching it into any scene that shows the tensor gives the bytes a complete build gives there.
struct FilledTensor {
  std::string name;
  viz::Scene scene;
};
// Builds the piece of tensor `t` from the session's activations (its producer has run).
// Error{Input} for a non-float tensor.
// With `with_codes` false the piece holds values, scale and pyramid depths only, for a scene without
// codes that is uploaded at once (its renderer makes the codes from the values: the same bytes);
// patch_scene into a scene with codes needs pieces with codes.
FilledTensor fill_tensor(const Session& s, const viz::VizTensor& t, const viz::SceneOptions& opts, bool with_codes = true);
// Copies pieces into `scene` (its layers found by tensor name, with the same C, H, W; others are
// skipped): values, colour scale and codes. Into a scene with codes they are copied; a scene
// without codes, such as structure_scene's, keeps the piece for its codes (SceneLayer::codes, which
// the renderer's upload copies and View::patch_scene then drops). Returns the number of pieces patched in; with `layers`,
// appends the index of each layer patched (in the pieces' order; a layer given twice, twice): the
// layers to upload (Renderer::update_layers, View::patch_scene).
size_t patch_scene(viz::Scene& scene, const std::vector<std::shared_ptr<const FilledTensor>>& pieces,
                   std::vector<int>* layers = nullptr);
// How many of `pieces`, from the first, fit in `neurons` (their layers' neuron counts summed): at
// least one when there is one, so a piece larger than the budget goes alone. (The window's updates:
// a budget of codes made per frame.)
size_t pieces_within(const std::vector<std::shared_ptr<const FilledTensor>>& pieces, int64_t neurons);
// The scene of `layout` after the first `done` nodes: structure_scene's with the filled layers
// (app::layer_filled) patched in from the session; the others stay unfilled (drawn in the neutral
// zero colour, picked as NaN, no host values). Reads the session: call it between nodes.
viz::Scene partial_scene(const Session& s, viz::Layout layout, const viz::SceneOptions& opts, size_t done);
// The scene of `layout` before any value is known (FrameSpec::structure_only: the first frame of a
// big model): no values, no codes (host_bytes() = 0), the scales and pyramid depths
// build_scene_from_values gives a scene of zeros. The renderer draws its layers unfilled, the very
// pixels and IDs of that zero scene (render::Renderer).
viz::Scene structure_scene(viz::Layout layout, const viz::SceneOptions& opts);

// How far a BackgroundRun is.
struct RunProgress {
  enum class State { Preparing, Running, Finished, Cancelled, Failed };
  State state = State::Preparing;
  size_t nodes_done = 0, nodes_total = 0;  // graph nodes up to and including the last one executed
  std::string last_node;                   // that node ("Conv /stage1/conv/Conv"); "" before the first
  size_t tensors_filled = 0, tensors_total = 0;  // every shown tensor (collapsed groups' insides too)
  std::string message;                     // Cancelled, Failed: the one line
  double prepare_ms = 0;                   // the thread's prepare()
  double run_ms = 0;                       // from the run's start (to its end once ended)
  int nice = 0;                            // the run's thread's nice value, as the kernel reports it
  bool ended() const { return state == State::Finished || state == State::Cancelled || state == State::Failed; }
};

// The window's first run (`netlens view`): the run on its own thread, with the shown tensors' pieces
// built there as the run reaches them, taken by the UI thread between frames.
// Priority: with `nice_steps` > 0 the thread first lowers its priority (app/thread_priority.hpp), so
// the run and its OpenMP threads take the CPU time the window leaves: on a CPU Vulkan (lavapipe) the
// rasteriser's threads and the run's share the same cores, and the frames should come first.
// Threads: the constructor starts the thread; it prepares `s` for the inputs' shapes (oneDNN ties a
// kernel to the thread that made it, see live/pipeline.cpp, so the thread that runs the session
// prepares it), then runs it with a RunControl. After each node it builds the pieces of the wanted
// tensors that node produced (the graph inputs' before the first node) and of wanted tensors asked
// for again (want()). Nothing else may run, prepare or read the values of `s` until ended(); its
// graph and plan may be read from other threads inside with_plan() (which waits while the thread
// prepares). Every other member is called from one thread (the UI's).
class BackgroundRun {
 public:
  // `shown`: every tensor the view may show (viz::select_tensors of the session: a collapsed block
  // is its group's output tensor); `wanted`: the names shown now; `opts`: the view's scene options.
  BackgroundRun(Session& s, std::map<std::string, Tensor> inputs, std::vector<viz::VizTensor> shown,
                const std::vector<std::string>& wanted, viz::SceneOptions opts, int nice_steps = 0);
  ~BackgroundRun();  // cancels the run and joins the thread
  BackgroundRun(const BackgroundRun&) = delete;
  BackgroundRun& operator=(const BackgroundRun&) = delete;

  // The run stops before its next node (any thread; during prepare: before the first node).
  void cancel();
  RunProgress progress() const;
  // The names shown now (after an expand/collapse): pieces of those already computed are built again
  // after the next node, later ones as they come.
  void want(const std::vector<std::string>& names);
  // The pieces built since the last call.
  std::vector<std::shared_ptr<const FilledTensor>> take();
  void with_plan(const std::function<void()>& fn);
  // Waits for the thread (after progress().ended(), at once).
  void join();

 private:
  void loop();

  Session& s_;
  std::map<std::string, Tensor> inputs_;
  std::vector<viz::VizTensor> shown_;
  viz::SceneOptions opts_;
  int nice_steps_ = 0;
  RunControl ctl_;
  std::mutex plan_mutex_;             // held by the thread while it prepares
  mutable std::mutex state_mutex_;    // progress_, wanted_, redo_, out_
  RunProgress progress_;
  std::set<std::string> wanted_;
  bool redo_ = false;
  std::vector<std::shared_ptr<const FilledTensor>> out_;
  std::thread thread_;
};

}  // namespace netlens::app
