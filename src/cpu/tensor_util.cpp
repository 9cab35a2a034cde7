// The helpers the "tensor" op family's CPU kernels share (tensor_util.hpp): strided and parallel
// copies, integer inputs, float32 staging of float16/bfloat16, the views of Transpose/Tile/
// DepthToSpace, Pad's source map, Split's outputs.
#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <numeric>

#include <omp.h>

#include "netlens/cpu/cpu_ops.hpp"
#include "netlens/cpu/half_convert.hpp"
#include "netlens/runtime/shape_util.hpp"
#include "netlens/runtime/shapes_tensor.hpp"
#include "tensor_util.hpp"

#include "stream_store.hpp"
#include "nn_common.hpp"
#include "nn_v16.hpp"

namespace netlens::cpu {

namespace tensor {

namespace {

template <class T>
void copy_strided_elems(char* dst, const char* src, int64_t n, int64_t stride) {
  T* d = reinterpret_cast<T*>(dst);
  const T* s = reinterpret_cast<const T*>(src);
  if (stride == 0) {
    std::fill(d, d + n, *s);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i * stride];
  }
}

// One 16x16 block of 4-byte elements: dst[k * dst_row + q] = src[q * src_row + k], through a
// register transpose (nn_v16.hpp) instead of 256 strided scalar copies: ViT-B/16's 12x64x197 key
// transposes took 0.21 ms each with the scalar tiles, one thread. Bits move unchanged (loads,
// shuffles and stores only).
#if defined(__x86_64__) && defined(__GNUC__)
NETLENS_NN_CLONES
#endif
void transpose_block16(const void* src, int64_t src_row, void* dst, int64_t dst_row) {
  const float* sf = static_cast<const float*>(src);
  float* df = static_cast<float*>(dst);
  nn::V16 r[16];
  for (int q = 0; q < 16; ++q) r[q] = NETLENS_CV16(sf + q * src_row);
  nn::transpose16(r);
  for (int k = 0; k < 16; ++k) NETLENS_V16(df + k * dst_row) = r[k];
}

// strided_copy's transpose path. `s`/`st` are the simplified shape and source strides; dim `cj`
// (not the last) has source stride 1; the last dim has a larger source stride. Work is split over
// (the other outer dims) × (tiles of dim cj).
void tiled_copy(char* d, const char* sp, const Shape& s, const std::vector<int64_t>& st, int64_t cj, size_t es) {
  constexpr int64_t T = 32;
  const int64_t r = static_cast<int64_t>(s.size());
  const int64_t inner = s.back(), inner_st = st.back(), nj = s[static_cast<size_t>(cj)];
  const std::vector<int64_t> dst_st = strides_of(s);
  const int64_t dj = dst_st[static_cast<size_t>(cj)];
  std::vector<int64_t> rest;  // outer dims other than cj
  for (int64_t k = 0; k < r - 1; ++k)
    if (k != cj) rest.push_back(k);
  int64_t n_rest = 1;
  for (int64_t k : rest) n_rest *= s[static_cast<size_t>(k)];
  const int64_t jblocks = (nj + T - 1) / T;
  const int64_t tasks = n_rest * jblocks;
  with_elem_size(es, [&](auto tag) {
    using E = decltype(tag);
    E* dd = reinterpret_cast<E*>(d);
    const E* ss = reinterpret_cast<const E*>(sp);
#pragma omp parallel for if (numel(s) * static_cast<int64_t>(es) >= kParallelBytes)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t rem = task / jblocks, soff = 0, doff = 0;
      for (auto it = rest.rbegin(); it != rest.rend(); ++it) {
        const size_t k = static_cast<size_t>(*it);
        const int64_t c = rem % s[k];
        rem /= s[k];
        soff += c * st[k];
        doff += c * dst_st[k];
      }
      const int64_t j0 = (task % jblocks) * T, j1 = std::min(nj, j0 + T);
      for (int64_t i0 = 0; i0 < inner; i0 += T) {
        const int64_t i1 = std::min(inner, i0 + T);
        // 4-byte elements: whole 16x16 blocks in registers, the tile's ragged edges below.
        int64_t jf = j0, iff = i0;
        if constexpr (sizeof(E) == 4) {
          jf = j0 + (j1 - j0) / 16 * 16;
          iff = i0 + (i1 - i0) / 16 * 16;
          for (int64_t j = j0; j < jf; j += 16)
            for (int64_t i = i0; i < iff; i += 16)
              transpose_block16(ss + soff + j + i * inner_st, inner_st, dd + doff + j * dj + i, dj);
        }
        for (int64_t j = j0; j < j1; ++j) {
          E* drow = dd + doff + j * dj;
          const E* scol = ss + soff + j;
          for (int64_t i = j < jf ? iff : i0; i < i1; ++i) drow[i] = scol[i * inner_st];
        }
      }
    }
  });
}

}  // namespace

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  // A kept output of kStreamBytes and more is streamed (stream_store.hpp); big copies go in 1 MiB
  // chunks over the threads.
  const bool stream = bytes >= kStreamBytes && streams_outputs();
  if (!stream && bytes < static_cast<size_t>(4 * kParallelBytes)) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const int64_t chunk = 1 << 20;
  const int64_t n = static_cast<int64_t>((bytes + chunk - 1) / chunk);
