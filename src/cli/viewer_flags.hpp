// The drawing flags every form reads the same way. The window's, for `view MODEL` and `view
// CHECKPOINTS --timeline`: --size (the window), --camera | --view, --select, --gpu, --frames,
// --script, --validation, --lod-mean, --no-vsync, into the ViewerOptions the frame driver's window
// target takes. The frame's, for `render MODEL` and `render CHECKPOINTS --timeline`: --size,
// --camera | --view, --select, --lod-mean, --values, into an app::FrameSpec. Each form declares
// these names in its own Args and adds its own flags.
#pragma once

#include "netlens/cli/command.hpp"
#include "netlens/app/view.hpp"
#include "netlens/app/viewer.hpp"

namespace netlens::cli {

// Error{Usage} naming the flag on a bad value, or when --camera and --view are both given.
void read_viewer_flags(const Args& a, app::ViewerOptions& v);
// The same errors; --values through viz::parse_value_mode.
void read_frame_flags(const Args& a, app::FrameSpec& fs);

}  // namespace netlens::cli
