// LSTM, GRU and RNN through the whole Session against independent references:
// - onnxruntime (scripts/ort/run.js, no graph optimisation) on PyTorch-exported models (2 layers,
//   bidirectional, batch_first, with and without initial states) and on single ONNX nodes for what
//   PyTorch never exports (sequence_lens, layout = 1, reverse, peepholes, clip, input_forget, GRU
//   linear_before_reset = 0, activations with alpha/beta): every graph output within 1e-5;
// - PyTorch's own outputs for the exported models, within 1e-5;
// - every step's cell state and gate activations (the store's "<Y>:cell" / "<Y>:gates" auxiliary
//   tensors) against a float64 NumPy recurrence on the torch weights, within 1e-5;
// - bad input: one Error naming the node.
// The models and references come from tests/cpu/rnn_models.py, run once per build folder (a stamp
// holds the script's size and time; flock(2) serialises concurrent test processes).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;
namespace fs = std::filesystem;

namespace {

constexpr double kTol = 1e-5;

// The generated cases folder; regenerated when rnn_models.py changed. Fails (never skips) when the
// script fails: torch, onnx and onnxruntime are what this test checks against.
std::string cases_dir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  const fs::path out = NETLENS_RNN_CASES;
  const fs::path script = fs::path(NETLENS_SOURCE_DIR) / "tests/cpu/rnn_models.py";
  fs::create_directories(out.parent_path());
  const std::string stamp_want = std::to_string(fs::file_size(script)) + " " +
                                 std::to_string(fs::last_write_time(script).time_since_epoch().count());
  const std::string lock_path = out.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + lock_path);
  std::string stamp_have;
  {
    std::ifstream f(out / "stamp");
    std::getline(f, stamp_have);
  }
  int rc = 0;
  if (stamp_have != stamp_want) {
    std::error_code ec;
    fs::remove_all(out, ec);
    const std::string cmd = "OMP_NUM_THREADS=1 NETLENS_CACHE_DIR='" + std::string(NETLENS_CACHE_DIR) +
                            "' /usr/bin/python3 '" + script.string() + "' '" + out.string() + "' 2>&1";
    rc = std::system(cmd.c_str());
    if (rc == 0) std::ofstream(out / "stamp") << stamp_want << "\n";
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  if (rc != 0) throw std::runtime_error("rnn_models.py failed (status " + std::to_string(rc) + ")");
  dir = out.string();
  return dir;
}

nlohmann::json manifest() {
  std::ifstream f(fs::path(cases_dir()) / "manifest.json");
  return nlohmann::json::parse(f);
}

struct Ran {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  std::unique_ptr<Session> session;
};

std::unique_ptr<Ran> run_case(const nlohmann::json& c) {
  auto r = std::make_unique<Ran>();
  const fs::path d = cases_dir();
  const std::string name = c["name"];
  r->session = std::make_unique<Session>(load_onnx((d / (name + ".onnx")).string()), std::vector<Backend*>{r->cpu.get()});
  std::map<std::string, Tensor> inputs;
  for (size_t k = 0; k < c["inputs"].size(); ++k)
    inputs[c["inputs"][k].get<std::string>()] = read_npy((d / (name + ".in" + std::to_string(k) + ".npy")).string());
  r->session->run(inputs);
  return r;
}

