// The `_netlens` extension: netlens.load → Model (run, gradients, inspect, render) and netlens.Error.
// Pure-Python conveniences (from_torch, show, notebook display) are in netlens/__init__.py.
//
// Arrays: run() and gradients() return COPIES of the session's tensors by default. The activation
// store is one arena per backend that the next run() overwrites in place (and may live on a GPU), so
// a plain view would change under the user's feet. copy=False gives read-only views kept alive by a
// capsule holding the Model and its view token; the Model refuses to run again while one lives.
// Errors: every netlens::Error becomes netlens.Error (a RuntimeError) carrying the CLI's one line,
// with .kind ("usage", "io", "model", ...).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "model.hpp"
#include "netlens/cli/gradients.hpp"
#include "netlens/inspect/predictions.hpp"

namespace py = pybind11;
using namespace netlens;
using netlens::pyapi::Model;

namespace {

// Model text (tensor and node names, messages quoting them) is bytes from the file: invalid UTF-8
// becomes U+FFFD instead of a UnicodeDecodeError.
py::str text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

py::list texts(const std::vector<std::string>& v) {
  py::list l;
  for (const std::string& s : v) l.append(text(s));
  return l;
}

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Io: return "io";
    case ErrorKind::Model: return "model";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Input: return "input";
    case ErrorKind::Memory: return "memory";
    case ErrorKind::Device: return "device";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

// NumPy dtype string of a netlens dtype ("" for BFloat16: NumPy has none, it is widened to float32).
// NumPy's name of a dtype: core's dtype_name, except the two NumPy has no type for ("").
std::string numpy_dtype(DType t) {
  if (t == DType::BFloat16 || t == DType::Undefined) return "";
  return std::string(dtype_name(t));
}

DType dtype_of(const py::dtype& d) {
  for (DType t : {DType::Float32, DType::Float16, DType::Float64, DType::Int8, DType::UInt8, DType::Int16, DType::UInt16,
                  DType::Int32, DType::UInt32, DType::Int64, DType::UInt64, DType::Bool})
    if (d.is(py::dtype(numpy_dtype(t))) || d.equal(py::dtype(numpy_dtype(t)))) return t;
  return DType::Undefined;
}

// A copy of a host tensor as a NumPy array (BFloat16 widened to float32).
py::array to_numpy(const Tensor& t0) {
  const Tensor t = t0.dtype() == DType::BFloat16 ? t0.cast(DType::Float32) : t0;
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  py::array a(py::dtype(numpy_dtype(t.dtype())), shape);
  if (t.nbytes()) std::memcpy(a.mutable_data(), t.data(), t.nbytes());
  return a;
}

// A graph input from any array-like. Floating arrays are converted to the input's declared float
// dtype (NumPy's default float64 into a float32 model); other mismatches are Error{Input}.
Tensor from_numpy(const Model& m, const std::string& name, const py::handle& obj) {
  py::array a = py::array::ensure(obj);
  if (!a) throw Error(ErrorKind::Input, "input '" + name + "': not an array");
  DType declared = DType::Undefined;
  if (const ValueInfo* v = m.graph().find_input(name)) declared = v->dtype;
  DType have = dtype_of(a.dtype());
  if (declared != DType::Undefined && have != declared && is_float(declared) && !numpy_dtype(declared).empty() &&
      a.dtype().kind() == 'f') {
    a = a.attr("astype")(numpy_dtype(declared));
    have = declared;
  }
  if (have == DType::Undefined)
    throw Error(ErrorKind::Input, "input '" + name + "': unsupported array dtype " + std::string(py::str(a.dtype())));
  if (declared != DType::Undefined && have != declared)
    throw Error(ErrorKind::Input, "input '" + name + "': the model declares " + std::string(dtype_name(declared)) +
                                      ", got an array of " + std::string(dtype_name(have)));
  a = py::array::ensure(a, py::array::c_style | py::array::forcecast);
  Shape shape(a.shape(), a.shape() + a.ndim());
  Tensor t(have, shape);
  if (t.nbytes()) std::memcpy(t.data(), a.data(), t.nbytes());
  return t;
}

// What a view's capsule keeps alive: the tensor (its own storage when fetch copied, e.g. from a
// GPU), the Model's view token (so the Model refuses to overwrite the store) and the Python Model
// (so the arena outlives the array).
struct ViewKeep {
  Tensor tensor;
  std::shared_ptr<int> token;
  py::object owner;
};

// A read-only NumPy array over the fetched tensor, without copying.
py::array to_numpy_view(const Tensor& t0, const py::object& owner, const std::shared_ptr<int>& token) {
  auto* keep = new ViewKeep{t0.dtype() == DType::BFloat16 ? t0.cast(DType::Float32) : t0, token, owner};
  py::capsule base(keep, [](void* p) { delete static_cast<ViewKeep*>(p); });
  const Tensor& t = keep->tensor;
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  py::array a(py::dtype(numpy_dtype(t.dtype())), shape, {}, t.data(), base);
  a.attr("flags").attr("writeable") = false;
  return a;
}

py::dict store_to_dict(const ActivationStore& store, bool copy, const py::object& owner, const Model& m) {
  py::dict d;
  for (const PlannedTensor& t : store.tensors())
    d[text(t.name)] = copy ? to_numpy(store.fetch(t.name)) : to_numpy_view(store.fetch(t.name), owner, m.view_token());
  return d;
}

std::vector<std::string> labels_arg(const py::object& labels) {
  if (labels.is_none()) return {};
  if (py::isinstance<py::str>(labels)) return inspect::read_labels(labels.cast<std::string>());
  return labels.cast<std::vector<std::string>>();
}

// The model's mutex, taken with the GIL released: a thread never waits for the mutex while holding
// the GIL (the holder of the mutex may be waiting for the GIL to return its results).
std::unique_lock<std::mutex> lock_model(Model& m) {
  std::unique_lock lk(m.mutex(), std::defer_lock);
  py::gil_scoped_release release;
  lk.lock();
  return lk;
}

py::object json_to_python(const nlohmann::json& j) {
  py::module_ json = py::module_::import("json");
  return json.attr("loads")(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

PYBIND11_MODULE(_netlens, m) {
  m.doc() = "netlens: every activation of an ONNX model as NumPy arrays, its gradients, its inspection "
            "document and its 3D rendering (see docs/python.md).";

  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  error.doc() = "A netlens failure: the CLI's one-line message; .kind is usage|io|model|unsupported|input|memory|device|internal.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object inst = py::reinterpret_borrow<py::object>(error.ptr())(text(e.what()));
      inst.attr("kind") = kind_name(e.kind());
      PyErr_SetObject(error.ptr(), inst.ptr());
    }
  });

