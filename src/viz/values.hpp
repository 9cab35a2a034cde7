// What the cells of the volumes show (the value mode): the activation, its gradient, or their
// product (the attribution of each neuron to the target: gradient × activation, the first-order
// contribution of a neuron's value to S). Every mode goes through the same scene, colour scales
// (diverging for signed values, robust percentiles), level of detail and picking.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "layout.hpp"
#include "netlens/runtime.hpp"

namespace netlens::viz {

enum class ValueMode { Activation, Gradient, Attribution };

// "activation" | "gradient" | "attribution"; Error{Usage} naming the flag otherwise.
ValueMode parse_value_mode(const std::string& text, const std::string& flag = "--values");
const char* value_mode_name(ValueMode m);

// The fetch function build_scene takes for a mode. Gradient and attribution read the session's
// gradients (Error{Usage} when it holds none: run Session::backward first); a tensor without a
// gradient (an integer one) is refused by build_scene like any non-float tensor. The returned
// function borrows `s`: call it while the session keeps this run.
std::function<Tensor(const std::string&)> value_fetch(const Session& s, ValueMode m);

// Where the values are on a device instead (the CUDA interop path, where a Session's activation
// arena is a Vulkan-exported buffer that render::CodeBuilder reads in place): byte offsets of the
// layout's tensors in backend `backend`'s arena (the session's planned() slots). Error{Unsupported}
// naming the tensor when one lives on another backend (a fallback node's output), is a constant, or
// is not float32.
std::vector<uint64_t> arena_offsets(const Layout& layout, const std::vector<PlannedTensor>& planned, int backend);

}  // namespace netlens::viz