#pragma omp parallel if (n > 1)
  {
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const size_t off = static_cast<size_t>(i * chunk), len = std::min<size_t>(static_cast<size_t>(chunk), bytes - off);
      if (stream) {
        stream_copy_bytes(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off, len);
      } else {
        std::memcpy(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off, len);
      }
    }
    if (stream) stream_fence();
  }
}

void strided_copy(void* dst, const void* src, const Shape& shape, const std::vector<int64_t>& strides, size_t es) {
  // Drop size-1 dims and merge dims that are contiguous in the source as well (the destination is
  // always contiguous), so that the innermost run is as long as possible.
  Shape s;
  std::vector<int64_t> st;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    if (!s.empty() && st.back() == strides[i] * shape[i]) {
      s.back() *= shape[i];
      st.back() = strides[i];
    } else {
      s.push_back(shape[i]);
      st.push_back(strides[i]);
    }
  }
  char* d = static_cast<char*>(dst);
  const char* sp = static_cast<const char*>(src);
  if (s.empty()) {
    std::memcpy(d, sp, es);
    return;
  }
  const int64_t inner = s.back(), inner_st = st.back();
  const int64_t rows = numel(s) / inner;
  const int64_t outer_rank = static_cast<int64_t>(s.size()) - 1;
  const int64_t ies = static_cast<int64_t>(es);
  // A transpose-like copy (the innermost output dim is strided in the source while some outer dim
  // is contiguous there): copy in square tiles so both sides stay in cache.
  int64_t cj = -1;
  for (int64_t k = 0; k < outer_rank; ++k)
    if (st[static_cast<size_t>(k)] == 1) cj = k;
  if (inner_st != 1 && cj >= 0 && inner >= 16 && s[static_cast<size_t>(cj)] >= 16) {
    tiled_copy(d, sp, s, st, cj, es);
    return;
  }
  // Large outputs with rows of at least 4 lines: contiguous rows are streamed (stream_store.hpp).
  const bool stream = rows * inner * ies >= static_cast<int64_t>(kStreamBytes) && inner * ies >= 256 && streams_outputs();
  auto run_rows = [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(static_cast<size_t>(outer_rank), 0);
    int64_t off = 0, r = r0;
    for (int64_t k = outer_rank - 1; k >= 0; --k) {
      idx[static_cast<size_t>(k)] = r % s[static_cast<size_t>(k)];
      r /= s[static_cast<size_t>(k)];
      off += idx[static_cast<size_t>(k)] * st[static_cast<size_t>(k)];
    }
    with_elem_size(es, [&](auto tag) {
      using T = decltype(tag);
      for (int64_t row = r0; row < r1; ++row) {
        char* drow = d + row * inner * ies;
        const char* srow = sp + off * ies;
        if (inner_st == 1 && stream) stream_copy_bytes(drow, srow, static_cast<size_t>(inner * ies));
        else if (inner_st == 1) std::memcpy(drow, srow, static_cast<size_t>(inner * ies));
        else copy_strided_elems<T>(drow, srow, inner, inner_st);
        for (int64_t k = outer_rank - 1; k >= 0; --k) {
          const size_t uk = static_cast<size_t>(k);
          off += st[uk];
          if (++idx[uk] < s[uk]) break;
          off -= st[uk] * s[uk];
          idx[uk] = 0;
        }
      }
    });
    if (stream) stream_fence();
  };
  if (rows == 1 || rows * inner * ies < kParallelBytes) {
    run_rows(0, rows);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    if (r1 > r0) run_rows(r0, r1);
  }
}

std::vector<int64_t> read_ints(const TensorView& v) {
  const int64_t n = v.numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const bool ok = with_native(v.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(v.data);
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
  });
  if (!ok) throw Error(ErrorKind::Internal, "tensor ops: cannot read " + std::string(dtype_name(v.dtype)) + " as integers");
  return out;
}

