// choose_data_path: every requirement of the interop path, and the one line that names the choice.
#include <gtest/gtest.h>

#include "netlens/live/data_path.hpp"
#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"

using namespace netlens;
using namespace netlens::live;

namespace {

render::DeviceInfo gpu(uint8_t id, bool mem = true, bool sem = true, bool timeline = true) {
  render::DeviceInfo d{.name = "GPU" + std::to_string(id), .type = "discrete", .api_version = VK_API_VERSION_1_3, .usable = true};
  d.uuid.fill(id);
  d.external = {.memory_fd = mem, .semaphore_fd = sem, .timeline = timeline, .timeline_fd = timeline};
  return d;
}

DataPathInputs cuda_on(uint8_t id) {
  DataPathInputs in{.cuda_backend = true, .interop_built = true};
  in.cuda_uuid.fill(id);
  return in;
}

}  // namespace

TEST(DataPath, NoCudaIsHostStagingNamingWhy) {
  DataPathInputs in{.cuda_backend = false, .cuda_reason = "no usable CUDA device: cudaErrorInsufficientDriver"};
  in.vulkan = {gpu(1)};
  DataPathChoice c = choose_data_path(in);
  EXPECT_EQ(c.path, DataPath::HostStaging);
  EXPECT_EQ(c.line, "data path: cpu + staging upload (no usable CUDA device: cudaErrorInsufficientDriver)");
  in.interop = "on";
  EXPECT_THROW(choose_data_path(in), Error);
}

TEST(DataPath, InteropPicksTheDeviceWithCudasUuid) {
  DataPathInputs in = cuda_on(2);
  in.vulkan = {gpu(1), gpu(2), gpu(3)};
  DataPathChoice c = choose_data_path(in);
  EXPECT_EQ(c.path, DataPath::Interop);
  EXPECT_EQ(c.vulkan_device, 1);
  EXPECT_NE(c.line.find("GPU2"), std::string::npos) << c.line;
}

TEST(DataPath, EachMissingRequirementFallsBackToDeviceStaging) {
  struct Case { DataPathInputs in; std::string why; };
  std::vector<Case> cases;
  { auto in = cuda_on(2); in.vulkan = {gpu(1)}; cases.push_back({in, "UUID"}); }
  { auto in = cuda_on(2); in.vulkan = {gpu(2, false)}; cases.push_back({in, "external_memory_fd"}); }
  { auto in = cuda_on(2); in.vulkan = {gpu(2, true, false)}; cases.push_back({in, "external_semaphore_fd"}); }
  { auto in = cuda_on(2); in.vulkan = {gpu(2, true, true, false)}; cases.push_back({in, "timeline"}); }
  { auto in = cuda_on(2); in.vulkan = {gpu(2)}; in.interop_built = false; cases.push_back({in, "built without"}); }
  { auto in = cuda_on(2); in.vulkan = {gpu(2)}; in.vulkan[0].usable = false; cases.push_back({in, "Vulkan 1.3"}); }
  { auto in = cuda_on(2); in.vulkan = {gpu(2)}; in.interop = "off"; cases.push_back({in, "--interop off"}); }
  for (auto& c : cases) {
    DataPathChoice ch = choose_data_path(c.in);
    EXPECT_EQ(ch.path, DataPath::DeviceStaging) << c.why;
    EXPECT_NE(ch.line.find(c.why), std::string::npos) << ch.line;
    EXPECT_EQ(ch.line.find('\n'), std::string::npos);
    if (c.in.interop != "off") {
      c.in.interop = "on";
      try {
        choose_data_path(c.in);
        ADD_FAILURE() << "--interop on must fail: " << c.why;
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Device);
        EXPECT_NE(std::string(e.what()).find(c.why), std::string::npos) << e.what();
      }
    }
  }
}

TEST(DataPath, LavapipeLikeDeviceCannotDoInterop) {
  // What this machine's lavapipe offers: external memory fd yes, external semaphore fd no.
  auto in = cuda_on(7);
  in.vulkan = {gpu(7, true, false, true)};
  in.vulkan[0].external.timeline_fd = false;
  EXPECT_EQ(choose_data_path(in).path, DataPath::DeviceStaging);
}

TEST(DataPath, BadFlagIsUsageError) {
  DataPathInputs in;
  in.interop = "maybe";
  try {
    choose_data_path(in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
}
