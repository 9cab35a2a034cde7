#include "shapes.hpp"

namespace netlens {

const TensorInfo& InferContext::in(size_t i) const {
  if (!has(i)) fail("input " + std::to_string(i) + " is missing");
  return *inputs[i];
}

const Tensor& InferContext::require_constant(size_t i) const {
  const Tensor* t = constant(i);
  if (!t)
    throw Error(ErrorKind::Unsupported,
                node.describe() + ": input " + std::to_string(i) + " ('" + node.input(i) +
                    "') must be computable before the run (it depends on tensor values, not only shapes)");
  return *t;
}

void InferContext::fail(const std::string& msg) const {
  throw Error(ErrorKind::Model, node.describe() + ": " + msg);
}

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

std::string op_key(const std::string& domain, const std::string& op_type) {
  return is_default_domain(domain) ? op_type : domain + ":" + op_type;
}

void OpRegistry::add(const std::string& op_type, InferFn fn) { fns_[op_type] = std::move(fn); }

void OpRegistry::add(const std::string& domain, const std::string& op_type, InferFn fn) {
  fns_[op_key(domain, op_type)] = std::move(fn);
}

const InferFn* OpRegistry::find(const std::string& domain, const std::string& op_type) const {
  return find(op_key(domain, op_type));
}

const InferFn* OpRegistry::find(const std::string& op_type) const {
  auto it = fns_.find(op_type);
  return it == fns_.end() ? nullptr : &it->second;
}

void OpRegistry::add_aux(const std::string& op_type, AuxFn fn) { aux_[op_type] = std::move(fn); }

const AuxFn* OpRegistry::find_aux(const std::string& op_type) const {
  auto it = aux_.find(op_type);
  return it == aux_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::op_types() const {
  std::vector<std::string> v;
  for (const auto& [k, f] : fns_) v.push_back(k);
  return v;
}

const OpRegistry& OpRegistry::global() {
  static const OpRegistry reg = [] {
    OpRegistry r;
    register_nn_shapes(r);
    register_elementwise_shapes(r);
    register_tensor_shapes(r);
    register_rnn_shapes(r);
    register_quant_shapes(r);
    register_quant_ms_shapes(r);
    return r;
  }();
  return reg;
}

namespace {
class FnKernel final : public Kernel {
 public:
  explicit FnKernel(KernelFn fn) : fn_(std::move(fn)) {}
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override { fn_(in, out); }

 private:
  KernelFn fn_;
};
}  // namespace

std::unique_ptr<Kernel> make_kernel(KernelFn fn) { return std::make_unique<FnKernel>(std::move(fn)); }

std::vector<std::string> unknown_op_nodes(const Graph& g) {
  std::vector<std::string> out;
  const int64_t opset = g.opset();
  for (const Node& n : g.nodes) {
    const bool default_domain = is_default_domain(n.domain);
    if (!OpRegistry::global().find(n.domain, n.op_type))
      out.push_back((default_domain ? n.op_type : n.domain + "." + n.op_type) + " (node '" + n.name +
                    "', opset " + std::to_string(opset) + ")");
  }
  return out;
}

}  // namespace netlens
