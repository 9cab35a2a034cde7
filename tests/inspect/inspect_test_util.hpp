// Shared by the inspect tests (header only): tiny graphs built with the Graph API, seeded random tensors,
// CPU sessions with their ModelView, the PP-OCR sample inputs, and independent reference computations
// (full sort, long double sums) that the analyses are checked against.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "netlens/inspect/model_view.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace netlens::inspect::test {

inline ValueInfo vi(const std::string& name, const Shape& dims, DType t = DType::Float32) {
  ValueInfo v{name, t, {}, true};
  for (int64_t d : dims) v.dims.push_back(Dim{d, ""});
  return v;
}

inline Node node(const std::string& op, const std::string& name, std::vector<std::string> in,
                 std::vector<std::string> out, std::map<std::string, AttrValue> attrs = {}) {
  Node n;
  n.op_type = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attrs = std::move(attrs);
  return n;
}

// Float32 values uniform in [-1, 1), the same for the same seed (mt19937).
inline Tensor random_tensor(Shape s, uint32_t seed) {
  Tensor t(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
  return t;
}

// Float32 values normal with mean 0 and standard deviation sd, the same for the same seed.
inline Tensor randn(Shape s, uint32_t seed, float sd) {
  Tensor t(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
  return t;
}

// A graph being built: one float input "x", nodes appended in order, scalar constants as
// initializers.
struct GraphBuilder {
  Graph g;
  int consts = 0;
  explicit GraphBuilder(const Shape& x_shape, int64_t opset = 17) {
    g.opsets[""] = opset;
    g.inputs.push_back(vi("x", x_shape));
  }
  // A scalar initializer; returns its name.
  std::string c(float v) {
    const std::string name = "c" + std::to_string(consts++);
    g.initializers[name] = Tensor::scalar_f32(v);
    return name;
  }
  std::string add(const std::string& op, std::vector<std::string> in, const std::string& out) {
    g.nodes.push_back(node(op, op + "_" + std::to_string(g.nodes.size()), std::move(in), {out}));
    return out;
  }
  Node& last() { return g.nodes.back(); }
  Graph done(const std::string& output, const Shape& y_shape) {
    g.outputs.push_back(vi(output, y_shape));
    return g;
  }
};

// A CPU session and its view. The session borrows the backend and the view borrows the session;
// all three are on the heap, so a Ran can be moved.
struct Ran {
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Session> session;
  std::unique_ptr<ModelView> view;
  Tensor value(const std::string& t) const { return view->value(t); }
};

// Prepared for the graph's declared shapes, not run: enough for analyses of weights and structure.
inline Ran prepare_graph(Graph g) {
  Ran r;
  r.cpu = make_cpu_backend();
  r.session = std::make_unique<Session>(std::move(g), std::vector<Backend*>{r.cpu.get()});
  r.session->prepare();
  r.view = std::make_unique<ModelView>(*r.session);
  return r;
}

// Run once on these inputs.
inline Ran run_graph(Graph g, const std::map<std::string, Tensor>& inputs) {
  Ran r;
  r.cpu = make_cpu_backend();
  r.session = std::make_unique<Session>(std::move(g), std::vector<Backend*>{r.cpu.get()});
  r.session->run(inputs);
  r.view = std::make_unique<ModelView>(*r.session);
  return r;
}

inline std::string cache_dir() { return NETLENS_CACHE_DIR; }
inline std::string model_path(const std::string& file) { return cache_dir() + "/models/" + file; }
// assets/samples, found from the cache dir (<repo>/.cache) or the working directory.
inline std::string samples_dir() {
  for (std::filesystem::path p : {std::filesystem::path(cache_dir()).parent_path() / "assets/samples",
                                  std::filesystem::current_path() / "assets/samples"})
    if (std::filesystem::exists(p / "line_320x48.png")) return p.string();
  return "assets/samples";
}

// PaddleOCR's rec/cls preprocessing (BGR, (x/255−0.5)/0.5, as tests/models does) at width w and
// height 48; w = 0 keeps the image's own size.
inline ImagePreprocess ppocr_preprocess(int w) {
  ImagePreprocess pp;
  pp.width = w;
  pp.height = w ? 48 : 0;
  pp.bgr = true;  // PaddleOCR's OpenCV order (assets/samples/README.md)
  pp.mean = {0.5f, 0.5f, 0.5f};
  pp.std = {0.5f, 0.5f, 0.5f};
  return pp;
}

// PP-OCRv4 rec's input: the rendered text line.
inline Tensor rec_line_input() { return load_image(samples_dir() + "/line_320x48.png", ppocr_preprocess(320)); }

// Fails the calling test (instead of skipping) when the models were not fetched.
inline bool have_model(const std::string& file) {
  if (std::filesystem::exists(model_path(file))) return true;
  ADD_FAILURE() << model_path(file) << " missing: run scripts/fetch-models.sh";
  return false;
}

// Independent references ------------------------------------------------------------------------

// numpy.percentile(v, p) (method "linear") on a fully sorted copy.
inline double ref_percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

inline std::vector<double> finite_values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = t.get_f64(i);
    if (std::isfinite(x)) v.push_back(x);
  }
  return v;
}

struct RefMoments {
  double mean = 0, std = 0;
};
// Two-pass in long double.
inline RefMoments ref_moments(const std::vector<double>& v) {
  long double s = 0;
  for (double x : v) s += x;
  const long double m = s / static_cast<long double>(v.size());
  long double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {static_cast<double>(m), static_cast<double>(std::sqrt(ss / static_cast<long double>(v.size())))};
}

}  // namespace netlens::inspect::test
