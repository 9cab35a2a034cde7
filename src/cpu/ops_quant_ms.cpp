// CPU kernels of onnxruntime's com.microsoft QLinear elementwise ops: QLinearAdd, QLinearMul,
// QLinearSigmoid, QLinearLeakyRelu, QLinearGlobalAveragePool, QLinearConcat, QLinearAveragePool (parameters checked by
// src/runtime/shapes_quant_ms.cpp). The arithmetic is onnxruntime's x86-64 CPU provider's (MLAS with
// AVX2/FMA), step for step in float32, so that the integers are bit-identical to it:
// - QLinearAdd: with rA = A_scale / C_scale, rB = B_scale / C_scale and
//   fixed = C_zp - (rA * A_zp + rB * B_zp), C = sat(round_half_even(fma(a, rA, fma(b, rB, fixed)))).
//   Where A is constant along the innermost run of the broadcast (onnxruntime's "input 0 scalar" span,
//   which it passes to MLAS as the B operand), A's term goes in first: fma(b, rB, fma(a, rA, fixed)).
//   (MLAS's AVX2 kernel adds the scalar's product to `fixed` with _mm256_add_ps(_mm256_mul_ps(...)),
//   which GCC contracts into one fma; measured against onnxruntime 1.22, tests/quant/test_quant_ms.)
// - QLinearMul: C = sat(round_half_even(float((a - A_zp) * (b - B_zp)) * (A_scale * B_scale / C_scale) + C_zp))
//   (the zero point added in float32 before the rounding, as MLAS does).
// - QLinearSigmoid / QLinearLeakyRelu: a 256-entry table, as onnxruntime builds it: each integer x is
//   dequantized (X_scale * (x - X_zp)), mapped (MLAS's rational logistic approximation / x or alpha*x),
//   and quantized (round_half_even(v / Y_scale) + Y_zp, saturated).
// - QLinearAveragePool: float32 average of the dequantized window, quantized (plan_average_pool).
// - QLinearConcat: each input through the table x -> quantize(X_scale * (x - X_zp)) to Y's parameters.
// - QLinearGlobalAveragePool: an exact int32 sum minus x_zp * area, requantized with the float32
//   multiplier x_scale / (y_scale * area).
// Unlike onnxruntime's vector kernels, results beyond int32 saturate to the nearer end of the range
// (onnxruntime's cvtps2dq gives INT32_MIN there, only reachable with scale ratios above ~8e6).
#include <array>
#include <cmath>

#include "ops_quant.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::quant {

namespace {

float zp_f(const std::span<const TensorView>& in, size_t i) {
  return i < in.size() && in[i].data ? static_cast<float>(zp_at(in[i], 0)) : 0.f;
}
int32_t zp_i(const std::span<const TensorView>& in, size_t i) {
  return i < in.size() && in[i].data ? zp_at(in[i], 0) : 0;
}

// Broadcast geometry of a binary op: per output element, the element of A and of B; and which
// operand onnxruntime treats as a scalar span (its stride along the innermost output dim > 1 is 0).
struct Binary {
  Shape out;
  std::vector<int64_t> sa, sb;
  int scalar = 0;  // 0: none, 1: A, 2: B
};

Binary binary_geometry(const NodeContext& ctx) {
  Binary g;
  g.out = ctx.outputs[0].shape;
  g.sa = broadcast_strides(ctx.inputs[0].shape, g.out);
  g.sb = broadcast_strides(ctx.inputs[3].shape, g.out);
  int64_t d = static_cast<int64_t>(g.out.size()) - 1;
  while (d >= 0 && g.out[static_cast<size_t>(d)] == 1) --d;
  if (d < 0) g.scalar = 1;  // one element: onnxruntime's "input 0 is a scalar" case
  else if (g.sa[static_cast<size_t>(d)] == 0) g.scalar = 1;
  else if (g.sb[static_cast<size_t>(d)] == 0) g.scalar = 2;
  return g;
}

// Calls f(i, ia, ib) for every output element i with the flat indices of its A and B elements.
template <typename F>
void for_each_broadcast(const Binary& g, F&& f) {
  const int64_t n = numel(g.out);
  const size_t r = g.out.size();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, ia = 0, ib = 0;
    for (size_t k = r; k-- > 0;) {
      const int64_t c = rem % g.out[k];
      rem /= g.out[k];
      ia += c * g.sa[k];
      ib += c * g.sb[k];
    }
    f(i, ia, ib);
  }
}

