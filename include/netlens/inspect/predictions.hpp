// Predictions: what a model's output says, in words.
// - Classifier: top-k of an output [N, C] (or [C], or [N, C, 1, 1]: every dim but the batch and the
//   largest must be 1), per batch item, with labels (label file: one label per line, index i = line i;
//   missing labels print as the index). Softmax is applied first unless the row already looks like
//   a distribution (every value ≥ 0 and the row sums to 1 ± 1e-3); `softmax_applied` says which.
// - CTC text recogniser (PP-OCR rec): output [N, T, C]; greedy decoding (argmax per step, collapse
//   repeats, drop blank class 0). Dictionary: class i ≥ 1 is line i−1 of the dictionary file, and
//   when C = lines + 2 the last class is a space (PaddleOCR's use_space_char); C = lines + 1 has
//   no space class; any other C is an Error{Usage}. A character's confidence is the mean over its
//   collapsed steps of the step's max probability (softmax applied per step when the rows are not
//   already distributions).
// - Auto-detection (predictions()): a rank-3 output whose last dim is dictionary lines + 1 or + 2 is
//   decoded as CTC (needs the dictionary); anything else is a classifier.
// Threads: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"

namespace netlens::inspect {

// One label per line; a trailing '\r' is dropped; the last line may lack its '\n'. Error{Io} when
// the file cannot be read.
std::vector<std::string> read_labels(const std::string& path);

struct Ranked {
  int64_t index = 0;
  double score = 0;     // probability (after softmax where applied)
  std::string label;    // "" without labels or beyond the file
};

struct Classification {
  std::string tensor;
  bool softmax_applied = false;
  std::vector<std::vector<Ranked>> top;  // per batch item, best first
};

struct CtcChar {
  int64_t cls = 0;       // class index
  int64_t first_step = 0, steps = 0;  // where it was read and over how many steps
  std::string text;      // the character ("" when beyond the dictionary)
  double confidence = 0; // mean max probability over its steps
};

struct CtcDecoding {
  std::string tensor;
  int64_t steps = 0, classes = 0;
  bool space_class = false;     // C = lines + 2
  bool softmax_applied = false;
  std::vector<std::string> text;              // per batch item
  std::vector<std::vector<CtcChar>> chars;    // per batch item
  std::vector<double> confidence;             // per batch item: mean of its characters' (0 when empty)
};

Classification classify(const Tensor& output, const std::string& name, const std::vector<std::string>& labels,
                        size_t k = 5);
CtcDecoding ctc_decode(const Tensor& output, const std::string& name, const std::vector<std::string>& dictionary);
// Whether `shape` is a CTC output for a dictionary of `lines` entries.
bool looks_like_ctc(const Shape& shape, size_t lines);

struct Predictions {
  std::vector<Classification> classifications;
  std::vector<CtcDecoding> ctc;
  std::vector<std::pair<std::string, std::string>> skipped;  // (output, why) for outputs that are neither
};
// Every float graph output of a run, classified or decoded (see above). `labels` serves as both the
// label list and the CTC dictionary.
Predictions predictions(const ModelView& view, const std::vector<std::string>& labels, size_t k = 5);

nlohmann::json to_json(const Classification& c);
nlohmann::json to_json(const CtcDecoding& d);
nlohmann::json to_json(const Predictions& p);

}  // namespace netlens::inspect
