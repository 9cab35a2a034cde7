// libFuzzer entry for label files (inspect::read_labels, `--labels FILE`) and their use by
// classify(): any file must be read (one label per line) or refused with netlens::Error, and the
// labels must index a classifier output without going out of bounds. read_labels takes a path, so
// each input is written to a per-process scratch file first.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "netlens/core.hpp"
#include "netlens/inspect/predictions.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/netlens_fuzz_labels_" + std::to_string(::getpid()) + ".txt";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const std::vector<std::string> labels = netlens::inspect::read_labels(path);
    // A [1, 7] classifier output: fewer, as many or more labels than classes.
    netlens::Tensor out = netlens::Tensor::from_f32({1, 7}, {0.1f, 2.0f, -1.0f, 0.5f, 3.0f, 0.0f, 1.0f});
    netlens::inspect::classify(out, "logits", labels, 5);
    // The labels as a CTC dictionary: a [1, 4, lines + 1] output (class 0 is the blank).
    if (labels.size() < 4096) {
      std::vector<float> v(4 * (labels.size() + 1));
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 13);
      netlens::inspect::ctc_decode(netlens::Tensor::from_f32({1, 4, static_cast<int64_t>(labels.size()) + 1}, v), "ctc", labels);
    }
  } catch (const netlens::Error&) {
  }
  return 0;
}
