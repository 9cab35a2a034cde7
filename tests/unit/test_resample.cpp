// Image resizing and decoding (the io module): real photos resized to model sizes must never abort,
// never give NaN, and equal Pillow's Image.resize(BILINEAR) (the oracle, resample_oracle.py, run with
// Debian's python3-pil at test time); image headers over the pixel limit are refused before
// decoding; the fuzz finds in image_inputs/ stay fixed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "netlens/io.hpp"
#include "../test_util.hpp"

namespace fs = std::filesystem;
using namespace netlens;
using netlens::test::TempDir;

namespace {

const std::string kPhotos = "/usr/lib/python3/dist-packages/skimage/data";
// Pillow and this resampler evaluate the same formula in the same order in double and store float32
// after each pass, so they agree to the last bit in practice; 1e-4 on 0..255 values leaves room for
// a compiler contracting a multiply-add (FMA) on either side, and is 10^4 times smaller than the
// differences a different filter (stb's, a non-antialiased bilinear) gives.
constexpr double kTolerance = 1e-4;


std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The resampler's own 0..255 output: NHWC, scale 1, mean 0, std 1 (so the tensor is the resize).
ImagePreprocess raw(int w, int h, int channels) {
  ImagePreprocess pp;
  pp.width = w;
  pp.height = h;
  pp.channels = channels;
  pp.scale = 1.0f;
  pp.mean = {0.0f};
  pp.std = {1.0f};
  pp.nhwc = true;
  return pp;
}

bool have_pillow() { return std::system("/usr/bin/python3 -c 'import PIL, numpy' > /dev/null 2>&1") == 0; }

// Max |a − ref| over the tensors (same shape required); NaN anywhere counts as infinite.
double max_diff(const Tensor& a, const Tensor& ref, const std::string& label) {
  EXPECT_EQ(a.shape(), ref.shape()) << label;
  if (a.shape() != ref.shape()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data_as<float>()[i];
    if (!std::isfinite(x)) return INFINITY;
    m = std::max(m, std::abs(x - static_cast<double>(ref.data_as<float>()[i])));
  }
  return m;
}

// Expects `f` to throw Error of `kind` with a one-line message holding every string of `parts`.
template <class F>
void expect_error(F f, ErrorKind kind, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), kind) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

class PillowOracle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_pillow()) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("netlens_resample_oracle_" + std::to_string(::getpid())));
    const std::string cmd = "/usr/bin/python3 " + std::string(NETLENS_TEST_SOURCE_DIR) +
                            "/tests/unit/resample_oracle.py " + dir_->string();
    ok_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "python3-pil / python3-numpy missing (the Pillow oracle)";
    ASSERT_TRUE(ok_) << "resample_oracle.py failed";
  }
  static fs::path* dir_;
  static bool ok_;
};
fs::path* PillowOracle::dir_ = nullptr;
bool PillowOracle::ok_ = false;

}  // namespace

// Every case: a crop or resize of a real photo (1..1200 and 60000 wide, RGB and grey) to model sizes
// (224x224, 32x32, 320x48, 48x320, 1x1, 800x608), identity and one-axis sizes, enormous ratios.
TEST_F(PillowOracle, PhotosMatchPillowBilinear) {
  std::ifstream cases(*dir_ / "cases.txt");
  std::string line;
  int n = 0;
  double worst = 0;
  std::string worst_case;
  while (std::getline(cases, line)) {
    std::istringstream ss(line);
    std::string name;
    int c = 0, w = 0, h = 0, ow = 0, oh = 0;
    ASSERT_TRUE(ss >> name >> c >> w >> h >> ow >> oh) << line;
    const Tensor src = read_npy((*dir_ / (name + "_src.npy")).string());
    const Tensor ref = read_npy((*dir_ / (name + "_ref.npy")).string());
    ASSERT_EQ(src.dtype(), DType::UInt8) << name;
    ASSERT_EQ(src.shape(), (Shape{h, w, c})) << name;
    const Tensor got = preprocess_pixels(src.data_as<uint8_t>(), w, h, c, raw(ow, oh, c), name);
    const double d = max_diff(got, ref.reshaped({1, oh, ow, c}), line);
    EXPECT_LE(d, kTolerance) << line;
    if (d > worst) worst = d, worst_case = line;
    ++n;
  }
  EXPECT_GE(n, 200) << "the oracle wrote too few cases";
  std::cout << n << " cases; largest difference from Pillow " << worst << (worst_case.empty() ? "" : " (" + worst_case + ")")
            << "\n";
}

