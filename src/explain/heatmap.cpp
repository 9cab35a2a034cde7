// Heat maps as pictures: bilinear resize, a jet colour map blended over the input image, PNG.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>

#include "netlens/explain.hpp"

namespace netlens::explain {

std::vector<float> resize_bilinear(const std::vector<float>& src, int64_t h, int64_t w, int64_t out_h, int64_t out_w) {
  if (static_cast<int64_t>(src.size()) != h * w || h <= 0 || w <= 0)
    throw Error(ErrorKind::Internal, "resize_bilinear: a " + std::to_string(h) + "x" + std::to_string(w) + " map of " +
                                         std::to_string(src.size()) + " values");
  std::vector<float> out(static_cast<size_t>(out_h * out_w));
  // Half-pixel centres, clamped at the borders (PyTorch's align_corners=False, OpenCV's INTER_LINEAR).
  auto coord = [](int64_t i, int64_t n_in, int64_t n_out, int64_t& i0, int64_t& i1, double& f) {
    double c = (i + 0.5) * static_cast<double>(n_in) / static_cast<double>(n_out) - 0.5;
    if (c < 0) c = 0;
    i0 = std::min(static_cast<int64_t>(std::floor(c)), n_in - 1);
    i1 = std::min(i0 + 1, n_in - 1);
    f = c - static_cast<double>(i0);
  };
  for (int64_t y = 0; y < out_h; ++y) {
    int64_t y0, y1;
    double fy;
    coord(y, h, out_h, y0, y1, fy);
    for (int64_t x = 0; x < out_w; ++x) {
      int64_t x0, x1;
      double fx;
      coord(x, w, out_w, x0, x1, fx);
      const double top = src[static_cast<size_t>(y0 * w + x0)] * (1 - fx) + src[static_cast<size_t>(y0 * w + x1)] * fx;
      const double bot = src[static_cast<size_t>(y1 * w + x0)] * (1 - fx) + src[static_cast<size_t>(y1 * w + x1)] * fx;
      out[static_cast<size_t>(y * out_w + x)] = static_cast<float>(top * (1 - fy) + bot * fy);
    }
  }
  return out;
}

std::vector<uint8_t> overlay(const Heatmap& heat, const std::vector<uint8_t>& rgb) {
  const size_t n = static_cast<size_t>(heat.height * heat.width);
  if (!rgb.empty() && rgb.size() != 3 * n)
    throw Error(ErrorKind::Internal, "overlay: image and heat map sizes differ");
  // Robust scale: the 99.5th percentile of |heat| (one hot pixel does not wash the rest out).
  std::vector<float> mag(n);
  for (size_t i = 0; i < n; ++i) mag[i] = std::abs(heat.values[i]);
  std::vector<float> sorted = mag;
  float scale = 0;
  if (n) {
    const size_t k = std::min(n - 1, static_cast<size_t>(0.995 * static_cast<double>(n - 1)));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(k), sorted.end());
    scale = sorted[k];
    if (!(scale > 0)) scale = *std::max_element(mag.begin(), mag.end());
  }
  std::vector<uint8_t> out(3 * n);
  for (size_t i = 0; i < n; ++i) {
    const double t = scale > 0 ? std::clamp(mag[i] / scale, 0.0f, 1.0f) : 0.0;
    double c[3], a = 0;
    if (heat.signed_values) {
      // Diverging: red where the heat raises S, blue where it lowers it, more opaque where stronger.
      const bool pos = heat.values[i] >= 0;
      c[0] = pos ? 0.85 : 0.1, c[1] = 0.1, c[2] = pos ? 0.1 : 0.85;
      a = 0.8 * t;
    } else {
      // Jet: blue → cyan → yellow → red, more opaque where hotter (0.15 + 0.6·t), so the cold
      // background keeps the picture readable instead of a uniform blue wash.
      c[0] = std::clamp(1.5 - std::abs(4 * t - 3), 0.0, 1.0);
      c[1] = std::clamp(1.5 - std::abs(4 * t - 2), 0.0, 1.0);
      c[2] = std::clamp(1.5 - std::abs(4 * t - 1), 0.0, 1.0);
      a = 0.15 + 0.6 * t;
    }
    for (int k = 0; k < 3; ++k) {
      const double base = rgb.empty() ? 128.0 : rgb[3 * i + static_cast<size_t>(k)];
      out[3 * i + static_cast<size_t>(k)] = static_cast<uint8_t>(std::lround((1 - a) * base + a * 255.0 * c[k]));
    }
  }
  return out;
}

void write_png_rgb(const std::string& path, int64_t w, int64_t h, const std::vector<uint8_t>& rgb) {
  if (w <= 0 || h <= 0 || w > 1 << 24 || h > 1 << 24 || rgb.size() != static_cast<size_t>(w * h * 3) ||
      !stbi_write_png(path.c_str(), static_cast<int>(w), static_cast<int>(h), 3, rgb.data(), static_cast<int>(w * 3)))
    throw Error(ErrorKind::Io, "cannot write PNG '" + path + "'");
}

}  // namespace netlens::explain
