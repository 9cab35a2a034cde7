// SPIR-V of the shaders in this folder, compiled by glslc at build time and embedded.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace netlens::shaders {

// The words of shader `name` ("slab.vert"), empty when unknown.
std::span<const uint32_t> spirv(std::string_view name);

}  // namespace netlens::shaders
