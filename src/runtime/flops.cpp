#include "netlens/runtime.hpp"

namespace netlens {

double node_flops(const Node& n, const std::vector<TensorInfo>& in, const std::vector<TensorInfo>& out) {
  if (out.empty() || in.empty()) return 0;
  const Shape& y = out[0].shape;
  if (n.op_type == "Conv" && in.size() >= 2) {
    const Shape& w = in[1].shape;  // [Cout, Cin/g, k...]
    double per_out = 1;
    for (size_t i = 1; i < w.size(); ++i) per_out *= static_cast<double>(w[i]);
    return 2.0 * static_cast<double>(numel(y)) * per_out;
  }
  if (n.op_type == "ConvTranspose" && in.size() >= 2) {
    const Shape& w = in[1].shape;  // [Cin, Cout/g, k...]
    double per_in = 1;
    for (size_t i = 1; i < w.size(); ++i) per_in *= static_cast<double>(w[i]);
    return 2.0 * static_cast<double>(numel(in[0].shape)) * per_in;
  }
  if ((n.op_type == "Gemm" || n.op_type == "MatMul") && in.size() >= 2) {
    const Shape& a = in[0].shape;
    if (a.empty()) return 0;
    int64_t k = a.back();
    if (n.op_type == "Gemm" && n.attr_int("transA", 0) && a.size() == 2) k = a[0];
    return 2.0 * static_cast<double>(numel(y)) * static_cast<double>(k);
  }
  return 0;
}

}  // namespace netlens
