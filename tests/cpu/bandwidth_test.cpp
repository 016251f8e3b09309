// The read-bandwidth probe: a plausible positive number, and input checks.
#include <gtest/gtest.h>

#include "core/error.h"
#include "cpu/bandwidth.h"

namespace lowbit::cpu {
namespace {

TEST(Bandwidth, MeasuresSomethingPlausible) {
  const double gbps = measure_read_bandwidth_gbps(size_t(32) << 20, 1, 2);
  EXPECT_GT(gbps, 0.1);     // any machine reads more than 100 MB/s
  EXPECT_LT(gbps, 10000.0);  // and less than 10 TB/s
}

TEST(Bandwidth, RejectsTinyBuffers) { EXPECT_THROW(measure_read_bandwidth_gbps(100, 1, 1), Error); }

}  // namespace
}  // namespace lowbit::cpu
