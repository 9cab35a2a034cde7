// The Vulkan half of CUDA interop, on whatever Vulkan device is here (lavapipe in CI): memory
// exported as an opaque fd and imported into a second allocation shows the same bytes both ways;
// a missing capability is one clean Error{Device}; device selection by UUID.
#include <gtest/gtest.h>

#include <numeric>

#include "netlens/render/external_memory.hpp"

using namespace netlens;
using namespace netlens::render;

namespace {

Context& interop_context() {
  static Context ctx(ContextOptions{.validation = true, .quiet = true, .external_interop = true});
  return ctx;
}

}  // namespace

TEST(ExternalMemory, DevicesReportUuidAndExternalSupport) {
  auto devs = list_devices();
  ASSERT_FALSE(devs.empty());
  for (const auto& d : devs) {
    EXPECT_NE(d.uuid, (std::array<uint8_t, 16>{})) << d.name;
    EXPECT_FALSE(d.driver.empty()) << d.name;
    if (d.external.timeline_fd) EXPECT_TRUE(d.external.semaphore_fd && d.external.timeline);
  }
  EXPECT_EQ(uuid_string(std::array<uint8_t, 16>{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}),
            "12345678-9abc-def0-0102-030405060708");
}

TEST(ExternalMemory, ContextPicksDeviceByUuid) {
  auto devs = list_devices();
  int usable = -1;
  for (size_t i = 0; i < devs.size(); ++i)
    if (devs[i].usable) usable = static_cast<int>(i);
  ASSERT_GE(usable, 0);
  Context c(ContextOptions{.quiet = true, .device_uuid = devs[static_cast<size_t>(usable)].uuid});
  EXPECT_EQ(c.uuid(), devs[static_cast<size_t>(usable)].uuid);
  std::array<uint8_t, 16> bogus;
  bogus.fill(0xee);
  try {
    Context bad(ContextOptions{.quiet = true, .device_uuid = bogus});
    FAIL() << "a UUID no device has must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Device);
    EXPECT_NE(std::string(e.what()).find("eeeeeeee-eeee"), std::string::npos) << e.what();
  }
}

TEST(ExternalMemory, ExportedFdImportsToTheSameBytes) {
  Context& ctx = interop_context();
  if (!ctx.external().memory_fd) GTEST_SKIP() << ctx.device_name() << " has no VK_KHR_external_memory_fd";
  const size_t n = 1 << 16;
  ExportableBuffer exp(ctx, n * sizeof(float));
  EXPECT_GE(exp.allocation_size(), exp.size());
  std::vector<float> a(n), back(n);
  std::iota(a.begin(), a.end(), 0.5f);
  write_buffer(ctx, exp.buffer(), 0, a.data(), n * sizeof(float));
  {
    ImportedBuffer imp(ctx, exp.export_fd(), exp.size(), exp.allocation_size(), exp.dedicated());
    read_buffer(ctx, imp.buffer(), 0, back.data(), n * sizeof(float));
    EXPECT_EQ(std::memcmp(a.data(), back.data(), n * sizeof(float)), 0) << "exported → imported";
    // And the other way: written through the import, read through the export, at an offset.
    std::vector<float> b(1000, -3.25f);
    write_buffer(ctx, imp.buffer(), 4096, b.data(), b.size() * sizeof(float));
  }
  read_buffer(ctx, exp.buffer(), 0, back.data(), n * sizeof(float));
  for (size_t i = 0; i < n; ++i) {
    const float want = i >= 1024 && i < 2024 ? -3.25f : a[i];
    ASSERT_EQ(back[i], want) << i;
  }
  EXPECT_EQ(ctx.validation_error_count(), 0u);
}

TEST(ExternalMemory, TimelineWhereExportableElseOneLineError) {
  Context& ctx = interop_context();
  if (ctx.external().semaphore_fd && ctx.external().timeline_fd) {
    ExportableTimeline t(ctx, 3);
    EXPECT_EQ(t.value(), 3u);
    t.signal(5);
    EXPECT_TRUE(t.wait(5, 1000000000ull));
    EXPECT_FALSE(t.wait(6, 1000000ull));
    int fd = t.export_fd();
    EXPECT_GE(fd, 0);
    close(fd);
  } else {
    try {
      ExportableTimeline t(ctx);
      FAIL() << "must refuse without exportable timeline semaphores";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Device);
      const std::string w = e.what();
      EXPECT_EQ(w.find('\n'), std::string::npos);
      EXPECT_NE(w.find("cannot share"), std::string::npos) << w;
    }
  }
  EXPECT_EQ(ctx.validation_error_count(), 0u);
}

TEST(ExternalMemory, WithoutInteropOptionExportIsRefused) {
  Context ctx(ContextOptions{.quiet = true});
  EXPECT_FALSE(ctx.external().memory_fd);
  EXPECT_THROW(ExportableBuffer(ctx, 1024), Error);
}
