// Flags shared by the commands that make frames (render, view): sizes and pixel positions.
#pragma once

#include <string>
#include <utility>

namespace netlens::cli {

// "1920x1080" → (w, h), each side in 16..8192; "X,Y" → (x, y). Error{Usage} naming the flag on bad text.
std::pair<int, int> parse_size(const std::string& text, const std::string& flag);
std::pair<int, int> parse_xy(const std::string& text, const std::string& flag);

}  // namespace netlens::cli