// Max |got - want|; shapes must match.
double max_abs_diff(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_EQ(got.shape(), want.shape()) << what;
  if (got.shape() != want.shape()) return INFINITY;
  const Tensor g = got.dtype() == DType::Float32 ? got : got.cast(DType::Float32);
  const float *a = static_cast<const float*>(g.data()), *b = static_cast<const float*>(want.data());
  double m = 0;
  for (int64_t i = 0; i < numel(got.shape()); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// The recurrent node of a 1-layer case.
const Node& recurrent_node(const Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN") return n;
  throw std::runtime_error("no recurrent node");
}

TEST(RnnOps, MatchOnnxruntime) {
  const nlohmann::json m = manifest();
  ASSERT_GE(m.size(), 17u);
  double worst = 0;
  for (const auto& c : m) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto r = run_case(c);
    for (size_t k = 0; k < c["outputs"].size(); ++k) {
      const std::string out = c["outputs"][k];
      const Tensor want = read_npy((fs::path(cases_dir()) / (name + ".ort" + std::to_string(k) + ".npy")).string());
      const double d = max_abs_diff(r->session->activations().fetch(out), want, name + " " + out);
      EXPECT_LE(d, kTol) << name << " output " << out;
      worst = std::max(worst, d);
      std::printf("[rnn] %-44s %-6s vs onnxruntime: max |diff| %.2e\n", name.c_str(), out.c_str(), d);
    }
  }
  std::printf("[rnn] worst |netlens - onnxruntime| over %zu models: %.2e (tolerance %.0e)\n", m.size(), worst, kTol);
}

TEST(RnnOps, MatchPyTorch) {
  int checked = 0;
  for (const auto& c : manifest()) {
    if (!c["torch"].get<bool>()) continue;
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto r = run_case(c);
    for (size_t k = 0; k < c["outputs"].size(); ++k) {
      const std::string out = c["outputs"][k];
      const Tensor want = read_npy((fs::path(cases_dir()) / (name + ".torch" + std::to_string(k) + ".npy")).string());
      const double d = max_abs_diff(r->session->activations().fetch(out), want, name + " " + out);
      EXPECT_LE(d, kTol) << name << " output " << out;
      std::printf("[rnn] %-44s %-6s vs PyTorch: max |diff| %.2e\n", name.c_str(), out.c_str(), d);
      ++checked;
    }
  }
  EXPECT_GE(checked, 15);
}

// Every step's cell state / gates kept in the store, against the NumPy recurrence.
TEST(RnnOps, StepStatesKeptAndMatchNumPy) {
  int checked = 0;
  for (const auto& c : manifest()) {
    for (const char* what : {"cell", "gates"}) {
      if (!c[what].get<bool>()) continue;
      const std::string name = c["name"];
      auto r = run_case(c);
      const Node& n = recurrent_node(r->session->graph());
      const std::string aux = n.outputs[0] + ":" + what;
      ASSERT_TRUE(r->session->activations().contains(aux)) << name << ": no tensor " << aux;
      // Listed among the node's outputs, after its own.
      int idx = -1;
      for (size_t i = 0; i < r->session->graph().nodes.size(); ++i)
        if (&r->session->graph().nodes[i] == &n) idx = static_cast<int>(i);
      const auto& outs = r->session->activations().node_outputs(idx);
      EXPECT_NE(std::find(outs.begin(), outs.end(), aux), outs.end());
      const Tensor want = read_npy((fs::path(cases_dir()) / (name + "." + what + ".npy")).string());
      const double d = max_abs_diff(r->session->activations().fetch(aux), want, aux);
      EXPECT_LE(d, kTol) << name << " " << aux;
      std::printf("[rnn] %-44s %-18s every step vs NumPy float64: max |diff| %.2e\n", name.c_str(), what, d);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);  // LSTM cell + gates, GRU gates
}

// ---- bad input ---------------------------------------------------------------------------------
ValueInfo vi(const std::string& name, DType t, std::vector<int64_t> dims) {
  ValueInfo v{name, t, {}, true};
  for (int64_t d : dims) v.dims.push_back(Dim{d, ""});
  return v;
}

// X [T=3, B=2, I=4] → LSTM(hidden 5) with sequence_lens as a graph input.
Graph lstm_graph(int64_t hidden_attr, std::vector<int64_t> lens_shape, std::vector<std::string> acts = {}) {
  Graph g;
  g.opsets[""] = 14;
  g.inputs.push_back(vi("X", DType::Float32, {3, 2, 4}));
  g.inputs.push_back(vi("L", DType::Int32, lens_shape));
  g.initializers["W"] = Tensor(DType::Float32, {1, 20, 4});
  g.initializers["R"] = Tensor(DType::Float32, {1, 20, 5});
  Node n;
  n.op_type = "LSTM";
  n.name = "enc_lstm";
  n.inputs = {"X", "W", "R", "", "L"};
  n.outputs = {"Y", "Y_h"};
  n.attrs["hidden_size"] = hidden_attr;
  if (!acts.empty()) n.attrs["activations"] = acts;
  g.nodes.push_back(n);
  g.outputs.push_back(vi("Y", DType::Float32, {3, 1, 2, 5}));
  return g;
}

template <class F>
std::string error_of(F f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

TEST(RnnOps, BadInputIsOneErrorNamingTheNode) {
  auto cpu = make_cpu_backend();
  const Tensor x = Tensor::from_f32({3, 2, 4}, std::vector<float>(24, 0.5f));
  auto run = [&](Graph g, std::vector<int32_t> lens) {
    Session s(std::move(g), {cpu.get()});
    Tensor l(DType::Int32, {static_cast<int64_t>(lens.size())});
    std::memcpy(l.data(), lens.data(), lens.size() * sizeof(int32_t));
    s.run({{"X", x}, {"L", l}});
  };
  ErrorKind kind{};
  std::string e = error_of([&] { run(lstm_graph(5, {2}), {3, 4}); }, &kind);
  EXPECT_NE(e.find("LSTM node 'enc_lstm'"), std::string::npos) << e;
  EXPECT_NE(e.find("sequence_lens[1] = 4 is outside [0, 3]"), std::string::npos) << e;
  EXPECT_EQ(kind, ErrorKind::Input);
  e = error_of([&] { run(lstm_graph(5, {2}), {-1, 2}); });
  EXPECT_NE(e.find("sequence_lens[0] = -1"), std::string::npos) << e;

  e = error_of([&] { run(lstm_graph(5, {3}), {1, 2, 3}); }, &kind);
  EXPECT_NE(e.find("LSTM node 'enc_lstm'"), std::string::npos) << e;
  EXPECT_NE(e.find("sequence_lens has shape 3, expected 2"), std::string::npos) << e;
  EXPECT_EQ(kind, ErrorKind::Model);

  e = error_of([&] { run(lstm_graph(6, {2}), {1, 2}); });
  EXPECT_NE(e.find("LSTM node 'enc_lstm'"), std::string::npos) << e;
  EXPECT_NE(e.find("W has shape 1x20x4, expected 1x24x4"), std::string::npos) << e;
  EXPECT_NE(e.find("hidden_size 6"), std::string::npos) << e;

  e = error_of([&] { run(lstm_graph(5, {2}, {"Sigmoid", "Tanhh", "Tanh"}), {1, 2}); });
  EXPECT_NE(e.find("LSTM node 'enc_lstm'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown activation 'Tanhh'"), std::string::npos) << e;

  e = error_of([&] { run(lstm_graph(5, {2}, {"Sigmoid", "Tanh"}), {1, 2}); });
  EXPECT_NE(e.find("activations has 2 entries, expected 3"), std::string::npos) << e;

  // A good run after all that: the same graph with valid lengths works.
  EXPECT_EQ(error_of([&] { run(lstm_graph(5, {2}), {3, 0}); }), "");
}

}  // namespace
