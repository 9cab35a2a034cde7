// Text inputs (`--text "..."`): a string → token ids → the integer tensor a text model reads.
// Character level: each UTF-8 character is looked up in a vocabulary (a JSON list of token strings,
// id = index, or a text file with one token per line, id = line number); with no vocabulary the
// ids are the UTF-8 bytes (0..255). Pure functions; no state, safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/graph.hpp"

namespace netlens {

class Vocabulary {
 public:
  // Reads FILE.json (a JSON list of strings) or any other file as one token per line (a trailing
  // "\r" is dropped). Throws Error{Io} when unreadable, Error{Input} naming the file and the entry
  // for a malformed file, an empty one, or a token listed twice.
  static Vocabulary load(const std::string& path);
  std::optional<int64_t> find(const std::string& token) const;
  size_t size() const { return tokens_.size(); }
  const std::string& token(int64_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  const std::string& path() const { return path_; }
  // The id unknown characters map to: "<unk>", "[UNK]" or "<UNK>" when listed, else none.
  std::optional<int64_t> unknown_id() const { return unk_; }

 private:
  std::string path_;
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t> index_;
  std::optional<int64_t> unk_;
};

struct TextTokens {
  std::vector<int64_t> ids;
  std::vector<std::string> labels;  // each token's text, for display ("\n" shown as "\\n")
};

// One token per UTF-8 character of `text` (per byte when `vocab` is null). A character not in the
// vocabulary takes its unknown id, or else throws Error{Input}: "--text: character 'x' (U+0078) at
// character N is not in the vocabulary FILE (V tokens)". Invalid UTF-8 is Error{Input} too (with a
// vocabulary; bytes need none). Empty text is Error{Input}.
TextTokens tokenize_chars(const std::string& text, const Vocabulary* vocab);

// The tensor for graph input `vi` holding `t.ids`: shape [1, T] for a rank-2 input ([T, 1] when
// only its second dim is fixed at 1: sequence-first models), [T] for rank 1, dtype the input's
// (int64, int32; a float input gets the ids as floats). Error{Input} naming the input for any other
// rank or dtype, or an id that does not fit the dtype.
Tensor text_tensor(const TextTokens& t, const ValueInfo& vi);

// "<model stem>.vocab.json" or "<model stem>.vocab.txt" beside `model_path`, or "" when neither exists.
std::string vocab_beside(const std::string& model_path);

}  // namespace netlens
