// Targets: fixing a parsed target against a run (resolve_target), and S / dS/dt of the fixed target.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "netlens/explain.hpp"

namespace netlens::explain {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// S and dS/dt.

namespace {

struct Row {
  int64_t base, stride, len;
};
Row row_of(const Target& t, int64_t j) {
  const int64_t a = (j / t.axis_stride) % t.axis_len;
  return {j - a * t.axis_stride, t.axis_stride, t.axis_len};
}

// max and log Σ exp over a row.
double log_sum_exp(const std::vector<float>& v, const Row& r) {
  double m = -INFINITY;
  for (int64_t k = 0; k < r.len; ++k) m = std::max(m, static_cast<double>(v[static_cast<size_t>(r.base + k * r.stride)]));
  double s = 0;
  for (int64_t k = 0; k < r.len; ++k) s += std::exp(v[static_cast<size_t>(r.base + k * r.stride)] - m);
  return m + std::log(s);
}

void check_shape(const Target& t, const Tensor& v) {
  if (v.shape() != t.shape)
    throw Error(ErrorKind::Internal, "target on '" + t.tensor + "' of shape " + shape_str(t.shape) + " given a tensor of shape " +
                                         shape_str(v.shape()));
}

}  // namespace

double Target::value(const Tensor& tv) const {
  check_shape(*this, tv);
  const std::vector<float> v = tv.to_f32_vector();
  double s = 0;
  for (const auto& [j, w] : weights) {
    const double x = v[static_cast<size_t>(j)];
    switch (transform) {
      case Transform::Identity: s += w * x; break;
      case Transform::Sigmoid: s += w / (1 + std::exp(-x)); break;
      case Transform::Softmax: s += w * std::exp(x - log_sum_exp(v, row_of(*this, j))); break;
      case Transform::NegLogSoftmax: s += w * (log_sum_exp(v, row_of(*this, j)) - x); break;
      case Transform::NegLog: s += w * -std::log(x); break;
    }
  }
  return s;
}

Tensor Target::seed(const Tensor& tv) const {
  check_shape(*this, tv);
  const std::vector<float> v = tv.to_f32_vector();
  std::vector<double> g(v.size(), 0.0);
  for (const auto& [j, w] : weights) {
    const double x = v[static_cast<size_t>(j)];
    switch (transform) {
      case Transform::Identity: g[static_cast<size_t>(j)] += w; break;
      case Transform::Sigmoid: {
        const double p = 1 / (1 + std::exp(-x));
        g[static_cast<size_t>(j)] += w * p * (1 - p);
        break;
      }
      case Transform::Softmax:
      case Transform::NegLogSoftmax: {
        // p = softmax(row). d p_j / d t_k = p_j (δ_jk − p_k); d(−log p_j)/d t_k = p_k − δ_jk.
        const Row r = row_of(*this, j);
        const double lse = log_sum_exp(v, r);
        const double pj = std::exp(x - lse);
        for (int64_t k = 0; k < r.len; ++k) {
          const size_t i = static_cast<size_t>(r.base + k * r.stride);
          const double pk = std::exp(v[i] - lse);
          g[i] += transform == Transform::Softmax ? -w * pj * pk : w * pk;
        }
        g[static_cast<size_t>(j)] += transform == Transform::Softmax ? w * pj : -w;
        break;
      }
      case Transform::NegLog: g[static_cast<size_t>(j)] += -w / x; break;
    }
  }
  Tensor out(DType::Float32, shape);
  float* o = out.data_as<float>();
  for (size_t i = 0; i < g.size(); ++i) o[i] = static_cast<float>(g[i]);
  return out;
}

double Target::value(const Session& s) const { return value(s.activations().fetch(tensor)); }

std::map<std::string, Tensor> Target::seeds(const Session& s) const {
  return {{tensor, seed(s.activations().fetch(tensor))}};
}

// ---------------------------------------------------------------------------------------------
// Resolution.

std::vector<CtcChar> ctc_greedy(const Tensor& out) {
  if (out.rank() != 3 || out.dim(1) < 1 || out.dim(2) < 2)
    throw Error(ErrorKind::Usage, "a CTC output is [N, T, C] with C > 1, got " + shape_str(out.shape()));
  const int64_t T = out.dim(1), C = out.dim(2);
  const std::vector<float> v = out.to_f32_vector();
  std::vector<CtcChar> chars;
  int64_t prev = -1;
  for (int64_t t = 0; t < T; ++t) {
    const float* row = v.data() + t * C;
    const int64_t c = std::max_element(row, row + C) - row;
    if (c != 0 && c == prev) {
      ++chars.back().steps;
    } else if (c != 0) {
      chars.push_back({c, t, 1});
    }
    prev = c;
  }
  return chars;
}

namespace {

// The one axis of a classifier output [N, C], [C], [N, C, 1, 1]...: dims after the batch that are
// > 1 must be exactly one. -1 when the shape is no classifier.
int classifier_axis(const Shape& s) {
  if (s.empty()) return -1;
  if (s.size() == 1) return s[0] > 1 ? 0 : -1;
  int axis = -1;
  for (size_t d = 1; d < s.size(); ++d)
    if (s[d] > 1) {
      if (axis >= 0) return -1;
      axis = static_cast<int>(d);
    }
  return axis;
}

bool rows_are_distributions(const std::vector<float>& v, int64_t stride, int64_t len, int64_t base_count) {
  // Rows starting at every base of the first (batch) item; checking row 0 is what inspect does.
  (void)base_count;
  double sum = 0;
  for (int64_t k = 0; k < len; ++k) {
    const float x = v[static_cast<size_t>(k * stride)];
    if (!(x >= 0)) return false;
    sum += x;
  }
  return std::abs(sum - 1) <= 1e-3;
}

std::string class_text(int64_t c, const std::vector<std::string>& labels) {
  std::string s = "class " + std::to_string(c);
  if (c >= 0 && static_cast<size_t>(c) < labels.size() && !labels[static_cast<size_t>(c)].empty())
    s += " (" + labels[static_cast<size_t>(c)] + ")";
  return s;
}

std::string ctc_text(int64_t c, const std::vector<std::string>& dict) {
  if (c == 0) return "blank";
  if (static_cast<size_t>(c) <= dict.size()) return "'" + dict[static_cast<size_t>(c - 1)] + "'";
  if (!dict.empty() && static_cast<size_t>(c) == dict.size() + 1) return "' '";
  return "class " + std::to_string(c);
}

int64_t find_label(const std::string& label, const std::vector<std::string>& labels) {
  if (labels.empty())
    throw Error(ErrorKind::Usage, "class '" + label + "' given by name needs a label file (--labels FILE)");
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == label) return static_cast<int64_t>(i);
  std::vector<int64_t> hits;
  const std::string want = lower(trim(label));
  for (size_t i = 0; i < labels.size(); ++i) {
    bool hit = lower(trim(labels[i])) == want;
    // Synonyms: "tabby, tabby cat".
    size_t pos = 0;
    while (!hit && pos <= labels[i].size()) {
      size_t end = labels[i].find(',', pos);
      if (end == std::string::npos) end = labels[i].size();
      hit = lower(trim(labels[i].substr(pos, end - pos))) == want;
      pos = end + 1;
    }
    if (hit) hits.push_back(static_cast<int64_t>(i));
  }
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) throw Error(ErrorKind::Usage, "no label '" + label + "' in the label file");
  std::string list;
  for (size_t k = 0; k < hits.size() && k < 5; ++k) list += (k ? ", " : "") + std::to_string(hits[k]);
  throw Error(ErrorKind::Usage, "label '" + label + "' matches several classes (" + list + "): give the index");
}

