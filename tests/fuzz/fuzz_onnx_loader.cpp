// libFuzzer entry for the ONNX loader and the planner behind it: any input must load, infer, fold,
// plan and (when small) run, or fail with netlens::Error; every other outcome (another exception, a
// crash, a sanitizer report, a leak, a hang) is a bug. See onnx_prepare.hpp for what one input does.
// Built only with -DNETLENS_FUZZ=ON and clang; scripts/run-fuzz.sh drives it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "onnx_prepare.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    netlens::fuzz::load_prepare_run(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
  } catch (const netlens::Error&) {
  }
  return 0;
}
