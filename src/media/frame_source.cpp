// Folder, video and camera sources. Folders go through the io module's stb loader (the path single
// image inputs take); video files and cameras through FFmpeg (demux → decode → swscale to RGB24).
#include "frame_source.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>

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
// A video file or a camera: demux, decode the best video stream, convert every frame to RGB24.
class StreamSource final : public FrameSource {
 public:
  StreamSource(const std::string& url, const std::string& spec, bool camera) : spec_(spec), camera_(camera) {
    try {
      open(url);
    } catch (...) {
      release();  // a throwing constructor runs no destructor
      throw;
    }
  }
  ~StreamSource() override { release(); }

 private:
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
    int rc = avformat_open_input(&fmt_, url.c_str(), ifmt, nullptr);
    if (rc < 0) {
      fmt_ = nullptr;
      throw Error(kind, (camera ? spec + " (" + url + ")" : url) + ": cannot open " +
                            (camera ? "the camera" : "as a video") + " (" + av_error(rc) + ")");
    }
    rc = avformat_find_stream_info(fmt_, nullptr);
    if (rc < 0) throw Error(kind, url + ": cannot read stream information (" + av_error(rc) + ")");
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
    while (true) {
      int rc = avcodec_receive_frame(dec_, frame_);
      if (rc == 0) return convert();
      if (rc == AVERROR_EOF) return std::nullopt;
      if (rc != AVERROR(EAGAIN)) throw Error(kind_error(), url_ + ": decoding failed (" + av_error(rc) + ")");
      if (eof_) return std::nullopt;
      rc = av_read_frame(fmt_, pkt_);
      if (rc == AVERROR_EOF) {
        eof_ = true;
        avcodec_send_packet(dec_, nullptr);  // drain the decoder's delayed frames
        continue;
      }
      if (rc < 0) throw Error(kind_error(), url_ + ": reading failed (" + av_error(rc) + ")");
      if (pkt_->stream_index == stream_) {
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

std::unique_ptr<FrameSource> open_source(const std::string& spec) {
  if (auto cam = camera_index(spec)) {
    const std::string dev = "/dev/video" + std::to_string(*cam);
    std::error_code ec;
    if (!fs::exists(dev, ec)) throw Error(ErrorKind::Device, spec + ": no camera (" + dev + " does not exist)");
    return std::make_unique<StreamSource>(dev, spec, true);
  }
  std::error_code ec;
  const fs::file_status st = fs::status(spec, ec);
  if (!fs::exists(st)) throw Error(ErrorKind::Io, spec + ": no such file or folder");
  if (fs::is_directory(st)) return std::make_unique<FolderSource>(spec);
  if (!fs::is_regular_file(st)) throw Error(ErrorKind::Io, spec + ": not a regular file or folder");
  return std::make_unique<StreamSource>(spec, spec, false);
}

bool is_live_spec(const std::string& spec) {
  if (spec == "camera" || spec.rfind("camera:", 0) == 0) return true;
  std::error_code ec;
  const fs::file_status st = fs::status(spec, ec);
  if (fs::is_directory(st)) return true;
  if (!fs::is_regular_file(st)) return false;  // missing: the single-input path reports it
  const std::string e = lower_ext(spec);
  return !is_image_ext(e) && e != ".npy";
}

Tensor frame_to_tensor(const Frame& f, const ImagePreprocess& pp) {
  return preprocess_pixels(f.rgb.data(), f.width, f.height, 3, pp, f.name);
}

}  // namespace netlens::media
