// Token labels along sequence axes in 3D (viz/token_labels.hpp, issue 18), on the tiny transformer
// text classifier and the char-LSTM scripts/train-text-models.py trains (made once per build folder,
// text_models.hpp — the same folders and commands as test_text_transformer and test_text_lstm):
// - token_axes picks exactly the layers whose ONNX shape has the token count on the time axis: the
//   second-to-last dim of a rank >= 3 tensor (rows: the T of [1, T, D], the queries of
//   [1, heads, T, T]) and the last dim of a rank >= 4 one (columns: the keys), the rule written here
//   from the shapes, not from the volumes (an LSTM's Y [T, 1, 1, H]: rows); no vector gets any; and each token's
//   anchor lies inside its row (or column) of the layer's box, on neuron_center's row;
// - `render --text ... --view layer:<attention map> --layout-json`: the map's rows and columns, and no
//   other layer's axis, are labelled; every labelled axis carries all
//   the tokens, in order, as eval.json's tokenizer reference spells them; no two token labels
//   overlap, none overlaps a layer label, all lie in the frame; and the PNG has the labels' light
//   text inside each rectangle (the JSON is what was drawn). The overview of the same model is
//   reported (how many axes fit there), not asserted.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <stb_image.h>

#include "netlens/viz/layout.hpp"
#include "netlens/viz/layout_groups.hpp"
#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"
#include "netlens/text.hpp"
#include "text_models.hpp"
#include "netlens/viz/token_labels.hpp"

using namespace netlens;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string shq(const std::string& s) { return "'" + s + "'"; }

std::string model_dir() { return text_models::textcls_models(NETLENS_TEXT_CLS_MODELS); }

json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  return json::parse(f);
}

std::string run_cli(const std::string& args, int* status) {
  FILE* p = popen((shq(NETLENS_BINARY) + " " + args + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  *status = pclose(p);
  return out;
}

// What the test expects from the ONNX shape alone. An LSTM's Y is [T, dirs, batch, hidden]: time first.
bool want_rows(const Shape& s, const std::string& op, int64_t T) {
  if (op == "LSTM") return s.size() == 4 && s[0] == T && s[2] == 1;
  return s.size() >= 3 && s[s.size() - 2] == T;
}
bool want_cols(const Shape& s, const std::string& op, int64_t T) {
  if (op == "LSTM") return false;
  return s.size() >= 3 && s.back() == T && (s.size() >= 4 || s[s.size() - 2] != T);
}

// The char-LSTM, exactly as test_text_lstm makes it (same folder, models and reference command).
std::string lstm_dir() {
  const fs::path out = NETLENS_TEXT_MODELS;
  return text_models::trained_models(out, "charlstm",
                                     "NETLENS_CACHE_DIR='" + std::string(NETLENS_CACHE_DIR) + "' node '" + NETLENS_SOURCE_DIR +
                                         "/scripts/ort/run.js' '" + (out / "charlstm.onnx").string() + "' '" +
                                         (out / "ort").string() + "' --input ids='" + (out / "charlstm.eval_ids.npy").string() + "'");
}

struct AxisCount {
  int rows = 0, both = 0, layers = 0;
};
// token_axes on `model` run on `text` against the shape rule, and every anchor inside its row/column.
AxisCount check_axes(const std::string& model, const std::string& vocab, const std::string& text) {
  const Vocabulary v = Vocabulary::load(vocab);
  const Graph g = load_onnx(model);
  const TextTokens tokens = tokenize(text, &v, parse_tokenizer(v.declared_tokenizer().empty() ? "char" : v.declared_tokenizer()));
  const auto T = static_cast<int64_t>(tokens.labels.size());
  EXPECT_GE(T, 4);
  auto cpu = make_cpu_backend();
  Session s(g, {cpu.get()});
  s.run({{g.inputs.at(0).name, text_tensor(tokens, g.inputs.at(0))}});
  const viz::Layout layout = viz::layout_tensors(viz::shown_tensors(s.graph(), s.planned()).tensors);
  std::map<int, std::pair<bool, bool>> got;
  for (const auto& a : viz::token_axes(layout, tokens.labels.size()))
    (a.kind == viz::TokenAxisKind::Rows ? got[a.layer].first : got[a.layer].second) = true;
  AxisCount n;
  n.layers = static_cast<int>(layout.layers.size());
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    const viz::LayerVolume& l = layout.layers[i];
    const Shape& sh = l.tensor.shape;
    const auto it = got.find(static_cast<int>(i));
    const bool rows = it != got.end() && it->second.first, cols = it != got.end() && it->second.second;
    EXPECT_EQ(rows, want_rows(sh, l.tensor.op, T)) << l.tensor.name;
    EXPECT_EQ(cols, want_cols(sh, l.tensor.op, T)) << l.tensor.name;
    n.rows += rows;
    n.both += rows && cols;
    for (int64_t k = 0; rows && k < T; ++k) {
      const glm::vec3 p = viz::token_anchor(l, viz::TokenAxisKind::Rows, k);
      const float top = l.origin.y + l.size.y;
      EXPECT_GT(p.y, top - float(k + 1) * l.cell) << l.tensor.name << " token " << k;
      EXPECT_LT(p.y, top - float(k) * l.cell) << l.tensor.name << " token " << k;
      EXPECT_NEAR(p.y, viz::neuron_center(l, 0, k, 0).y, 1e-4f);
      EXPECT_FLOAT_EQ(p.x, l.origin.x);
      EXPECT_FLOAT_EQ(p.z, l.origin.z);
    }
    for (int64_t k = 0; cols && k < T; ++k) {
      const glm::vec3 p = viz::token_anchor(l, viz::TokenAxisKind::Columns, k);
      EXPECT_GT(p.z, l.origin.z + float(k) * l.cell_z) << l.tensor.name << " token " << k;
      EXPECT_LT(p.z, l.origin.z + float(k + 1) * l.cell_z) << l.tensor.name << " token " << k;
      EXPECT_NEAR(p.z, viz::neuron_center(l, 0, 0, k).z, 1e-4f);
      EXPECT_FLOAT_EQ(p.y, l.origin.y + l.size.y);
    }
  }
  EXPECT_TRUE(viz::token_axes(layout, 1).empty());
  std::printf("[token labels] %s, %lld tokens: %d of %d layers have token rows, %d also token columns\n",
              fs::path(model).filename().c_str(), static_cast<long long>(T), n.rows, n.layers, n.both);
  return n;
}

bool overlap(const json& a, const json& b) {
  const double ax = a[0], ay = a[1], aw = a[2], ah = a[3], bx = b[0], by = b[1], bw = b[2], bh = b[3];
  return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
}

}  // namespace

