#include "netlens/inspect/predictions.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace netlens::inspect {

namespace {

// A row as probabilities: itself when it already is a distribution, else its softmax.
bool is_distribution(const float* p, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!(p[i] >= 0)) return false;
    s += p[i];
  }
  return std::abs(s - 1.0) <= 1e-3;
}

std::vector<double> softmax(const float* p, int64_t n) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(p[i]));
  std::vector<double> e(static_cast<size_t>(n));
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += e[i] = std::exp(double(p[i]) - mx);
  for (auto& x : e) x /= s;
  return e;
}

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::Float32 ? t : t.cast(DType::Float32); }

}  // namespace

std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::Io, "cannot read label file '" + path + "'");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

bool looks_like_ctc(const Shape& s, size_t lines) {
  return s.size() == 3 && lines > 0 && (s[2] == int64_t(lines) + 1 || s[2] == int64_t(lines) + 2);
}

Classification classify(const Tensor& out, const std::string& name, const std::vector<std::string>& labels, size_t k) {
  Classification c;
  c.tensor = name;
  const Tensor t = as_f32(out);
  const Shape& s = t.shape();
  if (s.empty() || t.numel() == 0) throw Error(ErrorKind::Usage, "predictions: '" + name + "' is empty or a scalar");
  // Batch = dim 0 when rank ≥ 2; classes = the rest, which must be one non-trivial dim.
  const int64_t batch = s.size() >= 2 ? s[0] : 1;
  const int64_t C = t.numel() / batch;
  int64_t big = 0;
  for (size_t d = s.size() >= 2 ? 1 : 0; d < s.size(); ++d) big += s[d] > 1;
  if (big > 1)
    throw Error(ErrorKind::Usage, "predictions: '" + name + "' (" + shape_str(s) + ") is not a classifier output [N, C]");
  const float* p = t.data_as<float>();
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = p + b * C;
    std::vector<double> prob;
    if (is_distribution(row, C)) {
      prob.assign(row, row + C);
    } else {
      prob = softmax(row, C);
      c.softmax_applied = true;
    }
    std::vector<int64_t> idx(static_cast<size_t>(C));
    for (int64_t i = 0; i < C; ++i) idx[i] = i;
    const size_t kk = std::min<size_t>(k, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(),
                      [&](int64_t x, int64_t y) { return prob[x] > prob[y] || (prob[x] == prob[y] && x < y); });
    std::vector<Ranked> top;
    for (size_t i = 0; i < kk; ++i)
      top.push_back({idx[i], prob[idx[i]], idx[i] < int64_t(labels.size()) ? labels[idx[i]] : std::string()});
    c.top.push_back(std::move(top));
  }
  return c;
}

CtcDecoding ctc_decode(const Tensor& out, const std::string& name, const std::vector<std::string>& dict) {
  CtcDecoding d;
  d.tensor = name;
  const Tensor t = as_f32(out);
  const Shape& s = t.shape();
  if (s.size() != 3) throw Error(ErrorKind::Usage, "CTC decoding: '" + name + "' is " + shape_str(s) + ", expected [N, T, C]");
  const int64_t N = s[0], T = s[1], C = s[2];
  d.steps = T;
  d.classes = C;
  if (C == int64_t(dict.size()) + 2) d.space_class = true;
  else if (C != int64_t(dict.size()) + 1)
    throw Error(ErrorKind::Usage, "CTC decoding: '" + name + "' has " + std::to_string(C) + " classes but the dictionary has " +
                                      std::to_string(dict.size()) + " lines (expected lines + 1, or + 2 with a space class)");
  auto char_of = [&](int64_t cls) -> std::string {
    if (cls >= 1 && cls <= int64_t(dict.size())) return dict[cls - 1];
    if (d.space_class && cls == C - 1) return " ";
    return "";
  };
  const float* p = t.data_as<float>();
  for (int64_t n = 0; n < N; ++n) {
    std::vector<CtcChar> chars;
    int64_t prev = -1;
    for (int64_t step = 0; step < T; ++step) {
      const float* row = p + (n * T + step) * C;
      std::vector<double> prob;
      if (is_distribution(row, C)) {
        prob.assign(row, row + C);
      } else {
        prob = softmax(row, C);
        d.softmax_applied = true;
      }
      const int64_t best = std::max_element(prob.begin(), prob.end()) - prob.begin();
      if (best != 0 && best == prev) {  // repeat: same character, one more step
        CtcChar& c = chars.back();
        c.confidence = (c.confidence * double(c.steps) + prob[best]) / double(c.steps + 1);
        ++c.steps;
      } else if (best != 0) {
        chars.push_back({best, step, 1, char_of(best), prob[best]});
      }
      prev = best;
    }
    std::string text;
    double conf = 0;
    for (const auto& c : chars) {
      text += c.text;
      conf += c.confidence;
    }
    d.text.push_back(text);
    d.confidence.push_back(chars.empty() ? 0.0 : conf / double(chars.size()));
    d.chars.push_back(std::move(chars));
  }
  return d;
}

Predictions predictions(const ModelView& v, const std::vector<std::string>& labels, size_t k) {
  Predictions p;
  for (const ValueInfo& o : v.graph().outputs) {
    if (!v.has(o.name) || !is_float(v.info(o.name).dtype)) continue;
    const Tensor t = v.value(o.name);
    if (looks_like_ctc(t.shape(), labels.size())) {
      p.ctc.push_back(ctc_decode(t, o.name, labels));
      continue;
    }
    try {
      p.classifications.push_back(classify(t, o.name, labels, k));
    } catch (const Error& e) {
      // Not a classifier output (a feature map, boxes...): say why, nothing to predict from it.
      p.skipped.emplace_back(o.name, e.what());
    }
  }
  return p;
}

nlohmann::json to_json(const Classification& c) {
  nlohmann::json top = nlohmann::json::array();
  for (const auto& row : c.top) {
    nlohmann::json r = nlohmann::json::array();
    for (const auto& x : row) r.push_back({{"index", x.index}, {"score", x.score}, {"label", x.label}});
    top.push_back(std::move(r));
  }
  return {{"tensor", c.tensor}, {"kind", "classifier"}, {"softmax_applied", c.softmax_applied}, {"top", std::move(top)}};
}

nlohmann::json to_json(const CtcDecoding& d) {
  nlohmann::json items = nlohmann::json::array();
  for (size_t n = 0; n < d.text.size(); ++n) {
    nlohmann::json chars = nlohmann::json::array();
    for (const auto& c : d.chars[n])
      chars.push_back({{"char", c.text}, {"class", c.cls}, {"first_step", c.first_step}, {"steps", c.steps},
                       {"confidence", c.confidence}});
    items.push_back({{"text", d.text[n]}, {"confidence", d.confidence[n]}, {"chars", std::move(chars)}});
  }
  return {{"tensor", d.tensor},       {"kind", "ctc"},
          {"steps", d.steps},         {"classes", d.classes},
          {"space_class", d.space_class}, {"softmax_applied", d.softmax_applied},
          {"items", std::move(items)}};
}

nlohmann::json to_json(const Predictions& p) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : p.ctc) a.push_back(to_json(c));
  for (const auto& c : p.classifications) a.push_back(to_json(c));
  for (const auto& [t, why] : p.skipped) a.push_back({{"tensor", t}, {"kind", "none"}, {"reason", why}});
  return a;
}

}  // namespace netlens::inspect
