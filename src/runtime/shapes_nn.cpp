#include "shapes.hpp"
#include "shape_util.hpp"

namespace netlens {

void register_nn_shapes(OpRegistry& r) { (void)r; }

}  // namespace netlens
