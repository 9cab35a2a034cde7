#include "netlens/viz/colormap.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <glm/common.hpp>

namespace netlens::viz {

namespace {

glm::vec3 hex(uint32_t v) {
  return glm::vec3(float((v >> 16) & 255), float((v >> 8) & 255), float(v & 255)) / 255.0f;
}

// Magma-like anchors (perceptually ordered dark purple → orange → pale yellow). The darkest part
// is dropped (starts at ~6%) so low values stay visible against the dark background.
const std::array<glm::vec3, 11>& magma_anchors() {
  static const std::array<glm::vec3, 11> a = {
      hex(0x000004), hex(0x140e36), hex(0x3b0f70), hex(0x641a80), hex(0x8c2981), hex(0xb73779),
      hex(0xde4968), hex(0xf7705c), hex(0xfe9f6d), hex(0xfecf92), hex(0xfcfdbf)};
  return a;
}

// Dark-centred diverging map (negative: blue → cyan, positive: orange → yellow): on a dark
// background a dark centre makes "near zero" recede and strong responses of either sign stand out.
const std::array<glm::vec3, 7>& diverging_anchors() {
  static const std::array<glm::vec3, 7> a = {hex(0xbfe9ff), hex(0x4aa8e8), hex(0x215a9c), hex(0x1c1d26),
                                             hex(0x9c3a1f), hex(0xe8772e), hex(0xffe49a)};
  return a;
}

template <size_t N>
glm::vec3 piecewise(const std::array<glm::vec3, N>& a, float t) {
  t = std::clamp(t, 0.0f, 1.0f) * float(N - 1);
  size_t i = std::min(static_cast<size_t>(t), N - 2);
  return glm::mix(a[i], a[i + 1], t - float(i));
}

}  // namespace

glm::vec3 sample_colormap(ColorMapKind kind, float t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0f, 0.0f, 1.0f);
  if (kind == ColorMapKind::Sequential) return piecewise(magma_anchors(), 0.06f + 0.94f * t);
  return piecewise(diverging_anchors(), t);
}

glm::vec3 zero_color(ColorMapKind kind) {
  // Slate blue-grey: not on either map, and lighter than both maps' dark ends.
  return kind == ColorMapKind::Sequential ? hex(0x2f3a4f) : hex(0x44505f);
}
glm::vec3 non_finite_color() { return hex(0x39ff14); }  // acid green: on neither map
glm::vec3 empty_color() { return hex(0x101218); }

std::array<glm::vec3, 256> code_lut(ColorMapKind kind) {
  std::array<glm::vec3, 256> lut{};
  for (int i = 0; i <= kCodeMaxColor; ++i) lut[i] = sample_colormap(kind, float(i) / float(kCodeMaxColor));
  lut[kCodeZero] = zero_color(kind);
  lut[kCodeNonFinite] = non_finite_color();
  lut[kCodeEmpty] = empty_color();
  lut[255] = empty_color();
  return lut;
}

glm::vec3 decode_color(ColorMapKind kind, uint8_t code) {
  if (code <= kCodeMaxColor) return sample_colormap(kind, float(code) / float(kCodeMaxColor));
  if (code == kCodeZero) return zero_color(kind);
  if (code == kCodeNonFinite) return non_finite_color();
  return empty_color();
}

float ColorScale::normalize(float v) const {
  float span = hi - lo;
  if (!(span > 0.0f)) return kind == ColorMapKind::Diverging ? 0.5f : (v > lo ? 1.0f : 0.0f);
  return std::clamp((v - lo) / span, 0.0f, 1.0f);
}

ScaleSample scale_sample(std::span<const float> values, size_t max_samples) {
  ScaleSample out;
  std::vector<float>& s = out.values;
  size_t stride = std::max<size_t>(1, values.size() / std::max<size_t>(1, max_samples));
  s.reserve(values.size() / stride + 1);
  bool negative = false;
  for (size_t i = 0; i < values.size(); i += stride) {
    float v = values[i];
    if (!std::isfinite(v)) continue;
    negative |= v < 0.0f;
    s.push_back(v);
  }
  // The sign test must see every value, not just the samples: one negative decides the map.
  if (!negative && stride > 1)
    for (float v : values) if (v < 0.0f) { negative = true; break; }
  out.negative = negative;
  return out;
}

