// Compiled in only when netlens is built with CUDA-Vulkan interop (src/cli/CMakeLists.txt): registers
// the live interop path (src/interop/live_uploader.cpp) with the CUDA device probed here.
#include "live_interop.hpp"

#include "netlens/cli/common.hpp"
#include "netlens/interop/live_uploader.hpp"

namespace netlens::cli {
namespace {

const OptionalPartRegistrar kInterop([](OptionalParts& p) {
  p.interop = true;
  live_interop_factory() = [](const std::string& interop, bool validation, std::string* why) {
    return interop::make_interop_path(probe_cuda(), interop, validation, why);
  };
});

}  // namespace
}  // namespace netlens::cli
