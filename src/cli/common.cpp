#include "netlens/cli/common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"

namespace netlens::cli {

const std::vector<std::string> kModelFlags = {"input", "input-shape", "backend", "precision", "max-memory", "size",
                                              "input-size", "mean", "std", "scale", "layout", "text", "vocab", "tokenizer"};
const std::vector<std::string> kModelBoolFlags = {"bgr", "quiet"};
const std::vector<std::string> kModelRepeated = {"input", "input-shape"};

std::string model_flags_help() {
  return "  --input FILE | NAME=FILE   .npy (used as is) or PNG/JPEG/BMP image, told by content (repeatable)\n"
         "  --input-shape NAME=1x3xHxW bind a dynamic input shape (repeatable)\n"
         "  --text \"...\"               text input, one token per character: ids from --vocab FILE (a\n"
         "                             JSON list or one token per line) or MODEL's <stem>.vocab.json\n"
         "                             beside it, else the UTF-8 bytes (docs/recurrent.md)\n"
         "  --tokenizer char|word|wordpiece  how --text becomes tokens (default char, or what the\n"
         "                             vocabulary declares); word/wordpiece need a vocabulary\n"
         "  --backend cpu|cuda|auto    where to run (default auto: CUDA when usable)\n"
         "  --precision fp32|tf32|fp16 CUDA Conv/Gemm/MatMul numerics (default fp32: matches the CPU;\n"
         "                             tf32 within 3e-2, fp16 within 6e-2 relative L2 per tensor;\n"
         "                             measured worst on an H200: 1.7e-2 and 3.2e-2)\n"
         "  --max-memory SIZE          refuse to run when keeping every activation needs more (e.g. 2G)\n"
         "  image preprocessing: --size WxH (or --input-size WxH) --mean a,b,c --std a,b,c\n"
         "                       --scale S (default 1/255) --bgr\n"
         "                       --layout nchw|nhwc\n"
         "  --quiet                    no progress or notes on stderr\n";
}

std::vector<float> parse_floats(const std::string& flag, const std::string& v) {
  std::vector<float> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t end = v.find(',', pos);
    if (end == std::string::npos) end = v.size();
    try {
      size_t used = 0;
      const std::string part = v.substr(pos, end - pos);
      out.push_back(std::stof(part, &used));
      if (used != part.size()) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw Error(ErrorKind::Usage, "option --" + flag + " expects numbers like 0.485,0.456,0.406, got '" + v + "'");
    }
    pos = end + 1;
  }
  return out;
}

namespace {

// Strict: digits with an optional fraction, then an optional unit; no signs, exponents, inf/nan or
// whitespace (std::stod takes all of those, and casting inf or 1e30G to size_t is undefined).
size_t parse_bytes(const std::string& v) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::Usage, "option --max-memory expects a size like 512M or 2G, got '" + v + "'" + why);
  };
  size_t i = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
  const size_t int_digits = i;
  if (i < v.size() && v[i] == '.') {
    ++i;
    const size_t frac_start = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    if (i == frac_start) throw bad("");
  }
  if (int_digits == 0 || i > 32) throw bad("");
  const std::string unit = v.substr(i);
  double mul = 1;
  if (unit == "K" || unit == "k" || unit == "KiB") mul = 1024.0;
  else if (unit == "M" || unit == "m" || unit == "MiB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "g" || unit == "GiB") mul = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t" || unit == "TiB") mul = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty() && unit != "B") throw bad("");
  const double bytes = std::strtod(v.substr(0, i).c_str(), nullptr) * mul;
  constexpr double kMax = 1024.0 * 1024 * 1024 * 1024 * 1024;  // 1 PiB: more than any machine, far below SIZE_MAX
  if (!(bytes >= 1)) throw bad(" (must be at least 1 byte)");
  if (!(bytes <= kMax)) throw bad(" (at most 1024T)");
  return static_cast<size_t>(bytes);
}

}  // namespace

InputKind input_kind(const std::string& path) {
  uint8_t head[8] = {};
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(head), sizeof head);
  const size_t n = static_cast<size_t>(std::max<std::streamsize>(f.gcount(), 0));
  if (n >= 6 && std::memcmp(head, "\x93NUMPY", 6) == 0) return InputKind::Npy;
  return image_signature(head, n) ? InputKind::Image : InputKind::Other;
}

