// Linked when netlens is built without CUDA-Vulkan interop (no CUDA or no Vulkan).
#include "common.hpp"
#include "live_interop.hpp"

namespace netlens::cli {

std::unique_ptr<live::InteropPath> make_live_interop(const std::string& interop, bool, std::string* why) {
  const std::string reason = "this netlens was built without CUDA-Vulkan interop";
  if (interop == "on") throw Error(ErrorKind::Device, "--interop on: " + reason);
  if (why) *why = reason;
  return nullptr;
}

}  // namespace netlens::cli
