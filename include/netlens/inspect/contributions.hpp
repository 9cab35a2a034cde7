// Neuron contributions: the exact terms w·x that make one output neuron of a Conv, Gemm or MatMul,
// and the neurons of the next linear layers that this neuron feeds.
//
// What is analysed: the neuron `index` (flat, row-major) of `tensor`. When `tensor` is the output of
// Conv / Gemm / MatMul it is analysed directly. When it is the output of an elementwise chain right
// after one (Relu, HardSwish, Sigmoid, Clip..., or Add/Sub/Mul/Div with a constant operand; same
// shape all along; Identity/Dropout pass through), the chain is reported and the linear node's output
// neuron at the same flat index is analysed: `pre_activation` is that neuron's value, `value` the
// requested one. Nonlinearities written as several nodes (x·Clip(x+3,0,6)/6, x·Sigmoid(x), GELU's
// erf form; recognised by activation_fn.hpp) are one chain step named by their kind ("HardSwish").
// BatchNormalization, pooling and anything else ends the chain (Error{Usage}).
//
// Terms: one per (input element, weight element) pair that is multiplied into the neuron; taps that
// fall on a convolution's zero padding are not terms (they add nothing). For Gemm the term is
// alpha·w·x and the bias beta·C (broadcast); for MatMul there is no bias. `weight` is the constant
// operand when exactly one operand is constant, otherwise the second operand (MatMul of two
// activations, e.g. attention). Sums are in double; `difference` = sum − pre_activation, which is the
// float32 rounding of the engine (expected ≤ 1e-5 relative on real models).
//
// fed_by_next: from the requested neuron, forward through the same kind of elementwise chain (the
// decomposed nonlinearities included) and
// through Reshape/Flatten/Squeeze/Unsqueeze (which keep the flat index), every Conv/Gemm/MatMul that
// reads it; their output neurons that read it (viz::fan_out, exact) with the weight linking them and
// the term w·x each receives from it; the top_k by |term| over all of them.
//
// Contract: pure functions of a ModelView (the session must have run); not thread-safe with a run of
// the same session. Errors: Error{Usage} for an unknown tensor, an index out of range or a tensor
// that is not (after a chain) a Conv/Gemm/MatMul output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlens/inspect/model_view.hpp"

namespace netlens::inspect {

struct ContributionTerm {
  std::string input;                 // activation tensor (operand read as x)
  int64_t input_index = 0;           // flat
  std::vector<int64_t> input_coords;
  std::string weight;                // weight tensor (operand read as w)
  int64_t weight_index = 0;          // flat
  double weight_value = 0;           // w as stored (Gemm: before alpha)
  double activation = 0;             // x
  double term = 0;                   // w·x (Gemm: alpha·w·x)
};

struct FedNeuron {
  std::string node;                  // the consuming Conv/Gemm/MatMul
  std::string tensor;                // its output
  int64_t index = 0;                 // flat, in `tensor`
  std::vector<int64_t> coords;
  std::string weight;                // weight tensor linking the two neurons
  int64_t weight_index = 0;
  double weight_value = 0;
  double activation = 0;             // the value this layer reads (after the chain)
  double term = 0;                   // w·x it receives from the neuron (Gemm: alpha·w·x)
};

struct Contributions {
  std::string tensor;                // as requested
  int64_t index = 0;
  std::vector<int64_t> coords;
  double value = 0;                  // requested neuron's value
  std::vector<std::string> chain;    // ops between the linear node and `tensor`, in data-flow order
  std::string linear_tensor;         // the Conv/Gemm/MatMul output analysed (== tensor without chain)
  std::string node, op;              // that node
  double pre_activation = 0;         // linear_tensor[index]
  std::string bias_tensor;           // "" when there is none
  int64_t bias_index = -1;
  double bias = 0;                   // Gemm: beta·C
  std::vector<ContributionTerm> terms;  // every term, in the op's loop order
  std::vector<size_t> top;           // indices into terms, largest |term| first (top_k)
  double sum = 0;                    // Σ terms + bias (double)
  double difference = 0;             // sum − pre_activation
  double positive_total = 0, negative_total = 0;  // Σ of positive / negative terms
  int64_t padding_taps = 0;          // conv taps on zero padding (not terms)
  std::vector<FedNeuron> fed_by_next;  // top_k by |term|, largest first
  int64_t fed_count = 0;             // all neurons fed (before top_k)
};

Contributions contributions(const ModelView& view, const std::string& tensor, int64_t flat_index,
                            size_t top_k = 10);

// "TENSOR:INDEX" where INDEX is flat ("conv1:1234") or coordinates ("conv1:0,5,3,7"); the tensor
// name may itself contain ':' (split at the last one). Returns the flat index; Error{Usage} when
// malformed or out of range.
int64_t parse_neuron_index(const ModelView& view, const std::string& spec, std::string& tensor);

// JSON: everything above; `terms` holds only the top ones unless all_terms (real Gemm neurons have
// tens of thousands). Keys documented in docs/inspect.md.
nlohmann::json to_json(const Contributions& c, bool all_terms = false);

}  // namespace netlens::inspect
