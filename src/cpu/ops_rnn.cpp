// CPU kernels of LSTM, GRU and RNN (ONNX semantics as onnxruntime implements them).
//
// Per direction: one oneDNN sgemm projects every time step's input at once (X·Wᵀ + biases), then
// the step loop does one small sgemm for the recurrence (H·Rᵀ) and the gates elementwise.
// sequence_lens: batch entry b runs its first len[b] steps (the reverse direction runs them from
// len[b]-1 down to 0, as onnxruntime does); Y past a sequence's length is 0 and Y_h/Y_c are the
// state after its last valid step (0 for a sequence of length 0). The auxiliary outputs
// (shapes_rnn.hpp: LSTM ":cell" and ":gates", GRU ":gates") keep every step's cell state and gate
// activations in Y's layout.
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/runtime/shapes_rnn.hpp"
#include "sgemm_warmup.hpp"

namespace netlens::cpu {

namespace {

using rnn::Cell;

// C[m x n] = A[m x k] · B[n x k]ᵀ (+ C when accumulate), row-major with leading dimensions.
void gemm_nt(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
             int64_t ldc, bool accumulate, const Node& node) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  if (dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc) != dnnl_success)
    throw Error(ErrorKind::Internal, node.describe() + ": oneDNN sgemm failed");
}

inline float clipped(float x, float clip) { return clip > 0.0f ? std::clamp(x, -clip, clip) : x; }

