// Stream sources never hang: a named pipe that never gets data, one that gets a partial header and
// then stalls, one that stalls mid-stream, a read blocked on a stalled pipe ended by interrupt()
// from another thread, and an MP4 cut in half each end with ONE line (an Error naming the path).
// No timed assertions: the outcome is asserted (the call returned, the message); the ctest TIMEOUT
// is the hang guard. Timeouts here are 1 s (SourceOptions) so a stall ends quickly; the interrupt
// test sets 600 s so only interrupt() can end it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>

#include "../test_util.hpp"
#include "netlens/media/frame_source.hpp"
#include "stall_util.hpp"

using namespace netlens;
using netlens::test::error_of;
using namespace netlens::media::test;
namespace fs = std::filesystem;

namespace {

bool have_ffmpeg() { return access(NETLENS_FFMPEG, X_OK) == 0; }

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("netlens_stall_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}


void expect_one_line_naming(const std::string& msg, const std::string& path, const std::string& says) {
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(says), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

const media::SourceOptions kShort{.open_timeout_s = 1.0, .read_timeout_s = 1.0};

}  // namespace

TEST(Stall, PipeThatNeverGetsData) {
  const fs::path d = temp_dir("empty");
  const fs::path fifo = make_fifo(d, "in.fifo");
  EXPECT_TRUE(media::is_live_spec(fifo.string()));
  // No writer at all, then a writer that never writes: both end at the open limit.
  ErrorKind k{};
  std::string msg = error_of([&] { media::open_source(fifo.string(), kShort); }, &k);
  expect_one_line_naming(msg, fifo.string(), "no data for 1 s while opening (the source stalled)");
  EXPECT_EQ(k, ErrorKind::Io);
  StallingWriter w(fifo, "");
  msg = error_of([&] { media::open_source(fifo.string(), kShort); }, &k);
  expect_one_line_naming(msg, fifo.string(), "no data for 1 s while opening (the source stalled)");
}

TEST(Stall, PipeWithAPartialHeaderThenSilence) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not found";
  const fs::path d = temp_dir("header");
  const std::string ts = slurp(make_test_video(NETLENS_FFMPEG, d, "v.ts", 50, "-c:v mpeg4 -f mpegts"));
  ASSERT_GT(ts.size(), 2000u);
  const fs::path fifo = make_fifo(d, "in.fifo");
  StallingWriter w(fifo, ts.substr(0, 1000));  // a few MPEG-TS packets: not enough to find the video
  const std::string msg = error_of([&] { media::open_source(fifo.string(), kShort); });
  expect_one_line_naming(msg, fifo.string(), "(the source stalled)");
}

TEST(Stall, PipeThatStallsMidStream) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not found";
  const fs::path d = temp_dir("mid");
  // 10 s of video; the first 70% of the bytes, then silence with the writer still there.
  const std::string ts = slurp(make_test_video(NETLENS_FFMPEG, d, "v.ts", 250, "-c:v mpeg4 -q:v 10 -f mpegts"));
  const fs::path fifo = make_fifo(d, "in.fifo");
  StallingWriter w(fifo, ts.substr(0, ts.size() * 7 / 10));
  auto src = media::open_source(fifo.string(), {.open_timeout_s = 30.0, .read_timeout_s = 1.0});
  EXPECT_EQ(src->kind(), media::SourceKind::Video);
  int frames = 0;
  ErrorKind k{};
  const std::string msg = error_of(
      [&] {
        while (src->next()) ++frames;
      },
      &k);
  expect_one_line_naming(msg, fifo.string(), "no data for 1 s while reading (the source stalled)");
  EXPECT_EQ(k, ErrorKind::Io);
  EXPECT_GT(frames, 10) << "frames before the stall were delivered";
  EXPECT_LT(frames, 250);
}

// A read blocked on a stalled pipe with a 600 s limit: interrupt() from another thread ends it
// (the feeder's shutdown), and later reads end the same way at once.
TEST(Stall, InterruptEndsABlockedRead) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not found";
  const fs::path d = temp_dir("interrupt");
  const std::string ts = slurp(make_test_video(NETLENS_FFMPEG, d, "v.ts", 250, "-c:v mpeg4 -q:v 10 -f mpegts"));
  const fs::path fifo = make_fifo(d, "in.fifo");
  StallingWriter w(fifo, ts.substr(0, ts.size() * 7 / 10));
  auto src = media::open_source(fifo.string(), {.open_timeout_s = 600.0, .read_timeout_s = 600.0});
  std::atomic<int> frames{0};
  std::atomic<bool> ended{false};
  std::string msg;
  std::thread reader([&] {
    msg = error_of([&] {
      while (src->next()) ++frames;
    });
    ended = true;
  });
  while (frames < 10 && !ended) std::this_thread::yield();  // reading: the stall comes after the data
  EXPECT_FALSE(ended) << "the read must still be waiting on the pipe: " << msg;
  src->interrupt();
  reader.join();  // returns: the read blocked on the silent pipe was interrupted
  expect_one_line_naming(msg, fifo.string(), ": interrupted");
  EXPECT_NE(error_of([&] { src->next(); }).find("interrupted"), std::string::npos);
}

// An MP4 cut in half: with the index at the end (ffmpeg's default) the file cannot be opened;
// with the index first (+faststart) the frames before the cut decode, then one line says the file
// is truncated instead of the video ending quietly.
TEST(Stall, TruncatedMp4EndsWithOneLine) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not found";
  const fs::path d = temp_dir("truncated");
  for (const bool faststart : {false, true}) {
    const fs::path whole = make_test_video(NETLENS_FFMPEG, d, faststart ? "fs.mp4" : "plain.mp4", 100,
                                      std::string("-c:v mpeg4 -q:v 10") + (faststart ? " -movflags +faststart" : ""));
    const std::string bytes = slurp(whole);
    const fs::path cut = d / (std::string("cut_") + whole.filename().string());
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    int frames = 0;
    ErrorKind k{};
    const std::string msg = error_of(
        [&] {
          auto src = media::open_source(cut.string(), kShort);
          while (src->next()) ++frames;
        },
        &k);
    EXPECT_EQ(k, ErrorKind::Io) << msg;
    if (!faststart) {
      expect_one_line_naming(msg, cut.string(), "cannot open as a video");
    } else {
      expect_one_line_naming(msg, cut.string(), "truncated (the file ends after ");
      EXPECT_NE(msg.find("of the 100 frames its container declares"), std::string::npos) << msg;
      EXPECT_GT(frames, 10);
      EXPECT_LT(frames, 100);
    }
    // The whole file decodes to its end without an error.
    int all = 0;
    EXPECT_EQ(error_of([&] {
                auto src = media::open_source(whole.string(), kShort);
                while (src->next()) ++all;
              }),
              "");
    EXPECT_EQ(all, 100);
  }
}
