// Activation functions: which nonlinearity produced a tensor (single ops and the usual decomposed
// patterns), its curve over the range of the actual inputs, the inputs' histogram and the share of
// inputs in flat / saturated regions.
//
// Recognised (kind: formula; parameters):
//   Relu: max(0,x) | LeakyRelu: x<0 ? αx : x (alpha) | PRelu: x<0 ? s_c·x : x (slope per channel)
//   Sigmoid | Tanh | HardSigmoid: clamp(αx+β, 0, 1) (alpha, beta) | Softplus: ln(1+eˣ)
//   Elu: x<0 ? α(eˣ−1) : x (alpha) | Selu: γ·(x<0 ? α(eˣ−1) : x) (alpha, gamma)
//   Clip: clamp(x, min, max) (min, max; ±inf when absent) — Relu6 is Clip(0, 6)
//   HardSwish: x·clamp(αx+β, 0, 1) (alpha, beta; the op has α=1/6, β=0.5)
//   Silu: x·sigmoid(βx) (beta; 1 for SiLU, Paddle's swish may scale) | Gelu: 0.5x(1+erf(x/√2)) | GeluTanh: 0.5x(1+tanh(√(2/π)(x+0.044715x³)))
// Decompositions, matched on any operand order and on any split of the constant factor between
// Mul/Div nodes (x·a·b/c...): Mul(x, Sigmoid(x)) and Mul(x, Sigmoid(β·x)) → Silu; Mul(x, HardSigmoid(x)) → HardSwish;
// x·Clip(x+3, 0, 6)/6 → HardSwish; Clip(x+3, 0, 6)/6 → HardSigmoid(1/6, 0.5);
// 0.5·x·(1+Erf(x/√2)) (x/√2 as Div or Mul by 1/√2) → Gelu; Gelu op (opset 20, approximate
// "none"/"tanh"); 0.5·x·(1+Tanh(√(2/π)·(x + 0.044715·x³))) with x³ as Pow(x,3) or x·x·x → GeluTanh.
// Constants must be scalars (or tensors of one repeated value) known at prepare time; tolerance
// 1e-4 relative on them. Inner tensors of a pattern must have no reader outside the pattern.
//
// Regions (on the inputs x): flat = the derivative is exactly 0 (Relu x<0; Clip x<min or x>max;
// HardSigmoid αx+β<0 or >1; HardSwish αx+β<0); saturated = the output is within 1% of a horizontal
// asymptote or at a bound: Sigmoid |x| > ln 99 (y within 0.01 of 0 or 1); Tanh |x| > atanh(0.99);
// HardSigmoid and Clip (both bounds finite) = their flat region; Elu/Selu x < ln 0.01 (within 1% of
// −α); other kinds have no saturated region (reported as null).
//
// Contract: results hold tensor names and node indices of the view's graph, nothing borrowed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"
#include "netlens/inspect/stats.hpp"

namespace netlens::inspect {

enum class ActKind {
  Relu, LeakyRelu, PRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Silu, Gelu, GeluTanh, Clip,
  Softplus, Elu, Selu,
};
std::string act_kind_name(ActKind k);  // "Relu", "HardSwish", ...

struct Activation {
  ActKind kind = ActKind::Relu;
  double alpha = 0, beta = 0, gamma = 0;   // LeakyRelu/Elu/Selu alpha; HardSigmoid/HardSwish alpha, beta;
                                           // Silu beta (sigmoid slope); Selu gamma
  double min = 0, max = 0;                 // Clip bounds (±inf when absent)
  std::vector<float> slope;                // PRelu slope (one value, or one per channel of axis 1)
  std::string input, output;               // x and y tensors
  std::vector<size_t> nodes;               // node indices of the pattern, ascending
  bool decomposed = false;                 // more than one node
  std::string name() const { return act_kind_name(kind); }
  // y = f(x); `channel` picks the PRelu slope (ignored otherwise).
  double eval(double x, int64_t channel = 0) const;
  // Whether the derivative is exactly zero at x / the output is saturated at x (see above).
  bool flat_at(double x) const;
  bool saturated_at(double x) const;
  bool has_saturation() const;              // false: "saturated" does not apply to the kind
  bool outputs_exact_zeros() const;         // Relu, Clip with min 0, HardSwish: dead channels apply
  // Kind name for stats' saturation rule ("Sigmoid", "Tanh", "HardSigmoid") or "" when none.
  std::string saturation_kind() const;
};

// The nonlinearity whose output is `tensor` (the pattern ends at its producer), or nullopt.
std::optional<Activation> recognize_tensor(const ModelView& view, const std::string& tensor);
// The nonlinearity ending at node `node` (its first output), or nullopt.
std::optional<Activation> recognize_node(const ModelView& view, size_t node);
// Every recognised nonlinearity of the graph, by the node where it ends. Where patterns nest
// (the HardSigmoid inside a HardSwish), only the outermost is listed.
std::vector<Activation> find_activations(const ModelView& view);

struct CurvePoint {
  double x, y;
};

struct ActivationAnalysis {
  Activation act;
  int64_t inputs = 0, finite = 0;           // elements of x; finite ones (the rest are excluded)
  double x_min = 0, x_max = 0;              // finite inputs
  std::vector<CurvePoint> curve;            // y = f(x) over [x_min − 10% span, x_max + 10% span]
  Histogram input_histogram;                // of the finite inputs
  double flat_fraction = 0;                 // share of finite inputs where flat_at
  std::optional<double> saturated_fraction; // share where saturated_at; nullopt when not applicable
};

// Curve with `samples` points (≥ 2); PRelu's curve uses the mean slope. Reads x from the view.
ActivationAnalysis analyze_activation(const ModelView& view, const Activation& act, int samples = 256);

nlohmann::json to_json(const Activation& a, const ModelView* view = nullptr);  // node names when view given
nlohmann::json to_json(const ActivationAnalysis& a, const ModelView* view = nullptr);

}  // namespace netlens::inspect
