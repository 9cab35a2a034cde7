// Host-side checks of the CUDA backward's plan-time arithmetic (no GPU needed; they run wherever
// the CUDA backend is built): the broadcast-reduction maps of launch_binary_grad, walked on the CPU
// exactly as the kernel walks them (kernels/index.hpp strided_offset, kernels/grad_index.hpp
// binary_grad_term), against a naive multi-index sum over the broadcast dims.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/grad_index.hpp"
#include "netlens/cuda/grad_maps.hpp"

namespace netlens::cuda {
namespace {

// What launch_binary_grad computes, on the host: dst[o] = Σ_r term(g[...], self[o], other[...]).
std::vector<double> kernel_walk(const BroadcastGrad& m, kern::BinaryGrad t, const std::vector<float>& g,
                                const std::vector<float>& self, const std::vector<float>& other) {
  std::vector<double> dst(static_cast<size_t>(m.n_out), 0.0);
  for (int64_t o = 0; o < m.n_out; ++o) {
    const int64_t bg = kern::strided_offset(m.kept_g, o), bo = kern::strided_offset(m.kept_other, o);
    for (int64_t r = 0; r < m.n_red; ++r) {
      const float gv = g[static_cast<size_t>(bg + kern::strided_offset(m.red_g, r))];
      const float ov = other[static_cast<size_t>(bo + kern::strided_offset(m.red_other, r))];
      dst[static_cast<size_t>(o)] += kern::binary_grad_term(t, gv, self[static_cast<size_t>(o)], ov, 1.0f);
    }
  }
  return dst;
}

// The same sum by multi-indices over the output (numpy broadcasting written out).
std::vector<double> naive(const Shape& part, const Shape& other_s, const Shape& full, kern::BinaryGrad t,
                          const std::vector<float>& g, const std::vector<float>& self, const std::vector<float>& other) {
  const size_t r = full.size();
  auto index_in = [&](const Shape& s, const std::vector<int64_t>& idx) {
    int64_t off = 0;
    const size_t lead = r - s.size();
    for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
    return off;
  };
  std::vector<double> dst(static_cast<size_t>(numel(part)), 0.0);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < numel(full); ++i) {
    int64_t rem = i;
    for (size_t d = r; d-- > 0;) {
      idx[d] = rem % full[d];
      rem /= full[d];
    }
    const int64_t p = index_in(part, idx), q = index_in(other_s, idx);
    dst[static_cast<size_t>(p)] +=
        kern::binary_grad_term(t, g[static_cast<size_t>(i)], self[static_cast<size_t>(p)], other[static_cast<size_t>(q)], 1.0f);
  }
  return dst;
}

TEST(CudaGradHost, BroadcastReductionMapsMatchNaiveSums) {
  struct Case {
    Shape a, b, out;
  };
  const Case cases[] = {
      {{2, 3, 4, 5}, {3, 1, 1}, {2, 3, 4, 5}},  // a per-channel bias (conv bias, BN-like Mul)
      {{2, 3, 4, 5}, {2, 3, 1, 1}, {2, 3, 4, 5}},  // squeeze-excitation scale
      {{4, 1, 6}, {1, 5, 1}, {4, 5, 6}},        // both broadcast
      {{7}, {3, 7}, {3, 7}},                    // lower rank
      {{}, {2, 3}, {2, 3}},                     // a scalar
      {{2, 3}, {2, 3}, {2, 3}},                 // no broadcast
      {{1, 1, 1}, {4, 3, 2}, {4, 3, 2}},        // everything reduced
  };
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  auto rnd = [&](const Shape& s) {
    std::vector<float> v(static_cast<size_t>(numel(s)));
    for (float& x : v) x = d(rng);
    return v;
  };
  for (const Case& c : cases) {
    const std::vector<float> g = rnd(c.out), a = rnd(c.a), b = rnd(c.b);
    for (kern::BinaryGrad t : {kern::BinaryGrad::G, kern::BinaryGrad::GOther}) {
      // Gradient of a (other = b) and of b (other = a).
      const BroadcastGrad ma = broadcast_grad_maps(c.a, c.b, c.out), mb = broadcast_grad_maps(c.b, c.a, c.out);
      EXPECT_EQ(ma.n_out * ma.n_red, numel(c.out));
      const auto ka = kernel_walk(ma, t, g, a, b), na = naive(c.a, c.b, c.out, t, g, a, b);
      const auto kb = kernel_walk(mb, t, g, b, a), nb = naive(c.b, c.a, c.out, t, g, b, a);
      ASSERT_EQ(ka.size(), na.size());
      ASSERT_EQ(kb.size(), nb.size());
      for (size_t i = 0; i < ka.size(); ++i) EXPECT_NEAR(ka[i], na[i], 1e-9) << shape_str(c.a) << " element " << i;
      for (size_t i = 0; i < kb.size(); ++i) EXPECT_NEAR(kb[i], nb[i], 1e-9) << shape_str(c.b) << " element " << i;
    }
  }
}

}  // namespace
}  // namespace netlens::cuda
