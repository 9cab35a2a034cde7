// Direct double-precision references for generated cases (check (a) where ONNX has no data for the
// exact attributes and shapes): the references of tests/cpu (tests/cpu/cpu_reference.hpp, written
// from the ONNX definitions with plain loops) attached to
//   - a family "cpu_reference": every float unary op of that table on two odd shapes, with its
//     attributes and input range;
//   - every generated Conv, ConvTranspose, MaxPool and AveragePool case (the ported CUDA cases
//     among them): geometry from the attributes (explicit pads or auto_pad), computed here.
#include <cmath>

#include "conformance.hpp"
#include "cpu_reference.hpp"

namespace netlens::conformance {
namespace {

// Kernel/stride/dilation/pads of a Conv/ConvTranspose/pool node from its attributes alone.
cpuref::Geo geo_of(const OpCase& c) {
  const Node& n = c.node;
  const Shape& x = c.inputs[0].value.shape();
  const size_t r = x.size() - 2;
  cpuref::Geo g;
  const bool pool = n.op_type == "MaxPool" || n.op_type == "AveragePool";
  for (size_t i = 0; i < r; ++i) {
    const int64_t k = pool ? n.attr_ints("kernel_shape")[i] : c.inputs[1].value.shape()[i + 2];
    g.k.push_back(k);
    g.s.push_back(n.attr_ints("strides", std::vector<int64_t>(r, 1))[i]);
    g.d.push_back(n.attr_ints("dilations", std::vector<int64_t>(r, 1))[i]);
  }
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    const std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
    g.pb.assign(pads.begin(), pads.begin() + static_cast<long>(r));
    g.pe.assign(pads.begin() + static_cast<long>(r), pads.end());
  } else {
    for (size_t i = 0; i < r; ++i) {  // SAME_*: output ceil(in / s), total padding split
      const int64_t eff = (g.k[i] - 1) * g.d[i] + 1, in = x[i + 2], s = g.s[i];
      const int64_t out = auto_pad == "VALID" ? (in - eff) / s + 1 : (in + s - 1) / s;
      const int64_t total = auto_pad == "VALID" ? 0 : std::max<int64_t>(0, (out - 1) * s + eff - in);
      g.pb.push_back(auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2);
      g.pe.push_back(total - g.pb.back());
    }
  }
  return g;
}

std::vector<double> nn_reference(const OpCase& c, const Shape& y) {
  const std::string& op = c.node.op_type;
  const cpuref::Geo g = geo_of(c);
  const Tensor* b = c.inputs.size() > 2 && c.inputs[2].value.defined() ? &c.inputs[2].value : nullptr;
  const int64_t group = c.node.attr_int("group", 1);
  if (op == "Conv") return cpuref::conv_ref(c.inputs[0].value, c.inputs[1].value, b, group, g, y);
  if (op == "ConvTranspose") return cpuref::convtranspose_ref(c.inputs[0].value, c.inputs[1].value, b, group, g, y);
  return cpuref::pool_ref(c.inputs[0].value, g, y, op == "MaxPool", c.node.attr_int("count_include_pad", 0) != 0);
}

}  // namespace

std::vector<OpCase> reference_cases() {
  std::vector<OpCase> cases;
  for (const cpuref::UnaryRef& u : cpuref::unary_refs())
    for (const Shape& s : std::vector<Shape>{{3, 7, 5}, {41, 13}}) {
      OpCase c = make_case(u.op, {var(rand_f32(s, static_cast<float>(u.lo), static_cast<float>(u.hi)))}, u.attrs, 1e-5, 18);
      auto f = u.ref;
      c.reference = [f](const OpCase& k, const Shape&) {
        std::vector<double> y;
        for (int64_t i = 0; i < k.inputs[0].value.numel(); ++i) y.push_back(f(k.inputs[0].value.get_f64(i)));
        return y;
      };
      c.ref_rtol = 1e-5;  // tests/cpu's per-element rule: |got − ref| ≤ 1e-6 + 1e-5·|ref|
      // Range edges of the table (Asin at ±1, Log at 1e-3...) are for values, not for differences.
      c.fd = false;
      c.no_fd = "value-reference case (the same ops' gradients are checked on the unary family)";
      cases.push_back(std::move(c));
    }
  return cases;
}

void attach_reference(OpCase& c) {
  const std::string& op = c.node.op_type;
  if (c.reference || (op != "Conv" && op != "ConvTranspose" && op != "MaxPool" && op != "AveragePool")) return;
  if (c.node.has_attr("output_shape") || c.inputs[0].value.dtype() != DType::Float32) return;
  c.reference = [](const OpCase& k, const Shape& y) { return nn_reference(k, y); };
}

}  // namespace netlens::conformance
