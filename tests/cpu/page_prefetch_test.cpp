// The decode stream prefetch's per-CPU rule and its LOWBIT_PREFETCH override
// (page_prefetch.h says why the vendor and L1 size pick the target).
#include <gtest/gtest.h>

#include "cpu/page_prefetch.h"

namespace lowbit::cpu {
namespace {

bool same(const StreamPrefetch& a, bool into_l1, size_t distance) {
  return a.into_l1 == into_l1 && a.distance == distance;
}

TEST(StreamPrefetch, AmdWithLargeL1dPrefetchesIntoL1) {
  EXPECT_TRUE(same(choose_stream_prefetch(nullptr, 48 * 1024, true), true, 8 * 1024));
  EXPECT_TRUE(same(choose_stream_prefetch("", 64 * 1024, true), true, 8 * 1024));
}

TEST(StreamPrefetch, SmallOrUnknownL1dPrefetchesIntoL2) {
  EXPECT_TRUE(same(choose_stream_prefetch(nullptr, 32 * 1024, true), false, 16 * 1024));
  EXPECT_TRUE(same(choose_stream_prefetch(nullptr, 0, true), false, 16 * 1024));
  EXPECT_TRUE(same(choose_stream_prefetch(nullptr, -1, true), false, 16 * 1024));
}

TEST(StreamPrefetch, IntelPrefetchesIntoL2WhateverItsL1d) {
  EXPECT_TRUE(same(choose_stream_prefetch(nullptr, 48 * 1024, false), false, 16 * 1024));
  EXPECT_TRUE(same(choose_stream_prefetch(nullptr, 32 * 1024, false), false, 16 * 1024));
}

TEST(StreamPrefetch, EnvironmentOverrides) {
  EXPECT_TRUE(same(choose_stream_prefetch("l1:4096", 32 * 1024, true), true, 4096));
  EXPECT_TRUE(same(choose_stream_prefetch("l2:20000", 48 * 1024, true), false, 20000));
  EXPECT_TRUE(same(choose_stream_prefetch("l1:8192", 48 * 1024, false), true, 8192));
  EXPECT_EQ(choose_stream_prefetch("off", 48 * 1024, true).distance, 0u);
}

TEST(StreamPrefetch, MalformedOverridesAreIgnored) {
  for (const char* bad : {"l3:4096", "l1:", "l1:0", "l1:12x", "l1:-5", "l2:99999999", "L1:4096", "on"}) {
    EXPECT_TRUE(same(choose_stream_prefetch(bad, 48 * 1024, true), true, 8 * 1024)) << bad;
    EXPECT_TRUE(same(choose_stream_prefetch(bad, 48 * 1024, false), false, 16 * 1024)) << bad;
  }
}

}  // namespace
}  // namespace lowbit::cpu
