// Runs ONNX's own node test suite (NETLENS_ONNX_TESTDATA/node/<test>/) on the CPU backend and
// compares every output with the expected tensors stored by ONNX, using ONNX's tolerance
// (numpy.testing.assert_allclose(rtol=1e-3, atol=1e-7)): |got - expected| <= atol + rtol*|expected|,
// NaN matches NaN, infinities must match exactly; integer and bool outputs must match exactly.
//
// Each test is classified: passed, failed (first mismatch or error), or skipped with a reason
// (loader Unsupported, Error{Unsupported} from prepare/run = op or attribute not implemented,
// training-domain ops). The GoogleTest fails when any non-skipped test fails.
//
// Environment:
//   NETLENS_NODE_FILTER=<substring>  only the tests whose folder name contains it
//   NETLENS_NODE_VERBOSE=1           print every test's status (and full skip messages)
//   NETLENS_NODE_NOFORK=1            run tests in-process (for a debugger); by default each test
//                                    runs in a forked child so that a crash in one op is reported
//                                    as that test's failure instead of killing the whole suite
//   NETLENS_NODE_SUITE=<folder>      another folder of the test data with the same layout
//                                    (simple, pytorch-converted, pytorch-operator); default node
//   NETLENS_NODE_TIMEOUT=<seconds>   per-test watchdog in the child (default 300); a hang is
//                                    reported as a failure, it is not a timed assertion
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

#ifndef NETLENS_ONNX_TESTDATA
#error "NETLENS_ONNX_TESTDATA must be defined by CMake"
#endif

namespace fs = std::filesystem;
using namespace netlens;

namespace {

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

enum class Status : char { Passed = 'P', Failed = 'F', Skipped = 'S' };

struct Result {
  Status status = Status::Failed;
  std::string reason;  // skip group key or failure message
  std::string detail;  // full skip message
};

// Groups similar skip messages: drops the file prefix and replaces quoted names by '…', so that
// "Foo node 'Foo_0': ..." from many tests lands in one group. Session::prepare lists every
// unsupported node ("N unsupported nodes: Op (node 'n', opset k): why; Op ..."); those are reduced
// to the distinct "Op: why" entries so that e.g. three Constant nodes count as one reason.
std::string reason_key(const std::string& stage, std::string msg, const std::string& model_path) {
  if (!model_path.empty() && msg.rfind(model_path, 0) == 0) msg = msg.substr(model_path.size());
  if (msg.rfind(": ", 0) == 0) msg = msg.substr(2);
  msg = std::regex_replace(msg, std::regex("'[^']*'"), "'…'");
  msg = std::regex_replace(msg, std::regex(" \\((initializer|graph input|graph output|graph|attribute|tensor)[^)]*\\)$"), "");
  static const std::regex list_head("^[0-9]+ unsupported nodes?: ");
  std::smatch head;
  if (std::regex_search(msg, head, list_head)) {
    std::string rest = head.suffix();
    std::vector<std::string> entries;
    size_t pos = 0;
    while (pos <= rest.size()) {
      size_t end = rest.find("; ", pos);
      if (end == std::string::npos) end = rest.size();
      std::string e = std::regex_replace(rest.substr(pos, end - pos), std::regex(" \\(node '…', opset [0-9]+\\)"), "");
      if (std::find(entries.begin(), entries.end(), e) == entries.end()) entries.push_back(e);
      pos = end + 2;
    }
    std::sort(entries.begin(), entries.end());
    msg = "unsupported ";
    for (size_t i = 0; i < entries.size(); ++i) msg += (i ? "; " : "") + entries[i];
  }
  if (msg.size() > 200) msg = msg.substr(0, 200) + "...";
  return stage + ": " + msg;
}

std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

std::string fmt(double v) {
  std::ostringstream ss;
  ss.precision(9);
  ss << v;
  return ss.str();
}

// Empty string when equal, else the first mismatch.
std::string compare(const std::string& name, const Tensor& got, const Tensor& exp) {
  if (got.dtype() != exp.dtype())
    return "output '" + name + "': dtype " + std::string(dtype_name(got.dtype())) + ", expected " +
           std::string(dtype_name(exp.dtype()));
  if (got.shape() != exp.shape())
    return "output '" + name + "': shape " + shape_str(got.shape()) + ", expected " + shape_str(exp.shape());
  const int64_t n = exp.numel();
  if (is_float(exp.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      const double g = got.get_f64(i), e = exp.get_f64(i);
      bool ok;
      if (std::isnan(e)) ok = std::isnan(g);
      else if (std::isinf(e)) ok = g == e;
      else ok = std::isfinite(g) && std::fabs(g - e) <= kAtol + kRtol * std::fabs(e);
      if (!ok)
        return "output '" + name + "' [" + std::to_string(i) + "]: got " + fmt(g) + ", expected " + fmt(e) +
               " (rtol 1e-3, atol 1e-7)";
    }
  } else {
    const size_t es = dtype_size(exp.dtype());
    const auto* gp = static_cast<const unsigned char*>(got.data());
    const auto* ep = static_cast<const unsigned char*>(exp.data());
    for (int64_t i = 0; i < n; ++i) {
      if (std::memcmp(gp + i * es, ep + i * es, es) != 0)
        return "output '" + name + "' [" + std::to_string(i) + "]: got " + std::to_string(got.get_i64(i)) +
               ", expected " + std::to_string(exp.get_i64(i)) + " (exact)";
    }
  }
  return "";
}

std::set<std::string> input_ancestors(const Graph& g, const std::string& tensor);

// Known defects of the ONNX 1.12 test data itself (the same tests onnxruntime excludes), skipped
// with the reason instead of counted as failures of netlens.
const std::map<std::string, std::string> kBrokenTestData = {
    {"test_cast_FLOAT_to_BFLOAT16",
     "expected values truncate float to bfloat16; the spec (and onnxruntime) round to nearest even"},
};

Result run_one(const fs::path& dir) {
  if (auto it = kBrokenTestData.find(dir.filename().string()); it != kBrokenTestData.end())
    return {Status::Skipped, "known ONNX 1.12 test-data defect", it->second};
  const fs::path model_path = dir / "model.onnx";
  const std::string model = model_path.string();
  Graph g;
  try {
    g = load_onnx(model);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Unsupported) return {Status::Skipped, reason_key("loader", e.what(), model), e.what()};
    return {Status::Failed, std::string("loader: ") + e.what(), ""};
  }
  for (const Node& n : g.nodes)
    if (n.domain.find("training") != std::string::npos)
      return {Status::Skipped, "feature: training op (" + n.domain + ")", n.describe()};

