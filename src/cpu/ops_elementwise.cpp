#include "cpu_ops.hpp"

namespace netlens::cpu {

void register_elementwise_ops(CpuOpTable& t) { (void)t; }

}  // namespace netlens::cpu
