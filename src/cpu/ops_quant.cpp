// CPU kernels of the quantized ONNX ops without a convolution: QuantizeLinear, DequantizeLinear
// (per tensor and per axis), DynamicQuantizeLinear, MatMulInteger, QLinearMatMul. Arithmetic as in
// onnxruntime (see ops_quant.hpp), so integer outputs match it exactly.
#include "ops_quant.hpp"

#include <algorithm>
#include <limits>

#include "netlens/runtime/shape_util.hpp"

namespace netlens::cpu::quant {

int32_t zp_at(const TensorView& v, int64_t i) {
  if (!v.data) return 0;
  switch (v.dtype) {
    case DType::Int8: return static_cast<const int8_t*>(v.data)[i];
    case DType::UInt8: return static_cast<const uint8_t*>(v.data)[i];
    case DType::Int32: return static_cast<const int32_t*>(v.data)[i];
    default: return 0;
  }
}

std::vector<int32_t> zero_points(const TensorView& v, int64_t n) {
  std::vector<int32_t> z(static_cast<size_t>(n), 0);
  if (!v.data) return z;
  const int64_t have = v.numel();
  for (int64_t i = 0; i < n; ++i) z[static_cast<size_t>(i)] = zp_at(v, have == 1 ? 0 : i);
  return z;
}

void requantize(const int32_t* acc, int64_t count, float mult, int32_t zp, DType out, void* dst, int64_t at) {
  const int32_t lo = qmin(out), hi = qmax(out);
  for (int64_t i = 0; i < count; ++i)
    store_q(dst, out, at + i, saturate_round(static_cast<float>(acc[i]) * mult, zp, lo, hi));
}

namespace {

const TensorInfo* opt_info(const NodeContext& ctx, size_t i) {
  return i < ctx.inputs.size() && ctx.inputs[i].dtype != DType::Undefined ? &ctx.inputs[i] : nullptr;
}

// ---- QuantizeLinear / DequantizeLinear -----------------------------------------------------------
std::unique_ptr<Kernel> plan_quantize(const NodeContext& ctx) {
  const QuantAxis q = quant_axis(ctx.node, ctx.opset, ctx.inputs[0].shape, ctx.inputs[1], opt_info(ctx, 2));
  const DType out = ctx.outputs[0].dtype;
  return make_kernel([q, out](std::span<const TensorView> in, std::span<const TensorView> o) {
    const TensorView& x = in[0];
    const int64_t n = x.numel();
    const std::vector<int32_t> zp = zero_points(in.size() > 2 ? in[2] : TensorView{}, q.channels);
    const int32_t lo = qmin(out), hi = qmax(out);
    const bool from_int = x.dtype == DType::Int32;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = q.per_axis ? (i / q.inner) % q.channels : 0;
      const float v = from_int ? static_cast<float>(static_cast<const int32_t*>(x.data)[i])
                               : static_cast<const float*>(x.data)[i];
      store_q(o[0].data, out, i, saturate_round(v / scale_at(in[1], c), zp[static_cast<size_t>(c)], lo, hi));
    }
  });
}

std::unique_ptr<Kernel> plan_dequantize(const NodeContext& ctx) {
  const QuantAxis q = quant_axis(ctx.node, ctx.opset, ctx.inputs[0].shape, ctx.inputs[1], opt_info(ctx, 2));
  return make_kernel([q](std::span<const TensorView> in, std::span<const TensorView> o) {
    const TensorView& x = in[0];
    const int64_t n = x.numel();
    const std::vector<int32_t> zp = zero_points(in.size() > 2 ? in[2] : TensorView{}, q.channels);
    float* y = static_cast<float*>(o[0].data);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = q.per_axis ? (i / q.inner) % q.channels : 0;
      y[i] = static_cast<float>(zp_at(x, i) - zp[static_cast<size_t>(c)]) * scale_at(in[1], c);
    }
  });
}

// ---- DynamicQuantizeLinear: uint8, scale and zero point from the tensor's range (including 0) ----
std::unique_ptr<Kernel> plan_dynamic_quantize(const NodeContext&) {
  return make_kernel([](std::span<const TensorView> in, std::span<const TensorView> o) {
    const float* x = static_cast<const float*>(in[0].data);
    const int64_t n = in[0].numel();
    float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    const float zp_f = std::nearbyint(std::fmax(0.0f, std::fmin(255.0f, 0.0f - lo / scale)));
    const int32_t zp = static_cast<int32_t>(zp_f);
    uint8_t* y = static_cast<uint8_t*>(o[0].data);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<uint8_t>(saturate_round(x[i] / scale, zp, 0, 255));
    *static_cast<float*>(o[1].data) = scale;
    *static_cast<uint8_t*>(o[2].data) = static_cast<uint8_t>(zp);
  });
}

// ---- MatMulInteger / QLinearMatMul ---------------------------------------------------------------
// Batched numpy matmul geometry: A [..., M, K] x B [..., K, N] (rank-1 operands promoted), batch
// dims broadcast; element offsets of each output batch in A and B.
struct MatMulGeometry {
  int64_t m = 1, k = 1, n = 1;
  std::vector<int64_t> a_off, b_off;  // per output batch
};