  const fs::path data = dir / "test_data_set_0";
  const auto in_files = numbered_files(data, "input_");
  const auto out_files = numbered_files(data, "output_");
  if (in_files.size() > g.inputs.size())
    return {Status::Failed,
            "test data has " + std::to_string(in_files.size()) + " inputs, graph has " + std::to_string(g.inputs.size()),
            ""};
  if (out_files.size() != g.outputs.size())
    return {Status::Failed,
            "test data has " + std::to_string(out_files.size()) + " outputs, graph has " +
                std::to_string(g.outputs.size()),
            ""};
  // ONNX's numpy has no bfloat16, so its test data stores bfloat16 tensors as their uint16 bit
  // patterns. Where the model declares bfloat16 and the data is uint16, the bits are the bfloat16
  // values: reinterpret them.
  auto as_declared = [](Tensor t, DType declared) {
    if (declared != DType::BFloat16 || t.dtype() != DType::UInt16) return t;
    Tensor r(DType::BFloat16, t.shape());
    if (t.nbytes()) std::memcpy(r.data(), t.data(), t.nbytes());
    return r;
  };
  // ONNX 1.12 also ships a few tests whose data contradicts their own model (the castlike bfloat16
  // tests feed a 1-element 'like' for a declared 3x4). No runtime can pass those; they are skipped
  // with the inconsistency spelled out rather than counted as failures.
  auto inconsistent = [&](size_t i, const Tensor& t) -> std::string {
    const ValueInfo& vi = g.inputs[i];
    if (vi.dtype != DType::Undefined && vi.dtype != t.dtype())
      return "input '" + vi.name + "' is " + std::string(dtype_name(t.dtype())) + " in the test data, the model declares " +
             std::string(dtype_name(vi.dtype));
    if (vi.has_shape) {
      bool ok = vi.dims.size() == t.shape().size();
      for (size_t k = 0; ok && k < vi.dims.size(); ++k) ok = !vi.dims[k].fixed() || vi.dims[k].value == t.shape()[k];
      if (!ok) return "input '" + vi.name + "' has shape " + shape_str(t.shape()) + " in the test data, the model declares another";
    }
    return "";
  };
  std::map<std::string, Tensor> inputs;
  std::vector<Tensor> expected;
  try {
    for (size_t i = 0; i < in_files.size(); ++i) {
      Tensor t = as_declared(load_onnx_tensor(in_files[i].string()), g.inputs[i].dtype);
      if (const std::string why = inconsistent(i, t); !why.empty())
        return {Status::Skipped, "test data contradicts the model (ONNX test-data bug)", why};
      inputs[g.inputs[i].name] = std::move(t);
    }
    for (size_t i = 0; i < out_files.size(); ++i)
      expected.push_back(as_declared(load_onnx_tensor(out_files[i].string()), g.outputs[i].dtype));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Unsupported) return {Status::Skipped, reason_key("test data", e.what(), ""), e.what()};
    return {Status::Failed, std::string("test data: ") + e.what(), ""};
  }

  const std::vector<std::string> out_names = [&] {
    std::vector<std::string> v;
    for (const auto& o : g.outputs) v.push_back(o.name);
    return v;
  }();
  // The suite feeds shape-like operands (Reshape's shape, Slice's starts, Resize's scales...) as
  // graph inputs; in real models they are constants, and the runtime needs them before the run.
  // When prepare says such an input "must be computable before the run", the test is retried with
  // that input frozen into an initializer holding the very same test value.
  static const std::regex needs_constant("input [0-9]+ \\('([^']*)'\\) must be computable before the run");
  std::set<std::string> frozen;
  auto backend = make_cpu_backend();
  for (int attempt = 0;; ++attempt) {
    Graph gg = g;
    std::map<std::string, Tensor> feed;
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : inputs) {
      if (frozen.count(name)) {
        gg.initializers[name] = t;
        std::erase_if(gg.inputs, [&](const ValueInfo& v) { return v.name == name; });
      } else {
        feed[name] = t;
        shapes[name] = t.shape();
      }
    }
    try {
      Session session(std::move(gg), {backend.get()});
      try {
        session.prepare(shapes);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::Unsupported) return {Status::Failed, std::string("prepare: ") + e.what(), ""};
        const std::string msg = e.what();
        size_t newly = 0;
        for (std::sregex_iterator it(msg.begin(), msg.end(), needs_constant), end; it != end; ++it)
          for (const std::string& name : input_ancestors(g, (*it)[1]))
            if (inputs.count(name) && frozen.insert(name).second) ++newly;
        if (newly && attempt < 8) continue;
        return {Status::Skipped, reason_key("prepare", msg, model), msg};
      }
      try {
        session.run(feed);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Unsupported) return {Status::Skipped, reason_key("run", e.what(), model), e.what()};
        return {Status::Failed, std::string("run: ") + e.what(), ""};
      }
      for (size_t i = 0; i < out_names.size(); ++i) {
        Tensor got;
        try {
          got = session.activations().fetch(out_names[i]);
        } catch (const Error& e) {
          return {Status::Failed, std::string("fetch: ") + e.what(), ""};
        }
        const std::string diff = compare(out_names[i], got, expected[i]);
        if (!diff.empty()) return {Status::Failed, diff, ""};
      }
    } catch (const std::exception& e) {
      return {Status::Failed, std::string("unexpected exception: ") + e.what(), ""};
    }
    break;
  }
  if (!frozen.empty()) {
    std::string names;
    for (const auto& n : frozen) names += (names.empty() ? "" : ", ") + n;
    return {Status::Passed, "", "with inputs frozen as constants: " + names};
  }
  return {Status::Passed, "", ""};
}