  py::class_<Model>(m, "Model", "A loaded ONNX model. Create with netlens.load().")
      .def_property_readonly("path", [](const Model& self) { return self.path().empty() ? py::object(py::none()) : py::object(text(self.path())); },
                             "The model file, or None when loaded from bytes.")
      .def_property_readonly("name", [](const Model& self) { return text(self.graph().name); })
      .def_property_readonly("input_names", [](const Model& self) {
        py::list l;
        for (const ValueInfo& i : self.graph().inputs) l.append(text(i.name));
        return l;
      })
      .def_property_readonly("output_names", [](const Model& self) {
        py::list l;
        for (const ValueInfo& i : self.graph().outputs) l.append(text(i.name));
        return l;
      })
      .def_property_readonly("input_specs", [](const Model& self) {
        py::list l;
        for (const ValueInfo& v : self.graph().inputs) {
          py::list shape;
          for (const Dim& d : v.dims) shape.append(d.fixed() ? py::object(py::int_(d.value)) : py::object(py::none()));
          const std::string dt = numpy_dtype(v.dtype);
          l.append(py::make_tuple(text(v.name), dt.empty() ? py::object(py::none()) : py::object(py::str(dt)),
                                  v.has_shape ? py::object(shape) : py::object(py::none())));
        }
        return l;
      }, "[(name, numpy dtype or None, shape with None for symbolic dims, or None when undeclared)] of the graph inputs.")
      .def_property_readonly("has_run", [](Model& self) {
        auto lk = lock_model(self);
        return self.has_run();
      })
      .def("model_bytes", [](const Model& self) { return py::bytes(self.bytes()); },
           "The model's bytes when it was loaded from bytes (b'' when loaded from a file).")
      .def("nodes", [](Model& self) {
        py::list l;
        for (const Node& n : self.graph().nodes)
          l.append(py::dict(py::arg("name") = text(n.name), py::arg("op") = text(n.op_type), py::arg("inputs") = texts(n.inputs),
                            py::arg("outputs") = texts(n.outputs)));
        return l;
      }, "The graph's nodes in order: [{name, op, inputs, outputs}].")
      .def("run", [](py::object owner, const py::dict& inputs, bool copy) {
        Model& self = owner.cast<Model&>();
        std::map<std::string, Tensor> in;
        for (auto [k, v] : inputs) {
          const std::string name = py::str(k);
          in[name] = from_numpy(self, name, v);
        }
        std::unique_lock lk(self.mutex(), std::defer_lock);
        {
          py::gil_scoped_release release;
          lk.lock();
          self.run(std::move(in));
        }
        return store_to_dict(self.session().activations(), copy, owner, self);
      }, py::arg("inputs"), py::arg("copy") = true,
      "Runs the model on {input name: array} and returns {tensor name: array} for EVERY tensor of the run\n"
      "(graph inputs, every node output, folded constants: what `netlens infer --dump DIR --all` writes).\n"
      "copy=True (default): the arrays are copies, independent of later runs. copy=False: read-only views into\n"
      "the activation store (host tensors; tensors on a GPU are fetched once), kept alive by a capsule that\n"
      "holds the model; while any of them lives, run() and gradients() raise netlens.Error instead of\n"
      "overwriting them. bfloat16 is widened to float32.\n"
      "Float arrays are converted to the input's declared float dtype. The GIL is released while the\n"
      "model runs. Raises netlens.Error (missing/unknown inputs, wrong shapes or dtypes, model errors).")
      .def("gradients", [](py::object owner, const std::string& target, const std::string& score, const py::object& labels,
                           bool copy) {
        Model& self = owner.cast<Model&>();
        const std::vector<std::string> lab = labels_arg(labels);
        std::unique_lock lk(self.mutex(), std::defer_lock);
        explain::Target t;
        {
          py::gil_scoped_release release;
          lk.lock();
          t = self.backward(target, score, lab);
        }
        (void)t;
        return store_to_dict(self.session().gradients(), copy, owner, self);
      }, py::arg("target") = "", py::arg("score") = "logit", py::arg("labels") = py::none(), py::arg("copy") = true,
      "Backward pass of the target over the last run (targets as in `netlens explain --target`: '' = the top\n"
      "class, 'class:N', 'class:LABEL', 'output:NAME', 'region:...', 'ctc', ...; score 'logit' | 'prob';\n"
      "labels: a label file path or a list of labels). Returns {tensor name: dS/d tensor} for every float\n"
      "tensor of the run, input included (float32; copies, or views with copy=False as run()): what `netlens infer --dump DIR --gradients`\n"
      "writes to DIR/gradients. The GIL is released during the pass.")
      .def("target", [](Model& self, const std::string& target, const std::string& score, const py::object& labels) {
        const std::vector<std::string> lab = labels_arg(labels);
        auto lk = lock_model(self);
        const explain::Target t = self.resolve(target, score, lab);
        return json_to_python(cli::to_json(t, t.value(self.session())));
      }, py::arg("target") = "", py::arg("score") = "logit", py::arg("labels") = py::none(),
      "What a target means on the last run: {text, description, output, tensor, score, value, class}.")
      .def("explain", [](Model& self, const std::string& method, const std::string& target, const std::string& score,
                         const py::object& labels, const std::string& layer, int samples, double sigma, uint32_t seed, int steps,
                         const std::string& rule, const py::object& baseline, int64_t patch, int64_t stride) {
        explain::MethodOptions mo;
        mo.method = explain::parse_method(method);
        mo.layer = layer;
        if (!layer.empty() && !explain::is_cam(mo.method))
          throw Error(ErrorKind::Usage, "layer is for method gradcam, gradcam++ or hirescam");
        // The CLI's ranges and messages (cmd_explain.cpp).
        if (samples < 1 || samples > 10000) throw Error(ErrorKind::Usage, "samples must be 1..10000");
        if (steps < 1 || steps > 10000) throw Error(ErrorKind::Usage, "steps must be 1..10000");
        if (patch < 0 || stride < 0) throw Error(ErrorKind::Usage, "patch and stride must be > 0");
        if (rule != "midpoint" && rule != "trapezoid") throw Error(ErrorKind::Usage, "rule must be midpoint or trapezoid");
        mo.smoothgrad_samples = samples;
        mo.smoothgrad_sigma = sigma;
        mo.seed = seed;
        mo.ig_steps = steps;
        mo.ig_rule = rule == "midpoint" ? explain::IgRule::Midpoint : explain::IgRule::Trapezoid;
        if (!baseline.is_none()) mo.baseline = from_numpy(self, "baseline", baseline).cast(DType::Float32);
        mo.patch = patch;
        mo.stride = stride;
        const std::vector<std::string> lab = labels_arg(labels);
        explain::Target t;
        explain::Explanation e;
        {
          std::unique_lock lk(self.mutex(), std::defer_lock);
          py::gil_scoped_release release;
          lk.lock();
          e = self.explain(target, score, lab, mo, &t);
        }
        py::dict d;
        d["method"] = explain::method_name(e.method);
        d["target"] = json_to_python(cli::to_json(t, e.target_value));
        d["heatmap"] = to_numpy(Tensor::from_f32({e.heat.height, e.heat.width}, e.heat.values));
        d["signed"] = e.heat.signed_values;
        d["attribution"] = e.attribution.defined() ? py::object(to_numpy(e.attribution)) : py::object(py::none());
        d["runs"] = py::dict(py::arg("forward") = e.forward_runs, py::arg("backward") = e.backward_runs);
        if (e.method == explain::Method::IntegratedGradients)
          d["completeness"] = py::dict(py::arg("attribution_sum") = e.attribution_sum, py::arg("target_value") = e.target_value,
                                       py::arg("baseline_value") = e.baseline_value, py::arg("relative_error") = e.completeness_error);
        if (explain::is_cam(e.method)) {
          d["layer"] = text(e.layer.tensor);
          py::list ch;
          for (const explain::ChannelScore& c : e.channels)
            ch.append(py::dict(py::arg("channel") = c.channel, py::arg("importance") = c.importance, py::arg("mean_gradient") = c.weight));
          d["channels"] = ch;
        }
        return d;
      }, py::arg("method") = "saliency", py::arg("target") = "", py::arg("score") = "logit", py::arg("labels") = py::none(),
      py::arg("layer") = "", py::arg("samples") = 25, py::arg("sigma") = -1.0, py::arg("seed") = 1, py::arg("steps") = 32,
      py::arg("rule") = "midpoint", py::arg("baseline") = py::none(), py::arg("patch") = 0, py::arg("stride") = 0,
      "Why the model decided: `netlens explain` on the last run's inputs. method: saliency | gradxinput | smoothgrad |\n"
      "ig | gradcam | gradcam++ | hirescam | occlusion; target/score/labels as gradients(); layer (CAMs), samples,\n"
      "sigma, seed (SmoothGrad), steps, rule, baseline (IG), patch, stride (occlusion) as the CLI's flags.\n"
      "Returns {method, target, heatmap (input H x W float32, = the CLI's heatmap.npy), signed, attribution\n"
      "(per input element, gradient methods; else None), runs, completeness (IG), layer + channels (CAMs)}.\n"
      "The session is left holding the run of the inputs and its gradients. GIL released.")
      .def("inspect", [](Model& self, std::optional<std::string> tensor, std::optional<std::string> find,
                         std::optional<std::string> neuron, std::optional<std::string> weights, bool attention, int64_t query,
                         std::optional<std::string> labels, bool gradients, std::optional<std::string> target,
                         std::optional<std::string> score, int64_t top, bool brief, bool all_terms) {
        netlens::pyapi::InspectOptions o{.tensor = tensor, .find = find, .neuron = neuron, .weights = weights, .labels_path = labels,
                                      .attention = attention, .all_terms = all_terms, .brief = brief, .gradients = gradients,
                                      .target = target, .score = score, .query = query, .top = top};
        nlohmann::json doc;
        {
          std::unique_lock lk(self.mutex(), std::defer_lock);
          py::gil_scoped_release release;
          lk.lock();
          doc = self.inspect(o);
        }
        return json_to_python(doc);
      }, py::arg("tensor") = py::none(), py::arg("find") = py::none(), py::arg("neuron") = py::none(),
      py::arg("weights") = py::none(), py::arg("attention") = false, py::arg("query") = 0, py::arg("labels") = py::none(),
      py::arg("gradients") = false, py::arg("target") = py::none(), py::arg("score") = py::none(), py::arg("top") = 5,
      py::arg("brief") = false, py::arg("all_terms") = false,
      "The document `netlens inspect` prints (docs/inspect.md) for the last run, as a dict. Keyword\n"
      "arguments are its flags (tensor=, find=, neuron=, weights=, attention=, query=, labels= (a file),\n"
      "gradients=, target=, score=, top=, brief=, all_terms=). input.files is [] (inputs came from Python).")
      .def("render_png", [](Model& self, std::pair<int, int> size, const std::string& camera, const std::string& view,
                            const std::string& select, const std::string& values, const std::string& target,
                            const std::string& score, const py::object& labels, std::optional<std::string> title,
                            const std::string& collapse, bool lod_mean, int gpu) {
        netlens::pyapi::RenderOptions o{.width = size.first, .height = size.second, .camera = camera, .view = view, .select = select,
                                     .values = values, .target = target, .score = score, .labels = labels_arg(labels),
                                     .title = title, .collapse = collapse, .lod_mean = lod_mean, .gpu = gpu};
        std::string png;
        {
          std::unique_lock lk(self.mutex(), std::defer_lock);
          py::gil_scoped_release release;
          lk.lock();
          png = self.render_png(o);
        }
        return py::bytes(png);
      }, py::arg("size") = std::pair<int, int>{1280, 720}, py::arg("camera") = "", py::arg("view") = "",
      py::arg("select") = "", py::arg("values") = "activation", py::arg("target") = "", py::arg("score") = "",
      py::arg("labels") = py::none(), py::arg("title") = py::none(), py::arg("collapse") = "none",
      py::arg("lod_mean") = false, py::arg("gpu") = -1,
      "PNG bytes of the network drawn for the last run: exactly the file `netlens render MODEL --out F` writes\n"
      "with the same flags (size=(w, h) → --size WxH, camera= a camera JSON file, view='overview' |\n"
      "'layer:NAME', select='TENSOR:INDEX', values='activation' | 'gradient' | 'attribution', target=,\n"
      "score=, labels=, title= (default: the model file's stem), collapse=, lod_mean=, gpu=). Headless\n"
      "(offscreen Vulkan); the GIL is released while it draws.");

  m.def("load", [](const py::object& src, const std::string& backend, size_t max_memory) {
    netlens::pyapi::LoadOptions o{.backend = backend, .max_memory = max_memory};
    if (py::isinstance<py::bytes>(src) || py::isinstance<py::bytearray>(src) || py::isinstance<py::memoryview>(src)) {
      std::string bytes = py::isinstance<py::bytes>(src) ? src.cast<std::string>()
                                                         : py::bytes(py::module_::import("builtins").attr("bytes")(src)).cast<std::string>();
      py::gil_scoped_release release;
      return Model::from_bytes(std::move(bytes), o);
    }
    const std::string path = py::str(py::module_::import("os").attr("fspath")(src));
    py::gil_scoped_release release;
    return Model::from_path(path, o);
  }, py::arg("source"), py::arg("backend") = "auto", py::arg("max_memory") = 0,
  "Loads an ONNX model from a path (str or os.PathLike) or from bytes. backend: 'auto' (CUDA when usable,\n"
  "else CPU), 'cpu' or 'cuda'; max_memory: activation + weight byte budget (0 = available memory).\n"
  "Raises netlens.Error with the loader's one-line message for a bad file.");
}
