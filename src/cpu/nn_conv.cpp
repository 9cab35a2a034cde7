// Conv and ConvTranspose through oneDNN. Everything is decided at plan time: the primitive, the
// activation layout (plain NCHW, or a blocked layout with reorders in and out), and, when W is a
// constant, the weights reordered once into the primitive's preferred format.
// Longer than ~600 lines: the direct kernels (pointwise, patch ConvTranspose, the blocked-output
// unblocking) share the plan-time choice with the oneDNN path here; they are the part to move to a
// file of their own (the depthwise kernel is in nn_depthwise.cpp).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "netlens/cpu/fused_chain.hpp"
#include "nn_common.hpp"
#include "nn_conv_gemm.hpp"
#include "sgemm_warmup.hpp"
#include "nn_v16.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_nn.hpp"

namespace netlens::cpu::nn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// A blocked conv output (16 channels per position, positions `ps` floats apart: nChw16c or
// NHWC) to plain rows: tile[c * ldt + q] = src[q * ps + c] for 16 channels and `len` positions.
// 16x16 blocks are transposed in registers (four rounds of two-input shuffles).
#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void unblock16(const float* src, int64_t ps, int64_t len, float* tile, int64_t ldt) {
  int64_t q0 = 0;
  for (; q0 + 16 <= len; q0 += 16) {
    V16 r[16];
    for (int j = 0; j < 16; ++j) r[j] = NETLENS_CV16(src + (q0 + j) * ps);
    transpose16(r);
    for (int c = 0; c < 16; ++c) NETLENS_V16(tile + c * ldt + q0) = r[c];
  }
  for (; q0 < len; ++q0)
    for (int64_t c = 0; c < 16; ++c) tile[c * ldt + q0] = src[q0 * ps + c];
}

// A oneDNN forward primitive taking src/weights/(bias)/dst, wrapped so that callers see plain
// row-major float32 tensors. Reorders happen only where the primitive chose another layout.
class WrappedPrimitive : public Kernel {
 public:
  WrappedPrimitive(dnnl::primitive prim, memory::desc user_src, memory::desc prim_src, memory::desc user_w,
                   memory::desc prim_w, memory::desc bias, memory::desc user_dst, memory::desc prim_dst,
                   const Tensor* const_w, std::shared_ptr<Chain> chain = nullptr)
      : prim_(std::move(prim)), chain_(std::move(chain)),
        user_src_(user_src), prim_src_(prim_src), user_w_(user_w), prim_w_(prim_w), bias_(bias),
        user_dst_(user_dst), prim_dst_(prim_dst) {
    auto& eng = dnnl_engine();
    if (prim_src_ != user_src_) src_in_ = dnnl::reorder(memory(user_src_, eng, DNNL_MEMORY_NONE), memory(prim_src_, eng, DNNL_MEMORY_NONE));
    if (prim_dst_ != user_dst_) dst_out_ = dnnl::reorder(memory(prim_dst_, eng, DNNL_MEMORY_NONE), memory(user_dst_, eng, DNNL_MEMORY_NONE));
    if (chain_ && prim_dst_ != user_dst_ && user_dst_.dims().size() == 4) {
      dims_ = user_dst_.dims();
      if (prim_dst_ == memory::desc(dims_, memory::data_type::f32, memory::format_tag::nChw16c)) {
        unblock_ = Unblock::C16;
      } else if (prim_dst_ == memory::desc(dims_, memory::data_type::f32, memory::format_tag::nhwc)) {
        unblock_ = Unblock::Nhwc;
      }
    }
    sp_ = scratchpad_desc(prim_);
    start_sgemm_warmup_for(prim_.get_primitive_desc());
    if (prim_w_ != user_w_ && !const_w)
      w_in_ = dnnl::reorder(memory(user_w_, eng, DNNL_MEMORY_NONE), memory(prim_w_, eng, DNNL_MEMORY_NONE));
    if (const_w) {
      // Pack constant weights once; the packed copy is owned by this kernel. The reorder is a
      // temporary: kept, its own scratchpad stayed allocated (a Winograd weight transform's is
      // several times the weights; 480 MB over ISNet's convs).
      packed_w_ = memory(prim_w_, eng);
      memory user(user_w_, eng, const_cast<void*>(const_w->data()));
      if (prim_w_ != user_w_) {
        dnnl::reorder(user, packed_w_).execute(dnnl_stream(), user, packed_w_);
      } else {
        std::memcpy(packed_w_.get_data_handle(), const_w->data(), user_w_.get_size());
      }
      dnnl_stream().wait();
      has_packed_w_ = true;
    }
  }

