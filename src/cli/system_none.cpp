// `info --system`, Vulkan part, for a netlens built without the renderer.
#include <cstdio>

#include "common.hpp"

namespace netlens::cli {

void print_vulkan_system(const CudaDeviceInfo&, const std::string& interop) {
  if (interop != "auto" && interop != "on" && interop != "off")
    throw Error(ErrorKind::Usage, "--interop must be auto, on or off, got '" + interop + "'");
  std::printf("vulkan     not built (configured with NETLENS_VULKAN=OFF): no renderer, no live data path\n");
  if (interop == "on") throw Error(ErrorKind::Device, "--interop on: this netlens was built without the Vulkan renderer");
  std::printf("data path: none (this netlens was built without the Vulkan renderer)\n");
}

}  // namespace netlens::cli
