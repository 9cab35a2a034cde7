// Backward of Conv, ConvTranspose, MaxPool and BatchNormalization on larger, realistic shapes against
// PyTorch autograd (tests/grad/grad_nn_torch.py, torch.nn.functional in float64 on the same float32
// inputs and seed). Tolerance: relative L2 error <= 1e-4 for every gradient (the fp32 bar),
// and <= 1e-5 for the forward output (a check that both sides read the attributes alike).
// Skipped when Debian's python3-torch is missing.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "grad_check.hpp"

using namespace netlens;
using netlens::gradtest::GradCase;
using netlens::gradtest::random_tensor;
namespace fs = std::filesystem;

namespace {

using Ints = std::vector<int64_t>;
constexpr double kGradTol = 1e-4, kForwardTol = 1e-5;

bool have_torch() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") == 0;
  return ok;
}

std::string json_of(const AttrValue& v) {
  std::ostringstream s;
  if (const auto* i = std::get_if<int64_t>(&v)) s << *i;
  else if (const auto* f = std::get_if<float>(&v)) s << *f;
  else if (const auto* l = std::get_if<std::vector<int64_t>>(&v)) {
    s << "[";
    for (size_t k = 0; k < l->size(); ++k) s << (k ? "," : "") << (*l)[k];
    s << "]";
  } else {
    ADD_FAILURE() << "attribute type not handled by this test";
  }
  return s.str();
}

std::string json_of(const Shape& sh) {
  std::string s = "[";
  for (size_t k = 0; k < sh.size(); ++k) s += (k ? "," : "") + std::to_string(sh[k]);
  return s + "]";
}

void write_raw(const fs::path& p, const Tensor& t) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(t.data()), static_cast<std::streamsize>(t.nbytes()));
}

std::vector<float> read_raw(const fs::path& p, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::ifstream f(p, std::ios::binary);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
  EXPECT_TRUE(f.good()) << "cannot read " << p;
  return v;
}

double rel_l2(const Tensor& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = got.get_f64(i) - want[static_cast<size_t>(i)];
    num += d * d;
    den += static_cast<double>(want[static_cast<size_t>(i)]) * want[static_cast<size_t>(i)];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Runs the node through Session::backward (every input's gradient; constants via weights = true)
// and compares with the PyTorch reference.
void compare_with_torch(GradCase c, const std::string& tag) {
  if (!have_torch()) GTEST_SKIP() << "python3-torch missing";
  c.weights = true;
  gradtest::GradChecker g(c);
  g.session().backward(g.seeds(), GradientOptions{true});
  const fs::path dir = fs::temp_directory_path() / ("netlens_grad_nn_torch_" + tag + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string spec = "{\"op\":\"" + c.op + "\",\"attrs\":{";
  bool first = true;
  for (const auto& [k, v] : c.attrs) {
    spec += (first ? "\"" : ",\"") + k + "\":" + json_of(v);
    first = false;
  }
  spec += "},\"inputs\":[";
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    spec += (i ? "," : "") + json_of(c.inputs[i].shape());
    write_raw(dir / ("in" + std::to_string(i) + ".bin"), c.inputs[i]);
  }
  const Tensor& seed = g.seeds().at("out0");
  spec += "],\"output\":" + json_of(seed.shape()) + "}";
  std::ofstream(dir / "spec.json") << spec;
  write_raw(dir / "seed.bin", seed);
  const std::string cmd = "/usr/bin/python3 " NETLENS_SOURCE_DIR "/tests/grad/grad_nn_torch.py " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const Tensor y = g.session().activations().fetch("out0");
  const double fwd = rel_l2(y, read_raw(dir / "out.bin", y.numel()));
  EXPECT_LE(fwd, kForwardTol) << tag << ": forward differs from PyTorch";
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor gi = g.session().gradients().fetch("in" + std::to_string(i));
    const double e = rel_l2(gi, read_raw(dir / ("grad" + std::to_string(i) + ".bin"), gi.numel()));
    EXPECT_LE(e, kGradTol) << tag << ": gradient of input " << i << " vs PyTorch autograd";
    std::printf("[ torch    ] %s input %zu: relative L2 error %.3g\n", tag.c_str(), i, e);
  }
  fs::remove_all(dir);
}

GradCase conv_case(const std::string& op, Shape x, Shape w, int64_t bias_len, std::map<std::string, AttrValue> attrs) {
  GradCase c;
  c.op = op;
  c.attrs = std::move(attrs);
  c.inputs = {random_tensor(x, 1), random_tensor(w, 2, -0.3f, 0.3f), random_tensor({bias_len}, 3)};
  c.constant = {false, true, true};
  return c;
}

TEST(GradNnTorch, ConvStride2) {
  compare_with_torch(conv_case("Conv", {1, 16, 33, 31}, {24, 16, 3, 3}, 24, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}),
                     "conv_s2");
}

TEST(GradNnTorch, ConvDepthwiseDilatedAsymmetricPads) {
  compare_with_torch(conv_case("Conv", {2, 16, 33, 31}, {16, 1, 3, 3}, 16,
                               {{"group", int64_t{16}}, {"dilations", Ints{2, 2}}, {"pads", Ints{1, 0, 2, 1}}}),
                     "conv_dw");
}

TEST(GradNnTorch, ConvGroupedStride2) {
  compare_with_torch(conv_case("Conv", {1, 24, 30, 29}, {32, 6, 5, 5}, 32,
                               {{"group", int64_t{4}}, {"strides", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}}),
                     "conv_g4");
}

TEST(GradNnTorch, ConvPointwise) {
  compare_with_torch(conv_case("Conv", {2, 32, 20, 21}, {16, 32, 1, 1}, 16, {}), "conv_1x1");
}

TEST(GradNnTorch, ConvTransposeStride2OutputPaddingGroups) {
  compare_with_torch(conv_case("ConvTranspose", {1, 16, 17, 15}, {16, 4, 4, 4}, 8,
                               {{"group", int64_t{2}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"output_padding", Ints{1, 0}}}),
                     "convt_s2");
}

TEST(GradNnTorch, ConvTransposeKernelEqualsStride) {
  compare_with_torch(conv_case("ConvTranspose", {1, 16, 20, 20}, {16, 8, 2, 2}, 8, {{"strides", Ints{2, 2}}}), "convt_k2s2");
}

GradCase maxpool(Shape x, std::map<std::string, AttrValue> attrs) {
  GradCase c;
  c.op = "MaxPool";
  c.attrs = std::move(attrs);
  c.inputs = {random_tensor(x, 7)};
  return c;
}

TEST(GradNnTorch, MaxPoolCeilModePads) {
  compare_with_torch(maxpool({1, 16, 33, 31}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"ceil_mode", int64_t{1}}}),
                     "maxpool_ceil");
}

TEST(GradNnTorch, MaxPool2x2) {
  compare_with_torch(maxpool({2, 8, 32, 32}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}), "maxpool_2x2");
}

TEST(GradNnTorch, BatchNormalization) {
  GradCase c;
  c.op = "BatchNormalization";
  c.opset = 15;
  c.attrs = {{"epsilon", 1e-5f}};
  c.inputs = {random_tensor({2, 16, 17, 15}, 11), random_tensor({16}, 12, 0.5f, 1.5f), random_tensor({16}, 13),
              random_tensor({16}, 14, -0.3f, 0.3f), random_tensor({16}, 15, 0.2f, 2.0f)};
  c.constant = {false, true, true, true, true};
  compare_with_torch(c, "batchnorm");
}

}  // namespace
