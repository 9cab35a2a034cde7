#include "netlens/live/feeder.hpp"

#include <chrono>

namespace netlens::live {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

SourceFeeder::SourceFeeder(std::unique_ptr<media::FrameSource> src, LivePipeline& p, FeederOptions o)
    : src_(std::move(src)), kind_(src_->kind()), pipe_(p), o_(o) {
  thread_ = std::thread([this] { loop(); });
}

SourceFeeder::~SourceFeeder() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  src_->interrupt();  // a read waiting on a stalled camera or pipe ends now, not at its timeout
  if (thread_.joinable()) thread_.join();
}

void SourceFeeder::next() {
  if (kind_ != media::SourceKind::Folder) return;
  std::lock_guard<std::mutex> lk(m_);
  commands_.push_back(+1);
  cv_.notify_all();
}

void SourceFeeder::prev() {
  if (kind_ != media::SourceKind::Folder) return;
  std::lock_guard<std::mutex> lk(m_);
  commands_.push_back(-1);
  cv_.notify_all();
}

void SourceFeeder::toggle_pause() {
  if (kind_ == media::SourceKind::Folder) return;
  std::lock_guard<std::mutex> lk(m_);
  paused_ = !paused_;
  cv_.notify_all();
}

bool SourceFeeder::paused() const {
  std::lock_guard<std::mutex> lk(m_);
  return paused_;
}

bool SourceFeeder::idle() const {
  std::lock_guard<std::mutex> lk(m_);
  if (!commands_.empty() || busy_) return false;
  return kind_ == media::SourceKind::Folder || finished_ || paused_ || error_.has_value();
}

bool SourceFeeder::finished() const {
  std::lock_guard<std::mutex> lk(m_);
  return finished_;
}

std::optional<std::string> SourceFeeder::error() const {
  std::lock_guard<std::mutex> lk(m_);
  return error_;
}

void SourceFeeder::loop() {
  const bool folder = kind_ == media::SourceKind::Folder;
  // Video pacing: frame k is due at start + (timestamp - paused time); a pause shifts the clock.
  std::optional<Clock::time_point> start;
  double shift_s = 0;
  auto next_slide = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.slideshow_s));
  while (true) {
    int cmd = 0;
    {
      std::unique_lock<std::mutex> lk(m_);
      if (folder) {
        auto ready = [&] { return stop_ || !commands_.empty(); };
        if (o_.slideshow_s > 0) cv_.wait_until(lk, next_slide, ready);
        else cv_.wait(lk, ready);
        if (stop_) return;
        if (!commands_.empty()) {
          cmd = commands_.front();
          commands_.pop_front();
        } else {
          cmd = +2;  // slideshow tick
        }
      } else {
        const auto paused_at = Clock::now();
        cv_.wait(lk, [&] { return stop_ || !paused_; });
        if (stop_) return;
        shift_s += std::chrono::duration<double>(Clock::now() - paused_at).count();
        if (finished_ || error_) {
          cv_.wait(lk, [&] { return stop_; });
          return;
        }
      }
      busy_ = true;
    }
    try {
      std::optional<media::Frame> f;
      if (folder) {
        if (cmd == -1) f = src_->prev();
        else f = src_->next();
        if (!f && cmd == +2 && o_.loop && src_->count() > 0) f = src_->seek(0);
        if (cmd == +2)
          next_slide = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.slideshow_s));
      } else {
        f = src_->next();
        if (f && o_.realtime && kind_ == media::SourceKind::Video) {
          if (!start) start = Clock::now();
          const auto due = *start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f->timestamp + shift_s));
          std::unique_lock<std::mutex> lk(m_);
          cv_.wait_until(lk, due, [&] { return stop_; });
          if (stop_) return;
        }
      }
      if (f) pipe_.submit(std::move(*f));
      std::lock_guard<std::mutex> lk(m_);
      if (!f && !folder) finished_ = true;
      busy_ = false;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lk(m_);
      if (!error_) error_ = e.what();
      busy_ = false;
      if (!folder) finished_ = true;
    }
    cv_.notify_all();
  }
}

LiveInput open_live_input(const Graph& g, const std::string& spec, const ImagePreprocess& base, bool size_given,
                          const std::map<std::string, Shape>& bound_shapes) {
  LiveInput in;
  std::string path = spec;
  const size_t eq = spec.find('=');
  if (eq != std::string::npos && g.find_input(spec.substr(0, eq))) {
    in.input_name = spec.substr(0, eq);
    path = spec.substr(eq + 1);
  } else {
    if (g.inputs.size() != 1)
      throw Error(ErrorKind::Usage, "the model has " + std::to_string(g.inputs.size()) +
                                        " inputs; name the one the frames feed: --input NAME=" + spec);
    in.input_name = g.inputs[0].name;
  }
  in.source = media::open_source(path);
  auto first = in.source->next();
  if (!first) throw Error(ErrorKind::Io, path + ": no frame could be read");
  in.first = std::move(*first);
  const ValueInfo& vi = *g.find_input(in.input_name);
  in.pp = live_preprocess(vi, base, size_given, bound_shapes, in.first);
  in.first_tensor = media::frame_to_tensor(in.first, in.pp);
  if (vi.dtype != DType::Float32 && vi.dtype != DType::Undefined) in.first_tensor = in.first_tensor.cast(vi.dtype);
  return in;
}

}  // namespace netlens::live
