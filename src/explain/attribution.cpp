// Input attribution: saliency, gradient × input, SmoothGrad, integrated gradients, occlusion; and
// explain(), which runs the session as each method needs and leaves it on the input itself.
#include <algorithm>
#include <cmath>
#include <random>

#include "explain_util.hpp"
#include "netlens/explain.hpp"

namespace netlens::explain {

InputLayout input_layout(const Session& s) {
  for (const ValueInfo& in : s.graph().inputs) {
    const TensorInfo& info = s.info(in.name);
    if (!is_float(info.dtype) || info.shape.size() != 4) continue;
    if (info.shape[0] != 1)
      throw Error(ErrorKind::Usage, "input '" + in.name + "' has batch " + std::to_string(info.shape[0]) +
                                        ": explanations are of one image (batch 1)");
    InputLayout l;
    l.name = in.name;
    // NHWC when the last dim looks like channels and the second does not (as the image loader decides).
    const Shape& d = info.shape;
    l.nhwc = (d[3] == 1 || d[3] == 3) && !(d[1] == 1 || d[1] == 3);
    l.channels = l.nhwc ? d[3] : d[1];
    l.height = l.nhwc ? d[1] : d[2];
    l.width = l.nhwc ? d[2] : d[3];
    return l;
  }
  throw Error(ErrorKind::Usage, "the model has no image input (a float input of rank 4) to attribute to");
}

Method parse_method(const std::string& m) {
  if (m == "saliency") return Method::Saliency;
  if (m == "gradxinput") return Method::GradXInput;
  if (m == "smoothgrad") return Method::SmoothGrad;
  if (m == "ig") return Method::IntegratedGradients;
  if (m == "gradcam") return Method::GradCam;
  if (m == "gradcam++") return Method::GradCamPlusPlus;
  if (m == "hirescam") return Method::HiResCam;
  if (m == "occlusion") return Method::Occlusion;
  throw Error(ErrorKind::Usage, "--method must be saliency, gradxinput, smoothgrad, ig, gradcam, gradcam++, hirescam or occlusion, got '" +
                                    m + "'");
}

std::string method_name(Method m) {
  switch (m) {
    case Method::Saliency: return "saliency";
    case Method::GradXInput: return "gradxinput";
    case Method::SmoothGrad: return "smoothgrad";
    case Method::IntegratedGradients: return "ig";
    case Method::GradCam: return "gradcam";
    case Method::GradCamPlusPlus: return "gradcam++";
    case Method::HiResCam: return "hirescam";
    case Method::Occlusion: return "occlusion";
  }
  return "?";
}

namespace {

// Runs the session on `inputs` with the attributed input replaced by x (float32, cast to the
// input's dtype).
class Runner {
 public:
  Runner(Session& s, const std::map<std::string, Tensor>& inputs, const InputLayout& l, const Target& t)
      : s_(s), inputs_(inputs), layout_(l), target_(t) {
    auto it = inputs.find(l.name);
    if (it == inputs.end()) throw Error(ErrorKind::Usage, "explain: no value given for input '" + l.name + "'");
    dtype_ = it->second.dtype();
    x_ = it->second.cast(DType::Float32);
  }
  const Tensor& x() const { return x_; }
  int forwards = 0, backwards = 0;

  double forward(const Tensor& x) {
    std::map<std::string, Tensor> in = inputs_;
    in[layout_.name] = dtype_ == DType::Float32 ? x : x.cast(dtype_);
    s_.run(in);
    ++forwards;
    return target_.value(s_);
  }
  // dS/dx at x; returns S(x) in *value.
  std::vector<float> gradient(const Tensor& x, double* value = nullptr) {
    const double v = forward(x);
    if (value) *value = v;
    s_.backward(target_.seeds(s_));
    ++backwards;
    return detail::values(s_.gradients(), layout_.name);
  }

