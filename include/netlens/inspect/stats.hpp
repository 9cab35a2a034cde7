// Statistics of one tensor (an activation, a graph input or a weight): the numbers behind the
// statistics panel and `netlens inspect --tensor`.
//
// Definitions (docs/inspect.md repeats them):
// - Values are read as float32 (float16/bfloat16/float64 and integer tensors are converted; integers
//   beyond 2^24 lose precision). NaN, +Inf and -Inf are counted and excluded from every other figure.
// - mean and std are accumulated in double, two passes; std is the population std (numpy's ddof=0).
// - Percentiles use linear interpolation between the order statistics, numpy's default ("linear"):
//   position p/100·(n−1) in the sorted finite values. Computed with nth_element on a copy (O(n)).
// - Histogram bins come from the data: Freedman–Diaconis width 2·IQR/n^(1/3) over [min, max];
//   Sturges (⌈log2 n⌉ + 1 bins) when the IQR is 0; the count is clamped to [8, 256]. Bins are
//   [lo + i·w, lo + (i+1)·w), the last one closed (numpy's convention). A constant tensor gets one bin.
// - Channels are axis 1 for rank ≥ 2 (NCHW, NC, NCL...), pooled over every batch item and position;
//   rank < 2 has no channels.
// - Dead channels (only for tensors whose producer outputs exact zeros over a whole region: Relu,
//   Clip with min 0, HardSwish and its decompositions): channels whose every value is exactly 0.
// - Saturation (only for bounded squashing functions): Sigmoid y < 0.01 or y > 0.99; Tanh |y| > 0.99;
//   HardSigmoid (op or decomposition) y ≤ 0 or y ≥ 1, i.e. exactly at its limits.
// Threads: pure functions of their arguments; safe to call concurrently on different tensors.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"
#include "netlens/core.hpp"

namespace netlens::inspect {

struct Histogram {
  double lo = 0, hi = 0;            // range covered: [lo, hi] (the data's finite min and max)
  std::vector<int64_t> counts;      // one per bin, equal widths
  std::string rule;                 // "freedman-diaconis", "sturges", "constant" or "empty"
  double bin_width() const { return counts.empty() ? 0 : (hi - lo) / static_cast<double>(counts.size()); }
  // Bin of a value inside [lo, hi] (the last bin includes hi).
  size_t bin_of(double v) const;
};

// Histogram of `values` (finite values only; the caller has removed NaN/Inf). `q25`/`q75` are the
// values' quartiles (they choose the bin width), computed by the caller when it has them.
Histogram make_histogram(std::span<const float> values, double min, double max, double q25, double q75);
// Convenience: computes min, max and quartiles itself (sorts a copy).
Histogram make_histogram(std::span<const float> values);

// Percentile p (0..100) of `values` with numpy's linear interpolation; reorders `values`.
double percentile_inplace(std::vector<float>& values, double p);

struct ChannelStat {
  int64_t channel = 0;
  double mean = 0, max = 0;  // over the channel's finite values (NaN when it has none)
};

struct DeadChannels {
  int64_t dead = 0, channels = 0;
  double fraction = 0;                // dead / channels
  std::vector<int64_t> indices;       // the dead channels, ascending (all of them)
};

struct Saturation {
  std::string rule;                   // "y<0.01 or y>0.99", "|y|>0.99", "y<=0 or y>=1"
  int64_t low = 0, high = 0;          // values at the lower / upper limit
  double fraction = 0;                // (low + high) / finite count
};

struct StatsOptions {
  int64_t top_k = 5;                  // channels listed per ranking
};

// Outside TensorStats because clang 14 (the fuzz build) cannot construct a nested struct with
// default member initializers through std::optional::emplace.
// An int8/uint8 tensor with a known scale and zero point (runtime tensor_quantization): the
// statistics of TensorStats are of its integers; these are the parameters and its real values.
struct QuantizationStats {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  int64_t axis = -1;                    // -1: one scale for the whole tensor
  std::string node;                     // where the parameters come from
  double real_min = 0, real_max = 0, real_mean = 0;
  std::vector<int64_t> integers;        // the first (up to 16) elements, row-major
  std::vector<double> reals;            // the same, dequantized
};

struct TensorStats {
  std::string name;
  DType dtype = DType::Undefined;
  Shape shape;
  int64_t count = 0;                  // elements
  int64_t finite = 0, nan = 0, pos_inf = 0, neg_inf = 0;
  double min = 0, max = 0, mean = 0, std = 0;            // finite values; NaN when none
  std::vector<std::pair<double, double>> percentiles;    // (p, value) for kPercentiles
  Histogram histogram;
  double zero_fraction = 0;           // exact zeros / finite count
  int64_t channels = 0;               // 0 when rank < 2
  std::vector<ChannelStat> top_by_mean, top_by_max;      // descending, at most top_k each
  std::optional<std::string> producer;                   // activation kind of the producer, if recognised
  std::optional<DeadChannels> dead;                      // when the producer outputs exact zeros
  std::optional<Saturation> saturation;                  // when the producer saturates
  using Quantization = QuantizationStats;
  std::optional<Quantization> quantization;
};

inline constexpr double kPercentiles[] = {0.1, 1, 5, 25, 50, 75, 95, 99, 99.9};

// Statistics of the values alone (no producer: dead/saturation stay empty).
TensorStats compute_stats(const Tensor& t, const StatsOptions& opt = {});
// Channels (axis 1) whose every value is exactly zero. Rank < 2: channels = 0.
DeadChannels dead_channels(const Tensor& t);
// Saturated share for an activation kind name ("Sigmoid", "Tanh", "HardSigmoid"); nullopt for
// other kinds.
std::optional<Saturation> saturation(const Tensor& t, const std::string& kind);

// Statistics of a tensor of a model that has run, with dead channels / saturation when its producer
// is a recognised nonlinearity (activation_fn.hpp). Error{Usage} when the tensor is unknown.
TensorStats tensor_stats(const ModelView& view, const std::string& tensor, const StatsOptions& opt = {});

nlohmann::json to_json(const Histogram& h);
nlohmann::json to_json(const TensorStats& s);

}  // namespace netlens::inspect
