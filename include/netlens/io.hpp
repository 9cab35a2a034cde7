// Tensor and image files: .npy read/write, PNG/JPEG → preprocessed input tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"

namespace netlens {

Tensor read_npy(const std::string& path);               // throws Error{Io|Input}
void write_npy(const std::string& path, const Tensor& t);  // throws Error{Io}

struct ImagePreprocess {
  int width = 0, height = 0;           // 0 = keep the image's size
  std::vector<float> mean{0, 0, 0};    // subtracted after scaling
  std::vector<float> std{1, 1, 1};     // divided after mean
  float scale = 1.0f / 255.0f;         // applied to 0..255 pixel values first
  bool bgr = false;                    // channel order
  bool nhwc = false;                   // layout (default NCHW)
  int channels = 3;                    // 1 = grayscale
};
// Loads PNG/JPEG/BMP (decode_image), resizes as Pillow's Image.resize(BILINEAR) does (antialiased
// when shrinking) and normalises into a float32 1xCxHxW (or 1xHxWxC) tensor.
Tensor load_image(const std::string& path, const ImagePreprocess& pp);

// `base` fitted to graph input `vi` (rank 4, NCHW or NHWC as base.nhwc says): channels = 1 when the
// channel dim is 1, and, unless `size_given`, width/height from `bound` (the shape bound to that
// input, e.g. --input-shape; empty: none) or else the model's fixed dims. A dynamic dim leaves
// base's value (0: the image's own size). The one reading of an image input's dims (`--input FILE.png`
// and live frames). Error{Input} naming the input when it is not rank 4.
ImagePreprocess image_preprocess_for(const ValueInfo& vi, const Shape& bound, const ImagePreprocess& base,
                                     bool size_given);

// 8-bit pixels already in memory (decoded video frames, camera frames) → the same tensor load_image
// makes from a file holding those pixels. `pixels` is w·h·src_channels bytes, row-major, top row
// first, interleaved; src_channels is 1 (grey) or 3 (RGB). RGB into a 1-channel model uses stb's
// luma ((77 r + 150 g + 29 b) >> 8), as stb does when load_image asks it for one channel of a PNG.
// `what` names the source in errors (Error{Usage} for bad preprocessing options, Error{Input} for
// sizes the resampler refuses: sides over 2^24, buffers over 2^30 values).
Tensor preprocess_pixels(const uint8_t* pixels, int w, int h, int src_channels, const ImagePreprocess& pp,
                         const std::string& what);

// Largest image the decoders accept: 2^28 pixels (268 megapixels; a 200 MP phone photo fits), so a
// small file whose header claims e.g. 100000x100000 (a decompression bomb) is refused before a
// decoder allocates anything. Decoded 8-bit RGB at the limit is 768 MiB.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

// "PNG", "JPEG" or "BMP" when the n bytes at d start with that format's signature (8, 3 and 2
// bytes), else nullptr: the formats decode_image accepts, told by content rather than file name.
const char* image_signature(const uint8_t* d, size_t n);

// 8-bit pixels decoded from an image file.
struct DecodedImage {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // width·height·channels, row-major, top row first, interleaved
};
// Decodes PNG or BMP bytes (stb_image) or JPEG bytes (libjpeg-turbo, as Pillow decodes them;
// truncated or corrupt ones refused) into `channels` (1 = grey: stb's luma of PNG/BMP, a JPEG's Y
// channel; 3 = RGB) 8-bit channels. Reads the header first and refuses images over `max_pixels`
// pixels or with a side over 2^24 (Error{Input} naming `what` and the dimensions) without decoding
// them; other formats and undecodable bytes are Error{Input} too. The one decoder behind
// load_image and load_image_rgb8 (and the fuzz target, which passes a smaller `max_pixels`).
DecodedImage decode_image(const uint8_t* data, size_t size, int channels, const std::string& what,
                          int64_t max_pixels = kMaxImagePixels);

// An image file decoded to 8-bit RGB (decode_image on its bytes); Error{Io} missing or unreadable,
// Error{Input} undecodable or too large.
struct Rgb8Image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width·height·3
};
Rgb8Image load_image_rgb8(const std::string& path);

// Replaces every character outside [A-Za-z0-9._-] with '_' (file names for dumped tensors).
std::string sanitize_tensor_name(const std::string& name);

// One distinct file stem per tensor name, in order: sanitize_tensor_name, and where two names
// sanitise alike ("a/b", "a:b") or differ only in letter case (case-insensitive file systems), the
// later ones get "-2", "-3", ... (the first keeps the plain stem). Dumps record the stem they used.
std::vector<std::string> unique_file_stems(const std::vector<std::string>& names);

}  // namespace netlens
