// Deferred outputs (runtime.hpp, "Deferred clamps", "Deferred chain values"): written into their
// arena slots on the first read of the store after each run; a clamp from its input with the Clip
// kernel's expression (clamp_into), a chain value by its chain.
#if defined(__GNUC__) && !defined(__clang__)
// Lets GCC vectorise the selects (as the CPU backend's elementwise kernels; no code reads FP flags).
#pragma GCC optimize("no-trapping-math")
#endif
#include <map>
#include <mutex>

#include "netlens/runtime.hpp"
#include "session_impl.hpp"

namespace netlens {

struct ActivationStore::DeferredState {
  std::mutex mutex;
  uint64_t run = 1;
  std::map<size_t, uint64_t> written;  // tensor -> the run whose values its slot holds
};

void detail::clamp_into(const float* x, float* y, size_t n, Clamp c) {
  for (size_t i = 0; i < n; ++i) y[i] = c(x[i]);
}

void ActivationStore::materialize(size_t tensor) const {
  auto d = deferred_.find(tensor);
  if (d == deferred_.end() || !deferred_state_) return;
  std::lock_guard<std::mutex> lock(deferred_state_->mutex);
  uint64_t& at = deferred_state_->written[tensor];
  if (at == deferred_state_->run) return;
  d->second.fill();
  at = deferred_state_->run;
}

void ActivationStore::materialize_all() const {
  for (const auto& [t, d] : deferred_) materialize(t);
}

void ActivationStore::reset_deferred() {
  deferred_.clear();
  deferred_state_ = std::make_shared<DeferredState>();
}

void ActivationStore::new_run() const {
  if (!deferred_state_) return;
  std::lock_guard<std::mutex> lock(deferred_state_->mutex);
  ++deferred_state_->run;
}

}  // namespace netlens
