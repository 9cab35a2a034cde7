// Image resampling for model inputs: exactly Pillow's Image.resize(size, Image.BILINEAR) on float
// ("F" mode) images, one channel at a time.
//
// Why Pillow's definition, written out here: the models people load were trained on images resized
// by PIL / torchvision (whose Resize calls PIL for PIL images), so an input tensor only means what
// the model expects when the resize matches Pillow's. Debian's stb_image_resize (used before) aborts
// on ordinary photos (assertion `total < 1.1f` in stbir__normalize_downsample_coefficients, e.g.
// 451x300 → 224x224), and libswscale works in fixed point with a bounded filter length, so neither
// reproduces Pillow; Pillow itself is a Python library, not a C API.
//
// The definition (Pillow's libImaging/Resample.c, precompute_coeffs + ImagingResampleInner):
//  - separable: a horizontal pass (when the width changes) into a float32 intermediate, then a
//    vertical pass (when the height changes); each pass accumulates in double and stores float32.
//  - per axis, scale = in/out, filterscale = max(1, scale) (antialiased when shrinking: the triangle
//    is stretched over `scale` source pixels), support = filterscale; output pixel i's centre in
//    source coordinates is (i + 0.5)·scale; its window is [int(centre − support + 0.5),
//    int(centre + support + 0.5)) clipped to the image; weight of source pixel x is
//    triangle((x − centre + 0.5) / filterscale), triangle(t) = max(0, 1 − |t|); the window's weights
//    are divided by their sum (left unnormalised only if that sum is 0, which a window holding the
//    pixel nearest the centre cannot have).
//  - clipping the window at the borders and renormalising is Pillow's edge handling.
// Weights are stored per output pixel with the window's own length, so memory is O(in + out) even
// for enormous ratios (a 16M-pixel row to 1 pixel), where a fixed-width table would not be.
#include "resample.hpp"

#include <algorithm>

#include "netlens/core.hpp"

namespace netlens::io_detail {

namespace {

// One axis's windows and normalised weights.
struct Axis {
  std::vector<int> first;      // first source index of output i's window
  std::vector<int> count;      // window length (>= 1 for every valid size pair)
  std::vector<size_t> offset;  // where output i's weights start in `weights`
  std::vector<double> weights;
};

double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

Axis precompute(int in_size, int out_size) {
  Axis a;
  const size_t n_out = static_cast<size_t>(out_size);
  a.first.resize(n_out);
  a.count.resize(n_out);
  a.offset.resize(n_out);
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;  // the triangle's own support is 1
  const double ss = 1.0 / filterscale;
  // Each window spans at most 2·support + 2 pixels, never more than the whole axis.
  a.weights.reserve(std::min<size_t>(n_out * (static_cast<size_t>(2 * support) + 2),
                                     n_out * static_cast<size_t>(in_size)));
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    // The int conversions truncate toward zero, as Pillow's (int) casts do; |values| < 2^26 here.
    int lo = static_cast<int>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = std::max(hi - lo, 0);
    const size_t off = a.weights.size();
    double sum = 0.0;
    for (int x = 0; x < n; ++x) {
      const double w = triangle((x + lo - center + 0.5) * ss);
      a.weights.push_back(w);
      sum += w;
    }
    if (sum != 0.0)
      for (int x = 0; x < n; ++x) a.weights[off + static_cast<size_t>(x)] /= sum;
    a.first[static_cast<size_t>(i)] = lo;
    a.count[static_cast<size_t>(i)] = n;
    a.offset[static_cast<size_t>(i)] = off;
  }
  return a;
}

// Horizontal pass over source rows [row0, row1): `dst` gets (row1 − row0) rows of out_w pixels.
// kC: the channel count when known at compile time (1, 3: unrolled), 0 = `channels` at run time.
template <int kC, class In>
void horizontal_n(const In* src, int w, int channels, int row0, int row1, const Axis& ax, float* dst) {
  const size_t C = kC ? static_cast<size_t>(kC) : static_cast<size_t>(channels);
  const size_t out_w = ax.first.size();
  for (int y = row0; y < row1; ++y) {
    const In* s = src + static_cast<size_t>(y) * static_cast<size_t>(w) * C;
    float* d = dst + static_cast<size_t>(y - row0) * out_w * C;
    for (size_t i = 0; i < out_w; ++i) {
      const double* k = ax.weights.data() + ax.offset[i];
      const In* p = s + static_cast<size_t>(ax.first[i]) * C;
      const size_t n = static_cast<size_t>(ax.count[i]);
      // Pillow: per channel a double accumulator, float pixel · double weight, in window order. All
      // channels in one sweep over the window (each channel's sum keeps that order).
      double acc[4] = {0.0, 0.0, 0.0, 0.0};
      for (size_t x = 0; x < n; ++x)
        for (size_t c = 0; c < C; ++c) acc[c] += static_cast<double>(static_cast<float>(p[x * C + c])) * k[x];
      for (size_t c = 0; c < C; ++c) d[i * C + c] = static_cast<float>(acc[c]);
    }
  }
}

template <class In>
void horizontal(const In* src, int w, int channels, int row0, int row1, const Axis& ax, float* dst) {
  if (channels == 3) horizontal_n<3>(src, w, channels, row0, row1, ax, dst);
  else if (channels == 1) horizontal_n<1>(src, w, channels, row0, row1, ax, dst);
  else horizontal_n<0>(src, w, channels, row0, row1, ax, dst);
}

// Vertical pass: `src` holds rows starting at source row `row0`, `row_values` values each; `dst`
// gets one row per output row. Accumulates a whole row at a time (cache-friendly), each value still
// summed over the window in order from 0.0, exactly as Pillow's per-pixel loop does.
template <class In>
void vertical(const In* src, size_t row_values, int row0, const Axis& ay, float* dst) {
  std::vector<double> acc(row_values);
  for (size_t o = 0; o < ay.first.size(); ++o) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const double* k = ay.weights.data() + ay.offset[o];
    for (int y = 0; y < ay.count[o]; ++y) {
      const In* r = src + static_cast<size_t>(ay.first[o] + y - row0) * row_values;
      const double wy = k[y];
      for (size_t j = 0; j < row_values; ++j) acc[j] += static_cast<double>(static_cast<float>(r[j])) * wy;
    }
    float* d = dst + o * row_values;
    for (size_t j = 0; j < row_values; ++j) d[j] = static_cast<float>(acc[j]);
  }
}

}  // namespace

