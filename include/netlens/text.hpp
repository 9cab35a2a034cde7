// Text inputs (`--text "..."`): a string → token ids → the integer tensor a text model reads.
// Three tokenizers (`--tokenizer`): char, word and WordPiece (text_words.cpp). Character level: each UTF-8 character is looked up in a vocabulary (a JSON list of token strings,
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
  // Reads FILE.json (a JSON list of strings, or an object {"tokenizer": "char|word|wordpiece",
  // "tokens": [...]} that declares its tokenizer) or any other file as one token per line (a trailing
  // "\r" is dropped). Throws Error{Io} when unreadable, Error{Input} naming the file and the entry
  // for a malformed file, an empty one, or a token listed twice.
  static Vocabulary load(const std::string& path);
  std::optional<int64_t> find(const std::string& token) const;
  size_t size() const { return tokens_.size(); }
  const std::string& token(int64_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  const std::string& path() const { return path_; }
  // The id unknown characters map to: "<unk>", "[UNK]" or "<UNK>" when listed, else none.
  std::optional<int64_t> unknown_id() const { return unk_; }
  // True when no token but the bracketed specials ("[CLS]", "<pad>") has an ASCII capital: the
  // word tokenizers then lower-case the text (as an uncased BERT vocabulary expects).
  bool lower_case() const;
  // The tokenizer a JSON object vocabulary declares ("" when none).
  const std::string& declared_tokenizer() const { return declared_; }
  // A JSON object vocabulary may also declare "prepend"/"append" (lists of its own tokens, e.g.
  // ["[CLS]"] and ["[SEP]"]: what the model was trained with around every text) and "max_tokens"
  // (the longest sequence the model takes, e.g. its position table's size; 0 = no limit). A listed
  // token that is not in the vocabulary, or a max_tokens that is not a positive integer, is Error{Input}.
  const std::vector<std::string>& prepend() const { return prepend_; }
  const std::vector<std::string>& append() const { return append_; }
  size_t max_tokens() const { return max_tokens_; }

 private:
  std::string path_;
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t> index_;
  std::optional<int64_t> unk_;
  std::string declared_;
  std::vector<std::string> prepend_, append_;
  size_t max_tokens_ = 0;
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

enum class TokenizerKind { Char, Word, WordPiece };
// "char" | "word" | "wordpiece"; Error{Usage} naming the value otherwise.
TokenizerKind parse_tokenizer(const std::string& name);

// BERT's basic split: whitespace separates words, each ASCII punctuation character is a word of its
// own, control characters are dropped, ASCII letters lower-cased when `lower`. Invalid UTF-8 is
// Error{Input}. (Unicode punctuation and CJK characters are not split, unlike BERT.)
std::vector<std::string> split_words(const std::string& text, bool lower);

// Word level (`wordpiece` false): one token per word of split_words (lower-cased when
// vocab.lower_case()). WordPiece: each word greedily split longest-match-first into pieces, the
// pieces after the first looked up as "##piece"; a word with no split or more than
// `max_chars_per_word` characters is one unknown token. Unknown words take vocab.unknown_id(), or
// else Error{Input}: "--text: word 'x' at word N is not in the vocabulary FILE (V tokens, no [UNK])".
// Labels are the tokens ("##able"). Empty text or text with no words is Error{Input}.
TextTokens tokenize_words(const std::string& text, const Vocabulary& vocab, bool wordpiece, size_t max_chars_per_word = 100);

// Dispatch: Char → tokenize_chars (vocab may be null); Word/WordPiece need a vocabulary (Error{Usage}).
// Then the vocabulary's prepend/append tokens go around the text's tokens, and more than its
// max_tokens in all is Error{Input}: "--text: N tokens ([CLS] included), more than the M the
// vocabulary FILE allows (max_tokens)".
TextTokens tokenize(const std::string& text, const Vocabulary* vocab, TokenizerKind kind);

// The tensor for graph input `vi` holding `t.ids`: shape [1, T] for a rank-2 input ([T, 1] when
// only its second dim is fixed at 1: sequence-first models), [T] for rank 1, dtype the input's
// (int64, int32; a float input gets the ids as floats). Error{Input} naming the input for any other
// rank or dtype, an id that does not fit the dtype, or a token count that differs from the input's
// fixed sequence length.
Tensor text_tensor(const TextTokens& t, const ValueInfo& vi);

// "<model stem>.vocab.json" or "<model stem>.vocab.txt" beside `model_path`, or "" when neither exists.
std::string vocab_beside(const std::string& model_path);

}  // namespace netlens
