// Tensor and image files: .npy read/write, PNG/JPEG → preprocessed input tensor.
#pragma once

#include <string>
#include <vector>

#include "netlens/core.hpp"

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
// Loads PNG/JPEG, resizes (bilinear) and normalises into a float32 1xCxHxW (or 1xHxWxC) tensor.
Tensor load_image(const std::string& path, const ImagePreprocess& pp);

// Replaces every character outside [A-Za-z0-9._-] with '_' (file names for dumped tensors).
std::string sanitize_tensor_name(const std::string& name);

}  // namespace netlens
