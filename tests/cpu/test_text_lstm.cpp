// Text inputs and the character-level LSTM language model (scripts/train-text-models.py, trained on
// Debian's licence texts, generated once per build folder under flock(2) with a stamp of the script;
// text_models.hpp):
// - the tokenizer (netlens/text.hpp) gives exactly the ids the training script gave the held-out
//   passage, and `netlens infer --text` binds them;
// - netlens' logits on that passage equal onnxruntime's (scripts/ort/run.js) within 1e-5 x max(1,|ref|);
// - something a person can check: over the held-out passage, the LSTM unit (hidden or cell state,
//   every step from the store, "<Y>:cell" included) that correlates best with the column in the line
//   is the unit PyTorch finds (same unit, r within 1e-3), with |r| >= 0.45; the test prints it as a
//   strip under the text, and the quote/parenthesis figures beside it;
// - bad text input: unknown characters, invalid UTF-8, empty text, malformed vocabularies.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/text.hpp"
#include "netlens/viz/layout.hpp"  // viz: the sequence sheet
#include "text_models.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// 'S' for the shell (paths here have no quotes). Appends rather than operator+ on temporaries,
// which trips GCC 12's -Wrestrict false positive.
std::string quoted(const std::string& s) {
  std::string r(1, '\'');
  r.append(s);
  r.push_back('\'');
  return r;
}

// The trained model's folder (training + the onnxruntime reference, once per script version;
// text_models.hpp has the locking).
std::string model_dir() {
  const fs::path out = NETLENS_TEXT_MODELS;
  return text_models::trained_models(out, "charlstm",
                                     "NETLENS_CACHE_DIR='" + std::string(NETLENS_CACHE_DIR) + "' node '" + NETLENS_SOURCE_DIR +
                                         "/scripts/ort/run.js' '" + (out / "charlstm.onnx").string() + "' '" +
                                         (out / "ort").string() + "' --input ids='" + (out / "charlstm.eval_ids.npy").string() + "'");
}

fs::path scratch(const std::string& name) { return text_models::scratch(fs::path(NETLENS_TEXT_MODELS).parent_path(), name); }

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
  ma /= static_cast<double>(n), mb /= static_cast<double>(n);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

// Per character: column in its line, inside "...", inside (...) (the state after reading it).
std::map<std::string, std::vector<double>> features(const std::string& text) {
  std::map<std::string, std::vector<double>> f;
  int col = 0, depth = 0;
  bool quote = false;
  for (char ch : text) {
    col = ch == '\n' ? 0 : col + 1;
    if (ch == '"') quote = !quote;
    if (ch == '(') ++depth;
    if (ch == ')') depth = std::max(depth - 1, 0);
    f["column"].push_back(col);
    f["quotes"].push_back(quote ? 1 : 0);
    f["parentheses"].push_back(depth > 0 ? 1 : 0);
  }
  return f;
}

struct PassageRun {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::unique_ptr<Session> s;
  std::string y_name;
};

PassageRun run_passage(const std::string& dir, const Tensor& ids) {
  PassageRun r;
  r.s = std::make_unique<Session>(load_onnx(dir + "/charlstm.onnx"), std::vector<Backend*>{r.cpu.get()});
  r.s->run({{"ids", ids}});
  for (const Node& n : r.s->graph().nodes)
    if (n.op_type == "LSTM") r.y_name = n.outputs[0];
  return r;
}

TEST(TextLstm, TokenizerMatchesTheTrainingScriptAndTheCli) {
  const std::string dir = model_dir();
  const std::string text = read_file(fs::path(dir) / "charlstm.eval.txt");
  const Vocabulary v = Vocabulary::load(dir + "/charlstm.vocab.json");
  EXPECT_EQ(vocab_beside(dir + "/charlstm.onnx"), dir + "/charlstm.vocab.json");
  const TextTokens t = tokenize_chars(text, &v);
  const Tensor want = read_npy(dir + "/charlstm.eval_ids.npy");
  ASSERT_EQ(want.shape(), (Shape{1, static_cast<int64_t>(t.ids.size())}));
  const Graph g = load_onnx(dir + "/charlstm.onnx");
  const Tensor got = text_tensor(t, g.inputs.at(0));
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.nbytes()), 0) << "ids differ from the training script's";

  // The CLI: the passage's first 120 characters (newlines included) through --text; the dumped ids
  // equal the script's prefix.
  const std::string line = text.substr(0, 120);
  ASSERT_EQ(line.find('\''), std::string::npos);  // shell-quoted below
  const fs::path dump = scratch("cli_dump");
  fs::remove_all(dump);
  ASSERT_EQ(sh(quoted(NETLENS_BINARY) + " infer " + quoted(dir + "/charlstm.onnx") + " --backend cpu --quiet --text " +
               quoted(line) + " --dump " + quoted(dump.string()) + " --all > /dev/null"), 0);
  const Tensor cli_ids = read_npy((dump / "ids.npy").string());
  ASSERT_EQ(cli_ids.shape(), (Shape{1, static_cast<int64_t>(line.size())}));
  EXPECT_EQ(std::memcmp(cli_ids.data(), want.data(), cli_ids.nbytes()), 0);
  // Every step's hidden and cell state is in the dump.
  EXPECT_TRUE(fs::exists(dump / (sanitize_tensor_name(run_passage(dir, want).y_name + ":cell") + ".npy")));
}

