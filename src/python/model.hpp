// The Python module's model: a loaded ONNX graph, its backends and a session, with the inputs of
// its last run. Plain C++ (no pybind11 types), so the conversions live in module.cpp only.
//
// Threads: not thread-safe by itself. module.cpp takes mutex() around every call, so two Python
// threads using one Model take turns, and releases the GIL around run(), backward() and
// render_png() (they never touch Python objects), so other Python threads keep running meanwhile.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/explain.hpp"
#include "netlens/runtime.hpp"

namespace netlens::pyapi {

struct LoadOptions {
  std::string backend = "auto";  // cpu | cuda | auto (as the CLI's --backend)
  size_t max_memory = 0;         // 0: limited by available memory
};

// What a render draws (the `netlens render` flags, typed).
struct RenderOptions {
  int width = 1280, height = 720;
  std::string camera;            // a camera JSON file (--camera); exclusive with view
  std::string view;              // overview | layer:NAME (--view); "" = overview
  std::string select;            // TENSOR:INDEX (--select)
  std::string values = "activation";  // activation | gradient | attribution (--values)
  std::string target, score;     // gradient modes: what S is (--target, --score)
  std::vector<std::string> labels;    // --labels, already read
  std::optional<std::string> title;   // "" = the graph's name; unset = the model's file stem
  std::string collapse = "none";
  bool lod_mean = false;
  int gpu = -1;
};

// The inspect document's sections (the `netlens inspect` flags, typed).
struct InspectOptions {
  std::optional<std::string> tensor, find, neuron, weights, labels_path;
  bool attention = false, all_terms = false, brief = false, gradients = false;
  std::optional<std::string> target, score;
  int64_t query = 0, top = 5;
};

class Model {
 public:
  // From a file (Error{Io|Model|Unsupported} naming it) or from bytes ("<bytes>" in messages).
  static std::unique_ptr<Model> from_path(const std::string& path, const LoadOptions& o);
  static std::unique_ptr<Model> from_bytes(std::string bytes, const LoadOptions& o);

  const Graph& graph() const { return graph_; }
  const std::string& path() const { return path_; }    // "" when loaded from bytes
  const std::string& bytes() const { return bytes_; }  // the model's bytes when loaded from bytes
  std::string label() const { return path_.empty() ? std::string("<bytes>") : path_; }

  // Runs on `inputs` (every graph input, dtypes as declared; Error{Input|Usage} otherwise). A new
  // shape re-plans the session. Call without the GIL.
  void run(std::map<std::string, Tensor> inputs);
  bool has_run() const { return has_run_; }
  const Session& session() const;  // Error{Usage} before the first run
  Session& session();
  const std::map<std::string, Tensor>& inputs() const { return inputs_; }
  double run_ms() const { return run_ms_; }
  std::mutex& mutex() { return mu_; }
  // Views into the store (run(copy=False)) each hold a copy of this token; while any is alive,
  // run() and backward() refuse (Error{Usage}) rather than overwrite memory NumPy still shows.
  const std::shared_ptr<int>& view_token() const { return view_token_; }

  // The target (explain::parse_target text, score "logit"|"prob") fixed against the last run.
  explain::Target resolve(const std::string& target, const std::string& score, const std::vector<std::string>& labels);
  // Backward pass of the target (explain::parse_target text, score "logit"|"prob") on the last run.
  explain::Target backward(const std::string& target, const std::string& score, const std::vector<std::string>& labels);

  // explain::explain on the last run's inputs (the session is left holding that run and its
  // gradients, as after `netlens explain`). Call without the GIL.
  explain::Explanation explain(const std::string& target, const std::string& score, const std::vector<std::string>& labels,
                               const explain::MethodOptions& mo, explain::Target* target_out);

  // The PNG `netlens render MODEL --out F` writes for these options, as bytes. Gradient modes run
  // the backward pass first, as the CLI does. Through png_renderer() (Error{Device} without the
  // Vulkan app).
  std::string render_png(const RenderOptions& o);

  // The JSON document `netlens inspect` prints, for the last run (inspect_doc.cpp).
  nlohmann::json inspect(const InspectOptions& o);

 private:
  Model() = default;
  void init(Graph g, const LoadOptions& o);
  Graph graph_;
  std::string path_, bytes_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<Session> session_;
  std::map<std::string, Tensor> inputs_;
  std::map<std::string, Shape> prepared_shapes_;
  LoadOptions opts_;
  bool has_run_ = false;
  double load_ms_ = 0, run_ms_ = 0;
  std::mutex mu_;
  std::shared_ptr<int> view_token_ = std::make_shared<int>(0);
  void check_no_views(const char* what) const;
};

// Drawing through the Vulkan app: render.cpp, compiled in only when netlens_app exists, sets this at
// start-up; empty in a build without the renderer.
using PngRenderer = std::string (*)(Model&, const RenderOptions&);
PngRenderer& png_renderer();

}  // namespace netlens::pyapi