// What the output is: a distribution already (Softmax/Sigmoid, or rows summing to 1), and where its
// logits are when a shape-preserving Softmax / Sigmoid / LogSoftmax produced it.
struct OutputNature {
  bool distribution = false, sigmoid = false;
  std::string logits, producer;
};

OutputNature nature_of(const Session& s, const std::string& name, const std::vector<float>& v, int64_t stride,
                       int64_t len) {
  OutputNature n;
  const PlannedTensor* p = s.activations().find(name);
  if (p && p->producer >= 0) {
    const Node& node = s.graph().nodes[static_cast<size_t>(p->producer)];
    const std::string& op = node.op_type;
    if ((op == "Softmax" || op == "Sigmoid" || op == "LogSoftmax") && !node.inputs.empty() &&
        s.info(node.inputs[0]).shape == p->info.shape && s.activations().contains(node.inputs[0]) &&
        !s.activations().find(node.inputs[0])->constant && is_float(s.info(node.inputs[0]).dtype)) {
      n.logits = node.inputs[0];
      n.producer = node.describe();
      n.sigmoid = op == "Sigmoid";
      n.distribution = op != "LogSoftmax";
      return n;
    }
  }
  n.distribution = len > 1 && rows_are_distributions(v, stride, len, 1);
  return n;
}

}  // namespace

