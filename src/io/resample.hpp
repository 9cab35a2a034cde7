// Private to netlens_io: the image resampler behind preprocess_pixels (see resample.cpp for why it
// is Pillow's BILINEAR, written here rather than taken from a library).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace netlens::io_detail {

// Largest width or height the resampler takes (stb_image's own STBI_MAX_DIMENSIONS); keeps every
// index and window bound of the weight computation inside int.
inline constexpr int kMaxResampleSide = 1 << 24;
// Most float values the intermediate or output buffer may hold (4 GiB of float32).
inline constexpr int64_t kMaxResampleValues = int64_t{1} << 30;

// Pillow's Image.resize(..., Image.BILINEAR) of `src` (w x h pixels of `channels` interleaved 8-bit
// values, row-major, top row first), each channel resized as a mode "F" (float32) image. Returns
// out_w·out_h·channels float32 values in 0..255, interleaved like `src`. Never aborts: sizes outside
// 1..kMaxResampleSide, or buffers over kMaxResampleValues, throw Error{Input} with one line naming
// `what`; every output is a convex combination of input values, so no NaN or Inf.
std::vector<float> resize_bilinear(const uint8_t* src, int w, int h, int channels, int out_w, int out_h,
                                   const std::string& what);

}  // namespace netlens::io_detail
