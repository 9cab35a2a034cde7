#include "netlens/viz/receptive_field.hpp"

#include <algorithm>
#include <set>

#include "netlens/runtime/shape_util.hpp"

namespace netlens::viz {

bool TensorRegion::empty() const {
  for (size_t i = 0; i < lo.size(); ++i)
    if (hi[i] <= lo[i]) return true;
  return false;
}

int64_t TensorRegion::count() const {
  if (empty()) return 0;
  int64_t n = 1;
  for (size_t i = 0; i < lo.size(); ++i) n *= hi[i] - lo[i];
  return n;
}

bool TensorRegion::contains(const std::vector<int64_t>& idx) const {
  if (idx.size() != lo.size()) return false;
  for (size_t d = 0; d < idx.size(); ++d) {
    if (idx[d] < lo[d] || idx[d] >= hi[d]) return false;
    if (d < step.size() && step[d] > 1 && (idx[d] - lo[d]) % step[d] != 0) return false;
  }
  return true;
}

namespace {

TensorRegion full(const Shape& s) {
  TensorRegion r;
  r.lo.assign(s.size(), 0);
  r.hi = s;
  return r;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Bounding box (in `shape`) of the flat index range [a, b).
TensorRegion bbox_of_flat(const Shape& shape, int64_t a, int64_t b) {
  TensorRegion r = full(shape);
  if (b <= a) { r.hi = r.lo; return r; }
  auto st = strides_of(shape);
  int64_t la = a, lb = b - 1;
  bool split = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t ia = la / st[d], ib = lb / st[d];
    la %= st[d];
    lb %= st[d];
    if (split) continue;  // inner dims of a split stay full
    r.lo[d] = ia;
    r.hi[d] = ib + 1;
    if (ia != ib) split = true;
  }
  return r;
}

int64_t flat_lo(const Shape& s, const TensorRegion& r) {
  auto st = strides_of(s);
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f += r.lo[d] * st[d];
  return f;
}
int64_t flat_hi(const Shape& s, const TensorRegion& r) {
  auto st = strides_of(s);
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f += (r.hi[d] - 1) * st[d];
  return f + 1;
}

// Output spatial range → input range for a sliding window (conv/pool geometry).
void window_back(int64_t lo, int64_t hi, int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb,
                 int64_t& ilo, int64_t& ihi) {
  ilo = std::max<int64_t>(0, lo * s - pb);
  ihi = std::min<int64_t>(in, (hi - 1) * s - pb + (k - 1) * d + 1);
}

// Broadcast: output region → region of an input of shape `in` aligned right.
TensorRegion broadcast_back(const TensorRegion& out, const Shape& out_shape, const Shape& in) {
  TensorRegion r = full(in);
  size_t off = out_shape.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1 && out_shape[d + off] != 1) { r.lo[d] = 0; r.hi[d] = 1; }
    else { r.lo[d] = out.lo[d + off]; r.hi[d] = out.hi[d + off]; }
  }
  return r;
}

const std::set<std::string>& elementwise_ops() {
  static const std::set<std::string> s = {
      "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "PRelu", "Relu",
      "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
      "Softplus", "Softsign", "Mish", "Clip", "ThresholdedRelu", "Dropout", "Identity", "Cast",
      "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Erf",
      "Sin", "Cos", "Not", "And", "Or", "Xor", "Equal", "Less", "Greater", "LessOrEqual",
      "GreaterOrEqual", "Mod", "IsNaN", "IsInf", "BatchNormalization", "QuantizeLinear",
      "DequantizeLinear"};
  return s;
}

}  // namespace