std::optional<Prediction> top_prediction(const Session& s, const std::vector<std::string>& labels) {
  for (const ValueInfo& o : s.graph().outputs) {
    if (!s.activations().contains(o.name) || !is_float(s.info(o.name).dtype)) continue;
    const Tensor t = s.activations().fetch(o.name);
    const int axis = classifier_axis(t.shape());
    if (axis < 0) return std::nullopt;
    const int64_t stride = strides_of(t.shape())[static_cast<size_t>(axis)], len = t.dim(axis);
    const std::vector<float> v = t.to_f32_vector();
    Prediction p;
    p.tensor = o.name;
    p.cls = 0;
    for (int64_t k = 1; k < len; ++k)
      if (v[static_cast<size_t>(k * stride)] > v[static_cast<size_t>(p.cls * stride)]) p.cls = k;
    p.logit = v[static_cast<size_t>(p.cls * stride)];
    p.softmax_applied = !rows_are_distributions(v, stride, len, 1);
    if (p.softmax_applied) {
      double m = -INFINITY, sum = 0;
      for (int64_t k = 0; k < len; ++k) m = std::max(m, static_cast<double>(v[static_cast<size_t>(k * stride)]));
      for (int64_t k = 0; k < len; ++k) sum += std::exp(v[static_cast<size_t>(k * stride)] - m);
      p.probability = std::exp(p.logit - m) / sum;
    } else {
      p.probability = p.logit;
    }
    if (static_cast<size_t>(p.cls) < labels.size()) p.label = labels[static_cast<size_t>(p.cls)];
    return p;
  }
  return std::nullopt;
}

