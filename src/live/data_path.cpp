#include "netlens/live/data_path.hpp"

namespace netlens::live {

const char* data_path_name(DataPath p) {
  switch (p) {
    case DataPath::Interop: return "cuda-vulkan interop (zero-copy)";
    case DataPath::DeviceStaging: return "cuda + staging copy through pinned host memory";
    case DataPath::HostStaging: return "cpu + staging upload";
  }
  return "?";
}

DataPathChoice choose_data_path(const DataPathInputs& in) {
  if (in.interop != "auto" && in.interop != "on" && in.interop != "off")
    throw Error(ErrorKind::Usage, "--interop must be auto, on or off, got '" + in.interop + "'");
  DataPathChoice c;
  auto staging = [&](const std::string& why) {
    if (in.interop == "on") throw Error(ErrorKind::Device, "--interop on: " + why);
    c.path = in.cuda_backend ? DataPath::DeviceStaging : DataPath::HostStaging;
    c.vulkan_device = -1;
    c.line = std::string("data path: ") + data_path_name(c.path) + " (" + why + ")";
    return c;
  };
  if (!in.cuda_backend) return staging(in.cuda_reason.empty() ? "no CUDA backend" : in.cuda_reason);
  if (in.interop == "off") return staging("--interop off");
  if (!in.interop_built) return staging("this netlens was built without CUDA-Vulkan interop");
  int match = -1;
  for (size_t i = 0; i < in.vulkan.size(); ++i)
    if (in.vulkan[i].uuid == in.cuda_uuid) match = static_cast<int>(i);
  if (match < 0) return staging("no Vulkan device has the CUDA device's UUID " + uuid_string(in.cuda_uuid));
  const render::DeviceInfo& d = in.vulkan[static_cast<size_t>(match)];
  if (!d.usable) return staging("Vulkan device '" + d.name + "' lacks Vulkan 1.3 with dynamic rendering");
  if (!d.external.memory_fd) return staging("Vulkan device '" + d.name + "' has no VK_KHR_external_memory_fd");
  if (!d.external.semaphore_fd) return staging("Vulkan device '" + d.name + "' has no VK_KHR_external_semaphore_fd");
  if (!d.external.timeline || !d.external.timeline_fd)
    return staging("Vulkan device '" + d.name + "' cannot export timeline semaphores");
  c.path = DataPath::Interop;
  c.vulkan_device = match;
  c.line = std::string("data path: ") + data_path_name(c.path) + " on Vulkan device " + std::to_string(match) + " '" +
           d.name + "'";
  return c;
}

}  // namespace netlens::live
