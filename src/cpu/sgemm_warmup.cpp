// The sgemm set-up thread (contract in sgemm_warmup.hpp).
#include "sgemm_warmup.hpp"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>

namespace netlens::cpu {
namespace {

std::mutex g_mutex;
std::thread* g_thread = nullptr;  // joined and deleted by finish_sgemm_warmup, else left at exit
bool g_started = false;

}  // namespace

void start_sgemm_warmup() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_started) return;
  g_started = true;
  const char* v = std::getenv("NETLENS_SGEMM_WARMUP");
  if (v && std::string_view(v) == "0") return;
  g_thread = new std::thread([] {
    // One thread: this thread's OpenMP team would otherwise be a second pool of workers.
    omp_set_num_threads(1);
    // An 8x8x8 product takes the JIT path and sets it up (a 1x1x1 one does not); a one-row product
    // against a transposed B, the fc layers' Gemm at batch 1, sets up the matrix-vector kernels.
    float a[64] = {}, b[64] = {}, c[64] = {};
    (void)dnnl_sgemm('N', 'N', 8, 8, 8, 1.f, a, 8, b, 8, 0.f, c, 8);
    (void)dnnl_sgemm('N', 'T', 1, 8, 8, 1.f, a, 8, b, 8, 0.f, c, 8);
  });
}

void start_sgemm_warmup_for(const_dnnl_primitive_desc_t pd) {
  const char* impl = nullptr;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
      std::strstr(impl, "gemm"))
    start_sgemm_warmup();
}

void finish_sgemm_warmup() {
  std::lock_guard<std::mutex> lock(g_mutex);
  // (In a child forked while the thread ran, glibc marks the thread finished: the join returns.)
  if (!g_thread) return;
  g_thread->join();
  delete g_thread;
  g_thread = nullptr;
}

}  // namespace netlens::cpu
