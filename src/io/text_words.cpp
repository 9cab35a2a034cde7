// Word-level and WordPiece tokenizers (text.hpp): BERT's BasicTokenizer split (whitespace, then
// each punctuation character its own token, control characters dropped, ASCII lower-casing when
// the vocabulary is lower-case) and its WordpieceTokenizer (greedy longest-match-first, "##" for
// pieces inside a word, the whole word [UNK] when it has no split or is longer than max_chars).
// Differences from BERT, on purpose and documented in docs/text.md: only ASCII punctuation splits
// (BERT also splits Unicode P* and CJK characters) and no accent stripping.
#include <cctype>

#include "netlens/text.hpp"

namespace netlens {

namespace {

bool is_ascii_punct(unsigned char c) { return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126); }

// UTF-8 characters of `text`; Error{Input} at the first invalid byte.
std::vector<std::string> utf8_chars(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4 : 0;
    bool ok = n > 0 && i + n <= text.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (!ok) throw Error(ErrorKind::Input, "--text: invalid UTF-8 at byte " + std::to_string(i));
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

bool Vocabulary::lower_case() const {
  for (const std::string& t : tokens_) {
    const bool special = t.size() >= 2 && ((t.front() == '[' && t.back() == ']') || (t.front() == '<' && t.back() == '>'));
    if (special) continue;
    for (char c : t)
      if (std::isupper(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::vector<std::string> split_words(const std::string& text, bool lower) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(cur);
    cur.clear();
  };
  for (const std::string& ch : utf8_chars(text)) {
    const auto c = static_cast<unsigned char>(ch[0]);
    if (ch.size() == 1 && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      flush();
    } else if (ch.size() == 1 && (c < 0x20 || c == 0x7F)) {
      continue;  // control characters are dropped, as BERT's _clean_text does
    } else if (ch.size() == 1 && is_ascii_punct(c)) {
      flush();
      words.push_back(ch);
    } else {
      cur += ch.size() == 1 && lower ? std::string(1, static_cast<char>(std::tolower(c))) : ch;
    }
  }
  flush();
  return words;
}

TextTokens tokenize_words(const std::string& text, const Vocabulary& vocab, bool wordpiece, size_t max_chars_per_word) {
  if (text.empty()) throw Error(ErrorKind::Input, "--text: the text is empty");
  const std::vector<std::string> words = split_words(text, vocab.lower_case());
  if (words.empty()) throw Error(ErrorKind::Input, "--text: the text has no words");
  TextTokens t;
  auto unknown = [&](size_t w, const char* why) {
    const auto id = vocab.unknown_id();
    if (!id)
      throw Error(ErrorKind::Input, "--text: word '" + words[w] + "' at word " + std::to_string(w) + " " + why +
                                        " the vocabulary " + vocab.path() + " (" + std::to_string(vocab.size()) +
                                        " tokens, no [UNK])");
    t.ids.push_back(*id);
    t.labels.push_back(vocab.token(*id));
  };
  for (size_t w = 0; w < words.size(); ++w) {
    if (!wordpiece) {
      if (auto id = vocab.find(words[w])) {
        t.ids.push_back(*id);
        t.labels.push_back(words[w]);
      } else {
        unknown(w, "is not in");
      }
      continue;
    }
    const std::vector<std::string> chars = utf8_chars(words[w]);
    if (chars.size() > max_chars_per_word) {
      unknown(w, "is longer than max_chars_per_word for");
      continue;
    }
    std::vector<std::pair<int64_t, std::string>> pieces;
    bool bad = false;
    for (size_t start = 0; start < chars.size() && !bad;) {
      size_t end = chars.size();
      std::optional<int64_t> found;
      std::string piece;
      for (; start < end; --end) {
        piece.clear();
        if (start > 0) piece.append("##");
        for (size_t k = start; k < end; ++k) piece += chars[k];
        if ((found = vocab.find(piece))) break;
      }
      if (!found) bad = true;
      else pieces.emplace_back(*found, piece), start = end;
    }
    if (bad) {
      unknown(w, "has no WordPiece split in");
      continue;
    }
    for (auto& [id, p] : pieces) t.ids.push_back(id), t.labels.push_back(p);
  }
  return t;
}

TokenizerKind parse_tokenizer(const std::string& name) {
  if (name == "char") return TokenizerKind::Char;
  if (name == "word") return TokenizerKind::Word;
  if (name == "wordpiece") return TokenizerKind::WordPiece;
  throw Error(ErrorKind::Usage, "--tokenizer: '" + name + "' is not one of char, word, wordpiece");
}

namespace {

// The vocabulary's prepend/append tokens around `t`, and its max_tokens limit.
TextTokens with_specials(TextTokens t, const Vocabulary& vocab) {
  TextTokens r;
  for (const std::string& s : vocab.prepend()) r.ids.push_back(*vocab.find(s)), r.labels.push_back(s);
  r.ids.insert(r.ids.end(), t.ids.begin(), t.ids.end());
  r.labels.insert(r.labels.end(), t.labels.begin(), t.labels.end());
  for (const std::string& s : vocab.append()) r.ids.push_back(*vocab.find(s)), r.labels.push_back(s);
  if (vocab.max_tokens() > 0 && r.ids.size() > vocab.max_tokens()) {
    std::string specials;
    for (const auto* list : {&vocab.prepend(), &vocab.append()})
      for (const std::string& s : *list) specials += (specials.empty() ? "" : ", ") + s;
    throw Error(ErrorKind::Input, "--text: " + std::to_string(r.ids.size()) + " tokens" +
                                      (specials.empty() ? "" : " (" + specials + " included)") + ", more than the " +
                                      std::to_string(vocab.max_tokens()) + " the vocabulary " + vocab.path() +
                                      " allows (max_tokens)");
  }
  return r;
}

}  // namespace

TextTokens tokenize(const std::string& text, const Vocabulary* vocab, TokenizerKind kind) {
  if (kind == TokenizerKind::Char) return vocab ? with_specials(tokenize_chars(text, vocab), *vocab) : tokenize_chars(text, vocab);
  if (!vocab)
    throw Error(ErrorKind::Usage, std::string("--tokenizer ") + (kind == TokenizerKind::Word ? "word" : "wordpiece") +
                                      " needs a vocabulary (--vocab FILE or <model stem>.vocab.json/.txt)");
  return with_specials(tokenize_words(text, *vocab, kind == TokenizerKind::WordPiece), *vocab);
}

}  // namespace netlens
