// Checkpoint discovery, layers of a graph, activation statistics and labelled image folders.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "netlens/timeline.hpp"

namespace netlens::timeline {
namespace fs = std::filesystem;

namespace {

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

bool has_npy(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && lower_ext(e.path()) == ".npy") return true;
  return false;
}

// A weight-only checkpoint: .npy files and no ONNX files or manifest (a folder of checkpoints may hold
// a probe.npy beside its ONNX files).
bool is_weight_folder(const fs::path& dir) {
  if (!has_npy(dir) || fs::exists(dir / "manifest.txt")) return false;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && lower_ext(e.path()) == ".onnx") return false;
  return true;
}

Checkpoint make_checkpoint(const fs::path& p) {
  if (!fs::exists(p)) throw Error(ErrorKind::Io, "checkpoint '" + p.string() + "' does not exist");
  Checkpoint c;
  c.path = p.string();
  c.name = fs::is_directory(p) ? p.filename().string() : p.stem().string();
  if (c.name.empty()) c.name = p.parent_path().filename().string();
  return c;
}

}  // namespace

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      std::string na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

CheckpointList discover_checkpoints(const std::vector<std::string>& paths, const std::string& graph) {
  if (paths.empty()) throw Error(ErrorKind::Usage, "timeline: no checkpoints given");
  CheckpointList out;
  out.order = "arguments";
  fs::path base;  // folder the graph.onnx default is looked up in
  if (paths.size() == 1 && fs::is_directory(paths[0]) && !is_weight_folder(paths[0])) {
    const fs::path dir = paths[0];
    base = dir;
    const fs::path manifest = dir / "manifest.txt";
    if (fs::exists(manifest)) {
      std::ifstream f(manifest);
      if (!f) throw Error(ErrorKind::Io, "cannot read " + manifest.string());
      std::string line;
      while (std::getline(f, line)) {
        const size_t h = line.find('#');
        if (h != std::string::npos) line.resize(h);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
        const size_t s = line.find_first_not_of(" \t");
        if (s == std::string::npos) continue;
        const fs::path p = dir / line.substr(s);
        if (!fs::exists(p))
          throw Error(ErrorKind::Io, manifest.string() + ": checkpoint '" + line.substr(s) + "' does not exist");
        out.checkpoints.push_back(make_checkpoint(p));
      }
      out.order = "manifest";
    } else {
      std::vector<fs::path> onnx, folders;
      for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file() && lower_ext(e.path()) == ".onnx" && e.path().filename() != "graph.onnx")
          onnx.push_back(e.path());
        else if (e.is_directory() && is_weight_folder(e.path()))
          folders.push_back(e.path());
      }
      if (!onnx.empty() && !folders.empty())
        throw Error(ErrorKind::Usage, "timeline: " + dir.string() +
                                          " holds both ONNX checkpoints and weight folders; give one kind (or a manifest.txt)");
      std::vector<fs::path>& chosen = onnx.empty() ? folders : onnx;
      if (chosen.empty() && fs::exists(dir / "graph.onnx")) chosen.push_back(dir / "graph.onnx");
      std::sort(chosen.begin(), chosen.end(), [](const fs::path& a, const fs::path& b) {
        return natural_less(a.filename().string(), b.filename().string());
      });
      for (const fs::path& p : chosen) out.checkpoints.push_back(make_checkpoint(p));
      out.order = "name";
    }
    if (out.checkpoints.empty())
      throw Error(ErrorKind::Usage, "timeline: no checkpoints in " + dir.string() +
                                        " (*.onnx files, folders of .npy weights, or a manifest.txt)");
  } else {
    for (const std::string& p : paths) out.checkpoints.push_back(make_checkpoint(p));
    if (!paths.empty()) base = fs::path(paths[0]).parent_path();
  }
  size_t folders = 0;
  for (const Checkpoint& c : out.checkpoints) folders += fs::is_directory(c.path) ? 1 : 0;
  if (folders != 0 && folders != out.checkpoints.size())
    throw Error(ErrorKind::Usage, "timeline: checkpoints mix ONNX files and weight folders; give one kind");
  if (folders) {
    out.graph = graph;
    if (out.graph.empty()) {
      const fs::path g = (base.empty() ? fs::path(".") : base) / "graph.onnx";
      if (!fs::exists(g))
        throw Error(ErrorKind::Usage, "timeline: weight-only checkpoints need their graph (--graph FILE, or graph.onnx beside them)");
      out.graph = g.string();
    }
    if (!fs::exists(out.graph)) throw Error(ErrorKind::Io, "graph '" + out.graph + "' does not exist");
  } else {
    for (const Checkpoint& c : out.checkpoints)
      if (lower_ext(c.path) != ".onnx")
        throw Error(ErrorKind::Usage, "timeline: checkpoint '" + c.path + "' is neither an .onnx file nor a folder of .npy weights");
    if (!graph.empty())
      throw Error(ErrorKind::Usage, "timeline: --graph is for weight-only checkpoints (folders of .npy files)");
  }
  return out;
}

