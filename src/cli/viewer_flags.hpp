// The window flags every `view` form reads the same way (`view MODEL` and `view CHECKPOINTS
// --timeline`): --size (the window), --camera | --view, --select, --gpu, --frames, --script,
// --validation, --lod-mean, --no-vsync. Each form declares these names in its own Args and adds its
// own flags; this reads them into the ViewerOptions the frame driver's window target takes.
#pragma once

#include "netlens/cli/command.hpp"
#include "netlens/app/viewer.hpp"

namespace netlens::cli {

// Error{Usage} naming the flag on a bad value, or when --camera and --view are both given.
void read_viewer_flags(const Args& a, app::ViewerOptions& v);

}  // namespace netlens::cli