  // inputs: [src, weights, bias?]; outputs: [dst]
  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    auto& eng = dnnl_engine();
    auto& s = dnnl_stream();
    memory usrc(user_src_, eng, in[0].data);
    memory psrc = usrc;
    if (prim_src_ != user_src_) {
      psrc = memory(prim_src_, eng, scratch(0, prim_src_.get_size()));
      src_in_.execute(s, usrc, psrc);
    }
    memory pw;
    if (has_packed_w_) {
      pw = packed_w_;
    } else {
      memory uw(user_w_, eng, in[1].data);
      pw = uw;
      if (prim_w_ != user_w_) {
        pw = memory(prim_w_, eng, scratch(2, prim_w_.get_size()));
        w_in_.execute(s, uw, pw);
      }
    }
    memory udst(user_dst_, eng, out[0].data);
    memory pdst = udst;
    if (prim_dst_ != user_dst_) pdst = memory(prim_dst_, eng, scratch(1, prim_dst_.get_size()));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, psrc}, {DNNL_ARG_WEIGHTS, pw}, {DNNL_ARG_DST, pdst}};
    if (in.size() > 2 && in[2].data && bias_.get_size() > 0) args.emplace(DNNL_ARG_BIAS, memory(bias_, eng, in[2].data));
    with_scratchpad(args, sp_);
    prim_.execute(s, args);
    const bool fused = chain_ && chain_->ready(static_cast<const float*>(out[0].data));
    // A streamed chain after a blocked output: the output's reorder to plain and the chain in one
    // pass over tiles in cache (unblock_chain), instead of the reorder's normal stores (a read for
    // ownership of the whole output) and the chain reading the output back. (Also for small
    // outputs, with normal stores, it saves a reorder and a parallel region: not measurable at
    // load 7-10, not enabled.)
    const bool own = fused && unblock_ != Unblock::None && chain_->streams();
    if (prim_dst_ != user_dst_ && !own) dst_out_.execute(s, pdst, udst);
    s.wait();
    if (chain_) {
      // The steps after the primitive, over the plain output in cache-sized pieces (one read of
      // the output instead of one per op).
      if (own) {
        unblock_chain(static_cast<const float*>(pdst.get_data_handle()));
      } else if (fused) {
        chain_->apply_all();
      }
      chain_->finish(fused);
    }
  }

 private:
  enum class Unblock { None, C16, Nhwc };
  static constexpr int64_t kTile = 256;  // positions per tile of unblock_chain

  void unblock_chain(const float* src) const {
    const int64_t n = dims_[0], c = dims_[1], hw = dims_[2] * dims_[3], cb = (c + 15) / 16;
    const int64_t per = (hw + kTile - 1) / kTile, tiles = n * cb * per;
    const bool c16 = unblock_ == Unblock::C16;
    const Chain& ch = *chain_;
#pragma omp parallel if (tiles > 1)
    {
      alignas(64) float tile[16 * kTile];
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t b = t / (cb * per), k = t / per % cb, p0 = t % per * kTile;
        const int64_t len = std::min(kTile, hw - p0), nc = std::min<int64_t>(16, c - k * 16);
        const int64_t ps = c16 ? 16 : c;
        const float* base = (c16 ? src + (b * cb + k) * hw * 16 : src + b * hw * c + k * 16) + p0 * ps;
        if (nc == 16) {
          unblock16(base, ps, len, tile, kTile);
        } else {
          // A last partial channel block (NHWC: reading 16 would run past the end).
          for (int64_t q = 0; q < len; ++q)
            for (int64_t i = 0; i < nc; ++i) tile[i * kTile + q] = base[q * ps + i];
        }
        for (int64_t i = 0; i < nc; ++i) ch.apply_from(tile + i * kTile, (b * c + k * 16 + i) * hw + p0, len);
      }
      chain_store_fence();
    }
  }

  Unblock unblock_ = Unblock::None;
  memory::dims dims_;
  dnnl::primitive prim_;
  std::shared_ptr<Chain> chain_;
  memory::desc user_src_, prim_src_, user_w_, prim_w_, bias_, user_dst_, prim_dst_, sp_;
  dnnl::reorder src_in_, dst_out_, w_in_;
  memory packed_w_;
  bool has_packed_w_ = false;
};

std::unique_ptr<Kernel> noop_kernel() {
  return make_kernel([](std::span<const TensorView>, std::span<const TensorView>) {});
}

memory::dims minus_one(const std::vector<int64_t>& v) {
  memory::dims d(v.begin(), v.end());
  for (auto& x : d) --x;
  return d;
}

memory::desc any_desc(const memory::dims& d) { return memory::desc(d, memory::data_type::f32, tag::any); }

// Winograd's weights live in the transformed domain, 6x6 per 3x3 kernel (4x the float32 weights),
// next to the model's own: 3x the weights extra. Taken when that extra fits in twice the layer's
// own activations (input + output), or is small in absolute terms (8 MiB: every 3x3 layer of
// ResNet-50 keeps it). Deep, narrow-map layers of big models are the ones left direct: ISNet fp16
// at 1024x1024 held 357 MiB of extra Winograd weights, 101 MiB with this rule, with 83% of its 3x3
// FLOPs still on Winograd; VGG-16 168 -> 20 MiB (issue 13: peak within 2 x (activations + weights)).
bool winograd_weights_fit(const Shape& x, const Shape& y, const Shape& w) {
  constexpr int64_t kFloor = int64_t{8} << 20;
  const int64_t extra = 3 * numel(w) * int64_t{sizeof(float)};
  const int64_t own = (numel(x) + numel(y)) * int64_t{sizeof(float)};
  return extra <= std::max(2 * own, kFloor);
}

// Output positions from which dense 1x1 convs run as PointwiseConv; NETLENS_CONV_POINTWISE_MIN=N
// overrides (to measure).
int64_t pointwise_min_positions() {
  static const int64_t v = [] {
    const char* e = std::getenv("NETLENS_CONV_POINTWISE_MIN");
    return e ? std::atoll(e) : int64_t{512};
  }();
  return v;
}

