// The quantized models of tests/quant: scripts/quantize-models.py --references writes them, their
// inputs and onnxruntime's value of every tensor into NETLENS_QUANT_DATA once per script version (a
// stamp holds the script's size and time). ctest runs tests in parallel processes: the stamp is read
// and the folder regenerated under one flock(2) held by this process, so no process reads a stale
// stamp and wipes a folder another test is reading. A missing model or onnxruntime fails the test.
// isnet_data: the same for tests/quant/isnet_reference.py (IMG.LY's quantized ISNet).
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace netlens::test {

// Runs `cmd` (which writes folder `out`) unless out/stamp holds `want`; "" and *why on failure.
inline std::string generated_once(const std::filesystem::path& out, const std::string& want, const std::string& cmd,
                                  const std::string& what, std::string* why) {
  namespace fs = std::filesystem;
  fs::create_directories(out.parent_path());
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
    const int st = std::system((cmd + " >'" + log + "' 2>&1").c_str());
    if (st != 0) {
      std::ifstream f(log);
      *why = what + " failed: " + std::string(std::istreambuf_iterator<char>(f), {});
      result.clear();
    } else {
      std::ofstream(out / "stamp") << want << "\n";
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return result;
}

inline std::string file_stamp(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  return std::to_string(fs::file_size(p)) + " " + std::to_string(fs::last_write_time(p).time_since_epoch().count());
}

inline std::string quant_data(std::string* why) {
  namespace fs = std::filesystem;
  const fs::path out = NETLENS_QUANT_DATA;
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "scripts/quantize-models.py";
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' --models '" NETLENS_CACHE_DIR "/models' --out '" +
                          out.string() + "' --references";
  return generated_once(out, file_stamp(script), cmd, "quantize-models.py", why);
}

// tests/quant/isnet_reference.py's folder for IMG.LY's ISNet at size x size on chelsea.png; a
// missing model (scripts/fetch-models.sh) fails here.
inline std::string isnet_data(int size, std::string* why) {
  namespace fs = std::filesystem;
  const fs::path model = NETLENS_CACHE_DIR "/models/isnet_quint8.onnx";
  if (!fs::exists(model)) {
    *why = model.string() + " is missing: run scripts/fetch-models.sh";
    return "";
  }
  const fs::path out = std::string(NETLENS_QUANT_DATA) + "_isnet" + std::to_string(size);
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "tests/quant/isnet_reference.py";
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' --model '" + model.string() +
                          "' --image /usr/lib/python3/dist-packages/skimage/data/chelsea.png --size " +
                          std::to_string(size) + " --out '" + out.string() + "'";
  return generated_once(out, file_stamp(script) + " " + file_stamp(model), cmd, "isnet_reference.py", why);
}

}  // namespace netlens::test
