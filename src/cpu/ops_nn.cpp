#include "cpu_ops.hpp"

namespace netlens::cpu {

void register_nn_ops(CpuOpTable& t) { (void)t; }

}  // namespace netlens::cpu
