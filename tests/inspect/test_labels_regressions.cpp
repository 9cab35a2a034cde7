// Label files (inspect::read_labels, `--labels FILE`): the reader's contract, and the fuzzer's finds
// (scripts/run-fuzz.sh fuzz_labels keeps them in tests/inspect/inputs/labels) replayed as the fuzz
// entry does: read, then label a [1, 7] classifier output; each must pass or fail with one
// netlens::Error line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "netlens/core.hpp"
#include "netlens/inspect/predictions.hpp"

namespace fs = std::filesystem;
using namespace netlens;

namespace {

fs::path write_temp(const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("netlens_labels_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

}  // namespace

TEST(Labels, OneLabelPerLineCarriageReturnsDroppedLastLineOptional) {
  const fs::path p = write_temp("tench\r\ngoldfish\n\nshark");
  EXPECT_EQ(inspect::read_labels(p.string()), (std::vector<std::string>{"tench", "goldfish", "", "shark"}));
  fs::remove(p);
}

TEST(Labels, ClassifyUsesLabelsAndIndexesBeyondThem) {
  const fs::path p = write_temp("zero\none\n");
  const auto labels = inspect::read_labels(p.string());
  fs::remove(p);
  // Softmax of these logits ranks class 2 first, then 1, then 0 (computed by hand: exp is monotonic).
  const Tensor out = Tensor::from_f32({1, 3}, {0.0f, 1.0f, 2.0f});
  const inspect::Classification c = inspect::classify(out, "logits", labels, 3);
  ASSERT_EQ(c.top.size(), 1u);
  ASSERT_EQ(c.top[0].size(), 3u);
  EXPECT_EQ(c.top[0][0].index, 2);
  EXPECT_EQ(c.top[0][0].label, "");  // beyond the file
  EXPECT_EQ(c.top[0][1].label, "one");
  EXPECT_EQ(c.top[0][2].label, "zero");
}

TEST(FuzzRegressions, Labels) {
  const fs::path dir = fs::path(NETLENS_INSPECT_INPUTS) / "labels";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    try {
      const auto labels = inspect::read_labels(e.path().string());
      const Tensor out = Tensor::from_f32({1, 7}, {0.1f, 2.0f, -1.0f, 0.5f, 3.0f, 0.0f, 1.0f});
      inspect::classify(out, "logits", labels, 5);
      // The labels as a CTC dictionary: a [1, 4, lines + 1] output (class 0 is the blank).
      if (labels.size() < 4096) {
        std::vector<float> v(4 * (labels.size() + 1));
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 13);
        inspect::ctc_decode(Tensor::from_f32({1, 4, static_cast<int64_t>(labels.size()) + 1}, v), "ctc", labels);
      }
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << e.path();
    }
    ++n;
  }
  EXPECT_GT(n, 0) << dir << " is empty";
}
