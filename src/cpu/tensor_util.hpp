// Helpers of the CPU "tensor" op family (ops_tensor.cpp, tensor_resize.cpp, tensor_einsum.cpp):
// byte-level strided copies (the engine of Transpose/Slice/Expand/Tile/DepthToSpace), dispatch on
// element size and on numeric type.
//
// Contract: views are host memory, shapes already checked by shape inference. Element sizes are
// 1, 2, 4 or 8 bytes. Nothing here throws inside an OpenMP region.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/runtime.hpp"
#include "netlens/runtime/shapes_tensor.hpp"

namespace netlens::cpu::tensor {

// Below this many bytes a copy runs on one thread.
constexpr int64_t kParallelBytes = 1 << 18;

// dst (contiguous, row-major `shape`) ← src where element (i0..in) is at
// src + sum(ik * strides[k]) elements. Strides may be negative (reversed Slice) or 0 (broadcast).
// Innermost contiguous runs are copied with memcpy; big copies use OpenMP.
void strided_copy(void* dst, const void* src, const Shape& shape, const std::vector<int64_t>& strides, size_t es);

// memcpy that splits big copies across threads; no-op when dst == src.
void parallel_memcpy(void* dst, const void* src, size_t bytes);

// Reads an integer tensor (any integer dtype) as int64 values.
std::vector<int64_t> read_ints(const TensorView& v);
// The product of dims [from, to) of s.
int64_t prod(const Shape& s, size_t from, size_t to);

// Calls f(T{}) with an unsigned type of `es` bytes (for moving elements around).
template <class F> void with_elem_size(size_t es, F&& f) {
  switch (es) {
    case 1: f(uint8_t{}); return;
    case 2: f(uint16_t{}); return;
    case 4: f(uint32_t{}); return;
    case 8: f(uint64_t{}); return;
    default: throw Error(ErrorKind::Internal, "tensor ops: unexpected element size " + std::to_string(es));
  }
}

// Calls f(T{}) with the native C++ type of a numeric dtype (Bool as uint8_t). Float16/BFloat16
// are not native: callers convert them (see with_float32).
template <class F> bool with_native(DType t, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); return true;
    case DType::Float64: f(double{}); return true;
    case DType::Int8: f(int8_t{}); return true;
    case DType::UInt8: case DType::Bool: f(uint8_t{}); return true;
    case DType::Int16: f(int16_t{}); return true;
    case DType::UInt16: f(uint16_t{}); return true;
    case DType::Int32: f(int32_t{}); return true;
    case DType::UInt32: f(uint32_t{}); return true;
    case DType::Int64: f(int64_t{}); return true;
    case DType::UInt64: f(uint64_t{}); return true;
    default: return false;
  }
}

// Runs fn with Float16/BFloat16 inputs and outputs replaced by float32 copies (converted back
// afterwards), for dtype-generic ops that do arithmetic (CumSum, TopK, ScatterND reductions).
void with_float32(std::span<const TensorView> in, std::span<const TensorView> out, const KernelFn& fn);

// Geometry shared by forward kernels (ops_tensor.cpp) and their gradients (grad_tensor.cpp): each
// op below is out (contiguous) ← in read at `strides`, so its gradient adds back along the same.
struct StridedView {
  Shape shape;                   // the output, possibly viewed with more dims
  std::vector<int64_t> strides;  // element strides into the input (0 = broadcast)
};
std::vector<int64_t> transpose_strides(const NodeContext& ctx);  // over the output shape
StridedView tile_view(const Shape& in, const Shape& out);
StridedView depth_space_view(const NodeContext& ctx);            // DepthToSpace (DCR/CRD), SpaceToDepth
// Pad: per dim, the input index each output index reads; -1 = the constant value.
std::vector<std::vector<int64_t>> pad_source_map(const tensor_params::PadParams& p, const Shape& in);

// Split's output infos, omitted ("") outputs included (the context leaves those Undefined; their
// extents still offset the later outputs): from shape inference when any output is omitted.
std::vector<TensorInfo> split_output_infos(const NodeContext& ctx);

void register_value_ops(CpuOpTable& t);   // tensor_values.cpp: Shape, Cast, Constant*, Range, TopK, CumSum...
void register_resize_ops(CpuOpTable& t);  // tensor_resize.cpp: Resize, Upsample
void register_einsum_ops(CpuOpTable& t);  // tensor_einsum.cpp: Einsum
void register_extra_ops(CpuOpTable& t);   // tensor_extra.cpp: GatherND, ScatterElements, EyeLike, ReverseSequence, Unique, Compress

}  // namespace netlens::cpu::tensor
