// `netlens render --ui`: the panels drawn into the offscreen frame, so that figures with panels can
// be produced headless. The decoration builds its ImGui frames before the renderer's first frame
// (two of them, so that every window has its final layout), then the renderer records the last one.
#pragma once

#include <memory>
#include <string>

#include "netlens/runtime.hpp"
#include "render_command.hpp"

namespace netlens::ui {

// `input_path`: shown by the input chooser. `rects_json`: when not empty, finish() writes the panel
// windows there: {"frame": [w, h], "font_px": f, "panels": [{"name", "x", "y", "w", "h"}...]}, in
// frame pixels (what tests check the image against). `labels`: a label file / CTC dictionary for the
// predictions panel ("" for none; Error{Io} when unreadable). Borrows the session.
std::shared_ptr<render::FrameDecoration> panel_decoration(const Session& s, const std::string& input_path,
                                                         const std::string& rects_json,
                                                         const std::string& labels = "");

}  // namespace netlens::ui
