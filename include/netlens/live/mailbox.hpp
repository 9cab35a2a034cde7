// A single-slot mailbox between two threads (the live path's hand-over: frames to the inference
// thread, results to the render thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

namespace netlens::live {

// A single-slot mailbox between two threads: put() replaces a value not yet taken (the newest
// wins; the replaced one counts as dropped). Thread safe.
template <class T>
class Mailbox {
 public:
  // Returns true when an unread value was replaced (dropped).
  bool put(T v) {
    std::lock_guard<std::mutex> lk(m_);
    const bool replaced = slot_.has_value();
    if (replaced) ++dropped_;
    slot_ = std::move(v);
    ++puts_;
    cv_.notify_all();
    return replaced;
  }
  std::optional<T> take() {
    std::lock_guard<std::mutex> lk(m_);
    return take_locked();
  }
  // Waits up to `timeout` for a value; nullopt on timeout or once closed and empty.
  template <class Rep, class Period>
  std::optional<T> wait_take(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait_for(lk, timeout, [&] { return slot_.has_value() || closed_; });
    return take_locked();
  }
  bool has_value() const {
    std::lock_guard<std::mutex> lk(m_);
    return slot_.has_value();
  }
  void close() {
    std::lock_guard<std::mutex> lk(m_);
    closed_ = true;
    cv_.notify_all();
  }
  bool closed() const {
    std::lock_guard<std::mutex> lk(m_);
    return closed_;
  }
  uint64_t dropped() const {
    std::lock_guard<std::mutex> lk(m_);
    return dropped_;
  }
  uint64_t puts() const {
    std::lock_guard<std::mutex> lk(m_);
    return puts_;
  }

 private:
  std::optional<T> take_locked() {
    std::optional<T> out;
    out.swap(slot_);
    return out;
  }
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::optional<T> slot_;
  uint64_t dropped_ = 0, puts_ = 0;
  bool closed_ = false;
};

}  // namespace netlens::live
