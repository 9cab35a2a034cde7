// Series: loading checkpoints into one prepared session (weights fed as graph inputs) or one
// session per checkpoint, and the per-checkpoint figures.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/timeline.hpp"

namespace netlens::timeline {
namespace fs = std::filesystem;

namespace {

using Weights = std::map<std::string, Tensor>;
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.data() == b.data() || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

// The first difference in structure between two graphs of "one architecture", or "".
std::string architecture_difference(const Graph& a, const Graph& b) {
  if (a.nodes.size() != b.nodes.size())
    return std::to_string(a.nodes.size()) + " nodes vs " + std::to_string(b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node& x = a.nodes[i];
    const Node& y = b.nodes[i];
    if (x.op_type != y.op_type || x.inputs != y.inputs || x.outputs != y.outputs)
      return "node " + std::to_string(i) + " is " + x.describe() + " vs " + y.describe();
  }
  if (a.initializers.size() != b.initializers.size())
    return std::to_string(a.initializers.size()) + " initializers vs " + std::to_string(b.initializers.size());
  for (const auto& [name, t] : a.initializers) {
    auto it = b.initializers.find(name);
    if (it == b.initializers.end()) return "initializer '" + name + "' is missing";
    if (it->second.dtype() != t.dtype() || it->second.shape() != t.shape())
      return "initializer '" + name + "' is " + shape_str(t.shape()) + " vs " + shape_str(it->second.shape());
    if (!is_float(t.dtype()) && !same_bytes(t, it->second)) return "non-float initializer '" + name + "' differs";
  }
  return "";
}

const float* f32_data(const Tensor& t, Tensor& keep) {
  if (t.dtype() == DType::Float32) return t.data_as<float>();
  keep = t.cast(DType::Float32);
  return keep.data_as<float>();
}

// Σ a² and, with b, Σ (a − b)², in float64 with four independent accumulators each (one pass; the
// sums of ResNet-18's 11.7M weights are latency-bound otherwise).
void sums(const Tensor& a, const Tensor* b, double& aa, double& dd) {
  Tensor ka, kb;
  const float* p = f32_data(a, ka);
  const float* q = b ? f32_data(*b, kb) : nullptr;
  const int64_t n = a.numel();
  double s[4] = {0, 0, 0, 0}, d[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) {
      const double x = p[i + k];
      s[k] += x * x;
      if (q) {
        const double e = x - q[i + k];
        d[k] += e * e;
      }
    }
  for (; i < n; ++i) {
    const double x = p[i];
    s[0] += x * x;
    if (q) d[0] += (x - q[i]) * (x - q[i]);
  }
  aa += (s[0] + s[1]) + (s[2] + s[3]);
  dd += (d[0] + d[1]) + (d[2] + d[3]);
}

// Mean cross-entropy of softmax rows and top-1 accuracy; optionally the seed dL/dlogits.
struct RowLoss {
  double loss = 0;
  int64_t correct = 0;
};
RowLoss cross_entropy(const float* z, int64_t rows, int64_t classes, const int64_t* labels, float* seed, double seed_scale) {
  RowLoss r;
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = z + i * classes;
    int64_t arg = 0;
    double m = -INFINITY;
    for (int64_t c = 0; c < classes; ++c)
      if (row[c] > m) { m = row[c]; arg = c; }
    double s = 0;
    for (int64_t c = 0; c < classes; ++c) s += std::exp(static_cast<double>(row[c]) - m);
    const int64_t y = labels[i];
    r.loss += -(static_cast<double>(row[y]) - m - std::log(s));
    r.correct += arg == y ? 1 : 0;
    if (seed)
      for (int64_t c = 0; c < classes; ++c)
        seed[i * classes + c] = static_cast<float>((std::exp(static_cast<double>(row[c]) - m) / s - (c == y ? 1.0 : 0.0)) * seed_scale);
  }
  return r;
}

}  // namespace

struct Series::Impl {
  CheckpointList list;
  std::vector<Backend*> backends;
  SeriesOptions opts;
  Graph first;           // graph of checkpoint 0 (weights included)
  std::vector<Layer> layers;
  std::string logits;
  bool reuse = false;
  std::set<std::string> promoted;  // float initializers fed as graph inputs
  std::unique_ptr<Session> session, eval_session;
  std::map<std::string, Shape> probe_shapes;
  int64_t eval_rows = -1;  // batch the eval session is prepared for
  std::string image_input;
  std::map<size_t, CheckpointPoint> points;
  size_t current = static_cast<size_t>(-1);
  Weights current_weights;  // float initializers of checkpoint `current`