TEST(TextLstm, LogitsMatchOnnxruntime) {
  const std::string dir = model_dir();
  const Tensor ids = read_npy(dir + "/charlstm.eval_ids.npy");
  PassageRun r = run_passage(dir, ids);
  const Tensor got = r.s->activations().fetch("logits");
  const Tensor want = read_npy(dir + "/ort/logits.npy");
  ASSERT_EQ(got.shape(), want.shape());
  const float *a = static_cast<const float*>(got.data()), *b = static_cast<const float*>(want.data());
  double worst = 0;
  for (int64_t i = 0; i < numel(got.shape()); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) / std::max(1.0, std::fabs(static_cast<double>(b[i]))));
  std::printf("[text] charlstm logits on %lld held-out characters vs onnxruntime: max |diff|/max(1,|ref|) %.2e\n",
              static_cast<long long>(ids.numel()), worst);
  EXPECT_LE(worst, 1e-5);
}

TEST(TextLstm, AUnitTracksTheColumnAsPyTorchFinds) {
  const std::string dir = model_dir();
  const std::string text = read_file(fs::path(dir) / "charlstm.eval.txt");
  const Tensor ids = read_npy(dir + "/charlstm.eval_ids.npy");
  PassageRun r = run_passage(dir, ids);
  const Tensor h = r.s->activations().fetch(r.y_name);            // [T, 1, 1, H]
  const Tensor c = r.s->activations().fetch(r.y_name + ":cell");  // [T, 1, 1, H]
  const int64_t T = h.shape()[0], H = h.shape()[3];
  ASSERT_EQ(T, static_cast<int64_t>(text.size()));
  const nlohmann::json ref = nlohmann::json::parse(read_file(fs::path(dir) / "charlstm.units.json"));
  const auto feats = features(text);
  for (const auto& [fname, f] : feats) {
    std::string best_state;
    int64_t best_unit = -1;
    double best_r = 0;
    for (const auto& [state, t] : {std::pair<std::string, const Tensor*>{"h", &h}, {"c", &c}}) {
      const float* p = static_cast<const float*>(t->data());
      for (int64_t u = 0; u < H; ++u) {
        std::vector<double> v(static_cast<size_t>(T));
        for (int64_t i = 0; i < T; ++i) v[static_cast<size_t>(i)] = p[i * H + u];
        const double rr = pearson(v, f);
        if (std::fabs(rr) > std::fabs(best_r)) best_r = rr, best_unit = u, best_state = state;
      }
    }
    const auto& want = ref["units"][fname];
    std::printf("[text] %-11s best unit %s[%lld] r = %+.3f (PyTorch: %s[%d] r = %+.3f)\n", fname.c_str(), best_state.c_str(),
                static_cast<long long>(best_unit), best_r, want["state"].get<std::string>().c_str(), want["unit"].get<int>(),
                want["r"].get<double>());
    EXPECT_EQ(best_state, want["state"].get<std::string>()) << fname;
    EXPECT_EQ(best_unit, want["unit"].get<int64_t>()) << fname;
    EXPECT_NEAR(best_r, want["r"].get<double>(), 1e-3) << fname;
    if (fname != "column") continue;
    EXPECT_GE(std::fabs(best_r), 0.45) << "no unit tracks the column in the line";
    // The figure: the first lines of the passage, each with the unit's value under every character
    // (ramp from low to high over the passage's range; sign flipped when r < 0 so dark = line start).
    const float* p = static_cast<const float*>((best_state == "h" ? h : c).data());
    double lo = 1e30, hi = -1e30;
    for (int64_t i = 0; i < T; ++i) lo = std::min(lo, static_cast<double>(p[i * H + best_unit])), hi = std::max(hi, static_cast<double>(p[i * H + best_unit]));
    const char* ramp = " .:-=+*#%@";
    std::string line, strip;
    int lines = 0;
    std::printf("[text] unit %s[%lld] along the held-out text (' ' low .. '@' high, in column order):\n", best_state.c_str(),
                static_cast<long long>(best_unit));
    for (int64_t i = 0; i < T && lines < 8; ++i) {
      double x = (p[i * H + best_unit] - lo) / std::max(hi - lo, 1e-9);
      if (best_r < 0) x = 1 - x;
      if (text[static_cast<size_t>(i)] == '\n') {
        std::printf("  text | %s\n  unit | %s\n", line.c_str(), strip.c_str());
        line.clear(), strip.clear(), ++lines;
        continue;
      }
      line += text[static_cast<size_t>(i)];
      strip += ramp[std::clamp(static_cast<int>(x * 9.999), 0, 9)];
    }
  }
}

