// Model::render_png in a build without the Vulkan app (NETLENS_VULKAN=OFF): one clear error.
#include "model.hpp"

namespace netlens::pyapi {

std::string Model::render_png(const RenderOptions&) {
  throw Error(ErrorKind::Device, "render: this netlens was built without the Vulkan renderer (NETLENS_VULKAN=OFF)");
}

}  // namespace netlens::pyapi
