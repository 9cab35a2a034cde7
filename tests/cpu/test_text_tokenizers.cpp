// Word-level and WordPiece tokenizers (netlens/text.hpp, src/io/text_words.cpp) against
// tests/cpu/text_tokenizer_ref.py, a hand-written Python copy of BERT's algorithm (Debian has no
// `transformers`), on real text: vocabularies built from GPL-3's words, Apache-2.0's first 4000
// characters tokenized (686 words, 140 of them unknown at word level; 1166 WordPiece tokens). Plus
// BERT's own published examples, the --tokenizer CLI flag and the bad-input errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "netlens/text.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The reference's output, in a folder of this process's own (removed at exit).
struct Ref {
  fs::path dir = fs::temp_directory_path() / ("netlens_text_tok." + std::to_string(::getpid()));
  nlohmann::json j;
  Ref() {
    const std::string cmd = "/usr/bin/python3 '" + std::string(NETLENS_SOURCE_DIR) + "/tests/cpu/text_tokenizer_ref.py' '" + dir.string() + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("text_tokenizer_ref.py failed");
    j = nlohmann::json::parse(read_file(dir / "ref.json"));
  }
  ~Ref() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};
const Ref& ref() {
  static Ref r;
  return r;
}

std::string err(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

Vocabulary vocab_of(const std::string& name, const std::vector<std::string>& tokens) {
  const fs::path p = fs::temp_directory_path() / ("netlens_text_tok." + std::to_string(::getpid()) + "." + name + ".txt");
  {
    std::ofstream f(p);
    for (const auto& t : tokens) f << t << "\n";
  }
  Vocabulary v = Vocabulary::load(p.string());
  fs::remove(p);
  return v;
}

}  // namespace

TEST(TextTokenizers, WordLevelMatchesThePythonReferenceOnApacheLicence) {
  const Ref& r = ref();
  const Vocabulary v = Vocabulary::load((r.dir / "word.vocab.txt").string());
  EXPECT_TRUE(v.lower_case());
  const TextTokens t = tokenize_words(read_file(r.dir / "text.txt"), v, false);
  const auto want = r.j["word"].get<std::vector<int64_t>>();
  ASSERT_EQ(t.ids.size(), want.size());
  EXPECT_EQ(t.ids, want);
  EXPECT_GT(r.j["word_unknown"].get<int>(), 0);  // the [UNK] path is exercised
}

TEST(TextTokenizers, WordPieceMatchesThePythonReferenceOnApacheLicence) {
  const Ref& r = ref();
  const Vocabulary v = Vocabulary::load((r.dir / "wordpiece.vocab.txt").string());
  const TextTokens t = tokenize(read_file(r.dir / "text.txt"), &v, TokenizerKind::WordPiece);
  EXPECT_EQ(t.ids, r.j["wordpiece"].get<std::vector<int64_t>>());
  EXPECT_EQ(t.labels, r.j["wordpiece_tokens"].get<std::vector<std::string>>());
  EXPECT_GT(t.ids.size(), 1000u);
}

TEST(TextTokenizers, BertsPublishedExamples) {
  // google-research/bert tokenization_test.py's vocabulary and cases.
  const Vocabulary v = vocab_of("bert", {"[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","});
  EXPECT_EQ(tokenize_words("unwanted running", v, true).labels, (std::vector<std::string>{"un", "##want", "##ed", "runn", "##ing"}));
  EXPECT_EQ(tokenize_words("unwanted running", v, true).ids, (std::vector<int64_t>{7, 4, 5, 8, 9}));
  EXPECT_EQ(tokenize_words("unwantedX running", v, true).labels, (std::vector<std::string>{"[UNK]", "runn", "##ing"}));
  EXPECT_EQ(split_words(" \tHeLLo!how  \n Are yoU?  ", true), (std::vector<std::string>{"hello", "!", "how", "are", "you", "?"}));
  EXPECT_EQ(split_words("HeLLo!how  \n Are yoU?  ", false), (std::vector<std::string>{"HeLLo", "!", "how", "Are", "yoU", "?"}));
  // The WordpieceTokenizer docstring: "unaffable" -> ["un", "##aff", "##able"].
  const Vocabulary a = vocab_of("aff", {"[UNK]", "un", "##aff", "##able", "a", "##a"});
  EXPECT_EQ(tokenize_words("unaffable", a, true).labels, (std::vector<std::string>{"un", "##aff", "##able"}));
  // max_input_chars_per_word: a longer word is one [UNK].
  EXPECT_EQ(tokenize_words("aaaa a", a, true, 3).labels, (std::vector<std::string>{"[UNK]", "a"}));
}

TEST(TextTokenizers, UnknownWordsWithoutUnkAreOneClearError) {
  const Vocabulary v = vocab_of("nounk", {"the", "licence", "##s", "."});
  std::string e = err([&] { tokenize_words("the licence grants.", v, false); });
  EXPECT_NE(e.find("word 'grants' at word 2 is not in the vocabulary"), std::string::npos) << e;
  EXPECT_NE(e.find("no [UNK]"), std::string::npos) << e;
  e = err([&] { tokenize_words("the licences. the grants", v, true); });
  EXPECT_NE(e.find("word 'grants' at word 4 has no WordPiece split in the vocabulary"), std::string::npos) << e;
  EXPECT_EQ(tokenize_words("the licences.", v, true).labels, (std::vector<std::string>{"the", "licence", "##s", "."}));
  e = err([&] { tokenize_words("  \n ", v, false); });
  EXPECT_NE(e.find("no words"), std::string::npos) << e;
  e = err([&] { tokenize(" x ", nullptr, TokenizerKind::Word); });
  EXPECT_NE(e.find("needs a vocabulary"), std::string::npos) << e;
  e = err([&] { parse_tokenizer("bpe"); });
  EXPECT_NE(e.find("'bpe' is not one of char, word, wordpiece"), std::string::npos) << e;
  e = err([&] { tokenize_words("ab\xC3", v, false); });
  EXPECT_NE(e.find("invalid UTF-8 at byte 2"), std::string::npos) << e;
}

TEST(TextTokenizers, JsonVocabularyDeclaresItsTokenizer) {
  const fs::path p = fs::temp_directory_path() / ("netlens_text_tok." + std::to_string(::getpid()) + ".vocab.json");
  std::ofstream(p) << R"({"tokenizer": "wordpiece", "tokens": ["[UNK]", "Un", "##aff"]})";
  const Vocabulary v = Vocabulary::load(p.string());
  EXPECT_EQ(v.declared_tokenizer(), "wordpiece");
  EXPECT_FALSE(v.lower_case());  // "Un": a cased vocabulary, the text keeps its case
  EXPECT_EQ(tokenize_words("Unaff unaff", v, true).labels, (std::vector<std::string>{"Un", "##aff", "[UNK]"}));
  std::ofstream(p) << R"({"tokenizer": "bpe", "tokens": ["a"]})";
  const std::string e = err([&] { Vocabulary::load(p.string()); });
  EXPECT_NE(e.find("'bpe' is not one of char, word, wordpiece"), std::string::npos) << e;
  fs::remove(p);
}
