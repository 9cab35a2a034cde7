// Internal helpers shared by the explain sources (not installed).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "netlens/runtime.hpp"

namespace netlens::explain::detail {

// A tensor of a store as float32 values (any float dtype).
inline std::vector<float> values(const ActivationStore& st, const std::string& name) {
  return st.fetch(name).to_f32_vector();
}

inline double l2(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

}  // namespace netlens::explain::detail
