// Shape-inference families; each registers its op types in the global OpRegistry.
#pragma once

#include "netlens/runtime.hpp"

namespace netlens {

void register_nn_shapes(OpRegistry& r);           // shapes_nn.cpp
void register_elementwise_shapes(OpRegistry& r);  // shapes_elementwise.cpp
void register_tensor_shapes(OpRegistry& r);       // shapes_tensor.cpp
void register_rnn_shapes(OpRegistry& r);          // shapes_rnn.cpp: LSTM, GRU, RNN
void register_quant_shapes(OpRegistry& r);        // shapes_quant.cpp
void register_quant_ms_shapes(OpRegistry& r);     // shapes_quant_ms.cpp (com.microsoft QLinear*)

}  // namespace netlens
