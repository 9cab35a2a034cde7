// FrameSource against independent decoders: folder images against ImageMagick's decode, videos
// against the ffmpeg CLI's decode (exact for a lossless file, a stated tolerance for a lossy one);
// frame → tensor against a direct computation from ImageMagick's decode (and equal to load_image); the errors (one line naming the path). The
// live pipeline's mailbox has its own file (test_mailbox.cpp, built with the renderer).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "netlens/media/frame_source.hpp"
#include "netlens/io.hpp"

using namespace netlens;
using netlens::test::error_of;
namespace fs = std::filesystem;

namespace {

const std::string kSamples = NETLENS_SAMPLES_DIR;
const char* kImages[3] = {"line_192x48.png", "line_192x48_flipped.png", "line_320x48.png"};

// Runs a shell command and returns its stdout (binary); fails the test on a non-zero exit.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd;
  return out;
}

bool have_tool(const char* path) { return path && *path && access(path, X_OK) == 0; }

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("netlens_media_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A folder with the three sample lines under names that sort differently from their order here.
fs::path sample_folder() {
  static fs::path d = [] {
    fs::path p = temp_dir("folder");
    fs::copy_file(kSamples + "/" + kImages[0], p / "b_first.png");
    fs::copy_file(kSamples + "/" + kImages[1], p / "c_second.png");
    fs::copy_file(kSamples + "/" + kImages[2], p / "d_third.PNG");
    std::ofstream(p / "a_notes.txt") << "not an image\n";
    fs::create_directories(p / "a_subfolder.png");  // a folder, not an image
    return p;
  }();
  return d;
}


TEST(FrameSource, FolderIsSortedAndMatchesImageMagick) {
  if (!have_tool(NETLENS_CONVERT)) GTEST_SKIP() << "ImageMagick's convert not found";
  auto src = media::open_source(sample_folder().string());
  ASSERT_EQ(src->kind(), media::SourceKind::Folder);
  EXPECT_EQ(src->count(), 3);
  EXPECT_NE(src->description().find("3 images"), std::string::npos) << src->description();
  const char* names[3] = {"b_first.png", "c_second.png", "d_third.PNG"};
  for (int k = 0; k < 3; ++k) {
    auto f = src->next();
    ASSERT_TRUE(f) << k;
    EXPECT_EQ(f->index, k);
    EXPECT_EQ(f->name, names[k]);
    // ImageMagick decodes the same file independently: raw RGB bytes, row-major, top row first.
    const std::string ref = run(std::string(NETLENS_CONVERT) + " '" + kSamples + "/" + kImages[k] + "' -depth 8 rgb:-");
    ASSERT_EQ(f->rgb.size(), ref.size()) << names[k];
    EXPECT_EQ(static_cast<size_t>(f->width) * static_cast<size_t>(f->height) * 3, ref.size());
    EXPECT_TRUE(std::equal(f->rgb.begin(), f->rgb.end(), reinterpret_cast<const uint8_t*>(ref.data()))) << names[k];
  }
  EXPECT_FALSE(src->next());  // past the last image
  // prev/seek move the position next() counts from.
  auto p = src->prev();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->index, 1);
  EXPECT_EQ(src->next()->index, 2);
  EXPECT_EQ(src->seek(0).name, "b_first.png");
  EXPECT_FALSE(src->prev());
  EXPECT_EQ(src->next()->index, 1);
  ErrorKind k{};
  EXPECT_NE(error_of([&] { src->seek(3); }, &k).find("out of range"), std::string::npos);
  EXPECT_EQ(k, ErrorKind::Usage);
}

// The model input tensor a frame gives, computed here directly from ImageMagick's decode of the
// same file: value = (pixel · scale − mean[c]) / std[c], channels in RGB or BGR order, NCHW or NHWC,
// grey as stb's integer luma ((77 r + 150 g + 29 b) >> 8). At the image's own size (no resampling:
// the resampler has its own tests against Pillow). Tolerance |Δ| ≤ 1e-6 · max(1, |v|): the program
// may order the float operations differently. Also the documented contract that a folder frame
// gives exactly the tensor of the same file given alone (load_image).
Tensor reference_tensor(const std::string& rgb, int w, int h, const ImagePreprocess& pp) {
  const int C = pp.channels;
  Tensor t(DType::Float32, pp.nhwc ? Shape{1, h, w, C} : Shape{1, C, h, w});
  float* out = t.data_as<float>();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const auto* px = reinterpret_cast<const uint8_t*>(rgb.data()) + (static_cast<size_t>(y) * w + x) * 3;
      for (int k = 0; k < C; ++k) {
        const int src = pp.bgr ? 2 - k : k;
        const int p = C == 1 ? (77 * px[0] + 150 * px[1] + 29 * px[2]) >> 8 : px[src];
        const float v = (float(p) * pp.scale - pp.mean[static_cast<size_t>(k)]) / pp.std[static_cast<size_t>(k)];
        const size_t i = pp.nhwc ? (static_cast<size_t>(y) * w + x) * C + k : (static_cast<size_t>(k) * h + y) * w + x;
        out[i] = v;
      }
    }
  return t;
}