// Through the file loader: chelsea.png (451x300, the photo stb_image_resize aborted on) to 224x224
// and camera.png (grey) to 32x32, decoded by stb, equal to Pillow on Pillow's decoding.
TEST_F(PillowOracle, LoadImageFilesMatchPillow) {
  const Tensor chelsea = load_image(kPhotos + "/chelsea.png", raw(224, 224, 3));
  const Tensor ref_c = read_npy((*dir_ / "chelsea_file_ref.npy").string());
  EXPECT_LE(max_diff(chelsea, ref_c.reshaped({1, 224, 224, 3}), "chelsea"), kTolerance);
  const Tensor camera = load_image(kPhotos + "/camera.png", raw(32, 32, 1));
  const Tensor ref_g = read_npy((*dir_ / "camera_file_ref.npy").string());
  EXPECT_LE(max_diff(camera, ref_g.reshaped({1, 32, 32, 1}), "camera"), kTolerance);
}

// stb's decoding of a PNG equals Pillow's (the identity case's source is Pillow's chelsea pixels).
TEST_F(PillowOracle, DecodeImageEqualsPillowPixels) {
  const std::vector<uint8_t> bytes = read_bytes(kPhotos + "/chelsea.png");
  const DecodedImage im = decode_image(bytes.data(), bytes.size(), 3, "chelsea.png");
  const Tensor ref = read_npy((*dir_ / "identity_src.npy").string());
  ASSERT_EQ(ref.shape(), (Shape{300, 451, 3}));
  ASSERT_EQ(im.width, 451);
  ASSERT_EQ(im.height, 300);
  ASSERT_EQ(im.pixels.size(), static_cast<size_t>(ref.numel()));
  EXPECT_TRUE(std::equal(im.pixels.begin(), im.pixels.end(), ref.data_as<uint8_t>()));
}

// JPEGs as Pillow writes them (baseline, progressive, 4:4:4, odd-sized, grey, inverted CMYK)
// decode to exactly what Pillow decodes (both are libjpeg-turbo with its accurate IDCT and fancy
// upsampling; CMYK converted as Pillow converts it), every value equal. One channel from a colour
// JPEG is libjpeg's luma output. A truncated file is refused, as Pillow refuses it.
TEST_F(PillowOracle, JpegsDecodeAsPillowDoes) {
  auto expect_same = [&](const DecodedImage& im, const std::string& ref_file, int channels) {
    const Tensor ref = read_npy((*dir_ / ref_file).string());
    const Shape want = channels == 3 ? Shape{im.height, im.width, 3} : Shape{im.height, im.width};
    ASSERT_EQ(ref.shape(), want) << ref_file;
    ASSERT_EQ(im.channels, channels);
    size_t differ = 0;
    for (size_t i = 0; i < im.pixels.size(); ++i) differ += im.pixels[i] != ref.data_as<uint8_t>()[i];
    EXPECT_EQ(differ, 0u) << ref_file << ": values differing from Pillow's";
  };
  for (const char* name : {"chelsea_base.jpg", "chelsea_progressive.jpg", "chelsea_444.jpg", "chelsea_odd.jpg",
                           "camera_grey.jpg", "chelsea_cmyk.jpg"}) {
    const std::vector<uint8_t> bytes = read_bytes(*dir_ / name);
    expect_same(decode_image(bytes.data(), bytes.size(), 3, name), std::string(name) + ".npy", 3);
  }
  const std::vector<uint8_t> base = read_bytes(*dir_ / "chelsea_base.jpg");
  expect_same(decode_image(base.data(), base.size(), 1, "chelsea_base.jpg"), "chelsea_base.jpg.L.npy", 1);
  const std::vector<uint8_t> cut = read_bytes(*dir_ / "chelsea_cut.jpg");
  expect_error([&] { decode_image(cut.data(), cut.size(), 3, "cut.jpg"); }, ErrorKind::Input,
               {"cut.jpg", "corrupt or truncated JPEG", "Premature end"});
}

// Without the oracle: every size pair from 1 to 40 both ways on random pixels gives finite values
// inside the source's range (each output is a convex combination), and a uniform image stays
// uniform (the weights of every window sum to 1).
TEST(Resample, AllSmallSizesConvexAndUniform) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  const int sizes[] = {1, 2, 3, 4, 5, 7, 8, 11, 16, 17, 31, 40};
  for (int w : sizes)
    for (int h : sizes) {
      std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
      for (auto& v : px) v = static_cast<uint8_t>(byte(rng));
      std::vector<uint8_t> flat(px.size(), 93);
      float lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0};
      for (size_t i = 0; i < px.size(); ++i) {
        lo[i % 3] = std::min<float>(lo[i % 3], px[i]);
        hi[i % 3] = std::max<float>(hi[i % 3], px[i]);
      }
      for (int ow : sizes)
        for (int oh : sizes) {
          const Tensor t = preprocess_pixels(px.data(), w, h, 3, raw(ow, oh, 3), "random");
          for (int64_t i = 0; i < t.numel(); ++i) {
            const float v = t.data_as<float>()[i];
            ASSERT_TRUE(v >= lo[i % 3] - 1e-3f && v <= hi[i % 3] + 1e-3f)
                << w << "x" << h << " -> " << ow << "x" << oh << " value " << v;
          }
          const Tensor u = preprocess_pixels(flat.data(), w, h, 3, raw(ow, oh, 3), "uniform");
          for (int64_t i = 0; i < u.numel(); ++i)
            ASSERT_NEAR(u.data_as<float>()[i], 93.0f, 1e-4f) << w << "x" << h << " -> " << ow << "x" << oh;
        }
    }
}

