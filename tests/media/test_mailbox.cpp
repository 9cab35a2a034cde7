// The single-slot mailbox of the live pipeline (newest wins, drops counted), with no Vulkan use;
// built with netlens_live (the renderer), which owns it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "netlens/live/mailbox.hpp"

using namespace netlens;

TEST(Mailbox, NewestWinsAndDropsAreCounted) {
  live::Mailbox<int> m;
  EXPECT_FALSE(m.take());
  EXPECT_FALSE(m.put(1));
  EXPECT_TRUE(m.put(2));  // 1 was never taken
  EXPECT_TRUE(m.put(3));
  EXPECT_EQ(m.dropped(), 2u);
  EXPECT_EQ(m.puts(), 3u);
  EXPECT_EQ(m.take(), 3);
  EXPECT_FALSE(m.take());
  EXPECT_FALSE(m.put(4));  // the slot was empty: nothing dropped
  EXPECT_EQ(m.dropped(), 2u);
  EXPECT_EQ(m.wait_take(std::chrono::milliseconds(1)), 4);
  EXPECT_FALSE(m.wait_take(std::chrono::milliseconds(1)));  // times out empty
  m.close();
  EXPECT_FALSE(m.wait_take(std::chrono::hours(1)));  // closed: returns at once
}

// One producer, one consumer: every value is either taken or counted dropped, the consumer sees
// increasing values, and the last one is never lost.
TEST(Mailbox, ThreadsLoseNothingUncounted) {
  live::Mailbox<int> m;
  constexpr int kN = 20000;
  std::vector<int> seen;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (true) {
      auto v = m.wait_take(std::chrono::milliseconds(10));
      if (v) seen.push_back(*v);
      else if (done) break;
    }
  });
  for (int i = 1; i <= kN; ++i) m.put(i);
  done = true;
  consumer.join();
  if (auto v = m.take()) seen.push_back(*v);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.size() + m.dropped(), static_cast<size_t>(kN));
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());  // no value twice
  EXPECT_EQ(seen.back(), kN);
}
