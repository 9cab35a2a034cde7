// What only the CUDA backend has, on the conformance harness's cases (tests/conformance: every op
// of every backend against the CPU, forward and backward, with guard bytes, precision modes and the
// direct-convolution mode included): the fp16 mode really rounds, refusals carry a reason, the
// Resize kernel's index arithmetic evaluated on the host, and cuBLAS opened only when first needed
// (the last two run without a GPU).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "conformance.hpp"
#include "cuda_test_util.hpp"
#include "netlens/cuda/resize_geometry.hpp"
#include "src/cuda/cublas_lib.hpp"

namespace netlens::test {
namespace {

namespace cf = netlens::conformance;

class CudaSpecific : public CudaTest {};

// fp16 computes on float16 copies: random float32 inputs are not representable in half, so the
// result must differ from the float32 reference by about the half rounding (unit roundoff 2^-11),
// more than float32 summation order ever does (~1e-7), and still be within tolerance.
TEST_F(CudaSpecific, Fp16RoundsItsInputs) {
  std::string why;
  Backend* b = cuda_backend_for(Precision::Fp16, &why);
  ASSERT_NE(b, nullptr) << why;
  if (b->name() != "cuda") GTEST_SKIP() << "harness self-check mode: not the CUDA backend";
  using V = std::vector<int64_t>;
  std::vector<cf::OpCase> cases = {
      cf::make_case("Gemm", {cf::var(cf::rand_f32({64, 256})), cf::cst(cf::rand_f32({256, 64}))}),
      cf::make_case("MatMul", {cf::var(cf::rand_f32({2, 64, 128})), cf::var(cf::rand_f32({2, 128, 32}))}),
  };
  // Float16 convolutions are opt-in (netlens/cuda.hpp says why).
  const char* fp16_conv = std::getenv("NETLENS_CUDA_FP16_CONV");
  if (fp16_conv && std::string(fp16_conv) == "1")
    cases.push_back(cf::make_case("Conv", {cf::var(cf::rand_f32({1, 16, 20, 20})), cf::cst(cf::rand_f32({32, 16, 3, 3}, -0.5f, 0.5f))},
                                  {{"pads", V{1, 1, 1, 1}}}));
  for (const cf::OpCase& c : cases) {
    std::string w;
    const auto p = cf::plan_case(c, &w);
    ASSERT_TRUE(p) << w;
    const cf::ForwardRun want = cf::run_forward(cf::cpu_backend(), c, *p), got = cf::run_forward(*b, c, *p);
    ASSERT_TRUE(want.problem.empty() && got.problem.empty()) << want.problem << got.problem;
    const cf::Compare r = cf::compare_l2(got.outputs[0], want.outputs[0], op_tolerance(Precision::Fp16));
    EXPECT_TRUE(r.problem.empty()) << c.label << ": " << r.problem;
    EXPECT_GT(r.rel_l2, 1e-5) << c.label << ": no float16 rounding visible (did it run in float32?)";
    std::printf("[ precision] fp16 %s: relative L2 %.3g\n", c.label.c_str(), r.rel_l2);
  }
}

// Unsupported configurations are refused with a reason (they then run on the CPU).
TEST_F(CudaSpecific, RefusesWhatItDoesNotImplement) {
  if (cuda_->name() != "cuda") GTEST_SKIP() << "harness self-check mode: not the CUDA backend";
  Node n;
  n.name = "r";
  n.op_type = "Resize";
  n.inputs = {"x", "", "s"};
  n.outputs = {"y"};
  n.attrs = {{"mode", std::string("cubic")}};
  NodeContext ctx{n, 13, {{DType::Float32, {1, 1, 4, 4}}, {}, {DType::Float32, {4}}}, {{DType::Float32, {1, 1, 8, 8}}},
                  {nullptr, nullptr, nullptr}};
  auto why = cuda_->unsupported_reason(ctx);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("cubic"), std::string::npos) << *why;
  Node q;
  q.name = "q";
  q.op_type = "QLinearConv";
  q.inputs = {"x"};
  q.outputs = {"y"};
  NodeContext qctx{q, 13, {{DType::UInt8, {1}}}, {{DType::UInt8, {1}}}, {nullptr}};
  ASSERT_TRUE(cuda_->unsupported_reason(qctx).has_value());
}

// The Resize kernel's arithmetic (kernels/index.hpp resize_element with the geometry the CUDA op
// plans) evaluated on the host against the CPU backend, on the harness's Resize cases.
TEST(CudaResizeOnHost, KernelArithmeticMatchesCpu) {
  const std::vector<cf::OpCase> cases = cf::resize_cases();
  ASSERT_GT(cases.size(), 20u);
  int64_t checked = 0;
  for (const cf::OpCase& c : cases) {
    SCOPED_TRACE(c.label);
    std::string w;
    const auto p = cf::plan_case(c, &w);
    ASSERT_TRUE(p) << w;
    const NodeContext ctx = cf::context_of(c, *p);
    const cf::ForwardRun want = cf::run_forward(cf::cpu_backend(), c, *p);
    ASSERT_TRUE(want.problem.empty()) << want.problem;
    const kern::ResizeGeom g = cuda::resize_geometry(ctx);
    Tensor got(DType::Float32, p->out[0].shape);
    for (int64_t t = 0; t < got.numel(); ++t)
      got.data_as<float>()[t] = kern::resize_element(c.inputs[0].value.data_as<float>(), g, t);
    const cf::Compare r = cf::compare_l2(got, want.outputs[0], 1e-6);
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    checked += got.numel();
  }
  EXPECT_GT(checked, 1000);
}

// cuBLAS is not loaded with the program (linked, libcublasLt's start-up cost every netlens process
// 70-130 ms and 216 MiB): this process, which links the CUDA backend as netlens does, has no
// libcublas mapped until cublas_lib() opens it, and every function the backend calls resolves.
// (CTest runs each test in a process of its own.) Needs no GPU: loading cuBLAS needs no driver.
bool cublas_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libcublas.so") != std::string::npos) return true;
  return false;
}

TEST(CublasLib, OpenedOnFirstUseWithEveryFunction) {
  EXPECT_FALSE(cublas_mapped()) << "libcublas is mapped before any CUDA backend was made";
  const cuda::CublasLib& lib = cuda::cublas_lib();
  EXPECT_TRUE(cublas_mapped());
  EXPECT_NE(lib.create, nullptr);
  EXPECT_NE(lib.destroy, nullptr);
  EXPECT_NE(lib.set_stream, nullptr);
  EXPECT_NE(lib.set_math_mode, nullptr);
  EXPECT_NE(lib.set_workspace, nullptr);
  EXPECT_NE(lib.sgemm, nullptr);
  EXPECT_NE(lib.sgemm_strided_batched, nullptr);
  EXPECT_NE(lib.gemm_ex, nullptr);
  EXPECT_NE(lib.gemm_strided_batched_ex, nullptr);
  EXPECT_EQ(&lib, &cuda::cublas_lib());
}

}  // namespace
}  // namespace netlens::test
