#include "model.hpp"

#include <chrono>

#include "netlens/cli/common.hpp"
#include "netlens/onnx.hpp"

namespace netlens::pyapi {

std::unique_ptr<Model> Model::from_path(const std::string& path, const LoadOptions& o) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  m->init(load_onnx(path), o);
  return m;
}

std::unique_ptr<Model> Model::from_bytes(std::string bytes, const LoadOptions& o) {
  std::unique_ptr<Model> m(new Model());
  Graph g = load_onnx_bytes(bytes, "", "<bytes>");
  m->bytes_ = std::move(bytes);
  m->init(std::move(g), o);
  return m;
}

void Model::init(Graph g, const LoadOptions& o) {
  graph_ = std::move(g);
  opts_ = o;
  // The CLI's backend choice, quiet: a library does not print which backend it picked.
  backends_ = cli::make_backends(o.backend, /*quiet=*/true);
}

void Model::check_no_views(const char* what) const {
  if (view_token_.use_count() > 1)
    throw Error(ErrorKind::Usage, std::string(what) + ": " + std::to_string(view_token_.use_count() - 1) +
                                      " array(s) from run(copy=False) / gradients(copy=False) still view the store this would "
                                      "overwrite: delete them (or keep copies) first");
}

void Model::run(std::map<std::string, Tensor> inputs) {
  check_no_views("run");
  for (const auto& [name, t] : inputs)
    if (!graph_.find_input(name)) {
      std::string names;
      for (const ValueInfo& v : graph_.inputs) names += (names.empty() ? "" : ", ") + v.name;
      throw Error(ErrorKind::Usage, "the model has no input named '" + name + "' (inputs: " + names + ")");
    }
  for (const ValueInfo& v : graph_.inputs)
    if (!inputs.count(v.name)) throw Error(ErrorKind::Usage, "missing input '" + v.name + "'");
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = t.shape();
  // A session is planned for one set of input shapes: a new set plans a new session.
  if (!session_ || shapes != prepared_shapes_) {
    has_run_ = false;
    session_.reset();
    std::vector<Backend*> raw;
    for (auto& b : backends_) raw.push_back(b.get());
    SessionOptions so;
    so.max_memory = opts_.max_memory;
    auto s = std::make_unique<Session>(graph_, raw, so);
    s->prepare(shapes);
    session_ = std::move(s);
    prepared_shapes_ = shapes;
  }
  const auto t0 = std::chrono::steady_clock::now();
  has_run_ = false;
  session_->run(inputs);
  run_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  inputs_ = std::move(inputs);
  has_run_ = true;
}

const Session& Model::session() const {
  if (!has_run_) throw Error(ErrorKind::Usage, "the model has not run yet: call run({name: array}) first");
  return *session_;
}

Session& Model::session() {
  if (!has_run_) throw Error(ErrorKind::Usage, "the model has not run yet: call run({name: array}) first");
  return *session_;
}

explain::Target Model::resolve(const std::string& target, const std::string& score, const std::vector<std::string>& labels) {
  const Session& s = session();
  const explain::TargetSpec spec = explain::parse_target(target, explain::parse_score(score.empty() ? "logit" : score));
  return explain::resolve_target(s, spec, labels);
}

explain::Target Model::backward(const std::string& target, const std::string& score,
                                const std::vector<std::string>& labels) {
  Session& s = session();
  check_no_views("gradients");
  explain::Target t = resolve(target, score, labels);
  s.backward(t.seeds(s));
  return t;
}

explain::Explanation Model::explain(const std::string& target, const std::string& score,
                                    const std::vector<std::string>& labels, const explain::MethodOptions& mo,
                                    explain::Target* target_out) {
  Session& s = session();
  check_no_views("explain");
  explain::input_layout(s);  // Error{Usage} before any work when there is no image input
  *target_out = resolve(target, score, labels);
  return explain::explain(s, inputs_, *target_out, mo);
}

PngRenderer& png_renderer() {
  static PngRenderer renderer = nullptr;
  return renderer;
}

std::string Model::render_png(const RenderOptions& o) {
  if (!png_renderer())
    throw Error(ErrorKind::Device, "render: this netlens was built without the Vulkan renderer (NETLENS_VULKAN=OFF)");
  return png_renderer()(*this, o);
}

}  // namespace netlens::pyapi