TEST(FrameSource, FrameTensorMatchesADirectComputation) {
  if (!have_tool(NETLENS_CONVERT)) GTEST_SKIP() << "ImageMagick's convert not found";
  auto src = media::open_source(sample_folder().string());
  std::vector<ImagePreprocess> pps(5);
  pps[2].bgr = true, pps[2].nhwc = true, pps[2].mean = {0.5f, 0.4f, 0.3f}, pps[2].std = {0.2f, 0.25f, 0.3f};
  pps[3].channels = 1, pps[3].mean = {0.1f}, pps[3].std = {0.7f};
  pps[4].scale = 1.0f, pps[4].mean = {127.5f, 127.5f, 127.5f}, pps[4].std = {127.5f, 127.5f, 127.5f};
  const char* files[3] = {kImages[0], kImages[1], kImages[2]};  // b_first, c_second, d_third
  for (int k = 0; k < 3; ++k) {
    auto f = src->next();
    ASSERT_TRUE(f);
    pps[1].width = f->width, pps[1].height = f->height;  // the size given is the image's own
    const std::string rgb = run(std::string(NETLENS_CONVERT) + " '" + kSamples + "/" + files[k] + "' -depth 8 rgb:-");
    ASSERT_EQ(rgb.size(), static_cast<size_t>(f->width) * static_cast<size_t>(f->height) * 3) << f->name;
    const std::string file = (sample_folder() / f->name).string();
    for (size_t i = 0; i < pps.size(); ++i) {
      Tensor a = media::frame_to_tensor(*f, pps[i]);
      Tensor ref = reference_tensor(rgb, f->width, f->height, pps[i]);
      ASSERT_EQ(a.shape(), ref.shape()) << f->name << " pp " << i;
      double worst = 0;
      for (int64_t j = 0; j < ref.numel(); ++j) {
        const float r = ref.data_as<float>()[j];
        worst = std::max(worst, std::fabs(double(a.data_as<float>()[j]) - r) / std::max(1.0, std::fabs(double(r))));
      }
      EXPECT_LE(worst, 1e-6) << f->name << " pp " << i;
      Tensor b = load_image(file, pps[i]);
      ASSERT_EQ(a.shape(), b.shape()) << f->name << " pp " << i;
      EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)), 0)
          << f->name << " pp " << i << ": a frame and its file alone give different tensors";
    }
  }
}

// The grey conversion is stb's integer luma, checked against a direct computation.
TEST(FrameSource, GreyIsStbLuma) {
  const uint8_t rgb[6] = {255, 0, 0, 10, 200, 30};
  ImagePreprocess pp;
  pp.channels = 1;
  pp.scale = 1.0f;
  pp.mean = {0.0f};
  pp.std = {1.0f};
  Tensor t = preprocess_pixels(rgb, 2, 1, 3, pp, "test");
  ASSERT_EQ(t.shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(t.data_as<float>()[0], float((255 * 77) >> 8));
  EXPECT_EQ(t.data_as<float>()[1], float((10 * 77 + 200 * 150 + 30 * 29) >> 8));
}

// A video made by the ffmpeg CLI from the three sample lines (scaled to 192x48, 5 fps).
fs::path make_video(const std::string& name, const std::string& codec_args) {
  fs::path d = temp_dir("video_" + name);
  for (int k = 0; k < 3; ++k) fs::copy_file(kSamples + "/" + kImages[k], d / ("in" + std::to_string(k) + ".png"));
  fs::path v = d / name;
  run(std::string(NETLENS_FFMPEG) + " -loglevel error -y -framerate 5 -i '" + (d / "in%d.png").string() +
      "' -vf scale=192:48 " + codec_args + " '" + v.string() + "' < /dev/null");
  return v;
}

std::vector<media::Frame> decode_all(const fs::path& v) {
  auto src = media::open_source(v.string());
  EXPECT_EQ(src->kind(), media::SourceKind::Video);
  std::vector<media::Frame> out;
  while (auto f = src->next()) out.push_back(std::move(*f));
  return out;
}

// A video made by make_video, decoded by us and by the ffmpeg CLI (packed RGB24, frames back to back).
struct BothDecodes {
  std::vector<media::Frame> ours;
  std::string ffmpeg;
};
BothDecodes decode_both(const std::string& name, const std::string& codec_args) {
  const fs::path v = make_video(name, codec_args);
  BothDecodes d;
  d.ours = decode_all(v);
  d.ffmpeg = run(std::string(NETLENS_FFMPEG) + " -loglevel error -i '" + v.string() +
                 "' -f rawvideo -pix_fmt rgb24 - < /dev/null");
  return d;
}

// Lossless (FFV1, RGB): the decoded frames are exactly the ffmpeg CLI's RGB decode.
TEST(FrameSource, LosslessVideoEqualsFfmpegDecode) {
  if (!have_tool(NETLENS_FFMPEG)) GTEST_SKIP() << "ffmpeg CLI not found";
  const auto [frames, ref] = decode_both("lossless.mkv", "-c:v ffv1 -pix_fmt bgr0");
  ASSERT_EQ(frames.size(), 3u);
  const size_t per = 192 * 48 * 3;
  ASSERT_EQ(ref.size(), 3 * per);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(frames[k].width, 192);
    EXPECT_EQ(frames[k].height, 48);
    EXPECT_EQ(frames[k].index, static_cast<int64_t>(k));
    EXPECT_NEAR(frames[k].timestamp, 0.2 * double(k), 1e-6);  // 5 fps
    ASSERT_EQ(frames[k].rgb.size(), per);
    EXPECT_TRUE(std::equal(frames[k].rgb.begin(), frames[k].rgb.end(), reinterpret_cast<const uint8_t*>(ref.data()) + k * per))
        << "frame " << k;
  }
  // Frames of different inputs differ.
  EXPECT_NE(frames[0].rgb, frames[1].rgb);
}