std::unique_ptr<Kernel> plan_add(const NodeContext& ctx) {
  const Binary g = binary_geometry(ctx);
  const DType t = ctx.outputs[0].dtype;
  return make_kernel([g, t](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float ra = scale_at(in[1], 0) / scale_at(in[6], 0);
    const float rb = scale_at(in[4], 0) / scale_at(in[6], 0);
    const float za = zp_f(in, 2), zb = zp_f(in, 5), zc = zp_f(in, 7);
    const int32_t lo = qmin(t), hi = qmax(t);
    const float fixed = zc - (ra * za + rb * zb);
    const bool a_first = g.scalar == 1;  // MLAS gets the scalar operand as its B: its term goes in first
    const void* a = in[0].data;
    const void* b = in[3].data;
    for_each_broadcast(g, [&](int64_t i, int64_t ia, int64_t ib) {
      const float va = static_cast<float>(load_q(a, t, ia)), vb = static_cast<float>(load_q(b, t, ib));
      const float v = a_first ? std::fma(vb, rb, std::fma(va, ra, fixed)) : std::fma(va, ra, std::fma(vb, rb, fixed));
      store_q(o[0].data, t, i, saturate_round(v, 0, lo, hi));
    });
  });
}

std::unique_ptr<Kernel> plan_mul(const NodeContext& ctx) {
  const Binary g = binary_geometry(ctx);
  const DType t = ctx.outputs[0].dtype;
  return make_kernel([g, t](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float ratio = scale_at(in[1], 0) * scale_at(in[4], 0) / scale_at(in[6], 0);
    const int32_t za = zp_i(in, 2), zb = zp_i(in, 5);
    const float zc = zp_f(in, 7);
    const int32_t lo = qmin(t), hi = qmax(t);
    const void* a = in[0].data;
    const void* b = in[3].data;
    for_each_broadcast(g, [&](int64_t i, int64_t ia, int64_t ib) {
      const int32_t p = (load_q(a, t, ia) - za) * (load_q(b, t, ib) - zb);
      // The zero point joins in float32 before the rounding (a tie can move by it).
      store_q(o[0].data, t, i, saturate_round(static_cast<float>(p) * ratio + zc, 0, lo, hi));
    });
  });
}

// MLAS's logistic (Eigen's rational approximation on [-18, 18]), with the FMA3 kernel's fused
// multiply-adds.
float mlas_logistic(float x) {
  const float v = std::fmin(18.0f, std::fmax(-18.0f, x));
  const float v2 = v * v;
  float p = std::fma(v2, 4.37031012579801e-11f, 1.15627324459942e-07f);
  p = std::fma(p, v2, 6.08574864600143e-05f);
  p = std::fma(p, v2, 8.51377133304701e-03f);
  p = std::fma(p, v2, 2.48287947061529e-01f);
  p = p * v;
  float q = std::fma(v2, 6.10247389755681e-13f, 5.76102136993427e-09f);
  q = std::fma(q, v2, 6.29106785017040e-06f);
  q = std::fma(q, v2, 1.70198817374094e-03f);
  q = std::fma(q, v2, 1.16817656904453e-01f);
  q = std::fma(q, v2, 9.93151921023180e-01f);
  return p / q + 0.5f;
}