// The viewer draws the LSTM's Y (every step's hidden state) as a sequence sheet: one row per
// character, the 64 units across, in Y's own data order.
TEST(TextLstm, LstmOutputIsDrawnAsATimeByUnitSheet) {
  const std::string dir = model_dir();
  const Tensor ids = read_npy(dir + "/charlstm.eval_ids.npy");
  PassageRun r = run_passage(dir, ids);
  const std::vector<viz::VizTensor> shown = viz::select_tensors(r.s->graph(), r.s->planned());
  auto it = std::find_if(shown.begin(), shown.end(), [&](const viz::VizTensor& t) { return t.name == r.y_name; });
  ASSERT_NE(it, shown.end()) << "the LSTM's Y is not among the drawn tensors";
  const viz::VolumeDims d = viz::volume_dims(*it);
  EXPECT_EQ(d.C, 1);
  EXPECT_EQ(d.H, ids.numel());
  EXPECT_EQ(d.W, 64);
  EXPECT_EQ(d.count, ids.numel() * 64);
  // Bidirectional: both directions side by side in a row; batch > 1 keeps the generic mapping.
  viz::VizTensor bi{"y", "GRU", "g", {7, 2, 1, 5}, {}, 0};
  EXPECT_EQ(viz::volume_dims(bi).H, 7);
  EXPECT_EQ(viz::volume_dims(bi).W, 10);
  bi.shape = {7, 2, 3, 5};
  EXPECT_EQ(viz::volume_dims(bi).count, viz::volume_dims(bi.shape).count);
}

TEST(TextLstm, BadTextInputIsOneClearError) {
  const std::string dir = model_dir();
  const Vocabulary v = Vocabulary::load(dir + "/charlstm.vocab.json");
  auto err = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string e = err([&] { tokenize_chars("price: 5 \xE2\x82\xAC", &v); });  // the euro sign
  EXPECT_NE(e.find("character '\xE2\x82\xAC' (U+20AC) at character 9 is not in the vocabulary"), std::string::npos) << e;
  EXPECT_NE(e.find("charlstm.vocab.json"), std::string::npos) << e;
  e = err([&] { tokenize_chars("ab\xC3", &v); });
  EXPECT_NE(e.find("invalid UTF-8 at byte 2"), std::string::npos) << e;
  e = err([&] { tokenize_chars("", &v); });
  EXPECT_NE(e.find("the text is empty"), std::string::npos) << e;
  // Bytes when there is no vocabulary.
  const TextTokens b = tokenize_chars("A\xC3\xA9", nullptr);
  EXPECT_EQ(b.ids, (std::vector<int64_t>{65, 0xC3, 0xA9}));
  // Malformed vocabularies.
  const fs::path bad = scratch("bad.vocab.json");
  std::ofstream(bad) << "{\"a\": 1}";
  e = err([&] { Vocabulary::load(bad.string()); });
  EXPECT_NE(e.find("a JSON list of token strings"), std::string::npos) << e;
  const fs::path dup = scratch("dup.vocab.txt");
  std::ofstream(dup) << "a\nb\na\n";
  e = err([&] { Vocabulary::load(dup.string()); });
  EXPECT_NE(e.find("token 'a' is listed twice (entries 0 and 2)"), std::string::npos) << e;
  // A text vocabulary with an unknown token takes it for characters it lacks.
  const fs::path unk = scratch("unk.vocab.txt");
  std::ofstream(unk) << "[UNK]\na\nb\n";
  const Vocabulary vu = Vocabulary::load(unk.string());
  EXPECT_EQ(tokenize_chars("abz", &vu).ids, (std::vector<int64_t>{1, 2, 0}));
  // The CLI: one line naming the character, non-zero exit.
  const std::string cmd = quoted(NETLENS_BINARY) + " infer " + quoted(dir + "/charlstm.onnx") +
                          " --backend cpu --quiet --text " + quoted("caf\xC3\xA9 \xE2\x82\xAC") + " 2>&1 >/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int st = pclose(p);
  EXPECT_NE(st, 0);
  EXPECT_NE(out.find("not in the vocabulary"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
