// The CPU backend: every op (the reference implementation), oneDNN for conv/matmul/pool.
#pragma once

#include <memory>

#include "netlens/runtime.hpp"

namespace netlens {

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace netlens
