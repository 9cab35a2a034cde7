// JPEG decoding through TurboJPEG (see jpeg.hpp for why not stb). TurboJPEG reports errors by
// return value, not libjpeg's longjmp, so no C++ frame is ever jumped over.
#include "jpeg.hpp"

#include <utility>

#include <turbojpeg.h>

#include "netlens/core.hpp"

namespace netlens::io_detail {

namespace {

// After a TurboJPEG call returned `rc`: throws unless it succeeded or only warned of
// "extraneous bytes before marker" (bytes outside any segment, which libjpeg skips; common in
// camera files). TurboJPEG keeps only the last message, so an earlier warning behind that one
// goes unseen; every other warning means missing or wrong picture data.
void check(tjhandle h, int rc, const std::string& what, const char* doing) {
  if (rc == 0) return;
  const std::string reason = tjGetErrorStr2(h);
  if (tjGetErrorCode(h) == TJERR_WARNING && reason.find("extraneous bytes") != std::string::npos) return;
  throw Error(ErrorKind::Input, what + ": " + doing + " (" + reason + ")");
}

// Pillow's MULDIV255: a·b/255 rounded, exact for 8-bit a and b.
inline unsigned muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

}  // namespace

JpegFile::JpegFile(const uint8_t* data, size_t size, std::string what)
    : handle_(tjInitDecompress()), data_(data), size_(size), what_(std::move(what)) {
  if (!handle_) throw Error(ErrorKind::Internal, what_ + ": cannot start the JPEG decoder (" + tjGetErrorStr2(nullptr) + ")");
  int w = 0, h = 0, subsamp = 0;
  try {
    check(handle_, tjDecompressHeader3(handle_, data_, static_cast<unsigned long>(size_), &w, &h, &subsamp, &colorspace_),
          what_, "cannot read the JPEG header");
  } catch (...) {
    tjDestroy(handle_);
    throw;
  }
  width_ = w;
  height_ = h;
}

JpegFile::~JpegFile() { tjDestroy(handle_); }

std::vector<uint8_t> JpegFile::decode(int channels) const {
  const size_t pixels = static_cast<size_t>(width_) * static_cast<size_t>(height_);
  // CMYK files (Photoshop's, some ImageNet photos) decode to their stored, inverted (Adobe) CMYK,
  // then to RGB as Pillow converts them; TurboJPEG has no CMYK→RGB conversion.
  const bool cmyk = colorspace_ == TJCS_CMYK || colorspace_ == TJCS_YCCK;
  const int format = cmyk ? TJPF_CMYK : channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int format_channels = cmyk ? 4 : channels;
  std::vector<uint8_t> out(pixels * static_cast<size_t>(format_channels));
  // LIMITSCANS: a progressive file with thousands of tiny scans is a CPU bomb (libjpeg-turbo's
  // own guard). ACCURATEDCT is the default IDCT, named so the output stays Pillow's.
  const int flags = TJFLAG_LIMITSCANS | TJFLAG_ACCURATEDCT;
  check(handle_, tjDecompress2(handle_, data_, static_cast<unsigned long>(size_), out.data(), static_cast<int>(width_), 0,
                               static_cast<int>(height_), format, flags),
        what_, "corrupt or truncated JPEG");
  if (!cmyk) return out;
  // Stored values are inverted: c' = 255 − c. Pillow: R = (255 − k) − (c·(255 − k))/255.
  std::vector<uint8_t> rgb(pixels * static_cast<size_t>(channels));
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* s = &out[4 * p];
    const unsigned nk = s[3];
    unsigned v[3];
    for (int c = 0; c < 3; ++c) v[c] = nk - muldiv255(255u - s[c], nk);
    if (channels == 1) {
      rgb[p] = static_cast<uint8_t>((v[0] * 77 + v[1] * 150 + v[2] * 29) >> 8);
      continue;
    }
    for (int c = 0; c < 3; ++c) rgb[3 * p + static_cast<size_t>(c)] = static_cast<uint8_t>(v[c]);
  }
  return rgb;
}

}  // namespace netlens::io_detail
