// The tiny transformer text classifier (scripts/train-text-models.py --models textcls: one encoder
// layer, two heads, trained on Debian's licence texts to name the topic word — warranty, patent,
// trademark, copyright — put into a window of other words, or "none"; the class is read from [CLS]), made once
// per build folder (text_models.hpp), on held-out sentences from Apache-2.0:
// - netlens' word tokenizer (with the vocabulary's "prepend": ["[CLS]"]) gives the script's ids and tokens;
// - logits equal onnxruntime's within 1e-5 x max(1,|ref|) (8 sentences) and PyTorch's within 1e-4
//   (60 sentences; a different summation order); >= 90% of them classified right;
// - the attention netlens finds (MatMul/Softmax recognition, src/inspect/attention) is the model's:
//   [CLS]'s row of each head equals PyTorch's softmax output within 1e-5; and it lands on the word that
//   decides the class (the sentences with a topic word): mean head-mean share on that word equals the
//   script's PyTorch figure within 1e-4 and is >= 0.4 (uniform would be ~0.07; 0.70 at seed 7), and
//   it is [CLS]'s most attended token in >= 90% of them (48/49 at seed 7);
// - `inspect --attention --text` labels both axes with the tokenizer's tokens and reports [CLS]'s row;
// - bad text input: too many tokens, unknown words with no [UNK], a malformed vocabulary, a fixed length.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "netlens/inspect/attention.hpp"  // inspect
#include "netlens/inspect/model_view.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/text.hpp"
#include "text_models.hpp"

using namespace netlens;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kOrtSentences = 8;  // the script saves this many as .npy

std::string shq(const std::string& s) {
  std::string r(1, '\'');
  r.append(s);
  r.push_back('\'');
  return r;
}

std::string model_dir() { return text_models::textcls_models(NETLENS_TEXT_CLS_MODELS); }

fs::path scratch(const std::string& name) { return text_models::scratch(fs::path(NETLENS_TEXT_CLS_MODELS).parent_path(), name); }

json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  return json::parse(f);
}

struct TextRun {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::unique_ptr<Session> s;
  TextTokens tokens;
};

TextRun run_text(const std::string& dir, const std::string& text) {
  TextRun r;
  const Vocabulary v = Vocabulary::load(dir + "/textcls.vocab.json");
  const Graph g = load_onnx(dir + "/textcls.onnx");
  r.tokens = tokenize(text, &v, parse_tokenizer(v.declared_tokenizer()));
  const Tensor ids = text_tensor(r.tokens, g.inputs.at(0));
  r.s = std::make_unique<Session>(g, std::vector<Backend*>{r.cpu.get()});
  r.s->run({{"ids", ids}});
  return r;
}

double rel_diff(const float* a, const std::vector<double>& b) {
  double worst = 0;
  for (size_t i = 0; i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(b[i])));
  return worst;
}

