// Benchmark, not a timed test (every case is DISABLED_; run with --gtest_also_run_disabled_tests):
// forward vs backward latency of single nn nodes at ResNet-50 and PP-OCRv4 det layer shapes through
// Session::run / Session::backward (constant weights; input gradient only, the default), printed as
// a ratio. The target is backward <= 3x forward for whole models (`netlens bench --backward`).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "grad_check.hpp"
#include "netlens/onnx.hpp"

using namespace netlens;
using netlens::gradtest::random_tensor;

namespace {

using Ints = std::vector<int64_t>;

double median_ms(const std::function<void()>& f, int runs) {
  std::vector<double> t;
  f();  // warm-up (plans the backward kernels)
  for (int i = 0; i < runs; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bench(const std::string& label, const std::string& op, std::map<std::string, AttrValue> attrs, std::vector<Tensor> inputs,
           int64_t opset = 17) {
  // NETLENS_BENCH_ONLY=substring: only the matching layers (for profiling one of them).
  if (const char* only = std::getenv("NETLENS_BENCH_ONLY"); only && label.find(only) == std::string::npos) return;
  Graph g;
  g.opsets[""] = opset;
  Node n;
  n.name = label;
  n.op_type = op;
  n.attrs = std::move(attrs);
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    n.inputs.push_back(name);
    if (i == 0) {
      ValueInfo v{name, DType::Float32, {}, true};
      for (int64_t d : inputs[i].shape()) v.dims.push_back(Dim{d, ""});
      g.inputs.push_back(v);
      feeds[name] = inputs[i];
    } else {
      g.initializers[name] = inputs[i];
    }
  }
  n.outputs = {"y"};
  g.nodes.push_back(n);
  auto cpu = make_cpu_backend();
  Session s(std::move(g), {cpu.get()});
  s.run(feeds);
  const Tensor seed = random_tensor(s.info("y").shape, 3);
  const double f = median_ms([&] { s.run(feeds); }, 9);
  const double b = median_ms([&] { s.backward({{"y", seed}}); }, 9);
  std::printf("%-28s forward %8.3f ms  backward %8.3f ms  ratio %.2f\n", label.c_str(), f, b, b / f);
}

Tensor r(Shape s) { return random_tensor(std::move(s), 1, -0.1f, 0.1f); }

TEST(GradNnBench, DISABLED_ResNet50Layers) {
  bench("conv1 7x7/2", "Conv", {{"strides", Ints{2, 2}}, {"pads", Ints{3, 3, 3, 3}}}, {r({1, 3, 224, 224}), r({64, 3, 7, 7}), r({64})});
  bench("maxpool 3x3/2", "MaxPool", {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}},
        {r({1, 64, 112, 112})});
  bench("conv 3x3 64 @56", "Conv", {{"pads", Ints{1, 1, 1, 1}}}, {r({1, 64, 56, 56}), r({64, 64, 3, 3}), r({64})});
  bench("conv 1x1 64->256 @56", "Conv", {}, {r({1, 64, 56, 56}), r({256, 64, 1, 1}), r({256})});
  bench("conv 1x1 256->64 @56", "Conv", {}, {r({1, 256, 56, 56}), r({64, 256, 1, 1}), r({64})});
  bench("conv 3x3/2 128 @56", "Conv", {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}, {r({1, 128, 56, 56}), r({128, 128, 3, 3}), r({128})});
  bench("conv 3x3 256 @14", "Conv", {{"pads", Ints{1, 1, 1, 1}}}, {r({1, 256, 14, 14}), r({256, 256, 3, 3}), r({256})});
  bench("conv 1x1 2048->512 @7", "Conv", {}, {r({1, 2048, 7, 7}), r({512, 2048, 1, 1}), r({512})});
  bench("gap 2048 @7", "GlobalAveragePool", {}, {r({1, 2048, 7, 7})});
  bench("gemm 2048->1000", "Gemm", {{"transB", int64_t{1}}}, {r({1, 2048}), r({1000, 2048}), r({1000})});
  bench("batchnorm 64 @112", "BatchNormalization", {}, {r({1, 64, 112, 112}), r({64}), r({64}), r({64}), random_tensor({64}, 2, 0.5f, 1.0f)}, 15);
}

TEST(GradNnBench, DISABLED_PpOcrDetLayers) {
  bench("dw 3x3 @160x160", "Conv", {{"group", int64_t{32}}, {"pads", Ints{1, 1, 1, 1}}}, {r({1, 32, 160, 160}), r({32, 1, 3, 3}), r({32})});
  bench("dw 5x5/2 @80x80", "Conv", {{"group", int64_t{64}}, {"strides", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}},
        {r({1, 64, 80, 80}), r({64, 1, 5, 5}), r({64})});
  bench("conv 1x1 32->64 @160", "Conv", {}, {r({1, 32, 160, 160}), r({64, 32, 1, 1}), r({64})});
  bench("conv 3x3 96->24 @160", "Conv", {{"pads", Ints{1, 1, 1, 1}}}, {r({1, 96, 160, 160}), r({24, 96, 3, 3}), r({24})});
  bench("convT 2x2/2 24->24 @160", "ConvTranspose", {{"strides", Ints{2, 2}}}, {r({1, 24, 160, 160}), r({24, 24, 2, 2}), r({24})});
  bench("convT 2x2/2 24->1 @320", "ConvTranspose", {{"strides", Ints{2, 2}}}, {r({1, 24, 320, 320}), r({24, 1, 2, 2}), r({1})});
}


// ---------------------------------------------------------------------------------------------
// Whole models: forward and backward (from the top class / largest output element, input gradient
// only) with the time of every op type summed over the nodes, through a backend that wraps the CPU
// backend's kernels with a clock. Models come from .cache/models (scripts/setup.sh).
class TimedBackend final : public Backend {
 public:
  explicit TimedBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::map<std::string, double> fwd_ms, bwd_ms;

