#include "netlens/inspect/stats.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "netlens/inspect/activation_fn.hpp"
#include "netlens/runtime/shapes_quant.hpp"

namespace netlens::inspect {
namespace {

constexpr size_t kMinBins = 8, kMaxBins = 256;

// The values as float32 (a copy: the callers reorder it for percentiles).
std::vector<float> as_floats(const Tensor& t) {
  if (t.dtype() == DType::Float32) return {t.data_as<float>(), t.data_as<float>() + t.numel()};
  return t.to_f32_vector();
}

// Channels of a tensor of shape [N, C, rest...] (axis 1): runs of `inner` elements, channel r % C.
struct ChannelMap {
  int64_t channels = 0, inner = 1;
  explicit ChannelMap(const Shape& s) {
    if (s.size() < 2) return;
    channels = s[1];
    for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  }
};

}  // namespace

size_t Histogram::bin_of(double v) const {
  assert(!counts.empty());
  if (hi <= lo) return 0;
  const double f = (v - lo) / (hi - lo) * static_cast<double>(counts.size());
  if (!(f > 0)) return 0;
  return std::min(counts.size() - 1, static_cast<size_t>(f));
}

Histogram make_histogram(std::span<const float> values, double min, double max, double q25, double q75) {
  Histogram h;
  if (values.empty()) {
    h.rule = "empty";
    return h;
  }
  h.lo = min;
  h.hi = max;
  if (!(max > min)) {
    h.rule = "constant";
    h.counts.assign(1, static_cast<int64_t>(values.size()));
    return h;
  }
  const double n = static_cast<double>(values.size());
  double bins = 0;
  const double iqr = q75 - q25;
  if (iqr > 0) {
    h.rule = "freedman-diaconis";
    bins = std::ceil((max - min) / (2.0 * iqr / std::cbrt(n)));
  } else {
    h.rule = "sturges";
    bins = std::ceil(std::log2(n)) + 1;
  }
  const size_t nb = static_cast<size_t>(std::clamp(bins, static_cast<double>(kMinBins), static_cast<double>(kMaxBins)));
  h.counts.assign(nb, 0);
  for (float v : values) h.counts[h.bin_of(v)]++;
  return h;
}

double percentile_inplace(std::vector<float>& v, double p) {
  assert(!v.empty() && p >= 0 && p <= 100);
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t k = static_cast<size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(k);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  const double a = v[k];
  if (frac == 0 || k + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + static_cast<long>(k) + 1, v.end());
  return a + frac * (b - a);
}

Histogram make_histogram(std::span<const float> values) {
  if (values.empty()) return make_histogram(values, 0, 0, 0, 0);
  std::vector<float> copy(values.begin(), values.end());
  const auto [mn, mx] = std::minmax_element(copy.begin(), copy.end());
  const double lo = *mn, hi = *mx;
  const double q75 = percentile_inplace(copy, 75);
  const double q25 = percentile_inplace(copy, 25);
  return make_histogram(values, lo, hi, q25, q75);
}

TensorStats compute_stats(const Tensor& t, const StatsOptions& opt) {
  TensorStats s;
  s.dtype = t.dtype();
  s.shape = t.shape();
  s.count = t.numel();
  std::vector<float> v = as_floats(t);
  const ChannelMap cm(t.shape());
  s.channels = cm.channels;
  const size_t nc = static_cast<size_t>(cm.channels);
  std::vector<double> csum(nc, 0), cmax(nc, -std::numeric_limits<double>::infinity());
  std::vector<int64_t> ccount(nc, 0);

  // Pass 1: non-finite counts, min/max, sums (also per channel), zeros; compacts the finite values.
  // Walks the tensor in runs of one channel (`inner` elements) so that no element needs a division.
  double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn;
  int64_t zeros = 0;
  size_t w = 0;
  const size_t run = nc ? static_cast<size_t>(std::max<int64_t>(1, cm.inner)) : std::max<size_t>(1, v.size());
  for (size_t begin = 0, r = 0; begin < v.size(); begin += run, ++r) {
    const size_t end = std::min(v.size(), begin + run);
    double rsum = 0, rmax = -std::numeric_limits<double>::infinity();
    int64_t rcount = 0;
    for (size_t i = begin; i < end; ++i) {
      const float f = v[i];
      if (std::isnan(f)) {
        ++s.nan;
        continue;
      }
      if (std::isinf(f)) {
        ++(f > 0 ? s.pos_inf : s.neg_inf);
        continue;
      }
      rsum += f;
      mn = std::min<double>(mn, f);
      rmax = std::max<double>(rmax, f);
      zeros += f == 0;
      ++rcount;
      v[w++] = f;
    }
    sum += rsum;
    mx = std::max(mx, rmax);
    if (nc) {
      const size_t c = r % nc;
      csum[c] += rsum;
      cmax[c] = std::max(cmax[c], rmax);
      ccount[c] += rcount;
    }
  }
  v.resize(w);
  s.finite = static_cast<int64_t>(w);
  if (w == 0) {
    s.min = s.max = s.mean = s.std = std::nan("");
    s.histogram = make_histogram({}, 0, 0, 0, 0);
  } else {
    s.min = mn;
    s.max = mx;
    s.mean = sum / static_cast<double>(w);
    double ss = 0;  // second pass: squared deviations from the mean (no cancellation)
    for (float f : v) ss += (f - s.mean) * (f - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(w));
    s.zero_fraction = static_cast<double>(zeros) / static_cast<double>(w);
    // Ascending percentiles: after nth_element at k every later value is >= v[k], so the next
    // percentile only partitions [k, end). Exact, O(n) each, cheaper as the range shrinks.
    double q25 = 0, q75 = 0;
    size_t start = 0;
    for (double p : kPercentiles) {
      const double pos = p / 100.0 * static_cast<double>(w - 1);
      const size_t k = static_cast<size_t>(std::floor(pos));
      std::nth_element(v.begin() + static_cast<long>(start), v.begin() + static_cast<long>(k), v.end());
      double val = v[k];
      if (pos > static_cast<double>(k) && k + 1 < w)
        val += (pos - static_cast<double>(k)) * (*std::min_element(v.begin() + static_cast<long>(k) + 1, v.end()) - val);
      s.percentiles.emplace_back(p, val);
      if (p == 25) q25 = val;
      if (p == 75) q75 = val;
      start = k;
    }
    s.histogram = make_histogram(v, mn, mx, q25, q75);
  }

  if (nc) {
    std::vector<ChannelStat> ch(nc);
    for (size_t c = 0; c < nc; ++c) {
      ch[c].channel = static_cast<int64_t>(c);
      ch[c].mean = ccount[c] ? csum[c] / static_cast<double>(ccount[c]) : std::nan("");
      ch[c].max = ccount[c] ? cmax[c] : std::nan("");
    }
    const size_t k = std::min(nc, static_cast<size_t>(std::max<int64_t>(0, opt.top_k)));
    // NaN (a channel without finite values) ranks last; ties keep the lower channel first.
    auto rank = [&](double ChannelStat::*field) {
      std::vector<ChannelStat> r = ch;
      std::stable_sort(r.begin(), r.end(), [&](const ChannelStat& a, const ChannelStat& b) {
        const double x = a.*field, y = b.*field;
        if (std::isnan(y)) return !std::isnan(x);
        return x > y;
      });
      r.resize(k);
      return r;
    };
    s.top_by_mean = rank(&ChannelStat::mean);
    s.top_by_max = rank(&ChannelStat::max);
  }
  return s;
}

DeadChannels dead_channels(const Tensor& t) {
  DeadChannels d;
  const ChannelMap cm(t.shape());
  if (!cm.channels) return d;
  d.channels = cm.channels;
  std::vector<float> converted;
  const float* v = t.dtype() == DType::Float32 ? t.data_as<float>() : (converted = t.to_f32_vector()).data();
  std::vector<char> alive(static_cast<size_t>(cm.channels), 0);
  const int64_t runs = cm.inner > 0 ? t.numel() / cm.inner : 0;
  for (int64_t r = 0; r < runs; ++r) {
    char& a = alive[static_cast<size_t>(r % cm.channels)];
    if (a) continue;
    const float* p = v + r * cm.inner;
    for (int64_t i = 0; i < cm.inner && !a; ++i) a = p[i] != 0;  // NaN counts as alive
  }
  for (int64_t c = 0; c < cm.channels; ++c)
    if (!alive[static_cast<size_t>(c)]) d.indices.push_back(c);
  d.dead = static_cast<int64_t>(d.indices.size());
  d.fraction = static_cast<double>(d.dead) / static_cast<double>(d.channels);
  return d;
}

std::optional<Saturation> saturation(const Tensor& t, const std::string& kind) {
  Saturation s;
  std::function<int(float)> side;  // -1 low limit, +1 high limit, 0 neither
  if (kind == "Sigmoid") {
    s.rule = "y<0.01 or y>0.99";
    side = [](float y) { return y < 0.01f ? -1 : y > 0.99f ? 1 : 0; };
  } else if (kind == "Tanh") {
    s.rule = "|y|>0.99";
    side = [](float y) { return y < -0.99f ? -1 : y > 0.99f ? 1 : 0; };
  } else if (kind == "HardSigmoid") {
    s.rule = "y<=0 or y>=1";
    side = [](float y) { return y <= 0.0f ? -1 : y >= 1.0f ? 1 : 0; };
  } else {
    return std::nullopt;
  }
  const std::vector<float> v = as_floats(t);
  int64_t finite = 0;
  for (float y : v) {
    if (!std::isfinite(y)) continue;
    ++finite;
    const int k = side(y);
    s.low += k < 0;
    s.high += k > 0;
  }
  s.fraction = finite ? static_cast<double>(s.low + s.high) / static_cast<double>(finite) : 0;
  return s;
}

TensorStats tensor_stats(const ModelView& view, const std::string& tensor, const StatsOptions& opt) {
  const Tensor t = view.value(tensor);  // Error{Usage} naming it when unknown
  TensorStats s = compute_stats(t, opt);
  s.name = tensor;
  if (auto act = recognize_tensor(view, tensor)) {
    s.producer = act->name();
    if (act->outputs_exact_zeros()) s.dead = dead_channels(t);
    if (const std::string k = act->saturation_kind(); !k.empty()) s.saturation = saturation(t, k);
  }
  if (const std::optional<TensorQuantization> q = tensor_quantization(view.session(), tensor)) {
    const Tensor real = dequantized(t, *q);
    const TensorStats rs = compute_stats(real, opt);
    TensorStats::Quantization& o = s.quantization.emplace();
    o.scale = q->scale;
    o.zero_point = q->zero_point;
    o.axis = q->axis.per_axis ? q->axis.axis : -1;
    o.node = q->node;
    o.real_min = rs.min, o.real_max = rs.max, o.real_mean = rs.mean;
    for (int64_t i = 0; i < std::min<int64_t>(16, t.numel()); ++i) {
      o.integers.push_back(t.get_i64(i));
      o.reals.push_back(real.get_f64(i));
    }
  }
  return s;
}

nlohmann::json to_json(const Histogram& h) {
  return {{"rule", h.rule}, {"lo", h.lo}, {"hi", h.hi}, {"bin_width", h.bin_width()}, {"counts", h.counts}};
}

namespace {
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
nlohmann::json channels_json(const std::vector<ChannelStat>& cs) {
  nlohmann::json a = nlohmann::json::array();
  for (const ChannelStat& c : cs) a.push_back({{"channel", c.channel}, {"mean", num(c.mean)}, {"max", num(c.max)}});
  return a;
}
}  // namespace

nlohmann::json to_json(const TensorStats& s) {
  nlohmann::json j;
  j["name"] = s.name;
  j["dtype"] = std::string(dtype_name(s.dtype));
  j["shape"] = s.shape;
  j["count"] = s.count;
  j["finite"] = s.finite;
  j["non_finite"] = {{"nan", s.nan}, {"pos_inf", s.pos_inf}, {"neg_inf", s.neg_inf}, {"total", s.nan + s.pos_inf + s.neg_inf}};
  j["min"] = num(s.min);
  j["max"] = num(s.max);
  j["mean"] = num(s.mean);
  j["std"] = num(s.std);
  nlohmann::json pct = nlohmann::json::array();
  for (const auto& [p, v] : s.percentiles) pct.push_back({{"p", p}, {"value", v}});
  j["percentiles"] = pct;
  j["histogram"] = to_json(s.histogram);
  j["zero_fraction"] = s.zero_fraction;
  j["channels"] = s.channels;
  j["top_channels_by_mean"] = channels_json(s.top_by_mean);
  j["top_channels_by_max"] = channels_json(s.top_by_max);
  j["producer_activation"] = s.producer ? nlohmann::json(*s.producer) : nlohmann::json(nullptr);
  if (s.dead)
    j["dead_channels"] = {{"dead", s.dead->dead}, {"channels", s.dead->channels}, {"fraction", s.dead->fraction},
                          {"indices", s.dead->indices}};
  else
    j["dead_channels"] = nullptr;
  if (s.saturation)
    j["saturation"] = {{"rule", s.saturation->rule}, {"low", s.saturation->low}, {"high", s.saturation->high},
                       {"fraction", s.saturation->fraction}};
  else
    j["saturation"] = nullptr;
  if (s.quantization) {
    const TensorStats::Quantization& q = *s.quantization;
    j["quantization"] = {{"scale", q.scale}, {"zero_point", q.zero_point}, {"axis", q.axis == -1 ? nlohmann::json(nullptr) : nlohmann::json(q.axis)},
                         {"from", q.node}, {"real", {{"min", num(q.real_min)}, {"max", num(q.real_max)}, {"mean", num(q.real_mean)}}},
                         {"first_integers", q.integers}, {"first_reals", q.reals}};
  } else {
    j["quantization"] = nullptr;
  }
  return j;
}

}  // namespace netlens::inspect
