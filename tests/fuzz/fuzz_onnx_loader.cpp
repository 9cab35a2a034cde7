// libFuzzer entry for the ONNX loader. Any input must either load or fail with netlens::Error;
// every other outcome (another exception, a crash, a sanitizer report, a leak) is a bug.
// Built only with -DNETLENS_FUZZ=ON and clang; scripts/run-fuzz.sh drives it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "netlens/onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // base_dir "" refuses external data, so a fuzzed model cannot make the loader read files.
    netlens::load_onnx_bytes(std::string_view(reinterpret_cast<const char*>(data), size), "", "fuzz.onnx");
  } catch (const netlens::Error&) {
  }
  return 0;
}
