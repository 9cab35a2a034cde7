#include "netlens/media/encoder.hpp"

#include <cstdio>
#include <filesystem>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "netlens/core.hpp"

namespace netlens::media {

namespace {
std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}
}  // namespace

struct VideoEncoder::Impl {
  std::string path;
  EncoderOptions o;
  AVFormatContext* fmt = nullptr;
  AVCodecContext* enc = nullptr;
  AVStream* st = nullptr;
  SwsContext* sws = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  int64_t n = 0;
  bool header = false, finished = false;

  ~Impl() {
    if (pkt) av_packet_free(&pkt);
    if (frame) av_frame_free(&frame);
    if (sws) sws_freeContext(sws);
    if (enc) avcodec_free_context(&enc);
    if (fmt) {
      if (fmt->pb) avio_closep(&fmt->pb);
      avformat_free_context(fmt);
    }
    if (!finished) {  // a partial file is no video: remove it
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  }

  [[noreturn]] void fail(ErrorKind k, const std::string& what) const { throw Error(k, "video '" + path + "': " + what); }

  // Sends `f` (null: flush) and writes every packet the encoder has ready.
  void drain(const AVFrame* f) {
    int r = avcodec_send_frame(enc, f);
    if (r < 0) fail(ErrorKind::Internal, "encoding failed (" + av_error(r) + ")");
    for (;;) {
      r = avcodec_receive_packet(enc, pkt);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) fail(ErrorKind::Internal, "encoding failed (" + av_error(r) + ")");
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      r = av_interleaved_write_frame(fmt, pkt);
      if (r < 0) fail(ErrorKind::Io, "cannot write (" + av_error(r) + ")");
    }
  }
};

VideoEncoder::VideoEncoder(const std::string& path, const EncoderOptions& o) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.o = o;
  m.finished = true;  // nothing to delete until the file exists
  if (o.width < 16 || o.height < 16 || o.width > 16384 || o.height > 16384 || o.width % 2 || o.height % 2)
    throw Error(ErrorKind::Usage, "video '" + path + "': size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                                      " must have even sides in 16..16384 (H.264 yuv420p)");
  if (o.fps < 1 || o.fps > 240) throw Error(ErrorKind::Usage, "video '" + path + "': fps " + std::to_string(o.fps) + " must be in 1..240");
  // x264 prints its statistics at the info level: errors only (one line each) on the terminal.
  if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) m.fail(ErrorKind::Unsupported, "this FFmpeg has no libx264 encoder (use --frames-dir for PNGs)");
  int r = avformat_alloc_output_context2(&m.fmt, nullptr, "mp4", path.c_str());
  if (r < 0 || !m.fmt) m.fail(ErrorKind::Internal, "no MP4 muxer (" + av_error(r) + ")");
  m.st = avformat_new_stream(m.fmt, nullptr);
  m.enc = avcodec_alloc_context3(codec);
  if (!m.st || !m.enc) m.fail(ErrorKind::Memory, "out of memory");
  m.enc->width = o.width;
  m.enc->height = o.height;
  m.enc->pix_fmt = AV_PIX_FMT_YUV420P;
  m.enc->time_base = AVRational{1, o.fps};
  m.enc->framerate = AVRational{o.fps, 1};
  m.enc->gop_size = 2 * o.fps;
  m.enc->color_primaries = AVCOL_PRI_BT709;
  m.enc->color_trc = AVCOL_TRC_BT709;
  m.enc->colorspace = AVCOL_SPC_BT709;
  m.enc->color_range = AVCOL_RANGE_MPEG;
  if (m.fmt->oformat->flags & AVFMT_GLOBALHEADER) m.enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(m.enc->priv_data, "preset", o.preset.c_str(), 0);
  av_opt_set(m.enc->priv_data, "crf", std::to_string(o.crf).c_str(), 0);
  if ((r = avcodec_open2(m.enc, codec, nullptr)) < 0) m.fail(ErrorKind::Internal, "cannot open libx264 (" + av_error(r) + ")");
  if ((r = avcodec_parameters_from_context(m.st->codecpar, m.enc)) < 0) m.fail(ErrorKind::Internal, av_error(r));
  m.st->time_base = m.enc->time_base;
  m.st->avg_frame_rate = m.enc->framerate;
  m.st->r_frame_rate = m.enc->framerate;
  if ((r = avio_open(&m.fmt->pb, path.c_str(), AVIO_FLAG_WRITE)) < 0) m.fail(ErrorKind::Io, "cannot create the file (" + av_error(r) + ")");
  m.finished = false;  // from here on a failure leaves a partial file to remove
  if ((r = avformat_write_header(m.fmt, nullptr)) < 0) m.fail(ErrorKind::Io, "cannot write the header (" + av_error(r) + ")");
  m.header = true;
  m.sws = sws_getContext(o.width, o.height, AV_PIX_FMT_RGBA, o.width, o.height, AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND,
                         nullptr, nullptr, nullptr);
  if (!m.sws) m.fail(ErrorKind::Internal, "no RGBA to yuv420p conversion");
  // RGB (full range) → BT.709 limited-range YUV, matching the stream's colour tags.
  const int* coef = sws_getCoefficients(SWS_CS_ITU709);
  sws_setColorspaceDetails(m.sws, coef, 1, coef, 0, 0, 1 << 16, 1 << 16);
  m.frame = av_frame_alloc();
  m.pkt = av_packet_alloc();
  if (!m.frame || !m.pkt) m.fail(ErrorKind::Memory, "out of memory");
  m.frame->format = AV_PIX_FMT_YUV420P;
  m.frame->width = o.width;
  m.frame->height = o.height;
  if ((r = av_frame_get_buffer(m.frame, 0)) < 0) m.fail(ErrorKind::Memory, "cannot allocate a frame (" + av_error(r) + ")");
}

VideoEncoder::~VideoEncoder() = default;

void VideoEncoder::add_frame(const uint8_t* rgba) {
  Impl& m = *impl_;
  if (m.finished) m.fail(ErrorKind::Internal, "add_frame after finish");
  int r = av_frame_make_writable(m.frame);
  if (r < 0) m.fail(ErrorKind::Memory, av_error(r));
  const uint8_t* src[1] = {rgba};
  const int stride[1] = {4 * m.o.width};
  sws_scale(m.sws, src, stride, 0, m.o.height, m.frame->data, m.frame->linesize);
  m.frame->pts = m.n++;
  m.drain(m.frame);
}

void VideoEncoder::finish() {
  Impl& m = *impl_;
  if (m.finished) return;
  m.drain(nullptr);
  const int r = av_write_trailer(m.fmt);
  if (r < 0) m.fail(ErrorKind::Io, "cannot write the trailer (" + av_error(r) + ")");
  if ((avio_closep(&m.fmt->pb)) < 0) m.fail(ErrorKind::Io, "cannot close the file");
  m.finished = true;
}

int64_t VideoEncoder::frames() const { return impl_->n; }
const std::string& VideoEncoder::path() const { return impl_->path; }

}  // namespace netlens::media
