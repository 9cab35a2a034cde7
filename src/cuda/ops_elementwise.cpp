// CUDA ops: unary activations, broadcast binary ops, Where, Cast, Softmax, reductions.
#include <cmath>
#include <limits>

#include "cuda_ops.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cuda {
namespace {

using kern::BinaryOp;
using kern::UnaryOp;

// Maps over the output for each input, with dims collapsed for speed (the walk is unchanged).
std::vector<kern::StridedMap> output_walk(const std::vector<Shape>& ins, const Shape& out) {
  std::vector<kern::StridedMap> maps;
  for (const Shape& s : ins) maps.push_back(broadcast_map(s, out));
  maps.push_back(contiguous_map(out));
  if (out.empty()) {  // scalar: one element
    for (auto& m : maps) {
      m.rank = 1;
      m.dims[0] = 1;
      m.strides[0] = 0;
    }
  } else {
    kern::collapse_dims(maps.data(), static_cast<int>(maps.size()));
  }
  maps.pop_back();
  return maps;
}

// ---- unary -------------------------------------------------------------------------------------
struct UnarySpec {
  UnaryOp op;
  std::function<std::pair<float, float>(const NodeContext&)> params;  // (a, b)
};

void add_unary(CudaOpTable& t, const std::string& name, UnaryOp op,
               std::function<std::pair<float, float>(const NodeContext&)> params = nullptr) {
  CudaOp o;
  o.check = [name](const NodeContext& ctx) -> std::optional<std::string> {
    if (auto r = require_dtype(ctx, {DType::Float32, DType::Float16})) return r;
    if (name == "Clip")
      for (size_t i = 1; i < 3; ++i)
        if (i < ctx.inputs.size() && ctx.inputs[i].dtype != DType::Undefined &&
            (i >= ctx.const_inputs.size() || !ctx.const_inputs[i]))
          return std::string("Clip bounds must be constant");
    if (name == "Gelu") {
      const std::string approx = ctx.node.attr_string("approximate", "none");
      if (approx != "none" && approx != "tanh") return "Gelu approximate='" + approx + "' not supported";
    }
    return std::nullopt;
  };
  o.plan = [op, params](Context& c, const NodeContext& ctx) {
    UnaryOp real = op;
    if (op == UnaryOp::Gelu && ctx.node.attr_string("approximate", "none") == "tanh") real = UnaryOp::GeluTanh;
    const auto [a, b] = params ? params(ctx) : std::pair<float, float>{0.0f, 0.0f};
    const DType dt = ctx.inputs[0].dtype;
    return make_kernel([&c, real, a = a, b = b, dt](std::span<const TensorView> in, std::span<const TensorView> out) {
      NL_LAUNCH_CHECK(kern::launch_unary(real, dt, in[0].data, out[0].data, out[0].numel(), a, b, c.s()));
    });
  };
  t[name] = std::move(o);
}

// ---- binary ------------------------------------------------------------------------------------
void add_binary(CudaOpTable& t, const std::string& name, BinaryOp op) {
  CudaOp o;
  o.check = [op, name](const NodeContext& ctx) -> std::optional<std::string> {
    if (ctx.inputs.size() == 1 && (name == "Max" || name == "Min" || name == "Sum")) return std::nullopt;
    if (ctx.inputs.size() != 2) return name + " with " + std::to_string(ctx.inputs.size()) + " inputs not supported";
    if (ctx.inputs[0].dtype != ctx.inputs[1].dtype) return std::string("mixed input dtypes not supported");
    BinaryOp real = op;
    if (op == BinaryOp::Mod && ctx.node.attr_int("fmod", 0) != 0) real = BinaryOp::FMod;
    if (op == BinaryOp::Mod && real == BinaryOp::Mod && is_float(ctx.inputs[0].dtype))
      return std::string("Mod with fmod=0 on floats is invalid");
    if (!kern::binary_supports(real, ctx.inputs[0].dtype))
      return "dtype " + std::string(dtype_name(ctx.inputs[0].dtype)) + " not supported";
    return std::nullopt;
  };
  o.plan = [op](Context& c, const NodeContext& ctx) -> std::unique_ptr<Kernel> {
    if (ctx.inputs.size() == 1) {  // variadic Max/Min/Sum of one input: a copy
      return make_kernel([&c](std::span<const TensorView> in, std::span<const TensorView> out) {
        CUDA_CHECK(cudaMemcpyAsync(out[0].data, in[0].data, out[0].nbytes(), cudaMemcpyDeviceToDevice, c.stream));
      });
    }
    BinaryOp real = op;
    if (op == BinaryOp::Mod && ctx.node.attr_int("fmod", 0) != 0) real = BinaryOp::FMod;
    const auto maps = output_walk({ctx.inputs[0].shape, ctx.inputs[1].shape}, ctx.outputs[0].shape);
    const DType dt = ctx.inputs[0].dtype;
    return make_kernel([&c, real, dt, ma = maps[0], mb = maps[1]](std::span<const TensorView> in,
                                                                   std::span<const TensorView> out) {
      NL_LAUNCH_CHECK(kern::launch_binary(real, dt, in[0].data, in[1].data, out[0].data, ma, mb, out[0].numel(), c.s()));
    });
  };
  t[name] = std::move(o);
}

// ---- reductions ------------------------------------------------------------------------------------
// Axes of a Reduce* node: attribute before the opset where they became an input.
std::optional<std::vector<int64_t>> reduce_axes(const NodeContext& ctx, int64_t input_since) {
  if (ctx.opset >= input_since) {
    if (ctx.inputs.size() < 2 || ctx.inputs[1].dtype == DType::Undefined) return std::vector<int64_t>{};
    if (ctx.const_inputs.size() < 2 || !ctx.const_inputs[1]) return std::nullopt;
    return ctx.const_inputs[1]->to_i64_vector();
  }
  return ctx.node.attr_ints("axes", {});
}

void add_reduce(CudaOpTable& t, const std::string& name, kern::ReduceOp op, int64_t axes_input_since) {
  CudaOp o;
  o.check = [axes_input_since](const NodeContext& ctx) -> std::optional<std::string> {
    if (auto r = require_dtype(ctx, {DType::Float32})) return r;
    const auto axes = reduce_axes(ctx, axes_input_since);
    if (!axes) return std::string("axes must be constant");
    if (axes->empty() && ctx.node.attr_int("noop_with_empty_axes", 0) != 0)
      return std::string("noop_with_empty_axes not supported");
    return std::nullopt;
  };
  o.plan = [op, axes_input_since](Context& c, const NodeContext& ctx) {
    const Shape& in = ctx.inputs[0].shape;
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<bool> reduced(in.size(), false);
    auto axes = *reduce_axes(ctx, axes_input_since);
    if (axes.empty())
      std::fill(reduced.begin(), reduced.end(), true);
    else
      for (int64_t a : axes) reduced[normalize_axis(a, rank, ctx.node.describe())] = true;
    const auto st = strides_of(in);
    kern::StridedMap kept, red;
    int64_t n_out = 1, n_red = 1;
    for (int64_t d = 0; d < rank; ++d) {
      kern::StridedMap& m = reduced[d] ? red : kept;
      m.dims[m.rank] = in[d];
      m.strides[m.rank] = st[d];
      ++m.rank;
      (reduced[d] ? n_red : n_out) *= in[d];
    }
    for (kern::StridedMap* m : {&kept, &red})
      if (m->rank == 0) {
        m->rank = 1;
        m->dims[0] = 1;
        m->strides[0] = 0;
      }
    return make_kernel([&c, op, kept, red, n_out, n_red](std::span<const TensorView> in,
                                                         std::span<const TensorView> out) {
      NL_LAUNCH_CHECK(kern::launch_reduce(op, static_cast<const float*>(in[0].data), static_cast<float*>(out[0].data),
                                          kept, red, n_out, n_red, c.s()));
    });
  };
  t[name] = std::move(o);
}

void add_softmax(CudaOpTable& t, const std::string& name, bool log) {
  CudaOp o;
  o.check = [](const NodeContext& ctx) { return require_dtype(ctx, {DType::Float32}); };
  o.plan = [log](Context& c, const NodeContext& ctx) {
    const Shape& s = ctx.inputs[0].shape;
    const int64_t rank = static_cast<int64_t>(s.size());
    const int64_t axis = normalize_axis(ctx.node.attr_int("axis", ctx.opset < 13 ? 1 : -1), rank, ctx.node.describe());
    int64_t outer = 1, len = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[d];
    if (ctx.opset < 13) {  // coerced to 2-D [outer, rest]
      for (int64_t d = axis; d < rank; ++d) len *= s[d];
    } else {
      len = rank ? s[axis] : 1;
      for (int64_t d = axis + 1; d < rank; ++d) inner *= s[d];
    }
    return make_kernel([&c, log, outer, len, inner](std::span<const TensorView> in, std::span<const TensorView> out) {
      NL_LAUNCH_CHECK(kern::launch_softmax(static_cast<const float*>(in[0].data), static_cast<float*>(out[0].data),
                                           outer, len, inner, log, c.s()));
    });
  };
  t[name] = std::move(o);
}

}  // namespace

