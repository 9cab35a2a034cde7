#include "netlens/live/pipeline.hpp"

#include <cstdio>

#include "netlens/live/uploader.hpp"
#include "netlens/viz/values.hpp"

namespace netlens::live {

namespace {
using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

std::string LiveStats::line() const {
  char b[200];
  std::snprintf(b, sizeof b, "infer %.1f ms  scene %.1f ms  upload %.1f ms  frame %.1f ms  %.1f inputs/s  %llu dropped",
                last_infer_ms, last_scene_ms, last_upload_ms, last_frame_ms, inputs_per_s,
                static_cast<unsigned long long>(dropped));
  return b;
}

std::string LiveStats::summary() const {
  char b[320];
  std::snprintf(b, sizeof b,
                "%llu inputs run (%llu dropped, %llu failed), %llu shown; mean inference %.2f ms, scene build %.2f ms, "
                "upload %.2f ms, frame %.2f ms over %llu frames; %.2f inputs/s",
                static_cast<unsigned long long>(runs), static_cast<unsigned long long>(dropped),
                static_cast<unsigned long long>(failed), static_cast<unsigned long long>(applied), mean_infer_ms,
                mean_scene_ms, mean_upload_ms, mean_frame_ms, static_cast<unsigned long long>(frames), inputs_per_s);
  return b;
}

ImagePreprocess live_preprocess(const ValueInfo& vi, const ImagePreprocess& base, bool size_given,
                                const std::map<std::string, Shape>& bound_shapes, const media::Frame& first) {
  // The same reading of the model's input dims as the CLI's image inputs (io image_preprocess_for).
  Shape bound;
  if (auto it = bound_shapes.find(vi.name); it != bound_shapes.end()) bound = it->second;
  ImagePreprocess pp = image_preprocess_for(vi, bound, base, size_given);
  if (!size_given) {
    // A dynamic size takes the first frame's, so later frames give the same shape (and layout).
    if (pp.width <= 0) pp.width = first.width;
    if (pp.height <= 0) pp.height = first.height;
  }
  return pp;
}

// ------------------------------------------------------------------------------------------------
LivePipeline::LivePipeline(Session& s, LiveConfig c, InferenceThread& thread)
    : session_(s), cfg_(std::move(c)), thread_(&thread), replan_(false) {
  start();
}

LivePipeline::LivePipeline(Session& s, LiveConfig c)
    : session_(s), cfg_(std::move(c)), own_thread_(std::make_unique<InferenceThread>()), thread_(own_thread_.get()),
      replan_(true) {
  start();
}

void LivePipeline::start() {
  loop_finished_ = loop_done_.get_future();
  thread_->post([this] { run_loop(); });
}

void LivePipeline::run_loop() {
  try {
    loop();
  } catch (const std::exception& e) {  // not expected (runs catch their own); keep the reason
    std::lock_guard<std::mutex> lk(state_mutex_);
    if (!error_) error_ = std::string("live pipeline: ") + e.what();
  }
  std::deque<std::shared_ptr<Call>> left;
  {
    std::lock_guard<std::mutex> lk(state_mutex_);
    loop_ended_ = true;
    in_flight_ = false;
    left.swap(calls_);
  }
  idle_cv_.notify_all();
  for (auto& c : left)
    c->done.set_exception(std::make_exception_ptr(Error(ErrorKind::Internal, "the live pipeline has stopped")));
  loop_done_.set_value();
}

LivePipeline::~LivePipeline() {
  {
    std::lock_guard<std::mutex> lk(state_mutex_);
    stop_ = true;
  }
  idle_cv_.notify_all();
  inputs_.close();
  loop_finished_.wait();  // the thread itself is joined by its owner (own_thread_ here, or the caller)
}

void LivePipeline::call(const std::function<void(Session&)>& fn) {
  if (thread_->on_thread()) {
    fn(session_);
    return;
  }
  auto c = std::make_shared<Call>();
  c->fn = fn;
  std::future<void> done = c->done.get_future();
  {
    std::lock_guard<std::mutex> lk(state_mutex_);
    if (loop_ended_ || stop_) throw Error(ErrorKind::Internal, "the live pipeline has stopped");
    calls_.push_back(c);
  }
  idle_cv_.notify_all();
  done.get();
}

void LivePipeline::submit(media::Frame f) {
  std::lock_guard<std::mutex> lk(state_mutex_);
  if (!first_submit_) first_submit_ = Clock::now();
  ++stats_.submitted;
  if (inputs_.put(std::move(f))) ++stats_.dropped;
  idle_cv_.notify_all();
}

std::unique_ptr<LiveResult> LivePipeline::take_result() {
  auto r = results_.take();
  if (!r) return nullptr;
  taken_result_.store((*r)->id);
  return std::move(*r);
}

std::unique_ptr<LiveResult> LivePipeline::wait_result(double timeout_s) {
  auto r = results_.wait_take(std::chrono::duration<double>(timeout_s));
  if (!r) return nullptr;
  taken_result_.store((*r)->id);
  return std::move(*r);
}

bool LivePipeline::busy() const {
  std::lock_guard<std::mutex> lk(state_mutex_);
  return in_flight_ || inputs_.has_value();
}

bool LivePipeline::wait_idle(double timeout_s) {
  std::unique_lock<std::mutex> lk(state_mutex_);
  return idle_cv_.wait_for(lk, std::chrono::duration<double>(timeout_s),
                           [&] { return !in_flight_ && !inputs_.has_value(); });
}

std::optional<std::string> LivePipeline::error() const {
  std::lock_guard<std::mutex> lk(state_mutex_);
  return error_;
}

void LivePipeline::shown(uint64_t id) {
  std::lock_guard<std::mutex> lk(state_mutex_);
  if (id > shown_id_) {
    shown_id_ = id;
    idle_cv_.notify_all();
  }
}

void LivePipeline::note_applied(double upload_ms) {
  std::lock_guard<std::mutex> lk(state_mutex_);
  ++stats_.applied;
  stats_.last_upload_ms = upload_ms;
  sum_upload_ += upload_ms;
}

void LivePipeline::note_frame(double frame_ms) {
  std::lock_guard<std::mutex> lk(state_mutex_);
  ++stats_.frames;
  stats_.last_frame_ms = frame_ms;
  sum_frame_ += frame_ms;
}

LiveStats LivePipeline::stats() const {
  std::lock_guard<std::mutex> lk(state_mutex_);
  LiveStats s = stats_;
  if (s.runs) {
    s.mean_infer_ms = sum_infer_ / double(s.runs);
    s.mean_scene_ms = sum_scene_ / double(s.runs);
  }
  if (s.applied) s.mean_upload_ms = sum_upload_ / double(s.applied);
  if (s.frames) s.mean_frame_ms = sum_frame_ / double(s.frames);
  return s;
}

void LivePipeline::loop() {
  // oneDNN (as Debian builds it, without concurrent execution) ties a primitive's scratchpad to the
  // thread that created it, and Session::prepare creates the CPU kernels: running a session planned
  // on another thread crashes inside oneDNN. A session prepared on this thread (the InferenceThread
  // form) is run as it is; one prepared elsewhere (replan_) is planned again here, and the input the
  // caller ran is run again so the activations stay its own.
  // The inputs of the last run that succeeded and its result id: after a run that fails (its
  // activations half written), that run is made again so that the session holds the activations of
  // the result on screen (see try_with_session) instead of leaving the panels without any.
  std::map<std::string, Tensor> last_good;
  uint64_t last_good_id = 0;
  {
    std::lock_guard<std::mutex> lk(session_mutex_);
    try {
      std::map<std::string, Tensor> last = cfg_.other_inputs;
      std::map<std::string, Shape> shapes;
      const PlannedTensor* x = session_.activations().find(cfg_.input_name);
      if (x) last[cfg_.input_name] = session_.activations().fetch(cfg_.input_name).clone();
      for (const auto& [name, t] : last) shapes[name] = t.shape();
      if (replan_) {
        session_.prepare(shapes);
        if (x) session_.run(last);
      }
      if (x) last_good = std::move(last);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> sl(state_mutex_);
      error_ = std::string("preparing the session on the inference thread: ") + e.what();
    }
  }
  while (true) {
    std::optional<media::Frame> f;
    {
      std::unique_lock<std::mutex> lk(state_mutex_);
      // With wait_until_shown, the last published result must have been drawn first.
      idle_cv_.wait(lk, [&] {
        return stop_ || !calls_.empty() ||
               (inputs_.has_value() && (!cfg_.wait_until_shown || shown_id_ + 1 >= next_id_));
      });
      if (stop_) return;
      if (!calls_.empty()) {  // call(): between two runs, under the session lock
        std::shared_ptr<Call> c = std::move(calls_.front());
        calls_.pop_front();
        lk.unlock();
        try {
          std::lock_guard<std::mutex> sl(session_mutex_);
          c->fn(session_);
          c->done.set_value();
        } catch (...) {
          c->done.set_exception(std::current_exception());
        }
        continue;
      }
      f = inputs_.take();  // taken and marked in flight under one lock: busy() never sees a gap
      if (!f) continue;
      in_flight_ = true;
    }
    auto result = std::make_unique<LiveResult>();
    result->input_index = f->index;
    result->input_name = f->name;
    result->timestamp = f->timestamp;
    std::optional<std::string> failure;
    try {
      std::lock_guard<std::mutex> lk(session_mutex_);  // with_session waits for the whole run
      Tensor t = media::frame_to_tensor(*f, cfg_.pp);
      if (cfg_.input_dtype != DType::Float32) t = t.cast(cfg_.input_dtype);
      std::map<std::string, Tensor> in = cfg_.other_inputs;
      in[cfg_.input_name] = std::move(t);
      const auto t0 = Clock::now();
      session_result_ = kNoResult;  // from here until captured, the activations are no result's
      session_.run(in);
      const auto t1 = Clock::now();
      if (cfg_.uploader) cfg_.uploader->capture(session_, cfg_.layout, *result);
      else result->scene = viz::build_scene(cfg_.layout, viz::value_fetch(session_, viz::ValueMode::Activation));
      result->infer_ms = ms_between(t0, t1);
      result->scene_ms = ms_between(t1, Clock::now());
      {
        // The id is given out before the session is unlocked: try_with_session can then tell this
        // run's activations from those of the result on screen.
        std::lock_guard<std::mutex> sl(state_mutex_);
        result->id = next_id_++;
      }
      session_result_ = result->id;
      last_good = std::move(in);
      last_good_id = result->id;
    } catch (const std::exception& e) {
      failure = f->name + ": " + e.what();
      std::lock_guard<std::mutex> lk(session_mutex_);
      if (session_result_ == kNoResult && !last_good.empty()) {
        try {
          session_.run(last_good);  // the same kernels on the same input: the same activations
          session_result_ = last_good_id;
        } catch (const std::exception&) {  // the panels then wait for the next good run
        }
      }
    }
    std::lock_guard<std::mutex> lk(state_mutex_);
    if (failure) {
      ++stats_.failed;
      if (!error_) error_ = *failure;
    } else {
      ++stats_.runs;
      stats_.last_infer_ms = result->infer_ms;
      stats_.last_scene_ms = result->scene_ms;
      sum_infer_ += result->infer_ms;
      sum_scene_ += result->scene_ms;
      if (first_submit_) {
        const double s = ms_between(*first_submit_, Clock::now()) / 1000.0;
        stats_.inputs_per_s = s > 0 ? double(stats_.runs) / s : 0.0;
      }
      // Published before in_flight_ clears: whoever sees !busy() also sees the result.
      if (results_.put(std::move(result))) {
        // An unapplied result replaced by a newer one: the render thread never showed it.
      }
    }
    in_flight_ = false;
    idle_cv_.notify_all();
  }
}

//

viz::Layout live_layout(const Session& s) {
  viz::Layout layout = viz::layout_tensors(viz::select_tensors(s.graph(), s.planned()));
  if (layout.layers.empty()) throw Error(ErrorKind::Input, "live: the model has no float tensor to show");
  return layout;
}

}  // namespace netlens::live
