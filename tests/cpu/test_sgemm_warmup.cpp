// The CPU backend's sgemm set-up thread (src/cpu/sgemm_warmup.hpp): planning starts it, so that
// oneDNN's one-time JIT set-up overlaps prepare instead of the first run. What can go wrong is not
// the numbers (the thread computes nothing the run reads) but the process around it: a process
// that plans and ends at once (a bad model rejected during prepare, `netlens info`) must wait for
// the thread before oneDNN's static objects are destroyed at exit. Without the wait in the
// backend's destructor, 1 run in 3 of this test had a child crash at exit. Each child's exit status
// is checked with a 20 s limit (a hang fails, it does not stall CTest).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "netlens/cpu.hpp"
#include "netlens/runtime.hpp"

using namespace netlens;

namespace {

// Plans a batch-1 Gemm with a constant B on `b`: the kernel calls oneDNN's sgemm, so planning it
// starts the set-up thread.
void plan_one(Backend& b) {
  Node node;
  node.name = "fc";
  node.op_type = "Gemm";
  node.attrs["transB"] = int64_t{1};
  node.inputs = {"x", "w"};
  node.outputs = {"y"};
  const Tensor w(DType::Float32, Shape{16, 32});
  NodeContext ctx{node, 13, {TensorInfo{DType::Float32, Shape{1, 32}}, TensorInfo{DType::Float32, Shape{16, 32}}},
                  {TensorInfo{DType::Float32, Shape{1, 16}}}, {nullptr, &w}};
  ASSERT_NE(b.plan(ctx), nullptr);
}

// Waits up to 20 s for `pid`; its exit status, or -1 when it hung (then killed) or did not exit.
int wait_status(pid_t pid) {
  for (int i = 0; i < 2000; ++i) {
    int st = 0;
    const pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace

TEST(SgemmWarmup, ProcessEndingRightAfterPlanningExitsCleanly) {
  // Each child starts the thread and ends at once: while oneDNN is setting up, or just after.
  for (int k = 0; k < 24; ++k) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto b = make_cpu_backend();
      plan_one(*b);
      if (k % 2) std::this_thread::sleep_for(std::chrono::milliseconds((k % 8) * 3));
      b.reset();
      std::exit(0);
    }
    EXPECT_EQ(wait_status(pid), 0) << "child " << k;
  }
}
