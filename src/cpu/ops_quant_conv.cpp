// CPU kernels of the integer convolutions: ConvInteger (int32 output) and QLinearConv (requantized
// to int8/uint8), 1-D and 2-D, groups (depthwise included), pads/strides/dilations/auto_pad, weight
// zero points and scales per tensor or per output channel. Exact int32 accumulation over an
// im2col of (x - x_zp); padding contributes 0 (the padded value is the zero point, as in onnxruntime).
//
// Fast path (conv_int32_gemm): ungrouped convolutions with one weight zero point run as oneDNN's
// u8 x s8 -> s32 GEMM (dnnl_gemm_u8s8s32, zero points applied inside) over an 8-bit im2col taken a
// slab of output pixels at a time. Only on CPUs with VNNI (avx512_core_vnni, AMX): there the
// products accumulate straight into int32; without VNNI oneDNN's int8 kernels pair products in
// saturating int16 (vpmaddubsw), which is not exact, so the portable loop below runs instead.
#include <algorithm>
#include <cstdlib>
#include <string>

#include <oneapi/dnnl/dnnl.h>

#include "ops_quant.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::quant {

namespace {

struct ConvGeo {
  int64_t n = 1, c = 1, h = 1, w = 1;  // input (1-D convolutions: h = 1)
  int64_t m = 1, oh = 1, ow = 1;       // output channels and spatial size
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
  int64_t group = 1;
};

std::optional<std::string> check_conv(const NodeContext& ctx) {
  const size_t r = ctx.inputs[0].shape.size();
  if (r != 3 && r != 4) return "only 1-D and 2-D integer convolutions are implemented (input rank " + std::to_string(r) + ")";
  return std::nullopt;
}

ConvGeo conv_geo(const NodeContext& ctx, size_t wi) {
  const Shape& x = ctx.inputs[0].shape;
  const Shape& wt = ctx.inputs[wi].shape;
  const Shape& y = ctx.outputs[0].shape;
  const SpatialGeometry sg = conv_geometry(ctx.node, x, conv_kernel_shape(ctx.node, wt));
  ConvGeo g;
  g.n = x[0];
  g.c = x[1];
  g.m = wt[0];
  g.group = ctx.node.attr_int("group", 1);
  const bool two = x.size() == 4;
  const size_t last = sg.kernel.size() - 1;
  if (two) {
    g.h = x[2];
    g.kh = sg.kernel[0];
    g.sh = sg.strides[0];
    g.dh = sg.dilations[0];
    g.ph = sg.pad_begin[0];
    g.oh = y[2];
  }
  g.w = x.back();
  g.kw = sg.kernel[last];
  g.sw = sg.strides[last];
  g.dw = sg.dilations[last];
  g.pw = sg.pad_begin[last];
  g.ow = y.back();
  return g;
}

// acc[n][m][p] = sum over (c, ky, kx) of (x - xzp) * (w[m] - wzp[m]), p over oh*ow.
void conv_int32(const ConvGeo& g, const TensorView& x, int32_t xzp, const TensorView& w, const std::vector<int32_t>& wzp,
                int32_t* acc) {
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  const int64_t kk = cg * g.kh * g.kw, p = g.oh * g.ow;
  std::vector<int32_t> wi(static_cast<size_t>(g.m * kk));
  for (int64_t m = 0; m < g.m; ++m)
    for (int64_t k = 0; k < kk; ++k)
      wi[static_cast<size_t>(m * kk + k)] = load_q(w.data, w.dtype, m * kk + k) - wzp[static_cast<size_t>(m)];
  for (int64_t n = 0; n < g.n; ++n) {
    // Groups in parallel when there are several (depthwise), else output channels in parallel.
#pragma omp parallel for schedule(dynamic) if (g.group > 1)
    for (int64_t gi = 0; gi < g.group; ++gi) {
      std::vector<int32_t> col(static_cast<size_t>(kk * p));
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            int32_t* dst = col.data() + ((ci * g.kh + ky) * g.kw + kx) * p;
            const int64_t base = (n * g.c + gi * cg + ci) * g.h * g.w;
            for (int64_t oy = 0; oy < g.oh; ++oy) {
              const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
              for (int64_t ox = 0; ox < g.ow; ++ox) {
                const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
                dst[oy * g.ow + ox] = (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
                                          ? 0 : load_q(x.data, x.dtype, base + iy * g.w + ix) - xzp;
              }
            }
          }
      // Four output channels per pass over the im2col rows: each row is read once for four.
      const int64_t blocks = (mg + 3) / 4;
#pragma omp parallel for schedule(static) if (g.group == 1 && mg * kk * p > 65536)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t m0 = gi * mg + b * 4, nb = std::min<int64_t>(4, mg - b * 4);
        int32_t* out[4];
        const int32_t* wr[4];
        for (int64_t j = 0; j < 4; ++j) {
          const int64_t m = m0 + std::min(j, nb - 1);  // a short block repeats its last channel
          out[j] = acc + (n * g.m + m) * p;
          wr[j] = wi.data() + m * kk;
        }
        for (int64_t j = 0; j < nb; ++j) std::fill(out[j], out[j] + p, 0);
        if (nb < 4) {  // the repeated channels would add twice: accumulate one at a time
          for (int64_t j = 0; j < nb; ++j)
            for (int64_t k = 0; k < kk; ++k) {
              const int32_t wv = wr[j][k];
              const int32_t* cr = col.data() + k * p;
              for (int64_t q = 0; q < p; ++q) out[j][q] += wv * cr[q];
            }
          continue;
        }
        for (int64_t k = 0; k < kk; ++k) {
          const int32_t w0 = wr[0][k], w1 = wr[1][k], w2 = wr[2][k], w3 = wr[3][k];
          const int32_t* cr = col.data() + k * p;
          int32_t *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
          for (int64_t q = 0; q < p; ++q) {
            const int32_t c = cr[q];
            o0[q] += w0 * c;
            o1[q] += w1 * c;
            o2[q] += w2 * c;
            o3[q] += w3 * c;
          }
        }
      }
    }
  }
}

