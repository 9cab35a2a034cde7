// The CUDA backend's door for the CLI and the Python module: compiled in only when netlens_cuda
// exists (src/cli/CMakeLists.txt, src/python/CMakeLists.txt); registers itself at start-up.
#include "netlens/cli/common.hpp"
#include "netlens/cuda.hpp"

namespace netlens::cli {
namespace {

const OptionalPartRegistrar kCuda([](OptionalParts& p) {
  p.make_cuda = [](const std::string& precision) {
    const std::optional<Precision> prec = parse_precision(precision);
    if (!prec) throw Error(ErrorKind::Usage, "--precision must be fp32, tf32 or fp16, got '" + precision + "'");
    return make_cuda_backend(0, *prec);
  };
  p.probe_cuda = [] { return cuda_device_info(0); };
});

}  // namespace
}  // namespace netlens::cli