std::vector<Layer> find_layers(const Graph& g) {
  static const std::set<std::string> kFollow = {"BatchNormalization", "Relu", "Sigmoid", "Tanh", "LeakyRelu",
                                                "Clip", "Elu", "Selu", "Softplus", "HardSigmoid", "HardSwish", "Gelu"};
  static const std::set<std::string> kWeight = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
  std::map<std::string, std::vector<size_t>> consumers;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const std::string& in : g.nodes[i].inputs)
      if (!in.empty()) consumers[in].push_back(i);
  std::set<std::string> graph_outputs;
  for (const ValueInfo& v : g.outputs) graph_outputs.insert(v.name);
  std::set<std::string> taken;
  std::vector<Layer> layers;
  for (const Node& n : g.nodes) {
    Layer l;
    for (const std::string& in : n.inputs) {
      auto it = g.initializers.find(in);
      if (in.empty() || it == g.initializers.end() || !is_float(it->second.dtype()) || it->second.numel() < 2) continue;
      if (!taken.insert(in).second) continue;
      l.params.push_back(in);
      l.param_count += it->second.numel();
    }
    if (l.params.empty() || n.outputs.empty() || n.outputs[0].empty()) continue;
    l.node = n.name;
    l.op = n.op_type;
    l.weight_layer = kWeight.count(n.op_type) != 0;
    l.activation = n.outputs[0];
    l.activation_op = n.op_type;
    for (;;) {
      if (graph_outputs.count(l.activation)) break;
      auto c = consumers.find(l.activation);
      if (c == consumers.end() || c->second.size() != 1) break;
      const Node& next = g.nodes[c->second[0]];
      if (!kFollow.count(next.op_type) || next.outputs.empty() || next.outputs[0].empty()) break;
      l.activation = next.outputs[0];
      l.activation_op = next.op_type;
      if (next.op_type != "BatchNormalization") break;  // stop after the first nonlinearity
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

ActivationStats activation_stats(const Tensor& t, const std::string& op) {
  ActivationStats s;
  const Tensor f = t.dtype() == DType::Float32 ? t : t.cast(DType::Float32);
  const float* p = f.data_as<float>();
  const int64_t n = f.numel();
  const int64_t batch = f.rank() >= 2 ? f.dim(0) : 1;
  s.channels = f.rank() >= 2 ? f.dim(1) : 1;
  const int64_t inner = s.channels > 0 && batch > 0 ? n / (batch * s.channels) : 0;
  double sum = 0, sq = 0;
  int64_t finite = 0, saturated = 0;
  const bool relu = op == "Relu";
  const bool sigmoid = op == "Sigmoid" || op == "HardSigmoid";
  const bool tanh_op = op == "Tanh";
  std::vector<char> alive(static_cast<size_t>(std::max<int64_t>(s.channels, 0)), 0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < s.channels; ++c) {
      const float* q = p + (b * s.channels + c) * inner;
      for (int64_t k = 0; k < inner; ++k) {
        const float v = q[k];
        if (!std::isfinite(v)) { ++s.non_finite; continue; }
        ++finite;
        sum += v;
        sq += static_cast<double>(v) * v;
        if (v > 0) alive[static_cast<size_t>(c)] = 1;
        if (sigmoid && (v <= 0.01f || v >= 0.99f)) ++saturated;
        if (tanh_op && std::fabs(v) >= 0.99f) ++saturated;
      }
    }
  if (finite) {
    s.mean = sum / static_cast<double>(finite);
    s.std = std::sqrt(std::max(0.0, sq / static_cast<double>(finite) - s.mean * s.mean));
    s.saturated_share = static_cast<double>(saturated) / static_cast<double>(finite);
  }
  if (relu && s.channels > 0) {
    for (char a : alive) s.dead_channels += a ? 0 : 1;
    s.dead_share = static_cast<double>(s.dead_channels) / static_cast<double>(s.channels);
  }
  return s;
}

std::vector<EvalSplit> load_eval_dir(const std::string& dir, const ValueInfo& input, const ImagePreprocess& pp) {
  if (!fs::is_directory(dir)) throw Error(ErrorKind::Io, "--eval: '" + dir + "' is not a folder");
  auto subdirs = [](const fs::path& d) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_directory()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  std::vector<std::pair<std::string, fs::path>> splits;
  for (const std::string& s : subdirs(dir)) {
    if (s == "train") splits.emplace_back("train", fs::path(dir) / s);
    if (s == "val" || s == "valid" || s == "validation") splits.emplace_back("validation", fs::path(dir) / s);
  }
  if (splits.empty()) splits.emplace_back("eval", fs::path(dir));
  // Class names: the union of every split's class folders, sorted.
  std::set<std::string> classes;
  for (const auto& [name, p] : splits)
    for (const std::string& c : subdirs(p)) classes.insert(c);
  if (classes.empty()) throw Error(ErrorKind::Input, "--eval: '" + dir + "' has no class folders (DIR/<class>/*.png)");
  const std::vector<std::string> class_list(classes.begin(), classes.end());
  const ImagePreprocess fitted = image_preprocess_for(input, {}, pp, false);
  std::vector<EvalSplit> out;
  for (const auto& [name, p] : splits) {
    EvalSplit s;
    s.name = name;
    std::vector<Tensor> imgs;
    for (size_t ci = 0; ci < class_list.size(); ++ci) {
      const fs::path cd = p / class_list[ci];
      if (!fs::is_directory(cd)) continue;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(cd)) {
        const std::string x = lower_ext(e.path());
        if (e.is_regular_file() && (x == ".png" || x == ".jpg" || x == ".jpeg" || x == ".bmp")) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return natural_less(a.filename().string(), b.filename().string());
      });
      for (const fs::path& f : files) {
        imgs.push_back(load_image(f.string(), fitted));
        s.labels.push_back(static_cast<int64_t>(ci));
      }
    }
    if (imgs.empty()) throw Error(ErrorKind::Input, "--eval: no images under " + p.string());
    Shape shape = imgs[0].shape();
    for (const Tensor& t : imgs)
      if (t.shape() != shape)
        throw Error(ErrorKind::Input, "--eval: images of " + p.string() + " load with different sizes");
    const int64_t each = imgs[0].numel();
    shape[0] = static_cast<int64_t>(imgs.size());
    s.images = Tensor(DType::Float32, shape);
    for (size_t k = 0; k < imgs.size(); ++k)
      std::memcpy(s.images.data_as<float>() + static_cast<int64_t>(k) * each, imgs[k].data(), imgs[k].nbytes());
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace netlens::timeline
