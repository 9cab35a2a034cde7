// Predictions: CTC decoding and top-k on hand-made outputs (expected values worked out by hand), then
// the real models: PP-OCRv4 rec must read text lines rendered here with ImageMagick + DejaVu Sans
// (skipped when /usr/bin/convert or the font is missing), and ppocr cls with a "0"/"180" label file
// must tell the upright line from the rotated one. Last, the `netlens inspect` CLI on PP-OCRv4 rec
// with --labels and --attention.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "inspect_test_util.hpp"
#include "netlens/inspect/predictions.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;
namespace fs = std::filesystem;

namespace {

const std::string kModels = std::string(NETLENS_CACHE_DIR) + "/models/";
// The checkout (tests/inspect/ is two levels down); CMake compiles with absolute paths.
const std::string kSource = fs::path(__FILE__).parent_path().parent_path().parent_path().string();
const std::string kFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

// One folder per process, removed at exit.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("netlens_inspect_pred_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};
fs::path temp_dir() {
  static TempDir d;
  return d.path;
}

// Row-major [1, T, C] from per-step probability rows.
Tensor steps(const std::vector<std::vector<float>>& rows) {
  std::vector<float> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return Tensor::from_f32({1, int64_t(rows.size()), int64_t(rows[0].size())}, v);
}

// Each image at its own width (the model's W is dynamic), as PaddleOCR feeds a cropped line: a
// white margin wider than the text would be read as trailing (full-width) spaces.
std::vector<std::string> run_rec(const std::vector<std::string>& images) {
  const auto dict = read_labels(kModels + "ppocr_keys_v1.txt");
  const Graph g = load_onnx(kModels + "ppocrv4_rec.onnx");
  std::vector<std::string> texts;
  for (const auto& img : images) {
    const Ran ran = run_graph(g, {{"x", load_image(img, ppocr_preprocess(0))}});
    const ModelView& v = *ran.view;
    const Predictions p = predictions(v, dict);
    EXPECT_EQ(p.ctc.size(), 1u);
    EXPECT_TRUE(p.classifications.empty());
    if (p.ctc.empty()) return {};
    EXPECT_TRUE(p.ctc[0].space_class);
    EXPECT_FALSE(p.ctc[0].softmax_applied);  // the model ends in Softmax
    for (const auto& c : p.ctc[0].chars[0]) {
      EXPECT_GT(c.confidence, 0.5) << c.text;
      EXPECT_LE(c.confidence, 1.0);
    }
    texts.push_back(p.ctc[0].text[0]);
  }
  return texts;
}

}  // namespace

TEST(Predictions, CtcCollapsesRepeatsDropsBlanksAndKnowsTheSpaceClass) {
  // Dictionary a, b; C = 4 → class 3 is the space. Steps: a a _ a b b ␣ b → "aab b".
  const std::vector<std::string> dict{"a", "b"};
  auto one = [](int cls, float p) {
    std::vector<float> r(4, (1 - p) / 3);
    r[cls] = p;
    return r;
  };
  const Tensor t = steps({one(1, .9f), one(1, .7f), one(0, .8f), one(1, .6f), one(2, .5f), one(2, .9f), one(3, .8f), one(2, .4f)});
  ASSERT_TRUE(looks_like_ctc(t.shape(), dict.size()));
  const CtcDecoding d = ctc_decode(t, "out", dict);
  EXPECT_TRUE(d.space_class);
  EXPECT_FALSE(d.softmax_applied);
  EXPECT_EQ(d.text[0], "aab b");
  ASSERT_EQ(d.chars[0].size(), 5u);
  EXPECT_NEAR(d.chars[0][0].confidence, (0.9 + 0.7) / 2, 1e-6);  // mean over its two steps
  EXPECT_EQ(d.chars[0][0].steps, 2);
  EXPECT_EQ(d.chars[0][1].first_step, 3);
  EXPECT_NEAR(d.chars[0][2].confidence, (0.5 + 0.9) / 2, 1e-6);
  EXPECT_EQ(d.chars[0][3].text, " ");
  EXPECT_NEAR(d.confidence[0], (0.8 + 0.6 + 0.7 + 0.8 + 0.4) / 5, 1e-6);
  // C = lines + 1: no space class, class 2 is "b"; logits get a softmax.
  const Tensor logits = Tensor::from_f32({1, 3, 3}, {0, 5, 0, 0, 5, 0, 0, 0, 5});
  const CtcDecoding e = ctc_decode(logits, "out", dict);
  EXPECT_FALSE(e.space_class);
  EXPECT_TRUE(e.softmax_applied);
  EXPECT_EQ(e.text[0], "ab");
  EXPECT_NEAR(e.chars[0][0].confidence, std::exp(5.0) / (std::exp(5.0) + 2), 1e-6);
  EXPECT_THROW(ctc_decode(Tensor::from_f32({1, 1, 6}, std::vector<float>(6, 0)), "out", dict), Error);
  EXPECT_FALSE(looks_like_ctc({1, 5, 6}, dict.size()));
}

