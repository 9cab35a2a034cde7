// Finite-difference checks of the backward pass, one node at a time, through the real path:
// Graph → Session::prepare (shape inference, CPU op table) → run → backward (CPU grad table).
//
// The check: S = Σ seed ⊙ output_k over every float output, with a fixed random seed tensor. For each
// input i that is differentiated, the analytic gradient g_i = dS/d(input i) from Session::backward is
// compared with central differences of S computed in double from float32 forward runs:
//   - per element, for inputs of at most kMaxPerElement elements (every element perturbed);
//   - along three random directions v (Σ g·v against (S(x+hv) − S(x−hv)) / 2h) for larger inputs.
// Step h = 1e-2 × max(1, |x|∞) (float32 forward: a smaller step drowns in rounding). Tolerance:
// relative L2 error ≤ tol (default 2e-3) over the elements, or |Δ| ≤ tol·(|fd| + |g·v|) + 1e-4 per
// direction. Choose inputs away from kinks (Relu at 0, max-pool ties, Abs at 0...).
//
// Inputs marked `constant` become initializers (their gradients are checked only with
// `weights = true`, which asks Session::backward for initializer gradients). Inputs with non-float
// dtypes (indices, shapes) are never perturbed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

namespace netlens::gradtest {

struct GradCase {
  std::string op;
  int64_t opset = 17;
  std::map<std::string, AttrValue> attrs;
  std::vector<Tensor> inputs;  // undefined Tensor = omitted optional input
  std::vector<bool> constant;  // per input; missing = graph input (varies)
  size_t num_outputs = 1;
  bool weights = false;        // also check initializer (constant float input) gradients
  double tol = 2e-3;
  std::vector<bool> skip;      // per input: do not check this input's gradient (e.g. no meaningful one)
};

inline Tensor random_tensor(Shape s, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}


class GradChecker {
 public:
  explicit GradChecker(const GradCase& c) : c_(c), cpu_(make_cpu_backend()) {
    Graph g;
    g.opsets[""] = c.opset;
    Node n;
    n.name = "node";
    n.op_type = c.op;
    n.attrs = c.attrs;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (!c.inputs[i].defined()) { n.inputs.push_back(""); continue; }
      const std::string name = "in" + std::to_string(i);
      n.inputs.push_back(name);
      if (is_constant(i)) {
        g.initializers[name] = c.inputs[i];
      } else {
        ValueInfo v{name, c.inputs[i].dtype(), {}, true};
        for (int64_t d : c.inputs[i].shape()) v.dims.push_back(Dim{d, ""});
        g.inputs.push_back(v);
        feeds_[name] = c.inputs[i];
      }
    }
    for (size_t o = 0; o < c.num_outputs; ++o) n.outputs.push_back("out" + std::to_string(o));
    g.nodes.push_back(n);
    session_ = std::make_unique<Session>(std::move(g), std::vector<Backend*>{cpu_.get()});
    session_->run(feeds_);
    for (size_t o = 0; o < c.num_outputs; ++o) {
      const std::string name = "out" + std::to_string(o);
      const TensorInfo& info = session_->info(name);
      if (!is_float(info.dtype)) continue;
      seeds_[name] = random_tensor(info.shape, 1000 + static_cast<uint32_t>(o));
    }
  }

  // S for the current feeds/initializers (double accumulation over float32 outputs).
  double objective(const std::map<std::string, Tensor>& feeds, const Graph* graph = nullptr) {
    Session* s = session_.get();
    std::unique_ptr<Session> alt;
    if (graph) {
      alt = std::make_unique<Session>(*graph, std::vector<Backend*>{cpu_.get()});
      s = alt.get();
    }
    s->run(feeds);
    double acc = 0;
    for (const auto& [name, seed] : seeds_) {
      Tensor out = s->activations().fetch(name);
      for (int64_t i = 0; i < out.numel(); ++i) acc += seed.get_f64(i) * out.get_f64(i);
    }
    return acc;
  }

  // Runs backward and checks every differentiable input against finite differences.
  void check() {
    ASSERT_FALSE(seeds_.empty()) << c_.op << ": no float output to differentiate";
    session_->run(feeds_);
    session_->backward(seeds_, GradientOptions{c_.weights});
    std::map<std::string, Tensor> grads;
    for (size_t i = 0; i < c_.inputs.size(); ++i) {
      if (!checked(i)) continue;
      const std::string name = "in" + std::to_string(i);
      grads[name] = session_->gradients().fetch(name).clone();
    }
    for (size_t i = 0; i < c_.inputs.size(); ++i) {
      if (!checked(i)) continue;
      const std::string name = "in" + std::to_string(i);
      check_input(i, name, grads.at(name));
    }
  }

