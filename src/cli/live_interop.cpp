// Linked when netlens is built with CUDA-Vulkan interop: the CUDA device probed here, the path made
// by interop (src/interop/live_uploader.cpp).
#include "live_interop.hpp"

#include "common.hpp"
#include "live_uploader.hpp"

namespace netlens::cli {

std::unique_ptr<live::InteropPath> make_live_interop(const std::string& interop, bool validation, std::string* why) {
  return interop::make_interop_path(probe_cuda(), interop, validation, why);
}

}  // namespace netlens::cli
