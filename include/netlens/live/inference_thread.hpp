// The one thread that prepares and runs a session (src/live).
//
// Why: a session is prepared and run on one thread for its whole life. oneDNN as Debian builds it
// (without concurrent execution) hands a primitive the scratchpad of the thread that created it, so
// a CPU session planned on one thread and run on another crashes inside oneDNN; and the CUDA
// runtime's current device is a per-thread setting. Before this thread existed, the live pipeline
// planned the session a second time on its own thread (so `view` prepared every model twice and
// the interop path kept two shared arenas alive).
//
// Use: make the session on this thread (call: load, prepare, first run), then hand the thread to
// the live pipeline (LivePipeline(session, config, thread)), which runs its inputs on it without
// planning again. From then on, work that runs the session (an explanation's extra runs, a backward
// pass) goes through LivePipeline::call; InferenceThread::call would wait behind the pipeline's loop.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

namespace netlens::live {

class InferenceThread {
 public:
  InferenceThread();
  // Runs the tasks already queued, then joins.
  ~InferenceThread();
  InferenceThread(const InferenceThread&) = delete;
  InferenceThread& operator=(const InferenceThread&) = delete;

  // Runs fn() on the thread and waits for it: returns its value or rethrows its exception. Called on
  // the thread itself, runs fn directly.
  template <class F>
  auto call(F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if (on_thread()) return fn();
    auto task = std::make_shared<std::packaged_task<R()>>([&fn]() -> R { return fn(); });
    std::future<R> done = task->get_future();
    post([task] { (*task)(); });
    return done.get();
  }
  // Queues fn to run on the thread (after the tasks queued before it) and returns at once.
  void post(std::function<void()> fn);
  bool on_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop();

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace netlens::live
