// The window's run below the window's priority (app/thread_priority.hpp, app::BackgroundRun's
// nice_steps; issue 13), observed from outside the threads: each thread's nice value as the kernel
// shows it in /proc/self/task/<tid>/stat (field 19). PP-OCR cls on the CPU backend (oneDNN on
// OpenMP), so the run makes an OpenMP pool.
//  - A thread that lowers its priority by 5 and then runs the session: it and every thread created
//    since it started (the OpenMP pool's workers: at least one more on a machine with 2+ cores) are
//    at the caller's nice + 5, while every thread that existed before keeps its value; a thread that
//    lowers nothing (steps 0) makes its threads at the caller's nice (the negative control).
//  - BackgroundRun with nice_steps 5 reports its thread at nice + 5 and finishes the run; the
//    calling thread keeps its nice value.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "netlens/app/progressive.hpp"
#include "netlens/app/thread_priority.hpp"
#include "netlens/cpu.hpp"
#include "netlens/io.hpp"
#include "netlens/onnx.hpp"
#include "netlens/viz/values.hpp"

using namespace netlens;

namespace {

const std::filesystem::path kModel = std::filesystem::path(NETLENS_CACHE_DIR) / "models" / "ppocr_cls.onnx";

Tensor cls_input() {
  ImagePreprocess pp{.width = 192, .height = 48, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .bgr = true};
  return load_image((std::filesystem::path(NETLENS_SAMPLES_DIR) / "line_192x48.png").string(), pp);
}

// Every thread of this process: id -> nice value (field 19 of /proc/self/task/<tid>/stat, counted
// after the command name's closing parenthesis, which may itself hold spaces).
std::map<pid_t, int> thread_nices() {
  std::map<pid_t, int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(e.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;  // the thread has just ended
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i)
      if (i == 19) out[static_cast<pid_t>(std::stoi(e.path().filename().string()))] = std::stoi(field);
  }
  return out;
}

// Runs the session on a new thread that first lowers its priority by `steps`; while that thread is
// parked after the run (its OpenMP pool alive), returns the nice values of the threads created since
// it started, and the thread's own id.
std::map<pid_t, int> threads_made_by_a_run(int steps, pid_t* runner) {
  const std::map<pid_t, int> before = thread_nices();
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session session(load_onnx(kModel.string()), std::vector<Backend*>{cpu.get()});
  const Tensor x = cls_input();
  std::mutex m;
  std::condition_variable cv;
  bool ran = false, checked = false;
  std::string error;
  std::thread t([&] {
    app::lower_thread_priority(steps);
    try {
      session.prepare({{"x", x.shape()}});
      session.run({{"x", x}});
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::unique_lock<std::mutex> lk(m);
    *runner = gettid();
    ran = true;
    cv.notify_all();
    cv.wait(lk, [&] { return checked; });
  });
  std::map<pid_t, int> made;
  {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return ran; });
    for (const auto& [tid, nice] : thread_nices())
      if (!before.count(tid)) made[tid] = nice;
    const std::map<pid_t, int> now = thread_nices();
    for (const auto& [tid, nice] : before)
      if (now.count(tid)) EXPECT_EQ(now.at(tid), nice) << "thread " << tid << " existed before and changed";
    checked = true;
    cv.notify_all();
  }
  t.join();
  EXPECT_EQ(error, "");
  return made;
}

// At least two threads in the run's OpenMP pool (itself and one worker) unless OMP_NUM_THREADS or
// the machine says one.
bool expect_pool() {
  const char* n = std::getenv("OMP_NUM_THREADS");
  return std::thread::hardware_concurrency() >= 2 && !(n && std::atoi(n) == 1);
}

class RunPriority : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kModel)) << "ppocr_cls.onnx missing: run scripts/fetch-models.sh";
    base_ = app::thread_nice();
    ASSERT_LE(base_, 14) << "the test needs room for 5 more nice steps";
  }
  int base_ = 0;
};

}  // namespace

TEST_F(RunPriority, ThreadsMadeAfterTheCallInheritTheLowerPriority) {
  pid_t runner = 0;
  const std::map<pid_t, int> made = threads_made_by_a_run(5, &runner);
  ASSERT_TRUE(made.count(runner)) << "the run's thread was not seen";
  for (const auto& [tid, nice] : made) EXPECT_EQ(nice, base_ + 5) << "thread " << tid << (tid == runner ? " (the run's)" : " (made by it)");
  if (expect_pool()) EXPECT_GE(made.size(), 2u) << "no OpenMP worker seen";
  EXPECT_EQ(app::thread_nice(), base_);  // the caller keeps its priority
  // Negative control: no steps, the same threads at the caller's nice value.
  const std::map<pid_t, int> plain = threads_made_by_a_run(0, &runner);
  if (expect_pool()) EXPECT_GE(plain.size(), 2u);
  for (const auto& [tid, nice] : plain) EXPECT_EQ(nice, base_) << "thread " << tid;
}

TEST_F(RunPriority, BackgroundRunRunsItsThreadAtTheLowerPriority) {
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  Session s(load_onnx(kModel.string()), std::vector<Backend*>{cpu.get()});
  const Tensor x = cls_input();
  s.prepare({{"x", x.shape()}});
  const viz::SceneOptions opts = viz::mode_scene_options(viz::ValueMode::Activation, {});
  for (int steps : {0, 5}) {
    app::BackgroundRun run(s, {{"x", x}}, viz::select_tensors(s.graph(), s.planned()), {}, opts, steps);
    run.join();
    const app::RunProgress p = run.progress();
    EXPECT_EQ(p.state, app::RunProgress::State::Finished) << p.message;
    EXPECT_EQ(p.nice, base_ + steps);
    EXPECT_EQ(app::thread_nice(), base_);
  }
}
