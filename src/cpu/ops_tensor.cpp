#include "cpu_ops.hpp"

namespace netlens::cpu {

void register_tensor_ops(CpuOpTable& t) { (void)t; }

}  // namespace netlens::cpu
