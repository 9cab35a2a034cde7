// Model end-to-end tests: PP-OCRv4 det, PP-OCRv4 rec and the ppocr v2.0 direction classifier run
// through netlens (load_onnx + Session on the CPU backend) on real rendered text and on random
// inputs (and, with -DNETLENS_TORCHVISION_TESTS=ON, ResNet-50, MobileNetV2 and VGG-16 on random
// inputs); every tensor of the run (graph outputs and every intermediate node output) is compared
// with onnxruntime's value for it (the fixture make_references.sh produced those, from the same
// input file).
//
// Tolerances: float tensors ‖netlens − ort‖₂ / max(‖ort‖₂, 1e-3·√n) ≤ 1e-4 (the floor keeps
// tensors whose reference is ~0 from dividing by nothing: there an RMS difference ≤ 1e-7 passes);
// integer and bool tensors must be equal; dtypes and shapes must be equal. NaN/Inf anywhere fails.
// On top of the comparison, each real-input case checks what the model should *mean*: the text
// line reads "Hello netlens 42", the classifier says 0° / 180°, the page's text lines light up the
// det probability map and its blank areas do not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <string>
#include <vector>

#include "model_cases.hpp"
#include "netlens/core.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

namespace netlens::model_tests {
namespace {

namespace fs = std::filesystem;

constexpr double kRelTol = 1e-4;
constexpr double kRmsFloor = 1e-3;

fs::path cache_dir() {
  const char* env = std::getenv("NETLENS_CACHE_DIR");
  return env && *env ? fs::path(env) : fs::path(NETLENS_TEST_CACHE_DIR);
}
fs::path data_dir() { return fs::path(NETLENS_MODEL_DATA_DIR); }

std::vector<std::vector<std::string>> read_tsv(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    if (line.back() == '\t') cols.emplace_back();
    rows.push_back(std::move(cols));
  }
  return rows;
}

struct Comparison {
  bool ok = false;
  double err = 0;    // relative error for floats, mismatching element count for integers
  std::string why;   // set when !ok
};

Comparison compare(const Tensor& got, const Tensor& ref) {
  Comparison c;
  if (got.dtype() != ref.dtype()) {
    c.why = std::string("dtype ") + std::string(dtype_name(got.dtype())) + ", onnxruntime has " +
            std::string(dtype_name(ref.dtype()));
    c.err = INFINITY;
    return c;
  }
  if (got.shape() != ref.shape()) {
    c.why = "shape " + shape_str(got.shape()) + ", onnxruntime has " + shape_str(ref.shape());
    c.err = INFINITY;
    return c;
  }
  const int64_t n = got.numel();
  if (is_float(got.dtype())) {
    const std::vector<float> a = got.to_f32_vector(), b = ref.to_f32_vector();
    double diff2 = 0, ref2 = 0;
    int64_t worst = -1;
    double worst_abs = -1;
    for (int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
        if (std::isnan(a[i]) && std::isnan(b[i])) continue;
        if (a[i] == b[i]) continue;  // same infinity
        c.err = INFINITY;
        c.why = "element " + std::to_string(i) + " is " + std::to_string(a[i]) + ", onnxruntime has " +
                std::to_string(b[i]);
        return c;
      }
      diff2 += d * d;
      ref2 += static_cast<double>(b[i]) * b[i];
      if (std::abs(d) > worst_abs) worst_abs = std::abs(d), worst = i;
    }
    const double denom = std::max(std::sqrt(ref2), kRmsFloor * std::sqrt(static_cast<double>(n)));
    c.err = n == 0 ? 0 : std::sqrt(diff2) / denom;
    c.ok = c.err <= kRelTol;
    if (!c.ok) {
      std::ostringstream o;
      o << std::setprecision(6) << "relative error " << c.err << " > " << kRelTol << " (largest difference at element "
        << worst << ": " << a[worst] << " vs " << b[worst] << ")";
      c.why = o.str();
    }
    return c;
  }
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i)
    if (got.get_i64(i) != ref.get_i64(i)) {
      if (first < 0) first = i;
      ++bad;
    }
  c.err = static_cast<double>(bad);
  c.ok = bad == 0;
  if (!c.ok)
    c.why = std::to_string(bad) + " of " + std::to_string(n) + " elements differ (first at " + std::to_string(first) +
            ": " + std::to_string(got.get_i64(first)) + " vs " + std::to_string(ref.get_i64(first)) + ")";
  return c;
}

