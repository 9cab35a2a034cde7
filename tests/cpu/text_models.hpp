// The text models scripts/train-text-models.py trains, made once per build folder for the text tests
// (test_text_lstm, test_text_transformer), and per-process scratch folders.
//
// trained_models(out, models, after): runs `train-text-models.py out --models <models>` and then the
// shell command `after` (the onnxruntime references) when out/stamp is not the script's size and
// mtime plus `models`, and returns `out`. Why a lock for the whole process: ctest runs each TEST as
// its own process, and engineers share the build folder; a process that finds the stamp stale
// retrains, which first removes the folder. Holding flock(2) only around the stamp check let such a
// retrain delete a file while another test read it (read as "" -> "--text: the text is empty"). So
// the check/train runs under LOCK_EX and the process then keeps LOCK_SH on the same descriptor until
// it exits (the fd is never closed): a retrain waits for every reader. flock's EX->SH conversion is
// not atomic, so the stamp is re-read under SH. Throws std::runtime_error when training fails (a
// missing torch or licence text fails the test; it never skips).
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace text_models {

namespace fs = std::filesystem;

inline std::string trained_models(const fs::path& out, const std::string& models, const std::string& after) {
  static std::map<std::string, std::string> done;
  if (auto it = done.find(out.string()); it != done.end()) return it->second;
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "scripts/train-text-models.py";
  fs::create_directories(out.parent_path());
  const std::string stamp_want = std::to_string(fs::file_size(script)) + " " +
                                 std::to_string(fs::last_write_time(script).time_since_epoch().count()) + " " + models;
  const std::string lock_path = out.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + lock_path);
  auto stamp_have = [&] {
    std::string s;
    std::ifstream f(out / "stamp");
    std::getline(f, s);
    return s;
  };
  for (int attempt = 0;; ++attempt) {
    if (::flock(fd, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + lock_path);
    int rc = 0;
    if (stamp_have() != stamp_want) {
      std::error_code ec;
      fs::remove_all(out, ec);
      rc = std::system(("OMP_NUM_THREADS=1 /usr/bin/python3 '" + script.string() + "' '" + out.string() + "' --models " +
                        models + " 2>&1")
                           .c_str());
      if (rc == 0) rc = std::system(after.c_str());
      if (rc == 0) std::ofstream(out / "stamp") << stamp_want << "\n";
    }
    if (rc != 0) {
      ::flock(fd, LOCK_UN);
      ::close(fd);
      throw std::runtime_error("train-text-models.py or the onnxruntime run failed (status " + std::to_string(rc) + ")");
    }
    if (::flock(fd, LOCK_SH) != 0) throw std::runtime_error("cannot lock " + lock_path);
    if (stamp_have() == stamp_want) break;  // still current under the shared lock: kept to the end
    if (attempt >= 3) throw std::runtime_error(out.string() + ": the stamp keeps changing (the script is being edited?)");
  }
  return done[out.string()] = out.string();
}

// Per-process scratch paths under `parent`: two engineers' runs of the same test must not share
// files. Removed when the process exits.
inline fs::path scratch(const fs::path& parent, const std::string& name) {
  struct Dir {
    fs::path path;
    explicit Dir(fs::path p) : path(std::move(p)) { fs::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static Dir d(parent / ("text_scratch." + std::to_string(::getpid())));
  return d.path / name;
}

// The transformer classifier (train-text-models.py --models textcls) in `out`, with onnxruntime's
// logits for the script's eight evaluation sentences in out/ort0..7: one definition for every test
// that uses the folder, so a retrain by any of them leaves what all need.
inline std::string textcls_models(const fs::path& out) {
  const std::string ort = "set -e; for i in 0 1 2 3 4 5 6 7; do NETLENS_CACHE_DIR='" + std::string(NETLENS_CACHE_DIR) +
                          "' node '" + NETLENS_SOURCE_DIR + "/scripts/ort/run.js' '" + (out / "textcls.onnx").string() +
                          "' '" + (out / "ort").string() + "'$i --input ids='" + (out / "textcls.eval_ids_").string() +
                          "'$i.npy; done";
  return trained_models(out, "textcls", "bash -c '" + ort + "'");
}

}  // namespace text_models
