// CUDA reverse mode of the data-movement ops (cuda_grad.hpp contract): the adjoint of each forward
// copy adds the output gradient back along the same maps. Reshape/Flatten/Squeeze/Unsqueeze/
// Identity/Dropout (same elements, same order): dx += g; Transpose: dx[perm map] += g; Concat:
// each input's block of g added into its gradient; Slice: g added back along the slice's strides. Every map visits each destination element once,
// so there are no races and no atomics.
#include "cuda_grad.hpp"
#include "netlens/cuda/resize_geometry.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_tensor.hpp"

namespace netlens::cuda {
namespace {

std::unique_ptr<GradKernel> pass_through(Context& c, const NodeContext&, const Need& need) {
  const bool want = wanted(need, 0);
  return make_grad_kernel([&c, want](const GradViews& v) {
    float* dx = want ? grad_in(v, 0) : nullptr;
    const float* g = grad_out(v, 0);
    if (!dx || !g) return;
    const int64_t n = v.grad_outputs[0].numel();
    kern::StridedMap m;
    m.rank = 1;
    m.dims[0] = n > 0 ? n : 1;
    m.strides[0] = 1;
    NL_LAUNCH_CHECK(kern::launch_strided_add(g, dx, m, m, n, c.s()));
  });
}

std::unique_ptr<GradKernel> transpose_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& in = ctx.inputs[0].shape;
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> perm = ctx.node.attr_ints("perm", {});
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != r)
    throw Error(ErrorKind::Model, ctx.node.describe() + ": perm has " + std::to_string(perm.size()) + " entries for rank " +
                                      std::to_string(r));
  // Forward: out[i] = in[src(i)]; adjoint: dx[src(i)] += g[i].
  const auto st = strides_of(in);
  kern::StridedMap maps[2];
  maps[0] = contiguous_map(ctx.outputs[0].shape);  // g
  maps[1].rank = static_cast<int>(r);               // dx
  for (int64_t d = 0; d < r; ++d) {
    const int64_t p = normalize_axis(perm[static_cast<size_t>(d)], r, ctx.node.describe());
    maps[1].dims[d] = in[static_cast<size_t>(p)];
    maps[1].strides[d] = st[static_cast<size_t>(p)];
  }
  maps[0] = scalar_safe(maps[0]);
  maps[1] = scalar_safe(maps[1]);
  kern::collapse_dims(maps, 2);
  const int64_t n = numel(in);
  const bool want = wanted(need, 0);
  return make_grad_kernel([&c, gm = maps[0], dm = maps[1], n, want](const GradViews& v) {
    float* dx = want ? grad_in(v, 0) : nullptr;
    const float* g = grad_out(v, 0);
    if (dx && g) NL_LAUNCH_CHECK(kern::launch_strided_add(g, dx, gm, dm, n, c.s()));
  });
}

std::unique_ptr<GradKernel> concat_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& out = ctx.outputs[0].shape;
  const int64_t r = static_cast<int64_t>(out.size());
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 1), r, ctx.node.describe());
  const auto ost = strides_of(out);
  struct Part {
    kern::StridedMap src, dst;  // src walks g (output strides from the part's offset), dst the input gradient
    int64_t n;
    bool want;
  };
  std::vector<Part> parts;
  int64_t at = 0;
  for (size_t k = 0; k < ctx.inputs.size(); ++k) {
    const Shape& s = ctx.inputs[k].shape;
    Part p{contiguous_map(s), contiguous_map(s), numel(s), wanted(need, k)};
    for (int64_t d = 0; d < r; ++d) p.src.strides[d] = ost[static_cast<size_t>(d)];
    p.src.offset = at * ost[static_cast<size_t>(axis)];
    at += s.empty() ? 1 : s[static_cast<size_t>(axis)];
    kern::StridedMap maps[2] = {scalar_safe(p.src), scalar_safe(p.dst)};
    kern::collapse_dims(maps, 2);
    parts.push_back({maps[0], maps[1], p.n, p.want});
  }
  return make_grad_kernel([&c, parts](const GradViews& v) {
    const float* g = grad_out(v, 0);
    if (!g) return;
    for (size_t k = 0; k < parts.size(); ++k)
      if (float* dx = parts[k].want ? grad_in(v, k) : nullptr)
        NL_LAUNCH_CHECK(kern::launch_strided_add(g, dx, parts[k].src, parts[k].dst, parts[k].n, c.s()));
  });
}

// Slice: the forward reads in[start + step·i] (the runtime's slice_params, as the CPU); the adjoint
// adds g back along the same strides (steps are non-zero: one writer per element).
std::unique_ptr<GradKernel> slice_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const Shape& in = ctx.inputs[0].shape;
  const auto p = tensor_params::slice_params(ctx.node, ctx.opset, in, ctx.const_inputs);
  const auto ist = strides_of(in);
  kern::StridedMap maps[2] = {contiguous_map(p.out), contiguous_map(p.out)};  // g, dx
  for (size_t d = 0; d < in.size(); ++d) {
    maps[1].strides[d] = ist[d] * p.step[d];
    if (numel(p.out) > 0) maps[1].offset += p.start[d] * ist[d];
  }
  maps[0] = scalar_safe(maps[0]);
  maps[1] = scalar_safe(maps[1]);
  kern::collapse_dims(maps, 2);
  const int64_t n = numel(p.out);
  const bool want = wanted(need, 0);
  return make_grad_kernel([&c, gm = maps[0], dm = maps[1], n, want](const GradViews& v) {
    float* dx = want ? grad_in(v, 0) : nullptr;
    const float* g = grad_out(v, 0);
    if (dx && g) NL_LAUNCH_CHECK(kern::launch_strided_add(g, dx, gm, dm, n, c.s()));
  });
}

// Resize: the forward's geometry (resize_geometry, as the CPU computes it) walked backwards; roi,
// scales and sizes get no gradient (settings, as on the CPU).
std::unique_ptr<GradKernel> resize_grad(Context& c, const NodeContext& ctx, const Need& need) {
  const kern::ResizeGeom g = resize_geometry(ctx);
  const bool want = wanted(need, 0);
  return make_grad_kernel([&c, g, want](const GradViews& v) {
    float* dx = want ? grad_in(v, 0) : nullptr;
    const float* gy = grad_out(v, 0);
    if (dx && gy) NL_LAUNCH_CHECK(kern::launch_resize_grad(gy, dx, g, c.s()));
  });
}

}  // namespace

void register_tensor_grads(CudaGradTable& t) {
  // Dropout runs only as the identity (the forward refuses random cases), so its gradient passes.
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}) t[op] = CudaGradOp{nullptr, pass_through};
  t["Transpose"] = CudaGradOp{nullptr, transpose_grad};
  t["Concat"] = CudaGradOp{nullptr, concat_grad};
  t["Resize"] = CudaGradOp{nullptr, resize_grad};
  t["Slice"] = CudaGradOp{nullptr, slice_grad};  // starts/ends/axes/steps constant (the forward's check)  // the forward's check (nearest/linear, last two dims) applies
}

}  // namespace netlens::cuda