void with_float32(std::span<const TensorView> in, std::span<const TensorView> out, const KernelFn& fn) {
  auto half = [](DType t) { return t == DType::Float16 || t == DType::BFloat16; };
  std::vector<Tensor> keep;
  keep.reserve(in.size() + out.size());
  std::vector<TensorView> vin(in.begin(), in.end()), vout(out.begin(), out.end());
  for (auto& v : vin) {
    if (!v.data || !half(v.dtype)) continue;
    keep.push_back(Tensor::view(v.dtype, v.shape, v.data).cast(DType::Float32));
    v = TensorView{DType::Float32, v.shape, keep.back().data()};
  }
  for (auto& v : vout) {
    if (!v.data || !half(v.dtype)) continue;
    keep.emplace_back(DType::Float32, v.shape);
    v = TensorView{DType::Float32, v.shape, keep.back().data()};
  }
  fn(vin, vout);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].data || !half(out[i].dtype)) continue;
    Tensor back = Tensor::view(DType::Float32, out[i].shape, vout[i].data).cast(out[i].dtype);
    std::memcpy(out[i].data, back.data(), back.nbytes());
  }
}

std::vector<int64_t> transpose_strides(const NodeContext& ctx) {
  const Shape& in = ctx.inputs[0].shape;
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  const std::vector<int64_t> ist = strides_of(in);
  std::vector<int64_t> st;
  for (int64_t p : perm) st.push_back(ist[static_cast<size_t>(normalize_axis(p, r, ctx.node.describe()))]);
  return st;
}

StridedView tile_view(const Shape& in, const Shape& out) {
  const std::vector<int64_t> ist = strides_of(in);
  // Tile = broadcast of the input viewed as [1, d0, 1, d1, ...] to [r0, d0, r1, d1, ...].
  StridedView v;
  for (size_t d = 0; d < in.size(); ++d) {
    v.shape.push_back(in[d] ? out[d] / in[d] : 0);
    v.strides.push_back(0);
    v.shape.push_back(in[d]);
    v.strides.push_back(ist[d]);
  }
  return v;
}

StridedView depth_space_view(const NodeContext& ctx) {
  const Shape in = ctx.inputs[0].shape;
  const int64_t b = ctx.node.attr_int("blocksize", 1);
  const int64_t N = in[0], C = in[1], H = in[2], W = in[3];
  StridedView v;
  if (ctx.node.op_type == "DepthToSpace") {
    const int64_t c = C / (b * b);
    v.shape = {N, c, H, b, W, b};
    if (ctx.node.attr_string("mode", "DCR") == "CRD") {
      const auto s = strides_of({N, c, b, b, H, W});
      v.strides = {s[0], s[1], s[4], s[2], s[5], s[3]};
    } else {
      const auto s = strides_of({N, b, b, c, H, W});
      v.strides = {s[0], s[3], s[4], s[1], s[5], s[2]};
    }
  } else {
    const auto s = strides_of({N, C, H / b, b, W / b, b});
    v.shape = {N, b, b, C, H / b, W / b};
    v.strides = {s[0], s[3], s[5], s[1], s[2], s[4]};
  }
  return v;
}

std::vector<std::vector<int64_t>> pad_source_map(const tensor_params::PadParams& p, const Shape& in) {
  std::vector<std::vector<int64_t>> map(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t n = in[d];
    for (int64_t o = 0; o < p.out[d]; ++o) {
      int64_t i = o - p.begin[d];
      if (i < 0 || i >= n) {
        if (p.mode == "constant") i = -1;
        else if (p.mode == "edge") i = std::clamp<int64_t>(i, 0, n - 1);
        else if (p.mode == "wrap") i = ((i % n) + n) % n;
        else if (n == 1) i = 0;
        else {
          const int64_t period = 2 * (n - 1);
          i = ((i % period) + period) % period;
          if (i >= n) i = period - i;
        }
      }
      map[d].push_back(i);
    }
  }
  return map;
}

std::vector<TensorInfo> split_output_infos(const NodeContext& ctx) {
  bool omitted = false;
  for (size_t k = 0; k < ctx.outputs.size(); ++k) omitted = omitted || k >= ctx.node.outputs.size() || ctx.node.outputs[k].empty();
  if (!omitted) return ctx.outputs;
  const InferFn* infer = OpRegistry::global().find(ctx.node.op_type);
  if (!infer) throw Error(ErrorKind::Internal, ctx.node.describe() + ": no shape function");
  std::vector<const TensorInfo*> ins;
  for (const auto& t : ctx.inputs) ins.push_back(t.dtype == DType::Undefined ? nullptr : &t);
  return (*infer)(InferContext{ctx.node, ctx.opset, ins, ctx.const_inputs});
}


int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

}  // namespace tensor

}  // namespace netlens::cpu
