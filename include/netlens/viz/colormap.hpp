// Activation → colour. Contract: a ColorScale maps a tensor's values into [0,1] using robust
// percentiles (so one outlier does not wash out a layer); encode() turns a value into a one-byte
// code that the renderer's shaders decode with the same LUTs (colour_lut()). Exact zeros and
// non-finite values get their own codes and colours, distinct from every colour-map entry, so dead
// ReLUs and NaN/Inf are visible at a glance.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <glm/vec3.hpp>

namespace netlens::viz {

// Byte codes shared with shaders/shared/types.h (kept equal by static_assert there).
inline constexpr uint8_t kCodeMaxColor = 251;   // 0..251: colour-map position t = code / 251
inline constexpr uint8_t kCodeZero = 252;       // exactly 0
inline constexpr uint8_t kCodeNonFinite = 253;  // NaN or ±Inf
inline constexpr uint8_t kCodeEmpty = 254;      // a grid cell past the end of a vector (no neuron)

enum class ColorMapKind : uint8_t { Sequential, Diverging };

// Colours are display (sRGB-encoded) values in [0,1]; the renderer writes them to a UNORM target.
glm::vec3 sample_colormap(ColorMapKind kind, float t);  // t clamped to [0,1]
glm::vec3 zero_color(ColorMapKind kind);
glm::vec3 non_finite_color();
glm::vec3 empty_color();
// The 256-entry table indexed by code (colour codes, then zero, non-finite, empty).
std::array<glm::vec3, 256> code_lut(ColorMapKind kind);
glm::vec3 decode_color(ColorMapKind kind, uint8_t code);

struct ColorScale {
  ColorMapKind kind = ColorMapKind::Sequential;
  float lo = 0.0f, hi = 1.0f;  // value range mapped to t = 0..1 (diverging: lo = -hi)
  float normalize(float v) const;  // clamped to [0,1]
};

// Sequential when no finite value is below zero (ReLU outputs, probabilities), else diverging with
// a symmetric range. The range is the [lo_pct, hi_pct] percentile of the finite values (of |v| for
// diverging), computed on at most `max_samples` evenly strided samples (deterministic).
ColorScale robust_scale(std::span<const float> values, float lo_pct = 1.0f, float hi_pct = 99.0f,
                        size_t max_samples = 1u << 20);

// robust_scale in two steps, so that several tensors can share one scale (the global scale):
// the evenly strided finite samples it takes (stride max(1, size / max_samples)) and whether the
// tensor has a value below zero; then the scale of such a sample
// (consumed: reordered and filtered in place). robust_scale(v, lo, hi, m) ==
// scale_from_sample(scale_sample(v, m), lo, hi) exactly.
struct ScaleSample {
  std::vector<float> values;  // finite samples, in index order
  // A finite sample below zero; when strided, any value below zero (-Inf included: today's rule).
  bool negative = false;
};
ScaleSample scale_sample(std::span<const float> values, size_t max_samples = 1u << 20);
ColorScale scale_from_sample(ScaleSample&& sample, float lo_pct = 1.0f, float hi_pct = 99.0f);

uint8_t encode(float v, const ColorScale& s);

// What a legend shows: the gradient stops and labelled ticks, plus the special swatches.
struct LegendData {
  ColorMapKind kind;
  std::vector<glm::vec3> stops;  // evenly spaced along the bar
  std::vector<std::pair<float, std::string>> ticks;  // position in [0,1], text
  glm::vec3 zero, non_finite;
};
LegendData legend_data(const ColorScale& s, int stops = 32, int ticks = 3);
std::string format_value(float v);  // short: "0.013", "1.2e+04", "-3.5"

}  // namespace netlens::viz
