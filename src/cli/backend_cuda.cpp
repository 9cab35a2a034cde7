// Linked when netlens is built with the CUDA backend.
#include "common.hpp"
#include "netlens/cuda.hpp"

namespace netlens::cli {

std::unique_ptr<Backend> make_cuda_backend_or_throw(const std::string& precision) {
  const std::optional<Precision> p = parse_precision(precision);
  if (!p) throw Error(ErrorKind::Usage, "--precision must be fp32, tf32 or fp16, got '" + precision + "'");
  return make_cuda_backend(0, *p);
}

CudaDeviceInfo probe_cuda() { return cuda_device_info(0); }

}  // namespace netlens::cli