  Session& session() { return *session_; }
  const std::map<std::string, Tensor>& seeds() const { return seeds_; }
  // The worst error check() measured over every checked input, in the units of its tolerance test:
  // relative L2 for per-element inputs, |g·v − fd| / (|fd| + |g·v|) for directions (reporting only).
  double worst_error() const { return worst_; }

 private:
  static constexpr int64_t kMaxPerElement = 64;

  bool is_constant(size_t i) const { return i < c_.constant.size() && c_.constant[i]; }
  bool checked(size_t i) const {
    if (!c_.inputs[i].defined() || !is_float(c_.inputs[i].dtype())) return false;
    if (i < c_.skip.size() && c_.skip[i]) return false;
    return !is_constant(i) || c_.weights;
  }

  // S with input i replaced by `value`.
  double objective_with(size_t i, const Tensor& value) {
    const std::string name = "in" + std::to_string(i);
    if (!is_constant(i)) {
      auto feeds = feeds_;
      feeds[name] = value;
      return objective(feeds);
    }
    Graph g = session_->graph();
    g.initializers[name] = value;
    return objective(feeds_, &g);
  }

  void check_input(size_t i, const std::string& name, const Tensor& grad) {
    const Tensor& x = c_.inputs[i];
    Tensor x32 = x.dtype() == DType::Float32 ? x : x.cast(DType::Float32);
    double amax = 0;
    for (int64_t k = 0; k < x32.numel(); ++k) amax = std::max(amax, std::abs(x32.get_f64(k)));
    const double h = 1e-2 * std::max(1.0, amax);
    auto perturbed = [&](const std::vector<double>& dir, double step) {
      Tensor t = x32.clone();
      float* p = t.data_as<float>();
      for (int64_t k = 0; k < t.numel(); ++k) p[k] = static_cast<float>(p[k] + step * dir[static_cast<size_t>(k)]);
      return x.dtype() == DType::Float32 ? t : t.cast(x.dtype());
    };
    const size_t n = static_cast<size_t>(x32.numel());
    if (x32.numel() <= kMaxPerElement) {
      double num = 0, den = 0;
      std::string worst;
      double worst_d = -1;
      for (size_t k = 0; k < n; ++k) {
        std::vector<double> e(n, 0.0);
        e[k] = 1.0;
        const double fd = (objective_with(i, perturbed(e, h)) - objective_with(i, perturbed(e, -h))) / (2 * h);
        const double g = grad.get_f64(static_cast<int64_t>(k));
        num += (g - fd) * (g - fd);
        den += fd * fd;
        if (std::abs(g - fd) > worst_d) {
          worst_d = std::abs(g - fd);
          worst = "element " + std::to_string(k) + ": backward " + std::to_string(g) + ", finite difference " + std::to_string(fd);
        }
      }
      const double rel = std::sqrt(num / std::max(den, 1e-12));
      worst_ = std::max(worst_, std::sqrt(num) <= 1e-4 ? 0.0 : rel);
      EXPECT_TRUE(rel <= c_.tol || std::sqrt(num) <= 1e-4)
          << c_.op << " input " << i << " (" << name << "): relative L2 error " << rel << " > " << c_.tol << "; worst " << worst;
    } else {
      std::mt19937 rng(7 + static_cast<uint32_t>(i));
      std::normal_distribution<double> nd;
      for (int d = 0; d < 3; ++d) {
        std::vector<double> v(n);
        double vn = 0;
        for (double& a : v) { a = nd(rng); vn += a * a; }
        for (double& a : v) a /= std::sqrt(vn);
        double gv = 0;
        for (size_t k = 0; k < n; ++k) gv += grad.get_f64(static_cast<int64_t>(k)) * v[k];
        const double fd = (objective_with(i, perturbed(v, h)) - objective_with(i, perturbed(v, -h))) / (2 * h);
        worst_ = std::max(worst_, std::abs(gv - fd) <= 1e-4 ? 0.0 : std::abs(gv - fd) / (std::abs(fd) + std::abs(gv)));
        EXPECT_LE(std::abs(gv - fd), c_.tol * (std::abs(fd) + std::abs(gv)) + 1e-4)
            << c_.op << " input " << i << " (" << name << ") direction " << d << ": backward " << gv << ", finite difference " << fd;
      }
    }
  }

  GradCase c_;
  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Session> session_;
  std::map<std::string, Tensor> feeds_;
  std::map<std::string, Tensor> seeds_;
  double worst_ = 0;
};

// The whole check in one call.
inline void check_gradients(const GradCase& c) {
  GradChecker g(c);
  g.check();
}

}  // namespace netlens::gradtest