Target resolve_target(const Session& s, const TargetSpec& spec, const std::vector<std::string>& labels) {
  using K = TargetSpec::Kind;
  Target t;
  t.spec = spec;
  // The output named, or the first float graph output.
  if (spec.tensor.empty()) {
    for (const ValueInfo& o : s.graph().outputs)
      if (s.activations().contains(o.name) && is_float(s.info(o.name).dtype)) {
        t.output = o.name;
        break;
      }
    if (t.output.empty()) throw Error(ErrorKind::Usage, "the model has no float output to explain");
  } else {
    t.output = spec.tensor;
    const PlannedTensor* p = s.activations().find(t.output);
    if ((!p && s.graph().initializers.count(t.output)) || (p && p->constant))
      throw Error(ErrorKind::Usage, "target: '" + t.output + "' is a constant of the model, not computed");
    if (!p) throw Error(ErrorKind::Usage, "target: no tensor named '" + t.output + "' in the model");
    if (p->constant) throw Error(ErrorKind::Usage, "target: '" + t.output + "' is a constant of the model, not computed");
    if (!is_float(p->info.dtype))
      throw Error(ErrorKind::Usage, "target: '" + t.output + "' is " + std::string(dtype_name(p->info.dtype)) + ", not float");
  }
  const Tensor out = s.activations().fetch(t.output);
  const Shape& shape = out.shape();
  const std::string where = "'" + t.output + "' " + shape_str(shape);
  // Every kind below reads at least one element (the default class, a region, element 0).
  if (numel(shape) == 0)
    throw Error(ErrorKind::Usage, "target: '" + t.output + "' has no elements (shape " + shape_str(shape) + "): nothing to differentiate");
  const std::vector<float> v = out.to_f32_vector();
  const std::vector<int64_t> st = strides_of(shape);

  // The kind, with the default made concrete.
  K kind = spec.kind;
  const int caxis = classifier_axis(shape);
  if (kind == K::Default) {
    if (caxis >= 0) kind = K::Class;
    else if (shape.size() == 3 && shape[1] > 1 && shape[2] > 1) kind = K::CtcAll;
    else if (shape.size() >= 2 && shape[shape.size() - 1] > 1 && shape[shape.size() - 2] > 1) kind = K::Region;
    else kind = K::Output;
  }
  const bool ctc = kind == K::Ctc || kind == K::CtcChar || kind == K::CtcAll;
  // The class axis (rows of the softmax).
  int axis = -1;
  if (kind == K::Class || kind == K::Loss) {
    if (caxis < 0)
      throw Error(ErrorKind::Usage, "class targets need a classifier output ([N, C] or [N, C, 1, 1]); " + where +
                                        " is not one (use output:TENSOR:i,j,... or region:...)");
    axis = caxis;
  } else if (ctc) {
    if (shape.size() != 3 || shape[2] < 2)
      throw Error(ErrorKind::Usage, "CTC targets need an output [N, T, C]; " + where + " is not one");
    axis = 2;
  } else {
    for (size_t d = shape.size(); d-- > 0;)
      if (shape[d] > 1) {
        axis = static_cast<int>(d);
        break;
      }
  }
  if (axis >= 0) {
    t.axis_stride = st[static_cast<size_t>(axis)];
    t.axis_len = shape[static_cast<size_t>(axis)];
  }
  const OutputNature nat = nature_of(s, t.output, v, t.axis_stride, t.axis_len);

  // The elements and their weights, on the output's indexing (logits share its shape).
  std::string what;
  auto check_class = [&](int64_t c) {
    if (c >= t.axis_len)
      throw Error(ErrorKind::Usage, "class " + std::to_string(c) + " is out of range: " + where + " has " +
                                        std::to_string(t.axis_len) + " classes");
  };
  switch (kind) {
    case K::Class:
    case K::Loss: {
      int64_t c = spec.cls;
      if (spec.kind == K::Default) {
        c = 0;
        for (int64_t k = 1; k < t.axis_len; ++k)
          if (v[static_cast<size_t>(k * t.axis_stride)] > v[static_cast<size_t>(c * t.axis_stride)]) c = k;
      } else if (c < 0) {
        c = find_label(spec.label, labels);
      }
      check_class(c);
      t.cls = c;
      t.weights = {{c * t.axis_stride, 1.0}};
      what = (spec.kind == K::Default ? "the top " : "") + class_text(c, labels);
      break;
    }
    case K::Output: {
      int64_t flat = 0;
      if (spec.index.empty()) {
        flat = std::max_element(v.begin(), v.end()) - v.begin();
        what = "its largest element";
      } else if (spec.index.size() == 1 && shape.size() != 1) {
        flat = spec.index[0];
        if (flat >= out.numel())
          throw Error(ErrorKind::Usage, "element " + std::to_string(flat) + " is out of range: " + where + " has " +
                                            std::to_string(out.numel()) + " elements");
      } else {
        if (spec.index.size() != shape.size())
          throw Error(ErrorKind::Usage, "an index of " + where + " needs " + std::to_string(shape.size()) +
                                            " numbers (or one flat index), got " + std::to_string(spec.index.size()));
        for (size_t d = 0; d < shape.size(); ++d) {
          if (spec.index[d] >= shape[d])
            throw Error(ErrorKind::Usage, "index " + std::to_string(spec.index[d]) + " is out of range for dim " +
                                              std::to_string(d) + " of " + where);
          flat += spec.index[d] * st[d];
        }
      }
      std::string idx;
      int64_t r = flat;
      for (size_t d = 0; d < shape.size(); ++d) {
        if (d) idx += ',';
        idx += std::to_string(r / st[d]);
        r %= st[d];
      }
      if (what.empty()) what = "element [" + idx + "]";
      else what += " [" + idx + "]";
      t.weights = {{flat, 1.0}};
      break;
    }
    case K::Region: {
      if (shape.size() < 2) throw Error(ErrorKind::Usage, "a region needs a map (rank >= 2); " + where + " is not one");
      const int64_t H = shape[shape.size() - 2], W = shape[shape.size() - 1];
      int64_t x0 = spec.x0, y0 = spec.y0, x1 = spec.x1, y1 = spec.y1;
      if (spec.kind == K::Default) x0 = 0, y0 = 0, x1 = W, y1 = H;
      if (x1 > W || y1 > H)
        throw Error(ErrorKind::Usage, "region " + std::to_string(x0) + "," + std::to_string(y0) + "," + std::to_string(x1) +
                                          "," + std::to_string(y1) + " lies outside the " + std::to_string(W) + "x" +
                                          std::to_string(H) + " map " + where);
      // Channels: dim 1 of a rank-4 map; other leading dims take index 0.
      int64_t c0 = 0, c1 = 1;
      if (shape.size() >= 3) c1 = shape.size() == 4 ? shape[1] : 1;
      if (spec.channel >= 0) {
        if (shape.size() != 4 || spec.channel >= shape[1])
          throw Error(ErrorKind::Usage, "channel " + std::to_string(spec.channel) + " is out of range for " + where);
        c0 = spec.channel, c1 = spec.channel + 1;
      }
      const int64_t cstride = shape.size() == 4 ? st[1] : 0;
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x) t.weights.push_back({c * cstride + y * W + x, 1.0});
      what = "the sum over x " + std::to_string(x0) + ".." + std::to_string(x1 - 1) + ", y " + std::to_string(y0) + ".." +
             std::to_string(y1 - 1) + (spec.channel >= 0 ? " of channel " + std::to_string(spec.channel) : std::string()) +
             (spec.kind == K::Default ? " (the whole map)" : "");
      break;
    }
    case K::Ctc: {
      if (spec.step >= shape[1])
        throw Error(ErrorKind::Usage, "time step " + std::to_string(spec.step) + " is out of range: " + where + " has " +
                                          std::to_string(shape[1]) + " steps");
      const float* row = v.data() + spec.step * shape[2];
      const int64_t c = std::max_element(row, row + shape[2]) - row;
      t.cls = c;
      t.weights = {{spec.step * shape[2] + c, 1.0}};
      what = "the character read at step " + std::to_string(spec.step) + ", " + ctc_text(c, labels) + " (class " +
             std::to_string(c) + ")";
      break;
    }
    case K::CtcChar:
    case K::CtcAll: {
      const std::vector<CtcChar> chars = ctc_greedy(out);
      if (kind == K::CtcChar) {
        if (spec.char_index >= static_cast<int64_t>(chars.size()))
          throw Error(ErrorKind::Usage, "character " + std::to_string(spec.char_index) + " is out of range: the decoding of " +
                                            where + " has " + std::to_string(chars.size()) + " characters");
        const CtcChar& ch = chars[static_cast<size_t>(spec.char_index)];
        t.cls = ch.cls;
        t.weights = {{ch.first_step * shape[2] + ch.cls, 1.0}};
        what = "decoded character " + std::to_string(spec.char_index) + ", " + ctc_text(ch.cls, labels) + " (class " +
               std::to_string(ch.cls) + ") at step " + std::to_string(ch.first_step);
      } else {
        if (chars.empty()) throw Error(ErrorKind::Usage, "the CTC decoding of " + where + " is empty: nothing to explain");
        std::string text;
        for (const CtcChar& ch : chars) {
          t.weights.push_back({ch.first_step * shape[2] + ch.cls, 1.0});
          text += ctc_text(ch.cls, labels) + " ";
        }
        what = "the sum over the " + std::to_string(chars.size()) + " decoded characters (" + trim(text) +
               ") at the steps they were read";
      }
      break;
    }
    case K::Default: break;
  }

  // Which tensor carries S, through what.
  const bool loss = kind == K::Loss;
  std::string score_text;
  if (loss) {
    if (nat.sigmoid) throw Error(ErrorKind::Usage, "a loss target needs a softmax class axis; " + where + " is a Sigmoid output");
    if (!nat.logits.empty()) {
      t.tensor = nat.logits;
      t.transform = Target::Transform::NegLogSoftmax;
      score_text = "cross-entropy loss −log softmax at ";
    } else if (nat.distribution) {
      t.tensor = t.output;
      t.transform = Target::Transform::NegLog;
      score_text = "cross-entropy loss −log p at ";
    } else {
      t.tensor = t.output;
      t.transform = Target::Transform::NegLogSoftmax;
      score_text = "cross-entropy loss −log softmax at ";
    }
  } else if (spec.score == Score::Logit) {
    t.tensor = !nat.logits.empty() ? nat.logits : t.output;
    score_text = nat.logits.empty() && nat.distribution ? "probability (the output is already one; no logits to reach) of "
                                                        : "logit of ";
    if (kind == K::Region || (kind == K::Output && !nat.sigmoid && nat.logits.empty())) score_text = "value of ";
    if ((kind == K::Region || kind == K::Output) && !nat.logits.empty()) score_text = "logit (pre-" + std::string(nat.sigmoid ? "Sigmoid" : "Softmax") + ") of ";
  } else {
    if (nat.distribution) {
      t.tensor = t.output;
      score_text = "probability (as the model outputs it) of ";
    } else {
      t.tensor = !nat.logits.empty() ? nat.logits : t.output;  // LogSoftmax: its input
      const bool rowwise = t.axis_len > 1 && kind != K::Region;
      t.transform = rowwise ? Target::Transform::Softmax : Target::Transform::Sigmoid;
      score_text = rowwise ? "probability (softmax taken by netlens) of " : "probability (sigmoid taken by netlens) of ";
    }
  }
  t.shape = s.info(t.tensor).shape;
  t.description = score_text + what + " of '" + t.output + "'";
  if (t.tensor != t.output) t.description += " (seeded on '" + t.tensor + "', the input of " + nat.producer + ")";
  return t;
}

}  // namespace netlens::explain
