// libFuzzer entry for the .npy reader: any file must be read or refused with netlens::Error.
// read_npy takes a path, so each input is written to a per-process scratch file first.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "netlens/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/netlens_fuzz_npy_" + std::to_string(::getpid()) + ".npy";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    netlens::read_npy(path);
  } catch (const netlens::Error&) {
  }
  return 0;
}
