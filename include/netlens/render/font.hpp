// The label font: printable ASCII baked at build time (tools/font_bake.cpp, DejaVu Sans) into a
// single-channel signed-distance-field atlas (0.5 = glyph edge), so labels stay sharp at any size.
#pragma once

#include <string_view>

namespace netlens::render {

struct FontGlyph {
  int x0, y0, x1, y1;  // atlas rectangle
  int xoff, yoff;      // offset of the rectangle from the pen position (pixels at em_px)
  float advance;       // pen advance at em_px
};

struct FontAtlas {
  int width, height;
  float em_px, ascent, descent;  // at em_px
  const unsigned char* pixels;   // width × height
  const FontGlyph* glyphs;       // codepoints 32..126
  const FontGlyph& glyph(char c) const {
    int i = (c >= 32 && c < 127) ? c - 32 : '?' - 32;
    return glyphs[i];
  }
  // Width in pixels of `text` drawn at size px.
  float text_width(std::string_view text, float px) const {
    float w = 0;
    for (char c : text) w += glyph(c).advance;
    return w * px / em_px;
  }
};

const FontAtlas& font_atlas();

}  // namespace netlens::render
