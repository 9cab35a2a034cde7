// Linked when netlens is built without the CUDA backend.
#include "common.hpp"

namespace netlens::cli {

std::unique_ptr<Backend> make_cuda_backend_or_throw(const std::string& /*precision*/) {
  throw Error(ErrorKind::Device, "no usable CUDA device: this netlens was built without the CUDA backend");
}

CudaDeviceInfo probe_cuda() {
  CudaDeviceInfo d;
  d.error = "this netlens was built without the CUDA backend";
  return d;
}

}  // namespace netlens::cli
