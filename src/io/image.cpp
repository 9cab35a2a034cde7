// PNG/JPEG/BMP → preprocessed float32 input tensor. Decoding PNG and BMP through Debian's libstb
// (stb_image), JPEG through libjpeg-turbo (jpeg.cpp), after reading the header and refusing images
// over kMaxImagePixels (decompression bombs); resizing with resample.cpp, which is exactly
// Pillow's Image.resize(BILINEAR) (see there for why).
//
// Order of operations, per output channel c (channels counted after the BGR reorder, so `mean` and
// `std` are given in the tensor's channel order):
//   v = (pixel[0..255] * scale - mean[c]) / std[c]
// Resizing happens before normalisation, on 0..255 values, with Pillow's triangle (bilinear)
// filter: plain bilinear interpolation when enlarging, stretched over the scale factor (an
// antialiasing average) when shrinking, windows clipped at the borders.
#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include <stb_image.h>

#include "netlens/io.hpp"
#include "jpeg.hpp"
#include "resample.hpp"

namespace netlens {

namespace {

// Per-channel mean and std after checking the options; `what` names the source in errors.
struct Checked {
  std::vector<float> mean, stdv;
};
Checked check_preprocess(const ImagePreprocess& pp, const std::string& what) {
  const int C = pp.channels;
  if (C != 1 && C != 3)
    throw Error(ErrorKind::Usage, what + ": image channels must be 1 or 3 (got " + std::to_string(C) + ")");
  if (pp.width < 0 || pp.height < 0)
    throw Error(ErrorKind::Usage, what + ": negative resize size " + std::to_string(pp.width) + "x" + std::to_string(pp.height));
  auto per_channel = [&](const std::vector<float>& v, const char* name) {
    if (v.size() != static_cast<size_t>(C) && v.size() != 1)
      throw Error(ErrorKind::Usage, what + ": " + name + " has " + std::to_string(v.size()) + " values, expected " +
                                        std::to_string(C) + " (one per channel) or 1");
    std::vector<float> out(static_cast<size_t>(C));
    for (int c = 0; c < C; ++c) out[static_cast<size_t>(c)] = v[v.size() == 1 ? 0 : static_cast<size_t>(c)];
    return out;
  };
  Checked k{per_channel(pp.mean, "mean"), per_channel(pp.std, "std")};
  for (float s : k.stdv)
    if (s == 0.0f) throw Error(ErrorKind::Usage, what + ": std must not be 0");
  return k;
}

}  // namespace

Tensor preprocess_pixels(const uint8_t* pixels, int w, int h, int src_channels, const ImagePreprocess& pp,
                         const std::string& what) {
  const int C = pp.channels;
  const Checked k = check_preprocess(pp, what);
  if (src_channels != 1 && src_channels != 3)
    throw Error(ErrorKind::Internal, what + ": pixels must have 1 or 3 channels (got " + std::to_string(src_channels) + ")");
  if (src_channels != C && !(src_channels == 3 && C == 1))
    throw Error(ErrorKind::Input, what + ": a grey image cannot feed a 3-channel input");
  if (w <= 0 || h <= 0) throw Error(ErrorKind::Input, what + ": empty image");

  const int W = pp.width ? pp.width : w;
  const int H = pp.height ? pp.height : h;
  // A typo in --size must not become a 100 GB allocation.
  if (static_cast<int64_t>(W) * H * C > (int64_t{1} << 30))
    throw Error(ErrorKind::Usage, what + ": resize target " + std::to_string(W) + "x" + std::to_string(H) +
                                      " is too large (over 2^30 values)");
  // RGB into a 1-channel model: stb's integer luma, so frames match load_image on the same pixels.
  std::vector<uint8_t> grey;
  const uint8_t* src = pixels;
  if (src_channels != C) {
    grey.resize(static_cast<size_t>(w) * static_cast<size_t>(h));
    for (size_t i = 0; i < grey.size(); ++i) {
      const uint8_t* p = pixels + 3 * i;
      grey[i] = static_cast<uint8_t>((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
    }
    src = grey.data();
  }
  const std::vector<float> img = io_detail::resize_bilinear(src, w, h, C, W, H, what);

  Tensor t(DType::Float32, pp.nhwc ? Shape{1, H, W, C} : Shape{1, C, H, W});
  float* out = t.data_as<float>();
  const size_t plane = static_cast<size_t>(W) * static_cast<size_t>(H);
  for (size_t p = 0; p < plane; ++p) {
    for (int c = 0; c < C; ++c) {
      const int src_c = (pp.bgr && C == 3) ? 2 - c : c;
      const float v = (img[p * static_cast<size_t>(C) + static_cast<size_t>(src_c)] * pp.scale - k.mean[static_cast<size_t>(c)]) /
                      k.stdv[static_cast<size_t>(c)];
      if (pp.nhwc) out[p * static_cast<size_t>(C) + static_cast<size_t>(c)] = v;
      else out[static_cast<size_t>(c) * plane + p] = v;
    }
  }
  return t;
}

ImagePreprocess image_preprocess_for(const ValueInfo& vi, const Shape& bound, const ImagePreprocess& base,
                                     bool size_given) {
  ImagePreprocess pp = base;
  // Layout NCHW: dims [N, C, H, W]; NHWC: [N, H, W, C]. A bound shape wins over declared dims.
  auto dim = [&](size_t i) -> int64_t {
    if (!bound.empty()) return i < bound.size() ? bound[i] : -1;
    return i < vi.dims.size() && vi.dims[i].fixed() ? vi.dims[i].value : -1;
  };
  const size_t rank = bound.empty() ? vi.dims.size() : bound.size();
  if (rank != 4)
    throw Error(ErrorKind::Input, "input '" + vi.name + "' is not an image tensor (rank " + std::to_string(rank) + ")");
  const int64_t c = dim(pp.nhwc ? 3 : 1), h = dim(pp.nhwc ? 1 : 2), w = dim(pp.nhwc ? 2 : 3);
  if (c == 1) pp.channels = 1;
  if (!size_given) {
    // The model's dims become the resize target: a hostile or absurd model must not wrap them
    // through int (the resampler's own limit, 2^24 per side, then refuses what is left).
    if (w > (int64_t{1} << 24) || h > (int64_t{1} << 24))
      throw Error(ErrorKind::Input, "input '" + vi.name + "': image size " + std::to_string(w) + "x" +
                                        std::to_string(h) + " from the model is too large to resize to");
    if (w > 0) pp.width = static_cast<int>(w);
    if (h > 0) pp.height = static_cast<int>(h);
  }
  return pp;
}

namespace {

std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown reason";
}

// The whole file; Error{Io} naming `path` when it is missing or unreadable.
std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(ErrorKind::Io, path + ": image file not found");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(INT_MAX))  // stb takes lengths as int; not read into memory
    throw Error(ErrorKind::Input, path + ": image file is larger than 2 GiB");
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> bytes;
  if (f) bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  if (!f && !f.eof()) throw Error(ErrorKind::Io, path + ": cannot read the image file");
  return bytes;
}

}  // namespace