// CTC greedy decoding the PaddleOCR way: class 0 is the blank, 1..N the dictionary's lines, N+1 a
// space; repeats collapse unless separated by a blank.
std::string ctc_decode(const Tensor& probs, const std::vector<std::string>& dict) {
  const int64_t steps = probs.dim(1), classes = probs.dim(2);
  const std::vector<float> p = probs.to_f32_vector();
  std::string text;
  int64_t prev = 0;
  for (int64_t t = 0; t < steps; ++t) {
    const float* row = p.data() + t * classes;
    const int64_t k = std::max_element(row, row + classes) - row;
    if (k != 0 && k != prev) {
      if (k <= static_cast<int64_t>(dict.size())) text += dict[static_cast<size_t>(k - 1)];
      else if (k == static_cast<int64_t>(dict.size()) + 1) text += ' ';
    }
    prev = k;
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// What the real inputs should mean, checked on netlens' own graph output.
void check_meaning(const ModelCase& c, const Tensor& out) {
  const std::string name = c.name;
  if (name == "rec_line_48x320") {
    std::vector<std::string> dict;
    std::ifstream f(cache_dir() / "models" / "ppocr_keys_v1.txt");
    ASSERT_TRUE(f) << "ppocr_keys_v1.txt is missing from the cache; run scripts/fetch-models.sh";
    for (std::string line; std::getline(f, line);) dict.push_back(line);
    ASSERT_EQ(out.rank(), 3);
    ASSERT_EQ(out.dim(2), static_cast<int64_t>(dict.size()) + 2) << "rec classes = blank + dictionary + space";
    EXPECT_EQ(ctc_decode(out, dict), "Hello netlens 42");
  } else if (name == "cls_line_48x192" || name == "cls_flipped_48x192") {
    ASSERT_EQ(out.shape(), (Shape{1, 2}));
    const std::vector<float> p = out.to_f32_vector();
    const int want = name == "cls_line_48x192" ? 0 : 1;  // labels ["0", "180"]
    EXPECT_GT(p[want], 0.9f) << "direction classifier: p(0°)=" << p[0] << " p(180°)=" << p[1];
  } else if (name == "det_page_800x608") {
    ASSERT_EQ(out.shape(), (Shape{1, 1, 608, 800}));
    const float* p = out.data_as<float>();
    auto at = [&](int y, int x) { return p[y * 800 + x]; };
    // A point inside each horizontal text line of page_800x608.png, and blank areas.
    const int text[][2] = {{65, 300}, {140, 200}, {200, 300}, {265, 200}, {325, 200}, {505, 200}};
    const int blank[][2] = {{580, 100}, {20, 20}, {420, 650}, {100, 760}};
    for (const auto& yx : text) EXPECT_GT(at(yx[0], yx[1]), 0.5f) << "text expected at y=" << yx[0] << " x=" << yx[1];
    for (const auto& yx : blank) EXPECT_LT(at(yx[0], yx[1]), 0.1f) << "no text expected at y=" << yx[0] << " x=" << yx[1];
  }
}

// The image cases' inputs, checked at pixels whose colour is known from make-samples.sh: an
// independent check of the preprocessing (BGR order, scale, mean/std, layout).
void check_input(const ModelCase& c, const Tensor& x) {
  if (!*c.image) return;
  const int64_t h = c.height, w = c.width;
  auto px = [&](int ch, int64_t y, int64_t xx) { return x.data_as<float>()[(ch * h + y) * w + xx]; };
  if (c.prep == Prep::Det) {
    // The tinted box #e8e0c8 covers x 30..560, y 470..540 of the 800x608 page; sample its
    // untexted right part (x=500, y=480 in page coordinates), scaled to this case's size.
    const int64_t y = 480 * h / 608, xx = 500 * w / 800;
    const float bgr[3] = {0xc8, 0xe0, 0xe8};
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int ch = 0; ch < 3; ++ch)
      EXPECT_NEAR(px(ch, y, xx), (bgr[ch] / 255.0f - mean[ch]) / std[ch], 1e-4) << "det input channel " << ch;
  } else {
    for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(px(ch, 0, w - 1), 1.0f, 1e-5) << "white corner, channel " << ch;
  }
}

// Compares every tensor of the session's last run with onnxruntime's for case c, reporting each
// failure (the first ten in full) and printing a one-line summary. Returns the number of failures.
int compare_all(const ModelCase& c, const ActivationStore& acts) {
  const fs::path dir = data_dir() / c.name;
  // onnxruntime's tensors by name, and the node-order list of every node output.
  std::map<std::string, std::vector<std::string>> ort;  // name → {file, dtype, shape}
  for (auto& row : read_tsv(dir / "ort" / "index.tsv")) {
    if (row.size() != 4) {
      ADD_FAILURE() << "bad line in " << dir / "ort" / "index.tsv";
      return 1;
    }
    ort[row[0]] = {row[1], row[2], row[3]};
  }
  const std::string stem = fs::path(c.model).stem().string();
  const auto nodes = read_tsv(data_dir() / (stem + ".nodes.tsv"));
  if (nodes.empty()) {
    ADD_FAILURE() << "no node list " << data_dir() / (stem + ".nodes.tsv");
    return 1;
  }

  int compared = 0, failed = 0, missing = 0;
  double worst = -1;
  std::string worst_name, first_bad;
  for (const auto& row : nodes) {
    const std::string& name = row.at(0);
    const std::string where = row.at(1) + " node '" + (row.size() > 2 ? row[2] : "") + "'";
    auto r = ort.find(name);
    if (r == ort.end()) {
      ++missing;
      ADD_FAILURE() << "onnxruntime returned no '" << name << "'";
      continue;
    }
    Tensor got;
    try {
      got = acts.fetch(name);
    } catch (const Error& e) {
      ++missing;
      ADD_FAILURE() << "netlens kept no tensor '" << name << "' (output of " << where << "): " << e.what();
      continue;
    }
    const Tensor ref = read_npy((dir / "ort" / r->second[0]).string());
    const Comparison cmp = compare(got, ref);
    ++compared;
    if (cmp.err > worst) worst = cmp.err, worst_name = name + " (" + where + ")";
    if (!cmp.ok) {
      ++failed;
      if (first_bad.empty()) first_bad = "'" + name + "', output of " + where + ": " + cmp.why;
      if (failed <= 10) ADD_FAILURE() << c.name << ": tensor '" << name << "' (output of " << where << "): " << cmp.why;
    }
  }
  std::cout << "[models] " << c.name << ": " << compared << " tensors compared, " << failed << " differ, " << missing
            << " missing; worst " << std::setprecision(3) << worst << " at " << worst_name << "\n";
  if (!first_bad.empty()) std::cout << "[models] " << c.name << ": first divergence (node order): " << first_bad << "\n";
  ::testing::Test::RecordProperty(std::string(c.name) + ".tensors_compared", compared);
  ::testing::Test::RecordProperty(std::string(c.name) + ".worst_error", std::to_string(worst));
  ::testing::Test::RecordProperty(std::string(c.name) + ".worst_tensor", worst_name);
  EXPECT_EQ(failed, 0) << c.name << ": first divergence: " << first_bad;
  EXPECT_EQ(missing, 0) << c.name;
  EXPECT_EQ(compared + missing, static_cast<int>(nodes.size())) << c.name;
  return failed + missing;
}

// The case's model and input; fails the test (returns false) when the fixture's output is missing.
bool load_case(const ModelCase& c, Tensor& x) {
  const fs::path model = cache_dir() / "models" / c.model;
  const fs::path dir = data_dir() / c.name;
  if (!fs::exists(model)) {
    ADD_FAILURE() << model << " is missing; run scripts/fetch-models.sh (PP-OCR) or scripts/export-torchvision.sh "
                              "(torchvision)";
    return false;
  }
  if (!fs::exists(dir / "ort" / "index.tsv")) {
    ADD_FAILURE() << "no onnxruntime reference in " << dir << " (the models_references fixture did not run or failed)";
    return false;
  }
  x = read_npy((dir / "input.npy").string());
  EXPECT_EQ(x.shape(), (Shape{1, 3, c.height, c.width})) << c.name;
  return x.shape() == Shape{1, 3, c.height, c.width};
}

const ModelCase& find_case(std::string_view name) {
  for (const ModelCase& c : kCases)
    if (c.name == name) return c;
  throw std::logic_error("no model case " + std::string(name));
}

class ModelVsOnnxruntime : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelVsOnnxruntime, EveryTensorMatches) {
  const ModelCase& c = GetParam();
  Tensor x;
  ASSERT_TRUE(load_case(c, x));
  check_input(c, x);

  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session session(load_onnx((cache_dir() / "models" / c.model).string()), {cpu.get()});
  session.prepare({{c.input, x.shape()}});
  session.run({{c.input, x}});
  compare_all(c, session.activations());