 private:
  Session& s_;
  const std::map<std::string, Tensor>& inputs_;
  const InputLayout& layout_;
  const Target& target_;
  DType dtype_ = DType::Float32;
  Tensor x_;
};

Tensor from_vector(const Shape& shape, const std::vector<float>& v) { return Tensor::from_f32(shape, v); }

// Per-pixel reduction over channels: max |v| or Σ v.
Heatmap reduce(const InputLayout& l, const std::vector<float>& v, bool max_abs) {
  Heatmap h;
  h.height = l.height;
  h.width = l.width;
  h.signed_values = !max_abs;
  h.values.assign(static_cast<size_t>(l.height * l.width), 0.0f);
  for (int64_t y = 0; y < l.height; ++y)
    for (int64_t x = 0; x < l.width; ++x) {
      float acc = 0;
      for (int64_t c = 0; c < l.channels; ++c) {
        const float e = v[static_cast<size_t>(l.offset(c, y, x))];
        acc = max_abs ? std::max(acc, std::abs(e)) : acc + e;
      }
      h.values[static_cast<size_t>(y * l.width + x)] = acc;
    }
  return h;
}

std::vector<int64_t> window_starts(int64_t n, int64_t patch, int64_t stride) {
  std::vector<int64_t> s;
  if (patch >= n) return {0};
  for (int64_t p = 0; p + patch <= n; p += stride) s.push_back(p);
  if (s.back() + patch < n) s.push_back(n - patch);  // the last window reaches the border
  return s;
}

}  // namespace

OcclusionGrid occlusion_grid(const InputLayout& l, const MethodOptions& opts) {
  if (opts.patch < 0 || opts.stride < 0) throw Error(ErrorKind::Usage, "occlusion: patch and stride must be > 0");
  OcclusionGrid g;
  const int64_t side = std::min(l.height, l.width);
  g.patch = opts.patch > 0 ? opts.patch : std::min<int64_t>(32, (side + 3) / 4);
  g.stride = opts.stride > 0 ? opts.stride : std::max<int64_t>(1, g.patch / 2);
  g.ys = window_starts(l.height, std::min(g.patch, l.height), g.stride);
  g.xs = window_starts(l.width, std::min(g.patch, l.width), g.stride);
  return g;
}

Explanation explain(Session& s, const std::map<std::string, Tensor>& inputs, const Target& target,
                    const MethodOptions& opts) {
  const InputLayout l = input_layout(s);
  Runner r(s, inputs, l, target);
  const Tensor& x = r.x();
  const std::vector<float> xv = x.to_f32_vector();
  Explanation e;
  e.method = opts.method;
  switch (opts.method) {
    case Method::Saliency:
    case Method::GradXInput: {
      std::vector<float> g = r.gradient(x, &e.target_value);
      if (opts.method == Method::GradXInput)
        for (size_t i = 0; i < g.size(); ++i) g[i] *= xv[i];
      e.heat = reduce(l, g, opts.method == Method::Saliency);
      e.attribution = from_vector(x.shape(), g);
      break;
    }
    case Method::SmoothGrad: {
      if (opts.smoothgrad_samples < 1) throw Error(ErrorKind::Usage, "SmoothGrad needs at least 1 sample");
      const auto [lo, hi] = std::minmax_element(xv.begin(), xv.end());
      e.sigma = opts.smoothgrad_sigma >= 0 ? opts.smoothgrad_sigma : 0.15 * (static_cast<double>(*hi) - *lo);
      e.samples = opts.smoothgrad_samples;
      std::mt19937 rng(opts.seed);
      std::normal_distribution<float> noise(0.0f, static_cast<float>(e.sigma));
      std::vector<double> acc(xv.size(), 0.0);
      for (int k = 0; k < e.samples; ++k) {
        std::vector<float> xn = xv;
        if (e.sigma > 0)
          for (float& v : xn) v += noise(rng);
        const std::vector<float> g = r.gradient(from_vector(x.shape(), xn));
        for (size_t i = 0; i < g.size(); ++i) acc[i] += g[i];
      }
      std::vector<float> mean(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) mean[i] = static_cast<float>(acc[i] / e.samples);
      e.heat = reduce(l, mean, true);
      e.attribution = from_vector(x.shape(), mean);
      break;
    }
    case Method::IntegratedGradients: {
      if (opts.ig_steps < 1) throw Error(ErrorKind::Usage, "integrated gradients need at least 1 step");
      e.steps = opts.ig_steps;
      e.rule = opts.ig_rule;
      std::vector<float> b(xv.size(), 0.0f);
      e.baseline = "zeros";
      if (opts.baseline) {
        if (opts.baseline->shape() != x.shape())
          throw Error(ErrorKind::Usage, "the IG baseline has shape " + shape_str(opts.baseline->shape()) + ", the input " +
                                            shape_str(x.shape()));
        b = opts.baseline->to_f32_vector();
        e.baseline = "given";
      }
      // Riemann midpoint: α_k = (k + ½)/m, weights 1/m. Trapezoid: α_k = k/m, k = 0..m, end weights ½.
      std::vector<std::pair<double, double>> points;
      const int m = e.steps;
      if (e.rule == IgRule::Midpoint) {
        for (int k = 0; k < m; ++k) points.push_back({(k + 0.5) / m, 1.0 / m});
      } else {
        for (int k = 0; k <= m; ++k) points.push_back({static_cast<double>(k) / m, (k == 0 || k == m ? 0.5 : 1.0) / m});
      }
      std::vector<double> acc(xv.size(), 0.0);
      for (const auto& [alpha, w] : points) {
        std::vector<float> xp(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) xp[i] = static_cast<float>(b[i] + alpha * (xv[i] - b[i]));
        const std::vector<float> g = r.gradient(from_vector(x.shape(), xp));
        for (size_t i = 0; i < g.size(); ++i) acc[i] += w * g[i];
      }
      std::vector<float> attr(xv.size());
      double sum = 0;
      for (size_t i = 0; i < xv.size(); ++i) {
        attr[i] = static_cast<float>((static_cast<double>(xv[i]) - b[i]) * acc[i]);
        sum += (static_cast<double>(xv[i]) - b[i]) * acc[i];
      }
      e.baseline_value = r.forward(from_vector(x.shape(), b));
      e.target_value = r.forward(x);
      e.attribution_sum = sum;
      const double delta = e.target_value - e.baseline_value;
      e.completeness_error = std::abs(sum - delta) / std::max(std::abs(delta), 1e-12);
      e.heat = reduce(l, attr, false);
      e.attribution = from_vector(x.shape(), attr);
      break;
    }
    case Method::Occlusion: {
      const OcclusionGrid grid = occlusion_grid(l, opts);
      e.patch = grid.patch;
      e.stride = grid.stride;
      e.occlusion_value = opts.occlusion_value;
      e.target_value = r.forward(x);
      const int64_t ph = std::min(e.patch, l.height), pw = std::min(e.patch, l.width);
      std::vector<double> sum(static_cast<size_t>(l.height * l.width), 0.0);
      std::vector<int> count(sum.size(), 0);
      for (int64_t y0 : grid.ys)
        for (int64_t x0 : grid.xs) {
          std::vector<float> xo = xv;
          for (int64_t c = 0; c < l.channels; ++c)
            for (int64_t y = y0; y < y0 + ph; ++y)
              for (int64_t xx = x0; xx < x0 + pw; ++xx) xo[static_cast<size_t>(l.offset(c, y, xx))] = e.occlusion_value;
          const double d = e.target_value - r.forward(from_vector(x.shape(), xo));
          for (int64_t y = y0; y < y0 + ph; ++y)
            for (int64_t xx = x0; xx < x0 + pw; ++xx) {
              sum[static_cast<size_t>(y * l.width + xx)] += d;
              ++count[static_cast<size_t>(y * l.width + xx)];
            }
        }
      e.heat.height = l.height;
      e.heat.width = l.width;
      e.heat.signed_values = true;
      e.heat.values.resize(sum.size());
      for (size_t i = 0; i < sum.size(); ++i) e.heat.values[i] = count[i] ? static_cast<float>(sum[i] / count[i]) : 0.0f;
      break;
    }
    case Method::GradCam:
    case Method::GradCamPlusPlus:
    case Method::HiResCam: {
      r.gradient(x, &e.target_value);
      const std::string layer = opts.layer.empty() ? default_cam_layer(s) : opts.layer;
      e.layer = layer_grid(s, layer);
      e.heat = opts.method == Method::HiResCam ? hires_cam(s, e.layer, l.height, l.width)
                                               : grad_cam(s, e.layer, opts.method == Method::GradCamPlusPlus, l.height, l.width);
      e.channels = channel_importance(s, e.layer);
      break;
    }
  }
  // Leave the session on the input itself, with its gradients (the perturbing methods ran others last).
  // Occlusion is forward only (it works for models netlens cannot differentiate): no backward.
  if (opts.method == Method::SmoothGrad || opts.method == Method::IntegratedGradients) r.gradient(x, &e.target_value);
  if (opts.method == Method::Occlusion) r.forward(x);
  e.forward_runs = r.forwards;
  e.backward_runs = r.backwards;
  return e;
}

}  // namespace netlens::explain
