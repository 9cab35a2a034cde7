// netlens info: what a model is made of, before and (with --input) after running it.
#include <cstdio>
#include <map>

#include "netlens/cli/common.hpp"
#include "netlens/onnx.hpp"

namespace netlens::cli {
namespace {

std::string dims_text(const ValueInfo& v) {
  if (!v.has_shape) return "?";
  std::string s;
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += 'x';
    s += v.dims[i].fixed() ? std::to_string(v.dims[i].value) : (v.dims[i].param.empty() ? "?" : v.dims[i].param);
  }
  return v.dims.empty() ? "scalar" : s;
}

// `info --system`: the machine as netlens sees it — CUDA device, Vulkan devices, and the data path a
// live view would use. Needs no model.
int run_system(const std::vector<std::string>& argv) {
  Args a(argv, {"interop"}, {"system"});
  if (!a.positional().empty()) throw Error(ErrorKind::Usage, "info --system takes no model");
  const CudaDeviceInfo c = probe_cuda();
  if (c.usable) {
    auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
    std::printf("cuda       device %d of %d: %s (sm_%d%d, %s), driver %s, runtime %s\n", c.device, c.count,
                c.name.c_str(), c.cc_major, c.cc_minor, human_bytes(c.total_memory).c_str(), ver(c.driver_version).c_str(),
                ver(c.runtime_version).c_str());
    std::printf("           uuid %s\n", uuid_string(c.uuid).c_str());
  } else {
    std::printf("cuda       none: %s\n", c.error.c_str());
  }
  std::printf("inference  %s\n", c.usable ? "cuda backend (CPU for ops it lacks)" : "cpu backend (oneDNN)");
  print_vulkan_system(c, a.get_or("interop", "auto"));
  return 0;
}

int run_info(const std::vector<std::string>& argv) {
  for (const auto& w : argv)
    if (w == "--system") return run_system(argv);
  std::vector<std::string> flags = kModelFlags;
  Args a(argv, flags, {"quiet", "bgr", "brief"}, kModelRepeated);
  ModelOptions o = parse_model_options(a);
  o.quiet = true;  // info prints its own summary; the backend choice is noted below

  Graph g = load_onnx(o.model);
  std::printf("model      %s\n", o.model.c_str());
  std::printf("producer   %s, IR version %lld, opset %lld\n", g.producer.empty() ? "unknown" : g.producer.c_str(),
              static_cast<long long>(g.ir_version), static_cast<long long>(g.opset()));
  size_t weight_bytes = 0;
  for (const auto& [n, t] : g.initializers) weight_bytes += t.nbytes();
  for (const Node& n : g.nodes)
    if (n.op_type == "Constant")
      if (const Tensor* t = n.attr_tensor("value")) weight_bytes += t->nbytes();
  std::printf("parameters %s (%s of weights)\n", human_count(static_cast<double>(g.parameter_count())).c_str(),
              human_bytes(weight_bytes).c_str());
  for (const auto& v : g.inputs)
    std::printf("input      %s  %s %s\n", v.name.c_str(), std::string(dtype_name(v.dtype)).c_str(), dims_text(v).c_str());
  for (const auto& v : g.outputs)
    std::printf("output     %s  %s %s\n", v.name.c_str(), std::string(dtype_name(v.dtype)).c_str(), dims_text(v).c_str());
  std::map<std::string, int> ops;
  for (const Node& n : g.nodes) ops[n.op_type]++;
  std::string opline;
  for (const auto& [op, c] : ops) opline += (opline.empty() ? "" : ", ") + op + " " + std::to_string(c);
  std::printf("nodes      %zu (%s)\n", g.nodes.size(), opline.c_str());

  const std::vector<std::string> unknown = unknown_op_nodes(g);
  if (!unknown.empty()) {
    std::printf("unsupported %zu node(s):\n", unknown.size());
    for (const auto& u : unknown) std::printf("  %s\n", u.c_str());
    return 0;
  }

  LoadedModel m;
  try {
    m = load_model(o, !o.inputs.empty(), g);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Unsupported) {
      std::printf("unsupported %s\n", e.what());
      return 0;
    }
    if (e.kind() == ErrorKind::Input && o.input_shapes.empty() && o.inputs.empty()) {
      std::printf("shapes     not bound: %s\n", e.what());
      return 0;
    }
    throw;
  }
  Session& s = *m.session;
  double total_flops = 0;
  if (!a.has("brief")) std::printf("\n%5s  %-40s %-20s %-24s %10s\n", "#", "node", "op", "output", "FLOPs");
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::vector<TensorInfo> in, out;
    for (const auto& name : n.inputs) in.push_back(name.empty() ? TensorInfo{} : s.info(name));
    for (const auto& name : n.outputs) out.push_back(name.empty() ? TensorInfo{} : s.info(name));
    const double f = node_flops(n, in, out);
    total_flops += f;
    if (a.has("brief")) continue;
    std::string oshape = out.empty() ? "" : shape_str(out[0].shape);
    if (s.node_backend(i) < 0) oshape += " (folded)";
    std::printf("%5zu  %-40.40s %-20.20s %-24s %10s\n", i, n.name.c_str(), n.op_type.c_str(), oshape.c_str(),
                f > 0 ? human_count(f).c_str() : "");
  }
  const PlanReport& r = s.report();
  std::printf("\nFLOPs      %s (conv, gemm, matmul; 2 per multiply-add)\n", human_count(total_flops).c_str());
  std::printf("activations %s kept (every tensor of a run), %zu tensors, %d nodes folded to constants\n",
              human_bytes(r.activation_bytes).c_str(), s.planned().size(), r.folded_nodes);
  for (const auto& [b, bytes] : r.bytes_per_backend)
    if (bytes) std::printf("backend    %s: %s\n", b.c_str(), human_bytes(bytes).c_str());
  if (!r.fallback_nodes.empty()) std::printf("fallback   %zu node(s) run on the CPU\n", r.fallback_nodes.size());
  std::printf("unsupported none\n");

  if (!o.inputs.empty()) {
    run_once(m);
    print_non_finite(s);
  }
  return 0;
}

NETLENS_COMMAND("info", "info MODEL [--input-shape NAME=1x3x224x224] [--input FILE] [--brief] | info --system [--interop auto|on|off]",
                "inputs, outputs, per-node ops and shapes, parameters, FLOPs, activation memory, unsupported ops; "
                "--system: GPU, driver, CUDA and Vulkan devices, live data path",
                run_info);

}  // namespace
}  // namespace netlens::cli