// Whether PointwiseConv's tiles run the own AVX-512 kernel (nn_conv_gemm.hpp) rather than
// dnnl_sgemm: with up to 128 input channels or up to 48 output channels. Measured single-threaded
// on a Sapphire Rapids VM (AVX-512), per node against sgemm in the same binary: faster on
// MobileNetV2's and EfficientNet-B0's expand convs (16-40 -> 96-240 channels, 112x112 to 28x28:
// 0.93 -> 0.80 ms for the largest), their projections to 16-40 channels with the input in memory
// (MobileNetV2 144 -> 24 0.42 -> 0.36 ms; with it in cache slower: EfficientNet-B0 240 -> 40 0.144 ->
// 0.169 ms, the two about even over both models), ResNet-50's 64 -> 256 (1.46 -> 1.38 ms) and
// 128 -> 512 (1.11 -> 1.08 ms); slower on ResNet-50's 256/512 -> 64/128 (0.90 -> 1.07 ms) and its
// strided 256 -> 512 (2.14 -> 2.23 ms). NETLENS_CONV_POINTWISE_KERNEL=own|sgemm forces one (to
// measure; without AVX-512, sgemm always).
bool pointwise_own_kernel(int64_t ic, int64_t oc) {
  static const int forced = [] {
    const char* v = std::getenv("NETLENS_CONV_POINTWISE_KERNEL");
    const std::string s = v ? v : "";
    return s == "own" ? 1 : s == "sgemm" ? 0 : -1;
  }();
  if (!pointwise_gemm_supported()) return false;
  return forced >= 0 ? forced == 1 : ic <= 128 || oc <= 48;
}

// Dense 1x1 convs on planes of fewer than pointwise_min_positions() positions (7x7, 14x14, the 1x1
// of squeeze-excitation) with AVX-512: PointwiseConv on tiles of whole rows, with
// - PlaneKernel::Small (nn_conv_gemm.hpp's kernel vectorised over output channels) below 100
//   positions (a 49-position row is 3 vectors and one lane) and where input channels outnumber
//   output channels (the projections: the transpose of its sums costs less against a longer sum);
// - PlaneKernel::Rows (the kernel vectorised over positions) on the other planes where
//   pointwise_own_kernel takes it (the expands of 14x14 planes: 196 positions are 12 vectors and 4
//   lanes, and no transpose).
// Measured single-threaded (Sapphire Rapids VM, load ~1-2), X and W in cache, both kernels alone:
// 7x7 planes 0.69-0.85x of Rows' time with Small, 14x14 projections 0.76-0.92x, 14x14 expands
// 1.06-1.12x (so Rows there). PlaneKernel::None: oneDNN's convolution as before (other shapes, no
// AVX-512, NETLENS_CONV_POINTWISE_SMALL=0 to measure).
enum class PlaneKernel { None, Small, Rows };
// Small reads all of X once per panel of 48 output channels: from L2 while X fits beside the
// weights (MobileNetV2's 576 x 196 and EfficientNet-B0's 672 x 196 inputs: 0.85-0.91x of oneDNN's
// time per node), not ResNet-50's 1024 x 196 (1.01-1.08x, so oneDNN's there).
constexpr int64_t kSmallPlaneInputFloats = 160 * 1024;
PlaneKernel pointwise_plane_kernel(int64_t positions, int64_t ic, int64_t oc) {
  static const bool on = [] {
    const char* v = std::getenv("NETLENS_CONV_POINTWISE_SMALL");
    return !(v && std::string(v) == "0");
  }();
  if (!on || positions >= pointwise_min_positions() || !pointwise_gemm_supported()) return PlaneKernel::None;
  if (positions < 100 || (ic > oc && ic * positions <= kSmallPlaneInputFloats)) return PlaneKernel::Small;
  return pointwise_own_kernel(ic, oc) ? PlaneKernel::Rows : PlaneKernel::None;
}

// NETLENS_CONV_RESIDUAL_EPILOGUE=0: residual chains after the own 1x1 kernel run as a separate
// pass over a tile buffer (to measure; tests compare the two).
bool residual_epilogue_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NETLENS_CONV_RESIDUAL_EPILOGUE");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

bool pointwise_gemm_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NETLENS_CONV_POINTWISE");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

// 2-D ConvTranspose whose kernel equals its stride (no overlap; no pads, dilation or
// output_padding), the upsampling layers of detection heads. Each input pixel maps to its own
// kh x kw output patch, so the op is one GEMM, Z[oc*kh*kw + a*kw + b][p] = sum_ic W[ic][oc][a][b]
// X[ic][p], followed by placing Z's rows into the output with the bias (oneDNN's deconvolution
// spends about 2x longer on these, mostly in col2im).
#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void place_patches(const float* z, float bias, float* y, int64_t h, int64_t w, int64_t kh, int64_t kw) {
  // z holds kh*kw rows of h*w values for one output channel; y is that channel's (h*kh) x (w*kw).
  const int64_t hw = h * w, ow = w * kw;
  for (int64_t i = 0; i < h; ++i)
    for (int64_t a = 0; a < kh; ++a) {
      float* yr = y + (i * kh + a) * ow;
      for (int64_t b = 0; b < kw; ++b) {
        const float* zr = z + (a * kw + b) * hw + i * w;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) yr[j * kw + b] = zr[j] + bias;
      }
    }
}

