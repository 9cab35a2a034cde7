// CUDA reverse mode of the elementwise family (cuda_grad.hpp contract): unary activations from the
// saved forward values (Gelu/Erf recompute erf/exp from x), Clip (bounds constant, as the forward requires), the broadcasting binaries
// Add/Sub/Mul/Div/PRelu with the sum over broadcast dims fused into one kernel per operand, and
// Softmax/LogSoftmax (row dot products). Conventions are the CPU backward's (kernels/grad_index.hpp).
#include <limits>

#include "cuda_grad.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cuda {

[[noreturn]] void refuse(const NodeContext& ctx, const std::string& what) {
  throw Error(ErrorKind::Unsupported, ctx.node.describe() + ": " + what + " has no CUDA backward");
}

namespace {

bool has_input(const NodeContext& ctx, size_t i) { return i < ctx.inputs.size() && ctx.inputs[i].dtype != DType::Undefined; }
const Tensor* const_input(const NodeContext& ctx, size_t i) {
  return has_input(ctx, i) && i < ctx.const_inputs.size() ? ctx.const_inputs[i] : nullptr;
}

// ---- unary ------------------------------------------------------------------------------------------
struct UnaryDef {
  kern::UnaryGrad op;
  bool reads_x, reads_y;
  std::function<std::pair<float, float>(const NodeContext&)> params;
};

void add_unary(CudaGradTable& t, const char* name, UnaryDef def) {
  CudaGradOp o;
  o.plan = [def](Context& c, const NodeContext& ctx, const Need& need) -> std::unique_ptr<GradKernel> {
    UnaryDef d = def;
    if (d.op == kern::UnaryGrad::Gelu && ctx.node.attr_string("approximate", "none") == "tanh") d.op = kern::UnaryGrad::GeluTanh;
    const auto [a, b] = d.params ? d.params(ctx) : std::pair<float, float>{0.0f, 0.0f};
    const bool want_x = wanted(need, 0);
    return make_grad_kernel([&c, def = d, a = a, b = b, want_x](const GradViews& v) {
      float* dx = want_x ? grad_in(v, 0) : nullptr;
      const float* g = grad_out(v, 0);
      if (!dx || !g) return;
      NL_LAUNCH_CHECK(kern::launch_unary_grad(def.op, def.reads_x ? fwd_in(v, 0) : nullptr, def.reads_y ? fwd_out(v, 0) : nullptr,
                                              g, dx, v.grad_inputs[0].numel(), a, b, c.s()));
    });
  };
  t[name] = std::move(o);
}

void add_clip(CudaGradTable& t) {
  CudaGradOp o;
  o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
    if (ctx.opset >= 11)
      for (size_t i = 1; i < 3; ++i)
        if (has_input(ctx, i) && !const_input(ctx, i)) return std::string("Clip bounds must be constant");
    return std::nullopt;
  };
  o.plan = [](Context& c, const NodeContext& ctx, const Need& need) -> std::unique_ptr<GradKernel> {
    const auto [lo, hi] = clip_bounds(ctx);
    const bool attrs = ctx.opset < 11;
    const bool want[3] = {wanted(need, 0), !attrs && wanted(need, 1), !attrs && wanted(need, 2)};
    return make_grad_kernel([&c, lo = lo, hi = hi, want](const GradViews& v) {
      const float* g = grad_out(v, 0);
      if (!g) return;
      const int64_t n = v.outputs[0].numel();
      if (float* dx = want[0] ? grad_in(v, 0) : nullptr)
        NL_LAUNCH_CHECK(kern::launch_unary_grad(kern::UnaryGrad::Clip, fwd_in(v, 0), nullptr, g, dx, n, lo, hi, c.s()));
      for (size_t k = 1; k <= 2; ++k)
        if (float* db = want[k] ? grad_in(v, k) : nullptr)
          NL_LAUNCH_CHECK(kern::launch_clip_bound_grad(fwd_in(v, 0), g, n, lo, hi, k == 1, db, c.s()));
    });
  };
  t["Clip"] = std::move(o);
}

// ---- binary -----------------------------------------------------------------------------------------
// Per operand: its term, its alpha, and which input is "other".
struct Side {
  kern::BinaryGrad term;
  float alpha;
};

