// The live path's CUDA↔Vulkan interop (live::InteropPath, see include/netlens/live/uploader.hpp), for
// `netlens render --input DIR|VIDEO` and `netlens view --input DIR|VIDEO|camera`: the CUDA backend's activation arena is Vulkan-exported memory;
// each run signals a timeline semaphore on the backend's stream; the render thread's one submission
// waits on it, makes the codes on the GPU (render::CodeBuilder) straight from the arena, and signals
// "consumed", which the next run's stream waits for before it overwrites the arena. No host copy on
// the way to the frame: the host receives only the layers the view shows in 2D (the selected neuron's,
// the panels' layer: live::ResultSink::host_layers), before the render side's wait; a pick reads its
// one value on demand. Used by `render --input` and by `view` (a window's context options as base).
#pragma once

#include <memory>
#include <string>

#include "netlens/cuda.hpp"
#include "netlens/live/uploader.hpp"

namespace netlens::interop {

// The interop path when `interop` ("auto"|"on") and this machine allow it (live::choose_data_path
// over `cuda` and the Vulkan devices), else nullptr with the reason in *why (for the start-up line;
// `on` makes a missing requirement an Error{Device}). `validation`: Vulkan validation layers required.
// `base`: further context options (a window's), null for offscreen use.
std::unique_ptr<live::InteropPath> make_interop_path(const CudaDeviceInfo& cuda, const std::string& interop, bool validation,
                                                     std::string* why, const render::ContextOptions* base = nullptr);

}  // namespace netlens::interop
