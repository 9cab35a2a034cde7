// Reverse mode for the CPU backend's elementwise ops (CpuGrad contract in cpu_ops.hpp).
#include "cpu_ops.hpp"

namespace netlens::cpu {

void register_elementwise_grads(CpuGradTable& t) { (void)t; }

}  // namespace netlens::cpu