  Graph load_graph(const std::string& path) const { return load_onnx(path); }

  // Every float initializer of checkpoint i (and the whole graph for ONNX checkpoints).
  Weights read_weights(size_t i, Graph* graph_out = nullptr) {
    const Checkpoint& c = list.checkpoints.at(i);
    Weights w;
    if (list.graph.empty()) {
      Graph g = i == 0 ? first : load_graph(c.path);
      const std::string diff = architecture_difference(first, g);
      if (!diff.empty())
        throw Error(ErrorKind::Input, "checkpoint '" + c.name + "' is not the architecture of '" +
                                          list.checkpoints[0].name + "': " + diff);
      for (const auto& [name, t] : g.initializers)
        if (is_float(t.dtype())) w[name] = t;
      if (graph_out) *graph_out = std::move(g);
      return w;
    }
    for (const auto& [name, t] : first.initializers)
      if (is_float(t.dtype())) w[name] = t;
    std::vector<std::string> names;
    for (const auto& [name, t] : first.initializers) names.push_back(name);
    const std::vector<std::string> stems = unique_file_stems(names);
    std::map<std::string, std::string> by_stem;
    for (size_t k = 0; k < names.size(); ++k) by_stem[stems[k]] = names[k];
    for (const auto& e : fs::directory_iterator(c.path)) {
      if (!e.is_regular_file() || e.path().extension() != ".npy") continue;
      const std::string stem = e.path().stem().string();
      auto it = by_stem.find(stem);
      if (it == by_stem.end())
        throw Error(ErrorKind::Input, "checkpoint '" + c.name + "': " + e.path().filename().string() +
                                          " names no initializer of the graph");
      const Tensor& ref = first.initializers.at(it->second);
      Tensor t = read_npy(e.path().string());
      if (t.shape() != ref.shape())
        throw Error(ErrorKind::Input, "checkpoint '" + c.name + "': " + e.path().filename().string() + " is " +
                                          shape_str(t.shape()) + ", the graph's '" + it->second + "' is " + shape_str(ref.shape()));
      if (!is_float(ref.dtype()))
        throw Error(ErrorKind::Input, "checkpoint '" + c.name + "': '" + it->second + "' is not a float initializer");
      w[it->second] = t.dtype() == ref.dtype() ? t : t.cast(ref.dtype());
    }
    if (graph_out) {
      *graph_out = first;
      for (const auto& [name, t] : w) graph_out->initializers[name] = t;
    }
    return w;
  }

  Graph promoted_graph() const {
    Graph g = first;
    for (const std::string& name : promoted) {
      const Tensor& t = g.initializers.at(name);
      ValueInfo v;
      v.name = name;
      v.dtype = t.dtype();
      v.has_shape = true;
      for (int64_t d : t.shape()) v.dims.push_back(Dim{d, ""});
      g.initializers.erase(name);
      g.inputs.push_back(std::move(v));
    }
    return g;
  }

  void build_reused_session() {
    session = std::make_unique<Session>(promoted_graph(), backends);
    session->prepare(probe_shapes);
    eval_session.reset();
    eval_rows = -1;
  }
};

Series::Series(CheckpointList list, std::vector<Backend*> backends, SeriesOptions opts) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (list.checkpoints.empty()) throw Error(ErrorKind::Usage, "timeline: no checkpoints");
  m.list = std::move(list);
  m.backends = std::move(backends);
  m.opts = opts;
  m.first = load_onnx(m.list.graph.empty() ? m.list.checkpoints[0].path : m.list.graph);
  if (!m.list.graph.empty()) {  // weight-only: checkpoint 0's weights over the graph's
    Graph g;
    m.read_weights(0, &g);
    m.first = std::move(g);
  }
  m.layers = find_layers(m.first);
  if (m.first.outputs.empty()) throw Error(ErrorKind::Model, "timeline: the model has no outputs");
  m.logits = m.first.outputs[0].name;
  for (const Node& n : m.first.nodes)
    if (!n.outputs.empty() && n.outputs[0] == m.logits && (n.op_type == "Softmax" || n.op_type == "LogSoftmax") &&
        n.has_input(0))
      m.logits = n.inputs[0];
  for (const ValueInfo& v : m.first.inputs)
    if (is_float(v.dtype) && v.dims.size() == 4) { m.image_input = v.name; break; }
  if (m.image_input.empty() && !m.first.inputs.empty()) m.image_input = m.first.inputs[0].name;
  // Promote what changes between the first and the last checkpoint.
  m.reuse = opts.reuse_session;
  if (m.reuse && m.list.checkpoints.size() > 1) {
    const Weights last = m.read_weights(m.list.checkpoints.size() - 1);
    for (const auto& [name, t] : last)
      if (!same_bytes(t, m.first.initializers.at(name))) m.promoted.insert(name);
  }
}