  std::string name() const override { return inner_->name(); }
  DeviceKind device() const override { return inner_->device(); }
  std::optional<std::string> unsupported_reason(const NodeContext& c) const override { return inner_->unsupported_reason(c); }
  std::unique_ptr<Kernel> plan(const NodeContext& c) override {
    struct K final : Kernel {
      std::unique_ptr<Kernel> k;
      double* acc;
      void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
        const auto a = std::chrono::steady_clock::now();
        k->run(in, out);
        *acc += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
      }
    };
    auto k = std::make_unique<K>();
    k->k = inner_->plan(c);
    k->acc = &fwd_ms[c.node.op_type];
    return k;
  }
  std::optional<std::string> backward_unsupported_reason(const NodeContext& c) const override {
    return inner_->backward_unsupported_reason(c);
  }
  std::unique_ptr<GradKernel> plan_backward(const NodeContext& c, const std::vector<bool>& need) override {
    struct K final : GradKernel {
      std::unique_ptr<GradKernel> k;
      double* acc;
      void run(const GradViews& v) override {
        const auto a = std::chrono::steady_clock::now();
        k->run(v);
        *acc += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
      }
    };
    auto k = std::make_unique<K>();
    k->k = inner_->plan_backward(c, need);
    k->acc = &bwd_ms[c.node.op_type];
    return k;
  }
  size_t available_memory() const override { return inner_->available_memory(); }
  DeviceBuffer allocate(size_t bytes) override { return inner_->allocate(bytes); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override { inner_->copy_from_host(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { inner_->copy_to_host(dst, src, bytes); }
  void synchronize() override { inner_->synchronize(); }

 private:
  std::unique_ptr<Backend> inner_;
};

void bench_model(const std::string& file, const Shape& input_shape, bool weights = false) {
  const std::string path = std::string(NETLENS_SOURCE_DIR) + "/.cache/models/" + file;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " missing (scripts/setup.sh)";
  TimedBackend cpu(make_cpu_backend());
  Session s(load_onnx(path), {&cpu});
  const std::string in = s.graph().inputs[0].name;
  s.prepare({{in, input_shape}});
  const std::map<std::string, Tensor> feeds{{in, random_tensor(input_shape, 1, 0.0f, 1.0f)}};
  s.run(feeds);
  const std::string out = s.graph().outputs[0].name;
  Tensor y = s.activations().fetch(out).cast(DType::Float32);
  Tensor seed(DType::Float32, y.shape());
  std::memset(seed.data(), 0, seed.nbytes());
  const float* yp = y.data_as<float>();
  seed.data_as<float>()[std::max_element(yp, yp + y.numel()) - yp] = 1.0f;
  s.backward({{out, seed}}, GradientOptions{weights});
  const int runs = 5;
  for (auto& [op, ms] : cpu.fwd_ms) ms = 0;  // the kernels hold pointers to these entries
  for (auto& [op, ms] : cpu.bwd_ms) ms = 0;
  std::vector<double> tf, tb;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    s.run(feeds);
    auto b = std::chrono::steady_clock::now();
    s.backward({{out, seed}}, GradientOptions{weights});
    auto c = std::chrono::steady_clock::now();
    tf.push_back(std::chrono::duration<double, std::milli>(b - a).count());
    tb.push_back(std::chrono::duration<double, std::milli>(c - b).count());
  }
  std::sort(tf.begin(), tf.end());
  std::sort(tb.begin(), tb.end());
  std::printf("%s%s: forward median %.1f ms, backward median %.1f ms, ratio %.2f (min %.1f / %.1f)\n", file.c_str(),
              weights ? " (with weight gradients)" : "", tf[runs / 2],
              tb[runs / 2], tb[runs / 2] / tf[runs / 2], tf[0], tb[0]);
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [op, ms] : cpu.bwd_ms) rows.emplace_back(ms, op);
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& [ms, op] : rows)
    std::printf("  %-24s forward %8.2f ms/run  backward %8.2f ms/run\n", op.c_str(), cpu.fwd_ms[op] / runs, ms / runs);
}

TEST(GradNnBench, DISABLED_ResNet50) { bench_model("resnet50.onnx", {1, 3, 224, 224}); }
TEST(GradNnBench, DISABLED_ResNet50WithWeightGradients) { bench_model("resnet50.onnx", {1, 3, 224, 224}, true); }
TEST(GradNnBench, DISABLED_PpOcrV4Det) { bench_model("ppocrv4_det.onnx", {1, 3, 640, 640}); }

}  // namespace
