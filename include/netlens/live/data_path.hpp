// How a run's activations reach the renderer, chosen once at start from what the machine offers,
// and named in one line (the viewer prints it; `netlens info --system` shows it):
//  - Interop: the CUDA backend writes activations into Vulkan memory it imported (src/interop/),
//    and signals a timeline semaphore the renderer waits on. Needs a CUDA device, a Vulkan device
//    with the same UUID, external memory fd, external semaphore fd and exportable timeline
//    semaphores, and a netlens built with both CUDA and Vulkan.
//  - DeviceStaging: CUDA backend, activations copied device → pinned host → Vulkan (staging).
//  - HostStaging: CPU backend (no CUDA), activations uploaded from host memory (staging).
// `--interop off` forces a staging path; `--interop on` makes a missing requirement an error.
// Pure logic over plain descriptions (no CUDA or Vulkan calls): unit-tested everywhere.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "netlens/render/types.hpp"

namespace netlens::live {

enum class DataPath { Interop, DeviceStaging, HostStaging };
const char* data_path_name(DataPath p);  // "cuda-vulkan interop", "cuda + staging copy", "cpu + staging upload"

struct DataPathInputs {
  bool cuda_backend = false;    // the inference backend in use is CUDA
  std::string cuda_reason;      // why not, when it is not ("no usable CUDA device: ...")
  bool interop_built = false;   // netlens was built with both CUDA and Vulkan
  std::array<uint8_t, 16> cuda_uuid{};
  std::vector<render::DeviceInfo> vulkan;  // every Vulkan device (render::list_devices())
  std::string interop = "auto";  // auto | on | off
};

struct DataPathChoice {
  DataPath path = DataPath::HostStaging;
  int vulkan_device = -1;  // for Interop: the index (into vulkan) of the device matching CUDA's UUID
  std::string line;        // "data path: cpu + staging upload (no CUDA device: ...)"
};

// Error{Usage} for an unknown --interop value; Error{Device} for `on` when interop is impossible
// (the line says which requirement is missing).
DataPathChoice choose_data_path(const DataPathInputs& in);

}  // namespace netlens::live
