// The shared error function (elementwise_erf.hpp), in the style of elementwise_sigmoid.cpp: 16-lane
// vector extensions, selects by bit masks, the same instruction sequence for every element.
// Why not oneDNN: its erf is only reachable through gelu_erf (erf(x) = 2 gelu(sqrt2 x) / (sqrt2 x) - 1,
// two passes and a Taylor branch near 0: ViT-B/16's 12 Erf nodes took 1.25 ms each for 605K floats
// on one core), and a chain step could not reproduce its bits.
// The coefficients are least-squares fits in double precision (relative error for the x P(x^2)
// branch, absolute for R), checked in float32 arithmetic against math.erf over 500K points:
// at most 2.4 ulp.
#include "elementwise_erf.hpp"

#include <algorithm>
#include <cstring>

#include "elementwise_vexp.hpp"

namespace netlens::cpu::ew {

namespace {

// erf(x) / x as a polynomial in t = x^2 on [0, 1).
constexpr float kSmall[] = {1.128379107e+00f, -3.761262298e-01f, 1.128357202e-01f, -2.685340680e-02f,
                            5.187766626e-03f, -8.006663411e-04f, 7.845956861e-05f};
// exp(x^2) erfc(x) on [1, 4] as a polynomial in u = (x - 2.5) / 1.5.
constexpr float kLarge[] = {2.108063549e-01f,  -1.115214005e-01f, 5.611095950e-02f,  -2.699778974e-02f,
                            1.248403545e-02f,  -5.611767061e-03f, 2.425887156e-03f,  -9.155574371e-04f,
                            3.678659850e-04f,  -2.455057693e-04f, 9.640570352e-05f};

// p = c[0] + c[1] x + ... (vectors by reference: see elementwise_vexp.hpp).
template <size_t N>
__attribute__((always_inline)) inline void horner(const float (&c)[N], const VF& x, VF& p) {
  p = (VF){} + c[N - 1];
  for (size_t i = N - 1; i-- > 0;) p = p * x + c[i];
}

}  // namespace

NETLENS_EW_CLONES
void erf_floats(const float* x, float* y, int64_t n) {
  const VF zero = {};
  const VI sign_bit = (VI)zero | static_cast<int32_t>(0x80000000u);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);
    VF v;
    load_lanes(x + i, m, v);
    const VI bits = (VI)v;
    const VF ax = (VF)(bits & ~sign_bit);
    const VF t = ax * ax;
    VF ps;
    horner(kSmall, t, ps);
    const VF small = ax * ps;
    // |x| clamped to 4 (NaN too: it compares false and is restored below), so exp(-x^2) stays in
    // exp_nonpositive's range.
    const VI in_range = ax < (zero + 4.f);
    const VF xl = (VF)(((VI)ax & in_range) | ((VI)(zero + 4.f) & ~in_range));
    const VF u = (xl - 2.5f) * (1.f / 1.5f);
    VF r;
    horner(kLarge, u, r);
    const VF nx2 = zero - xl * xl;
    VF e;
    exp_nonpositive(nx2, e);
    const VF large = 1.f - e * r;
    const VI is_small = ax < (zero + 1.f);
    VI res = ((VI)small & is_small) | ((VI)large & ~is_small);
    res = (res & in_range) | ((VI)(zero + 1.f) & ~in_range);
    res |= bits & sign_bit;
    const VI nan = v != v;
    res = (res & ~nan) | (bits & nan);
    const VF s = (VF)res;
    store_lanes(y + i, m, s);
  }
}

}  // namespace netlens::cpu::ew