// 2^24 pixels in one row (the largest side) down to 1 pixel and to 224x224: one window spans the whole
// row; no overflow, no NaN, the uniform value back.
TEST(Resample, EnormousRatios) {
  const int n = 1 << 24;
  std::vector<uint8_t> row(static_cast<size_t>(n), 77);
  for (auto [ow, oh] : {std::pair{1, 1}, std::pair{224, 224}, std::pair{3, 1}}) {
    const Tensor t = preprocess_pixels(row.data(), n, 1, 1, raw(ow, oh, 1), "row");
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_NEAR(t.data_as<float>()[i], 77.0f, 1e-3f);
  }
  const Tensor col = preprocess_pixels(row.data(), 1, n, 1, raw(5, 2, 1), "column");
  for (int64_t i = 0; i < col.numel(); ++i) ASSERT_NEAR(col.data_as<float>()[i], 77.0f, 1e-3f);
}

TEST(Resample, SizeLimitsAreOneLineErrors) {
  const uint8_t px[3] = {1, 2, 3};
  // A side over 2^24 (2^25 x 1 is only 2^25 values, under the 2^30-value target limit).
  expect_error([&] { preprocess_pixels(px, 1, 1, 1, raw(1 << 25, 1, 1), "tiny"); }, ErrorKind::Input,
               {"tiny", "1x1 to 33554432x1"});
  expect_error([&] { preprocess_pixels(px, 1, 1, 3, raw(40000, 40000, 3), "tiny"); }, ErrorKind::Usage,
               {"tiny", "too large"});
  // A 1-pixel-wide, 2^24-high source to 100x64: the horizontal pass would hold 100 x 2^24 values.
  std::vector<uint8_t> col(static_cast<size_t>(1) << 24, 5);
  expect_error([&] { preprocess_pixels(col.data(), 1, 1 << 24, 1, raw(100, 64, 1), "col"); }, ErrorKind::Input,
               {"col", "2^30"});
}

// --------------------------------------------------------------------------------------------
// Decoding: header limits (decompression bombs) and bad bytes

namespace {

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

// A PNG signature and a valid IHDR chunk (8-bit RGB) claiming w x h, and nothing after it.
std::vector<uint8_t> png_header(uint32_t w, uint32_t h) {
  std::vector<uint8_t> v = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  put32(v, 13);
  const size_t type_at = v.size();
  v.insert(v.end(), {'I', 'H', 'D', 'R'});
  put32(v, w);
  put32(v, h);
  v.insert(v.end(), {8, 2, 0, 0, 0});
  put32(v, crc32(v.data() + type_at, v.size() - type_at));
  return v;
}

}  // namespace

// A model's own input dims become the resize target: dims past the resampler's range are refused
// by name instead of wrapping through int; ordinary dims pass through.
TEST(Resample, ModelDimsTooLargeToResizeTo) {
  ValueInfo vi{"x", DType::Float32, {Dim{1, ""}, Dim{3, ""}, Dim{int64_t{1} << 40, ""}, Dim{224, ""}}, true};
  try {
    image_preprocess_for(vi, {}, ImagePreprocess{}, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_NE(std::string(e.what()).find("input 'x': image size 224x1099511627776"), std::string::npos) << e.what();
  }
  vi.dims[2] = Dim{300, ""};
  const ImagePreprocess pp = image_preprocess_for(vi, {}, ImagePreprocess{}, false);
  EXPECT_EQ(pp.width, 224);
  EXPECT_EQ(pp.height, 300);
}

TEST(Decode, BombHeadersRefusedBeforeDecoding) {
  const auto png = png_header(100000, 100000);
  expect_error([&] { decode_image(png.data(), png.size(), 3, "bomb.png"); }, ErrorKind::Input,
               {"bomb.png", "100000x100000", "10000000000 pixels", "limit"});
  // Sides up to 2^32 − 1 in a PNG header: refused per side (their product would overflow int64).
  const auto wide = png_header(0xFFFFFFFFu, 0xFFFFFF06u);
  expect_error([&] { decode_image(wide.data(), wide.size(), 3, "wide.png"); }, ErrorKind::Input,
               {"wide.png", "4294967295x4294967046", "per side"});
  // Baseline JPEG SOF0 claiming 60000x60000, 3 components, and the start of its scan.
  const std::vector<uint8_t> jpg = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xEA, 0x60, 0xEA, 0x60, 0x03,
                                    0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xDA, 0x00,
                                    0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00};
  expect_error([&] { decode_image(jpg.data(), jpg.size(), 3, "bomb.jpg"); }, ErrorKind::Input,
               {"bomb.jpg", "60000x60000", "limit"});
  // Under the limit the header is fine and decoding itself fails on the missing data: one line.
  const auto small = png_header(64, 64);
  expect_error([&] { decode_image(small.data(), small.size(), 3, "trunc.png"); }, ErrorKind::Input, {"trunc.png"});
}

