// The quantized models of tests/quant: scripts/quantize-models.py --references writes them, their
// inputs and onnxruntime's value of every tensor into NETLENS_QUANT_DATA once per script version (a
// stamp holds the script's size and time). ctest runs tests in parallel processes: the stamp is read
// and the folder regenerated under one flock(2) held by this process, so no process reads a stale
// stamp and wipes a folder another test is reading. A missing model or onnxruntime fails the test.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace netlens::test {

inline std::string quant_data(std::string* why) {
  namespace fs = std::filesystem;
  const fs::path out = NETLENS_QUANT_DATA;
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "scripts/quantize-models.py";
  fs::create_directories(out.parent_path());
  const std::string want = std::to_string(fs::file_size(script)) + " " +
                           std::to_string(fs::last_write_time(script).time_since_epoch().count());
  const std::string lock_path = out.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
    *why = "cannot lock " + lock_path;
    if (fd >= 0) ::close(fd);
    return "";
  }
  std::string have;
  {
    std::ifstream f(out / "stamp");
    std::getline(f, have);
  }
  std::string result = out.string();
  if (have != want) {
    std::error_code ec;
    fs::remove_all(out, ec);
    const std::string log = out.string() + ".log";
    const std::string cmd = "/usr/bin/python3 '" + script.string() + "' --models '" NETLENS_CACHE_DIR "/models' --out '" +
                            out.string() + "' --references >'" + log + "' 2>&1";
    const int st = std::system(cmd.c_str());
    if (st != 0) {
      std::ifstream f(log);
      *why = "quantize-models.py failed: " + std::string(std::istreambuf_iterator<char>(f), {});
      result.clear();
    } else {
      std::ofstream(out / "stamp") << want << "\n";
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return result;
}

}  // namespace netlens::test