std::vector<std::pair<std::string, TensorRegion>> node_input_regions(const Graph& g, const ShapeFn& shape_of,
                                                                    const Node& n, const TensorRegion& out) {
  std::vector<std::pair<std::string, TensorRegion>> res;
  if (n.outputs.empty()) return res;
  auto os = shape_of(n.outputs[0]);
  if (!os || os->size() != out.lo.size()) return res;
  const Shape& oshape = *os;
  auto merge = [&](const std::string& name, const TensorRegion& r) {
    if (!name.empty() && !r.empty()) res.emplace_back(name, r);
  };
  std::vector<std::optional<Shape>> ins;
  for (const auto& i : n.inputs) ins.push_back(i.empty() ? std::nullopt : shape_of(i));
  auto in_shape = [&](size_t i) -> const std::optional<Shape>& {
    static const std::optional<Shape> none;
    return i < ins.size() ? ins[i] : none;
  };
  const std::string& op = n.op_type;
  const auto& x = in_shape(0);

  if ((op == "Conv" || op == "ConvTranspose" || op == "MaxPool" || op == "AveragePool" || op == "LpPool") && x &&
      x->size() >= 3 && x->size() == oshape.size()) {
    const size_t sp = x->size() - 2;
    std::vector<int64_t> kernel = n.attr_ints("kernel_shape");
    if (kernel.empty() && (op == "Conv" || op == "ConvTranspose")) {
      if (n.inputs.size() > 1) {
        auto wt = g.initializers.find(n.inputs[1]);
        if (wt != g.initializers.end() && wt->second.rank() == static_cast<int64_t>(sp + 2))
          kernel.assign(wt->second.shape().begin() + 2, wt->second.shape().end());
        else if (auto ws = in_shape(1); ws && ws->size() == sp + 2)
          kernel.assign(ws->begin() + 2, ws->end());
      }
    }
    if (kernel.size() != sp) {  // unknown geometry: everything
      merge(n.inputs[0], full(*x));
      return res;
    }
    SpatialGeometry geo = conv_geometry(n, *x, kernel);
    TensorRegion r = full(*x);
    r.lo[0] = out.lo[0];
    r.hi[0] = out.hi[0];
    const int64_t group = n.attr_int("group", 1);
    if (op == "Conv") {
      const int64_t C = (*x)[1], M = oshape[1];
      if (group > 1 && C % group == 0 && M % group == 0) {
        int64_t mg = M / group, cg = C / group;
        r.lo[1] = (out.lo[1] / mg) * cg;
        r.hi[1] = ((out.hi[1] - 1) / mg + 1) * cg;
      }
    } else if (op == "ConvTranspose") {
      const int64_t C = (*x)[1], M = oshape[1];
      if (group > 1 && C % group == 0 && M % group == 0) {
        int64_t mg = M / group, cg = C / group;
        r.lo[1] = (out.lo[1] / mg) * cg;
        r.hi[1] = ((out.hi[1] - 1) / mg + 1) * cg;
      }
    } else {
      r.lo[1] = out.lo[1];
      r.hi[1] = out.hi[1];
    }
    for (size_t d = 0; d < sp; ++d) {
      int64_t in = (*x)[d + 2], lo = out.lo[d + 2], hi = out.hi[d + 2];
      int64_t k = geo.kernel[d], s = geo.strides[d], dl = geo.dilations[d], pb = geo.pad_begin[d];
      if (op == "ConvTranspose") {
        // out = i·s - pb + t·dl for input i and tap t ∈ [0, k).
        r.lo[d + 2] = std::max<int64_t>(0, ceil_div(lo + pb - (k - 1) * dl, s));
        r.hi[d + 2] = std::min<int64_t>(in, floor_div(hi - 1 + pb, s) + 1);
      } else {
        window_back(lo, hi, in, k, s, dl, pb, r.lo[d + 2], r.hi[d + 2]);
        if (hi - lo == 1 && dl > 1 && k > 1) {
          // One output position: exactly its in-bounds taps o·s - pb + t·dl, every dl-th input.
          int64_t base = lo * s - pb;
          int64_t t0 = std::max<int64_t>(0, ceil_div(-base, dl)), t1 = std::min<int64_t>(k - 1, floor_div(in - 1 - base, dl));
          if (r.step.empty()) r.step.assign(x->size(), 1);
          r.step[d + 2] = dl;
          r.lo[d + 2] = base + t0 * dl;
          r.hi[d + 2] = t1 >= t0 ? base + t1 * dl + 1 : r.lo[d + 2];
        }
      }
    }
    merge(n.inputs[0], r);
    if (op == "Conv" || op == "ConvTranspose")  // a computed (non-constant) weight: all of it
      for (size_t i = 1; i < n.inputs.size(); ++i)
        if (auto s = in_shape(i)) merge(n.inputs[i], full(*s));
  } else if ((op == "GlobalAveragePool" || op == "GlobalMaxPool" || op == "GlobalLpPool") && x &&
             x->size() == oshape.size()) {
    TensorRegion r = full(*x);
    r.lo[0] = out.lo[0]; r.hi[0] = out.hi[0];
    if (x->size() > 1) { r.lo[1] = out.lo[1]; r.hi[1] = out.hi[1]; }
    merge(n.inputs[0], r);
  } else if (op == "Concat" && !ins.empty()) {
    int64_t axis = normalize_axis(n.attr_int("axis", 0), static_cast<int64_t>(oshape.size()), n.describe());
    int64_t off = 0;
    for (size_t i = 0; i < ins.size(); ++i) {
      if (!ins[i] || ins[i]->size() != oshape.size()) continue;
      int64_t len = (*ins[i])[axis];
      TensorRegion r = out;
      r.lo[axis] = std::max(out.lo[axis], off) - off;
      r.hi[axis] = std::min(out.hi[axis], off + len) - off;
      merge(n.inputs[i], r);
      off += len;
    }
  } else if (op == "LRN" && x && x->size() == oshape.size()) {
    int64_t size = n.attr_int("size", 1);
    TensorRegion r = out;
    r.lo[1] = std::max<int64_t>(0, out.lo[1] - (size - 1) / 2);
    r.hi[1] = std::min<int64_t>((*x)[1], out.hi[1] + size - 1 - (size - 1) / 2);
    merge(n.inputs[0], r);
  } else if ((op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && x && x->size() == oshape.size()) {
    const int64_t rank = static_cast<int64_t>(x->size());
    int64_t axis = normalize_axis(n.attr_int("axis", g.opset() >= 13 ? -1 : 1), rank, n.describe());
    TensorRegion r = out;
    // Opset < 13 normalises over the flattened [axis, rank) dims; 13+ over one axis.
    int64_t end = g.opset() >= 13 ? axis + 1 : rank;
    for (int64_t d = axis; d < end; ++d) { r.lo[d] = 0; r.hi[d] = (*x)[d]; }
    merge(n.inputs[0], r);
  } else if ((op == "InstanceNormalization" || op == "LayerNormalization" ||
              op == "MeanVarianceNormalization" || op == "GroupNormalization") && x && x->size() == oshape.size()) {
    TensorRegion r = out;
    const int64_t rank = static_cast<int64_t>(x->size());
    int64_t from = op == "LayerNormalization" ? normalize_axis(n.attr_int("axis", -1), rank, n.describe())
                                              : (op == "GroupNormalization" ? 1 : 2);
    if (op == "MeanVarianceNormalization") {
      auto axes = n.attr_ints("axes", {0, 2, 3});
      for (int64_t a : axes) { a = normalize_axis(a, rank, n.describe()); r.lo[a] = 0; r.hi[a] = (*x)[a]; }
    } else {
      for (int64_t d = from; d < rank; ++d) { r.lo[d] = 0; r.hi[d] = (*x)[d]; }
    }
    merge(n.inputs[0], r);
  } else if (op == "Transpose" && x && x->size() == oshape.size()) {
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (perm.size() != x->size()) {
      perm.resize(x->size());
      for (size_t d = 0; d < perm.size(); ++d) perm[d] = static_cast<int64_t>(perm.size() - 1 - d);
    }
    TensorRegion r = full(*x);
    for (size_t d = 0; d < perm.size(); ++d) { r.lo[perm[d]] = out.lo[d]; r.hi[perm[d]] = out.hi[d]; }
    merge(n.inputs[0], r);
  } else if ((op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") && x &&
             numel(*x) == numel(oshape)) {
    merge(n.inputs[0], bbox_of_flat(*x, flat_lo(oshape, out), flat_hi(oshape, out)));
  } else if ((op == "Resize" || op == "Upsample") && x && x->size() == oshape.size()) {
    TensorRegion r = full(*x);
    for (size_t d = 0; d < x->size(); ++d) {
      int64_t in = (*x)[d], o = oshape[d];
      if (in == o) { r.lo[d] = out.lo[d]; r.hi[d] = out.hi[d]; continue; }
      r.lo[d] = std::max<int64_t>(0, floor_div(out.lo[d] * in, o) - 1);
      r.hi[d] = std::min<int64_t>(in, ceil_div(out.hi[d] * in, o) + 1);
    }
    merge(n.inputs[0], r);
  } else if (op == "Gemm" && x && x->size() == 2 && oshape.size() == 2) {
    bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
    TensorRegion ra = full(*x);
    if (ta) { ra.lo[1] = out.lo[0]; ra.hi[1] = out.hi[0]; } else { ra.lo[0] = out.lo[0]; ra.hi[0] = out.hi[0]; }
    merge(n.inputs[0], ra);
    if (auto b = in_shape(1); b && b->size() == 2) {
      TensorRegion rb = full(*b);
      if (tb) { rb.lo[0] = out.lo[1]; rb.hi[0] = out.hi[1]; } else { rb.lo[1] = out.lo[1]; rb.hi[1] = out.hi[1]; }
      merge(n.inputs[1], rb);
    }
    if (auto c = in_shape(2)) merge(n.inputs[2], broadcast_back(out, oshape, *c));
  } else if (op == "MatMul" && x && oshape.size() >= 2) {
    auto b = in_shape(1);
    if (x->size() >= 2) {
      Shape xs = *x;
      TensorRegion ro = out;
      TensorRegion ra = broadcast_back(ro, oshape, xs);
      ra.lo[xs.size() - 1] = 0; ra.hi[xs.size() - 1] = xs.back();
      merge(n.inputs[0], ra);
    } else {
      merge(n.inputs[0], full(*x));
    }
    if (b && b->size() >= 2) {
      TensorRegion rb = broadcast_back(out, oshape, *b);
      rb.lo[b->size() - 2] = 0; rb.hi[b->size() - 2] = (*b)[b->size() - 2];
      merge(n.inputs[1], rb);
    } else if (b) {
      merge(n.inputs[1], full(*b));
    }
  } else if (elementwise_ops().count(op)) {
    size_t last = (op == "BatchNormalization" || op == "Clip" || op == "Dropout" || op == "QuantizeLinear" ||
                   op == "DequantizeLinear") ? 1 : ins.size();
    for (size_t i = 0; i < std::min(last, ins.size()); ++i)
      if (ins[i] && ins[i]->size() <= oshape.size()) merge(n.inputs[i], broadcast_back(out, oshape, *ins[i]));
  } else {
    for (size_t i = 0; i < ins.size(); ++i)
      if (ins[i]) merge(n.inputs[i], full(*ins[i]));
  }
  return res;
}

std::map<std::string, TensorRegion> receptive_field(const Graph& g, const ShapeFn& shape_of,
                                                    const std::string& tensor,
                                                    const std::vector<int64_t>& index) {
  auto start_shape = shape_of(tensor);
  if (!start_shape) throw Error(ErrorKind::Usage, "receptive field: no tensor named '" + tensor + "'");
  if (index.size() != start_shape->size())
    throw Error(ErrorKind::Usage, "receptive field: index rank " + std::to_string(index.size()) +
                                      " does not match tensor '" + tensor + "' of shape " + shape_str(*start_shape));
  for (size_t d = 0; d < index.size(); ++d)
    if (index[d] < 0 || index[d] >= (*start_shape)[d])
      throw Error(ErrorKind::Usage, "receptive field: index out of range for tensor '" + tensor + "' of shape " +
                                        shape_str(*start_shape));
  std::map<std::string, TensorRegion> regions;
  TensorRegion start;
  start.lo = index;
  start.hi = index;
  for (auto& h : start.hi) ++h;
  regions[tensor] = start;

  auto merge = [&](const std::string& name, const TensorRegion& r) {
    if (name.empty() || r.empty()) return;
    auto it = regions.find(name);
    if (it == regions.end()) { regions[name] = r; regions[name].step.clear(); return; }
    for (size_t d = 0; d < r.lo.size(); ++d) {
      it->second.lo[d] = std::min(it->second.lo[d], r.lo[d]);
      it->second.hi[d] = std::max(it->second.hi[d], r.hi[d]);
    }
  };

  for (size_t ni = g.nodes.size(); ni-- > 0;) {
    const Node& n = g.nodes[ni];
    if (n.outputs.empty()) continue;
    auto oit = regions.find(n.outputs[0]);
    // Secondary outputs (e.g. MaxPool's indices) influence nothing we show; use output 0 only.
    if (oit == regions.end()) continue;
    const TensorRegion out = oit->second;
    for (const auto& [name, r] : node_input_regions(g, shape_of, n, out)) merge(name, r);
  }
  return regions;
}

namespace {

void check_index(const ShapeFn& shape_of, const std::string& tensor, const std::vector<int64_t>& index,
                 const char* what) {
  auto s = shape_of(tensor);
  if (!s) throw Error(ErrorKind::Usage, std::string(what) + ": no tensor named '" + tensor + "'");
  bool ok = index.size() == s->size();
  for (size_t d = 0; ok && d < index.size(); ++d) ok = index[d] >= 0 && index[d] < (*s)[d];
  if (!ok)
    throw Error(ErrorKind::Usage, std::string(what) + ": index does not fit tensor '" + tensor + "' of shape " +
                                      shape_str(*s));
}

// Does some input edge of `n` named `tensor` have `index` inside its one-step field of `out`?
bool reaches(const Graph& g, const ShapeFn& shape_of, const Node& n, const TensorRegion& out,
             const std::string& tensor, const std::vector<int64_t>& index) {
  for (const auto& [name, r] : node_input_regions(g, shape_of, n, out))
    if (name == tensor && r.contains(index)) return true;
  return false;
}

}  // namespace

std::vector<FanOut> fan_out(const Graph& g, const ShapeFn& shape_of, const std::string& tensor,
                            const std::vector<int64_t>& index, int64_t max_candidates) {
  check_index(shape_of, tensor, index, "fan-out");
  std::vector<FanOut> result;
  std::set<std::string> done;
  for (const Node& n : g.nodes) {
    if (n.outputs.empty() || n.outputs[0].empty() || done.count(n.outputs[0])) continue;
    if (std::find(n.inputs.begin(), n.inputs.end(), tensor) == n.inputs.end()) continue;
    auto os = shape_of(n.outputs[0]);
    if (!os) continue;
    const Shape& oshape = *os;
    done.insert(n.outputs[0]);
    FanOut f;
    f.tensor = n.outputs[0];
    // Per output dim, the coordinates whose whole slice reaches the element: a superset of each
    // fan-out cell's coordinate, since a cell's field lies inside its slice's field.
    std::vector<std::vector<int64_t>> allowed(oshape.size());
    int64_t candidates = 1;
    for (size_t d = 0; d < oshape.size(); ++d) {
      TensorRegion slice = full(oshape);
      for (int64_t o = 0; o < oshape[d]; ++o) {
        slice.lo[d] = o;
        slice.hi[d] = o + 1;
        if (reaches(g, shape_of, n, slice, tensor, index)) allowed[d].push_back(o);
      }
      candidates = allowed[d].empty() ? 0 : (candidates > max_candidates ? candidates : candidates * static_cast<int64_t>(allowed[d].size()));
    }
    f.box.lo.assign(oshape.size(), 0);
    f.box.hi.assign(oshape.size(), 0);
    if (candidates == 0) { result.push_back(std::move(f)); continue; }
    if (candidates > max_candidates) {
      for (size_t d = 0; d < oshape.size(); ++d) { f.box.lo[d] = allowed[d].front(); f.box.hi[d] = allowed[d].back() + 1; }
      f.complete = false;
      result.push_back(std::move(f));
      continue;
    }
    // Odometer over the candidate product; each candidate is tested with its own one-element field.
    std::vector<size_t> pos(oshape.size(), 0);
    TensorRegion cell;
    cell.lo.resize(oshape.size());
    cell.hi.resize(oshape.size());
    bool first = true;
    for (;;) {
      for (size_t d = 0; d < oshape.size(); ++d) { cell.lo[d] = allowed[d][pos[d]]; cell.hi[d] = cell.lo[d] + 1; }
      if (reaches(g, shape_of, n, cell, tensor, index)) {
        f.cells.push_back(cell.lo);
        for (size_t d = 0; d < oshape.size(); ++d) {
          f.box.lo[d] = first ? cell.lo[d] : std::min(f.box.lo[d], cell.lo[d]);
          f.box.hi[d] = first ? cell.hi[d] : std::max(f.box.hi[d], cell.hi[d]);
        }
        first = false;
      }
      size_t d = oshape.size();
      while (d > 0) {
        --d;
        if (++pos[d] < allowed[d].size()) break;
        pos[d] = 0;
        if (d == 0) { d = SIZE_MAX; break; }
      }
      if (oshape.empty() || d == SIZE_MAX) break;
    }
    result.push_back(std::move(f));
  }
  return result;
}

bool VolumeRegion::contains(const VolumeDims& d, int64_t f) const {
  if (flat) return f >= lo && f < hi;
  CellIndex c = cell_of(d, f);
  return c.c >= c0 && c.c < c1 && c.y >= y0 && c.y < y1 && c.x >= x0 && c.x < x1;
}

std::optional<VolumeRegion> volume_region(const LayerVolume& l, const TensorRegion& r) {
  const Shape& s = l.tensor.shape;
  if (r.lo.size() != s.size() || r.empty()) return std::nullopt;
  VolumeRegion v;
  const VolumeDims& d = l.dims;
  if (s.size() >= 1 && s.size() != 1 && r.lo[0] > 0) return std::nullopt;  // batch 0 only
  if (d.grid) {
    v.flat = true;
    if (s.size() <= 1) { v.lo = s.empty() ? 0 : r.lo[0]; v.hi = s.empty() ? 1 : r.hi[0]; }
    else { v.lo = r.lo[1]; v.hi = r.hi[1]; }
    return v;
  }
  if (s.size() == 3) {
    v.c0 = 0; v.c1 = 1;
    v.y0 = r.lo[1]; v.y1 = r.hi[1]; v.x0 = r.lo[2]; v.x1 = r.hi[2];
    return v;
  }
  const size_t n = s.size();
  if (n == 4) { v.c0 = r.lo[1]; v.c1 = r.hi[1]; }
  else {  // folded channel dims: the flat channel range's bounding interval
    Shape cs(s.begin() + 1, s.end() - 2);
    TensorRegion cr;
    cr.lo.assign(r.lo.begin() + 1, r.lo.end() - 2);
    cr.hi.assign(r.hi.begin() + 1, r.hi.end() - 2);
    v.c0 = flat_lo(cs, cr);
    v.c1 = flat_hi(cs, cr);
  }
  v.y0 = r.lo[n - 2]; v.y1 = r.hi[n - 2];
  v.x0 = r.lo[n - 1]; v.x1 = r.hi[n - 1];
  return v;
}

std::vector<int64_t> tensor_index(const LayerVolume& l, int64_t f) {
  const Shape& s = l.tensor.shape;
  std::vector<int64_t> idx(s.size(), 0);
  if (s.empty()) return idx;
  // Batch 0: the flat index inside batch 0 equals the flat index in the tensor.
  auto st = strides_of(s);
  for (size_t d = 0; d < s.size(); ++d) {
    idx[d] = f / st[d];
    f %= st[d];
  }
  return idx;
}

}  // namespace netlens::viz
