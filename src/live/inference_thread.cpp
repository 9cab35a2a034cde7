#include "netlens/live/inference_thread.hpp"

namespace netlens::live {

InferenceThread::InferenceThread() { thread_ = std::thread([this] { loop(); }); }

InferenceThread::~InferenceThread() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void InferenceThread::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lk(m_);
    tasks_.push_back(std::move(fn));
  }
  cv_.notify_all();
}

void InferenceThread::loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // call() wraps its function in a packaged_task: exceptions travel in its future
  }
}

}  // namespace netlens::live
