"""The ONNX operators of tests/grad/torch_oracle.py, each written from the ONNX operator spec with
PyTorch functions so that autograd differentiates it (no netlens code, no torch.onnx round trip).

An op is a function (ctx, *inputs) -> list of outputs; inputs are torch tensors (float tensors in the
interpreter's float dtype, integer ones int64, bool ones bool) or None for an omitted optional input;
an output it does not compute is None. Attribute values or modes an op does not implement fail with
OracleError naming the node: the oracle never guesses.

(Longer than 600 lines: one short function per operator plus the table; split by family, the
shared padding/pool/kink helpers would have to travel between files.)
"""
import math
import os

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F

INT_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32,
             onnx.TensorProto.INT64, onnx.TensorProto.UINT8, onnx.TensorProto.UINT16,
             onnx.TensorProto.UINT32, onnx.TensorProto.UINT64}


class OracleError(Exception):
    pass


def node_label(node):
    return f"node '{node.name}' ({node.op_type})"


# ---------------------------------------------------------------------------------------------
# Helpers shared by the op implementations.

class Ctx:
    """What an op sees: the node, its opset, its attributes, the interpreter's float dtype and the
    kink alignment (Kinks or None)."""

    def __init__(self, node, opset, fdtype, kinks=None):
        self.node = node
        self.opset = opset
        self.fdtype = fdtype
        self.kinks = kinks
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def attr(self, name, default=None):
        v = self.attrs.get(name, default)
        return v.decode() if isinstance(v, bytes) else v

    def fail(self, msg):
        raise OracleError(f"{node_label(self.node)}: {msg}")


def ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


def spatial_pads(ctx, in_sizes, kernel, strides, dilations, ceil_mode=False):
    """Begin/end padding per spatial axis, from `pads` or `auto_pad` (ONNX Conv/Pool semantics)."""
    n = len(in_sizes)
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        p = list(ctx.attr("pads", [0] * (2 * n)))
        return p[:n], p[n:]
    if auto == "VALID":
        return [0] * n, [0] * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"auto_pad {auto}")
    begin, end = [], []
    for i in range(n):
        out = -(-in_sizes[i] // strides[i])
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_sizes[i])
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin, end


def torch_pad_arg(begin, end):
    """F.pad's argument (last axis first) from per-axis begin/end pads."""
    arg = []
    for b, e in zip(reversed(begin), reversed(end)):
        arg += [b, e]
    return arg


def conv_fn(n):
    return {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]


def sum_pool(x, kernel, strides, dilations):
    """Window sums by a depthwise convolution with ones (works for every dilation)."""
    c = x.shape[1]
    w = torch.ones((c, 1, *kernel), dtype=x.dtype)
    return conv_fn(len(kernel))(x, w, stride=strides, dilation=dilations, groups=c)


