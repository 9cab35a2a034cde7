// Renderer::update_values_from_device: a frame drawn from codes the GPU made (CodeBuilder over float
// activations in a Vulkan buffer, the interop path's reductions) is the same image as the frame drawn
// after the host staging update (update_values) of the same values; and the submission honours its
// timeline wait and signal (here host-signalled: lavapipe cannot share semaphores with CUDA).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "netlens/render/code_builder.hpp"
#include "netlens/render/external_memory.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& ctx() {
  static Context c(ContextOptions{.validation = true, .quiet = true, .external_interop = true});
  return c;
}

std::vector<std::vector<float>> values_of(const viz::Scene& s) {
  std::vector<std::vector<float>> v;
  for (const auto& l : s.layers) v.push_back(l.values);
  return v;
}

const std::vector<Shape> kShapes = {{1, 3, 24, 24}, {1, 8, 12, 12}, {1, 16, 6, 6}, {1, 40}, {1, 10}};

}  // namespace

TEST(DeviceCodes, FrameEqualsTheHostStagingFrame) {
  const viz::Scene a = viz::synthetic_scene(kShapes, 1), b = viz::synthetic_scene(kShapes, 2);
  viz::Scene shown = a;
  Renderer r(ctx(), shown, RenderOptions{.width = 480, .height = 270, .msaa = 1});
  const viz::Camera cam = viz::overview_camera(shown.layout, 480.0f / 270.0f);

  shown = b;  // host path: the CPU's scene of b, uploaded through staging
  r.update_values(shown);
  r.render(cam);
  const std::vector<uint8_t> host_frame = r.rgba();

  shown = a;
  r.update_values(shown);
  r.render(cam);
  ASSERT_NE(r.rgba(), host_frame) << "the two inputs must look different for this test to mean anything";

  // Device path: b's raw activations in a Vulkan buffer, codes made by the GPU.
  ActivationBuffer act(ctx(), values_of(b));
  CodeBuilder builder(ctx(), shown.layout, act.offsets(), act.bytes());
  UploadStats st;
  std::vector<viz::ColorScale> scales = r.update_values_from_device(shown, builder, act.buffer(), nullptr, nullptr, &st);
  ASSERT_EQ(scales.size(), b.layers.size());
  for (size_t i = 0; i < scales.size(); ++i) {
    EXPECT_EQ(scales[i].kind, b.layers[i].scale.kind) << i;
    EXPECT_EQ(scales[i].lo, b.layers[i].scale.lo) << i;
    EXPECT_EQ(scales[i].hi, b.layers[i].scale.hi) << i;
    shown.layers[i].scale = scales[i];  // legends read the scene's scales
  }
  EXPECT_GT(st.bytes, 0u);
  r.render(cam);
  EXPECT_EQ(r.rgba(), host_frame) << "GPU-made codes must draw the same picture as the CPU's";
  EXPECT_EQ(ctx().validation_error_count(), 0u);
}

TEST(DeviceCodes, SubmissionWaitsForAndSignalsTheTimeline) {
  if (!ctx().external().timeline) GTEST_SKIP() << "no timeline semaphores on " << ctx().device_name();
  const viz::Scene a = viz::synthetic_scene(kShapes, 3);
  viz::Scene shown = a;
  Renderer r(ctx(), shown, RenderOptions{.width = 64, .height = 64, .msaa = 1});
  ActivationBuffer act(ctx(), values_of(a));
  CodeBuilder builder(ctx(), shown.layout, act.offsets(), act.bytes());
  VkSemaphoreTypeCreateInfo type{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                 .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE, .initialValue = 0};
  VkSemaphoreCreateInfo ci{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
  UniqueSemaphore sem;
  VK_CHECK(vkCreateSemaphore(ctx().device(), &ci, nullptr, sem.out(ctx().device())));
  // "Run 1 done" comes from another thread (CUDA's role on a GPU machine). Ordering, not timing: just
  // before it signals, the producer records whether update_values_from_device had already returned and
  // whether "consumed" (2) had already been signalled; both must still be false. The pause before
  // the signal only gives a submission that ignored its wait the time to run ahead and be caught;
  // a correct one waits however long the pause is.
  std::atomic<bool> returned{false}, returned_before_signal{true};
  uint64_t value_before_signal = ~0ull;
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    returned_before_signal = returned.load();
    VK_CHECK(vkGetSemaphoreCounterValue(ctx().device(), sem, &value_before_signal));
    VkSemaphoreSignalInfo si{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, .semaphore = sem, .value = 1};
    VK_CHECK(vkSignalSemaphore(ctx().device(), &si));
  });
  Renderer::TimelinePoint wait{sem, 1}, signal{sem, 2};
  r.update_values_from_device(shown, builder, act.buffer(), &wait, &signal);
  returned = true;
  producer.join();
  uint64_t v = 0;
  VK_CHECK(vkGetSemaphoreCounterValue(ctx().device(), sem, &v));
  EXPECT_EQ(v, 2u) << "the submission signals 'consumed'";
  EXPECT_FALSE(returned_before_signal) << "update_values_from_device returned before the producer's signal";
  EXPECT_EQ(value_before_signal, 0u) << "'consumed' was signalled before the producer's signal";
  EXPECT_EQ(ctx().validation_error_count(), 0u);
}
