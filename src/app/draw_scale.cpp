#include "netlens/app/draw_scale.hpp"

#include <algorithm>
#include <vector>

namespace netlens::app {

float DrawScaleController::next(std::span<const double> frame_ms) {
  if (hold_ > 0) {
    --hold_;
  } else if (frame_ms.size() >= static_cast<size_t>(kWindow)) {
    std::vector<double> w(frame_ms.end() - kWindow, frame_ms.end());
    std::nth_element(w.begin(), w.begin() + kWindow / 2, w.end());
    const double med = w[kWindow / 2];
    const double s = kLevels[level_];
    auto at = [&](int l) { return med * double(kLevels[l] * kLevels[l]) / (s * s); };  // estimated at level l
    if (med > 1.1 * kBudgetMs && level_ < kTop) {
      int l = level_ + 1;
      while (l < kTop && at(l) > kBudgetMs) ++l;
      level_ = l;
      hold_ = kWindow;
    } else if (level_ > 0 && at(level_ - 1) < 0.8 * kBudgetMs) {
      --level_;
      hold_ = kWindow;
    }
  }
  return kLevels[level_];
}

}  // namespace netlens::app
