// The live path (src/live): frames from a folder, a video or a camera run through the model on an
// inference thread while the render thread keeps drawing at display rate and switches to each new
// result between two frames.
//
// Threads and ownership:
//  - LivePipeline runs its loop on the inference thread (inference_thread.hpp), the one thread that
//    prepares and runs the Session (Session is not thread safe, and oneDNN/CUDA tie state to the
//    thread). Anyone else reads the session through with_session(fn), which waits until no run is in
//    flight, and runs it (an explanation's extra runs, a backward pass) through call(fn).
//    Inputs arrive in a single-slot Mailbox: the thread always takes the newest, and a frame still
//    waiting when a newer one arrives is dropped and counted. Each run is captured by the
//    ResultUploader (uploader.hpp; the host scene by default) and published in a second single-slot
//    mailbox with a result id (1, 2, ...).
//  - The render thread calls take_result() at the start of a frame and hands the newest result to
//    the uploader, which tells the frame driver (a ResultSink) explicitly what changed.
//  - SourceFeeder (feeder.hpp) owns a FrameSource and a feeder thread that submits frames.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "netlens/media/frame_source.hpp"
#include "netlens/live/inference_thread.hpp"
#include "netlens/live/mailbox.hpp"
#include "netlens/graph.hpp"
#include "netlens/io.hpp"
#include "netlens/runtime.hpp"
#include "netlens/viz/scene.hpp"

namespace netlens::live {

class ResultUploader;

// One published result: the scene of one input's activations.
struct LiveResult {
  uint64_t id = 0;           // 1, 2, ... in publication order
  int64_t input_index = 0;   // media::Frame::index of the input
  std::string input_name;
  double timestamp = 0.0;
  viz::Scene scene;
  std::shared_ptr<void> payload;  // the uploader's own data, if any (ResultUploader::capture)
  double infer_ms = 0, scene_ms = 0;  // scene_ms: ResultUploader::capture
};

// Running figures (means over everything so far; `last_*` for the newest).
struct LiveStats {
  uint64_t submitted = 0, dropped = 0, runs = 0, failed = 0, applied = 0, frames = 0;
  double last_infer_ms = 0, last_scene_ms = 0, last_upload_ms = 0, last_frame_ms = 0;
  double mean_infer_ms = 0, mean_scene_ms = 0, mean_upload_ms = 0, mean_frame_ms = 0;
  double inputs_per_s = 0;   // runs per second between the first submission and the last result
  // "infer 12.3 ms  scene 4.1 ms  upload 1.2 ms  frame 16.6 ms  8.5 inputs/s  3 dropped"
  std::string line() const;
  // The summary printed at exit: counts and means.
  std::string summary() const;
};

// What every run needs besides the frame.
struct LiveConfig {
  std::string input_name;                        // the graph input the frames feed
  DType input_dtype = DType::Float32;
  ImagePreprocess pp;                            // sized to the model input (see live_preprocess)
  std::map<std::string, Tensor> other_inputs;    // the model's remaining inputs, fixed
  viz::Layout layout;                            // laid out once; every result shares it
  // Turns each run into a result (ResultUploader::capture); null: the host scene (build_scene).
  // Must outlive the pipeline.
  ResultUploader* uploader = nullptr;
  // Viewer: the next run waits until the render thread called shown() for the last published
  // result. The session's activations then belong to the result on screen for at least one frame
  // (the panels read them then), and a published result is never replaced unseen. Costs at most
  // one frame per input; inputs arriving meanwhile are dropped (counted) as while a run is in flight.
  bool wait_until_shown = false;
};

// Preprocessing of frames for graph input `vi`, as `--input FILE.png` does it (the model's fixed
// or --input-shape dims give the size and channels; `base` holds the image flags). When the size is
// not fixed and `size_given` is false, the first frame's size is used so that every input gives the
// same tensor shape (and the same layout): pass that frame as `first`.
ImagePreprocess live_preprocess(const ValueInfo& vi, const ImagePreprocess& base, bool size_given,
                                const std::map<std::string, Shape>& bound_shapes, const media::Frame& first);

class LivePipeline {
 public:
  // `s` was prepared on `thread` and has run there an input of the shape `c.pp` produces (made with
  // InferenceThread::call): the pipeline's loop takes the thread over and runs each input without
  // planning again, so the session is prepared once. `s` and `thread` must outlive the pipeline.
  LivePipeline(Session& s, LiveConfig c, InferenceThread& thread);
  // `s` was prepared on another thread (a test, a caller that planned it itself) and has run an
  // input of the shape `c.pp` produces: the pipeline's own inference thread first plans `s` again
  // and re-runs that input (under the session lock): kernels must be made on the thread that runs
  // them. This prepares the session a second time; callers that can should use the form above.
  LivePipeline(Session& s, LiveConfig c);
  ~LivePipeline();  // stops the loop after the run in flight
  LivePipeline(const LivePipeline&) = delete;
  LivePipeline& operator=(const LivePipeline&) = delete;