std::string run_cli(const std::string& args, int* status) {
  FILE* p = popen((shq(NETLENS_BINARY) + " " + args).c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  *status = pclose(p);
  return out;
}

TEST(TextTransformer, TokensAndLogitsMatchTheScriptOnnxruntimeAndPyTorch) {
  const std::string dir = model_dir();
  const json ev = read_json(fs::path(dir) / "textcls.eval.json");
  ASSERT_EQ(ev["sentences"].size(), 60u);
  double worst_ort = 0, worst_torch = 0;
  int correct = 0;
  for (size_t i = 0; i < ev["sentences"].size(); ++i) {
    const json& s = ev["sentences"][i];
    TextRun r = run_text(dir, s["text"].get<std::string>());
    EXPECT_EQ(r.tokens.ids, s["ids"].get<std::vector<int64_t>>()) << "sentence " << i;
    EXPECT_EQ(r.tokens.labels, s["tokens"].get<std::vector<std::string>>()) << "sentence " << i;
    const Tensor got = r.s->activations().fetch("logits");
    ASSERT_EQ(got.shape(), (Shape{1, 5}));
    const float* g = static_cast<const float*>(got.data());
    worst_torch = std::max(worst_torch, rel_diff(g, s["logits"].get<std::vector<double>>()));
    correct += std::max_element(g, g + 5) - g == s["class"].get<int64_t>();
    if (static_cast<int>(i) < kOrtSentences) {
      const Tensor want = read_npy(dir + "/ort" + std::to_string(i) + "/logits.npy");
      ASSERT_EQ(want.shape(), got.shape());
      const float* w = static_cast<const float*>(want.data());
      worst_ort = std::max(worst_ort, rel_diff(g, std::vector<double>(w, w + 5)));
    }
  }
  std::printf("[text] textcls logits: vs onnxruntime (%d sentences) max |diff|/max(1,|ref|) %.2e, vs PyTorch (60) %.2e; "
              "accuracy %d/60 (PyTorch %.3f)\n", kOrtSentences, worst_ort, worst_torch, correct, ev["accuracy"].get<double>());
  EXPECT_LE(worst_ort, 1e-5);
  EXPECT_LE(worst_torch, 1e-4);
  EXPECT_GE(correct, 54) << "the classifier no longer decides held-out sentences";
}

TEST(TextTransformer, ClsAttentionIsPyTorchsAndLandsOnTheDecidingWord) {
  const std::string dir = model_dir();
  const json ev = read_json(fs::path(dir) / "textcls.eval.json");
  double worst = 0, share_sum = 0;
  int top_hits = 0, n = 0;
  for (const json& s : ev["sentences"]) {
    TextRun r = run_text(dir, s["text"].get<std::string>());
    const inspect::ModelView view(*r.s);
    inspect::AttentionOptions opt;
    opt.tokens = r.tokens.labels;
    opt.token_input = "ids";
    const auto maps = inspect::find_attention(view, opt);
    ASSERT_EQ(maps.size(), 1u) << "the encoder layer's attention was not recognised";
    const inspect::AttentionMap& m = maps[0];
    const int64_t T = static_cast<int64_t>(r.tokens.ids.size());
    ASSERT_EQ(m.heads, 2);
    ASSERT_EQ(m.tq, T);
    ASSERT_EQ(m.tk, T);
    EXPECT_EQ(m.key_tokens, r.tokens.labels);
    const auto ref = s["cls_attention"].get<std::vector<std::vector<double>>>();  // [heads, T], PyTorch
    for (int64_t h = 0; h < 2; ++h) {
      const std::vector<double> a = inspect::head_matrix(view, m, h);
      for (int64_t k = 0; k < T; ++k) worst = std::max(worst, std::fabs(a[static_cast<size_t>(k)] - ref[h][k]));
    }
    const std::vector<double> mean = inspect::head_matrix(view, m, -1);  // row 0 = [CLS]
    const int64_t at = s["deciding"].get<int64_t>();
    if (at < 0) continue;  // class "none": no word decides it
    share_sum += mean[static_cast<size_t>(at)];
    top_hits += std::max_element(mean.begin(), mean.begin() + T) - mean.begin() == at;
    if (n == 0) {  // the figure: one sentence with [CLS]'s attention under each word
      std::printf("[text] [CLS] attention (head mean) on a held-out sentence (class %s):\n ",
                  ev["classes"][s["class"].get<size_t>()].get<std::string>().c_str());
      for (int64_t k = 0; k < T; ++k) std::printf(" %s:%.2f", r.tokens.labels[static_cast<size_t>(k)].c_str(), mean[static_cast<size_t>(k)]);
      std::printf("\n");
    }
    ++n;
  }
  const double share = share_sum / n;
  std::printf("[text] [CLS] attention vs PyTorch: max |diff| %.2e; mean share on the deciding word %.3f (script: %.3f); "
              "most attended token in %d/%d sentences\n", worst, share, ev["mean_deciding_share"].get<double>(), top_hits, n);
  EXPECT_LE(worst, 1e-5);
  EXPECT_NEAR(share, ev["mean_deciding_share"].get<double>(), 1e-4);
  EXPECT_GE(share, 0.4);
  EXPECT_GE(top_hits * 10, n * 9);
}

TEST(TextTransformer, InspectAttentionLabelsTheAxesWithTheTokens) {
  const std::string dir = model_dir();
  const json ev = read_json(fs::path(dir) / "textcls.eval.json");
  const json& s = ev["sentences"][0];
  int st = 0;
  const std::string out = run_cli("inspect " + shq(dir + "/textcls.onnx") + " --backend cpu --quiet --text " +
                                      shq(s["text"].get<std::string>()) + " --attention --query 0",
                                  &st);
  ASSERT_EQ(st, 0) << out;
  const json j = json::parse(out)["attention"];
  const auto want = s["tokens"].get<std::vector<std::string>>();
  ASSERT_EQ(j["maps"].size(), 1u);
  EXPECT_EQ(j["maps"][0]["query_tokens"].get<std::vector<std::string>>(), want);
  EXPECT_EQ(j["maps"][0]["key_tokens"].get<std::vector<std::string>>(), want);
  EXPECT_EQ(j["rollouts"][0]["tokens"].get<std::vector<std::string>>(), want);
  const auto ref = s["cls_attention"].get<std::vector<std::vector<double>>>();
  const json& row = j["maps"][0]["token_attention"];
  ASSERT_EQ(row.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(row[k]["token"], want[k]);
    EXPECT_NEAR(row[k]["weight"].get<double>(), 0.5 * (ref[0][k] + ref[1][k]), 1e-5) << k;
  }
  // Without --text (ids from a file) there are no tokens to show.
  const std::string plain = run_cli("inspect " + shq(dir + "/textcls.onnx") + " --backend cpu --quiet --input " +
                                        shq(dir + "/textcls.eval_ids_0.npy") + " --attention",
                                    &st);
  ASSERT_EQ(st, 0) << plain;
  EXPECT_TRUE(json::parse(plain)["attention"]["maps"][0]["key_tokens"].is_null());
}

// The vocabulary's prepend/append tokens go around every tokenizer's tokens, labelled by name, and
// count towards max_tokens.
TEST(TextTransformer, VocabularySpecialsWrapEveryTokenizer) {
  const fs::path p = scratch("specials.vocab.json");
  std::ofstream(p) << R"({"tokenizer": "char", "prepend": ["<s>"], "append": ["</s>"], "max_tokens": 5,
                          "tokens": ["<s>", "</s>", "a", "b", "[UNK]"]})";
  const Vocabulary v = Vocabulary::load(p.string());
  for (TokenizerKind k : {TokenizerKind::Char, TokenizerKind::Word, TokenizerKind::WordPiece}) {
    const TextTokens t = tokenize(k == TokenizerKind::Char ? "ab" : "a b", &v, k);
    EXPECT_EQ(t.ids, (std::vector<int64_t>{0, 2, 3, 1}));
    EXPECT_EQ(t.labels, (std::vector<std::string>{"<s>", "a", "b", "</s>"}));
  }
  try {
    tokenize("abcd", &v, TokenizerKind::Char);
    ADD_FAILURE() << "6 tokens accepted with max_tokens 5";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--text: 6 tokens (<s>, </s> included), more than the 5"), std::string::npos) << e.what();
  }
}