std::unique_ptr<Kernel> plan_lookup(const NodeContext& ctx) {
  const DType t = ctx.outputs[0].dtype;
  const bool sigmoid = ctx.node.op_type == "QLinearSigmoid";
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  return make_kernel([t, sigmoid, alpha](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float xs = scale_at(in[1], 0), ys = scale_at(in[3], 0);
    const int32_t xz = zp_i(in, 2), yz = zp_i(in, 4);
    const int32_t lo = qmin(t), hi = qmax(t);
    // table[k] for the integer lo + k.
    std::array<int32_t, 256> table{};
    for (int32_t k = 0; k < 256; ++k) {
      const float x = xs * static_cast<float>(lo + k - xz);
      const float y = sigmoid ? mlas_logistic(x) : (x >= 0 ? x : x * alpha);
      table[static_cast<size_t>(k)] = saturate_round(y / ys, yz, lo, hi);
    }
    const int64_t n = in[0].numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i)
      store_q(o[0].data, t, i, table[static_cast<size_t>(load_q(in[0].data, t, i) - lo)]);
  });
}

std::unique_ptr<Kernel> plan_global_average_pool(const NodeContext& ctx) {
  const DType t = ctx.outputs[0].dtype;
  const Shape& x = ctx.inputs[0].shape;
  const bool cl = ctx.node.attr_int("channels_last", 0) != 0;
  const int64_t n = x[0], c = cl ? x.back() : x[1];
  int64_t area = 1;
  for (size_t i = cl ? 1 : 2; i < (cl ? x.size() - 1 : x.size()); ++i) area *= x[i];
  return make_kernel([t, cl, n, c, area](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float scale = scale_at(in[1], 0) / (scale_at(in[3], 0) * static_cast<float>(area));
    const int32_t xz = zp_i(in, 2), yz = zp_i(in, 4);
    const int32_t lo = qmin(t), hi = qmax(t);
    const int32_t bias = -xz * static_cast<int32_t>(area);
#pragma omp parallel for schedule(static) if (n * c * area > 65536)
    for (int64_t nc = 0; nc < n * c; ++nc) {
      const int64_t b = nc / c, ch = nc % c;
      int32_t acc = bias;
      for (int64_t s = 0; s < area; ++s)
        acc += load_q(in[0].data, t, cl ? (b * area + s) * c + ch : nc * area + s);
      store_q(o[0].data, t, nc, saturate_round(static_cast<float>(acc) * scale, yz, lo, hi));
    }
  });
}

// Each input through the table x -> quantize(X_scale * (x - X_zp)) to the output's parameters, as
// onnxruntime does (it copies an input whose scale and zero point equal the output's: the table is
// then the identity).
std::unique_ptr<Kernel> plan_concat(const NodeContext& ctx) {
  const DType t = ctx.outputs[0].dtype;
  const Shape& y = ctx.outputs[0].shape;
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(y.size()), ctx.node.describe());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= y[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < y.size(); ++d) inner *= y[d];
  std::vector<int64_t> blocks;  // per input: its elements per outer index
  for (size_t i = 2; i < ctx.inputs.size(); i += 3) blocks.push_back(ctx.inputs[i].shape[static_cast<size_t>(axis)] * inner);
  return make_kernel([t, outer, blocks](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float ys = scale_at(in[0], 0);
    const int32_t yz = zp_i(in, 1), lo = qmin(t), hi = qmax(t);
    int64_t row = 0;
    for (int64_t b : blocks) row += b;
    int64_t at = 0;
    for (size_t k = 0; k < blocks.size(); ++k) {
      const TensorView& x = in[2 + 3 * k];
      const float xs = scale_at(in[3 + 3 * k], 0);
      const int32_t xz = zp_i(in, 4 + 3 * k);
      std::array<int32_t, 256> table{};
      for (int32_t v = 0; v < 256; ++v)
        table[static_cast<size_t>(v)] = saturate_round(xs * static_cast<float>(lo + v - xz) / ys, yz, lo, hi);
      const int64_t bk = blocks[k];
      for (int64_t r = 0; r < outer; ++r)
        for (int64_t j = 0; j < bk; ++j)
          store_q(o[0].data, t, r * row + at + j, table[static_cast<size_t>(load_q(x.data, t, r * bk + j) - lo)]);
      at += bk;
    }
  });
}

