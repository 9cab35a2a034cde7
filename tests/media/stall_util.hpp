// Helpers of the stall tests (header only): videos made by the ffmpeg CLI, named pipes, and a
// writer that feeds a pipe some bytes and then stays silent without closing it.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace netlens::media::test {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A small video made by the ffmpeg CLI: a test pattern of `size`, `frames` frames at 25 fps.
inline fs::path make_test_video(const std::string& ffmpeg, const fs::path& d, const std::string& name, int frames,
                                const std::string& args, const std::string& size = "64x48") {
  const fs::path v = d / name;
  const std::string cmd = ffmpeg + " -loglevel error -y -f lavfi -i testsrc=size=" + size + ":rate=25 -frames:v " +
                          std::to_string(frames) + " " + args + " '" + v.string() + "' < /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return v;
}

// The writing end of a named pipe, held open (a writer that is there but stalls): writes `data`
// from a thread (non-blocking, so that a reader that gave up never leaves it stuck) and keeps the
// pipe open until destroyed.
class StallingWriter {
 public:
  StallingWriter(const fs::path& fifo, std::string data) : data_(std::move(data)) {
    // O_RDWR never blocks on a FIFO (Linux), and makes us a writer at once.
    fd_ = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd_, 0) << fifo;
    thread_ = std::thread([this] {
      size_t off = 0;
      while (!stop_ && off < data_.size()) {
        const ssize_t n = ::write(fd_, data_.data() + off, data_.size() - off);
        if (n > 0) off += static_cast<size_t>(n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        else {
          pollfd p{fd_, POLLOUT, 0};
          ::poll(&p, 1, 20);
        }
      }
      written_ = off;
    });
  }
  ~StallingWriter() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

 private:
  std::string data_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> written_{0};
  std::thread thread_;
};

inline fs::path make_fifo(const fs::path& d, const std::string& name) {
  const fs::path p = d / name;
  EXPECT_EQ(::mkfifo(p.c_str(), 0600), 0) << p;
  return p;
}

}  // namespace netlens::media::test