ModelOptions parse_model_options(const Args& a, bool size_is_image) {
  ModelOptions o;
  if (a.positional().empty()) throw Error(ErrorKind::Usage, "missing MODEL (an .onnx file)");
  if (a.positional().size() > 1) throw Error(ErrorKind::Usage, "unexpected argument '" + a.positional()[1] + "'");
  o.model = a.positional()[0];
  o.inputs = a.all("input");
  for (const std::string& s : a.all("input-shape")) {
    const size_t eq = s.rfind('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorKind::Usage, "--input-shape expects NAME=1x3x224x224, got '" + s + "'");
    Shape shape = parse_shape(s.substr(eq + 1));
    // A count that overflows would wrap every size computed from it (images are resized to it
    // before the planner sees it); 2^31 per dim also keeps image sizes within int.
    int64_t elems = 1;
    for (int64_t d : shape)
      if (d > INT32_MAX || __builtin_mul_overflow(elems, d, &elems))
        throw Error(ErrorKind::Usage, "--input-shape '" + s + "' is impossibly large");
    o.input_shapes[s.substr(0, eq)] = std::move(shape);
  }
  o.text = a.get("text");
  o.vocab = a.get_or("vocab", "");
  if (!o.vocab.empty() && !o.text) throw Error(ErrorKind::Usage, "--vocab needs --text");
  o.tokenizer = a.get_or("tokenizer", "");
  if (!o.tokenizer.empty() && !o.text) throw Error(ErrorKind::Usage, "--tokenizer needs --text");
  if (!o.tokenizer.empty()) parse_tokenizer(o.tokenizer);  // a bad name fails before the model loads
  o.backend = a.get_or("backend", "auto");
  if (o.backend != "cpu" && o.backend != "cuda" && o.backend != "auto")
    throw Error(ErrorKind::Usage, "--backend must be cpu, cuda or auto, got '" + o.backend + "'");
  o.precision = a.get_or("precision", "fp32");
  if (o.precision != "fp32" && o.precision != "tf32" && o.precision != "fp16")
    throw Error(ErrorKind::Usage, "--precision must be fp32, tf32 or fp16, got '" + o.precision + "'");
  if (o.backend == "cpu" && o.precision != "fp32")
    throw Error(ErrorKind::Usage, "--precision " + o.precision + " needs the CUDA backend: the CPU backend computes in fp32");
  if (auto v = a.get("max-memory")) o.max_memory = parse_bytes(*v);
  const char* size_flag = a.has("input-size") || !size_is_image ? "input-size" : "size";
  if (auto v = a.get(size_flag)) {
    Shape s = parse_shape(*v);
    if (s.size() != 2 || s[0] == 0 || s[1] == 0 || s[0] > 65536 || s[1] > 65536)
      throw Error(ErrorKind::Usage, std::string("--") + size_flag + " expects WxH, got '" + *v + "'");
    o.pp.width = static_cast<int>(s[0]);
    o.pp.height = static_cast<int>(s[1]);
    o.size_given = true;
  }
  // Defaults as one value, which applies to every channel: ImagePreprocess's own {0,0,0} / {1,1,1}
  // would make a 1-channel model refuse its image ("mean has 3 values") unless both were given.
  o.pp.mean = {0.0f};
  o.pp.std = {1.0f};
  if (auto v = a.get("mean")) o.pp.mean = parse_floats("mean", *v);
  if (auto v = a.get("std")) o.pp.std = parse_floats("std", *v);
  if (auto v = a.get("scale")) o.pp.scale = parse_floats("scale", *v).at(0);
  o.pp.bgr = a.has("bgr");
  const std::string layout = a.get_or("layout", "nchw");
  if (layout != "nchw" && layout != "nhwc") throw Error(ErrorKind::Usage, "--layout must be nchw or nhwc");
  o.pp.nhwc = layout == "nhwc";
  for (const auto* v : {&o.pp.mean, &o.pp.std})
    if (v->size() != 1 && v->size() != 3) throw Error(ErrorKind::Usage, "--mean/--std take 1 or 3 values");
  o.quiet = a.has("quiet");
  return o;
}

std::vector<std::unique_ptr<Backend>> make_backends(const std::string& which, bool quiet,
                                                    const std::string& precision) {
  std::vector<std::unique_ptr<Backend>> v;
  if (which == "cuda") {
    v.push_back(make_cuda_backend_or_throw(precision));
  } else if (which == "auto") {
    try {
      v.push_back(make_cuda_backend_or_throw(precision));
    } catch (const Error& e) {
      if (precision != "fp32")
        throw Error(ErrorKind::Usage, "--precision " + precision + " needs the CUDA backend (" + e.what() +
                                          "): the CPU backend computes in fp32");
      if (!quiet) std::fprintf(stderr, "netlens: using the CPU backend (%s)\n", e.what());
    }
  }
  v.push_back(make_cpu_backend());
  return v;
}

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)), tty_(!quiet && isatty(STDERR_FILENO)), last_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { done(); }

