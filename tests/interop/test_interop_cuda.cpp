// CUDA ↔ Vulkan sharing on a machine with a CUDA device (skipped elsewhere, with the reason):
// bytes written by CUDA are read back by Vulkan and vice versa, the timeline semaphore orders
// CUDA's stream and Vulkan's host waits, and a real model's every activation, computed by the CUDA
// backend into a shared arena, reads back on the Vulkan side bit for bit equal to CUDA's copy.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>

#include "netlens/interop/interop.hpp"
#include "netlens/cpu.hpp"
#include "netlens/onnx.hpp"

using namespace netlens;

namespace {

struct Fixture {
  CudaDeviceInfo info = cuda_device_info(0);
  std::unique_ptr<render::Context> ctx;
  std::string why;
  Fixture() {
    if (!info.usable) {
      why = "no usable CUDA device: " + info.error;
      return;
    }
    // No skipping from here on: a GPU machine must do interop, or the test says why it cannot.
    ctx = std::make_unique<render::Context>(interop::interop_context_options(info, {.validation = !std::getenv("NETLENS_TEST_NO_VALIDATION"), .quiet = false}));
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

#define NEED_GPU()                                  \
  Fixture& fx = fixture();                          \
  if (!fx.ctx) GTEST_SKIP() << fx.why;              \
  render::Context& ctx = *fx.ctx

}  // namespace

TEST(InteropCuda, BufferBytesBothWays) {
  NEED_GPU();
  const size_t n = (8 << 20) / sizeof(float);
  interop::SharedBuffer b(ctx, n * sizeof(float), 0);
  std::vector<float> a(n), back(n);
  std::iota(a.begin(), a.end(), 0.25f);
  ASSERT_EQ(cudaMemcpy(b.cuda_ptr(), a.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  render::read_buffer(ctx, b.buffer(), 0, back.data(), n * sizeof(float));
  EXPECT_EQ(std::memcmp(a.data(), back.data(), n * sizeof(float)), 0) << "CUDA wrote, Vulkan read";
  std::vector<float> c(n, -7.5f);
  render::write_buffer(ctx, b.buffer(), 0, c.data(), n * sizeof(float));
  ASSERT_EQ(cudaMemcpy(back.data(), b.cuda_ptr(), n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(std::memcmp(c.data(), back.data(), n * sizeof(float)), 0) << "Vulkan wrote, CUDA read";
  EXPECT_EQ(ctx.validation_error_count(), 0u);
}

TEST(InteropCuda, TimelineOrdersCudaStreamAndVulkan) {
  NEED_GPU();
  interop::SharedTimeline t(ctx);
  interop::SharedBuffer b(ctx, 64 << 20, 0);
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  // Vulkan → CUDA: the stream waits for value 1, which the host signals later.
  t.cuda_wait(s, 1);
  ASSERT_EQ(cudaMemsetAsync(b.cuda_ptr(), 0x3c, b.size(), s), cudaSuccess);
  t.cuda_signal(s, 2);
  EXPECT_EQ(cudaStreamQuery(s), cudaErrorNotReady) << "the stream must be blocked on the semaphore";
  t.vk().signal(1);
  EXPECT_TRUE(t.vk().wait(2, 10'000'000'000ull)) << "CUDA's signal after the memset never arrived";
  std::vector<uint8_t> back(4096);
  render::read_buffer(ctx, b.buffer(), b.size() - back.size(), back.data(), back.size());
  for (uint8_t v : back) ASSERT_EQ(v, 0x3c);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  cudaStreamDestroy(s);
  EXPECT_EQ(ctx.validation_error_count(), 0u);
}

TEST(InteropCuda, ModelActivationsReadBackBitForBit) {
  NEED_GPU();
  // NETLENS_MODEL_DIR: where the GPU machine's bundle keeps the models (scripts/gpu-check.sh).
  const char* dir = std::getenv("NETLENS_MODEL_DIR");
  const std::string model = (dir ? std::string(dir) : std::string(NETLENS_CACHE_DIR) + "/models") + "/ppocrv4_det.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (scripts/fetch-models.sh)";
  auto cuda = make_cuda_backend(0);
  auto cpu = make_cpu_backend();
  std::vector<std::shared_ptr<interop::SharedBuffer>> arenas;
  SessionOptions so;
  so.arena_allocator = interop::shared_arena_allocator(ctx, 0, &arenas);
  Session s(load_onnx(model), {cuda.get(), cpu.get()}, so);
  s.prepare({{s.graph().inputs[0].name, {1, 3, 320, 320}}});
  ASSERT_EQ(arenas.size(), 1u);
  Tensor x(DType::Float32, {1, 3, 320, 320});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = u(rng);
  s.run({{s.graph().inputs[0].name, x}});
  size_t compared = 0, bytes = 0;
  for (const PlannedTensor& t : s.planned()) {
    if (t.constant || t.backend != 0 || t.info.nbytes() == 0) continue;
    Tensor via_cuda = s.activations().fetch(t.name);
    std::vector<uint8_t> via_vk(t.info.nbytes());
    render::read_buffer(ctx, arenas[0]->buffer(), t.offset, via_vk.data(), via_vk.size());
    ASSERT_EQ(std::memcmp(via_cuda.data(), via_vk.data(), via_vk.size()), 0) << t.name;
    ++compared;
    bytes += via_vk.size();
  }
  std::printf("interop: %zu activations (%.1f MiB) equal bit for bit through Vulkan\n", compared, double(bytes) / (1 << 20));
  EXPECT_GT(compared, 100u);
  EXPECT_EQ(ctx.validation_error_count(), 0u);
}
