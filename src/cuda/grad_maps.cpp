// broadcast_grad_maps (grad_maps.hpp): plain C++, no CUDA types, so tests/cuda checks it on the CPU.
#include "netlens/cuda/grad_maps.hpp"

#include <algorithm>

namespace netlens::cuda {

BroadcastGrad broadcast_grad_maps(const Shape& part, const Shape& other, const Shape& full) {
  const size_t r = full.size();
  auto padded = [&](const Shape& s) {
    Shape p(r - std::min(r, s.size()), 1);
    p.insert(p.end(), s.begin(), s.end());
    return p;
  };
  const Shape pp = padded(part), op = padded(other);
  const auto fst = strides_of(full);
  const auto ost = strides_of(op);
  BroadcastGrad b;
  kern::StridedMap kept[2], red[2];
  for (auto* m : {&kept[0], &kept[1], &red[0], &red[1]}) m->rank = static_cast<int>(r);
  for (size_t d = 0; d < r; ++d) {
    const bool reduced = pp[d] == 1 && full[d] != 1;
    const int64_t other_stride = op[d] == 1 ? 0 : ost[d];
    kept[0].dims[d] = kept[1].dims[d] = reduced ? 1 : full[d];
    red[0].dims[d] = red[1].dims[d] = reduced ? full[d] : 1;
    kept[0].strides[d] = red[0].strides[d] = fst[d];
    kept[1].strides[d] = red[1].strides[d] = other_stride;
  }
  b.n_out = numel(part);
  b.n_red = 1;
  for (size_t d = 0; d < r; ++d) b.n_red *= red[0].dims[d];
  if (r == 0) {
    for (auto* m : {&kept[0], &kept[1], &red[0], &red[1]}) {
      m->rank = 1;
      m->dims[0] = 1;
      m->strides[0] = 0;
    }
  } else {
    kern::collapse_dims(kept, 2);
    kern::collapse_dims(red, 2);
  }
  b.kept_g = kept[0];
  b.kept_other = kept[1];
  b.red_g = red[0];
  b.red_other = red[1];
  return b;
}

}  // namespace netlens::cuda