// Lossy (MPEG-4 part 2, yuv420p): the same decoder, but the YUV→RGB conversions differ in
// rounding (ours asks swscale for accurate rounding, the CLI's default does not; measured: mean
// |Δ| 1.6, max 2 levels); tolerance: max |Δ| ≤ 3 and mean |Δ| ≤ 2 levels (of 255) per frame.
TEST(FrameSource, LossyVideoCloseToFfmpegDecode) {
  if (!have_tool(NETLENS_FFMPEG)) GTEST_SKIP() << "ffmpeg CLI not found";
  const auto [frames, ref] = decode_both("lossy.mp4", "-c:v mpeg4 -q:v 2 -pix_fmt yuv420p");
  ASSERT_EQ(frames.size(), 3u);
  const size_t per = 192 * 48 * 3;
  ASSERT_EQ(ref.size(), 3 * per);
  for (size_t k = 0; k < 3; ++k) {
    double sum = 0;
    int worst = 0;
    for (size_t i = 0; i < per; ++i) {
      const int d = std::abs(int(frames[k].rgb[i]) - int(static_cast<uint8_t>(ref[k * per + i])));
      sum += d;
      worst = std::max(worst, d);
    }
    EXPECT_LE(sum / double(per), 2.0) << "frame " << k;
    EXPECT_LE(worst, 3) << "frame " << k;
  }
}

TEST(FrameSource, ErrorsAreOneLineNamingThePath) {
  fs::path d = temp_dir("errors");
  fs::create_directories(d / "empty");
  std::ofstream(d / "garbage.mp4") << "definitely not a video\n";
  std::ofstream(d / "empty" / "readme.txt") << "no images here\n";
  struct Case {
    std::string spec, expect;
    ErrorKind kind;
  };
  const Case cases[] = {{(d / "missing").string(), "no such file or folder", ErrorKind::Io},
                        {(d / "empty").string(), "no images in the folder", ErrorKind::Io},
                        {(d / "garbage.mp4").string(), "cannot open as a video", ErrorKind::Io},
                        {"camera:99", "/dev/video99", ErrorKind::Device},
                        {"camera:x", "camera:N", ErrorKind::Usage}};
  for (const auto& c : cases) {
    ErrorKind k{};
    const std::string msg = error_of([&] { media::open_source(c.spec); }, &k);
    EXPECT_NE(msg.find(c.spec), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(k, c.kind) << msg;
  }
  // A file FFmpeg opens but that has no video (audio only): the source frees what it opened.
  if (have_tool(NETLENS_FFMPEG)) {
    const fs::path wav = d / "tone.wav";
    run(std::string(NETLENS_FFMPEG) + " -loglevel error -y -f lavfi -i sine=frequency=440:duration=0.2 '" + wav.string() +
        "' < /dev/null");
    ErrorKind k{};
    const std::string msg = error_of([&] { media::open_source(wav.string()); }, &k);
    EXPECT_NE(msg.find(wav.string() + ": no video stream"), std::string::npos) << msg;
    EXPECT_EQ(k, ErrorKind::Io);
  }
  // An image in a folder that fails to decode: Error{Input} when it is reached, naming it.
  fs::create_directories(d / "bad");
  std::ofstream(d / "bad" / "x.png") << "not a png\n";
  auto src = media::open_source((d / "bad").string());
  ErrorKind k{};
  EXPECT_NE(error_of([&] { src->next(); }, &k).find("x.png"), std::string::npos);
  EXPECT_EQ(k, ErrorKind::Input);
}

TEST(FrameSource, LiveSpecs) {
  fs::path d = temp_dir("specs");
  std::ofstream(d / "a.mp4") << "x";
  std::ofstream(d / "a.png") << "x";
  std::ofstream(d / "a.npy") << "x";
  EXPECT_TRUE(media::is_live_spec(d.string()));
  EXPECT_TRUE(media::is_live_spec((d / "a.mp4").string()));
  EXPECT_TRUE(media::is_live_spec("camera"));
  EXPECT_TRUE(media::is_live_spec("camera:3"));
  EXPECT_FALSE(media::is_live_spec((d / "a.png").string()));
  EXPECT_FALSE(media::is_live_spec((d / "a.npy").string()));
  EXPECT_FALSE(media::is_live_spec((d / "missing.mp4").string()));
}


}  // namespace
