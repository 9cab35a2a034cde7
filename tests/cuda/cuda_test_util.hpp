// Shared by the CUDA tests: one CUDA backend per process, or the reason there is none (the tests
// then GTEST_SKIP with that reason, e.g. on machines without a GPU or driver).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "netlens/cpu.hpp"
#include "netlens/cuda.hpp"

namespace netlens::test {

// NETLENS_CUDA_TEST_WITH_CPU=1 puts a second CPU backend in the CUDA backend's place: a self-check
// of the test harness itself (shape inference, reference runs, guards, comparisons) on machines
// without a GPU. It proves nothing about the CUDA backend.
inline Backend* cuda_backend(std::string* reason) {
  static std::string why;
  static std::unique_ptr<Backend> backend = []() -> std::unique_ptr<Backend> {
    if (const char* v = std::getenv("NETLENS_CUDA_TEST_WITH_CPU"); v && std::string(v) == "1") return make_cpu_backend();
    try {
      return make_cuda_backend(0);
    } catch (const Error& e) {
      why = e.what();
      return std::unique_ptr<Backend>();
    }
  }();
  if (reason) *reason = why;
  return backend.get();
}

// A CUDA backend computing in `p` (one per precision and process; Fp32 is cuda_backend's), or null
// with the reason. In the harness self-check mode, a CPU backend (which computes in fp32).
inline Backend* cuda_backend_for(Precision p, std::string* reason) {
  if (p == Precision::Fp32) return cuda_backend(reason);
  static std::map<Precision, std::unique_ptr<Backend>> backends;
  static std::map<Precision, std::string> why;
  if (!backends.count(p)) {
    if (const char* v = std::getenv("NETLENS_CUDA_TEST_WITH_CPU"); v && std::string(v) == "1") {
      backends[p] = make_cpu_backend();
    } else {
      try {
        backends[p] = make_cuda_backend(0, p);
      } catch (const Error& e) {
        backends[p] = nullptr;
        why[p] = e.what();
      }
    }
  }
  if (reason) *reason = why[p];
  return backends[p].get();
}

// Tolerances of the precision modes against the CPU reference (relative L2, documented in
// netlens/cuda.hpp). Per op: one rounding of the inputs to a 10/11-bit mantissa (TF32, fp16:
// unit roundoff 2^-11 ~ 4.9e-4) and fp32 accumulation give ~1e-3 at most on the conformance
// shapes; 5e-3 leaves room for the half-rounded conv output. Per tensor of a whole model: the
// error compounds through up to ~100 layers.
inline double op_tolerance(Precision p) { return p == Precision::Fp32 ? 1e-5 : 5e-3; }
// Per-tensor tolerances for whole models. tf32/fp16: twice the worst tensor measured on an H200
// (2026-11-27, run 3: tf32 1.46e-2 at PP-OCRv4 rec's swish_14.tmp_0 after ~100 layers; fp16
// 3.02e-2 at PP-OCRv4 det's sigmoid output, 3.2e-2 at ppocr_cls's p2o.Add.87 in run 4, both with float16
// convolutions on), since errors compound with depth.
inline double model_tolerance(Precision p) {
  return p == Precision::Fp32 ? 1e-4 : p == Precision::Tf32 ? 3e-2 : 6e-2;
}

inline Backend* cpu_backend() {
  static std::unique_ptr<Backend> backend = make_cpu_backend();
  return backend.get();
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    cuda_ = cuda_backend(&why);
    if (!cuda_) GTEST_SKIP() << why;
  }
  Backend* cuda_ = nullptr;
};

// Relative L2 error of `got` against `want` (absolute when `want` is all zeros), and whether the
// non-finite values agree (same positions, same kind). Returns a message when over `tol`.
struct Compare {
  double rel_l2 = 0;
  std::string problem;  // empty when everything is fine
};

inline Compare compare_tensors(const Tensor& got, const Tensor& want, double tol) {
  Compare r;
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) {
    r.problem = "dtype/shape mismatch: " + std::string(dtype_name(got.dtype())) + " " + shape_str(got.shape()) +
                " vs " + std::string(dtype_name(want.dtype())) + " " + shape_str(want.shape());
    return r;
  }
  const int64_t n = want.numel();
  if (!is_float(want.dtype())) {
    const auto a = got.to_i64_vector(), b = want.to_i64_vector();
    for (int64_t i = 0; i < n; ++i)
      if (a[i] != b[i]) {
        r.problem = "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " != " + std::to_string(b[i]);
        return r;
      }
    return r;
  }
  const auto a = got.to_f32_vector(), b = want.to_f32_vector();
  double err = 0, ref = 0;
  int64_t bad_nonfinite = 0, first_bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const bool fa = std::isfinite(a[i]), fb = std::isfinite(b[i]);
    if (!fa || !fb) {
      const bool same = (std::isnan(a[i]) && std::isnan(b[i])) || (a[i] == b[i]);
      if (!same) {
        ++bad_nonfinite;
        if (first_bad < 0) first_bad = i;
      }
      continue;
    }
    err += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    ref += double(b[i]) * b[i];
  }
  r.rel_l2 = ref > 0 ? std::sqrt(err / ref) : std::sqrt(err);
  if (bad_nonfinite)
    r.problem = std::to_string(bad_nonfinite) + " non-finite mismatches, first at " + std::to_string(first_bad) +
                ": got " + std::to_string(a[first_bad]) + ", want " + std::to_string(b[first_bad]);
  else if (!(r.rel_l2 <= tol))
    r.problem = "relative L2 error " + std::to_string(r.rel_l2) + " > " + std::to_string(tol);
  return r;
}

}  // namespace netlens::test
