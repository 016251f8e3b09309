#include "core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

namespace lowbit {
namespace {
int g_threads = 0;
}

int thread_count() {
  if (g_threads <= 0) {
    unsigned hw = std::thread::hardware_concurrency();
    g_threads = hw ? int(hw) : 1;
  }
  return g_threads;
}

void set_thread_count(int n) {
  g_threads = n > 0 ? n : 0;
  thread_count();
}

void parallel_threads(const std::function<void(int, int)>& fn) {
  const int nt = thread_count();
  if (nt == 1) {
    fn(0, 1);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel num_threads(nt)
  {
    try {
      fn(omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  const int nt = int(std::min<int64_t>(thread_count(), chunks));
  if (nt <= 1) {
    fn(0, n);
    return;
  }
  parallel_threads([&](int t, int nthreads) {
    const int64_t per = (chunks + nthreads - 1) / nthreads;
    const int64_t begin = std::min(n, int64_t(t) * per * grain);
    const int64_t end = std::min(n, int64_t(t + 1) * per * grain);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace lowbit
