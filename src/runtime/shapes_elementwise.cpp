// Shape inference for the elementwise family: unary maths and activations, broadcasting binary and
// variadic ops, comparisons and logic, Where, Clip, the softmax family, reductions and ArgMax/ArgMin.
#include <algorithm>
#include <set>

#include "netlens/runtime/shape_util.hpp"
#include "shapes.hpp"

namespace netlens {

namespace {

std::string dtype_str(DType t) { return std::string(dtype_name(t)); }

bool is_numeric(DType t) { return is_float(t) || is_integer(t); }

void require(const InferContext& c, bool ok, const std::string& msg) {
  if (!ok) c.fail(msg);
}

void require_inputs(const InferContext& c, size_t min_count) {
  for (size_t i = 0; i < min_count; ++i) (void)c.in(i);
}

// Output i keeps input 0's dtype; every other output (none here) is ignored.
std::vector<TensorInfo> one(const InferContext& c, TensorInfo info) {
  std::vector<TensorInfo> out(std::max<size_t>(c.node.outputs.size(), 1));
  out[0] = std::move(info);
  return out;
}

// Unary op: same dtype and shape as the input, dtype restricted by `ok`.
template <class Pred>
InferFn unary(Pred ok, const char* what) {
  return [ok, what](const InferContext& c) {
    const TensorInfo& x = c.in(0);
    require(c, ok(x.dtype), "input dtype " + dtype_str(x.dtype) + " is not " + what);
    return one(c, x);
  };
}

bool float_only(DType t) { return is_float(t); }
bool numeric_only(DType t) { return is_numeric(t); }
bool signed_numeric(DType t) { return is_numeric(t) && is_signed(t); }
bool bool_only(DType t) { return t == DType::Bool; }

// Before opset 7, binary ops broadcast only with broadcast=1, placing B's dims at `axis` of A
// (default: aligned to the right, which numpy broadcasting already does). Returns B's shape padded
// with trailing 1s so that numpy broadcasting gives the legacy result.
Shape legacy_b_shape(const InferContext& c, const Shape& a, const Shape& b) {
  if (c.opset >= 7 || c.node.attr_int("broadcast", 0) == 0 || !c.node.has_attr("axis")) return b;
  const int64_t ra = static_cast<int64_t>(a.size()), rb = static_cast<int64_t>(b.size());
  int64_t axis = c.node.attr_int("axis", ra - rb);
  if (axis < 0) axis += ra;
  if (axis < 0 || axis + rb > ra)
    c.fail("legacy broadcast axis " + std::to_string(axis) + " does not fit B " + shape_str(b) + " into A " +
           shape_str(a));
  Shape padded = b;
  padded.resize(static_cast<size_t>(ra - axis), 1);
  return padded;
}

// Multidirectional broadcast of inputs [0, n) with equal dtypes; result dtype `out` (Undefined keeps
// the inputs' dtype).
InferFn broadcast_op(bool (*ok)(DType), const char* what, DType out_dtype, bool variadic) {
  return [=](const InferContext& c) {
    const size_t n = variadic ? c.num_inputs() : 2;
    require(c, n >= 1, "needs at least one input");
    require_inputs(c, n);
    std::vector<Shape> shapes;
    const DType t = c.in(0).dtype;
    require(c, ok(t), "input dtype " + dtype_str(t) + " is not " + what);
    for (size_t i = 0; i < n; ++i) {
      require(c, c.in(i).dtype == t,
              "inputs have different dtypes (" + dtype_str(t) + " and " + dtype_str(c.in(i).dtype) + ")");
      shapes.push_back(c.in(i).shape);
    }
    if (!variadic) shapes[1] = legacy_b_shape(c, shapes[0], shapes[1]);
    return one(c, {out_dtype == DType::Undefined ? t : out_dtype, broadcast_all(shapes, c.node.describe())});
  };
}

bool any_dtype(DType t) { return t != DType::Undefined; }

// Reduction axes: attribute before `input_opset`, optional constant input 1 from it on.
// Returns the sorted, normalised, de-duplicated axes; empty means "no axes given".
std::vector<int64_t> reduce_axes(const InferContext& c, int64_t input_opset, int64_t rank) {
  std::vector<int64_t> axes;
  if (c.opset >= input_opset) {
    if (c.has(1)) axes = c.require_constant(1).to_i64_vector();
  } else {
    axes = c.node.attr_ints("axes");
  }
  std::set<int64_t> seen;
  for (int64_t& a : axes) {
    a = normalize_axis(a, rank, c.node.describe());
    require(c, seen.insert(a).second, "axis " + std::to_string(a) + " is listed twice");
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

InferFn reduce_op(int64_t input_opset) {
  return [=](const InferContext& c) {
    const TensorInfo& x = c.in(0);
    require(c, is_numeric(x.dtype), "input dtype " + dtype_str(x.dtype) + " is not numeric");
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    const std::vector<int64_t> axes = reduce_axes(c, input_opset, rank);
    const bool keepdims = c.node.attr_int("keepdims", 1) != 0;
    const bool noop = c.opset >= input_opset && c.node.attr_int("noop_with_empty_axes", 0) != 0;
    if (axes.empty() && noop) return one(c, x);
    Shape out;
    for (int64_t d = 0; d < rank; ++d) {
      const bool reduced = axes.empty() || std::binary_search(axes.begin(), axes.end(), d);
      if (!reduced) out.push_back(x.shape[static_cast<size_t>(d)]);
      else if (keepdims) out.push_back(1);
    }
    return one(c, {x.dtype, out});
  };
}

std::vector<TensorInfo> arg_op(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  require(c, is_numeric(x.dtype), "input dtype " + dtype_str(x.dtype) + " is not numeric");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  require(c, rank >= 1, "input must have rank >= 1");
  const int64_t axis = normalize_axis(c.node.attr_int("axis", 0), rank, c.node.describe());
  Shape out = x.shape;
  if (c.node.attr_int("keepdims", 1) != 0) out[static_cast<size_t>(axis)] = 1;
  else out.erase(out.begin() + axis);
  return one(c, {DType::Int64, out});
}

// Softmax, LogSoftmax, Hardmax: same shape; the axis must be valid for the rank.
std::vector<TensorInfo> softmax_op(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  require(c, is_float(x.dtype), "input dtype " + dtype_str(x.dtype) + " is not a float type");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t def = c.opset >= 13 ? -1 : 1;
  const int64_t axis = c.node.attr_int("axis", def);
  if (rank == 0) {
    // A scalar has no axis to normalise over; only the spec's defaults make sense.
    require(c, axis == -1 || axis == 0 || (c.opset < 13 && axis == 1), "axis out of range for a scalar");
  } else {
    // Before opset 13 axis == rank is allowed (the 2-D coercion puts every dim in the batch).
    if (!(c.opset < 13 && axis == rank)) normalize_axis(axis, rank, c.node.describe());
  }
  return one(c, x);
}

std::vector<TensorInfo> clip_op(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  require(c, is_numeric(x.dtype), "input dtype " + dtype_str(x.dtype) + " is not numeric");
  if (c.opset >= 11) {
    for (size_t i = 1; i <= 2; ++i)
      if (c.has(i)) {
        require(c, c.in(i).dtype == x.dtype, "min/max dtype differs from the input's");
        require(c, numel(c.in(i).shape) == 1, "min/max must be scalars, got shape " + shape_str(c.in(i).shape));
      }
  }
  return one(c, x);
}

std::vector<TensorInfo> prelu_op(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& slope = c.in(1);
  require(c, is_numeric(x.dtype) && slope.dtype == x.dtype,
          "X and slope must share a numeric dtype (" + dtype_str(x.dtype) + ", " + dtype_str(slope.dtype) + ")");
  // Unidirectional: the slope broadcasts to X, never the reverse.
  if (broadcast_shapes(x.shape, slope.shape, c.node.describe()) != x.shape)
    c.fail("slope shape " + shape_str(slope.shape) + " does not broadcast to X shape " + shape_str(x.shape));
  return one(c, x);
}

std::vector<TensorInfo> pow_op(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  const TensorInfo& y = c.in(1);
  require(c, is_numeric(x.dtype) && is_numeric(y.dtype),
          "base and exponent must be numeric (" + dtype_str(x.dtype) + ", " + dtype_str(y.dtype) + ")");
  return one(c, {x.dtype, broadcast_shapes(x.shape, legacy_b_shape(c, x.shape, y.shape), c.node.describe())});
}

std::vector<TensorInfo> where_op(const InferContext& c) {
  require_inputs(c, 3);
  require(c, c.in(0).dtype == DType::Bool, "condition must be bool, got " + dtype_str(c.in(0).dtype));
  require(c, c.in(1).dtype == c.in(2).dtype,
          "X and Y have different dtypes (" + dtype_str(c.in(1).dtype) + ", " + dtype_str(c.in(2).dtype) + ")");
  return one(c, {c.in(1).dtype, broadcast_all({c.in(0).shape, c.in(1).shape, c.in(2).shape}, c.node.describe())});
}

std::vector<TensorInfo> bitshift_op(const InferContext& c) {
  require_inputs(c, 2);
  const DType t = c.in(0).dtype;
  require(c, is_integer(t) && !is_signed(t), "BitShift needs unsigned integers, got " + dtype_str(t));
  require(c, c.in(1).dtype == t, "inputs have different dtypes");
  const std::string dir = c.node.attr_string("direction", "");
  require(c, dir == "LEFT" || dir == "RIGHT", "direction must be LEFT or RIGHT, got '" + dir + "'");
  return one(c, {t, broadcast_shapes(c.in(0).shape, c.in(1).shape, c.node.describe())});
}

std::vector<TensorInfo> to_bool_op(const InferContext& c) {
  const TensorInfo& x = c.in(0);
  require(c, is_float(x.dtype), "input dtype " + dtype_str(x.dtype) + " is not a float type");
  return one(c, {DType::Bool, x.shape});
}

}  // namespace

void register_elementwise_shapes(OpRegistry& r) {
  // Float-only unary maths and activations.
  for (const char* op : {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Elu", "Selu",
                         "Celu", "ThresholdedRelu", "Mish", "Erf", "Gelu", "Sqrt", "Exp", "Log", "Reciprocal",
                         "Floor", "Ceil", "Round", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
                         "Asinh", "Acosh", "Atanh"})
    r.add(op, unary(float_only, "a float type"));
  // Also defined on signed integers.
  r.add("LeakyRelu", unary(float_only, "a float type"));
  for (const char* op : {"Relu", "Neg"}) r.add(op, unary(signed_numeric, "a signed numeric type"));
  for (const char* op : {"Abs", "Sign"}) r.add(op, unary(numeric_only, "numeric"));
  r.add("Not", unary(bool_only, "bool"));
  r.add("IsNaN", to_bool_op);
  r.add("IsInf", to_bool_op);

  for (const char* op : {"Add", "Sub", "Mul", "Div", "Mod"})
    r.add(op, broadcast_op(numeric_only, "numeric", DType::Undefined, false));
  for (const char* op : {"Min", "Max", "Sum"}) r.add(op, broadcast_op(numeric_only, "numeric", DType::Undefined, true));
  r.add("Mean", broadcast_op(float_only, "a float type", DType::Undefined, true));
  r.add("Equal", broadcast_op(any_dtype, "defined", DType::Bool, false));
  for (const char* op : {"Greater", "Less", "GreaterOrEqual", "LessOrEqual"})
    r.add(op, broadcast_op(numeric_only, "numeric", DType::Bool, false));
  for (const char* op : {"And", "Or", "Xor"}) r.add(op, broadcast_op(bool_only, "bool", DType::Bool, false));
  r.add("Pow", pow_op);
  r.add("PRelu", prelu_op);
  r.add("Where", where_op);
  r.add("BitShift", bitshift_op);
  r.add("Clip", clip_op);

  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) r.add(op, softmax_op);

  r.add("ReduceSum", reduce_op(13));
  for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
    r.add(op, reduce_op(18));
  r.add("ArgMax", arg_op);
  r.add("ArgMin", arg_op);
}

}  // namespace netlens