// The graph inputs a tensor is computed from (itself when it is one).
std::set<std::string> input_ancestors(const Graph& g, const std::string& tensor) {
  std::map<std::string, const Node*> producer;
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs) producer[o] = &n;
  std::set<std::string> found, seen;
  std::vector<std::string> todo{tensor};
  while (!todo.empty()) {
    const std::string t = todo.back();
    todo.pop_back();
    if (t.empty() || !seen.insert(t).second) continue;
    if (g.find_input(t)) found.insert(t);
    auto it = producer.find(t);
    if (it != producer.end())
      for (const auto& in : it->second->inputs) todo.push_back(in);
  }
  return found;
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

// Runs run_one in a child process; the child sends "<status><reason>\x1f<detail>" through a pipe.
Result run_isolated(const fs::path& dir, int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return {Status::Failed, "pipe() failed", ""};
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return {Status::Failed, "fork() failed", ""};
  }
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(timeout_s));
    Result r;
    try {
      r = run_one(dir);
    } catch (const std::exception& e) {
      r = {Status::Failed, std::string("unexpected exception: ") + e.what(), ""};
    }
    std::string msg = static_cast<char>(r.status) + r.reason + '\x1f' + r.detail;
    const char* p = msg.data();
    size_t left = msg.size();
    while (left) {
      const ssize_t w = write(fds[1], p, left);
      if (w <= 0) break;
      p += w;
      left -= static_cast<size_t>(w);
    }
    close(fds[1]);
    _exit(0);  // skip static destructors and gtest's exit handling in the child
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int ws = 0;
  waitpid(pid, &ws, 0);
  if (WIFSIGNALED(ws)) {
    const int sig = WTERMSIG(ws);
    std::string what = sig == SIGALRM ? "timed out after " + std::to_string(timeout_s) + " s (hang?)"
                                      : "crashed with signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    return {Status::Failed, what, ""};
  }
  if (msg.empty())
    return {Status::Failed,
            "child exited with status " + std::to_string(WEXITSTATUS(ws)) + " and no result (see a sanitizer report above?)", ""};
  Result r;
  r.status = static_cast<Status>(msg[0]);
  const size_t sep = msg.find('\x1f');
  r.reason = msg.substr(1, sep == std::string::npos ? std::string::npos : sep - 1);
  if (sep != std::string::npos) r.detail = msg.substr(sep + 1);
  return r;
}

