// CUDA ops that move data: pure copies, Transpose, Slice, Concat, Split, Expand, Tile, Gather,
// Pad, Resize. All but Resize are dtype-generic (they move 1/2/4/8-byte elements).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda_ops.hpp"
#include "netlens/cuda/resize_geometry.hpp"
#include "netlens/runtime/shape_util.hpp"

namespace netlens::cuda {
namespace {

bool movable(DType t) {
  const size_t s = dtype_size(t);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

std::optional<std::string> check_movable(const NodeContext& ctx) {
  if (ctx.inputs.empty() || !movable(ctx.inputs[0].dtype)) return std::string("element type not supported");
  return std::nullopt;
}

const Tensor* const_input(const NodeContext& ctx, size_t i) {
  if (i >= ctx.inputs.size() || ctx.inputs[i].dtype == DType::Undefined) return nullptr;
  return i < ctx.const_inputs.size() ? ctx.const_inputs[i] : nullptr;
}
bool has_input(const NodeContext& ctx, size_t i) {
  return i < ctx.inputs.size() && ctx.inputs[i].dtype != DType::Undefined;
}

// A copy kernel over prepared maps (collapsed here once).
std::unique_ptr<Kernel> copy_kernel(Context& c, size_t es, kern::StridedMap src, kern::StridedMap dst, int64_t n) {
  kern::StridedMap maps[2] = {src, dst};
  kern::collapse_dims(maps, 2);
  return make_kernel([&c, es, ms = maps[0], md = maps[1], n](std::span<const TensorView> in,
                                                              std::span<const TensorView> out) {
    NL_LAUNCH_CHECK(kern::launch_strided_copy(es, in[0].data, out[0].data, ms, md, n, c.s()));
  });
}


void add_copy(CudaOpTable& t, const std::string& name) {
  CudaOp o;
  o.check = [name](const NodeContext& ctx) -> std::optional<std::string> {
    if (name == "Dropout" && ctx.outputs.size() > 1 && ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty())
      return std::string("Dropout mask output not supported");
    return std::nullopt;
  };
  o.plan = [](Context& c, const NodeContext&) {
    return make_kernel([&c](std::span<const TensorView> in, std::span<const TensorView> out) {
      if (out[0].data != in[0].data && out[0].nbytes())
        CUDA_CHECK(cudaMemcpyAsync(out[0].data, in[0].data, out[0].nbytes(), cudaMemcpyDeviceToDevice, c.stream));
    });
  };
  t[name] = std::move(o);
}

// ONNX Slice: effective start of one axis (the output length is already known).
int64_t slice_start(int64_t start, int64_t step, int64_t dim) {
  if (start < 0) start += dim;
  if (step > 0) return std::clamp<int64_t>(start, 0, dim);
  return std::clamp<int64_t>(start, 0, dim - 1);
}

}  // namespace

kern::ResizeGeom resize_geometry(const NodeContext& ctx) {
  const Shape& in = ctx.inputs[0].shape;
  const Shape& out = ctx.outputs[0].shape;
  const size_t r = in.size();
  kern::ResizeGeom g;
  g.linear = ctx.node.attr_string("mode", "nearest") == "linear";
  const std::string coord = ctx.node.attr_string("coordinate_transformation_mode", "half_pixel");
  g.coord = coord == "pytorch_half_pixel"     ? kern::ResizeCoord::PytorchHalfPixel
            : coord == "align_corners"        ? kern::ResizeCoord::AlignCorners
            : coord == "asymmetric"           ? kern::ResizeCoord::Asymmetric
            : coord == "tf_half_pixel_for_nn" ? kern::ResizeCoord::TfHalfPixelForNn
                                              : kern::ResizeCoord::HalfPixel;
  const std::string nm = ctx.node.attr_string("nearest_mode", "round_prefer_floor");
  g.nearest = nm == "round_prefer_ceil" ? kern::ResizeNearest::RoundPreferCeil
              : nm == "floor"           ? kern::ResizeNearest::Floor
              : nm == "ceil"            ? kern::ResizeNearest::Ceil
                                        : kern::ResizeNearest::RoundPreferFloor;
  std::vector<float> scales;
  if (const Tensor* s = const_input(ctx, 2); s && s->numel() == static_cast<int64_t>(r)) scales = s->to_f32_vector();
  auto dim = [&](const Shape& s, size_t back) { return back <= s.size() ? s[s.size() - back] : int64_t{1}; };
  g.in_h = r >= 2 ? dim(in, 2) : 1;
  g.out_h = r >= 2 ? dim(out, 2) : 1;
  g.in_w = dim(in, 1);
  g.out_w = dim(out, 1);
  g.outer = numel(out) / std::max<int64_t>(1, g.out_h * g.out_w);
  // Same float32 arithmetic as the CPU reference (src/runtime/shapes_tensor.cpp resize_params):
  // scale = the given scale, or sizes/in in double; length = scale * in (double) or the size.
  auto axis = [&](size_t back, int64_t i, int64_t o, float& scale, float& length, bool& identity) {
    if (!scales.empty() && back <= r) {
      scale = scales[r - back];
      length = static_cast<float>(static_cast<double>(scale) * static_cast<double>(i));
    } else {
      scale = i ? static_cast<float>(static_cast<double>(o) / static_cast<double>(i)) : 1.0f;
      length = static_cast<float>(o);
    }
    identity = i == o && scale == 1.0f;
  };
  if (r >= 2) axis(2, g.in_h, g.out_h, g.scale_h, g.length_h, g.identity_h);
  else g.identity_h = true;
  axis(1, g.in_w, g.out_w, g.scale_w, g.length_w, g.identity_w);
  return g;
}

void register_tensor_ops(CudaOpTable& t) {
  for (const char* n : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}) add_copy(t, n);

