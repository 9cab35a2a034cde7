// The heat over the model input from the gradients a session already holds (the viewer's input slab
// in the gradient modes): no new run, unlike explain(), which reruns the session per method.
#include <algorithm>
#include <cmath>

#include "explain_util.hpp"
#include "netlens/explain.hpp"

namespace netlens::explain {

Heatmap input_heat(const Session& s, bool gradient_x_input) {
  if (!s.has_gradients()) throw Error(ErrorKind::Usage, "the input heat needs gradients: run backward first");
  const InputLayout l = input_layout(s);
  const std::vector<float> g = detail::values(s.gradients(), l.name);
  std::vector<float> xv;
  if (gradient_x_input) xv = detail::values(s.activations(), l.name);
  Heatmap h;
  h.height = l.height, h.width = l.width, h.signed_values = gradient_x_input;
  h.values.assign(static_cast<size_t>(l.height * l.width), 0.0f);
  // The same reduction (and float order) as explain()'s saliency and gradient × input maps.
  for (int64_t y = 0; y < l.height; ++y)
    for (int64_t x = 0; x < l.width; ++x) {
      float acc = 0;
      for (int64_t c = 0; c < l.channels; ++c) {
        const size_t k = static_cast<size_t>(l.offset(c, y, x));
        acc = gradient_x_input ? acc + g[k] * xv[k] : std::max(acc, std::abs(g[k]));
      }
      h.values[static_cast<size_t>(y * l.width + x)] = acc;
    }
  return h;
}

Tensor input_heat_volume(const Session& s, const Heatmap& h) {
  const InputLayout l = input_layout(s);
  if (h.height != l.height || h.width != l.width)
    throw Error(ErrorKind::Internal, "input_heat_volume: a " + std::to_string(h.height) + "x" + std::to_string(h.width) +
                                         " map for a " + std::to_string(l.height) + "x" + std::to_string(l.width) + " input");
  const Shape shape = l.nhwc ? Shape{1, l.height, l.width, l.channels} : Shape{1, l.channels, l.height, l.width};
  std::vector<float> v(static_cast<size_t>(l.channels * l.height * l.width));
  for (int64_t c = 0; c < l.channels; ++c)
    for (int64_t y = 0; y < l.height; ++y)
      for (int64_t x = 0; x < l.width; ++x)
        v[static_cast<size_t>(l.offset(c, y, x))] = h.values[static_cast<size_t>(y * l.width + x)];
  return Tensor::from_f32(shape, v);
}

}  // namespace netlens::explain
