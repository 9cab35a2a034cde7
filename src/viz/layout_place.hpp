// Internal to the layout (layout.cpp → layout_place.cpp): places sized volumes whose `level` is set.
#pragma once

#include "netlens/viz/layout.hpp"

namespace netlens::viz::detail {
// Sets origin, lane, row, dir and spine of every volume, and Layout::rows / u_shape (not min/max).
void place_volumes(Layout& L, const LayoutOptions& opts);
}  // namespace netlens::viz::detail
