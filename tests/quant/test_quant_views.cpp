// Quantized tensors in the views (issue 18), through the netlens CLI on the QLinear and QDQ
// MobileNetV2 of scripts/quantize-models.py:
// - `inspect --tensor` of a uint8 QLinearConv output shows its integers (onnxruntime's, exactly), the
//   scale and zero point the model file gives that node's output, and the real values
//   (q - zero point) * scale;
// - `render --pick` on that layer reads (q - zero point) * scale of onnxruntime's integer at the
//   picked neuron (1e-6 relative: the pick prints 9 significant digits), and the layer's frame is not
//   blank (a fifth of its pixels at least differ from the background);
// - on the QDQ model the quantized convolutions' layers are drawn with their values (the pick equals
//   onnxruntime's float32 value within 1e-4 of the layer's largest magnitude: float convolutions).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "quant_data.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using nlohmann::json;

namespace {

const std::string kQ = "/features/features.0/features.0.0/Conv_output_0";  // its QLinearConv writes kQ + "_q"

struct Fixture {
  std::string data, input, why;
  Fixture() {
    data = test::quant_data(&why);
    input = "input=" + data + "/inputs/mobilenet_v2/chelsea.npy";  // onnxruntime's references are on it
  }
};
const Fixture& fixture() {
  static Fixture f;
  return f;
}

Tensor ort_value(const std::string& model, const std::string& tensor) {
  std::ifstream f(fixture().data + "/ort/" + model + "/index.json");
  const json index = json::parse(f);  // kept: a range-for over parse(f).at(...) would dangle
  for (const auto& e : index.at("outputs"))
    if (e.at("name") == tensor) return read_npy(fixture().data + "/ort/" + model + "/" + e.at("file").get<std::string>());
  ADD_FAILURE() << "onnxruntime has no " << tensor;
  return {};
}

std::string q(const std::string& s) { return "'" + s + "'"; }

// Share of pixels that differ from the top-left corner's colour (the background) by > 8 levels.
double non_background(const std::string& png) {
  std::ifstream f(png, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const DecodedImage img = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 3, png);
  int64_t n = 0;
  const size_t px = static_cast<size_t>(img.width) * img.height;
  for (size_t i = 0; i < px; ++i) {
    int d = 0;
    for (int c = 0; c < 3; ++c) d = std::max(d, std::abs(int(img.pixels[i * 3 + c]) - int(img.pixels[c])));
    n += d > 8;
  }
  return double(n) / double(px);
}

TEST(QuantViews, InspectShowsIntegersScaleAndZeroPoint) {
  const Fixture& fx = fixture();
  ASSERT_FALSE(fx.data.empty()) << fx.why;
  const std::string model = fx.data + "/mobilenet_v2.qlinear.onnx";
  const test::ShellResult r = test::run_shell(std::string(NETLENS_BINARY) + " inspect " + q(model) + " --input " +
                                              q(fx.input) + " --tensor " + q(kQ + "_q"));
  ASSERT_EQ(r.status, 0) << r.err;
  const json t = json::parse(r.out).at("tensor");
  ASSERT_EQ(t.at("dtype"), "uint8");
  const json& qj = t.at("quantization");
  ASSERT_FALSE(qj.is_null());
  // The parameters as the file gives them for this node's output (y_scale, y_zero_point).
  const Graph g = load_onnx(model);
  const float scale = g.initializers.at(kQ + "_scale").to_f32_vector().at(0);
  const int64_t zp = g.initializers.at(kQ + "_zp").get_i64(0);
  EXPECT_EQ(qj.at("scale").at(0).get<float>(), scale);
  EXPECT_EQ(qj.at("zero_point").at(0).get<int64_t>(), zp);
  EXPECT_TRUE(qj.at("axis").is_null());
  EXPECT_NE(qj.at("from").get<std::string>().find("QLinearConv"), std::string::npos);
  // The integers are onnxruntime's; the reals are (q - zp) * scale.
  const Tensor ort = ort_value("mobilenet_v2.qlinear", kQ + "_q");
  const auto ints = qj.at("first_integers").get<std::vector<int64_t>>();
  const auto reals = qj.at("first_reals").get<std::vector<double>>();
  ASSERT_EQ(ints.size(), 16u);
  for (size_t i = 0; i < ints.size(); ++i) {
    EXPECT_EQ(ints[i], ort.get_i64(static_cast<int64_t>(i))) << i;
    EXPECT_EQ(reals[i], static_cast<double>(static_cast<float>(ints[i] - zp) * scale)) << i;
  }
  // The statistics are of the integers.
  EXPECT_GE(t.at("min").get<double>(), 0.0);
  EXPECT_LE(t.at("max").get<double>(), 255.0);
}

TEST(QuantViews, QLinearLayerDrawnByRealValues) {
  const Fixture& fx = fixture();
  ASSERT_FALSE(fx.data.empty()) << fx.why;
  test::TempDir tmp;
  const std::string model = fx.data + "/mobilenet_v2.qlinear.onnx";
  const Graph g = load_onnx(model);
  const float scale = g.initializers.at(kQ + "_scale").to_f32_vector().at(0);
  const int64_t zp = g.initializers.at(kQ + "_zp").get_i64(0);
  const Tensor ort = ort_value("mobilenet_v2.qlinear", kQ + "_q");
  int picked = 0;
  for (const std::string xy : {"320,200", "300,180", "345,220"}) {
    const std::string png = (tmp / ("l" + std::to_string(picked) + ".png")).string();
    const test::ShellResult r = test::run_shell(std::string(NETLENS_BINARY) + " render " + q(model) + " --input " + q(fx.input) +
                                                " --view " + q("layer:" + kQ + "_q") + " --size 640x400 --out " + q(png) +
                                                " --pick " + xy);
    ASSERT_EQ(r.status, 0) << r.err;
    const json p = json::parse(r.out);
    ASSERT_EQ(p.at("tensor"), kQ + "_q") << r.out;
    const auto idx = p.at("tensor_index").get<std::vector<int64_t>>();
    ASSERT_EQ(idx.size(), 4u);
    const int64_t flat = ((idx[0] * 32 + idx[1]) * 112 + idx[2]) * 112 + idx[3];
    const double want = static_cast<float>(ort.get_i64(flat) - zp) * scale;
    EXPECT_NEAR(p.at("value").get<double>(), want, 1e-6 * std::max(1e-3, std::fabs(want))) << r.out;
    EXPECT_GT(non_background(png), 0.2) << png;
    ++picked;
  }
  EXPECT_EQ(picked, 3);
}

TEST(QuantViews, QdqConvolutionsDrawnWithValues) {
  const Fixture& fx = fixture();
  ASSERT_FALSE(fx.data.empty()) << fx.why;
  test::TempDir tmp;
  const std::string model = fx.data + "/mobilenet_v2.qdq.onnx";
  // Three QDQ convolutions along the network (their float outputs, quantized right after).
  for (const std::string& layer : {kQ + "_float", std::string("/features/features.3/conv/conv.0/conv.0.0/Conv_output_0_float"),
                                  std::string("/features/features.10/conv/conv.2/Conv_output_0_float")}) {
    const std::string png = (tmp / "qdq.png").string();
    const test::ShellResult r = test::run_shell(std::string(NETLENS_BINARY) + " render " + q(model) + " --input " + q(fx.input) +
                                                " --view " + q("layer:" + layer) + " --size 640x400 --out " + q(png) +
                                                " --pick 320,200");
    ASSERT_EQ(r.status, 0) << r.err;
    const json p = json::parse(r.out);
    ASSERT_EQ(p.at("tensor"), layer) << r.out;
    const Tensor ort = ort_value("mobilenet_v2.qdq", layer);
    const auto idx = p.at("tensor_index").get<std::vector<int64_t>>();
    int64_t flat = 0;
    for (size_t d = 0; d < idx.size(); ++d) flat = flat * ort.shape()[d] + idx[d];
    double peak = 0;
    for (int64_t i = 0; i < ort.numel(); ++i) peak = std::max(peak, std::fabs(ort.get_f64(i)));
    EXPECT_NEAR(p.at("value").get<double>(), ort.get_f64(flat), 1e-4 * peak) << layer;
    EXPECT_GT(non_background(png), 0.2) << layer;
  }
}

}  // namespace

namespace {

// The live path (a folder of photos: the pipeline builds each scene itself) draws the uint8 layers
// too (it used to read raw activations and refuse the non-float ones).
TEST(QuantViews, LiveFolderRendersQuantizedLayers) {
  const Fixture& fx = fixture();
  ASSERT_FALSE(fx.data.empty()) << fx.why;
  test::TempDir tmp;
  fs::create_directories(tmp / "in");
  for (const char* f : {"chelsea.png", "coffee.png"})
    fs::copy_file(fs::path("/usr/lib/python3/dist-packages/skimage/data") / f, tmp / "in" / f);
  const test::ShellResult r = test::run_shell(std::string(NETLENS_BINARY) + " render " + q(fx.data + "/mobilenet_v2.qlinear.onnx") +
                                              " --input " + q((tmp / "in").string()) + " --out " + q((tmp / "out").string() + "/") +
                                              " --size 640x400");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"000000.png", "000001.png"}) {
    ASSERT_TRUE(fs::exists(tmp / "out" / f)) << r.err;
    EXPECT_GT(non_background((tmp / "out" / f).string()), 0.2) << f;
  }
}

}  // namespace
