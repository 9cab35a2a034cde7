// Private to netlens_io: JPEG decoding through libjpeg-turbo's TurboJPEG API (Debian's
// libturbojpeg0), behind decode_image. Why not stb_image, which decodes PNG and BMP here: Debian's
// stb 2.27 JPEG decoder overflows its tables and reads out of bounds on corrupt files the image
// fuzzer found (tests/unit/image_inputs/jpeg_*.jpg). libjpeg-turbo is the decoder Pillow and
// browsers use, fuzzed continuously upstream, and it decodes exactly as Pillow does (the tests
// compare bit for bit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace netlens::io_detail {

// One JPEG in memory (not copied: `data` must outlive the object), its header read once by one
// TurboJPEG handle. The constructor throws Error{Input} naming `what` when the header cannot be
// read. Not shared between threads (one object per decode).
class JpegFile {
 public:
  JpegFile(const uint8_t* data, size_t size, std::string what);
  ~JpegFile();
  JpegFile(const JpegFile&) = delete;
  JpegFile& operator=(const JpegFile&) = delete;
  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  // The whole picture as width·height·channels 8-bit values (channels 3: RGB; 1: the luma channel
  // Y, or for a CMYK file the luma of its RGB as stb computes it). The caller has checked the size.
  // Error{Input} naming `what` and libjpeg's reason for a corrupt or truncated file (a warning that
  // parts of the picture are missing or wrong is refused too, not decoded into grey fill); only
  // "extraneous bytes before marker", data outside the picture, is accepted.
  std::vector<uint8_t> decode(int channels) const;

 private:
  void* handle_;  // tjhandle
  const uint8_t* data_;
  size_t size_;
  std::string what_;
  int64_t width_ = 0, height_ = 0;
  int colorspace_ = 0;
};

}  // namespace netlens::io_detail