void add_binary(CudaGradTable& t, const char* name, Side a_side, Side b_side) {
  CudaGradOp o;
  o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
    if (ctx.inputs.size() != 2) return std::string("only two inputs");
    if (ctx.inputs[0].dtype != DType::Float32 || ctx.inputs[1].dtype != DType::Float32) return std::string("float32 operands only");
    if (ctx.opset < 7 && ctx.node.attr_int("broadcast", 0) != 0) return std::string("legacy broadcast (opset < 7)");
    return std::nullopt;
  };
  o.plan = [a_side, b_side](Context& c, const NodeContext& ctx, const Need& need) -> std::unique_ptr<GradKernel> {
    const Shape& A = ctx.inputs[0].shape;
    const Shape& B = ctx.inputs[1].shape;
    const Shape& O = ctx.outputs[0].shape;
    const Side sides[2] = {a_side, b_side};
    const BroadcastGrad maps[2] = {broadcast_grad_maps(A, B, O), broadcast_grad_maps(B, A, O)};
    const bool want[2] = {wanted(need, 0), wanted(need, 1)};
    return make_grad_kernel([&c, sides, m0 = maps[0], m1 = maps[1], want](const GradViews& v) {
      const float* g = grad_out(v, 0);
      if (!g) return;
      const BroadcastGrad* m[2] = {&m0, &m1};
      for (size_t k = 0; k < 2; ++k) {
        float* dst = want[k] ? grad_in(v, k) : nullptr;
        if (!dst) continue;
        const kern::BinaryGrad term = sides[k].term;
        const float* self = kern::binary_grad_reads_self(term) ? fwd_in(v, k) : nullptr;
        const float* other = kern::binary_grad_reads_other(term) ? fwd_in(v, 1 - k) : nullptr;
        NL_LAUNCH_CHECK(kern::launch_binary_grad(term, sides[k].alpha, g, self, other, dst, m[k]->kept_g, m[k]->kept_other,
                                                 m[k]->red_g, m[k]->red_other, m[k]->n_out, m[k]->n_red, c.s()));
      }
    });
  };
  t[name] = std::move(o);
}

// ---- softmax ----------------------------------------------------------------------------------------
void add_softmax(CudaGradTable& t, const char* name, bool log) {
  CudaGradOp o;
  o.plan = [log](Context& c, const NodeContext& ctx, const Need& need) -> std::unique_ptr<GradKernel> {
    // The CPU's geometry (opset < 13 coerces to 2-D at `axis`, later opsets reduce along `axis`).
    const SoftmaxGeometry g = softmax_geometry(ctx.node, ctx.opset, ctx.inputs.at(0).shape);
    const int64_t outer = g.outer, len = g.len, inner = g.inner;
    const bool want = wanted(need, 0);
    return make_grad_kernel([&c, log, outer, len, inner, want](const GradViews& v) {
      float* dx = want ? grad_in(v, 0) : nullptr;
      const float* g = grad_out(v, 0);
      if (dx && g) NL_LAUNCH_CHECK(kern::launch_softmax_grad(fwd_out(v, 0), g, dx, outer, len, inner, log, c.s()));
    });
  };
  t[name] = std::move(o);
}

}  // namespace

void register_elementwise_grads(CudaGradTable& t) {
  using kern::UnaryGrad;
  auto alpha = [](float def) {
    return [def](const NodeContext& c) { return std::pair<float, float>{c.node.attr_float("alpha", def), 0.0f}; };
  };
  add_unary(t, "Relu", {UnaryGrad::Relu, true, false, nullptr});
  add_unary(t, "LeakyRelu", {UnaryGrad::LeakyRelu, true, false, alpha(0.01f)});
  add_unary(t, "Sigmoid", {UnaryGrad::Sigmoid, false, true, nullptr});
  add_unary(t, "Tanh", {UnaryGrad::Tanh, false, true, nullptr});
  add_unary(t, "HardSigmoid", {UnaryGrad::HardSigmoid, true, false, [](const NodeContext& c) {
                                 return std::pair<float, float>{c.node.attr_float("alpha", 0.2f), c.node.attr_float("beta", 0.5f)};
                               }});
  add_unary(t, "HardSwish", {UnaryGrad::HardSwish, true, false, nullptr});
  add_unary(t, "Exp", {UnaryGrad::Exp, false, true, nullptr});
  add_unary(t, "Neg", {UnaryGrad::Neg, false, false, nullptr});
  add_unary(t, "Erf", {UnaryGrad::Erf, true, false, nullptr});
  add_unary(t, "Gelu", {UnaryGrad::Gelu, true, false, nullptr});
  add_clip(t);

  using kern::BinaryGrad;
  add_binary(t, "Add", {BinaryGrad::G, 1.0f}, {BinaryGrad::G, 1.0f});
  add_binary(t, "Sub", {BinaryGrad::G, 1.0f}, {BinaryGrad::G, -1.0f});
  add_binary(t, "Mul", {BinaryGrad::GOther, 1.0f}, {BinaryGrad::GOther, 1.0f});
  add_binary(t, "Div", {BinaryGrad::GOverOther, 1.0f}, {BinaryGrad::DivDenom, 1.0f});
  add_binary(t, "PRelu", {BinaryGrad::PReluX, 1.0f}, {BinaryGrad::PReluSlope, 1.0f});

  add_softmax(t, "Softmax", false);
  add_softmax(t, "LogSoftmax", true);
}

}  // namespace netlens::cuda
