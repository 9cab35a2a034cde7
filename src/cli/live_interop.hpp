// The CLI's door to the live interop path (live::InteropPath; implemented with interop in
// src/interop/live_uploader.cpp). live_interop.cpp, compiled in only when netlens_interop exists,
// registers the factory at start-up (as the optional parts of common.hpp do); without it the door
// says why there is no interop.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "netlens/core.hpp"
#include "netlens/live/uploader.hpp"

namespace netlens::cli {

using LiveInteropFactory =
    std::function<std::unique_ptr<live::InteropPath>(const std::string& interop, bool validation, std::string* why)>;

// Filled by live_interop.cpp's registrar; empty in a build without interop.
inline LiveInteropFactory& live_interop_factory() {
  static LiveInteropFactory factory;
  return factory;
}

// The interop machinery when `interop` ("auto"|"on") and this machine allow it, else nullptr with
// the reason in *why (for the start-up line; `on` makes a reason an Error{Device}). `validation`:
// Vulkan validation layers required.
inline std::unique_ptr<live::InteropPath> make_live_interop(const std::string& interop, bool validation,
                                                            std::string* why) {
  if (live_interop_factory()) return live_interop_factory()(interop, validation, why);
  const std::string reason = "this netlens was built without CUDA-Vulkan interop";
  if (interop == "on") throw Error(ErrorKind::Device, "--interop on: " + reason);
  if (why) *why = reason;
  return nullptr;
}

}  // namespace netlens::cli
