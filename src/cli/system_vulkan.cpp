// `info --system`, Vulkan part: compiled in only when the renderer is built (src/cli/CMakeLists.txt),
// registered as an optional part (common.hpp).
#include <cstdio>

#include "netlens/cli/common.hpp"
#include "netlens/render/types.hpp"
#include "netlens/live/data_path.hpp"
#include "netlens/live/uploader.hpp"

namespace netlens::cli {

namespace {

void print_vulkan_devices(const CudaDeviceInfo& cuda, const std::string& interop) {
  std::vector<render::DeviceInfo> devs;
  try {
    devs = render::list_devices();
  } catch (const Error& e) {
    std::printf("vulkan     none: %s\n", e.what());
  }
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  // Vulkan's packed version (VK_API_VERSION_MAJOR/MINOR), decoded here so that the CLI needs no vulkan.h.
  for (size_t i = 0; i < devs.size(); ++i) {
    const auto& d = devs[i];
    std::printf("vulkan %zu   %s (%s, Vulkan %u.%u%s), driver %s\n", i, d.name.c_str(), d.type.c_str(),
                (d.api_version >> 22) & 0x7Fu, (d.api_version >> 12) & 0x3FFu, d.usable ? "" : ", NOT usable",
                d.driver.c_str());
    std::printf("           uuid %s; external memory fd %s, semaphore fd %s, timeline %s (exportable %s)\n",
                uuid_string(d.uuid).c_str(), yes(d.external.memory_fd), yes(d.external.semaphore_fd),
                yes(d.external.timeline), yes(d.external.timeline_fd));
  }
  live::DataPathInputs in{.cuda_backend = cuda.usable,
                         .cuda_reason = cuda.usable ? "" : "no usable CUDA device: " + cuda.error,
                         .interop_built = live::interop_built(),
                         .cuda_uuid = cuda.uuid,
                         .vulkan = devs,
                         .interop = interop};
  const live::DataPathChoice choice = live::choose_data_path(in);
  // The choice live input takes, offscreen and in the window alike.
  std::printf("%s (render --input, view --input)\n", choice.line.c_str());
  if (choice.path == live::DataPath::Interop)
    std::printf("           view: staging upload (the window viewer does not use interop yet)\n");
}

const OptionalPartRegistrar kVulkanSystem([](OptionalParts& p) { p.print_vulkan_system = print_vulkan_devices; });

}  // namespace
}  // namespace netlens::cli
