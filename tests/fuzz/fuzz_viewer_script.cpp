// libFuzzer entry for the viewer's script parser (viz::parse_script, `netlens view --script FILE`):
// any text must parse or fail with netlens::Error{Usage}; what it accepts must hold the numbers the
// viewer casts (finite, within the ranges script.hpp promises).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "netlens/core.hpp"
#include "netlens/viz/script.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto cmds =
        netlens::viz::parse_script(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.script");
    for (const auto& c : cmds) {
      if (c.line < 1 || c.name.empty()) std::abort();
      for (double v : c.nums)
        if (!std::isfinite(v) || std::fabs(v) > 1e9) std::abort();
    }
  } catch (const netlens::Error& e) {
    if (e.kind() != netlens::ErrorKind::Usage) std::abort();
  }
  return 0;
}
