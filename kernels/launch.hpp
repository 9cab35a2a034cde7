// Launchers of the CUDA kernels, callable from plain C++ (no CUDA types in this header).
// Contract for every launcher:
// - pointers are device pointers; `stream` is a cudaStream_t passed as void*;
// - the kernel is enqueued on `stream` and the call returns without waiting;
// - the return value is the cudaError_t (as int) of the launch, 0 on success; callers check it
//   (src/cuda/check.hpp: NL_LAUNCH_CHECK) and turn failures into netlens::Error{Device};
// - n == 0 launches nothing and returns 0.
// Index helpers used by the kernels live in kernels/index.hpp (host-testable).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/index.hpp"
#include "netlens/core.hpp"

namespace netlens::kern {

// ---- elementwise.cu ---------------------------------------------------------------------------
enum class UnaryOp : int {
  Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Clip, Elu, Selu, Celu, Softplus, Softsign,
  Erf, Gelu, GeluTanh, Exp, Log, Sqrt, Neg, Abs, Reciprocal, Floor, Ceil, Round, Sin, Cos, Sign,
  Mish, ThresholdedRelu, Identity
};
// y = op(x) elementwise; dtype Float32 or Float16 (computed in float). a/b are the op's
// parameters: alpha (LeakyRelu, Elu, Celu, ThresholdedRelu, HardSigmoid), beta (HardSigmoid),
// alpha/gamma (Selu), min/max (Clip).
int launch_unary(UnaryOp op, DType dtype, const void* x, void* y, int64_t n, float a, float b, void* stream);
bool unary_supports(DType dtype);

enum class BinaryOp : int {
  Add, Sub, Mul, Div, Pow, Max, Min, PRelu, Mod, FMod, BitShiftLeft, BitShiftRight,
  Equal, Less, Greater, LessOrEqual, GreaterOrEqual,  // output Bool
  And, Or, Xor                                        // Bool in, Bool out
};
bool binary_is_compare(BinaryOp op);
// Whether launch_binary implements (op, input dtype).
bool binary_supports(BinaryOp op, DType dtype);
// y[i] = op(a[ma(i)], b[mb(i)]) for i in [0, n); ma/mb are strided maps over the output's dims
// (broadcast dims have stride 0). Output dtype: Bool for comparisons and logic, else `dtype`.
int launch_binary(BinaryOp op, DType dtype, const void* a, const void* b, void* y, const StridedMap& ma,
                  const StridedMap& mb, int64_t n, void* stream);
// out[i] = cond[mc(i)] ? x[mx(i)] : y[my(i)]; elements of elem_size bytes (1, 2, 4 or 8).
int launch_where(size_t elem_size, const void* cond, const void* x, const void* y, void* out,
                 const StridedMap& mc, const StridedMap& mx, const StridedMap& my, int64_t n, void* stream);
// y = cast(x): Float32/16/64, Int64/32/8, UInt8, Bool in any pair (float→int truncates, →Bool is != 0).
bool cast_supports(DType from, DType to);
int launch_cast(DType from, DType to, const void* x, void* y, int64_t n, void* stream);

// ---- tensor.cu ---------------------------------------------------------------------------------
// dst[dst_map(i)] = src[src_map(i)] for i in [0, n); both maps walk the same dims. Covers
// Transpose, Slice, Expand, Concat, Split, Tile and plain copies. elem_size 1, 2, 4 or 8.
int launch_strided_copy(size_t elem_size, const void* src, void* dst, const StridedMap& src_map,
                        const StridedMap& dst_map, int64_t n, void* stream);
// out[o, j, i] = data[o, indices[j], i]; out-of-range indices produce zeros.
int launch_gather(size_t elem_size, const void* data, const void* indices, bool indices_i64, void* out,
                  int64_t outer, int64_t axis_len, int64_t inner, int64_t num_indices, void* stream);
struct PadGeom {
  int rank = 0;
  int64_t in_dims[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  int64_t pad_begin[kMaxRank] = {};  // may be negative (cropping)
};
// `value` points to elem_size host bytes (the constant for PadMode::Constant).
int launch_pad(size_t elem_size, PadMode mode, const void* src, void* dst, const PadGeom& g, const void* value,
               void* stream);

// Resizes the last two dims of a float32 tensor seen as [outer, in_h, in_w].
int launch_resize(const float* x, float* y, const ResizeGeom& g, void* stream);

// ---- norm.cu -----------------------------------------------------------------------------------
// y[n, c, i] = x[n, c, i] * scale[c] + shift[c] (BatchNormalization folded at plan time).
int launch_channel_affine(const float* x, float* y, const float* scale, const float* shift, int64_t n,
                          int64_t c, int64_t inner, void* stream);
// Normalises each of `rows` rows of `cols` elements: (x - mean) / sqrt(var + eps), then
// * scale + bias. per_row_param false (LayerNorm): scale/bias indexed by column;
// true (InstanceNorm): indexed by row % channels. bias may be null.
int launch_row_norm(const float* x, float* y, const float* scale, const float* bias, int64_t rows, int64_t cols,
                    float eps, bool per_row_param, int64_t channels, void* stream);
// Softmax (or LogSoftmax) over the middle dim of [outer, axis_len, inner].
int launch_softmax(const float* x, float* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
                   void* stream);

// ---- pool.cu -----------------------------------------------------------------------------------
struct PoolGeom {
  int64_t nc = 1;  // N*C planes
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  bool max = true;
  bool count_include_pad = false;
};
// MaxPool / AveragePool over up to 3 spatial dims (unused leading dims have size 1).
int launch_pool(const float* x, float* y, const PoolGeom& g, void* stream);

// ---- reduce.cu ---------------------------------------------------------------------------------
enum class ReduceOp : int { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSumExp };
// y[o] = reduce over r of x[kept(o) + reduced(r)] (kept.offset and reduced.offset must be 0).
int launch_reduce(ReduceOp op, const float* x, float* y, const StridedMap& kept, const StridedMap& reduced,
                  int64_t n_out, int64_t n_red, void* stream);

// ---- conv.cu -----------------------------------------------------------------------------------
struct ConvGeom {
  int64_t n = 1, c = 1, k = 1, groups = 1;  // batch, input channels, output channels, groups
  // Spatial dims, right-aligned into 3 (unused leading dims: size 1, stride 1, no pad).
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kern[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};  // pad = begin pads
};
// Direct convolution (w [K, C/G, k...]) or, when `transposed`, transposed convolution
// (w [C, K/G, k...], ONNX ConvTranspose); bias [K] may be null. One thread per output: the
// fallback when cuDNN has no suitable engine, and exact-order float32 accumulation.
int launch_conv_direct(const float* x, const float* w, const float* bias, float* y, const ConvGeom& g, bool transposed,
                       void* stream);

}  // namespace netlens::kern
