// Shared by the timeline tests that use the generated training runs: make_runs.py once per build
// (a stamp holds the script's size and time; flock serialises concurrent test processes), and running
// a command with its stdout, stderr and exit status.
#pragma once

#include <sys/wait.h>

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
// (with the reason in *why).
inline std::string timeline_runs(std::string* why) {
  namespace fs = std::filesystem;
  const fs::path runs = NETLENS_TIMELINE_RUNS;
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "tests/timeline/make_runs.py";
  fs::create_directories(runs.parent_path());
  const std::string stamp_want = std::to_string(fs::file_size(script)) + " " +
                                 std::to_string(fs::last_write_time(script).time_since_epoch().count());
  const std::string cmd = "flock '" + runs.string() + ".lock' sh -c \"if [ \\\"$(cat '" + runs.string() +
                          "/stamp' 2>/dev/null)\\\" != '" + stamp_want + "' ]; then rm -rf '" + runs.string() +
                          "' && /usr/bin/python3 '" + script.string() + "' '" + runs.string() + "' && echo '" +
                          stamp_want + "' > '" + runs.string() + "/stamp'; fi\"";
  const CmdResult r = run_cmd(cmd);
  if (r.status != 0) {
    if (why) *why = "make_runs.py failed (" + std::to_string(r.status) + "): " + r.err;
    return "";
  }
  return runs.string();
}

}  // namespace netlens::test