TEST(Predictions, TopKWithLabelsAndSoftmaxOnlyWhenNeeded) {
  const std::vector<std::string> labels{"cat", "dog", "eel"};
  const Classification probs = classify(Tensor::from_f32({1, 4}, {0.1f, 0.6f, 0.05f, 0.25f}), "p", labels, 3);
  EXPECT_FALSE(probs.softmax_applied);
  ASSERT_EQ(probs.top[0].size(), 3u);
  EXPECT_EQ(probs.top[0][0].label, "dog");
  EXPECT_EQ(probs.top[0][1].index, 3);
  EXPECT_EQ(probs.top[0][1].label, "");  // beyond the label file
  EXPECT_NEAR(probs.top[0][2].score, 0.1, 1e-7);
  const Classification logits = classify(Tensor::from_f32({2, 3, 1, 1}, {1, 2, 3, 0, 0, std::log(2.0f)}), "l", labels, 2);
  EXPECT_TRUE(logits.softmax_applied);
  ASSERT_EQ(logits.top.size(), 2u);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_EQ(logits.top[0][0].label, "eel");
  EXPECT_NEAR(logits.top[0][0].score, std::exp(3.0) / z, 1e-9);
  EXPECT_EQ(logits.top[1][0].label, "eel");
  EXPECT_NEAR(logits.top[1][0].score, 0.5, 1e-6);
  EXPECT_THROW(classify(Tensor::from_f32({1, 2, 3}, std::vector<float>(6, 0)), "x", labels), Error);
  // A feature-map output is listed with the reason it is not a prediction.
  GraphBuilder b({1, 2, 3});
  b.add("Relu", {"x"}, "y");
  const Ran ran = run_graph(b.done("y", {1, 2, 3}), {{"x", Tensor::from_f32({1, 2, 3}, {1, 2, 3, 4, 5, 6})}});
  const ModelView& v = *ran.view;
  const Predictions p = predictions(v, labels);
  EXPECT_TRUE(p.classifications.empty());
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].first, "y");
  EXPECT_EQ(to_json(p)[0]["kind"], "none");
  const fs::path f = temp_dir() / "labels.txt";
  std::ofstream(f) << "zero\r\none\ntwo";
  EXPECT_EQ(read_labels(f.string()), (std::vector<std::string>{"zero", "one", "two"}));
  EXPECT_THROW(read_labels((temp_dir() / "missing.txt").string()), Error);
}

TEST(Predictions, PpocrRecReadsRenderedLines) {
  if (!fs::exists(kModels + "ppocrv4_rec.onnx")) GTEST_SKIP() << "ppocrv4_rec.onnx missing (scripts/fetch-models.sh)";
  if (!fs::exists("/usr/bin/convert") || !fs::exists(kFont)) GTEST_SKIP() << "needs /usr/bin/convert and DejaVu Sans";
  const std::vector<std::string> phrases{"netlens 2026", "Hello world"};
  std::vector<std::string> images;
  for (size_t i = 0; i < phrases.size(); ++i) {
    const std::string out = (temp_dir() / ("line" + std::to_string(i) + ".png")).string();
    // The text as a label, a white border, scaled to height 48 (PaddleOCR's rec height).
    const std::string cmd = "/usr/bin/convert -background white -fill black -font " + kFont +
                            " -pointsize 30 label:'" + phrases[i] + "' -bordercolor white -border 6 -resize x48 PNG24:" + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    images.push_back(out);
  }
  EXPECT_EQ(run_rec(images), phrases);
}

TEST(Predictions, PpocrClsTellsUprightFromRotated) {
  if (!fs::exists(kModels + "ppocr_cls.onnx")) GTEST_SKIP() << "ppocr_cls.onnx missing (scripts/fetch-models.sh)";
  const std::string samples = kSource + "/assets/samples/";
  const auto labels = read_labels(kSource + "/assets/labels/ppocr_cls.txt");
  ASSERT_EQ(labels, (std::vector<std::string>{"0", "180"}));
  auto cpu = make_cpu_backend();
  Session s(load_onnx(kModels + "ppocr_cls.onnx"), {cpu.get()});
  ImagePreprocess pp = ppocr_preprocess(192);
  for (const auto& [file, want] : {std::pair{"line_192x48.png", "0"}, std::pair{"line_192x48_flipped.png", "180"}}) {
    s.run({{"x", load_image(samples + file, pp)}});
    ModelView v(s);
    const Predictions p = predictions(v, labels, 2);
    ASSERT_EQ(p.classifications.size(), 1u);
    EXPECT_FALSE(p.classifications[0].softmax_applied);
    EXPECT_EQ(p.classifications[0].top[0][0].label, want) << file;
    EXPECT_GT(p.classifications[0].top[0][0].score, 0.9) << file;
  }
}