class PatchConvTranspose2d : public Kernel {
 public:
  PatchConvTranspose2d(const Shape& x, const Shape& w)
      : n_(x[0]), ic_(x[1]), h_(x[2]), w_(x[3]), oc_(w[1]), kh_(w[2]), kw_(w[3]) {
    const int64_t m = oc_ * kh_ * kw_;
    // src: W viewed as (oc*kh*kw) x ic, i.e. ONNX's [ic][oc*kh*kw] read transposed.
    src_ = memory::desc({m, ic_}, memory::data_type::f32, memory::dims{1, m});
    wei_ = plain_desc({ic_, h_ * w_});
    dst_ = plain_desc({m, h_ * w_});
    prim_ = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_, wei_, dst_), dnnl_engine()));
  }

  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    auto& eng = dnnl_engine();
    auto& s = dnnl_stream();
    const float* bp = in.size() > 2 ? static_cast<const float*>(in[2].data) : nullptr;
    const int64_t kk = kh_ * kw_, hw = h_ * w_;
    float* z = static_cast<float*>(scratch(1, dst_.get_size()));
    for (int64_t b = 0; b < n_; ++b) {
      const float* xb = static_cast<const float*>(in[0].data) + b * ic_ * hw;
      float* yb = static_cast<float*>(out[0].data) + b * oc_ * kk * hw;
      prim_.execute(s, {{DNNL_ARG_SRC, memory(src_, eng, in[1].data)},
                        {DNNL_ARG_WEIGHTS, memory(wei_, eng, const_cast<float*>(xb))},
                        {DNNL_ARG_DST, memory(dst_, eng, z)}});
      s.wait();
      const int64_t oc = oc_, h = h_, w = w_, kh = kh_, kw = kw_;
#pragma omp parallel for schedule(static) if (oc * kk * hw > 65536)
      for (int64_t c = 0; c < oc; ++c) place_patches(z + c * kk * hw, bp ? bp[c] : 0.0f, yb + c * kk * hw, h, w, kh, kw);
    }
  }

 private:
  int64_t n_, ic_, h_, w_, oc_, kh_, kw_;
  memory::desc src_, wei_, dst_;
  dnnl::matmul prim_;
};

// Dense 1x1, stride-1, unpadded conv on plain NCHW (the expand/project layers of MobileNets, PP-OCR's
// pointwise convs): per image Y[oc][p] = b[oc] + sum_ic W[oc][ic] X[ic][p], one GEMM tiled over
// output channels and positions, each tile a single-threaded GEMM on one OpenMP thread (dnnl_sgemm,
// or nn_conv_gemm.hpp's kernel where pointwise_own_kernel says), so that the tile is still in L2 when
// the bias and a fused chain (fused_chain.hpp) run over it. oneDNN's plain
// convolution is the same GEMM over the whole output, after which every following elementwise op
// read the output back from memory.
class PointwiseConv : public Kernel {
 public:
  // x: [N][IC][H][W]; y: [N][OC][OH][OW] with OH = ceil(H / sh), OW = ceil(W / sw) (strided 1x1,
  // no pads: ResNet's downsample convs read every other row and column).
  PointwiseConv(const Shape& x, const Shape& y, const Tensor& w, int64_t sh, int64_t sw, std::shared_ptr<Chain> chain)
      : n_(x[0]), ic_(x[1]), oc_(y[1]), hw_(y[2] * y[3]), h_(x[2]), w_in_(x[3]), oh_(y[2]), ow_(y[3]), sh_(sh), sw_(sw),
        chain_(std::move(chain)) {
    if (small_kernel_) {
      w_ = pack_pointwise_weights16(w.data_as<float>(), oc_, ic_);
    } else if (own_kernel_) {
      w_ = pack_pointwise_weights(w.data_as<float>(), oc_, ic_);
    } else {
      w_.assign(w.data_as<float>(), w.data_as<float>() + oc_ * ic_);
      start_sgemm_warmup();  // the tiles are dnnl_sgemm calls
    }
    // Tiles: an output tile of at most 64K floats (256 KiB, in L2 with its input panel), at least
    // two per thread so that uneven tiles even out, rows in multiples of 16 floats (of 48 with
    // the own kernel: its weight panels are 6 rows).
    if (plane_ != PlaneKernel::None) {
      // Small planes: whole rows of positions; the channels split in units of 16 (of 48 for Rows)
      // into two tiles per thread where each keeps 4+ units, else one where each keeps 2+ (Small's
      // panels are 3 units, 2 + 2 for 4), and into tiles of at most kTileFloats. On several threads
      // with more positions than output channels (the 14x14 projections, whose X outweighs W) the
      // positions split instead, so that each thread reads its part of X: MobileNetV2's 384 -> 64
      // and 576 -> 96 on two threads took 1.3x oneDNN's time as one tile, 1.0x split by channels.
      const int64_t unit = small_kernel_ ? 16 : 48;
      const int64_t threads = std::max(1, omp_get_max_threads()), units = (oc_ + unit - 1) / unit;
      const bool split_positions = threads > 1 && hw_ > oc_ && hw_ >= 32 * threads;
      int64_t parts = split_positions ? 1 : units >= 8 * threads ? 2 * threads : units >= 2 * threads ? threads : 1;
      parts = std::min(units, std::max(parts, (oc_ * hw_ + kTileFloats - 1) / kTileFloats));
      mb_ = (units + parts - 1) / parts * unit;
      nb_ = hw_;
      if (split_positions) nb_ = small_kernel_ ? (hw_ + threads - 1) / threads : ((hw_ + threads - 1) / threads + 15) / 16 * 16;
      return;
    }
    mb_ = oc_;
    if (oc_ * 64 > kTileFloats) {  // very wide layers: split rows
      const int64_t unit = own_kernel_ ? 48 : 16;
      mb_ = std::max(unit, kTileFloats / 256 / unit * unit);
    }
    const int64_t row_blocks = (oc_ + mb_ - 1) / mb_;
    int64_t col_blocks = std::max<int64_t>(1, (mb_ * hw_ + kTileFloats - 1) / kTileFloats);
    const int64_t want = 2 * std::max(1, omp_get_max_threads());
    if (row_blocks * col_blocks < want) col_blocks = std::min<int64_t>((want + row_blocks - 1) / row_blocks, (hw_ + 15) / 16);
    nb_ = ((hw_ + col_blocks - 1) / col_blocks + 15) / 16 * 16;
    // The own kernel writing in place (no chain, or one it computes itself: see run): one tile per
    // thread, every row over the thread's share of the positions (whole strips of 64), so that each
    // thread reads only its part of X and writes long pieces of every row. (Rows split over the
    // threads instead made both read all of X: MobileNetV2 on two threads 4.25 -> 4.4-4.5 ms.)
    if (own_kernel_) {
      const int64_t threads = std::max(1, omp_get_max_threads()), strips = (hw_ + 63) / 64;
      run_nb_ = (strips + std::min(strips, threads) - 1) / std::min(strips, threads) * 64;
    }
  }