std::vector<float> resize_bilinear(const uint8_t* src, int w, int h, int channels, int out_w, int out_h,
                                   const std::string& what) {
  const std::string sizes = std::to_string(w) + "x" + std::to_string(h) + " to " + std::to_string(out_w) + "x" +
                            std::to_string(out_h);
  auto side_ok = [](int s) { return s >= 1 && s <= kMaxResampleSide; };
  if (!side_ok(w) || !side_ok(h) || !side_ok(out_w) || !side_ok(out_h))
    throw Error(ErrorKind::Input, what + ": cannot resize " + sizes + ": widths and heights must be 1.." +
                                      std::to_string(kMaxResampleSide));
  if (channels < 1 || channels > 4)
    throw Error(ErrorKind::Internal, what + ": cannot resize " + std::to_string(channels) + "-channel pixels");
  const int64_t C = channels;
  const bool need_h = out_w != w, need_v = out_h != h;
  // Sides are below 2^24, so these products cannot overflow int64.
  const int64_t out_values = int64_t{out_w} * out_h * C;
  if (out_values > kMaxResampleValues)
    throw Error(ErrorKind::Input, what + ": cannot resize " + sizes + ": the result would hold over 2^30 values");

  // Both passes: the horizontal one only over the rows some vertical window reads (windows move
  // down monotonically, so those are [first of the first, end of the last)). Checked before any
  // allocation.
  Axis ay;
  int row0 = 0, row1 = h;
  if (need_v) {
    ay = precompute(h, out_h);
    row0 = ay.first.front();
    row1 = ay.first.back() + ay.count.back();
  }
  if (need_h && need_v && int64_t{out_w} * (row1 - row0) * C > kMaxResampleValues)
    throw Error(ErrorKind::Input, what + ": cannot resize " + sizes + ": the intermediate would hold over 2^30 values");

  std::vector<float> out(static_cast<size_t>(out_values));
  if (!need_h && !need_v) {
    std::transform(src, src + out_values, out.begin(), [](uint8_t v) { return static_cast<float>(v); });
    return out;
  }
  if (!need_v) {
    horizontal(src, w, channels, 0, h, precompute(w, out_w), out.data());
    return out;
  }
  if (!need_h) {
    vertical(src, static_cast<size_t>(int64_t{w} * C), 0, ay, out.data());
    return out;
  }
  const int64_t tmp_values = int64_t{out_w} * (row1 - row0) * C;
  std::vector<float> tmp(static_cast<size_t>(tmp_values));
  horizontal(src, w, channels, row0, row1, precompute(w, out_w), tmp.data());
  vertical(tmp.data(), static_cast<size_t>(int64_t{out_w} * C), row0, ay, out.data());
  return out;
}

}  // namespace netlens::io_detail
