// A/B comparison of two runs: two models with the same graph (fp32 and a float16 conversion, two
// checkpoints, an original and a quantized model whose tensors map) on one input, or one model on
// two inputs. The behind of `netlens inspect --diff MODEL_B | --input-b FILE` and of the diff value
// mode of the renderer.
//
// Definitions (docs/inspect.md repeats them):
// - Tensors are aligned by name. Every non-constant float tensor of run A (graph inputs and node
//   outputs, in A's plan order) is compared with B's tensor of that name. A tensor that B lacks (or
//   holds as a constant), whose shape differs in B, or that is not a float tensor in B is *unmatched*
//   (with the reason), not an error; so is a non-constant float tensor of B that A lacks.
// - Values are read as float32 (float16 B tensors converted exactly) and the figures accumulated in
//   double. Element pairs where either value is NaN/±Inf are counted (`non_finite`) and excluded.
// - max_abs_diff = max |a−b|; mean_abs_diff = Σ|a−b| / n; rel_l2_diff = ‖a−b‖₂ / ‖a‖₂, where
//   ‖a‖₂ = 0 gives 0 when ‖a−b‖₂ = 0 too and is *undefined* otherwise (JSON null,
//   `rel_l2_undefined: true`; ranked above every defined value: B diverges from an all-zero A).
// - The ranking orders the compared tensors by divergence: rel_l2_diff descending (undefined first),
//   ties by max_abs_diff descending, then plan order.
// - first_divergent: the first tensor in plan order whose rel_l2_diff exceeds `threshold`
//   (default 1e-3) or is undefined.
// Threads: pure functions of their arguments; the sessions are only read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/runtime.hpp"

namespace netlens::inspect {

struct TensorDiff {
  std::string tensor;
  std::string node, op;               // producer in A ("" for graph inputs)
  Shape shape;
  int64_t count = 0;                  // element pairs compared (finite in both)
  int64_t non_finite = 0;             // pairs skipped because a or b is NaN/±Inf
  double max_abs_diff = 0, mean_abs_diff = 0;
  double l2_a = 0, l2_diff = 0;       // ‖a‖₂, ‖a−b‖₂
  std::optional<double> rel_l2_diff;  // nullopt: undefined (‖a‖₂ = 0 < ‖a−b‖₂)
  int rank = 0;                       // 1 = most divergent
};

struct Unmatched {
  std::string tensor;
  std::string reason;                 // "missing in B", "missing in A", "shape differs", "not float in B"
  std::optional<Shape> shape_a, shape_b;
};

struct DiffOptions {
  double threshold = 1e-3;            // rel_l2_diff above which a tensor counts as divergent
};

struct DiffReport {
  std::string mode;                   // "models" | "inputs" (what differs between A and B)
  std::vector<TensorDiff> tensors;    // compared, in A's plan order
  std::vector<size_t> ranking;        // indices into `tensors`, most divergent first
  std::vector<Unmatched> unmatched;
  double threshold = 1e-3;
  // Summary.
  int64_t identical = 0;              // tensors with max_abs_diff == 0 and no non-finite pair
  int64_t divergent = 0;              // rel_l2_diff > threshold or undefined
  std::optional<size_t> first_divergent;  // index into `tensors`
  std::vector<size_t> outputs;        // indices of A's graph outputs among `tensors`
  const TensorDiff* find(const std::string& tensor) const;
};

// The figures of one pair of tensors of the same shape (any float dtypes). Error{Input} naming the
// tensor when the shapes differ or one is not a float tensor.
TensorDiff diff_tensors(const std::string& name, const Tensor& a, const Tensor& b);
// Every tensor of two sessions that have run. `mode` is recorded as given ("models" or "inputs").
DiffReport diff_runs(const Session& a, const Session& b, const std::string& mode, const DiffOptions& opt = {});

nlohmann::json to_json(const TensorDiff& d);
// `top`: how many ranked tensors the "ranking" array lists (all of them when 0); every tensor is in
// "tensors" with its rank either way.
nlohmann::json to_json(const DiffReport& r, size_t top = 0);

}  // namespace netlens::inspect