  // A deferred clamp's input (runtime.hpp): clamped in the gather below (the planes the tiles read
  // are then in cache, where the clamp's output would have come from memory).
  bool can_read_clamped(size_t input) const override { return input == 0; }
  void read_clamped(size_t, Clamp c) override { clamp_ = c; }

  void run(std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* xp = static_cast<const float*>(in[0].data);
    const float* bp = in.size() > 2 ? static_cast<const float*>(in[2].data) : nullptr;
    float* yp = static_cast<float*>(out[0].data);
    const bool fused = chain_ && chain_->ready(yp);
    const Chain* chain = fused ? chain_.get() : nullptr;
    // A residual Add (and ReLU/Clip) chain is computed by the own kernel from its registers
    // (PointwiseEpilogue): no tile buffer, no second pass. Only on outputs of more than 48 channels
    // (ResNet-50's block ends): MobileNetV2's and EfficientNet-B0's projections to 24-40 channels
    // over 144-240 inputs took 10-30% longer so than into a tile buffer, where the kernel keeps X
    // in L1, with the chain's pass after it.
    const std::optional<Chain::Residual> res = chain && own_kernel_ && !small_kernel_ && oc_ > 48 &&
                                                       residual_epilogue_enabled()
                                                   ? chain->residual()
                                                   : std::nullopt;
    const bool runs = run_nb_ > 0 && (!chain || res);
    // The own GEMM kernel clamps X as it packs each strip (no gather).
    const bool clamp_in_gemm = clamp_ && own_kernel_ && !small_kernel_ && sh_ == 1 && sw_ == 1;
    const bool strided = sh_ != 1 || sw_ != 1, gather = strided || (clamp_ && !clamp_in_gemm);
    // Strided or clamped: the positions read (every sh-th row, sw-th column), clamped where
    // read_clamped asked, gathered first into this thread's scratch, [N][IC][OH*OW], shared by the
    // tiles below.
    float* gathered = gather ? static_cast<float*>(scratch(0, static_cast<size_t>(n_ * ic_ * hw_) * sizeof(float))) : nullptr;
    const int64_t mb = runs ? oc_ : mb_, nb = runs ? run_nb_ : nb_;
    const int64_t row_blocks = (oc_ + mb - 1) / mb, col_blocks = (hw_ + nb - 1) / nb;
    const int64_t tiles = n_ * row_blocks * col_blocks;
    const int64_t ic = ic_, oc = oc_, hw = hw_;
    const float* w = w_.data();
    const bool own = own_kernel_, small = small_kernel_;
    // A streamed chain: each tile is computed into a per-thread buffer and the chain writes it to
    // the output with its own outputs (no read for ownership of the output, no read back).
    const bool from_buf = chain && chain->streams() && !res;
    std::atomic<bool> failed{false};
#pragma omp parallel if (tiles > 1)
    {
    if (gather) {
      const int64_t planes = n_ * ic_, h = h_, wi = w_in_, oh = oh_, ow = ow_, sh = sh_, sw = sw_;
      const std::optional<Clamp> cl = clamp_;
#pragma omp for schedule(static)
      for (int64_t pl = 0; pl < planes; ++pl) {
        const float* src = xp + pl * h * wi;
        float* dst = gathered + pl * oh * ow;
        if (!strided) {
          clamp_floats(src, dst, oh * ow, *cl);
          continue;
        }
        for (int64_t r = 0; r < oh; ++r)
          for (int64_t q = 0; q < ow; ++q) dst[r * ow + q] = cl ? (*cl)(src[r * sh * wi + q * sw]) : src[r * sh * wi + q * sw];
      }
      // (the loop's barrier: every tile reads all of it)
    }
    const float* xs = gather ? gathered : xp;
    float* tile = from_buf ? static_cast<float*>(scratch(1, static_cast<size_t>(mb * nb) * sizeof(float))) : nullptr;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t b = t / (row_blocks * col_blocks), rem = t % (row_blocks * col_blocks);
      const int64_t r0 = rem / col_blocks * mb, p0 = rem % col_blocks * nb;
      const int64_t m = std::min(mb, oc - r0), cols = std::min(nb, hw - p0);
      const int64_t ldy = from_buf ? cols : hw;
      float* y = from_buf ? tile : yp + (b * oc + r0) * hw + p0;
      // A chain with an external operand (a residual Add's skip tensor) reads it row piece by row
      // piece: prefetched kAhead rows ahead (ResNet-50's 256-channel 56x56 convs with Add+ReLU took
      // 2.0-2.2 ms against 1.5-1.7 ms for oneDNN's conv plus a separate chain pass over whole chunks).
      const bool ext = chain && chain->has_externals() && !res;
      if (ext)
        for (int64_t r = 0; r < std::min(kAhead, m); ++r) chain->prefetch_externals((b * oc + r0 + r) * hw + p0, cols);
      if (small) {
        pointwise_gemm_small(w + r0 * ic, m, cols, ic, xs + b * ic * hw + p0, hw, bp ? bp + r0 : nullptr, y, ldy);
      } else if (own) {
        PointwiseEpilogue epi;
        if (res) epi = PointwiseEpilogue{res->skip, res->sum, res->out, res->clamp, chain->streams()}.at((b * oc + r0) * hw + p0);
        pointwise_gemm(w + r0 * ic, m, cols, ic, xs + b * ic * hw + p0, hw, bp ? bp + r0 : nullptr, y, ldy,
                       clamp_in_gemm ? &*clamp_ : nullptr, res ? &epi : nullptr, from_buf);
        if (res) continue;
      } else if (dnnl_sgemm('N', 'N', m, cols, ic, 1.f, w + r0 * ic, ic, xs + b * ic * hw + p0, hw, 0.f, y, ldy) !=
                 dnnl_success) {
        failed = true;
      }
      if (bp && !own && !small)
        for (int64_t r = 0; r < m; ++r)
          for (int64_t q = 0; q < cols; ++q) y[r * ldy + q] += bp[r0 + r];
      // A tile of whole rows is one range of the output (and of the buffer): the chain in one call
      // (a call per 49-position row cost a quarter of the node: MobileNetV2's 160 -> 960 at 7x7 with
      // its Clip, one thread, 0.19 -> 0.15 ms a node; the kernel alone 0.10 ms).
      if (chain && cols == hw) {
        if (from_buf) {
          chain->apply_from(y, (b * oc + r0) * hw, m * hw);
        } else {
          chain->apply((b * oc + r0) * hw, m * hw);
        }
        continue;
      }
      for (int64_t r = 0; r < m; ++r) {
        if (ext && r + kAhead < m) chain->prefetch_externals((b * oc + r0 + r + kAhead) * hw + p0, cols);
        float* yr = y + r * ldy;
        if (from_buf) {
          chain->apply_from(yr, (b * oc + r0 + r) * hw + p0, cols);
        } else if (chain) {
          chain->apply((b * oc + r0 + r) * hw + p0, cols);
        }
      }
    }
    if (chain) chain_store_fence();
    }
    if (chain_) chain_->finish(fused && !failed);
    if (failed) throw Error(ErrorKind::Internal, "oneDNN sgemm failed in a pointwise convolution");
  }

 private:
  static constexpr int64_t kTileFloats = 65536;
  static constexpr int64_t kAhead = 4;  // rows of external operands prefetched ahead of the chain
  int64_t n_, ic_, oc_, hw_, h_, w_in_, oh_, ow_, sh_, sw_, mb_ = 0, nb_ = 0;
  // One of the AVX-512 kernels (nn_conv_gemm.hpp) with w_ packed for it, else dnnl_sgemm on plain w_.
  const PlaneKernel plane_ = pointwise_plane_kernel(hw_, ic_, oc_);
  const bool small_kernel_ = plane_ == PlaneKernel::Small;
  const bool own_kernel_ = !small_kernel_ && (plane_ == PlaneKernel::Rows || pointwise_own_kernel(ic_, oc_));
  std::vector<float> w_;
  std::optional<Clamp> clamp_;  // read_clamped
  std::shared_ptr<Chain> chain_;
  int64_t run_nb_ = 0;  // own kernel, general planes: positions per tile of every row (see the constructor)
};

}  // namespace

