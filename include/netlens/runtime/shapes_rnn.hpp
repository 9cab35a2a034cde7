// Recurrent ops (LSTM, GRU, RNN): the node's attributes and input shapes checked and decoded once,
// shared by shape inference (shapes_rnn.cpp) and the CPU kernels (src/cpu/ops_rnn.cpp), so both
// see the same defaults and reject the same bad input with the same message.
#pragma once

#include <string>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::rnn {

enum class Cell { Rnn, Gru, Lstm };

// One activation function of the `activations` attribute (names are case-insensitive in ONNX).
struct Activation {
  enum class Kind { Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus };
  Kind kind = Kind::Sigmoid;
  float alpha = 0.0f, beta = 0.0f;
  float operator()(float x) const;
};

struct Spec {
  Cell cell = Cell::Lstm;
  int gates = 4;             // 1 (RNN), 3 (GRU: z r h), 4 (LSTM: i o f c)
  int acts_per_dir = 3;      // 1 (RNN), 2 (GRU: f g), 3 (LSTM: f g h)
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  bool reverse_only = false;  // direction "reverse" (dirs == 1)
  bool layout1 = false;       // opset >= 14 layout = 1: batch-major X/Y/states
  float clip = 0.0f;          // 0: no clip
  bool input_forget = false;  // LSTM
  bool linear_before_reset = false;  // GRU
  std::vector<Activation> acts;      // dirs * acts_per_dir: forward's, then reverse's
  bool has_bias = false, has_lens = false, has_h0 = false, has_c0 = false, has_peep = false;

  // Shapes of Y, Y_h (and Y_c): ONNX's, in the node's layout.
  Shape y_shape() const;
  Shape state_shape() const;
};

// Decodes and validates the node (inputs: X W R [B] [sequence_lens] [initial_h] [initial_c] [P];
// nullptr for omitted ones). Throws Error{Model} "<node>: what" for inconsistent shapes, an unknown
// activation or direction, a hidden_size that contradicts W/R; Error{Unsupported} for non-float X.
Spec decode(const Node& node, int64_t opset, const std::vector<const TensorInfo*>& inputs);

// Checks sequence_lens values: each in [0, seq]. Throws Error{Input} naming the node otherwise.
void check_lengths(const Node& node, const int32_t* lens, int64_t batch, int64_t seq);

// The extra tensors a recurrent node keeps besides its ONNX outputs (OpRegistry aux outputs):
// LSTM: ":cell" (every step's cell state, Y's shape) and ":gates" (every step's gate activations
// i o f c, Y's shape with 4*hidden last); GRU: ":gates" (z r h~, 3*hidden last). RNN: none (Y is
// already every step's state). Steps past a sequence's length are 0, as in Y.
std::vector<std::pair<std::string, TensorInfo>> aux_outputs(const Spec& s, DType dtype);

}  // namespace netlens::rnn
