// Folder, video and camera sources. Folders go through the io module's stb loader (the path single
// image inputs take); video files and cameras through FFmpeg (demux → decode → swscale to RGB24).
#include "netlens/media/frame_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

namespace netlens::media {

namespace fs = std::filesystem;

std::optional<Frame> FrameSource::prev() {
  throw Error(ErrorKind::Usage, "stepping back is only possible in a folder of images");
}
Frame FrameSource::seek(int64_t) { throw Error(ErrorKind::Usage, "seeking is only possible in a folder of images"); }

namespace {

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}
bool is_image_ext(const std::string& e) { return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp"; }

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// FFmpeg logs to stderr by default; errors reach the user as our one-line Error instead.
// NETLENS_FFMPEG_LOG=1 restores its messages for debugging.
void init_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* v = std::getenv("NETLENS_FFMPEG_LOG");
    av_log_set_level(v && *v == '1' ? AV_LOG_INFO : AV_LOG_QUIET);
    avdevice_register_all();
  });
}

// Parses "camera" / "camera:N"; nullopt when `spec` is not a camera spec.
std::optional<int> camera_index(const std::string& spec) {
  if (spec == "camera") return 0;
  if (spec.rfind("camera:", 0) != 0) return std::nullopt;
  const std::string n = spec.substr(7);
  if (n.empty() || n.size() > 4 || !std::all_of(n.begin(), n.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    throw Error(ErrorKind::Usage, "'" + spec + "': expected camera or camera:N (N = the /dev/videoN number)");
  return std::stoi(n);
}

// ------------------------------------------------------------------------------------------------
class FolderSource final : public FrameSource {
 public:
  explicit FolderSource(const std::string& dir) : dir_(dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec) && is_image_ext(lower_ext(e.path()))) files_.push_back(e.path());
    if (ec) throw Error(ErrorKind::Io, dir + ": cannot list the folder (" + ec.message() + ")");
    if (files_.empty()) throw Error(ErrorKind::Io, dir + ": no images in the folder (.png, .jpg, .jpeg, .bmp)");
    std::sort(files_.begin(), files_.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  }
  SourceKind kind() const override { return SourceKind::Folder; }
  std::string description() const override {
    return "folder " + dir_ + " (" + std::to_string(files_.size()) + " image" + (files_.size() == 1 ? "" : "s") + ")";
  }
  std::optional<Frame> next() override {
    if (pos_ + 1 >= static_cast<int64_t>(files_.size())) return std::nullopt;
    return seek(pos_ + 1);
  }
  std::optional<Frame> prev() override {
    if (pos_ <= 0) return std::nullopt;
    return seek(pos_ - 1);
  }
  Frame seek(int64_t index) override {
    if (index < 0 || index >= static_cast<int64_t>(files_.size()))
      throw Error(ErrorKind::Usage, dir_ + ": image " + std::to_string(index) + " is out of range (" +
                                        std::to_string(files_.size()) + " images)");
    const fs::path& p = files_[static_cast<size_t>(index)];
    Rgb8Image im = load_image_rgb8(p.string());
    pos_ = index;
    Frame f;
    f.width = im.width;
    f.height = im.height;
    f.rgb = std::move(im.pixels);
    f.index = index;
    f.name = p.filename().string();
    return f;
  }
  int64_t count() const override { return static_cast<int64_t>(files_.size()); }

 private:
  std::string dir_;
  std::vector<fs::path> files_;
  int64_t pos_ = -1;
};

// ------------------------------------------------------------------------------------------------
// A video file, a named pipe or a camera: demux, decode the best video stream, convert every frame
// to RGB24.
//
// Why two mechanisms for the timeouts: FFmpeg's interrupt callback (AVIOInterruptCB) is consulted
// by the demuxers and by network protocols between waits, but its file and pipe protocols block in
// read(2) and its v4l2 input blocks in VIDIOC_DQBUF, where no callback is ever asked. So files and
// pipes are read through our own AVIOContext (poll(2) in 50 ms slices, asking the same check
// between slices) and cameras are opened non-blocking (AVFMT_FLAG_NONBLOCK: EAGAIN, retried here).
class StreamSource final : public FrameSource {
 public:
  StreamSource(const std::string& url, const std::string& spec, bool camera, const SourceOptions& o)
      : spec_(spec), camera_(camera), opts_(o) {
    try {
      open(url);
    } catch (...) {
      release();  // a throwing constructor runs no destructor
      throw;
    }
  }
  ~StreamSource() override { release(); }
  void interrupt() override { stop_.store(true); }

 private:
  using Clock = std::chrono::steady_clock;
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  }
  // Starts the time limit of the next FFmpeg call (an open, a probe or one read).
  void arm(double seconds) {
    timed_out_ = interrupted_ = false;
    armed_s_ = seconds;
    // At most a year: a huge (or infinite) limit must not overflow the nanosecond count.
    const double s = seconds > 0 ? std::min(seconds, 3.2e7) : 0.0;  // NaN or negative: no wait
    deadline_ns_.store(now_ns() + static_cast<int64_t>(s * 1e9));
  }
  // The one check behind every wait: interrupt() called, or the armed limit passed.
  bool should_abort() {
    if (stop_.load()) return interrupted_ = true;
    if (now_ns() > deadline_ns_.load()) return timed_out_ = true;
    return false;
  }
  // C callbacks (FFmpeg calls them): noexcept, nothing may throw through them.
  static int on_interrupt(void* self) noexcept { return static_cast<StreamSource*>(self)->should_abort() ? 1 : 0; }
  static int on_read(void* self, uint8_t* buf, int size) noexcept {
    auto* s = static_cast<StreamSource*>(self);
    while (true) {
      if (s->should_abort()) return AVERROR_EXIT;
      pollfd pfd{s->fd_, POLLIN, 0};
      const int pr = ::poll(&pfd, 1, 50);
      if (pr < 0 && errno != EINTR) return AVERROR(errno);
      if (pr <= 0) continue;  // no data yet (a pipe whose writer is silent or not there yet)
      const ssize_t n = ::read(s->fd_, buf, static_cast<size_t>(size));
      if (n > 0) return static_cast<int>(n);
      if (n == 0) return AVERROR_EOF;  // end of file, or the pipe's writer closed it
      if (errno != EAGAIN && errno != EINTR) return AVERROR(errno);
    }
  }
  static int64_t on_seek(void* self, int64_t offset, int whence) noexcept {
    auto* s = static_cast<StreamSource*>(self);
    if (whence == AVSEEK_SIZE) {
      struct stat st {};
      return ::fstat(s->fd_, &st) == 0 ? static_cast<int64_t>(st.st_size) : AVERROR(errno);
    }
    const off_t r = ::lseek(s->fd_, static_cast<off_t>(offset), whence & ~AVSEEK_FORCE);
    return r < 0 ? AVERROR(errno) : static_cast<int64_t>(r);
  }

  // The one line for a failed FFmpeg call while `doing`: a stall or an interrupt says so, whatever
  // code it gave; otherwise "WHERE: FAILED (FFmpeg's reason)".
  [[noreturn]] void fail(const std::string& where, const std::string& doing, const std::string& failed, int rc) const {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g s", armed_s_);
    if (interrupted_) throw Error(kind_error(), where + ": interrupted while " + doing + " (shutting down)");
    if (timed_out_)
      throw Error(kind_error(), where + ": no data for " + secs + " while " + doing + " (the source stalled)");
    throw Error(kind_error(), where + ": " + failed + " (" + av_error(rc) + ")");
  }

  void open(const std::string& url) {
    const bool camera = camera_;
    const std::string& spec = spec_;
    init_ffmpeg();
    const ErrorKind kind = camera ? ErrorKind::Device : ErrorKind::Io;
    const AVInputFormat* ifmt = nullptr;
    if (camera) {
      ifmt = av_find_input_format("video4linux2");
      if (!ifmt) throw Error(ErrorKind::Device, spec + ": this FFmpeg build has no video4linux2 input");
    }
    fmt_ = avformat_alloc_context();
    if (!fmt_) throw Error(ErrorKind::Memory, url + ": cannot allocate a demuxer");
    fmt_->interrupt_callback = AVIOInterruptCB{&StreamSource::on_interrupt, this};
    if (camera) {
      fmt_->flags |= AVFMT_FLAG_NONBLOCK;  // EAGAIN instead of blocking on a silent camera
    } else {
      // O_NONBLOCK: opening a pipe without a writer returns at once (then poll waits, under the limit).
      fd_ = ::open(url.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd_ < 0) throw Error(kind, url + ": cannot open (" + std::strerror(errno) + ")");
      struct stat st {};
      const bool seekable = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
      constexpr int kBuf = 1 << 16;
      auto* buf = static_cast<unsigned char*>(av_malloc(kBuf));
      if (buf) avio_ = avio_alloc_context(buf, kBuf, 0, this, &StreamSource::on_read, nullptr,
                                          seekable ? &StreamSource::on_seek : nullptr);
      if (!avio_) {
        av_free(buf);
        throw Error(ErrorKind::Memory, url + ": cannot allocate an input buffer");
      }
      avio_->seekable = seekable ? AVIO_SEEKABLE_NORMAL : 0;
      fmt_->pb = avio_;
    }
    arm(opts_.open_timeout_s);
    int rc = avformat_open_input(&fmt_, url.c_str(), ifmt, nullptr);
    if (rc < 0) {
      fmt_ = nullptr;  // freed by avformat_open_input (our AVIOContext is not: release() frees it)
      fail(camera ? spec + " (" + url + ")" : url, "opening", camera ? "cannot open the camera" : "cannot open as a video", rc);
    }
    rc = avformat_find_stream_info(fmt_, nullptr);  // same limit: probing is part of opening
    if (rc < 0) fail(url, "probing", "cannot read stream information", rc);
    const AVCodec* codec = nullptr;
    stream_ = av_find_best_stream(fmt_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream_ < 0 || !codec)
      throw Error(kind, url + (stream_ == AVERROR_DECODER_NOT_FOUND ? ": no decoder for its video stream"
                                                                    : ": no video stream"));
    dec_ = avcodec_alloc_context3(codec);
    if (!dec_) throw Error(ErrorKind::Memory, url + ": cannot allocate a decoder");
    AVStream* st = fmt_->streams[stream_];
    rc = avcodec_parameters_to_context(dec_, st->codecpar);
    if (rc >= 0) rc = avcodec_open2(dec_, codec, nullptr);
    if (rc < 0) throw Error(kind, url + ": cannot open the " + codec->name + " decoder (" + av_error(rc) + ")");
    time_base_ = av_q2d(st->time_base);
    const AVRational r = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    fps_ = r.den ? av_q2d(r) : 0.0;
    declared_packets_ = st->nb_frames;
    codec_name_ = codec->name;
    pkt_ = av_packet_alloc();
    frame_ = av_frame_alloc();
    rgb_ = av_frame_alloc();
    if (!pkt_ || !frame_ || !rgb_) throw Error(ErrorKind::Memory, url + ": cannot allocate decoder frames");
    url_ = url;
  }
  void release() {
    sws_freeContext(sws_);
    sws_ = nullptr;
    av_frame_free(&rgb_);
    av_frame_free(&frame_);
    av_packet_free(&pkt_);
    avcodec_free_context(&dec_);
    if (fmt_) avformat_close_input(&fmt_);
    if (avio_) {
      av_freep(&avio_->buffer);
      avio_context_free(&avio_);
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 public:
  SourceKind kind() const override { return camera_ ? SourceKind::Camera : SourceKind::Video; }
  std::string description() const override {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%dx%d, %.3g fps", dec_->width, dec_->height, fps_);
    return std::string(camera_ ? "camera " + spec_ + " (" + url_ : "video " + url_ + " (") +
           (camera_ ? ", " : "") + codec_name_ + " " + buf + ")";
  }
  double fps() const override { return fps_; }

  std::optional<Frame> next() override {
    if (stop_.load()) throw Error(kind_error(), url_ + ": interrupted (shutting down)");
    while (true) {
      int rc = avcodec_receive_frame(dec_, frame_);
      if (rc == 0) return convert();
      if (rc == AVERROR_EOF) return at_end();
      if (rc != AVERROR(EAGAIN)) throw Error(kind_error(), url_ + ": decoding failed (" + av_error(rc) + ")");
      if (eof_) return at_end();
      arm(opts_.read_timeout_s);
      while ((rc = av_read_frame(fmt_, pkt_)) == AVERROR(EAGAIN)) {  // a non-blocking camera: no frame yet
        if (should_abort()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      // Our reader's stall or interrupt reaches the demuxer as an error or as a plain end of file.
      if (timed_out_ || interrupted_) fail(url_, "reading", "reading failed", rc);
      if (rc == AVERROR_EOF) {
        eof_ = true;
        avcodec_send_packet(dec_, nullptr);  // drain the decoder's delayed frames
        continue;
      }
      if (rc < 0) fail(url_, "reading", "reading failed", rc);
      if (pkt_->stream_index == stream_) {
        ++packets_;
        rc = avcodec_send_packet(dec_, pkt_);
        av_packet_unref(pkt_);
        if (rc < 0 && rc != AVERROR(EAGAIN))
          throw Error(kind_error(), url_ + ": cannot decode frame " + std::to_string(decoded_) + " (" + av_error(rc) + ")");
      } else {
        av_packet_unref(pkt_);
      }
    }
  }

 private:
  ErrorKind kind_error() const { return camera_ ? ErrorKind::Device : ErrorKind::Io; }

  // The end of the stream: a file whose container declares more packets than it delivered was cut
  // short (a partial download or copy); saying so beats stopping as if the video had ended.
  std::optional<Frame> at_end() const {
    if (!camera_ && declared_packets_ > 0 && packets_ < declared_packets_)
      throw Error(ErrorKind::Io, url_ + ": truncated (the file ends after " + std::to_string(packets_) + " of the " +
                                     std::to_string(declared_packets_) + " frames its container declares)");
    return std::nullopt;
  }

  Frame convert() {
    const int w = frame_->width, h = frame_->height;
    sws_ = sws_getCachedContext(sws_, w, h, static_cast<AVPixelFormat>(frame_->format), w, h, AV_PIX_FMT_RGB24,
                                SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
    if (!sws_) throw Error(kind_error(), url_ + ": cannot convert its pixel format to RGB");
    if (rgb_->width != w || rgb_->height != h) {
      av_frame_unref(rgb_);
      rgb_->format = AV_PIX_FMT_RGB24;
      rgb_->width = w;
      rgb_->height = h;
      if (av_frame_get_buffer(rgb_, 32) < 0) throw Error(ErrorKind::Memory, url_ + ": cannot allocate an RGB frame");
    }
    sws_scale(sws_, frame_->data, frame_->linesize, 0, h, rgb_->data, rgb_->linesize);
    Frame f;
    f.width = w;
    f.height = h;
    f.rgb.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
    for (int y = 0; y < h; ++y)
      std::copy_n(rgb_->data[0] + static_cast<size_t>(y) * static_cast<size_t>(rgb_->linesize[0]), static_cast<size_t>(w) * 3,
                  f.rgb.data() + static_cast<size_t>(y) * static_cast<size_t>(w) * 3);
    f.index = decoded_++;
    f.name = "frame " + std::to_string(f.index);
    const int64_t pts = frame_->best_effort_timestamp;
    if (pts != AV_NOPTS_VALUE) {
      if (first_pts_ == AV_NOPTS_VALUE) first_pts_ = pts;
      f.timestamp = static_cast<double>(pts - first_pts_) * time_base_;
    } else {
      f.timestamp = fps_ > 0 ? static_cast<double>(f.index) / fps_ : 0.0;
    }
    av_frame_unref(frame_);
    return f;
  }

  std::string spec_, url_, codec_name_;
  bool camera_ = false, eof_ = false;
  SourceOptions opts_;
  std::atomic<bool> stop_{false};       // interrupt(): any thread
  std::atomic<int64_t> deadline_ns_{0};  // the armed limit (steady clock)
  bool timed_out_ = false, interrupted_ = false;  // what ended the last armed call (reader thread)
  double armed_s_ = 0;
  int fd_ = -1;                  // files and pipes: read through avio_
  AVIOContext* avio_ = nullptr;
  int64_t declared_packets_ = 0, packets_ = 0;
  AVFormatContext* fmt_ = nullptr;
  AVCodecContext* dec_ = nullptr;
  AVPacket* pkt_ = nullptr;
  AVFrame *frame_ = nullptr, *rgb_ = nullptr;
  SwsContext* sws_ = nullptr;
  int stream_ = -1;
  double time_base_ = 0.0, fps_ = 0.0;
  int64_t decoded_ = 0, first_pts_ = AV_NOPTS_VALUE;
};

}  // namespace

std::unique_ptr<FrameSource> open_source(const std::string& spec, const SourceOptions& o) {
  if (auto cam = camera_index(spec)) {
    const std::string dev = "/dev/video" + std::to_string(*cam);
    std::error_code ec;
    if (!fs::exists(dev, ec)) throw Error(ErrorKind::Device, spec + ": no camera (" + dev + " does not exist)");
    return std::make_unique<StreamSource>(dev, spec, true, o);
  }
  std::error_code ec;
  const fs::file_status st = fs::status(spec, ec);
  if (!fs::exists(st)) throw Error(ErrorKind::Io, spec + ": no such file or folder");
  if (fs::is_directory(st)) return std::make_unique<FolderSource>(spec);
  if (!fs::is_regular_file(st) && !fs::is_fifo(st))
    throw Error(ErrorKind::Io, spec + ": not a regular file, named pipe or folder");
  return std::make_unique<StreamSource>(spec, spec, false, o);
}

bool is_live_spec(const std::string& spec) {
  if (spec == "camera" || spec.rfind("camera:", 0) == 0) return true;
  std::error_code ec;
  const fs::file_status st = fs::status(spec, ec);
  if (fs::is_directory(st) || fs::is_fifo(st)) return true;
  if (!fs::is_regular_file(st)) return false;  // missing: the single-input path reports it
  const std::string e = lower_ext(spec);
  return !is_image_ext(e) && e != ".npy";
}

Tensor frame_to_tensor(const Frame& f, const ImagePreprocess& pp) {
  return preprocess_pixels(f.rgb.data(), f.width, f.height, 3, pp, f.name);
}

}  // namespace netlens::media