std::unique_ptr<Kernel> plan_conv(const NodeContext& ctx) { return plan_conv_chained(ctx, nullptr); }

std::unique_ptr<Kernel> plan_conv_chained(const NodeContext& ctx, std::shared_ptr<Chain> chain) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) require_f32(ctx, i);
  const Shape& x = ctx.inputs[0].shape;
  const Shape& w = ctx.inputs[1].shape;
  const Shape& y = ctx.outputs[0].shape;
  if (numel(y) == 0) return noop_kernel();  // a chain without executor: its steps run on their own
  const int64_t group = ctx.node.attr_int("group", 1);
  const std::vector<int64_t> kernel = conv_kernel_shape(ctx.node, w);
  const SpatialGeometry g = conv_geometry(ctx.node, x, kernel);
  // The direct depthwise kernel (nn_depthwise.cpp): no reorders of the stored planes, 16 channels
  // at a time in a blocked copy in cache.
  if (x.size() == 4 && group > 1 && group == x[1] && w[0] == group && !forced_conv_layout())
    return make_depthwise_conv2d(x, y, g, std::move(chain));
  // ONNX W is [OC][IC/g][k...] = [g][OC/g][IC/g][k...]: plain strides over oneDNN's grouped dims.
  Shape wd = w;
  if (group > 1) {
    wd[0] = w[0] / group;
    wd.insert(wd.begin(), group);
  }
  const bool has_bias = has_input(ctx, 2);
  const memory::desc user_src = plain_desc(x), user_dst = plain_desc(y), user_w = plain_desc(wd);
  const memory::desc bias = has_bias ? plain_desc({w[0]}) : memory::desc();
  // A dense 1x1 conv on plain NCHW is a GEMM over the spatial positions; that beats the blocked
  // kernels plus their reorders unless the spatial extent is tiny (measured: ResNet-50's 7x7 stage
  // prefers blocked, its 14x14 and larger stages plain).
  const int64_t out_spatial = numel(y) / (y[0] * y[1]);
  const bool pointwise = group == 1 && out_spatial > 100 &&
                         std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; }) &&
                         std::all_of(g.pad_begin.begin(), g.pad_begin.end(), [](int64_t p) { return p == 0; }) &&
                         std::all_of(g.pad_end.begin(), g.pad_end.end(), [](int64_t p) { return p == 0; });
  // NETLENS_CONV_POINTWISE=0: such convs through oneDNN's plain convolution instead (to measure).
  // Only from 512 positions on: on 14x14 maps (196 columns) the tiles are too thin for sgemm and
  // oneDNN's one threaded GEMM is faster (MobileNetV2's 384/576-channel expands: 0.085 vs 0.065 ms;
  // tiles splitting only the rows there were no better, ResNet-50's 14x14 1x1 convs 1.36 -> 1.53 ms);
  // below 512 only where pointwise_plane_kernel has an own kernel for the plane.
  // Strided ones too (a gathered copy of the positions read): ResNet-50's 28x28 downsample 3.1-3.3
  // -> 2.6 ms against oneDNN's strided GEMM conv (single thread, load 3.6).
  const bool unit_1x1 = group == 1 && x.size() == 4 && kernel == std::vector<int64_t>{1, 1} &&
                        std::all_of(g.pad_begin.begin(), g.pad_begin.end(), [](int64_t p) { return p == 0; }) &&
                        std::all_of(g.pad_end.begin(), g.pad_end.end(), [](int64_t p) { return p == 0; }) &&
                        g.dilations == std::vector<int64_t>{1, 1};
  const bool plane = out_spatial >= pointwise_min_positions() ||
                     pointwise_plane_kernel(out_spatial, x[1], y[1]) != PlaneKernel::None;
  if (unit_1x1 && plane && const_input(ctx, 1) && pointwise_gemm_enabled() && !forced_conv_layout())
    return std::make_unique<PointwiseConv>(x, y, *const_input(ctx, 1), g.strides[0], g.strides[1], std::move(chain));
  // With very few input channels (an RGB stem) oneDNN has a direct kernel reading plain NCHW into
  // a blocked output, which saves the input reorder (ResNet-50 conv1: 1.12 vs 1.31 ms).
  const bool plain_src_ok = x[1] <= 4;
  // Dense 3x3 stride-1 2-D convs: oneDNN's Winograd kernels take about half the time of the
  // direct ones (ResNet-50 stages, PP-OCR's 96->24 heads).
  // Only with constant weights: their transform into the Winograd domain is slow, done once at
  // prepare time — and not on outputs smaller than 14x14, where it does not pay: on ResNet-50's
  // 512-channel 7x7 stage the transform took 140-150 ms per layer at prepare (oneDNN's
  // wino_reorder; most of the model's 0.5 s prepare) to save 0.1 ms per run (5.35 vs 5.59 ms for
  // the stage's 3x3 convs); the 14x14 stage saves 3 ms per run for 33 ms per layer.
  const bool winograd = winograd_enabled() && const_input(ctx, 1) && group == 1 && kernel == std::vector<int64_t>{3, 3} &&
                        g.strides == std::vector<int64_t>{1, 1} && g.dilations == std::vector<int64_t>{1, 1} &&
                        out_spatial >= 14 * 14 && winograd_weights_fit(x, y, w);
  auto build = [&](bool blocked, bool wino) {
    const memory::desc src = blocked && !plain_src_ok ? any_desc(to_dims(x)) : user_src;
    const memory::desc dst = blocked ? any_desc(to_dims(y)) : user_dst;
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                      wino ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct,
                                      src, any_desc(to_dims(wd)), bias, dst, to_dims(g.strides), minus_one(g.dilations),
                                      to_dims(g.pad_begin), to_dims(g.pad_end));
    return dnnl::convolution_forward::primitive_desc(d, user_scratchpad(), dnnl_engine());
  };
  try {
    dnnl::convolution_forward::primitive_desc pd;
    if (conv_layout(pointwise) == ConvLayout::Blocked) {
      bool built = false;
      if (winograd) {
        try {
          pd = build(true, true);
          built = true;
        } catch (const dnnl::error&) {
          // No Winograd kernel for this ISA or shape: the direct one below.
        }
      }
      if (!built) {
        try {
          pd = build(true, false);
        } catch (const dnnl::error&) {
          pd = build(false, false);
        }
      }
    } else {
      pd = build(false, false);
    }
    return std::make_unique<WrappedPrimitive>(dnnl::convolution_forward(pd), user_src, pd.src_desc(), user_w,
                                              pd.weights_desc(), bias, user_dst, pd.dst_desc(), const_input(ctx, 1),
                                              std::move(chain));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "convolution");
  }
}