Series::~Series() = default;
size_t Series::size() const { return impl_->list.checkpoints.size(); }
const CheckpointList& Series::list() const { return impl_->list; }
const std::vector<Layer>& Series::layers() const { return impl_->layers; }
const Graph& Series::graph() const { return impl_->first; }
bool Series::reuses_session() const { return impl_->reuse; }
std::string Series::logits() const { return impl_->logits; }
size_t Series::current() const { return impl_->current; }
const std::map<size_t, CheckpointPoint>& Series::points() const { return impl_->points; }
const Session& Series::session() const {
  if (!impl_->session) throw Error(ErrorKind::Usage, "timeline: no checkpoint loaded yet");
  return *impl_->session;
}

const CheckpointPoint& Series::load(size_t i, const Probe& probe, const std::vector<EvalSplit>& eval) {
  Impl& m = *impl_;
  if (i >= m.list.checkpoints.size())
    throw Error(ErrorKind::Usage, "timeline: checkpoint " + std::to_string(i) + " of " + std::to_string(m.list.checkpoints.size()));
  CheckpointPoint pt;
  pt.name = m.list.checkpoints[i].name;

  // 1. Weights (and, without reuse, a session of this checkpoint's graph).
  auto t0 = Clock::now();
  Graph g;
  Weights w = m.read_weights(i, m.reuse ? nullptr : &g);
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : probe.inputs) shapes[name] = t.shape();
  if (m.reuse) {
    bool grow = false;
    for (const auto& [name, t] : w)
      if (!m.promoted.count(name) && !same_bytes(t, m.first.initializers.at(name))) {
        m.promoted.insert(name);
        grow = true;
      }
    if (grow || !m.session || shapes != m.probe_shapes) {
      m.probe_shapes = shapes;
      try {
        m.build_reused_session();
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Memory || e.kind() == ErrorKind::Input || e.kind() == ErrorKind::Usage) throw;
        m.reuse = false;  // an op needs one of the weights as a constant: a session per checkpoint
        m.promoted.clear();
        m.session.reset();
        w = m.read_weights(i, &g);
      }
    }
  }
  if (!m.reuse) {
    m.session = std::make_unique<Session>(std::move(g), m.backends);
    m.session->prepare(shapes);
    m.eval_session.reset();
    m.eval_rows = -1;
  }
  pt.load_ms = ms_since(t0);

  // 2. The probe's forward pass.
  std::map<std::string, Tensor> feed = probe.inputs;
  if (m.reuse)
    for (const std::string& name : m.promoted) feed[name] = w.at(name);
  t0 = Clock::now();
  m.session->run(feed);
  pt.run_ms = ms_since(t0);
  const ActivationStore& acts = m.session->activations();

  // 3. Loss, accuracy and the backward pass at the labels.
  int64_t classes = 0;
  if (!probe.labels.empty()) {
    const Tensor z = acts.fetch(m.logits).cast(DType::Float32);
    const int64_t rows = z.rank() >= 1 ? z.dim(0) : 1;
    if (static_cast<int64_t>(probe.labels.size()) != rows)
      throw Error(ErrorKind::Usage, "timeline: " + std::to_string(probe.labels.size()) + " labels for a batch of " +
                                        std::to_string(rows) + " (logits '" + m.logits + "' are " + shape_str(z.shape()) + ")");
    classes = z.numel() / std::max<int64_t>(rows, 1);
    for (int64_t y : probe.labels)
      if (y < 0 || y >= classes)
        throw Error(ErrorKind::Usage, "timeline: label " + std::to_string(y) + " outside the model's " +
                                          std::to_string(classes) + " classes");
    Tensor seed(DType::Float32, z.shape());
    const RowLoss r = cross_entropy(z.data_as<float>(), rows, classes, probe.labels.data(), seed.data_as<float>(),
                                    1.0 / static_cast<double>(rows));
    pt.probe_loss = r.loss / static_cast<double>(rows);
    pt.probe_accuracy = static_cast<double>(r.correct) / static_cast<double>(rows);
    const DType ldt = m.session->info(m.logits).dtype;
    t0 = Clock::now();
    m.session->backward({{m.logits, ldt == DType::Float32 ? seed : seed.cast(ldt)}}, GradientOptions{true});
    pt.backward_ms = ms_since(t0);
  }

  // 4. Per-layer figures.
  t0 = Clock::now();
  Weights prev;
  const bool have_prev = i > 0;
  if (have_prev) prev = m.current == i - 1 ? m.current_weights : m.read_weights(i - 1);
  const auto pp = have_prev ? m.points.find(i - 1) : m.points.end();
  const CheckpointPoint* prev_point = pp == m.points.end() ? nullptr : &pp->second;
  for (size_t li = 0; li < m.layers.size(); ++li) {
    const Layer& l = m.layers[li];
    LayerPoint lp;
    double wn = 0, dn = 0, pn = 0, gn = 0, unused = 0;
    const bool grads = m.session->has_gradients();
    for (const std::string& p : l.params) {
      sums(w.at(p), have_prev ? &prev.at(p) : nullptr, wn, dn);
      if (have_prev && !prev_point) sums(prev.at(p), nullptr, pn, unused);
      if (grads && m.session->gradients().find(p)) sums(m.session->gradients().fetch(p), nullptr, gn, unused);
    }
    // ‖W_{i−1}‖ is checkpoint i − 1's weight norm when its figures are at hand.
    if (have_prev && prev_point) pn = prev_point->layers[li].weight_norm * prev_point->layers[li].weight_norm;
    lp.weight_norm = std::sqrt(wn);
    if (have_prev) {
      lp.delta_norm = std::sqrt(dn);
      lp.update_ratio = pn > 0 ? std::sqrt(dn) / std::sqrt(pn) : kNone;
    }
    if (grads) {
      lp.grad_norm = std::sqrt(gn);
      lp.grad_rms = lp.grad_norm / std::sqrt(static_cast<double>(l.param_count));
    }
    lp.act = activation_stats(acts.fetch(l.activation), l.activation_op);
    pt.layers.push_back(lp);
  }
  pt.stats_ms = ms_since(t0);

  // 5. Labelled folders: loss and accuracy, in chunks of eval_batch rows on a second session.
  if (!eval.empty()) {
    t0 = Clock::now();
    int64_t rows_max = 0;
    for (const EvalSplit& s : eval) rows_max = std::max(rows_max, s.images.dim(0));
    const int64_t rows = std::min<int64_t>(rows_max, std::max<int64_t>(m.opts.eval_batch, 1));
    if (!m.eval_session || m.eval_rows != rows) {
      Shape in = eval[0].images.shape();
      in[0] = rows;
      std::map<std::string, Shape> es = {{m.image_input, in}};
      m.eval_session = std::make_unique<Session>(m.reuse ? m.promoted_graph() : Graph(m.session->graph()), m.backends);
      m.eval_session->prepare(es);
      m.eval_rows = rows;
    }
    for (const EvalSplit& s : eval) {
      EvalPoint ep;
      ep.split = s.name;
      ep.count = s.images.dim(0);
      const int64_t each = s.images.numel() / ep.count;
      double loss = 0;
      int64_t correct = 0;
      for (int64_t b = 0; b < ep.count; b += rows) {
        const int64_t k = std::min(rows, ep.count - b);
        Shape in = s.images.shape();
        in[0] = rows;
        Tensor x(DType::Float32, in);  // the last chunk padded with zeros, its rows ignored
        std::memcpy(x.data_as<float>(), s.images.data_as<float>() + b * each, static_cast<size_t>(k * each) * sizeof(float));
        std::map<std::string, Tensor> f = {{m.image_input, x}};
        if (m.reuse)
          for (const std::string& name : m.promoted) f[name] = w.at(name);
        m.eval_session->run(f);
        const Tensor z = m.eval_session->activations().fetch(m.logits).cast(DType::Float32);
        const int64_t c = z.numel() / rows;
        for (int64_t j = 0; j < k; ++j)
          if (s.labels[static_cast<size_t>(b + j)] >= c)
            throw Error(ErrorKind::Input, "--eval: class index " + std::to_string(s.labels[static_cast<size_t>(b + j)]) +
                                              " outside the model's " + std::to_string(c) + " classes");
        const RowLoss r = cross_entropy(z.data_as<float>(), k, c, s.labels.data() + b, nullptr, 0);
        loss += r.loss;
        correct += r.correct;
      }
      ep.loss = loss / static_cast<double>(ep.count);
      ep.accuracy = static_cast<double>(correct) / static_cast<double>(ep.count);
      pt.eval.push_back(ep);
    }
    pt.eval_ms = ms_since(t0);
  }

  m.current = i;
  m.current_weights = std::move(w);
  m.points[i] = std::move(pt);
  return m.points[i];
}

}  // namespace netlens::timeline