TEST(Decode, PixelLimitIsInclusive) {
  const std::vector<uint8_t> bytes = read_bytes(kPhotos + "/chelsea.png");  // 451x300 = 135300 pixels
  EXPECT_EQ(decode_image(bytes.data(), bytes.size(), 3, "c", 135300).width, 451);
  expect_error([&] { decode_image(bytes.data(), bytes.size(), 3, "c.png", 135299); }, ErrorKind::Input,
               {"c.png", "451x300", "135300 pixels", "135299"});
  const DecodedImage g = decode_image(bytes.data(), bytes.size(), 1, "c");
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.pixels.size(), 135300u);
}

TEST(Decode, BadBytesAreOneLineErrors) {
  const std::vector<uint8_t> bytes = read_bytes(kPhotos + "/chelsea.png");
  expect_error([&] { decode_image(bytes.data(), 0, 3, "empty.png"); }, ErrorKind::Input, {"empty.png", "not a PNG"});
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  expect_error([&] { decode_image(reinterpret_cast<const uint8_t*>(gif.data()), gif.size(), 3, "a.gif"); },
               ErrorKind::Input, {"a.gif", "not a PNG, JPEG or BMP"});
  for (size_t cut : {size_t{8}, size_t{20}, size_t{33}, size_t{100}, bytes.size() / 2, bytes.size() * 3 / 4})
    expect_error([&] { decode_image(bytes.data(), cut, 3, "cut.png"); }, ErrorKind::Input, {"cut.png"});
  TempDir d;
  const fs::path p = d / "bomb.png";
  const auto png = png_header(100000, 100000);
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  expect_error([&] { load_image(p.string(), {}); }, ErrorKind::Input, {"bomb.png", "100000x100000"});
  expect_error([&] { load_image_rgb8(p.string()); }, ErrorKind::Input, {"bomb.png", "100000x100000"});
}

// The image fuzzer's finds in stb 2.27's JPEG decoder, which JPEG no longer goes through: a
// Huffman table claiming more than 256 codes (overflowed stb's tables), a progressive file whose
// bit count went negative (a 34-bit shift), a Huffman symbol index far outside its table (an
// out-of-bounds read). Each is refused in one line naming the file and libjpeg's reason.
TEST(Decode, CorruptJpegsFromTheFuzzerRefused) {
  for (const char* name : {"jpeg_dht_too_many_codes.jpg", "jpeg_progressive_bit_buffer_underrun.jpg",
                           "jpeg_huffman_symbol_out_of_table.jpg"}) {
    const fs::path p = fs::path(NETLENS_IMAGE_INPUTS) / name;
    const std::vector<uint8_t> bytes = read_bytes(p);
    ASSERT_FALSE(bytes.empty()) << p;
    expect_error([&] { decode_image(bytes.data(), bytes.size(), 3, name); }, ErrorKind::Input, {name, "JPEG"});
  }
}

// Inputs the image fuzzer (tests/fuzz/fuzz_image.cpp) once crashed or hung on, kept as regressions:
// each must decode or give a one-line Error naming it, and a decoded one must resize.
TEST(Decode, FuzzRegressions) {
  const fs::path dir = NETLENS_IMAGE_INPUTS;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no regression inputs in " << dir;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::vector<uint8_t> bytes = read_bytes(e.path());
    const std::string label = e.path().filename().string();
    try {
      const DecodedImage im = decode_image(bytes.data(), bytes.size(), 3, label, int64_t{1} << 22);
      const Tensor t = preprocess_pixels(im.pixels.data(), im.width, im.height, 3, raw(224, 224, 3), label);
      for (int64_t i = 0; i < t.numel(); ++i) ASSERT_TRUE(std::isfinite(t.data_as<float>()[i])) << label;
    } catch (const Error& err) {
      const std::string msg = err.what();
      EXPECT_EQ(msg.rfind(label + ": ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    ++n;
  }
  EXPECT_GT(n, 0) << "regression folder " << dir << " is empty";
}