  // Queues a frame (any thread). A frame still queued is replaced and counted as dropped.
  void submit(media::Frame f);
  // The newest result published since the last call, or null (older unread ones were replaced).
  std::unique_ptr<LiveResult> take_result();
  // Same, waiting up to `timeout_s` for one.
  std::unique_ptr<LiveResult> wait_result(double timeout_s);
  // Whether an input is queued or being run.
  bool busy() const;
  bool has_result() const { return results_.has_value(); }
  // Blocks until nothing is queued or running (or `timeout_s` passes); false on timeout.
  bool wait_idle(double timeout_s);
  // The message of the first run that failed (Error from preprocessing or the session), if any.
  std::optional<std::string> error() const;

  // Runs fn(const Session&) while no run is in flight (the inference thread waits meanwhile);
  // blocks for the rest of a run in flight.
  template <class F>
  auto with_session(F&& fn) -> std::invoke_result_t<F, const Session&> {
    std::lock_guard<std::mutex> lk(session_mutex_);
    return fn(static_cast<const Session&>(session_));
  }
  // Runs fn(session) on the inference thread between two runs, under the session lock, and waits for
  // it (its exception is rethrown here): for work that runs the session (an explanation's runs, a
  // backward pass), which must happen on the thread that prepared it. Called on that thread itself
  // (from a ResultUploader), runs fn directly. Error{Internal} once the pipeline is stopping.
  void call(const std::function<void(Session&)>& fn);
  // For the render thread's per-frame reads (the panels), which must not stall the display and must
  // see the activations of the result on screen: runs fn only when no run (or its scene build) is in
  // flight AND the session holds the activations of the result last returned by take_result /
  // wait_result (before any: the run the caller made); false (fn not called) otherwise. So between
  // a run's end and the frame that takes its result, the panels keep showing the previous input's
  // analyses instead of mixing the next run's numbers with the 3D view of the previous one.
  template <class F>
  bool try_with_session(F&& fn) {
    std::unique_lock<std::mutex> lk(session_mutex_, std::try_to_lock);
    if (!lk.owns_lock() || session_result_ != taken_result_.load()) return false;
    fn(static_cast<const Session&>(session_));
    return true;
  }
  // The render thread has drawn result `id` (see LiveConfig::wait_until_shown).
  void shown(uint64_t id);

  // Render-thread figures folded into the statistics.
  void note_applied(double upload_ms);
  void note_frame(double frame_ms);
  LiveStats stats() const;

 private:
  void loop();
  void run_loop();  // loop() on the inference thread, then loop_done_ set (whatever happened)
  void start();

  Session& session_;
  LiveConfig cfg_;
  std::unique_ptr<InferenceThread> own_thread_;  // the re-planning form's thread
  InferenceThread* thread_ = nullptr;
  bool replan_ = false;
  struct Call {
    std::function<void(Session&)> fn;
    std::promise<void> done;
  };
  std::deque<std::shared_ptr<Call>> calls_;  // guarded by state_mutex_
  bool loop_ended_ = false;                  // guarded by state_mutex_
  std::promise<void> loop_done_;
  std::future<void> loop_finished_;
  Mailbox<media::Frame> inputs_;
  Mailbox<std::unique_ptr<LiveResult>> results_;
  mutable std::mutex session_mutex_;  // held for the whole of each run
  // Whose activations the session holds: a result id (0: the caller's run), or kNoResult while a
  // run is in flight (and after a failed run, until the last good input has been run again).
  // Guarded by session_mutex_; ids are given out under it, when the run is captured.
  static constexpr uint64_t kNoResult = ~uint64_t{0};
  uint64_t session_result_ = 0;
  std::atomic<uint64_t> taken_result_{0};  // id of the result last taken (take_result/wait_result)
  mutable std::mutex state_mutex_;
  std::condition_variable idle_cv_;
  bool in_flight_ = false, queued_ = false;
  std::optional<std::string> error_;
  LiveStats stats_;
  double sum_infer_ = 0, sum_scene_ = 0, sum_upload_ = 0, sum_frame_ = 0;
  std::optional<std::chrono::steady_clock::time_point> first_submit_;
  uint64_t next_id_ = 1, shown_id_ = 0;
  std::atomic<bool> stop_{false};
};

// The layout every result of a session uses (the tensors `render`/`view` show).
viz::Layout live_layout(const Session& s);

}  // namespace netlens::live