std::pair<float, float> clip_bounds(const NodeContext& ctx) {
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (ctx.opset < 11) {
    lo = ctx.node.attr_float("min", lo);
    hi = ctx.node.attr_float("max", hi);
  } else {
    if (ctx.const_inputs.size() > 1 && ctx.const_inputs[1] && ctx.const_inputs[1]->numel() > 0)
      lo = static_cast<float>(ctx.const_inputs[1]->get_f64(0));
    if (ctx.const_inputs.size() > 2 && ctx.const_inputs[2] && ctx.const_inputs[2]->numel() > 0)
      hi = static_cast<float>(ctx.const_inputs[2]->get_f64(0));
  }
  return {lo, hi};
}

void register_elementwise_ops(CudaOpTable& t) {
  auto alpha = [](float def) {
    return [def](const NodeContext& c) { return std::pair<float, float>{c.node.attr_float("alpha", def), 0.0f}; };
  };
  add_unary(t, "Relu", UnaryOp::Relu);
  add_unary(t, "LeakyRelu", UnaryOp::LeakyRelu, alpha(0.01f));
  add_unary(t, "Sigmoid", UnaryOp::Sigmoid);
  add_unary(t, "Tanh", UnaryOp::Tanh);
  add_unary(t, "HardSigmoid", UnaryOp::HardSigmoid, [](const NodeContext& c) {
    return std::pair<float, float>{c.node.attr_float("alpha", 0.2f), c.node.attr_float("beta", 0.5f)};
  });
  add_unary(t, "HardSwish", UnaryOp::HardSwish);
  add_unary(t, "Clip", UnaryOp::Clip, clip_bounds);
  add_unary(t, "Elu", UnaryOp::Elu, alpha(1.0f));
  add_unary(t, "Selu", UnaryOp::Selu, [](const NodeContext& c) {
    return std::pair<float, float>{c.node.attr_float("alpha", 1.67326319217681884765625f),
                                   c.node.attr_float("gamma", 1.05070102214813232421875f)};
  });
  add_unary(t, "Celu", UnaryOp::Celu, alpha(1.0f));
  add_unary(t, "Softplus", UnaryOp::Softplus);
  add_unary(t, "Softsign", UnaryOp::Softsign);
  add_unary(t, "Erf", UnaryOp::Erf);
  add_unary(t, "Gelu", UnaryOp::Gelu);
  add_unary(t, "Exp", UnaryOp::Exp);
  add_unary(t, "Log", UnaryOp::Log);
  add_unary(t, "Sqrt", UnaryOp::Sqrt);
  add_unary(t, "Neg", UnaryOp::Neg);
  add_unary(t, "Abs", UnaryOp::Abs);
  add_unary(t, "Reciprocal", UnaryOp::Reciprocal);
  add_unary(t, "Floor", UnaryOp::Floor);
  add_unary(t, "Ceil", UnaryOp::Ceil);
  add_unary(t, "Round", UnaryOp::Round);
  add_unary(t, "Sin", UnaryOp::Sin);
  add_unary(t, "Cos", UnaryOp::Cos);
  add_unary(t, "Sign", UnaryOp::Sign);
  add_unary(t, "Mish", UnaryOp::Mish);
  add_unary(t, "ThresholdedRelu", UnaryOp::ThresholdedRelu, alpha(1.0f));

  add_binary(t, "Add", BinaryOp::Add);
  add_binary(t, "Sum", BinaryOp::Add);
  add_binary(t, "Sub", BinaryOp::Sub);
  add_binary(t, "Mul", BinaryOp::Mul);
  add_binary(t, "Div", BinaryOp::Div);
  add_binary(t, "Pow", BinaryOp::Pow);
  add_binary(t, "Max", BinaryOp::Max);
  add_binary(t, "Min", BinaryOp::Min);
  add_binary(t, "PRelu", BinaryOp::PRelu);
  add_binary(t, "Mod", BinaryOp::Mod);
  add_binary(t, "Equal", BinaryOp::Equal);
  add_binary(t, "Less", BinaryOp::Less);
  add_binary(t, "Greater", BinaryOp::Greater);
  add_binary(t, "LessOrEqual", BinaryOp::LessOrEqual);
  add_binary(t, "GreaterOrEqual", BinaryOp::GreaterOrEqual);
  add_binary(t, "And", BinaryOp::And);
  add_binary(t, "Or", BinaryOp::Or);
  add_binary(t, "Xor", BinaryOp::Xor);

  {
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      if (ctx.inputs.size() != 3 || ctx.inputs[0].dtype != DType::Bool) return std::string("Where needs a bool condition");
      if (ctx.inputs[1].dtype != ctx.inputs[2].dtype) return std::string("mixed input dtypes");
      const size_t es = dtype_size(ctx.inputs[1].dtype);
      if (es != 1 && es != 2 && es != 4 && es != 8) return std::string("element size not supported");
      return std::nullopt;
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const auto maps = output_walk({ctx.inputs[0].shape, ctx.inputs[1].shape, ctx.inputs[2].shape}, ctx.outputs[0].shape);
      const size_t es = dtype_size(ctx.inputs[1].dtype);
      return make_kernel([&c, es, maps](std::span<const TensorView> in, std::span<const TensorView> out) {
        NL_LAUNCH_CHECK(kern::launch_where(es, in[0].data, in[1].data, in[2].data, out[0].data, maps[0], maps[1],
                                           maps[2], out[0].numel(), c.s()));
      });
    };
    t["Where"] = std::move(o);
  }
  {
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      const DType from = ctx.inputs[0].dtype, to = ctx.outputs[0].dtype;
      if (from == to || kern::cast_supports(from, to)) return std::nullopt;
      return "cast " + std::string(dtype_name(from)) + " -> " + std::string(dtype_name(to)) + " not supported";
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const DType from = ctx.inputs[0].dtype, to = ctx.outputs[0].dtype;
      return make_kernel([&c, from, to](std::span<const TensorView> in, std::span<const TensorView> out) {
        if (from == to)
          CUDA_CHECK(cudaMemcpyAsync(out[0].data, in[0].data, out[0].nbytes(), cudaMemcpyDeviceToDevice, c.stream));
        else
          NL_LAUNCH_CHECK(kern::launch_cast(from, to, in[0].data, out[0].data, out[0].numel(), c.s()));
      });
    };
    t["Cast"] = std::move(o);
  }

  add_softmax(t, "Softmax", false);
  add_softmax(t, "LogSoftmax", true);

  add_reduce(t, "ReduceSum", kern::ReduceOp::Sum, 13);
  add_reduce(t, "ReduceMean", kern::ReduceOp::Mean, 18);
  add_reduce(t, "ReduceMax", kern::ReduceOp::Max, 18);
  add_reduce(t, "ReduceMin", kern::ReduceOp::Min, 18);
  add_reduce(t, "ReduceProd", kern::ReduceOp::Prod, 18);
  add_reduce(t, "ReduceL1", kern::ReduceOp::L1, 18);
  add_reduce(t, "ReduceL2", kern::ReduceOp::L2, 18);
  add_reduce(t, "ReduceSumSquare", kern::ReduceOp::SumSquare, 18);
}

}  // namespace netlens::cuda
