// Shared by the timeline tests that use the generated training runs: make_runs.py once per build
// (a stamp holds the script's size and time; flock serialises concurrent test processes), and running
// a command with its stdout, stderr and exit status.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace netlens::test {

struct CmdResult {
  int status = -1;
  std::string out, err;
};

inline CmdResult run_cmd(const std::string& cmd) {
  CmdResult r;
  const std::string err = std::filesystem::temp_directory_path() / ("netlens_tl_err_" + std::to_string(::getpid()));
  FILE* p = popen((cmd + " 2>" + err).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream f(err);
  std::stringstream ss;
  ss << f.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(err);
  return r;
}

// The runs folder, generated when missing or older than make_runs.py. Empty string on failure
// (with the reason in *why). ctest runs each test in its own process, several at once: the stamp is
// read and the folder regenerated under one flock(2) held by this process, so no process reads a
// stale stamp and wipes a folder another test is reading.
inline std::string timeline_runs(std::string* why) {
  namespace fs = std::filesystem;
  const fs::path runs = NETLENS_TIMELINE_RUNS;
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "tests/timeline/make_runs.py";
  fs::create_directories(runs.parent_path());
  const std::string stamp_want = std::to_string(fs::file_size(script)) + " " +
                                 std::to_string(fs::last_write_time(script).time_since_epoch().count());
  const std::string lock_path = runs.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
    if (why) *why = "cannot lock " + lock_path;
    if (fd >= 0) ::close(fd);
    return "";
  }
  std::string stamp_have;
  {
    std::ifstream f(runs / "stamp");
    std::getline(f, stamp_have);
  }
  std::string result = runs.string();
  if (stamp_have != stamp_want) {
    std::error_code ec;
    fs::remove_all(runs, ec);
    const CmdResult r = run_cmd("/usr/bin/python3 '" + script.string() + "' '" + runs.string() + "'");
    if (r.status != 0) {
      if (why) *why = "make_runs.py failed (" + std::to_string(r.status) + "): " + r.err;
      result.clear();
    } else {
      std::ofstream(runs / "stamp") << stamp_want << "\n";
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return result;
}

}  // namespace netlens::test