// onnxruntime's QLinearAveragePool: x dequantized to float32 (x_scale * (x - x_zp)), summed over the
// window clipped to the image (rows, then columns), divided by the window's element count (the full
// kernel with count_include_pad), quantized as round_half_even(sum / y_scale + y_zp), saturated.
std::unique_ptr<Kernel> plan_average_pool(const NodeContext& ctx) {
  const DType t = ctx.outputs[0].dtype;
  const bool cl = ctx.node.attr_int("channels_last", 0) != 0;
  const Shape& xs = ctx.inputs[0].shape;
  const Shape x = cl ? Shape{xs[0], xs[3], xs[1], xs[2]} : xs;
  const PoolGeometry pg = pool_geometry(ctx.node, x);
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const int64_t n = x[0], c = x[1], h = x[2], w = x[3], oh = pg.out[0], ow = pg.out[1];
  const int64_t kh = pg.g.kernel[0], kw = pg.g.kernel[1], sh = pg.g.strides[0], sw = pg.g.strides[1];
  const int64_t ph = pg.g.pad_begin[0], pw = pg.g.pad_begin[1];
  return make_kernel([=](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float xsc = scale_at(in[1], 0), ysc = scale_at(in[3], 0);
    const int32_t xz = zp_i(in, 2);
    const float yz = zp_f(in, 4);
    const int32_t lo = qmin(t), hi = qmax(t);
    // Index of (b, ch, y, x) in the input / output layout.
    auto xi = [&](int64_t b, int64_t ch, int64_t yy, int64_t xx) {
      return cl ? ((b * h + yy) * w + xx) * c + ch : ((b * c + ch) * h + yy) * w + xx;
    };
    auto yi = [&](int64_t b, int64_t ch, int64_t yy, int64_t xx) {
      return cl ? ((b * oh + yy) * ow + xx) * c + ch : ((b * c + ch) * oh + yy) * ow + xx;
    };
#pragma omp parallel for schedule(static) if (n * c * oh * ow * kh * kw > 65536)
    for (int64_t bc = 0; bc < n * c; ++bc) {
      const int64_t b = bc / c, ch = bc % c;
      for (int64_t py = 0; py < oh; ++py) {
        const int64_t y0 = std::max<int64_t>(py * sh - ph, 0), y1 = std::min(py * sh - ph + kh, h);
        for (int64_t px = 0; px < ow; ++px) {
          const int64_t x0 = std::max<int64_t>(px * sw - pw, 0), x1 = std::min(px * sw - pw + kw, w);
          float sum = 0.f;
          for (int64_t yy = y0; yy < y1; ++yy)
            for (int64_t xx = x0; xx < x1; ++xx)
              sum += xsc * static_cast<float>(load_q(in[0].data, t, xi(b, ch, yy, xx)) - xz);
          const int64_t count = include_pad ? kh * kw : (y1 - y0) * (x1 - x0);
          const float avg = sum / static_cast<float>(count);
          store_q(o[0].data, t, yi(b, ch, py, px), saturate_round(avg / ysc + yz, 0, lo, hi));
        }
      }
    }
  });
}

}  // namespace

}  // namespace netlens::cpu::quant

namespace netlens::cpu {

void register_quant_ms_ops(CpuOpTable& t) {
  const std::string ms = "com.microsoft";
  t[op_key(ms, "QLinearAdd")] = CpuOp{nullptr, quant::plan_add};
  t[op_key(ms, "QLinearMul")] = CpuOp{nullptr, quant::plan_mul};
  t[op_key(ms, "QLinearSigmoid")] = CpuOp{nullptr, quant::plan_lookup};
  t[op_key(ms, "QLinearLeakyRelu")] = CpuOp{nullptr, quant::plan_lookup};
  t[op_key(ms, "QLinearGlobalAveragePool")] = CpuOp{nullptr, quant::plan_global_average_pool};
  t[op_key(ms, "QLinearConcat")] = CpuOp{nullptr, quant::plan_concat};
  t[op_key(ms, "QLinearAveragePool")] = CpuOp{nullptr, quant::plan_average_pool};
}

}  // namespace netlens::cpu
