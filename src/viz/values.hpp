// What the cells of the volumes show (the value mode): the activation, its gradient, or their
// product (the attribution of each neuron to the target: gradient × activation, the first-order
// contribution of a neuron's value to S). Every mode goes through the same scene, colour scales
// (diverging for signed values, robust percentiles), level of detail and picking.
#pragma once

#include <functional>
#include <string>

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

}  // namespace netlens::viz
