// Every sample model end to end on CUDA (+ CPU fallback) vs the CPU backend alone, in each
// precision mode (netlens/cuda.hpp): every intermediate tensor compared against one CPU reference
// run (relative L2 per tensor: fp32 <= 1e-4 — TF32 off, the two backends differ only in summation
// order, which compounds through ~100 layers; tf32 <= 3e-2; fp16 <= 6e-2 (cuda_test_util.hpp says
// where those come from), inputs of Conv/Gemm/
// MatMul rounded to 10/11-bit mantissas at every layer), then a second and third run (CUDA-graph
// replay) with new inputs compared on the graph outputs with the same tolerance. The per-mode
// worst tensor is printed so the tolerances can be checked against what the GPU really does.
// Models come from $NETLENS_MODEL_DIR (default <cache>/models); a missing one is skipped by name.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "cuda_test_util.hpp"
#include "netlens/onnx.hpp"

namespace netlens::test {
namespace {

std::string model_dir() {
  if (const char* d = std::getenv("NETLENS_MODEL_DIR")) return d;
  return NETLENS_TEST_MODEL_DIR;
}

struct ModelCase {
  const char* file;
  Shape input;  // used for the symbolic dims of the first input
};

std::map<std::string, Tensor> random_inputs(const Session& s, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::map<std::string, Tensor> in;
  for (const ValueInfo& vi : s.graph().inputs) {
    const TensorInfo& info = s.info(vi.name);
    Tensor t(DType::Float32, info.shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(g);
    in[vi.name] = info.dtype == DType::Float32 ? t : t.cast(info.dtype);
  }
  return in;
}

std::map<std::string, Shape> bind_shapes(const Graph& g, const Shape& want) {
  std::map<std::string, Shape> shapes;
  for (const ValueInfo& vi : g.inputs) {
    Shape s;
    for (size_t d = 0; d < vi.dims.size(); ++d)
      s.push_back(vi.dims[d].fixed() ? vi.dims[d].value : (d < want.size() ? want[d] : 1));
    shapes[vi.name] = s;
  }
  return shapes;
}

void PrintTo(const ModelCase& m, std::ostream* os) { *os << m.file << " " << shape_str(m.input); }

class CudaModels : public CudaTest, public ::testing::WithParamInterface<ModelCase> {};

TEST_P(CudaModels, EveryActivationMatchesCpu) {
  const ModelCase& mc = GetParam();
  const std::string path = model_dir() + "/" + mc.file;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "model not present: " << path;
  const Graph graph = load_onnx(path);
  const auto shapes = bind_shapes(graph, mc.input);

  Session ref(graph, {cpu_backend()});
  ref.prepare(shapes);
  struct Mode {
    Precision precision;
    std::unique_ptr<Session> session;
  };
  std::vector<Mode> modes;
  for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Fp16}) {
    std::string why;
    Backend* b = cuda_backend_for(p, &why);
    if (!b) {
      ADD_FAILURE() << precision_name(p) << ": no CUDA backend: " << why;
      continue;
    }
    auto gpu = std::make_unique<Session>(graph, std::vector<Backend*>{b, cpu_backend()});
    gpu->prepare(shapes);
    const auto& fb = gpu->report().fallback_nodes;
    std::string fallback;
    for (size_t i = 0; i < fb.size() && i < 20; ++i) fallback += (i ? ", " : "") + fb[i];
    std::printf("[ model    ] %s %s: %zu nodes, %zu on the CPU%s%s\n", mc.file, precision_name(p), graph.nodes.size(),
                fb.size(), fb.empty() ? "" : ": ", fallback.c_str());
    modes.push_back({p, std::move(gpu)});
  }

  const auto inputs = random_inputs(ref, 42);
  ref.run(inputs);
  for (Mode& m : modes) {
    SCOPED_TRACE(precision_name(m.precision));
    const double tol = model_tolerance(m.precision);
    Session& gpu = *m.session;
    gpu.run(inputs);
    double worst = 0, sum = 0;
    std::string worst_name;
    int compared = 0;
    for (const PlannedTensor& t : ref.planned()) {
      if (t.constant) continue;
      if (!gpu.activations().contains(t.name)) {
        ADD_FAILURE() << "tensor '" << t.name << "' is missing from the CUDA session";
        continue;
      }
      const Tensor want = ref.activations().fetch(t.name);
      const Tensor got = gpu.activations().fetch(t.name);
      const Compare r = compare_tensors(got, want, tol);
      EXPECT_TRUE(r.problem.empty()) << "tensor '" << t.name << "': " << r.problem;
      if (r.rel_l2 > worst) {
        worst = r.rel_l2;
        worst_name = t.name;
      }
      sum += r.rel_l2;
      ++compared;
    }
    EXPECT_GT(compared, 0);
    std::string outs;
    for (const ValueInfo& out : graph.outputs) {
      const Compare r = compare_tensors(gpu.activations().fetch(out.name), ref.activations().fetch(out.name), tol);
      char buf[64];
      std::snprintf(buf, sizeof buf, " %.3g", r.rel_l2);
      outs += buf;
    }
    std::printf("[ model    ] %s %s: %d tensors compared (tolerance %.0e), worst relative L2 %.3g (%s), mean %.3g, "
                "outputs%s\n",
                mc.file, precision_name(m.precision), compared, tol, worst, worst_name.c_str(),
                compared ? sum / compared : 0.0, outs.c_str());
  }

  // Later runs replay the recorded CUDA graph (when every node is on CUDA): new inputs must flow.
  for (uint32_t seed : {7u, 8u}) {
    const auto in2 = random_inputs(ref, seed);
    ref.run(in2);
    for (Mode& m : modes) {
      m.session->run(in2);
      for (const ValueInfo& out : graph.outputs) {
        const Compare r = compare_tensors(m.session->activations().fetch(out.name), ref.activations().fetch(out.name),
                                          model_tolerance(m.precision));
        EXPECT_TRUE(r.problem.empty()) << precision_name(m.precision) << ", run with seed " << seed << ", output '"
                                       << out.name << "': " << r.problem;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, CudaModels,
                         ::testing::Values(ModelCase{"ppocr_cls.onnx", {1, 3, 48, 192}},
                                           ModelCase{"ppocrv4_rec.onnx", {1, 3, 48, 320}},
                                           ModelCase{"ppocrv4_det.onnx", {1, 3, 320, 320}},
                                           ModelCase{"mobilenet_v2.onnx", {1, 3, 224, 224}},
                                           ModelCase{"resnet50.onnx", {1, 3, 224, 224}},
                                           ModelCase{"vgg16.onnx", {1, 3, 224, 224}}),
                         [](const ::testing::TestParamInfo<ModelCase>& i) {
                           std::string n = i.param.file;
                           n = n.substr(0, n.find('.'));
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace netlens::test
