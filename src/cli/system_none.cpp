// `info --system`, Vulkan part, for a netlens built without the renderer.
#include <cstdio>

#include "common.hpp"

namespace netlens::cli {

void print_vulkan_system(const CudaDeviceInfo&, const std::string&) {
  std::printf("vulkan     not built (configured with NETLENS_VULKAN=OFF): no renderer, no live data path\n");
}

}  // namespace netlens::cli
