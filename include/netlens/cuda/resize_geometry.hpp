// The Resize geometry the CUDA kernel uses (kernels/index.hpp resize_element), computed from a
// node the same way the CPU reference does. No CUDA types: tests/cuda evaluates resize_element
// with it on the host against the CPU backend.
#pragma once

#include "kernels/index.hpp"
#include "netlens/runtime.hpp"

namespace netlens::cuda {

kern::ResizeGeom resize_geometry(const NodeContext& ctx);

}  // namespace netlens::cuda