  {  // Transpose
    CudaOp o;
    o.check = check_movable;
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& in = ctx.inputs[0].shape;
      const int64_t r = static_cast<int64_t>(in.size());
      std::vector<int64_t> perm = ctx.node.attr_ints("perm", {});
      if (perm.empty())
        for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
      if (static_cast<int64_t>(perm.size()) != r)
        throw Error(ErrorKind::Model, ctx.node.describe() + ": perm has " + std::to_string(perm.size()) +
                                          " entries for rank " + std::to_string(r));
      const auto st = strides_of(in);
      kern::StridedMap src;
      src.rank = static_cast<int>(r);
      for (int64_t d = 0; d < r; ++d) {
        const int64_t p = normalize_axis(perm[d], r, ctx.node.describe());
        src.dims[d] = in[p];
        src.strides[d] = st[p];
      }
      return copy_kernel(c, dtype_size(ctx.inputs[0].dtype), scalar_safe(src),
                         scalar_safe(contiguous_map(ctx.outputs[0].shape)), numel(ctx.outputs[0].shape));
    };
    t["Transpose"] = std::move(o);
  }
  {  // Slice
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      if (auto r = check_movable(ctx)) return r;
      if (ctx.opset >= 10) {
        if (!const_input(ctx, 1) || !const_input(ctx, 2)) return std::string("starts/ends must be constant");
        for (size_t i = 3; i < 5; ++i)
          if (has_input(ctx, i) && !const_input(ctx, i)) return std::string("axes/steps must be constant");
      }
      return std::nullopt;
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& in = ctx.inputs[0].shape;
      const int64_t r = static_cast<int64_t>(in.size());
      std::vector<int64_t> starts, axes, steps;
      if (ctx.opset >= 10) {
        starts = const_input(ctx, 1)->to_i64_vector();
        if (const Tensor* a = const_input(ctx, 3)) axes = a->to_i64_vector();
        if (const Tensor* s = const_input(ctx, 4)) steps = s->to_i64_vector();
      } else {
        starts = ctx.node.attr_ints("starts");
        axes = ctx.node.attr_ints("axes");
      }
      if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
      if (steps.empty()) steps.assign(starts.size(), 1);
      const auto st = strides_of(in);
      kern::StridedMap src = contiguous_map(ctx.outputs[0].shape);
      for (int64_t d = 0; d < r; ++d) src.strides[d] = st[d];
      for (size_t i = 0; i < starts.size() && i < axes.size() && i < steps.size(); ++i) {
        const int64_t a = normalize_axis(axes[i], r, ctx.node.describe());
        if (steps[i] == 0) throw Error(ErrorKind::Model, ctx.node.describe() + ": step 0");
        src.strides[a] = st[a] * steps[i];
        if (ctx.outputs[0].shape[a] > 0) src.offset += slice_start(starts[i], steps[i], in[a]) * st[a];
      }
      return copy_kernel(c, dtype_size(ctx.inputs[0].dtype), scalar_safe(src),
                         scalar_safe(contiguous_map(ctx.outputs[0].shape)), numel(ctx.outputs[0].shape));
    };
    t["Slice"] = std::move(o);
  }
  {  // Concat
    CudaOp o;
    o.check = check_movable;
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& out = ctx.outputs[0].shape;
      const int64_t r = static_cast<int64_t>(out.size());
      const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.node.describe());
      const auto ost = strides_of(out);
      const size_t es = dtype_size(ctx.outputs[0].dtype);
      struct Part {
        kern::StridedMap src, dst;
        int64_t n;
      };
      std::vector<Part> parts;
      int64_t at = 0;
      for (const TensorInfo& ti : ctx.inputs) {
        Part p{contiguous_map(ti.shape), contiguous_map(ti.shape), numel(ti.shape)};
        for (int64_t d = 0; d < r; ++d) p.dst.strides[d] = ost[d];
        p.dst.offset = at * ost[axis];
        at += ti.shape.empty() ? 1 : ti.shape[axis];
        kern::StridedMap maps[2] = {scalar_safe(p.src), scalar_safe(p.dst)};
        kern::collapse_dims(maps, 2);
        parts.push_back({maps[0], maps[1], p.n});
      }
      return make_kernel([&c, es, parts](std::span<const TensorView> in, std::span<const TensorView> out) {
        for (size_t i = 0; i < parts.size(); ++i)
          NL_LAUNCH_CHECK(kern::launch_strided_copy(es, in[i].data, out[0].data, parts[i].src, parts[i].dst,
                                                    parts[i].n, c.s()));
      });
    };
    t["Concat"] = std::move(o);
  }
  {  // Split: output shapes already say where each part starts
    CudaOp o;
    o.check = check_movable;
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& in = ctx.inputs[0].shape;
      const int64_t r = static_cast<int64_t>(in.size());
      const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.node.describe());
      const auto ist = strides_of(in);
      const size_t es = dtype_size(ctx.inputs[0].dtype);
      struct Part {
        kern::StridedMap src, dst;
        int64_t n;
      };
      std::vector<Part> parts;
      int64_t at = 0;
      for (const TensorInfo& ti : ctx.outputs) {
        kern::StridedMap src = contiguous_map(ti.shape);
        for (int64_t d = 0; d < r; ++d) src.strides[d] = ist[d];
        src.offset = at * ist[axis];
        at += ti.shape[axis];
        kern::StridedMap maps[2] = {scalar_safe(src), scalar_safe(contiguous_map(ti.shape))};
        kern::collapse_dims(maps, 2);
        parts.push_back({maps[0], maps[1], numel(ti.shape)});
      }
      return make_kernel([&c, es, parts](std::span<const TensorView> in, std::span<const TensorView> out) {
        for (size_t i = 0; i < parts.size() && i < out.size(); ++i)
          if (out[i].data)
            NL_LAUNCH_CHECK(kern::launch_strided_copy(es, in[0].data, out[i].data, parts[i].src, parts[i].dst,
                                                      parts[i].n, c.s()));
      });
    };
    t["Split"] = std::move(o);
  }
  {  // Expand
    CudaOp o;
    o.check = check_movable;
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& out = ctx.outputs[0].shape;
      return copy_kernel(c, dtype_size(ctx.inputs[0].dtype), scalar_safe(broadcast_map(ctx.inputs[0].shape, out)),
                         scalar_safe(contiguous_map(out)), numel(out));
    };
    t["Expand"] = std::move(o);
  }
  {  // Tile: output dim d walks (repeat, index) pairs
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      if (auto r = check_movable(ctx)) return r;
      if (2 * ctx.inputs[0].shape.size() > static_cast<size_t>(kern::kMaxRank)) return std::string("Tile rank > 4");
      return std::nullopt;
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& in = ctx.inputs[0].shape;
      const Shape& out = ctx.outputs[0].shape;
      const auto st = strides_of(in);
      kern::StridedMap src, dst;
      src.rank = dst.rank = static_cast<int>(2 * in.size());
      for (size_t d = 0; d < in.size(); ++d) {
        const int64_t reps = in[d] ? out[d] / in[d] : 0;
        src.dims[2 * d] = dst.dims[2 * d] = reps;
        src.dims[2 * d + 1] = dst.dims[2 * d + 1] = in[d];
        src.strides[2 * d] = 0;
        src.strides[2 * d + 1] = st[d];
      }
      // Destination strides: row-major over out, with out index rep * in_d + i along dim d.
      const auto ost = strides_of(out);
      for (size_t d = 0; d < in.size(); ++d) {
        dst.strides[2 * d] = in[d] * ost[d];
        dst.strides[2 * d + 1] = ost[d];
      }
      return copy_kernel(c, dtype_size(ctx.inputs[0].dtype), scalar_safe(src), scalar_safe(dst), numel(out));
    };
    t["Tile"] = std::move(o);
  }
  {  // Gather
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      if (auto r = check_movable(ctx)) return r;
      const DType it = ctx.inputs[1].dtype;
      if (it != DType::Int64 && it != DType::Int32) return std::string("indices must be int32/int64");
      return std::nullopt;
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& data = ctx.inputs[0].shape;
      const int64_t r = static_cast<int64_t>(data.size());
      const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.node.describe());
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= data[d];
      for (int64_t d = axis + 1; d < r; ++d) inner *= data[d];
      const int64_t axis_len = data[axis], nidx = numel(ctx.inputs[1].shape);
      const size_t es = dtype_size(ctx.inputs[0].dtype);
      const bool i64 = ctx.inputs[1].dtype == DType::Int64;
      return make_kernel([&c, es, i64, outer, axis_len, inner, nidx](std::span<const TensorView> in,
                                                                     std::span<const TensorView> out) {
        NL_LAUNCH_CHECK(kern::launch_gather(es, in[0].data, in[1].data, i64, out[0].data, outer, axis_len, inner, nidx,
                                            c.s()));
      });
    };
    t["Gather"] = std::move(o);
  }
  {  // Pad
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      if (auto r = check_movable(ctx)) return r;
      const std::string mode = ctx.node.attr_string("mode", "constant");
      if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
        return "mode '" + mode + "' not supported";
      if (ctx.opset >= 11) {
        if (!const_input(ctx, 1)) return std::string("pads must be constant");
        for (size_t i = 2; i < 4; ++i)
          if (has_input(ctx, i) && !const_input(ctx, i)) return std::string("value/axes must be constant");
      }
      return std::nullopt;
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const Shape& in = ctx.inputs[0].shape;
      const int64_t r = static_cast<int64_t>(in.size());
      const DType dt = ctx.inputs[0].dtype;
      std::vector<int64_t> pads;
      uint64_t value_bits = 0;
      if (ctx.opset >= 11) {
        pads = const_input(ctx, 1)->to_i64_vector();
        if (const Tensor* v = const_input(ctx, 2); v && v->numel() > 0)
          std::memcpy(&value_bits, v->data(), dtype_size(dt));
        if (const Tensor* a = const_input(ctx, 3)) {  // opset 18: pads only for these axes
          const auto axes = a->to_i64_vector();
          std::vector<int64_t> full(2 * r, 0);
          for (size_t i = 0; i < axes.size(); ++i) {
            const int64_t ax = normalize_axis(axes[i], r, ctx.node.describe());
            full[ax] = pads.at(i);
            full[ax + r] = pads.at(i + axes.size());
          }
          pads = full;
        }
      } else {
        pads = ctx.node.attr_ints("pads");
        const float v = ctx.node.attr_float("value", 0.0f);
        Tensor tv = Tensor::scalar_f32(v).cast(dt);
        std::memcpy(&value_bits, tv.data(), dtype_size(dt));
      }
      if (static_cast<int64_t>(pads.size()) != 2 * r)
        throw Error(ErrorKind::Model, ctx.node.describe() + ": pads has " + std::to_string(pads.size()) +
                                          " entries for rank " + std::to_string(r));
      const std::string mode = ctx.node.attr_string("mode", "constant");
      const kern::PadMode pm = mode == "reflect" ? kern::PadMode::Reflect
                               : mode == "edge"  ? kern::PadMode::Edge
                               : mode == "wrap"  ? kern::PadMode::Wrap
                                                 : kern::PadMode::Constant;
      kern::PadGeom g;
      g.rank = static_cast<int>(r);
      for (int64_t d = 0; d < r; ++d) {
        g.in_dims[d] = in[d];
        g.out_dims[d] = ctx.outputs[0].shape[d];
        g.pad_begin[d] = pads[d];
      }
      const size_t es = dtype_size(dt);
      return make_kernel([&c, es, pm, g, value_bits](std::span<const TensorView> in, std::span<const TensorView> out) {
        NL_LAUNCH_CHECK(kern::launch_pad(es, pm, in[0].data, out[0].data, g, &value_bits, c.s()));
      });
    };
    t["Pad"] = std::move(o);
  }
  {  // Resize (nearest / linear over the last two dims)
    CudaOp o;
    o.check = [](const NodeContext& ctx) -> std::optional<std::string> {
      if (auto r = require_dtype(ctx, {DType::Float32})) return r;
      if (ctx.opset < 11) return std::string("Resize before opset 11 not supported");
      const std::string mode = ctx.node.attr_string("mode", "nearest");
      if (mode != "nearest" && mode != "linear") return "mode '" + mode + "' not supported";
      const std::string coord = ctx.node.attr_string("coordinate_transformation_mode", "half_pixel");
      if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" && coord != "asymmetric" &&
          coord != "tf_half_pixel_for_nn")
        return "coordinate_transformation_mode '" + coord + "' not supported";
      const std::string nm = ctx.node.attr_string("nearest_mode", "round_prefer_floor");
      if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
        return "nearest_mode '" + nm + "' not supported";
      if (ctx.node.attr_int("antialias", 0) != 0) return std::string("antialias not supported");
      if (ctx.node.has_attr("axes")) return std::string("axes attribute not supported");
      if (ctx.node.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
        return std::string("keep_aspect_ratio_policy not supported");
      const Shape& in = ctx.inputs[0].shape;
      const Shape& out = ctx.outputs[0].shape;
      if (in.size() != out.size() || in.empty()) return std::string("rank mismatch");
      for (size_t d = 0; d + 2 < in.size(); ++d)
        if (in[d] != out[d]) return std::string("only the last two dims may be resized");
      if (has_input(ctx, 2) && !const_input(ctx, 2)) return std::string("scales must be constant");
      return std::nullopt;
    };
    o.plan = [](Context& c, const NodeContext& ctx) {
      const kern::ResizeGeom g = resize_geometry(ctx);
      return make_kernel([&c, g](std::span<const TensorView> in, std::span<const TensorView> out) {
        NL_LAUNCH_CHECK(kern::launch_resize(static_cast<const float*>(in[0].data), static_cast<float*>(out[0].data), g,
                                            c.s()));
      });
    };
    t["Resize"] = std::move(o);
  }
}

}  // namespace netlens::cuda