TEST(TextTransformer, BadTextInputIsOneClearError) {
  const std::string dir = model_dir();
  const std::string vpath = dir + "/textcls.vocab.json";
  auto one_error = [&](const std::string& args, const std::string& want) {
    int st = 0;
    const std::string out = run_cli(args + " 2>&1 >/dev/null", &st);
    EXPECT_NE(st, 0) << args;
    EXPECT_NE(out.find(want), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  };
  const std::string model = "infer " + shq(dir + "/textcls.onnx") + " --backend cpu --quiet ";
  // 40 words + [CLS] > max_tokens 32.
  std::string longtext;
  for (int i = 0; i < 40; ++i) longtext += "the ";
  one_error(model + "--text " + shq(longtext), "--text: 41 tokens ([CLS] included), more than the 32 the vocabulary " + vpath + " allows (max_tokens)");
  // The vocabulary without [UNK]: an unknown word is an error naming it.
  json v = read_json(vpath);
  auto& toks = v["tokens"];
  toks.erase(std::find(toks.begin(), toks.end(), "[UNK]"));
  const fs::path nounk = scratch("nounk.vocab.json");
  std::ofstream(nounk) << v.dump();
  one_error(model + "--vocab " + shq(nounk.string()) + " --text " + shq("the warranty of zyxwvut"),
            "--text: word 'zyxwvut' at word 3 is not in the vocabulary " + nounk.string());
  // Malformed vocabularies.
  auto bad_vocab = [&](const char* key, const json& val, const std::string& want) {
    json b = read_json(vpath);
    b[key] = val;
    const fs::path p = scratch(std::string("bad_") + key + ".vocab.json");
    std::ofstream(p) << b.dump();
    try {
      Vocabulary::load(p.string());
      ADD_FAILURE() << key << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  bad_vocab("prepend", json::array({"[BOS]"}), "\"prepend\" names '[BOS]', which is not one of its tokens");
  bad_vocab("append", "[CLS]", "\"append\" is not a list of tokens");
  bad_vocab("max_tokens", 0, "\"max_tokens\" is not a positive integer");
  bad_vocab("max_tokens", "32", "\"max_tokens\" is not a positive integer");
  // An input of fixed length takes exactly that many tokens.
  ValueInfo vi;
  vi.name = "ids";
  vi.dtype = DType::Int64;
  vi.has_shape = true;
  vi.dims = {Dim{1, ""}, Dim{16, ""}};
  TextTokens t;
  t.ids = {2, 5, 6};
  t.labels = {"[CLS]", "a", "b"};
  try {
    text_tensor(t, vi);
    ADD_FAILURE() << "3 tokens accepted for a [1, 16] input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--text: 3 tokens, but input 'ids' takes exactly 16"), std::string::npos) << e.what();
  }
}

}  // namespace
