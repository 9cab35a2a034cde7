// Reverse mode for the CPU backend's tensor ops (CpuGrad contract in cpu_ops.hpp).
#include "cpu_ops.hpp"

namespace netlens::cpu {

void register_tensor_grads(CpuGradTable& t) { (void)t; }

}  // namespace netlens::cpu
