// The Vulkan context a renderer test binary shares (validation layers on) and a fixture that fails
// a test during which validation reported errors (header-only; include as "../vulkan_test_util.hpp").
#pragma once

#include <gtest/gtest.h>

#include "netlens/render/context.hpp"

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

}  // namespace netlens::test