TEST(TokenLabels, AxesAreTheShapesTokenDimsAndAnchorsLieInTheirRows) {
  const std::string dir = model_dir();
  const json ev = read_json(fs::path(dir) / "textcls.eval.json");
  // The embedding/encoder sheets [1, T, D] and the attention map [1, heads, T, T] are there.
  const AxisCount n = check_axes(dir + "/textcls.onnx", dir + "/textcls.vocab.json", ev["sentences"][0]["text"].get<std::string>());
  EXPECT_GE(n.rows, 3);
  EXPECT_GE(n.both, 1);
}

TEST(TokenLabels, CharLstmsOutputHasTokenRows) {
  const std::string dir = lstm_dir();
  const AxisCount n = check_axes(dir + "/charlstm.onnx", dir + "/charlstm.vocab.json", "Licensed under the \"License\".");
  EXPECT_GE(n.rows, 2);  // the LSTM's Y and the head's [1, T, vocab] logits
  EXPECT_EQ(n.both, 0);
}

TEST(TokenLabels, RenderCloseUpLabelsEveryTokenInOrderWithoutOverlaps) {
  const std::string dir = model_dir();
  const json ev = read_json(fs::path(dir) / "textcls.eval.json");
  const json& sent = ev["sentences"][0];
  const auto want = sent["tokens"].get<std::vector<std::string>>();
  // The attention map: the shown layer whose shape is [1, heads, T, T].
  const Graph g = load_onnx(dir + "/textcls.onnx");
  auto cpu = make_cpu_backend();
  const Vocabulary v = Vocabulary::load(dir + "/textcls.vocab.json");
  const TextTokens tokens = tokenize(sent["text"].get<std::string>(), &v, parse_tokenizer(v.declared_tokenizer()));
  ASSERT_EQ(tokens.labels, want);
  Session s(g, {cpu.get()});
  s.run({{g.inputs.at(0).name, text_tensor(tokens, g.inputs.at(0))}});
  const viz::Layout layout = viz::layout_tensors(viz::shown_tensors(s.graph(), s.planned()).tensors);
  const auto T = static_cast<int64_t>(want.size());
  std::string attn;
  for (const auto& l : layout.layers)
    if (l.tensor.shape.size() == 4 && l.tensor.shape[2] == T && l.tensor.shape[3] == T && l.tensor.op == "Softmax") attn = l.tensor.name;
  ASSERT_FALSE(attn.empty());
  const fs::path out = fs::path(NETLENS_TEXT_CLS_MODELS).parent_path() / ("token_labels_" + std::to_string(::getpid()));
  fs::create_directories(out);
  auto render = [&](const std::string& view, const std::string& stem) {
    int st = 0;
    const std::string log = run_cli("render " + shq(dir + "/textcls.onnx") + " --backend cpu --text " + shq(sent["text"].get<std::string>()) +
                                        view + " --size 1280x720 --out " + shq((out / (stem + ".png")).string()) + " --layout-json " +
                                        shq((out / (stem + ".json")).string()),
                                    &st);
    EXPECT_EQ(st, 0) << log;
    return read_json(out / (stem + ".json"));
  };
  const json j = render(" --view " + shq("layer:" + attn), "closeup");
  const json& tl = j["token_labels"];
  ASSERT_TRUE(tl.is_array());
  std::map<std::pair<int, std::string>, std::vector<json>> axes;
  for (const auto& t : tl) axes[{t["layer"].get<int>(), t["axis"].get<std::string>()}].push_back(t);
  const int attn_layer = layout.find(attn);
  EXPECT_TRUE(axes.count({attn_layer, "rows"})) << "the close-up's attention map has no token rows";
  EXPECT_TRUE(axes.count({attn_layer, "columns"})) << "the close-up's attention map has no token columns";
  for (const auto& [key, labels] : axes) {
    EXPECT_EQ(key.first, attn_layer) << "only the layer in front is labelled";
    ASSERT_EQ(labels.size(), want.size()) << "layer " << key.first << " " << key.second;
    for (size_t k = 0; k < labels.size(); ++k) {
      EXPECT_EQ(labels[k]["token"].get<size_t>(), k);
      EXPECT_EQ(labels[k]["text"].get<std::string>(), viz::token_label_text(want[k]));
    }
  }
  for (size_t a = 0; a < tl.size(); ++a) {
    const json& r = tl[a]["rect"];
    EXPECT_GE(r[0].get<double>(), 0.0);
    EXPECT_GE(r[1].get<double>(), 0.0);
    EXPECT_LE(r[0].get<double>() + r[2].get<double>(), 1280.0);
    EXPECT_LE(r[1].get<double>() + r[3].get<double>(), 720.0);
    for (size_t b = a + 1; b < tl.size(); ++b) EXPECT_FALSE(overlap(r, tl[b]["rect"])) << a << " vs " << b;
    for (const auto& lb : j["labels"]) EXPECT_FALSE(overlap(r, lb["rect"])) << a << " vs layer label " << lb["text"];
  }
  // The picture: light-yellow text (the renderer's token colour) inside every label rectangle.
  int w = 0, h = 0, n = 0;
  uint8_t* px = stbi_load((out / "closeup.png").string().c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr);
  ASSERT_EQ(w, 1280);
  int inked = 0;
  for (const auto& t : tl) {
    const json& r = t["rect"];
    int ink = 0;
    for (int y = int(r[1].get<double>()); y < int(r[1].get<double>() + r[3].get<double>()); ++y)
      for (int x = int(r[0].get<double>()); x < int(r[0].get<double>() + r[2].get<double>()); ++x) {
        const uint8_t* p = px + (size_t(y) * size_t(w) + size_t(x)) * 3;
        ink += p[0] > 170 && p[1] > 150 && p[0] > p[2] + 40;
      }
    inked += ink > 0;
  }
  stbi_image_free(px);
  EXPECT_EQ(inked, static_cast<int>(tl.size()));
  const json o = render("", "overview");
  std::set<std::pair<int, std::string>> ov;
  for (const auto& t : o["token_labels"]) ov.insert({t["layer"].get<int>(), t["axis"].get<std::string>()});
  std::printf("[token labels] close-up of %s: %zu axes labelled (%zu labels); overview: %zu axes\n", attn.c_str(), axes.size(), tl.size(),
              ov.size());
  std::error_code ec;
  fs::remove_all(out, ec);
}
