// Benchmark (DISABLED_: run by hand, docs/PERFORMANCE.md records its figures): loading and switching
// 50 checkpoints of ResNet-18 (torchvision, random weights perturbed per checkpoint;
// make_resnet_checkpoints.py writes them, 2.2 GB, into this build folder on first use).
//   OMP_NUM_THREADS=1 build/bench/netlens_timeline_bench --gtest_also_run_disabled_tests
// Prints, per loading mode, the median milliseconds to read a checkpoint, to run the probe on it, and
// the wall time of a pass over all 50 in order and in a shuffled (scrubbing) order.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "netlens/cpu.hpp"
#include "netlens/timeline.hpp"
#include "runs_util.hpp"

namespace netlens::test {
namespace {

namespace tl = netlens::timeline;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void bench(const std::string& dir, bool reuse, bool gradients, bool shuffled) {
  auto cpu = make_cpu_backend();
  tl::SeriesOptions so;
  so.reuse_session = reuse;
  const auto t0 = std::chrono::steady_clock::now();
  tl::Series s(tl::discover_checkpoints({dir}), {cpu.get()}, so);
  tl::Probe probe;
  probe.inputs["x"] = read_npy(dir + "/probe.npy");
  if (gradients) probe.labels = {7};
  std::vector<size_t> order(s.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (shuffled) std::shuffle(order.begin(), order.end(), std::mt19937(1));
  std::vector<double> load, run, back, total;
  for (size_t i : order) {
    const auto a = std::chrono::steady_clock::now();
    const tl::CheckpointPoint& p = s.load(i, probe);
    total.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    load.push_back(p.load_ms);
    run.push_back(p.run_ms);
    back.push_back(p.backward_ms);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"checkpoints\": %zu, \"reuse\": %s, \"gradients\": %s, \"order\": \"%s\", \"median_ms\": {\"load\": %.1f, "
              "\"run\": %.1f, \"backward\": %.1f, \"switch_total\": %.1f}, \"wall_s\": %.1f}\n",
              s.size(), reuse ? "true" : "false", gradients ? "true" : "false", shuffled ? "shuffled" : "in order",
              median(load), median(run), median(back), median(total), wall);
  std::fflush(stdout);
  EXPECT_EQ(s.reuses_session(), reuse);
}

TEST(Bench, DISABLED_Resnet18FiftyCheckpoints) {
  const std::string dir = std::string(NETLENS_TIMELINE_RUNS) + "/../resnet";
  const CmdResult g = run_cmd("test -f " + dir + "/ckpt_49.onnx || /usr/bin/python3 " + std::string(NETLENS_SOURCE_DIR) +
                              "/tests/timeline/make_resnet_checkpoints.py " + dir + " 50");
  ASSERT_EQ(g.status, 0) << g.err;
  bench(dir, true, false, false);
  bench(dir, true, false, true);
  bench(dir, false, false, false);
  bench(dir, true, true, false);
}

}  // namespace
}  // namespace netlens::test