// The formats decode_image accepts, by their signatures. stb_image also decodes GIF, PSD, TGA,
// HDR, PIC and PNM; nothing here needs them, and every decoder left out is attack surface gone.
const char* image_signature(const uint8_t* d, size_t n) {
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "JPEG";
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "BMP";
  return nullptr;
}

DecodedImage decode_image(const uint8_t* data, size_t size, int channels, const std::string& what,
                          int64_t max_pixels) {
  if (channels != 1 && channels != 3)
    throw Error(ErrorKind::Internal, what + ": can decode to 1 or 3 channels, not " + std::to_string(channels));
  const char* format = image_signature(data, size);
  if (!format) throw Error(ErrorKind::Input, what + ": not a PNG, JPEG or BMP image");
  if (size > static_cast<size_t>(INT_MAX))  // stb takes the length as int
    throw Error(ErrorKind::Input, what + ": " + format + " file is larger than 2 GiB");
  const int len = static_cast<int>(size);
  const bool jpeg = std::strcmp(format, "JPEG") == 0;
  // A PNG's size is read here from IHDR (fixed place, big-endian), because stb's header scan
  // refuses huge PNGs itself with only "unknown image type" and no size; a JPEG's comes from
  // libjpeg-turbo's header read, a BMP's from stb's header scan, each the code its decoder starts with.
  int64_t w = 0, h = 0;
  std::optional<io_detail::JpegFile> jpeg_file;
  if (jpeg) {
    jpeg_file.emplace(data, size, what);
    w = jpeg_file->width();
    h = jpeg_file->height();
  } else if (std::strcmp(format, "PNG") == 0 && size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    auto be32 = [&](size_t at) {
      return (int64_t{data[at]} << 24) | (int64_t{data[at + 1]} << 16) | (int64_t{data[at + 2]} << 8) | data[at + 3];
    };
    w = be32(16);
    h = be32(20);
  } else {
    // stb reads uncompressed and bit-field BMPs; for run-length ones it says only "unknown image type".
    const bool rle = size >= 34 && (data[30] == 1 || data[30] == 2) && data[31] == 0 && data[32] == 0 && data[33] == 0;
    if (std::strcmp(format, "BMP") == 0 && rle)
      throw Error(ErrorKind::Input, what + ": run-length compressed (RLE" + (data[30] == 1 ? "8" : "4") +
                                        ") BMP images are not supported; save it uncompressed, or as PNG");
    int iw = 0, ih = 0, file_channels = 0;
    if (!stbi_info_from_memory(data, len, &iw, &ih, &file_channels))
      throw Error(ErrorKind::Input, what + ": cannot read the " + format + " header (" + stb_reason() + ")");
    w = iw;
    h = ih;
  }
  const std::string dims = std::to_string(w) + "x" + std::to_string(h);
  if (w <= 0 || h <= 0) throw Error(ErrorKind::Input, what + ": " + format + " header gives an empty image (" + dims + ")");
  if (w > (1 << 24) || h > (1 << 24))  // checked first: a PNG's sides go up to 2^32 − 1
    throw Error(ErrorKind::Input, what + ": image is " + dims + ", over the limit of 16777216 pixels per side");
  const int64_t n_pixels = w * h;  // both at most 2^24
  if (n_pixels > max_pixels)
    throw Error(ErrorKind::Input, what + ": image is " + dims + " (" + std::to_string(n_pixels) +
                                      " pixels), over the limit of " + std::to_string(max_pixels) + " pixels");
  DecodedImage im;
  im.width = static_cast<int>(w);
  im.height = static_cast<int>(h);
  im.channels = channels;
  if (jpeg) {
    im.pixels = jpeg_file->decode(channels);
    return im;
  }
  int file_channels = 0;
  int dw = 0, dh = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      stbi_load_from_memory(data, len, &dw, &dh, &file_channels, channels), stbi_image_free);
  if (!pixels)
    throw Error(ErrorKind::Input, what + ": cannot decode the " + format + " image (" + stb_reason() + ")");
  if (dw != w || dh != h)  // the header was read twice; never trust a size that changed in between
    throw Error(ErrorKind::Input, what + ": " + format + " decoded to " + std::to_string(dw) + "x" +
                                      std::to_string(dh) + ", its header says " + dims);
  im.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(n_pixels) * static_cast<size_t>(channels));
  return im;
}

Tensor load_image(const std::string& path, const ImagePreprocess& pp) {
  check_preprocess(pp, path);  // option errors first, before touching the file
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const DecodedImage im = decode_image(bytes.data(), bytes.size(), pp.channels, path);
  return preprocess_pixels(im.pixels.data(), im.width, im.height, im.channels, pp, path);
}

Rgb8Image load_image_rgb8(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  DecodedImage im = decode_image(bytes.data(), bytes.size(), 3, path);
  Rgb8Image out;
  out.width = im.width;
  out.height = im.height;
  out.pixels = std::move(im.pixels);
  return out;
}

std::string sanitize_tensor_name(const std::string& name) {
  if (name.empty()) return "_";  // a file name cannot be empty
  std::string out = name;
  for (char& ch : out) {
    const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                    ch == '_' || ch == '-';
    if (!ok) ch = '_';
  }
  return out;
}

}  // namespace netlens
