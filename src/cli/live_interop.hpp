// The live path's CUDA↔Vulkan interop for `netlens render --input DIR|VIDEO` (offscreen): the CUDA
// backend's activation arena is Vulkan-exported memory, each run signals a timeline semaphore on the
// backend's stream, and the render thread's one submission waits on it, makes the codes on the GPU
// (render::CodeBuilder) straight from the arena, and signals "consumed" — which the next run's
// stream waits for before it overwrites the arena. No host copy on the way to the frame; the host
// still receives the shown tensors' values afterwards (picking and labels read them), off the
// frame's critical path. Linked only when netlens_interop exists (live_interop_none.cpp otherwise).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "live.hpp"
#include "netlens/runtime.hpp"

namespace netlens::render {
class Context;
}

namespace netlens::cli {

class LiveInterop {
 public:
  virtual ~LiveInterop() = default;
  virtual render::Context& context() = 0;            // the renderer's context (same GPU as CUDA)
  virtual std::function<DeviceBuffer(Backend&, size_t)> arena_allocator() = 0;  // SessionOptions's
  virtual void attach(Backend& cuda) = 0;            // the CUDA backend of the session (its stream)
  virtual app::ResultUploader& uploader() = 0;
  // Releases every CUDA wait on the render side's "consumed" signal; call before the session and
  // the CUDA backend are destroyed (they drain the stream).
  virtual void release() = 0;
};

// The interop machinery when `interop` ("auto"|"on") and this machine allow it, else nullptr with
// the reason in *why (for the start-up line; `on` makes a reason an Error{Device}). `validation`:
// Vulkan validation layers required.
std::unique_ptr<LiveInterop> make_live_interop(const std::string& interop, bool validation, std::string* why);

}  // namespace netlens::cli
