// The shared logistic function (elementwise_sigmoid.hpp). Written with GCC/clang vector extensions
// (16 lanes; the x86-64-v3/default clones split them into 256/128-bit halves) rather than relying
// on auto-vectorisation, and selects by bit masks (no vector ternaries, which clang 14 rejects on
// these types), so every element, tail included, runs the same instruction sequence.
#include "elementwise_sigmoid.hpp"

#include "elementwise_vexp.hpp"

#include <algorithm>
#include <cstring>

namespace netlens::cpu::ew {

NETLENS_EW_CLONES
void sigmoid_floats(const float* x, float* y, int64_t n) {
  const VF zero = {};
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);
    VF v;
    load_lanes(x + i, m, v);
    // z = -|x| <= 0: exp(z) never overflows.
    const VI bits = (VI)v;
    const VI zb = bits | static_cast<int32_t>(0x80000000u);
    VF z = (VF)zb;
    // Below -87 exp(z) is under 1.7e-38: flushed to 0 (and 2^n below stays a normal float).
    const VI under = z < (zero - 87.f);  // all ones where true; NaN compares false
    const VI zv = (VI)z;
    const VI zc = (zv & ~under) | ((VI)zero & under);
    z = (VF)zc;  // 0 where flushed (its lanes are zeroed below)
    VF e;
    exp_nonpositive(z, e);
    const VI eb = (VI)e & ~under;
    e = (VF)eb;
    // x >= 0: 1 / (1 + e); below: e / (1 + e). NaN: e is NaN, and so is the result.
    const VF q = 1.f / (e + 1.f);
    const VF below = e * q;
    const VI pos = v >= zero;
    const VI sb = ((VI)q & pos) | ((VI)below & ~pos);
    const VF s = (VF)sb;
    store_lanes(y + i, m, s);
  }
}

}  // namespace netlens::cpu::ew
