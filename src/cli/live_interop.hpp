// The CLI's door to the live interop path (live::InteropPath; implemented with interop in
// src/interop/live_uploader.cpp). Linked as live_interop.cpp when netlens_interop exists,
// live_interop_none.cpp otherwise.
#pragma once

#include <memory>
#include <string>

#include "uploader.hpp"

namespace netlens::cli {

// The interop machinery when `interop` ("auto"|"on") and this machine allow it, else nullptr with
// the reason in *why (for the start-up line; `on` makes a reason an Error{Device}). `validation`:
// Vulkan validation layers required.
std::unique_ptr<live::InteropPath> make_live_interop(const std::string& interop, bool validation, std::string* why);

}  // namespace netlens::cli
