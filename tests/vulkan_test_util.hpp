// The Vulkan context a renderer test binary shares (validation layers on) and a fixture that fails
// a test during which validation reported errors (header-only; include as "../vulkan_test_util.hpp").
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "netlens/render/context.hpp"
#include "netlens/render/renderer.hpp"
#include "netlens/viz/camera.hpp"

namespace netlens::test {

// One context per test binary, made at first use, with validation (errors are counted, not fatal).
inline render::Context& vulkan_context() {
  static render::Context ctx(render::ContextOptions{.validation = true, .quiet = false});
  return ctx;
}

// Fails the test when Vulkan's validation layers reported errors while it ran (see stderr).
class VulkanValidatedTest : public ::testing::Test {
 protected:
  void SetUp() override { errors_before_ = vulkan_context().validation_error_count(); }
  void TearDown() override {
    EXPECT_EQ(vulkan_context().validation_error_count(), errors_before_) << "Vulkan validation errors (see stderr)";
  }
  size_t errors_before_ = 0;  // a test that provokes errors on purpose moves it past them
};

// A rendered frame read back: its RGBA bytes and every pixel's pick ID (Renderer::id_at).
struct DrawnFrame {
  std::vector<uint8_t> rgba;
  std::vector<std::pair<uint32_t, uint32_t>> ids;
};
inline DrawnFrame draw_frame(render::Renderer& r, const viz::Camera& cam) {
  r.render(cam);
  DrawnFrame f{r.rgba(), {}};
  for (int y = 0; y < r.options().height; ++y)
    for (int x = 0; x < r.options().width; ++x) f.ids.push_back(r.id_at(x, y));
  return f;
}

// Pixels whose 4 bytes differ (+1 when the sizes differ).
inline size_t differing_pixels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t n = 0;
  for (size_t i = 0; i + 3 < std::min(a.size(), b.size()); i += 4)
    if (std::memcmp(&a[i], &b[i], 4) != 0) ++n;
  return n + (a.size() != b.size() ? 1 : 0);
}

}  // namespace netlens::test
