// PNG output through stb_image_write (static: no symbol clash with other stb users).
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "netlens/render/renderer.hpp"

namespace netlens::render {

void write_png_rgba(const std::string& path, int w, int h, const uint8_t* rgba) {
  if (!stbi_write_png(path.c_str(), w, h, 4, rgba, w * 4))
    throw Error(ErrorKind::Io, "cannot write PNG '" + path + "'");
}

}  // namespace netlens::render
