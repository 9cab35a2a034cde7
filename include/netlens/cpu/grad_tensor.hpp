// Reverse mode of the CPU "tensor" op family (register_tensor_ops): shared helpers and the split
// of the grad table over grad_tensor*.cpp.
//
// Contract (GradKernel in runtime.hpp, CpuGrad in cpu_ops.hpp): kernels ADD into grad_inputs and
// never read them; forward float values are float32 here (the backend converts), integer inputs
// (indices, shapes, axes) keep their dtype. Index inputs are re-validated: an out-of-range index
// is an Error{Input} naming the node, thrown before any OpenMP region.
//
// Inputs that only select a shape or a coordinate system (Resize's roi and scales, Dropout's
// ratio, CastLike's target, EyeLike's input, OneHot's depth) get no contribution:
// the output is locally constant in them, or (Resize scales/roi, as in PyTorch where they are
// Python numbers) they are treated as fixed hyperparameters.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"

namespace netlens::cpu::grad {

// For every element i of `shape` (row-major), with c = its contiguous offset and s = Σ i_k·strides[k]:
//   add_scatter: dst[s] += src[c]   (the adjoint of a strided copy dst_c ← src_s)
//   add_gather:  dst[c] += src[s]
// Strides may be 0 (broadcast: add_scatter then sums) or negative. Big injective scatters and every
// gather run on several threads.
void add_scatter(float* dst, const float* src, const Shape& shape, const std::vector<int64_t>& strides);
void add_gather(float* dst, const float* src, const Shape& shape, const std::vector<int64_t>& strides);
// dst[i] += src[i].
void add_into(float* dst, const float* src, int64_t n);

// Validates and normalises (negative → +dim) indices along an axis of size dim.
void normalise_indices(std::vector<int64_t>& idx, int64_t dim, const std::string& node);

// Ops of register_tensor_ops that have a float output yet no gradient entry, with the reason.
// (Ops whose outputs are never float need no entry and are listed too, so a test can check that
// every forward op is accounted for.)
const std::map<std::string, std::string>& tensor_ops_without_gradient();

void register_tensor_index_grads(CpuGradTable& t);   // grad_tensor_index.cpp: Gather*, Scatter*, TopK...
void register_tensor_resize_grads(CpuGradTable& t);  // grad_tensor_resize.cpp: Resize, Upsample, Einsum

}  // namespace netlens::cpu::grad