bool gemm_exact_on_this_cpu() {
  static const bool ok = [] {
    const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    const unsigned vnni = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_vnni);
    return (isa & vnni) == vnni && std::getenv("NETLENS_QUANT_GEMM_OFF") == nullptr;
  }();
  // NETLENS_QUANT_GEMM_OFF=1 (set at all) forces the portable loop: for comparing the two paths.
  return ok;
}

// The same sums as conv_int32 through dnnl_gemm_u8s8s32: C[m][p] = sum_k (A[m][k] - ao)(B[k][p] - bo)
// with A the weights as uint8 (int8 weights shifted by +128, and their zero point with them) and B
// the im2col as int8 (uint8 activations shifted by -128); a padded element is bo, contributing 0.
// Returns false (nothing written) where the fast path does not apply.
bool conv_int32_gemm(const ConvGeo& g, const TensorView& x, int32_t xzp, const TensorView& w,
                     const std::vector<int32_t>& wzp, int32_t* acc) {
  if (g.group != 1 || !gemm_exact_on_this_cpu()) return false;
  if (std::any_of(wzp.begin(), wzp.end(), [&](int32_t z) { return z != wzp[0]; })) return false;
  const int64_t kk = g.c * g.kh * g.kw, p = g.oh * g.ow;
  const uint8_t wflip = w.dtype == DType::Int8 ? 0x80 : 0, xflip = x.dtype == DType::UInt8 ? 0x80 : 0;
  std::vector<uint8_t> a(static_cast<size_t>(g.m * kk));
  const auto* wb = static_cast<const uint8_t*>(w.data);
  for (size_t i = 0; i < a.size(); ++i) a[i] = wb[i] ^ wflip;
  const auto ao = static_cast<uint8_t>(wzp[0] + (wflip ? 128 : 0));
  const auto bo = static_cast<int8_t>(xzp - (xflip ? 128 : 0));
  const auto* xb = static_cast<const uint8_t*>(x.data);
  // Output rows per slab: about 4 MiB of im2col, whole rows so a slab is contiguous in C.
  const int64_t rows = std::clamp<int64_t>((int64_t{4} << 20) / std::max<int64_t>(1, kk * g.ow), 1, g.oh);
  std::vector<int8_t> col(static_cast<size_t>(kk * rows * g.ow));
  const int32_t zero = 0;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t y0 = 0; y0 < g.oh; y0 += rows) {
      const int64_t ny = std::min(rows, g.oh - y0), pc = ny * g.ow;
#pragma omp parallel for schedule(static) if (kk * pc > 65536)
      for (int64_t k = 0; k < kk; ++k) {
        const int64_t ci = k / (g.kh * g.kw), ky = (k / g.kw) % g.kh, kx = k % g.kw;
        int8_t* dst = col.data() + k * pc;
        const uint8_t* plane = xb + (n * g.c + ci) * g.h * g.w;
        for (int64_t oy = 0; oy < ny; ++oy) {
          const int64_t iy = (y0 + oy) * g.sh - g.ph + ky * g.dh;
          int8_t* d = dst + oy * g.ow;
          if (iy < 0 || iy >= g.h) {
            std::fill(d, d + g.ow, bo);
            continue;
          }
          // Output columns [lo, hi) read inside the row (ix = ox * sw + off); the rest are padding.
          const int64_t off = kx * g.dw - g.pw;
          const int64_t lo = off < 0 ? std::min(g.ow, (-off + g.sw - 1) / g.sw) : 0;
          const int64_t hi = g.w - 1 - off < 0 ? lo : std::clamp<int64_t>((g.w - 1 - off) / g.sw + 1, lo, g.ow);
          std::fill(d, d + lo, bo);
          std::fill(d + hi, d + g.ow, bo);
          const uint8_t* src = plane + iy * g.w + off;
          if (g.sw == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) d[ox] = static_cast<int8_t>(src[ox] ^ xflip);
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) d[ox] = static_cast<int8_t>(src[ox * g.sw] ^ xflip);
          }
        }
      }
      const dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'N', 'F', g.m, pc, kk, 1.0f, a.data(), kk, ao, col.data(), pc, bo,
                                                 0.0f, acc + n * g.m * p + y0 * g.ow, p, &zero);
      if (st != dnnl_success) throw Error(ErrorKind::Internal, "integer convolution: oneDNN's int8 GEMM failed (status " + std::to_string(st) + ")");
    }
  return true;
}

