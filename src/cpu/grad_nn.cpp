// Reverse mode for the CPU backend's nn ops (CpuGrad contract in cpu_ops.hpp).
#include "cpu_ops.hpp"

namespace netlens::cpu {

void register_nn_grads(CpuGradTable& t) { (void)t; }

}  // namespace netlens::cpu