void Progress::update(size_t done_n, size_t total) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && done_n != total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  std::fprintf(stderr, "\r\033[K%s %zu/%zu", label_.c_str(), done_n, total);
  std::fflush(stderr);
}

void Progress::done() {
  if (tty_ && shown_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  shown_ = false;
}

namespace {

Tensor random_tensor(const TensorInfo& info, uint32_t seed) {
  Tensor f(DType::Float32, info.shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  float* p = f.data_as<float>();
  for (int64_t i = 0; i < f.numel(); ++i) p[i] = u(rng);
  return info.dtype == DType::Float32 ? f : f.cast(info.dtype);
}

Tensor read_input_file(const std::string& path, const ValueInfo& vi, const ModelOptions& o) {
  if (!std::filesystem::exists(path)) throw Error(ErrorKind::Io, path + ": no such file");
  if (std::filesystem::is_directory(path)) throw Error(ErrorKind::Usage, path + ": is a folder, not an input file");
  switch (input_kind(path)) {
    case InputKind::Npy: return read_npy(path);
    case InputKind::Image: break;
    case InputKind::Other:
      throw Error(ErrorKind::Input, path + ": neither a .npy array nor a PNG, JPEG or BMP image (by its first bytes)");
  }
  Shape bound;
  if (auto it = o.input_shapes.find(vi.name); it != o.input_shapes.end()) bound = it->second;
  const ImagePreprocess pp = image_preprocess_for(vi, bound, o.pp, o.size_given);
  // The resized image is allocated here, before the planner's budget check: check it first.
  const double image_bytes = 4.0 * pp.width * pp.height * std::max(pp.channels, 1);
  if (o.max_memory && image_bytes > static_cast<double>(o.max_memory))
    throw Error(ErrorKind::Memory, path + ": resizing it to " + std::to_string(pp.width) + "x" + std::to_string(pp.height) +
                                       " for input '" + vi.name + "' needs " + human_bytes(static_cast<size_t>(image_bytes)) +
                                       ", over the memory budget of " + human_bytes(o.max_memory));
  Tensor t = load_image(path, pp);
  return vi.dtype == DType::Float32 ? t : t.cast(vi.dtype);
}

}  // namespace

LoadedModel load_model(const ModelOptions& o, bool need_inputs, std::optional<Graph> loaded) {
  LoadedModel m;
  auto t0 = std::chrono::steady_clock::now();
  if (loaded) {
    m.graph = std::move(*loaded);
  } else {
    Progress p("loading " + o.model, o.quiet);
    p.update(0, 1);
    m.graph = load_onnx(o.model);
  }
  auto t1 = std::chrono::steady_clock::now();
  m.load_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();

  // Inputs from files.
  for (const std::string& spec : o.inputs) {
    std::string name, path = spec;
    const size_t eq = spec.find('=');
    if (eq != std::string::npos && m.graph.find_input(spec.substr(0, eq))) {
      name = spec.substr(0, eq);
      path = spec.substr(eq + 1);
    } else {
      if (m.graph.inputs.size() != 1)
        throw Error(ErrorKind::Usage, "the model has " + std::to_string(m.graph.inputs.size()) +
                                          " inputs; name each one: --input NAME=FILE");
      name = m.graph.inputs[0].name;
    }
    if (m.inputs.count(name)) throw Error(ErrorKind::Usage, "input '" + name + "' given twice");
    m.inputs[name] = read_input_file(path, *m.graph.find_input(name), o);
  }
  if (o.text) {
    // The text input: the only graph input, or else the only integer one.
    const ValueInfo* vi = m.graph.inputs.size() == 1 ? &m.graph.inputs[0] : nullptr;
    for (const ValueInfo& v : m.graph.inputs)
      if (m.graph.inputs.size() > 1 && (v.dtype == DType::Int64 || v.dtype == DType::Int32)) {
        if (vi) throw Error(ErrorKind::Usage, "--text: the model has several integer inputs; give the others with --input NAME=FILE and use a one-input model for --text");
        vi = &v;
      }
    if (!vi) throw Error(ErrorKind::Usage, "--text: the model has no integer input to put token ids into");
    if (m.inputs.count(vi->name)) throw Error(ErrorKind::Usage, "input '" + vi->name + "' given twice (--input and --text)");
    const std::string vpath = o.vocab.empty() ? vocab_beside(o.model) : o.vocab;
    std::optional<Vocabulary> vocab;
    if (!vpath.empty()) vocab = Vocabulary::load(vpath);
    const std::string kind = !o.tokenizer.empty() ? o.tokenizer : vocab && !vocab->declared_tokenizer().empty() ? vocab->declared_tokenizer() : "char";
    m.text = tokenize(*o.text, vocab ? &*vocab : nullptr, parse_tokenizer(kind));
    m.text_input = vi->name;
    m.inputs[vi->name] = text_tensor(m.text, *vi);
  }
  std::map<std::string, Shape> shapes = o.input_shapes;
  for (const auto& [name, t] : m.inputs) {
    auto it = shapes.find(name);
    if (it != shapes.end() && it->second != t.shape())
      throw Error(ErrorKind::Input, "input '" + name + "': file has shape " + shape_str(t.shape()) +
                                        " but --input-shape says " + shape_str(it->second));
    shapes[name] = t.shape();
  }

  m.backends = make_backends(o.backend, o.quiet, o.precision);
  std::vector<Backend*> raw;
  for (auto& b : m.backends) raw.push_back(b.get());
  SessionOptions so;
  so.max_memory = o.max_memory;
  so.profile = o.profile;
  so.arena_allocator = o.arena_allocator;
  m.run_progress = std::make_shared<Progress>("running node", o.quiet);
  so.progress = [p = m.run_progress](size_t done, size_t total) { p->update(done, total); };
  m.session = std::make_unique<Session>(m.graph, raw, so);
  if (o.plan_only)
    m.session->plan_shapes(shapes);
  else
    m.session->prepare(shapes);
  m.prepare_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  if (!o.quiet && !m.session->report().fallback_nodes.empty()) {
    std::string list;
    for (const auto& n : m.session->report().fallback_nodes) list += (list.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "netlens: warning: %zu node(s) not supported by %s run on the CPU: %s\n",
                 m.session->report().fallback_nodes.size(), m.backends[0]->name().c_str(), list.c_str());
  }
  if (need_inputs) {
    uint32_t seed = 1;
    for (const ValueInfo& v : m.graph.inputs)
      if (!m.inputs.count(v.name)) m.inputs[v.name] = random_tensor(m.session->info(v.name), seed++);
  }
  return m;
}

double run_once(LoadedModel& m) {
  auto t0 = std::chrono::steady_clock::now();
  m.session->run(m.inputs);
  m.run_progress->done();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

namespace {

// Counts NaN and Inf among n IEEE values read as unsigned words, in place: with the sign bit cleared,
// a NaN is above the all-ones exponent and an Inf equals it. Branch-free over fixed-size blocks with
// narrow counters, so the compiler vectorises it for 16-, 32- and 64-bit words alike (the former
// per-element get_f64 path spent 19% of a float16 ResNet-50 infer here).
template <class U>
NonFinite count_non_finite_bits(const U* p, int64_t n, U abs_mask, U exp_all_ones) {
  NonFinite nf;
  constexpr int64_t kBlock = 4096;  // fits the narrow per-block counters below
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    U nan = 0, inf = 0;  // per block: at most kBlock, and U has at least 16 bits
    for (int64_t i = b; i < e; ++i) {
      const U a = static_cast<U>(p[i] & abs_mask);
      nan = static_cast<U>(nan + (a > exp_all_ones));
      inf = static_cast<U>(inf + (a == exp_all_ones));
    }
    nf.nan += static_cast<int64_t>(nan);
    nf.inf += static_cast<int64_t>(inf);
  }
  return nf;
}

}  // namespace

NonFinite count_non_finite(const Tensor& t) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::Float32:
      return count_non_finite_bits(static_cast<const uint32_t*>(t.data()), n, uint32_t{0x7fffffff}, uint32_t{0x7f800000});
    case DType::Float16:
      return count_non_finite_bits(static_cast<const uint16_t*>(t.data()), n, uint16_t{0x7fff}, uint16_t{0x7c00});
    case DType::BFloat16:
      return count_non_finite_bits(static_cast<const uint16_t*>(t.data()), n, uint16_t{0x7fff}, uint16_t{0x7f80});
    case DType::Float64:
      return count_non_finite_bits(static_cast<const uint64_t*>(t.data()), n, uint64_t{0x7fffffffffffffff},
                                   uint64_t{0x7ff0000000000000});
    default:
      break;
  }
  NonFinite nf;
  if (!is_float(t.dtype())) return nf;
  for (int64_t i = 0; i < n; ++i) {  // any float type added later: the slow, exact path
    const double v = t.get_f64(i);
    if (std::isnan(v)) ++nf.nan;
    else if (std::isinf(v)) ++nf.inf;
  }
  return nf;
}

