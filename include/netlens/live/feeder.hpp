// The live path's source side: a FrameSource decoded on its own thread and submitted to a
// LivePipeline (videos at their own frame rate, cameras as frames arrive, folders on request or as a
// slideshow), and the opening of a live input for a model.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "netlens/media/frame_source.hpp"
#include "netlens/graph.hpp"
#include "netlens/io.hpp"
#include "netlens/live/pipeline.hpp"

namespace netlens::live {

struct FeederOptions {
  double slideshow_s = 0;  // folders: advance every this many seconds (0: only on request)
  bool realtime = true;    // videos: submit at the file's frame rate (false: as fast as decoded)
  bool loop = true;        // slideshow: start again after the last image
};

// Decodes frames from a source on its own thread and submits them to a pipeline.
class SourceFeeder {
 public:
  // Continues from where `src` is (open_live_input consumed the first frame): videos and cameras
  // start playing; folders wait for next()/prev() or the slideshow.
  SourceFeeder(std::unique_ptr<media::FrameSource> src, LivePipeline& p, FeederOptions o);
  // Stops the thread: interrupts a read in progress (FrameSource::interrupt), so a stalled camera or
  // pipe never holds up the exit; returns once the thread has ended.
  ~SourceFeeder();
  SourceFeeder(const SourceFeeder&) = delete;
  SourceFeeder& operator=(const SourceFeeder&) = delete;

  media::SourceKind kind() const { return kind_; }
  // Folder stepping (any thread; ignored for streams). Past either end nothing happens.
  void next();
  void prev();
  // Videos/cameras: stop or resume submitting frames (a paused video resumes where it was).
  void toggle_pause();
  bool paused() const;
  // No command pending and, for streams, the end was reached or paused.
  bool idle() const;
  bool finished() const;  // a video/camera has no more frames
  std::optional<std::string> error() const;

 private:
  void loop();

  std::unique_ptr<media::FrameSource> src_;
  media::SourceKind kind_;
  LivePipeline& pipe_;
  FeederOptions o_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<int> commands_;  // +1 next, -1 prev
  bool busy_ = false, paused_ = false, finished_ = false, stop_ = false;
  std::optional<std::string> error_;
  std::thread thread_;
};

// A live input opened for a model: the source, its first frame and that frame's tensor.
struct LiveInput {
  std::unique_ptr<media::FrameSource> source;
  media::Frame first;
  std::string input_name;  // the graph input it feeds
  ImagePreprocess pp;      // live_preprocess for that input
  Tensor first_tensor;     // the first frame preprocessed, in the input's dtype
};
// `spec` is "SPEC" (a model with one input) or "NAME=SPEC"; SPEC as media::open_source takes it.
// Errors: the source's (Error{Io|Device}), a source with no frame (Error{Io}), a model with several
// inputs and no NAME (Error{Usage}).
LiveInput open_live_input(const Graph& g, const std::string& spec, const ImagePreprocess& base, bool size_given,
                          const std::map<std::string, Shape>& bound_shapes);

}  // namespace netlens::live