def pool_geometry(ctx, x):
    n = x.dim() - 2
    kernel = list(ctx.attr("kernel_shape"))
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    begin, end = spatial_pads(ctx, list(x.shape[2:]), kernel, strides, dilations)
    ceil_mode = int(ctx.attr("ceil_mode", 0))
    extra = []  # padding beyond `end` that ceil_mode's last window reaches (never counted, never max)
    for i in range(n):
        eff = (kernel[i] - 1) * dilations[i] + 1
        span = x.shape[2 + i] + begin[i] + end[i] - eff
        out = (-(-span // strides[i]) if ceil_mode else span // strides[i]) + 1
        if ceil_mode and (out - 1) * strides[i] >= x.shape[2 + i] + begin[i]:
            out -= 1  # the last window must start inside the input or the begin padding
        extra.append(max(0, (out - 1) * strides[i] + eff - (x.shape[2 + i] + begin[i] + end[i])))
    return kernel, strides, dilations, begin, end, extra


# ---------------------------------------------------------------------------------------------
# Ops. Each takes (ctx, inputs) — inputs is a list of tensors or None for omitted optional inputs —
# and returns a list of outputs (None for an output it does not compute).

def op_conv(ctx, x, w, b=None):
    n = x.dim() - 2
    kernel = list(w.shape[2:])
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    begin, end = spatial_pads(ctx, list(x.shape[2:]), kernel, strides, dilations)
    x = F.pad(x, torch_pad_arg(begin, end))
    return [conv_fn(n)(x, w, b, stride=strides, dilation=dilations, groups=int(ctx.attr("group", 1)))]


def op_conv_transpose(ctx, x, w, b=None):
    n = x.dim() - 2
    kernel = list(w.shape[2:])
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    out_pad = list(ctx.attr("output_padding", [0] * n))
    group = int(ctx.attr("group", 1))
    full = [strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(n)]
    if "output_shape" in ctx.attrs:
        target = list(ctx.attr("output_shape"))[-n:]
        total = [full[i] - target[i] for i in range(n)]
        upper = ctx.attr("auto_pad", "NOTSET") != "SAME_LOWER"
        begin = [t // 2 if upper else t - t // 2 for t in total]
        end = [t - t // 2 if upper else t // 2 for t in total]
    elif ctx.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        total = [full[i] - x.shape[2 + i] * strides[i] for i in range(n)]
        upper = ctx.attr("auto_pad") == "SAME_UPPER"
        begin = [t // 2 if upper else t - t // 2 for t in total]
        end = [t - t // 2 if upper else t // 2 for t in total]
    else:
        p = list(ctx.attr("pads", [0] * (2 * n)))
        begin, end = p[:n], p[n:]
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[n]
    y = fn(x, w, None, stride=strides, dilation=dilations, groups=group)
    y = F.pad(y, torch_pad_arg([0] * n, out_pad))  # output_padding: extra positions nothing reaches
    for i in range(n):
        y = y.narrow(2 + i, begin[i], full[i] - begin[i] - end[i])
    if b is not None:
        y = y + b.reshape([1, -1] + [1] * n)
    return [y]


def op_max_pool(ctx, x):
    if int(ctx.attr("storage_order", 0)) != 0:
        ctx.fail("storage_order 1")
    kernel, strides, dilations, begin, end, extra = pool_geometry(ctx, x)
    n = len(kernel)
    pad = torch_pad_arg(begin, [e + x_ for e, x_ in zip(end, extra)])
    xp = F.pad(x, pad, value=-math.inf)
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
    other = ctx.kinks.other(ctx.node.input[0], x) if ctx.kinks is not None else None
    if other is None:
        return [fn(xp, kernel, strides, 0, dilations), None]
    # Kink alignment: the gradient goes to the window's maximum (the first one on exact ties, in
    # torch as in the ONNX reference loop); where two candidates are within the band, the other
    # implementation's choice decides.
    v = xp.detach()
    _, own = fn(v, kernel, strides, 0, dilations, return_indices=True)
    _, alt = fn(F.pad(other, pad, value=-math.inf), kernel, strides, 0, dilations, return_indices=True)
    flat = v.flatten(2)
    band = KINK_BAND * float(x.detach().abs().max()) if x.numel() else 0.0
    close = (flat.gather(2, own.flatten(2)) - flat.gather(2, alt.flatten(2))).abs() <= band
    flip = (own.flatten(2) != alt.flatten(2)) & close
    k = int(flip.sum())
    if k:
        ctx.kinks.overrides[ctx.node.input[0]] = k
    idx = torch.where(flip, alt.flatten(2), own.flatten(2))
    y = xp.flatten(2).gather(2, idx).reshape(own.shape)
    return [y, None]


def op_average_pool(ctx, x):
    kernel, strides, dilations, begin, end, extra = pool_geometry(ctx, x)
    include = int(ctx.attr("count_include_pad", 0))
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
    mask = F.pad(ones, torch_pad_arg(begin, end), value=1.0 if include else 0.0)
    mask = F.pad(mask, torch_pad_arg([0] * len(kernel), extra))
    xp = F.pad(x, torch_pad_arg(begin, [e + x_ for e, x_ in zip(end, extra)]))
    return [sum_pool(xp, kernel, strides, dilations) / sum_pool(mask, kernel, strides, dilations)]


def op_global_average_pool(ctx, x):
    return [x.mean(dim=tuple(range(2, x.dim())), keepdim=True)]


def op_global_max_pool(ctx, x):
    return [x.flatten(2).max(dim=2).values.reshape(list(x.shape[:2]) + [1] * (x.dim() - 2))]


def op_batch_norm(ctx, x, scale, bias, mean, var):
    if int(ctx.attr("training_mode", 0)):
        ctx.fail("training_mode 1")
    shape = [1, -1] + [1] * (x.dim() - 2)
    eps = float(ctx.attr("epsilon", 1e-5))
    y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)
    return [y]


def op_layer_norm(ctx, x, scale, bias=None):
    axis = int(ctx.attr("axis", -1))
    axis = axis + x.dim() if axis < 0 else axis
    eps = float(ctx.attr("epsilon", 1e-5))
    dims = tuple(range(axis, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    inv = 1.0 / torch.sqrt(var + eps)
    y = (x - mean) * inv * scale
    if bias is not None:
        y = y + bias
    return [y, mean, inv]


def matmul(a, b):
    """a @ b (NumPy semantics). Debian's torch multiplies with the reference BLAS (about 1-2 GFLOPS
    on this class of machine); in float32 a 1x1 convolution runs the same product through oneDNN
    about five times faster (ViT-B/16's backward: minutes → seconds). Float64 keeps torch.matmul."""
    if a.dtype != torch.float32 or b.dtype != torch.float32 or a.dim() < 2 or b.dim() < 2:
        return a @ b
    if b.dim() == 2:  # (..., M, K) @ (K, N): rows of a are pixels, columns of b are 1x1 filters
        k, n = b.shape
        x = a.reshape(-1, k).t().reshape(1, k, -1, 1)
        y = F.conv2d(x, b.t().reshape(n, k, 1, 1))
        return y.reshape(n, -1).t().reshape(*a.shape[:-1], n)
    if a.dim() == b.dim() and a.shape[:-2] == b.shape[:-2]:  # batched: one group per batch entry
        lead, m, k, n = a.shape[:-2], a.shape[-2], a.shape[-1], b.shape[-1]
        bt = int(np.prod(lead))
        x = a.reshape(bt, m, k).transpose(1, 2).reshape(1, bt * k, m, 1)
        w = b.reshape(bt, k, n).transpose(1, 2).reshape(bt * n, k, 1, 1)
        y = F.conv2d(x, w, groups=bt)
        return y.reshape(bt, n, m).transpose(1, 2).reshape(*lead, m, n)
    return a @ b


def op_gemm(ctx, a, b, c=None):
    if int(ctx.attr("transA", 0)):
        a = a.t()
    if int(ctx.attr("transB", 0)):
        b = b.t()
    y = float(ctx.attr("alpha", 1.0)) * matmul(a, b)
    if c is not None:
        y = y + float(ctx.attr("beta", 1.0)) * c
    return [y]


def op_softmax_like(fn):
    def run(ctx, x):
        if ctx.opset >= 13:
            return [fn(x, int(ctx.attr("axis", -1)))]
        # Opset < 13: the input is coerced to 2-D [prod(dims < axis), prod(dims >= axis)].
        axis = int(ctx.attr("axis", 1))
        axis = axis + x.dim() if axis < 0 else axis
        lead = int(np.prod(x.shape[:axis])) if axis > 0 else 1
        return [fn(x.reshape(lead, -1), 1).reshape(x.shape)]
    return run


def softmax(x, axis):
    e = torch.exp(x - x.amax(dim=axis, keepdim=True).detach())
    return e / e.sum(dim=axis, keepdim=True)


def log_softmax(x, axis):
    z = x - x.amax(dim=axis, keepdim=True).detach()
    return z - torch.log(torch.exp(z).sum(dim=axis, keepdim=True))


KINK_BAND = 1e-5  # relative to max|X| of the tensor


class Kinks:
    """The other implementation's values of kink inputs (see --kink-values) and the overrides made."""

    def __init__(self, folder):
        self.folder = folder
        self.files = {}
        with open(os.path.join(folder, "index.tsv")) as f:
            for line in f:
                if line.strip():
                    name, file = line.rstrip("\n").split("\t")
                    self.files[name] = os.path.join(folder, file)
        self.overrides = {}

    def other(self, name, like):
        f = self.files.get(name)
        if f is None:
            return None
        a = np.load(f)
        if tuple(a.shape) != tuple(like.shape):
            raise OracleError(f"--kink-values: {name} has shape {list(a.shape)}, the tensor's is {list(like.shape)}")
        return torch.from_numpy(np.array(a, dtype=np.float64)).to(like.dtype)


def piecewise_mask(ctx, x, points, inside):
    """inside(v) → bool mask of the linear piece the derivative takes, for values v. With kink
    alignment, elements within the band of a kink point where the other implementation's value is
    on the other side take the other implementation's piece."""
    v = x.detach()
    mask = inside(v)
    if ctx.kinks is None:
        return mask
    other = ctx.kinks.other(ctx.node.input[0], v)
    if other is None:
        return mask
    band = KINK_BAND * float(v.abs().max()) if v.numel() else 0.0
    near = torch.zeros_like(mask)
    for p in points:
        near |= (v - p).abs() <= band
    flip = near & (inside(other) != mask)
    n = int(flip.sum())
    if n:
        ctx.kinks.overrides[ctx.node.input[0]] = n
        mask = torch.where(flip, ~mask, mask)
    return mask


def op_relu(ctx, x):
    m = piecewise_mask(ctx, x, [0.0], lambda v: v > 0)
    return [x * m.to(x.dtype)]


def op_leaky_relu(ctx, x):
    a = float(ctx.attr("alpha", 0.01))
    m = piecewise_mask(ctx, x, [0.0], lambda v: v > 0).to(x.dtype)
    return [x * m + a * x * (1 - m)]


def op_hard_sigmoid(ctx, x):
    a, b = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    # Pieces: 0 below u=0, u = a·x + b between, 1 above u=1 (kinks at x = -b/a and (1-b)/a).
    lo, hi = -b / a, (1 - b) / a
    mid = piecewise_mask(ctx, x, [lo, hi], lambda v: (a * v + b > 0) & (a * v + b < 1)).to(x.dtype)
    above = (a * x.detach() + b >= 1).to(x.dtype) * (1 - mid)
    return [(a * x + b) * mid + above]


def op_clip(ctx, x, lo=None, hi=None):
    if ctx.opset < 11:
        lo = ctx.attrs.get("min", None)
        hi = ctx.attrs.get("max", None)
    else:
        lo = None if lo is None else lo.item()
        hi = None if hi is None else hi.item()
    if lo is None and hi is None:
        return [x.clone()]
    lo_v = -math.inf if lo is None else float(lo)
    hi_v = math.inf if hi is None else float(hi)
    points = [p for p in (lo_v, hi_v) if math.isfinite(p)]
    mid = piecewise_mask(ctx, x, points, lambda v: (v > lo_v) & (v < hi_v))
    # Outside the middle piece the value is the bound it passed (constant: no gradient).
    clamped = torch.clamp(x.detach(), min=lo, max=hi)
    return [torch.where(mid, x, clamped)]


def reduce_axes(ctx, x, axes_input):
    if axes_input is not None:
        axes = ints(axes_input)
    else:
        axes = ctx.attrs.get("axes", None)
    if axes is None or len(axes) == 0:
        if int(ctx.attr("noop_with_empty_axes", 0)) and axes is not None:
            return None
        return list(range(x.dim()))
    return [a + x.dim() if a < 0 else a for a in axes]


def op_reduce(kind):
    def run(ctx, x, axes_in=None):
        # ReduceSum takes axes as an input from opset 13, the others from opset 18.
        axes = reduce_axes(ctx, x, axes_in)
        keep = bool(int(ctx.attr("keepdims", 1)))
        if axes is None:
            return [x.clone()]
        if kind == "mean":
            return [x.mean(dim=tuple(axes), keepdim=keep)]
        if kind == "sum":
            return [x.sum(dim=tuple(axes), keepdim=keep)]
        if kind == "sumsquare":
            return [(x * x).sum(dim=tuple(axes), keepdim=keep)]
        if kind == "l2":
            return [torch.sqrt((x * x).sum(dim=tuple(axes), keepdim=keep))]
        if kind in ("max", "min"):
            y = x
            for a in sorted(axes, reverse=True):
                y = (y.amax if kind == "max" else y.amin)(dim=a, keepdim=True)
            return [y if keep else y.reshape([s for i, s in enumerate(x.shape) if i not in axes])]
        ctx.fail(kind)
    return run


def op_resize(ctx, x, roi=None, scales=None, sizes=None):
    mode = ctx.attr("mode", "nearest")
    ctm = ctx.attr("coordinate_transformation_mode", "half_pixel")
    nearest = ctx.attr("nearest_mode", "round_prefer_floor")
    if ctx.opset < 11:  # Upsample-like Resize-10: inputs X, scales; asymmetric coordinates
        scales, roi, ctm = roi, None, "asymmetric"
    if mode not in ("nearest", "linear"):
        ctx.fail(f"mode {mode}")
    if ctm == "tf_crop_and_resize":
        ctx.fail("coordinate_transformation_mode tf_crop_and_resize")
    rank = x.dim()
    if sizes is not None and sizes.numel() > 0:
        out_sizes = ints(sizes)
        sc = [out_sizes[i] / x.shape[i] for i in range(rank)]
    else:
        sc = [float(v) for v in scales.reshape(-1).tolist()]
        out_sizes = [int(math.floor(x.shape[i] * sc[i])) for i in range(rank)]
    y = x
    for axis in range(rank):
        n_in, n_out, s = x.shape[axis], out_sizes[axis], sc[axis]
        if n_in == n_out and s == 1.0:
            continue
        o = torch.arange(n_out, dtype=torch.float64)
        if ctm == "half_pixel":
            src = (o + 0.5) / s - 0.5
        elif ctm == "pytorch_half_pixel":
            src = (o + 0.5) / s - 0.5 if n_out > 1 else torch.zeros_like(o)
        elif ctm == "align_corners":
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else torch.zeros_like(o)
        elif ctm == "asymmetric":
            src = o / s
        else:
            ctx.fail(f"coordinate_transformation_mode {ctm}")
        if mode == "nearest":
            if nearest == "round_prefer_floor":
                idx = torch.where(src - torch.floor(src) == 0.5, torch.floor(src), torch.round(src))
            elif nearest == "round_prefer_ceil":
                idx = torch.where(src - torch.floor(src) == 0.5, torch.ceil(src), torch.round(src))
            elif nearest == "floor":
                idx = torch.floor(src)
            elif nearest == "ceil":
                idx = torch.ceil(src)
            else:
                ctx.fail(f"nearest_mode {nearest}")
            idx = idx.clamp(0, n_in - 1).long()
            y = y.index_select(axis, idx)
        else:
            src = src.clamp(0, n_in - 1)
            i0 = torch.floor(src).long().clamp(0, n_in - 1)
            i1 = (i0 + 1).clamp(max=n_in - 1)
            w = (src - i0.to(torch.float64)).to(y.dtype)
            shape = [1] * rank
            shape[axis] = n_out
            w = w.reshape(shape)
            y = y.index_select(axis, i0) * (1 - w) + y.index_select(axis, i1) * w
    return [y if y is not x else x.clone()]


def op_slice(ctx, x, starts=None, ends=None, axes=None, steps=None):
    if ctx.opset < 10:
        st, en = list(ctx.attr("starts")), list(ctx.attr("ends"))
        ax = list(ctx.attr("axes", list(range(len(st)))))
        sp = [1] * len(st)
    else:
        st, en = ints(starts), ints(ends)
        ax = ints(axes) if axes is not None else list(range(len(st)))
        sp = ints(steps) if steps is not None else [1] * len(st)
    y = x
    for s, e, a, k in zip(st, en, ax, sp):
        a = a + x.dim() if a < 0 else a
        n = x.shape[a]
        if k == 0:
            ctx.fail("step 0")
        s = s + n if s < 0 else s
        e = e + n if e < 0 else e
        if k > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, -1), n - 1), min(max(e, -1), n - 1)
        idx = torch.arange(s, e, k, dtype=torch.long)
        y = y.index_select(a, idx)
    return [y]


def op_reshape(ctx, x, shape=None):
    target = ints(shape) if shape is not None else list(ctx.attr("shape"))
    allowzero = int(ctx.attr("allowzero", 0))
    out = []
    for i, d in enumerate(target):
        out.append(x.shape[i] if d == 0 and not allowzero else d)
    return [x.reshape(out)]


def op_flatten(ctx, x):
    axis = int(ctx.attr("axis", 1))
    axis = axis + x.dim() if axis < 0 else axis
    lead = int(np.prod(x.shape[:axis])) if axis > 0 else 1
    return [x.reshape(lead, -1)]


def op_transpose(ctx, x):
    perm = ctx.attrs.get("perm", list(reversed(range(x.dim()))))
    return [x.permute(*perm)]


def squeeze_axes(ctx, x, axes_in):
    axes = ints(axes_in) if axes_in is not None else ctx.attrs.get("axes", None)
    return None if axes is None else [a + x.dim() if a < 0 else a for a in axes]


def op_squeeze(ctx, x, axes_in=None):
    axes = squeeze_axes(ctx, x, axes_in)
    if axes is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    return [x.reshape([s for i, s in enumerate(x.shape) if i not in axes])]


def op_unsqueeze(ctx, x, axes_in=None):
    axes = ints(axes_in) if axes_in is not None else list(ctx.attr("axes"))
    rank = x.dim() + len(axes)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return [x.reshape(shape)]


def op_concat(ctx, *xs):
    xs = [t for t in xs if t is not None and t.numel() > 0] or [xs[0]]
    return [torch.cat(promote(xs), dim=int(ctx.attr("axis")))]


def op_split(ctx, x, split=None):
    axis = int(ctx.attr("axis", 0))
    n_out = len(ctx.node.output)
    if split is not None:
        parts = ints(split)
    elif "split" in ctx.attrs:
        parts = list(ctx.attr("split"))
    else:
        n = x.shape[axis]
        k = -(-n // n_out)
        parts = [min(k, n - i * k) for i in range(n_out)]
    return list(torch.split(x, parts, dim=axis))


def op_shape(ctx, x):
    shape = list(x.shape)
    start = int(ctx.attr("start", 0))
    end = ctx.attrs.get("end", None)
    return [torch.tensor(shape[start:end] if end is not None else shape[start:], dtype=torch.long)]


def op_gather(ctx, x, idx):
    axis = int(ctx.attr("axis", 0))
    axis = axis + x.dim() if axis < 0 else axis
    i = idx.long()
    i = torch.where(i < 0, i + x.shape[axis], i)
    y = x.index_select(axis, i.reshape(-1))
    return [y.reshape(list(x.shape[:axis]) + list(idx.shape) + list(x.shape[axis + 1:]))]


def op_expand(ctx, x, shape):
    target = ints(shape)
    rank = max(x.dim(), len(target))
    a = [1] * (rank - x.dim()) + list(x.shape)
    b = [1] * (rank - len(target)) + target
    out = [max(p, q) if 1 in (p, q) else p for p, q in zip(a, b)]
    return [x.reshape(a).expand(out) + torch.zeros((), dtype=x.dtype)]  # + 0: a real tensor, not a view


def onnx_dtype(ctx, code):
    m = {onnx.TensorProto.FLOAT: ctx.fdtype, onnx.TensorProto.DOUBLE: ctx.fdtype,
         onnx.TensorProto.FLOAT16: ctx.fdtype, onnx.TensorProto.BFLOAT16: ctx.fdtype,
         onnx.TensorProto.BOOL: torch.bool}
    if code in m:
        return m[code]
    if code in INT_TYPES:
        return torch.long
    ctx.fail(f"dtype {code}")


def op_cast(ctx, x):
    to = onnx_dtype(ctx, int(ctx.attr("to")))
    if to == torch.long and x.is_floating_point():
        return [torch.trunc(x).long()]
    return [x.to(to)]


def op_constant(ctx):
    for k in ("value", "sparse_value"):
        if k in ctx.attrs:
            if k == "sparse_value":
                ctx.fail("sparse_value")
            return [from_numpy(numpy_helper.to_array(ctx.attrs[k]), ctx.fdtype)]
    if "value_float" in ctx.attrs:
        return [torch.tensor(float(ctx.attrs["value_float"]), dtype=ctx.fdtype)]
    if "value_floats" in ctx.attrs:
        return [torch.tensor(list(ctx.attrs["value_floats"]), dtype=ctx.fdtype)]
    if "value_int" in ctx.attrs:
        return [torch.tensor(int(ctx.attrs["value_int"]), dtype=torch.long)]
    if "value_ints" in ctx.attrs:
        return [torch.tensor(list(ctx.attrs["value_ints"]), dtype=torch.long)]
    ctx.fail("no value attribute")


def op_constant_of_shape(ctx, shape):
    if "value" in ctx.attrs:
        v = from_numpy(numpy_helper.to_array(ctx.attrs["value"]), ctx.fdtype).reshape(-1)[0]
    else:
        v = torch.tensor(0.0, dtype=ctx.fdtype)
    return [torch.full(ints(shape), v.item(), dtype=v.dtype)]


def op_where(ctx, c, a, b):
    a, b = promote([a, b])
    return [torch.where(c.bool(), a, b)]


def op_pow(ctx, x, e):
    if x.is_floating_point() and not e.is_floating_point():
        e = e.to(x.dtype)
    return [torch.pow(x, e)]


def op_div(ctx, a, b):
    if a.is_floating_point() or b.is_floating_point():
        a, b = promote([a, b])
        return [a / b]
    return [torch.div(a, b, rounding_mode="trunc")]


def op_gelu(ctx, x):
    if ctx.attr("approximate", "none") == "tanh":
        return [0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))]
    return [0.5 * x * (1 + torch.erf(x / math.sqrt(2)))]


def op_pad(ctx, x, pads=None, value=None, axes=None):
    mode = ctx.attr("mode", "constant")
    p = ints(pads) if pads is not None else list(ctx.attr("pads"))
    v = float(value.item()) if value is not None and value.numel() else float(ctx.attr("value", 0.0))
    r = x.dim()
    ax = ints(axes) if axes is not None else list(range(r))
    ax = [a + r if a < 0 else a for a in ax]
    begin, end = [0] * r, [0] * r
    for i, a in enumerate(ax):
        begin[a], end[a] = p[i], p[i + len(ax)]
    if mode != "constant":
        ctx.fail(f"mode {mode}")
    return [F.pad(x, torch_pad_arg(begin, end), value=v)]


def promote(ts):
    """Mixed int/float operands (shape arithmetic next to float math) go to the float dtype."""
    fl = [t.dtype for t in ts if t.is_floating_point()]
    if fl:
        return [t if t.is_floating_point() else t.to(fl[0]) for t in ts]
    return ts


def binary(fn):
    return lambda ctx, a, b: [fn(*promote([a, b]))]


def unary(fn):
    return lambda ctx, x: [fn(x)]


def variadic(fn):
    def run(ctx, *xs):
        xs = promote(list(xs))
        y = xs[0]
        for t in xs[1:]:
            y = fn(y, t)
        return [y if len(xs) > 1 else y.clone()]
    return run


OPS = {
    "Conv": op_conv, "ConvTranspose": op_conv_transpose,
    "MaxPool": op_max_pool, "AveragePool": op_average_pool,
    "GlobalAveragePool": op_global_average_pool, "GlobalMaxPool": op_global_max_pool,
    "BatchNormalization": op_batch_norm, "LayerNormalization": op_layer_norm,
    "Gemm": op_gemm, "MatMul": lambda ctx, a, b: [matmul(a, b)],
    "Softmax": op_softmax_like(softmax), "LogSoftmax": op_softmax_like(log_softmax),
    "Relu": op_relu,
    "Sigmoid": unary(torch.sigmoid),  # derivative y·(1 − y): no inf/inf where exp(−x) overflows
    "Tanh": unary(torch.tanh), "Exp": unary(torch.exp), "Log": unary(torch.log),
    "Sqrt": unary(torch.sqrt), "Erf": unary(torch.erf), "Neg": unary(torch.neg),
    "Abs": unary(torch.abs), "Reciprocal": unary(lambda x: 1 / x),
    "Floor": unary(torch.floor), "Ceil": unary(torch.ceil),
    "Identity": unary(lambda x: x.clone()), "Dropout": lambda ctx, x, *r: [x.clone(), None],
    "HardSigmoid": op_hard_sigmoid,
    "HardSwish": unary(lambda x: x * torch.clamp(x / 6 + 0.5, 0, 1)),
    "LeakyRelu": op_leaky_relu,
    "Elu": lambda ctx, x: [torch.where(x > 0, x, float(ctx.attr("alpha", 1.0)) * (torch.exp(x) - 1))],
    "Softplus": unary(F.softplus),
    "Gelu": op_gelu, "Clip": op_clip,
    "Add": binary(torch.add), "Sub": binary(torch.sub), "Mul": binary(torch.mul), "Div": op_div,
    "Pow": op_pow, "Max": variadic(torch.maximum), "Min": variadic(torch.minimum),
    "Sum": variadic(torch.add),
    "Equal": binary(torch.eq), "Less": binary(torch.lt), "Greater": binary(torch.gt),
    "Not": unary(torch.logical_not), "Where": op_where,
    "ReduceMean": op_reduce("mean"), "ReduceSum": op_reduce("sum"), "ReduceMax": op_reduce("max"),
    "ReduceMin": op_reduce("min"), "ReduceSumSquare": op_reduce("sumsquare"), "ReduceL2": op_reduce("l2"),
    "Resize": op_resize, "Slice": op_slice, "Reshape": op_reshape, "Flatten": op_flatten,
    "Transpose": op_transpose, "Squeeze": op_squeeze, "Unsqueeze": op_unsqueeze,
    "Concat": op_concat, "Split": op_split, "Shape": op_shape, "Gather": op_gather,
    "Expand": op_expand, "Cast": op_cast, "Constant": op_constant,
    "ConstantOfShape": op_constant_of_shape, "Pad": op_pad,
}


def from_numpy(a, fdtype):
    if a.dtype.kind == "f":
        return torch.from_numpy(np.array(a, dtype=np.float64, order="C")).to(fdtype)
    if a.dtype.kind == "b":
        return torch.from_numpy(np.array(a, order="C"))
    return torch.from_numpy(np.array(a, dtype=np.int64, order="C"))
