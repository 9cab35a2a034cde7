// Video output: RGBA frames encoded as H.264 (libx264 through libavcodec) in an MP4 container
// (libavformat), converted to yuv420p by libswscale (BT.709, limited range, as players assume for
// HD). Constant frame rate: frame i has pts i in a 1/fps time base, so the file's duration is
// frames/fps and every decoder shows the frames at exactly the given rate.
//
// Contract: open in the constructor (Error{Usage} for odd or out-of-range sizes — yuv420p needs even
// sides — or fps outside 1..240; Error{Unsupported} when this FFmpeg has no libx264; Error{Io}
// naming the path when the file cannot be created), add_frame() any number of times, then finish()
// (flushes the encoder, writes the trailer; Error{Io} on a write failure). Dropping an encoder
// without finish() closes and deletes a partial file. One thread at a time; not copyable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace netlens::media {

struct EncoderOptions {
  int width = 1920, height = 1080;
  int fps = 30;
  int crf = 16;                     // x264 constant rate factor: 16 keeps text and thin lines crisp
  std::string preset = "veryfast";  // x264 speed/size trade-off; file size, not quality, pays for speed
};

class VideoEncoder {
 public:
  VideoEncoder(const std::string& path, const EncoderOptions& o);
  ~VideoEncoder();
  VideoEncoder(const VideoEncoder&) = delete;
  VideoEncoder& operator=(const VideoEncoder&) = delete;

  // One frame: width·height·4 bytes, RGBA (alpha ignored), top row first.
  void add_frame(const uint8_t* rgba);
  void finish();
  int64_t frames() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netlens::media