void print_non_finite(const Session& s) {
  int bad = 0;
  for (const PlannedTensor& t : s.planned()) {
    const NonFinite nf = count_non_finite(s.activations().fetch(t.name));
    if (nf.nan || nf.inf) {
      if (!bad++) std::printf("non-finite values:\n");
      std::printf("  %-40s %lld NaN, %lld Inf\n", t.name.c_str(), static_cast<long long>(nf.nan),
                  static_cast<long long>(nf.inf));
    }
  }
  if (!bad) std::printf("non-finite none (all %zu tensors finite)\n", s.planned().size());
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

std::string human_bytes(size_t bytes) {
  char b[32];
  const double v = static_cast<double>(bytes);
  if (v >= 1024.0 * 1024 * 1024) std::snprintf(b, sizeof b, "%.2f GiB", v / (1024.0 * 1024 * 1024));
  else if (v >= 1024.0 * 1024) std::snprintf(b, sizeof b, "%.1f MiB", v / (1024.0 * 1024));
  else if (v >= 1024.0) std::snprintf(b, sizeof b, "%.1f KiB", v / 1024.0);
  else std::snprintf(b, sizeof b, "%zu B", bytes);
  return b;
}

std::string human_count(double v) {
  char b[32];
  if (v >= 1e9) std::snprintf(b, sizeof b, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(b, sizeof b, "%.2fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(b, sizeof b, "%.1fK", v / 1e3);
  else std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

OptionalParts& optional_parts() {
  static OptionalParts parts;
  return parts;
}

std::unique_ptr<Backend> make_cuda_backend_or_throw(const std::string& precision) {
  if (!optional_parts().make_cuda)
    throw Error(ErrorKind::Device, "no usable CUDA device: this netlens was built without the CUDA backend");
  return optional_parts().make_cuda(precision);
}

CudaDeviceInfo probe_cuda() {
  if (optional_parts().probe_cuda) return optional_parts().probe_cuda();
  CudaDeviceInfo d;
  d.error = "this netlens was built without the CUDA backend";
  return d;
}

void print_vulkan_system(const CudaDeviceInfo& cuda, const std::string& interop) {
  if (interop != "auto" && interop != "on" && interop != "off")
    throw Error(ErrorKind::Usage, "--interop must be auto, on or off, got '" + interop + "'");
  if (optional_parts().print_vulkan_system) return optional_parts().print_vulkan_system(cuda, interop);
  std::printf("vulkan     not built (configured with NETLENS_VULKAN=OFF): no renderer, no live data path\n");
  if (interop == "on") throw Error(ErrorKind::Device, "--interop on: this netlens was built without the Vulkan renderer");
  std::printf("data path: none (this netlens was built without the Vulkan renderer)\n");
}

}  // namespace netlens::cli