std::unique_ptr<Kernel> plan_conv_transpose(const NodeContext& ctx) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) require_f32(ctx, i);
  const Shape& x = ctx.inputs[0].shape;
  const Shape& w = ctx.inputs[1].shape;
  const Shape& y = ctx.outputs[0].shape;
  if (numel(y) == 0) return noop_kernel();
  const ConvTransposeGeometry g = convtranspose_geometry(ctx.node, x, w);
  const size_t n = g.kernel.size();
  const auto zeros = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 0; });
  };
  if (n == 2 && g.group == 1 && g.kernel == g.strides && zeros(g.pad_begin) && zeros(g.pad_end) &&
      zeros(g.output_padding) && g.dilations == std::vector<int64_t>{1, 1} && !forced_conv_layout()) {
    try {
      return std::make_unique<PatchConvTranspose2d>(x, w);
    } catch (const dnnl::error&) {
      // Fall through to oneDNN's deconvolution.
    }
  }
  const int64_t group = g.group, ic = w[0], ocg = w[1];
  const int64_t ksize = std::accumulate(g.kernel.begin(), g.kernel.end(), int64_t{1}, std::multiplies<>());
  // oneDNN wants [g][OC/g][IC/g][k...]; ONNX stores [g][IC/g][OC/g][k...]: describe it by strides.
  memory::dims wd, ws;
  if (group > 1) {
    wd = {group, ocg, ic / group};
    ws = {(ic / group) * ocg * ksize, ksize, ocg * ksize};
  } else {
    wd = {ocg, ic};
    ws = {ksize, ocg * ksize};
  }
  const std::vector<int64_t> kst = strides_of(g.kernel);
  for (size_t i = 0; i < n; ++i) {
    wd.push_back(g.kernel[i]);
    ws.push_back(kst[i]);
  }
  const memory::desc user_w(wd, memory::data_type::f32, ws);
  const bool has_bias = has_input(ctx, 2);
  const memory::desc user_src = plain_desc(x), user_dst = plain_desc(y);
  const memory::desc bias = has_bias ? plain_desc({g.out_channels}) : memory::desc();
  // With pad_r = pad_end - output_padding, oneDNN's consistency rule
  // (dst - eff + pad_l + pad_r) / stride + 1 == src holds exactly; a negative pad_r (output_shape
  // larger than the full result) yields trailing outputs that receive only the bias.
  memory::dims pr(n);
  for (size_t i = 0; i < n; ++i) pr[i] = g.pad_end[i] - g.output_padding[i];
  auto build = [&](bool blocked) {
    const memory::desc src = blocked ? any_desc(to_dims(x)) : user_src;
    const memory::desc dst = blocked ? any_desc(to_dims(y)) : user_dst;
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                        src, any_desc(wd), bias, dst, to_dims(g.strides), minus_one(g.dilations),
                                        to_dims(g.pad_begin), pr);
    return dnnl::deconvolution_forward::primitive_desc(d, user_scratchpad(), dnnl_engine());
  };
  try {
    dnnl::deconvolution_forward::primitive_desc pd;
    // Unlike Conv, plain layout wins for the transposed convs measured (PP-OCR's 2x2 stride-2
    // upsamplers: oneDNN's blocked kernel is 1-6x slower there), so blocked only when forced.
    if (forced_conv_layout().value_or(ConvLayout::Plain) == ConvLayout::Blocked) {
      try {
        pd = build(true);
      } catch (const dnnl::error&) {
        pd = build(false);
      }
    } else {
      pd = build(false);
    }
    return std::make_unique<WrappedPrimitive>(dnnl::deconvolution_forward(pd), user_src, pd.src_desc(), user_w,
                                              pd.weights_desc(), bias, user_dst, pd.dst_desc(), const_input(ctx, 1));
  } catch (const dnnl::error& e) {
    rethrow_dnnl(ctx, e, "deconvolution");
  }
}

}  // namespace netlens::cpu::nn