  ASSERT_EQ(session.graph().outputs.size(), 1u);
  check_meaning(c, session.activations().fetch(session.graph().outputs[0].name));
}

// One det Session re-prepared for another input size, and back: nothing of the previous plan may
// leak into the next (dynamic dims are re-bound, arenas re-laid out).
TEST(ModelReprepare, DetSessionRebindsDynamicDims) {
  const ModelCase& a = find_case("det_page_800x608");
  const ModelCase& b = find_case("det_page_640x640");
  Tensor xa, xb;
  ASSERT_TRUE(load_case(a, xa));
  ASSERT_TRUE(load_case(b, xb));
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session session(load_onnx((cache_dir() / "models" / a.model).string()), {cpu.get()});
  for (const auto* step : {&a, &b, &a}) {
    const Tensor& x = step == &a ? xa : xb;
    session.prepare({{"x", x.shape()}});
    session.run({{"x", x}});
    if (compare_all(*step, session.activations()) != 0) break;
  }
}

// The `netlens infer --all --dump` command writes every tensor under the same sanitised names as
// the oracle, with the same values: what a user compares by hand is what this test compares.
TEST(ModelCli, InferAllDumpMatchesOracle) {
  const ModelCase& c = find_case("cls_line_48x192");
  Tensor x;
  ASSERT_TRUE(load_case(c, x));
  const fs::path dir = data_dir() / c.name, dump = data_dir() / "cli_dump_cls";
  fs::remove_all(dump);
  const std::string cmd = std::string("'") + NETLENS_CLI + "' infer '" + (cache_dir() / "models" / c.model).string() +
                          "' --backend cpu --input 'x=" + (dir / "input.npy").string() + "' --all --dump '" +
                          dump.string() + "' > '" + (data_dir() / "cli_dump_cls.log").string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " failed; see " << data_dir() / "cli_dump_cls.log";
  int compared = 0;
  for (const auto& row : read_tsv(dir / "ort" / "index.tsv")) {
    const fs::path got = dump / row.at(1);
    ASSERT_TRUE(fs::exists(got)) << "netlens infer --dump wrote no " << got << " for tensor '" << row[0] << "'";
    const Comparison cmp = compare(read_npy(got.string()), read_npy((dir / "ort" / row[1]).string()));
    EXPECT_TRUE(cmp.ok) << "tensor '" << row[0] << "': " << cmp.why;
    ++compared;
  }
  EXPECT_GT(compared, 400);
}

std::string case_name(const ::testing::TestParamInfo<ModelCase>& i) { return i.param.name; }
INSTANTIATE_TEST_SUITE_P(PaddleOCR, ModelVsOnnxruntime, ::testing::ValuesIn(kCases), case_name);
#if NETLENS_TORCHVISION_TESTS
INSTANTIATE_TEST_SUITE_P(Torchvision, ModelVsOnnxruntime, ::testing::ValuesIn(kTorchvisionCases), case_name);
#endif

}  // namespace
}  // namespace netlens::model_tests
