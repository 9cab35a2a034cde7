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

// Width and height from a JPEG's frame header, without decoding. Error{Input} naming `what` when
// the header cannot be read.
struct JpegSize {
  int64_t width = 0, height = 0;
};
JpegSize jpeg_size(const uint8_t* data, size_t size, const std::string& what);

// Decodes the whole JPEG into width·height·channels 8-bit values (channels 3: RGB; 1: the luma
// channel Y, or for a CMYK file the luma of its RGB as stb computes it). The caller has checked
// the size from jpeg_size. Error{Input} naming `what` and libjpeg's reason for a corrupt or
// truncated file (a warning that parts of the picture are missing or wrong is refused too, not
// decoded into grey fill); only "extraneous bytes before marker" — data outside the picture — is
// accepted. Thread-safe (one TurboJPEG handle per call).
std::vector<uint8_t> decode_jpeg(const uint8_t* data, size_t size, int channels, const std::string& what);

}  // namespace netlens::io_detail