MatMulGeometry matmul_geometry(const Shape& a_in, const Shape& b_in) {
  Shape a = a_in, b = b_in;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  MatMulGeometry g;
  g.m = a[a.size() - 2];
  g.k = a.back();
  g.n = b.back();
  const Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  const Shape ob = broadcast_shapes(ba, bb, "MatMul");
  const std::vector<int64_t> sa = broadcast_strides(ba, ob), sb = broadcast_strides(bb, ob);
  const int64_t batches = numel(ob);
  for (int64_t bi = 0; bi < batches; ++bi) {
    int64_t rem = bi, oa = 0, obo = 0;
    for (int64_t d = static_cast<int64_t>(ob.size()) - 1; d >= 0; --d) {
      const int64_t idx = rem % ob[static_cast<size_t>(d)];
      rem /= ob[static_cast<size_t>(d)];
      oa += idx * sa[static_cast<size_t>(d)];
      obo += idx * sb[static_cast<size_t>(d)];
    }
    g.a_off.push_back(oa * g.m * g.k);
    g.b_off.push_back(obo * g.k * g.n);
  }
  return g;
}

// acc[b][m][n] = sum_k (A - a_zp[m]) (B - b_zp[n]), exact in int32. a_zp has m values, b_zp n.
void matmul_int32(const MatMulGeometry& g, const TensorView& a, const std::vector<int32_t>& azp, const TensorView& b,
                  const std::vector<int32_t>& bzp, int32_t* acc) {
  const int64_t batches = static_cast<int64_t>(g.a_off.size());
  std::vector<int32_t> bi(static_cast<size_t>(g.k * g.n));
  for (int64_t bt = 0; bt < batches; ++bt) {
    for (int64_t kk = 0; kk < g.k; ++kk)
      for (int64_t j = 0; j < g.n; ++j)
        bi[static_cast<size_t>(kk * g.n + j)] = load_q(b.data, b.dtype, g.b_off[static_cast<size_t>(bt)] + kk * g.n + j) -
                                                bzp[static_cast<size_t>(j)];
    int32_t* out = acc + bt * g.m * g.n;
#pragma omp parallel for schedule(static) if (g.m * g.n * g.k > 65536)
    for (int64_t i = 0; i < g.m; ++i) {
      int32_t* row = out + i * g.n;
      std::fill(row, row + g.n, 0);
      for (int64_t kk = 0; kk < g.k; ++kk) {
        const int32_t av = load_q(a.data, a.dtype, g.a_off[static_cast<size_t>(bt)] + i * g.k + kk) - azp[static_cast<size_t>(i)];
        if (av == 0) continue;
        const int32_t* brow = bi.data() + kk * g.n;
        for (int64_t j = 0; j < g.n; ++j) row[j] += av * brow[j];
      }
    }
  }
}

std::unique_ptr<Kernel> plan_matmul_integer(const NodeContext& ctx) {
  const MatMulGeometry g = matmul_geometry(ctx.inputs[0].shape, ctx.inputs[1].shape);
  return make_kernel([g](std::span<const TensorView> in, std::span<const TensorView> o) {
    const TensorView none{};
    const std::vector<int32_t> azp = zero_points(in.size() > 2 ? in[2] : none, g.m);
    const std::vector<int32_t> bzp = zero_points(in.size() > 3 ? in[3] : none, g.n);
    matmul_int32(g, in[0], azp, in[1], bzp, static_cast<int32_t*>(o[0].data));
  });
}

std::unique_ptr<Kernel> plan_qlinear_matmul(const NodeContext& ctx) {
  const MatMulGeometry g = matmul_geometry(ctx.inputs[0].shape, ctx.inputs[3].shape);
  const DType out = ctx.outputs[0].dtype;
  return make_kernel([g, out](std::span<const TensorView> in, std::span<const TensorView> o) {
    const std::vector<int32_t> azp = zero_points(in[2], g.m);
    const std::vector<int32_t> bzp = zero_points(in[5], g.n);
    std::vector<int32_t> acc(static_cast<size_t>(static_cast<int64_t>(g.a_off.size()) * g.m * g.n));
    matmul_int32(g, in[0], azp, in[3], bzp, acc.data());
    const bool per_col = in[4].numel() > 1;
    std::vector<float> mult(static_cast<size_t>(g.n));
    for (int64_t j = 0; j < g.n; ++j)
      mult[static_cast<size_t>(j)] = scale_at(in[1], 0) * scale_at(in[4], per_col ? j : 0) / scale_at(in[6], 0);
    const int32_t yzp = zp_at(in[7], 0), lo = qmin(out), hi = qmax(out);
    const int64_t total = static_cast<int64_t>(acc.size());
#pragma omp parallel for schedule(static) if (total > 65536)
    for (int64_t i = 0; i < total; ++i)
      store_q(o[0].data, out, i, saturate_round(static_cast<float>(acc[static_cast<size_t>(i)]) * mult[static_cast<size_t>(i % g.n)], yzp, lo, hi));
  });
}

}  // namespace

}  // namespace netlens::cpu::quant

namespace netlens::cpu {

void register_quant_ops(CpuOpTable& t) {
  t["QuantizeLinear"] = CpuOp{nullptr, quant::plan_quantize, false};
  t["DequantizeLinear"] = CpuOp{nullptr, quant::plan_dequantize, false};
  t["DynamicQuantizeLinear"] = CpuOp{nullptr, quant::plan_dynamic_quantize, false};
  t["MatMulInteger"] = CpuOp{nullptr, quant::plan_matmul_integer, false};
  t["QLinearMatMul"] = CpuOp{nullptr, quant::plan_qlinear_matmul, false};
  quant::register_quant_conv_ops(t);
}

}  // namespace netlens::cpu
