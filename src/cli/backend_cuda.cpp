// Linked when netlens is built with the CUDA backend.
#include "common.hpp"
#include "netlens/cuda.hpp"

namespace netlens::cli {

std::unique_ptr<Backend> make_cuda_backend_or_throw() { return make_cuda_backend(0); }

}  // namespace netlens::cli
