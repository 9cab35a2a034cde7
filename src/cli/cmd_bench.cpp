// netlens bench: latency of whole runs (every activation retained), median and spread.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

#include "common.hpp"

namespace netlens::cli {
namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

int run_bench(const std::vector<std::string>& argv) {
  std::vector<std::string> flags = kModelFlags;
  flags.insert(flags.end(), {"runs", "warmup"});
  std::vector<std::string> bools = kModelBoolFlags;
  bools.push_back("json");
  Args a(argv, flags, bools, kModelRepeated);
  ModelOptions o = parse_model_options(a);
  o.quiet = true;
  const int64_t runs = a.get_int("runs", 20), warmup = a.get_int("warmup", 3);
  if (runs < 1 || warmup < 0) throw Error(ErrorKind::Usage, "--runs must be ≥ 1 and --warmup ≥ 0");

  LoadedModel m = load_model(o, true);
  for (int64_t i = 0; i < warmup; ++i) run_once(m);
  std::vector<double> t;
  for (int64_t i = 0; i < runs; ++i) t.push_back(run_once(m));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double med = percentile(t, 0.5), p10 = percentile(t, 0.1), p90 = percentile(t, 0.9);
  const double mn = *std::min_element(t.begin(), t.end()), mx = *std::max_element(t.begin(), t.end());
  const std::string backend = m.backends.front()->name();
  const size_t act = m.session->report().activation_bytes;
  if (a.has("json")) {
    std::printf("{\"model\": \"%s\", \"backend\": \"%s\", \"runs\": %lld, \"median_ms\": %.4f, \"p10_ms\": %.4f, "
                "\"p90_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"activation_bytes\": %zu, \"peak_rss_bytes\": %lld}\n",
                json_escape(o.model).c_str(), backend.c_str(), static_cast<long long>(runs), med, p10, p90, mn, mx, act,
                static_cast<long long>(ru.ru_maxrss) * 1024);
    return 0;
  }
  std::printf("model        %s\nbackend      %s\nruns         %lld after %lld warm-up\n", o.model.c_str(),
              backend.c_str(), static_cast<long long>(runs), static_cast<long long>(warmup));
  std::printf("latency      median %.3f ms  (p10 %.3f, p90 %.3f, min %.3f, max %.3f)\n", med, p10, p90, mn, mx);
  std::printf("activations  %s kept\npeak RSS     %s\n", human_bytes(act).c_str(),
              human_bytes(static_cast<size_t>(ru.ru_maxrss) * 1024).c_str());
  return 0;
}

NETLENS_COMMAND("bench", "bench MODEL [--backend cpu|cuda|auto] [--runs N] [--warmup N] [--json] [--input ...]",
                "latency of whole runs with every activation retained: median and spread, peak memory", run_bench);

}  // namespace
}  // namespace netlens::cli