TEST(OnnxNodeSuite, AllNodeTests) {
  const char* suite_env = std::getenv("NETLENS_NODE_SUITE");
  const fs::path root = fs::path(NETLENS_ONNX_TESTDATA) / (suite_env && *suite_env ? suite_env : "node");
  ASSERT_TRUE(fs::is_directory(root)) << "ONNX node test data not found at " << root
                                      << " (install libonnx-testdata or set NETLENS_ONNX_TESTDATA)";
  const char* filter_env = std::getenv("NETLENS_NODE_FILTER");
  const std::string filter = filter_env ? filter_env : "";
  const bool verbose = env_flag("NETLENS_NODE_VERBOSE");
  const bool nofork = env_flag("NETLENS_NODE_NOFORK");
  int timeout_s = 300;
  if (const char* t = std::getenv("NETLENS_NODE_TIMEOUT")) timeout_s = std::max(1, std::atoi(t));

  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string().find(filter) != std::string::npos &&
        fs::exists(e.path() / "model.onnx"))
      dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  ASSERT_FALSE(dirs.empty()) << "no node test matches NETLENS_NODE_FILTER='" << filter << "'";

  int passed = 0, failed = 0, skipped = 0, frozen_count = 0;
  std::map<std::string, int> skip_groups;
  std::vector<std::pair<std::string, std::string>> failures;
  for (const auto& dir : dirs) {
    const std::string name = dir.filename().string();
    const Result r = nofork ? run_one(dir) : run_isolated(dir, timeout_s);
    switch (r.status) {
      case Status::Passed: ++passed; frozen_count += !r.detail.empty(); break;
      case Status::Failed: ++failed; failures.emplace_back(name, r.reason); break;
      case Status::Skipped: ++skipped; ++skip_groups[r.reason]; break;
    }
    if (verbose) {
      const char* tag = r.status == Status::Passed ? "PASS" : r.status == Status::Failed ? "FAIL" : "SKIP";
      std::cout << "[" << tag << "] " << name;
      if (r.status == Status::Failed) std::cout << ": " << r.reason;
      if (r.status == Status::Skipped) std::cout << ": " << (r.detail.empty() ? r.reason : r.detail);
      if (r.status == Status::Passed && !r.detail.empty()) std::cout << " (" << r.detail << ")";
      std::cout << "\n" << std::flush;
    }
  }

  std::vector<std::pair<std::string, int>> groups(skip_groups.begin(), skip_groups.end());
  std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::cout << "\n==== ONNX node suite (" << root.string() << (filter.empty() ? "" : ", filter '" + filter + "'")
            << ") ====\n"
            << "  total   " << dirs.size() << "\n"
            << "  passed  " << passed << " (" << frozen_count << " with shape inputs frozen as constants)\n"
            << "  failed  " << failed << "\n"
            << "  skipped " << skipped << "\n";
  if (!groups.empty()) {
    std::cout << "---- skip reasons ----\n";
    for (const auto& [reason, count] : groups) std::cout << "  " << count << "\t" << reason << "\n";
  }
  if (!failures.empty()) {
    std::cout << "---- failures ----\n";
    for (const auto& [name, why] : failures) std::cout << "  " << name << ": " << why << "\n";
  }
  std::cout << std::flush;
  EXPECT_EQ(failed, 0) << failed << " of " << dirs.size() - static_cast<size_t>(skipped)
                       << " non-skipped node tests failed (see the table above)";
}

}  // namespace
