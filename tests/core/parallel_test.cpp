// The thread pool behind parallel_for: every index visited exactly once,
// exceptions reach the caller, nested calls and thread-count changes work.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

namespace lowbit {
namespace {

TEST(Parallel, VisitsEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4}) {
    set_thread_count(threads);
    for (int64_t n : {1, 7, 64, 1000, 4097}) {
      for (int64_t grain : {1, 16, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for(n, grain, [&](int64_t a, int64_t b) {
          for (int64_t i = a; i < b; ++i) hits[size_t(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << threads << " " << n << " " << grain;
      }
    }
  }
  set_thread_count(0);
}

TEST(Parallel, ThreadsSeeEveryIndexOnce) {
  for (int threads : {2, 3, 8}) {
    set_thread_count(threads);
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(threads));
      parallel_threads([&](int i, int n) {
        ASSERT_EQ(n, threads);
        hits[size_t(i)]++;
      });
      for (int i = 0; i < threads; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << threads;
    }
  }
  set_thread_count(0);
}

TEST(Parallel, ManySmallJobsInARow) {
  set_thread_count(2);
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 2000; ++rep)
    parallel_for(2, 1, [&](int64_t a, int64_t b) { sum += b - a; });
  EXPECT_EQ(sum.load(), 4000);
  set_thread_count(0);
}

TEST(Parallel, ExceptionsReachTheCaller) {
  set_thread_count(2);
  EXPECT_THROW(parallel_for(100, 1, [](int64_t a, int64_t) {
                 if (a > 0) fail("worker failed");
               }),
               Error);
  // The pool still works afterwards.
  std::atomic<int> count{0};
  parallel_for(10, 1, [&](int64_t a, int64_t b) { count += int(b - a); });
  EXPECT_EQ(count.load(), 10);
  set_thread_count(0);
}

TEST(Parallel, NestedCallsRunInline) {
  set_thread_count(2);
  std::atomic<int> count{0};
  parallel_for(4, 1, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i)
      parallel_for(10, 1, [&](int64_t x, int64_t y) { count += int(y - x); });
  });
  EXPECT_EQ(count.load(), 40);
  set_thread_count(0);
}

}  // namespace
}  // namespace lowbit