namespace {

struct CliResult {
  int status = -1;
  std::string out, err;
};

// Runs `netlens inspect ARGS`, stdout and stderr to files in the temp dir.
CliResult run_inspect(const std::string& args) {
  const fs::path out = temp_dir() / "stdout.txt", err = temp_dir() / "stderr.txt";
  const std::string cmd = std::string(NETLENS_BINARY) + " inspect " + args + " > " + out.string() + " 2> " + err.string();
  CliResult r;
  const int rc = std::system(cmd.c_str());
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string rtrim_spaces(std::string s) {
  // ASCII spaces and U+3000 (ideographic space, a class of PaddleOCR's dictionary).
  for (;;) {
    if (!s.empty() && s.back() == ' ') s.pop_back();
    else if (s.size() >= 3 && s.compare(s.size() - 3, 3, "\xE3\x80\x80") == 0) s.resize(s.size() - 3);
    else return s;
  }
}

}  // namespace

TEST(InspectCli, PpocrRecWithLabelsAttentionNeuronAndWeights) {
  const std::string model = kModels + "ppocrv4_rec.onnx";
  if (!fs::exists(model) || !fs::exists(NETLENS_BINARY)) GTEST_SKIP() << "needs ppocrv4_rec.onnx and the netlens binary";
  const std::string base = model + " --input " + kSource + "/assets/samples/line_320x48.png" +
                           " --size 320x48 --bgr --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --brief";
  const CliResult r = run_inspect(base + " --labels " + kModels + "ppocr_keys_v1.txt --attention --query 10" +
                                  " --neuron p2o.MatMul.25:0,5,100 --weights p2o.Conv.33 --top 3");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  // The sample line is "Hello netlens 42"; the white margin right of the text reads as spaces.
  const auto& ctc = doc["predictions"]["outputs"][0];
  EXPECT_EQ(ctc["kind"], "ctc");
  EXPECT_EQ(rtrim_spaces(ctc["items"][0]["text"].get<std::string>()), "Hello netlens 42");
  const auto& maps = doc["attention"]["maps"];
  ASSERT_EQ(maps.size(), 2u);
  for (const auto& m : maps) {
    EXPECT_EQ(m["heads"], 8);
    EXPECT_EQ(m["tk"], 40);
    EXPECT_LE(m["max_row_error"].get<double>(), 1e-5);
    double sum = 0;
    for (double x : m["projection"]["values"]) sum += x;
    EXPECT_NEAR(sum, 1.0, 1e-5);  // one query row over all key tokens (no prefix)
  }
  const auto& n = doc["neuron"];
  EXPECT_EQ(n["op"], "MatMul");
  EXPECT_EQ(n["term_count"], 120);
  EXPECT_EQ(n["top"].size(), 3u);
  EXPECT_NEAR(n["sum"].get<double>(), n["pre_activation"].get<double>(), 1e-5 * 120);
  EXPECT_EQ(doc["weights"]["shape"], (std::vector<int64_t>{60, 480, 1, 3}));
  EXPECT_EQ(doc["weights"]["patches"].size(), 60u * 16u);  // all 60 filters, the first 16 of 480 channels

  const CliResult bad = run_inspect(base + " --neuron nope:3");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("no tensor named 'nope'"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty());
  const CliResult missing = run_inspect(base + " --labels " + (temp_dir() / "none.txt").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("label file"), std::string::npos) << missing.err;
}

// MobileNetV2 (random weights, scripts/export-torchvision.sh) with the ImageNet label file: the
// logits get a softmax, and the top classes and their labels match a direct argmax / softmax here.
TEST(Predictions, ImagenetLabelsOnMobilenet) {
  const std::string model = kModels + "mobilenet_v2.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing (scripts/export-torchvision.sh)";
  const auto labels = read_labels(kSource + "/assets/labels/imagenet.txt");
  ASSERT_EQ(labels.size(), 1000u);
  EXPECT_EQ(labels[0], "tench");
  EXPECT_EQ(labels[999], "toilet tissue");
  auto cpu = make_cpu_backend();
  Session s(load_onnx(model), {cpu.get()});
  ImagePreprocess pp;
  pp.width = pp.height = 224;
  pp.mean = {0.485f, 0.456f, 0.406f};
  pp.std = {0.229f, 0.224f, 0.225f};
  s.run({{s.graph().inputs[0].name, load_image(kSource + "/assets/samples/page_800x608.png", pp)}});
  ModelView v(s);
  const Predictions p = predictions(v, labels, 3);
  ASSERT_EQ(p.classifications.size(), 1u);
  const Classification& c = p.classifications[0];
  EXPECT_TRUE(c.softmax_applied);
  const Tensor out = v.value(c.tensor);
  ASSERT_EQ(out.numel(), 1000);
  std::vector<double> z(1000);
  double mx = -1e300, sum = 0;
  for (int i = 0; i < 1000; ++i) mx = std::max(mx, z[i] = out.get_f64(i));
  for (double& x : z) sum += x = std::exp(x - mx);
  std::vector<int> order(1000);
  for (int i = 0; i < 1000; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return z[a] > z[b]; });
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(c.top[0][r].index, order[r]);
    EXPECT_EQ(c.top[0][r].label, labels[order[r]]);
    EXPECT_NEAR(c.top[0][r].score, z[order[r]] / sum, 1e-9);
  }
}
