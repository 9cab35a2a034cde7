// PNG/JPEG → preprocessed float32 input tensor, through Debian's libstb (stb_image for decoding,
// stb_image_resize for resizing; both implementations live in libstb.so).
//
// Order of operations, per output channel c (channels counted after the BGR reorder, so `mean` and
// `std` are given in the tensor's channel order):
//   v = (pixel[0..255] * scale - mean[c]) / std[c]
// Resizing happens before normalisation, on 0..255 floats, with a triangle (bilinear) filter and
// clamped edges; stb's triangle filter is exact bilinear interpolation when enlarging and averages
// (anti-aliases) when shrinking.
#include <filesystem>
#include <memory>
#include <vector>

#include <stb_image.h>
#include <stb_image_resize.h>

#include "netlens/io.hpp"

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
  const size_t src_n = static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(C);
  std::vector<float> src(src_n);
  if (src_channels == C) {
    for (size_t i = 0; i < src_n; ++i) src[i] = pixels[i];
  } else {  // RGB → grey with stb's integer luma, so frames match load_image on the same pixels
    for (size_t i = 0; i < src_n; ++i) {
      const uint8_t* p = pixels + 3 * i;
      src[i] = static_cast<float>(static_cast<uint8_t>((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8));
    }
  }
  std::vector<float> img;
  if (W == w && H == h) {
    img = std::move(src);
  } else {
    img.resize(static_cast<size_t>(W) * static_cast<size_t>(H) * static_cast<size_t>(C));
    const int ok = stbir_resize_float_generic(src.data(), w, h, 0, img.data(), W, H, 0, C, STBIR_ALPHA_CHANNEL_NONE,
                                              0, STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR,
                                              nullptr);
    if (!ok) throw Error(ErrorKind::Memory, what + ": resizing to " + std::to_string(W) + "x" + std::to_string(H) + " failed");
  }

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
    if (w > 0) pp.width = static_cast<int>(w);
    if (h > 0) pp.height = static_cast<int>(h);
  }
  return pp;
}

Tensor load_image(const std::string& path, const ImagePreprocess& pp) {
  const int C = pp.channels;
  check_preprocess(pp, path);  // option errors first, before touching the file
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorKind::Io, path + ": image file not found");
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> pixels(stbi_load(path.c_str(), &w, &h, &file_channels, C),
                                                         stbi_image_free);
  if (!pixels)
    throw Error(ErrorKind::Input, path + ": cannot decode image (" + std::string(stbi_failure_reason()) +
                                      "; PNG and JPEG are supported)");
  return preprocess_pixels(pixels.get(), w, h, C, pp, path);
}

Rgb8Image load_image_rgb8(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(ErrorKind::Io, path + ": image file not found");
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> pixels(stbi_load(path.c_str(), &w, &h, &file_channels, 3),
                                                         stbi_image_free);
  if (!pixels)
    throw Error(ErrorKind::Input, path + ": cannot decode image (" + std::string(stbi_failure_reason()) + ")");
  Rgb8Image im;
  im.width = w;
  im.height = h;
  im.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  return im;
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