std::unique_ptr<Kernel> plan_recurrent(const NodeContext& ctx) {
  start_sgemm_warmup();  // the cells' products are dnnl_sgemm calls
  std::vector<const TensorInfo*> infos;
  for (const TensorInfo& t : ctx.inputs) infos.push_back(t.dtype == DType::Undefined ? nullptr : &t);
  const rnn::Spec s = rnn::decode(ctx.node, ctx.opset, infos);
  // Auxiliary outputs follow the node's own, in rnn::aux_outputs order.
  const size_t nout = ctx.node.outputs.size();
  const size_t naux = ctx.outputs.size() > nout ? ctx.outputs.size() - nout : 0;
  int64_t cell_out = -1, gates_out = -1;
  if (s.cell == Cell::Lstm) {
    if (naux >= 1) cell_out = static_cast<int64_t>(nout);
    if (naux >= 2) gates_out = static_cast<int64_t>(nout) + 1;
  } else if (s.cell == Cell::Gru && naux >= 1) {
    gates_out = static_cast<int64_t>(nout);
  }
  const Node node = ctx.node;

  return make_kernel([s, cell_out, gates_out, node](std::span<const TensorView> in, std::span<const TensorView> out) {
    auto in_f = [&](size_t i) { return i < in.size() ? static_cast<const float*>(in[i].data) : nullptr; };
    auto out_f = [&](int64_t i) {
      return i >= 0 && static_cast<size_t>(i) < out.size() ? static_cast<float*>(out[static_cast<size_t>(i)].data) : nullptr;
    };
    const float *X = in_f(0), *W = in_f(1), *R = in_f(2), *B = s.has_bias ? in_f(3) : nullptr;
    const int32_t* lens = s.has_lens && in.size() > 4 ? static_cast<const int32_t*>(in[4].data) : nullptr;
    const float* h0 = s.has_h0 ? in_f(5) : nullptr;
    const float* c0 = s.has_c0 ? in_f(6) : nullptr;
    const float* P = s.has_peep ? in_f(7) : nullptr;
    const int64_t T = s.seq, N = s.batch, I = s.input, H = s.hidden, G = s.gates, GH = G * H, D = s.dirs;
    if (lens) rnn::check_lengths(node, lens, N, T);
    float *Y = out_f(0), *Yh = out_f(1), *Yc = s.cell == Cell::Lstm ? out_f(2) : nullptr;
    float *Ycell = out_f(cell_out), *Ygates = out_f(gates_out);
    if (Y) std::fill(Y, Y + T * D * N * H, 0.0f);
    if (Ycell) std::fill(Ycell, Ycell + T * D * N * H, 0.0f);
    if (Ygates) std::fill(Ygates, Ygates + T * D * N * GH, 0.0f);

    auto proj_row = [&](int64_t t, int64_t b) { return s.layout1 ? b * T + t : t * N + b; };
    auto y_off = [&](int64_t t, int64_t d, int64_t b) { return s.layout1 ? (b * T + t) * D + d : (t * D + d) * N + b; };
    auto state_off = [&](int64_t d, int64_t b) { return (s.layout1 ? b * D + d : d * N + b) * H; };
    auto len_of = [&](int64_t b) { return lens ? static_cast<int64_t>(lens[b]) : T; };

    std::vector<float> proj(static_cast<size_t>(T * N * GH)), rec(static_cast<size_t>(N * GH)), gate(static_cast<size_t>(N * GH));
    std::vector<float> h(static_cast<size_t>(N * H)), c(static_cast<size_t>(N * H)), rh(static_cast<size_t>(N * H));
    std::vector<float> bias(static_cast<size_t>(GH)), rbh(static_cast<size_t>(H));
    for (int64_t d = 0; d < D; ++d) {
      const bool rev = s.reverse_only || d == 1;
      const float *Wd = W + d * GH * I, *Rd = R + d * GH * H;
      const rnn::Activation* A = s.acts.data() + d * s.acts_per_dir;
      const rnn::Activation &f = A[0], &g = s.acts_per_dir > 1 ? A[1] : A[0], &hact = s.acts_per_dir > 2 ? A[2] : A[0];
      // Input projection of every step at once; Wb and Rb folded in, except GRU's Rbh with
      // linear_before_reset = 1 (it is multiplied by the reset gate).
      gemm_nt(T * N, GH, I, X, I, Wd, I, proj.data(), GH, false, node);
      std::fill(bias.begin(), bias.end(), 0.0f);
      std::fill(rbh.begin(), rbh.end(), 0.0f);
      if (B) {
        const float *wb = B + d * 2 * GH, *rb = wb + GH;
        for (int64_t k = 0; k < GH; ++k) bias[k] = wb[k] + rb[k];
        if (s.cell == Cell::Gru && s.linear_before_reset)
          for (int64_t k = 0; k < H; ++k) bias[2 * H + k] = wb[2 * H + k], rbh[k] = rb[2 * H + k];
      }
      for (int64_t r = 0; r < T * N; ++r)
        for (int64_t k = 0; k < GH; ++k) proj[r * GH + k] += bias[k];
      for (int64_t b = 0; b < N; ++b)
        for (int64_t k = 0; k < H; ++k) {
          h[b * H + k] = h0 ? h0[state_off(d, b) + k] : 0.0f;
          c[b * H + k] = c0 ? c0[state_off(d, b) + k] : 0.0f;
        }
      const float* Pd = P ? P + d * 3 * H : nullptr;  // peepholes i, o, f

      for (int64_t step = 0; step < T; ++step) {
        auto t_of = [&](int64_t b) { return rev ? len_of(b) - 1 - step : step; };
        // Recurrence for all batch entries (finished ones are computed and ignored).
        gemm_nt(N, s.cell == Cell::Gru && !s.linear_before_reset ? 2 * H : GH, H, h.data(), H, Rd, H, rec.data(), GH,
                false, node);
        if (s.cell == Cell::Gru) {
          // z, r first: the candidate needs r (times H before Rh, or times H·Rhᵀ + Rbh).
          for (int64_t b = 0; b < N; ++b) {
            if (step >= len_of(b)) continue;
            const float* x = proj.data() + proj_row(t_of(b), b) * GH;
            float *rr = rec.data() + b * GH, *gg = gate.data() + b * GH;
            for (int64_t k = 0; k < 2 * H; ++k) gg[k] = f(clipped(x[k] + rr[k], s.clip));
            for (int64_t k = 0; k < H; ++k) rh[b * H + k] = gg[H + k] * h[b * H + k];
          }
          if (!s.linear_before_reset) gemm_nt(N, H, H, rh.data(), H, Rd + 2 * H * H, H, rec.data() + 2 * H, GH, false, node);
        }
        for (int64_t b = 0; b < N; ++b) {
          if (step >= len_of(b)) continue;
          const int64_t t = t_of(b);
          const float* x = proj.data() + proj_row(t, b) * GH;
          const float* rr = rec.data() + b * GH;
          float *hb = h.data() + b * H, *cb = c.data() + b * H, *gg = gate.data() + b * GH;
          if (s.cell == Cell::Rnn) {
            for (int64_t k = 0; k < H; ++k) hb[k] = f(clipped(x[k] + rr[k], s.clip));
          } else if (s.cell == Cell::Gru) {
            for (int64_t k = 0; k < H; ++k) {
              const float z = gg[k], r = gg[H + k];
              const float pre = s.linear_before_reset ? x[2 * H + k] + r * (rr[2 * H + k] + rbh[k]) : x[2 * H + k] + rr[2 * H + k];
              const float cand = g(clipped(pre, s.clip));
              gg[2 * H + k] = cand;
              hb[k] = (1.0f - z) * cand + z * hb[k];
            }
          } else {
            for (int64_t k = 0; k < H; ++k) {
              const float cp = cb[k];
              float pi = x[k] + rr[k], po = x[H + k] + rr[H + k], pf = x[2 * H + k] + rr[2 * H + k];
              const float pc = x[3 * H + k] + rr[3 * H + k];
              if (Pd) pi += Pd[k] * cp, pf += Pd[2 * H + k] * cp;
              const float ig = f(clipped(pi, s.clip));
              const float fg = s.input_forget ? 1.0f - ig : f(clipped(pf, s.clip));
              const float cand = g(clipped(pc, s.clip));
              const float cn = fg * cp + ig * cand;
              if (Pd) po += Pd[H + k] * cn;
              const float og = f(clipped(po, s.clip));
              cb[k] = cn;
              hb[k] = og * hact(cn);
              gg[k] = ig, gg[H + k] = og, gg[2 * H + k] = fg, gg[3 * H + k] = cand;
            }
          }
          const int64_t yo = y_off(t, d, b);
          if (Y) std::memcpy(Y + yo * H, hb, static_cast<size_t>(H) * sizeof(float));
          if (Ycell) std::memcpy(Ycell + yo * H, cb, static_cast<size_t>(H) * sizeof(float));
          if (Ygates) std::memcpy(Ygates + yo * GH, gg, static_cast<size_t>(GH) * sizeof(float));
        }
      }
      // A sequence of length 0 has no last step: its Y_h/Y_c are 0 (onnxruntime's choice), not the
      // initial state.
      for (int64_t b = 0; b < N; ++b) {
        const bool empty = len_of(b) == 0;
        if (Yh) {
          if (empty) std::fill(Yh + state_off(d, b), Yh + state_off(d, b) + H, 0.0f);
          else std::memcpy(Yh + state_off(d, b), h.data() + b * H, static_cast<size_t>(H) * sizeof(float));
        }
        if (Yc) {
          if (empty) std::fill(Yc + state_off(d, b), Yc + state_off(d, b) + H, 0.0f);
          else std::memcpy(Yc + state_off(d, b), c.data() + b * H, static_cast<size_t>(H) * sizeof(float));
        }
      }
    }
  });
}

}  // namespace

void register_rnn_ops(CpuOpTable& t) {
  for (const char* op : {"LSTM", "GRU", "RNN"}) t[op] = CpuOp{nullptr, plan_recurrent, false};
}

}  // namespace netlens::cpu