ColorScale scale_from_sample(ScaleSample&& sample, float lo_pct, float hi_pct) {
  std::vector<float>& s = sample.values;
  ColorScale out;
  if (s.empty()) return out;
  // The k-th smallest of s (nth_element over [first, end): callers pass a `first` below which every
  // element is known to be ≤ the answer, so a second percentile does not re-partition the whole
  // sample; the value found is the same, only the work shrinks).
  auto kth = [&](float p) {
    size_t k = static_cast<size_t>(std::lround(double(p) / 100.0 * double(s.size() - 1)));
    return std::min(k, s.size() - 1);
  };
  if (sample.negative) {
    for (float& v : s) v = std::fabs(v);
    const size_t k = kth(hi_pct);
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
    float m = s[k];
    if (!(m > 0.0f)) m = *std::max_element(s.begin(), s.end());
    if (!(m > 0.0f)) m = 1.0f;
    out = {ColorMapKind::Diverging, -m, m};
  } else {
    // Zeros (dead ReLUs) get their own colour, so the range is taken over the positive values.
    std::erase_if(s, [](float v) { return v == 0.0f; });
    if (s.empty()) return {ColorMapKind::Sequential, 0.0f, 1.0f};
    const size_t klo = kth(lo_pct), khi = kth(hi_pct);
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(klo), s.end());
    float lo = s[klo];
    // After the first partition s[klo + 1..] holds every element ranked above klo: the khi-th
    // smallest is found there when khi > klo (else it is at or below klo: search the front part).
    if (khi > klo)
      std::nth_element(s.begin() + static_cast<std::ptrdiff_t>(klo + 1), s.begin() + static_cast<std::ptrdiff_t>(khi), s.end());
    else if (khi < klo)
      std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(khi), s.begin() + static_cast<std::ptrdiff_t>(klo));
    float hi = s[khi];
    if (!(hi > lo)) { lo = 0.0f; hi = std::max(hi, 1e-30f); }
    // Starting sequential maps at 0 keeps "how strongly does this fire" readable across layers,
    // unless the values live far from 0 (e.g. an input image normalised to [0.4, 0.9]).
    if (lo < 0.25f * hi) lo = 0.0f;
    out = {ColorMapKind::Sequential, lo, hi};
  }
  return out;
}

ColorScale robust_scale(std::span<const float> values, float lo_pct, float hi_pct, size_t max_samples) {
  return scale_from_sample(scale_sample(values, max_samples), lo_pct, hi_pct);
}

uint8_t encode(float v, const ColorScale& s) {
  if (!std::isfinite(v)) return kCodeNonFinite;
  if (v == 0.0f) return kCodeZero;
  const float x = s.normalize(v) * float(kCodeMaxColor);
  // lround(x) for x in [0, 251] without the libm call (a fifth of build_scene's time): double(x) +
  // 0.5 is exact for x ≥ 2^-30 and rounds to 0.5 below, so truncating it rounds half away from zero
  // as lround does. NaN (only from an infinite span) → 0, as lround's result clamped was.
  if (!(x >= 0.0f)) return 0;
  const int c = static_cast<int>(double(x) + 0.5);
  return static_cast<uint8_t>(std::min(c, int(kCodeMaxColor)));
}

std::string format_value(float v) {
  char buf[32];
  float a = std::fabs(v);
  if (v == 0.0f) return "0";
  if (a >= 1e4f || a < 1e-3f) std::snprintf(buf, sizeof buf, "%.1e", double(v));
  else std::snprintf(buf, sizeof buf, "%.3g", double(v));
  return buf;
}

LegendData legend_data(const ColorScale& s, int stops, int ticks) {
  LegendData d{s.kind, {}, {}, zero_color(s.kind), non_finite_color()};
  stops = std::max(stops, 2);
  for (int i = 0; i < stops; ++i) d.stops.push_back(sample_colormap(s.kind, float(i) / float(stops - 1)));
  ticks = std::max(ticks, 2);
  for (int i = 0; i < ticks; ++i) {
    float t = float(i) / float(ticks - 1);
    d.ticks.emplace_back(t, format_value(s.lo + t * (s.hi - s.lo)));
  }
  return d;
}

}  // namespace netlens::viz