std::unique_ptr<Kernel> plan_conv_integer(const NodeContext& ctx) {
  const ConvGeo g = conv_geo(ctx, 1);
  return make_kernel([g](std::span<const TensorView> in, std::span<const TensorView> o) {
    const TensorView none{};
    const int32_t xzp = zp_at(in.size() > 2 ? in[2] : none, 0);
    const std::vector<int32_t> wzp = zero_points(in.size() > 3 ? in[3] : none, g.m);
    if (!conv_int32_gemm(g, in[0], xzp, in[1], wzp, static_cast<int32_t*>(o[0].data)))
      conv_int32(g, in[0], xzp, in[1], wzp, static_cast<int32_t*>(o[0].data));
  });
}

std::unique_ptr<Kernel> plan_qlinear_conv(const NodeContext& ctx) {
  const ConvGeo g = conv_geo(ctx, 3);
  const DType out = ctx.outputs[0].dtype;
  return make_kernel([g, out](std::span<const TensorView> in, std::span<const TensorView> o) {
    const int32_t xzp = zp_at(in[2], 0);
    const std::vector<int32_t> wzp = zero_points(in[5], g.m);
    const int64_t p = g.oh * g.ow;
    std::vector<int32_t> acc(static_cast<size_t>(g.n * g.m * p));
    if (!conv_int32_gemm(g, in[0], xzp, in[3], wzp, acc.data())) conv_int32(g, in[0], xzp, in[3], wzp, acc.data());
    const bool bias = in.size() > 8 && in[8].data;
    const bool per_ch = in[4].numel() > 1;
    const int32_t yzp = zp_at(in[7], 0);
    const int64_t rows = g.n * g.m;
#pragma omp parallel for schedule(static) if (rows * p > 65536)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t m = r % g.m;
      int32_t* a = acc.data() + r * p;
      if (bias) {
        const int32_t b = static_cast<const int32_t*>(in[8].data)[m];
        for (int64_t q = 0; q < p; ++q) a[q] += b;
      }
      // (x_scale * w_scale) / y_scale in float32, left to right, as onnxruntime computes it.
      const float mult = scale_at(in[1], 0) * scale_at(in[4], per_ch ? m : 0) / scale_at(in[6], 0);
      requantize(a, p, mult, yzp, out, o[0].data, r * p);
    }
  });
}

}  // namespace

void register_quant_conv_ops(CpuOpTable& t) {
  t["ConvInteger"] = CpuOp{check_conv, plan_conv_integer, false};
  t["QLinearConv"] = CpuOp{check_conv, plan_qlinear_conv, false};
}

}  // namespace netlens::cpu::quant
