// 16 floats as one GCC/clang vector, and its 16x16 register transpose: shared by the kernels that
// move between plain NCHW rows and 16-channel blocks (nn_conv.cpp's unblock16 for oneDNN's blocked
// outputs, nn_depthwise.cpp's channel-blocked copies). Private to src/cpu.
#pragma once

namespace netlens::cpu::nn {

// One zmm with AVX-512, two ymm or four xmm on the other clones; read and written in place through
// float pointers (unaligned, may alias the floats).
typedef float V16 __attribute__((vector_size(64), aligned(4), may_alias));
#define NETLENS_V16(p) (*reinterpret_cast<::netlens::cpu::nn::V16*>(p))
#define NETLENS_CV16(p) (*reinterpret_cast<const ::netlens::cpu::nn::V16*>(p))

// r[0..16) becomes its transpose: lane k of r[j] moves to lane j of r[k]. Four rounds: round b swaps
// the off-diagonal b x b blocks of every 2b x 2b block (rows i and i + b exchange the lanes with bit
// b set in row i against those with it clear in row i + b), each a pair of two-input shuffles.
// __builtin_shufflevector: GCC 12 and clang alike (GCC's __builtin_shuffle is not in clang, which
// builds the fuzz targets); lane k of the result is lane k of a for indices < 16, of c above.
__attribute__((always_inline)) inline void transpose16(V16* r) {
#define NETLENS_T_ROUND(B, LO, HI)                    \
  for (int i = 0; i < 16; ++i)                        \
    if ((i & (B)) == 0) {                             \
      const V16 a = r[i], c = r[i + (B)];             \
      r[i] = __builtin_shufflevector(a, c, LO);       \
      r[i + (B)] = __builtin_shufflevector(a, c, HI); \
    }
#define NETLENS_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define NETLENS_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define NETLENS_LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define NETLENS_HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define NETLENS_LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define NETLENS_HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define NETLENS_LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define NETLENS_HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
  NETLENS_T_ROUND(8, NETLENS_LO8, NETLENS_HI8)
  NETLENS_T_ROUND(4, NETLENS_LO4, NETLENS_HI4)
  NETLENS_T_ROUND(2, NETLENS_LO2, NETLENS_HI2)
  NETLENS_T_ROUND(1, NETLENS_LO1, NETLENS_HI1)
#undef NETLENS_LO8
#undef NETLENS_HI8
#undef NETLENS_LO4
#undef NETLENS_HI4
#undef NETLENS_LO2
#undef NETLENS_HI2
#undef NETLENS_LO1
#undef NETLENS_HI1
#undef NETLENS_T_ROUND
}

}  // namespace netlens::cpu::nn
